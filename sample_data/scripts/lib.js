// Shared pieces of the staging-validation scripts: the dashboard workload, the
// cache metrics fed from the demo API's X-Cache-Hit header, and handleSummary.
import http from 'k6/http';
import { check, group, sleep } from 'k6';
import { Counter, Rate } from 'k6/metrics';

export const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8000';

export const cacheHitRate = new Rate('cache_hit_rate');
export const cacheHits = new Counter('cache_hits');
export const cacheMisses = new Counter('cache_misses');

const DASHBOARD_ENDPOINTS = [
  '/api/stats',
  '/api/risks',
  '/api/stats/risk-matrix',
  '/api/stats/trends',
];
const CATEGORIES = ['security', 'operations', 'compliance', 'finance', 'vendor'];

// Thresholds every scenario shares, written in k6's three forms: a plain string,
// an object with abortOnFail, and a sub-metric selected by the request's name tag.
export const COMMON_THRESHOLDS = {
  http_req_failed: ['rate<0.01'],
  checks: [{ threshold: 'rate>0.99', abortOnFail: true, delayAbortEval: '5s' }],
  'http_req_duration{group:::dashboard}': ['p(95)<500'],
};

function recordCache(res) {
  const hit = res.headers['X-Cache-Hit'] === 'true';
  cacheHitRate.add(hit);
  if (hit) {
    cacheHits.add(1);
  } else {
    cacheMisses.add(1);
  }
}

export function getEndpoint(path) {
  const name = `GET ${path}`;
  const res = http.get(`${BASE_URL}${path}`, { tags: { name } });
  check(res, {
    'status is 200': (r) => r.status === 200,
    'has X-Cache-Hit header': (r) => r.headers['X-Cache-Hit'] !== undefined,
  });
  recordCache(res);
  return res;
}

export function createRisk() {
  const body = JSON.stringify({
    title: `k6 risk vu${__VU} iter${__ITER}`,
    severity: 1 + Math.floor(Math.random() * 5),
    likelihood: 1 + Math.floor(Math.random() * 5),
    category: CATEGORIES[Math.floor(Math.random() * CATEGORIES.length)],
  });
  const res = http.post(`${BASE_URL}/api/risks`, body, {
    headers: { 'Content-Type': 'application/json' },
    tags: { name: 'POST /api/risks' },
  });
  check(res, { 'status is 201': (r) => r.status === 201 });
  return res;
}

// One user's visit: load the dashboard, sometimes file a new risk (which clears
// the server's cache), then think for thinkMin..thinkMax seconds.
export function dashboardVisit(writeShare, thinkMin, thinkMax) {
  group('dashboard', () => {
    for (const path of DASHBOARD_ENDPOINTS) {
      getEndpoint(path);
    }
  });
  if (Math.random() < writeShare) {
    group('write', () => {
      createRisk();
    });
  }
  sleep(thinkMin + Math.random() * (thinkMax - thinkMin));
}

// Write the summary data object as JSON to SUMMARY_JSON and keep stdout to one line.
export function writeSummary(data) {
  const outputs = {
    stdout: `http_reqs=${data.metrics.http_reqs ? data.metrics.http_reqs.values.count : 0}\n`,
  };
  if (__ENV.SUMMARY_JSON) {
    outputs[__ENV.SUMMARY_JSON] = JSON.stringify(data, null, 1);
  }
  return outputs;
}
