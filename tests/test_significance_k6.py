"""Significance on real k6 runs: identical runs come out '~', a real speed-up is found.

Each run is the smoke script for a few seconds against the demo API on 127.0.0.1.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest

from fixtures.k6 import run_k6, start_demo_api, stop_process
from perfreport.analysis.compare import compare
from perfreport.ingest import load

RUN_SECONDS = "10s"
AB_RUN_SECONDS = "20s"


@pytest.fixture(scope="module")
def cached_runs(tmp_path_factory, k6_smoke_script):
    # Both runs go at the same time against one server, so a busy machine slows
    # them alike and the pair stays a true A/A comparison.
    process, base_url = start_demo_api(cache=True)
    folders = [tmp_path_factory.mktemp("aa-first"), tmp_path_factory.mktemp("aa-second")]
    env = {"BASE_URL": base_url, "SMOKE_DURATION": RUN_SECONDS}
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(lambda folder: run_k6(k6_smoke_script, folder, env=env), folders))
    finally:
        stop_process(process)
    for result in results:
        assert result.exit_code in (0, 99), result.stderr
    return tuple(load(result.json_path, cache=False) for result in results)


def test_identical_runs_show_no_change(cached_runs):
    first, second = cached_runs
    first.name, second.name = "first", "second"
    frame = compare(first, second).frame
    tested = frame[frame["verdict"] != "untested"]
    assert len(tested) >= 10
    significant = tested[tested["verdict"].isin(["better", "worse"])]
    assert significant.empty, significant[["metric", "endpoint", "statistic", "change_pct", "p_adjusted"]].to_string()


@pytest.fixture(scope="module")
def cache_off_on_runs(tmp_path_factory, k6_smoke_script):
    # Cache on, hits and misses alternate, so requests are correlated and blocks
    # are long (16 requests seen); 20 s gives each endpoint enough blocks to test.
    servers = [start_demo_api(cache=False), start_demo_api(cache=True)]
    folders = [tmp_path_factory.mktemp("ab-off"), tmp_path_factory.mktemp("ab-on")]
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(
                lambda pair: run_k6(k6_smoke_script, pair[0], env={"BASE_URL": pair[1][1], "SMOKE_DURATION": AB_RUN_SECONDS}),
                zip(folders, servers),
            ))
    finally:
        for process, _ in servers:
            stop_process(process)
    for result in results:
        assert result.exit_code in (0, 99), result.stderr
    return tuple(load(result.json_path, cache=False) for result in results)


def test_cache_speedup_is_significant(cache_off_on_runs):
    uncached, cached = cache_off_on_runs
    uncached.name, cached.name = "cache-off", "cache-on"
    frame = compare(uncached, cached).frame
    for endpoint in ("GET /api/stats", "GET /api/risks", "GET /api/stats/risk-matrix", "GET /api/stats/trends"):
        rows = frame[
            (frame["metric"] == "http_req_duration")
            & (frame["endpoint"] == endpoint)
            & (frame["statistic"].isin(["avg", "med"]))
        ]
        assert len(rows) == 2, endpoint
        assert set(rows["verdict"]) == {"better"}, rows[["statistic", "change_pct", "n_baseline", "n_candidate", "block_length", "method", "verdict"]].to_string()
