// Spike: 3 users for 10 s, a jump to 30 users within 1 s held for 10 s, then back
// to 3, with the cache on and a higher share of writes, which clear the cache.
import { dashboardVisit, writeSummary, COMMON_THRESHOLDS } from './lib.js';

export const options = {
  scenarios: {
    spike: {
      executor: 'ramping-vus',
      startVUs: 3,
      stages: [
        { duration: '10s', target: 3 },
        { duration: '1s', target: 30 },
        { duration: '10s', target: 30 },
        { duration: '1s', target: 3 },
        { duration: '8s', target: 3 },
      ],
      gracefulRampDown: '2s',
      exec: 'visit',
    },
  },
  thresholds: {
    ...COMMON_THRESHOLDS,
    http_req_duration: ['p(95)<300'],
    'http_req_duration{name:GET /api/stats}': ['p(95)<150'],
    // Set below the demo API's simulated write time (8-15 ms), so this threshold is
    // crossed and the sample contains a failed sub-metric threshold (k6 exits 99).
    'http_req_duration{name:POST /api/risks}': ['p(95)<10'],
    cache_hit_rate: ['rate>0.70'],
  },
};

export function visit() {
  dashboardVisit(0.05, 0.3, 0.6);
}

export function handleSummary(data) {
  return writeSummary(data);
}
