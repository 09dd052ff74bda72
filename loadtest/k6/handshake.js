// Handshake storm: every request opens a new TCP + TLS connection (noConnectionReuse), so the
// server pays a full handshake per request. k6's Go TLS client keeps no session cache, so
// these are full handshakes, not resumptions. Closed model: VUS loops with no think time.
//
// Env: VUS (16), DURATION (30s), P99_MS (500), MAX_ERROR_RATE (0), plus lib.js variables.
import { check } from 'k6';
import { scrape, protoOk, tlsOptions, num, str } from './lib.js';

export const options = Object.assign(tlsOptions(), {
  noConnectionReuse: true,
  scenarios: {
    storm: {
      executor: 'constant-vus',
      vus: num('VUS', 16),
      duration: str('DURATION', '30s'),
    },
  },
  thresholds: {
    http_req_failed: [`rate<=${num('MAX_ERROR_RATE', 0)}`],
    http_req_duration: [`p(99)<${num('P99_MS', 500)}`],
    // Proves a handshake really happened for (at least half of) the requests.
    http_req_tls_handshaking: ['p(50)>0'],
  },
});

export default function () {
  const res = scrape();
  check(res, { 'status 200': (r) => r.status === 200, 'protocol as expected': protoOk });
}
