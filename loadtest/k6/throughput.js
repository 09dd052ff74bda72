// Maximum throughput: an open-model arrival rate ramping from START_RATE to MAX_RATE requests
// per second over DURATION, on kept-alive connections. Where latency and errors start to
// climb is the gateway's capacity on this machine.
//
// Env: START_RATE (50), MAX_RATE (2000), DURATION (30s), PRE_VUS (20), MAX_VUS (200),
//      P99_MS (250), MAX_ERROR_RATE (0.01), plus lib.js variables.
import { check } from 'k6';
import { scrape, protoOk, tlsOptions, num, str } from './lib.js';

export const options = Object.assign(tlsOptions(), {
  scenarios: {
    ramp: {
      executor: 'ramping-arrival-rate',
      startRate: num('START_RATE', 50),
      timeUnit: '1s',
      preAllocatedVUs: num('PRE_VUS', 20),
      maxVUs: num('MAX_VUS', 200),
      stages: [{ target: num('MAX_RATE', 2000), duration: str('DURATION', '30s') }],
    },
  },
  thresholds: {
    http_req_failed: [`rate<${num('MAX_ERROR_RATE', 0.01)}`],
    http_req_duration: [`p(99)<${num('P99_MS', 250)}`],
    // Iterations k6 could not start because every VU was busy: the target fell behind.
    dropped_iterations: [`count<${num('MAX_DROPPED', 1e9)}`],
  },
});

export default function () {
  const res = scrape();
  check(res, { 'status 200': (r) => r.status === 200, 'protocol as expected': protoOk });
}
