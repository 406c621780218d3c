// Stress: ramp from 0 to 30 users over 30 s with the cache on, then down to 0 in 5 s,
// to see where latency starts to climb.
import { dashboardVisit, writeSummary, COMMON_THRESHOLDS } from './lib.js';

export const options = {
  scenarios: {
    stress: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: [
        { duration: '10s', target: 10 },
        { duration: '10s', target: 20 },
        { duration: '10s', target: 30 },
        { duration: '5s', target: 0 },
      ],
      gracefulRampDown: '2s',
      exec: 'visit',
    },
  },
  thresholds: {
    ...COMMON_THRESHOLDS,
    http_req_duration: ['p(95)<300', { threshold: 'p(99)<1000', abortOnFail: true }],
    'http_req_duration{name:GET /api/stats}': ['p(95)<150'],
    cache_hit_rate: ['rate>0.80'],
  },
};

export function visit() {
  dashboardVisit(0.02, 0.3, 0.6);
}

export function handleSummary(data) {
  return writeSummary(data);
}
