// Smoke: 2 users for 2 s (SMOKE_DURATION overrides it), for tests that need a real k6 run in a few seconds.
import { dashboardVisit, writeSummary, COMMON_THRESHOLDS } from './lib.js';

export const options = {
  scenarios: {
    smoke: {
      executor: 'constant-vus',
      vus: 2,
      duration: __ENV.SMOKE_DURATION || '2s',
      exec: 'visit',
    },
  },
  thresholds: {
    ...COMMON_THRESHOLDS,
    http_req_duration: ['p(95)<1000'],
    'http_req_duration{name:GET /api/stats}': ['p(95)<1000'],
  },
};

export function visit() {
  dashboardVisit(0.2, 0.1, 0.2);
}

export function handleSummary(data) {
  return writeSummary(data);
}
