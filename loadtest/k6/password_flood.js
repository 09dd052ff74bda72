// Password flood: FLOOD_VUS attackers send a fresh random wrong password on every request
// (each one a bcrypt cache miss on the server), while GOOD_VUS Prometheus-like scrapers with
// the right password scrape every INTERVAL seconds. The thresholds are on the good scrapers
// only: a gateway that lets the flood starve them (exporter-toolkit's single bcrypt mutex and
// 100-entry random-eviction cache) fails here.
//
// Env: GOOD_VUS (5), FLOOD_VUS (20), INTERVAL (1), DURATION (30s), GOOD_P99_MS (250),
//      FLOOD_USER (the real user: the worst case), plus lib.js variables.
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Counter } from 'k6/metrics';
import { scrape, basic, USER, TARGET_URL, tlsOptions, num, str } from './lib.js';

const INTERVAL = num('INTERVAL', 1);
const DURATION = str('DURATION', '30s');
const FLOOD_USER = str('FLOOD_USER', USER);
// 401 is the expected refusal; 429 (rate limit) and 503 (bcrypt queue full) are refusals too.
const refused = http.expectedStatuses(401, 429, 503);
// How the server refused the flood: 401 after a bcrypt (or a cached failure), 429 from a rate or
// failure limiter, 503 when its bcrypt queue is full. Anything else counts as "other".
const floodStatus = {
  401: new Counter('flood_status_401'),
  429: new Counter('flood_status_429'),
  503: new Counter('flood_status_503'),
  other: new Counter('flood_status_other'),
};

export const options = Object.assign(tlsOptions(), {
  scenarios: {
    good: { executor: 'constant-vus', vus: num('GOOD_VUS', 5), duration: DURATION, exec: 'good' },
    flood: { executor: 'constant-vus', vus: num('FLOOD_VUS', 20), duration: DURATION, exec: 'flood' },
  },
  thresholds: {
    'http_req_failed{scenario:good}': ['rate==0'],
    'http_req_duration{scenario:good}': [`p(99)<${num('GOOD_P99_MS', 250)}`],
    'checks{scenario:good}': ['rate==1'],
    // The flood must never get in.
    'checks{scenario:flood}': ['rate==1'],
    // Always true; declared so that k6 reports the flood's own latency and refusals separately
    // (k6 exports tagged sub-metrics only when a threshold names them).
    'http_req_duration{scenario:flood}': ['p(50)>=0'],
    'http_req_failed{scenario:flood}': ['rate>=0'],
  },
});

export function good() {
  const res = scrape();
  check(res, { 'good scrape 200': (r) => r.status === 200 });
  sleep(INTERVAL);
}

function randomPassword() {
  let s = '';
  for (let i = 0; i < 24; i++) s += 'abcdefghijklmnopqrstuvwxyz0123456789'[Math.floor(Math.random() * 36)];
  return s;
}

export function flood() {
  const res = http.get(TARGET_URL, {
    headers: { Authorization: basic(FLOOD_USER, randomPassword()) },
    responseCallback: refused,
  });
  (floodStatus[res.status] || floodStatus.other).add(1);
  check(res, { 'wrong password refused': (r) => r.status === 401 || r.status === 429 || r.status === 503 });
}
