// The seed of the ingest benchmark: 8 users visiting the demo API's dashboard for
// 8 s, run with vu and iter metadata so that the scaled files carry them too.
import { dashboardVisit } from '../sample_data/scripts/lib.js';

export const options = {
  scenarios: {
    seed: { executor: 'constant-vus', vus: 8, duration: '8s', exec: 'visit' },
  },
  thresholds: {
    http_req_duration: ['p(95)<500'],
  },
};

export function visit() {
  dashboardVisit(0.05, 0.0, 0.01);
}
