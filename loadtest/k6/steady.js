// Steady scraping: VUS Prometheus-like scrapers, each scraping TARGET_URL every INTERVAL
// seconds over a kept-alive connection, for DURATION. This is what a gateway sees in normal
// life; every request must succeed and stay fast.
//
// Env: VUS (10), INTERVAL seconds (1), DURATION (30s), P99_MS (100), plus lib.js variables.
import { check, sleep } from 'k6';
import { scrape, protoOk, tlsOptions, num, str } from './lib.js';

const INTERVAL = num('INTERVAL', 1);

export const options = Object.assign(tlsOptions(), {
  scenarios: {
    steady: {
      executor: 'constant-vus',
      vus: num('VUS', 10),
      duration: str('DURATION', '30s'),
    },
  },
  thresholds: {
    http_req_failed: ['rate==0'],
    checks: ['rate==1'],
    http_req_duration: [`p(99)<${num('P99_MS', 100)}`],
  },
});

export default function () {
  const res = scrape();
  check(res, {
    'status 200': (r) => r.status === 200,
    'body not empty': (r) => r.body && r.body.length > 0,
    'protocol as expected': protoOk,
  });
  sleep(INTERVAL);
}
