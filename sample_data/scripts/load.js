// Load: the candidate release with the cache on, the same single-user and
// 10-user phases as baseline.js so the two runs compare endpoint by endpoint.
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
    http_req_duration: ['p(95)<200', 'p(99)<500'],
    'http_req_duration{name:GET /api/stats}': ['p(95)<100'],
    cache_hit_rate: [{ threshold: 'rate>0.80', abortOnFail: false }],
  },
};

export function visit() {
  dashboardVisit(0.01, 0.2, 0.4);
}

export function handleSummary(data) {
  return writeSummary(data);
}
