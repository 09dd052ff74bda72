// One Prometheus replica of an HA pair: TARGETS targets (one VU each, the query string
// `?target=N` telling them apart), each scraped every INTERVAL seconds at a fixed offset
// within the interval. The offset depends on the target only, as two replicas with the same
// scrape configuration place a target at nearly the same moment; SKEW_MS shifts this
// replica's whole schedule by a few milliseconds. Every scrape must succeed.
//
// Env: TARGETS (10), INTERVAL seconds (1), SKEW_MS (0), DURATION (15s), plus lib.js variables.
import { check, sleep } from 'k6';
import http from 'k6/http';
import exec from 'k6/execution';
import { GOOD_AUTH, TARGET_URL, tlsOptions, num, str } from './lib.js';

const INTERVAL_MS = num('INTERVAL', 1) * 1000;
const SKEW_MS = num('SKEW_MS', 0);

export const options = Object.assign(tlsOptions(), {
  scenarios: {
    replica: {
      executor: 'constant-vus',
      vus: num('TARGETS', 10),
      duration: str('DURATION', '15s'),
    },
  },
  thresholds: {
    http_req_failed: ['rate==0'],
    checks: ['rate==1'],
  },
});

export default function () {
  const target = exec.vu.idInTest;
  // A spread of offsets over the interval, the same for every replica.
  const offset = ((target * 397) % 1000) / 1000 * INTERVAL_MS + SKEW_MS;
  const now = Date.now();
  const next = (Math.floor((now - offset) / INTERVAL_MS) + 1) * INTERVAL_MS + offset;
  sleep(Math.max(0, next - now) / 1000);
  const headers = { 'User-Agent': 'Prometheus/2.42.0', Accept: 'text/plain;version=0.0.4;q=1,*/*;q=0.1' };
  if (GOOD_AUTH) headers.Authorization = GOOD_AUTH;
  const res = http.get(`${TARGET_URL}?target=${target}`, { headers });
  check(res, {
    'status 200': (r) => r.status === 200,
    'body not empty': (r) => r.body && r.body.length > 0,
  });
}
