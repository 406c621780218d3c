// Baseline, recorded with the demo API's cache off: one user alone for 10 s gives
// the single-user response times, then 10 users for 25 s give the concurrent load.
import { dashboardVisit, writeSummary, COMMON_THRESHOLDS } from './lib.js';

export const options = {
  scenarios: {
    single_user: {
      executor: 'constant-vus',
      vus: 1,
      duration: '10s',
      exec: 'visit',
    },
    concurrent: {
      executor: 'constant-vus',
      vus: 10,
      duration: '25s',
      startTime: '10s',
      exec: 'visit',
    },
  },
  thresholds: {
    ...COMMON_THRESHOLDS,
    http_req_duration: ['p(95)<500', 'p(99)<1000'],
    'http_req_duration{name:GET /api/stats}': ['p(95)<300'],
  },
};

export function visit() {
  dashboardVisit(0.01, 0.2, 0.4);
}

export function handleSummary(data) {
  return writeSummary(data);
}
