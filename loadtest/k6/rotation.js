// Scraping during certificate rotation: a separate process (loadtest/rotate-certs) keeps
// replacing the server certificate and key on disk while VUS scrapers scrape. Half of the
// requests (NEW_CONN_SHARE) are made on fresh connections so that new handshakes keep hitting
// whatever certificate is current. Any error (handshake failure, key/cert mismatch, 5xx) fails.
//
// Env: VUS (8), DURATION (30s), INTERVAL seconds between scrapes per VU (0.05), plus lib.js.
import http from 'k6/http';
import { check, sleep } from 'k6';
import { scrape, GOOD_AUTH, TARGET_URL, tlsOptions, num, str } from './lib.js';

export const options = Object.assign(tlsOptions(), {
  scenarios: {
    kept_alive: { executor: 'constant-vus', vus: Math.max(1, Math.floor(num('VUS', 8) / 2)), duration: str('DURATION', '30s'), exec: 'keptAlive' },
    fresh: { executor: 'constant-vus', vus: Math.max(1, Math.ceil(num('VUS', 8) / 2)), duration: str('DURATION', '30s'), exec: 'fresh' },
  },
  thresholds: {
    http_req_failed: ['rate==0'],
    checks: ['rate==1'],
    // Proves the "fresh" requests really handshook (Connection: close was honoured).
    'http_req_tls_handshaking{scenario:fresh}': ['p(50)>0'],
  },
});

const INTERVAL = num('INTERVAL', 0.05);

export function keptAlive() {
  const res = scrape();
  check(res, { 'status 200': (r) => r.status === 200 });
  sleep(INTERVAL);
}

// A new connection for this request only: a Connection: close request makes the next request
// of this VU open (and handshake) a new connection, while the kept-alive scenario keeps its own.
export function fresh() {
  const headers = { Connection: 'close' };
  if (GOOD_AUTH) headers.Authorization = GOOD_AUTH;
  const res = http.get(TARGET_URL, { headers });
  check(res, { 'status 200 on a new connection': (r) => r.status === 200 });
  sleep(INTERVAL);
}
