// A short k6 run for the ingest tests: thresholds in both forms k6 accepts, a
// sub-metric, a tag key that first appears in a later iteration with a hostile
// value (HTML, a pipe, a newline), and a URL with '&' in its query.
import http from 'k6/http';
import { check, group } from 'k6';

export const options = {
  scenarios: {
    ingest: { executor: 'shared-iterations', vus: 2, iterations: 12, maxDuration: '20s' },
  },
  thresholds: {
    http_req_duration: [
      'p(95)<5000',
      { threshold: 'p(99)<9000', abortOnFail: true, delayAbortEval: '1s' },
    ],
    'http_req_duration{name:GET /api/stats}': ['p(90)<5000'],
    checks: ['rate>0.5'],
  },
};

export default function () {
  group('dashboard', () => {
    const res = http.get(`${__ENV.BASE_URL}/api/stats`, { tags: { name: 'GET /api/stats' } });
    check(res, { 'status is 200': (r) => r.status === 200 });
  });
  http.get(`${__ENV.BASE_URL}/api/risks?page=1&size=5`);
  if (__ITER === 3) {
    http.get(`${__ENV.BASE_URL}/health`, {
      tags: { late_key: '<script>alert(1)</script>|a\nb' },
    });
  }
}
