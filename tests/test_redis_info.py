"""``redis-cli INFO`` parsing and keyspace hit rates, from files and a real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfreport.analysis.server import cache_hit_ratio_from_redis
from perfreport.errors import InputError
from perfreport.ingest.redis_info import parse_redis_info, read_redis_info

DATA = Path(__file__).parent / "data" / "redis"


def test_crlf_stats_section_parsed():
    assert b"\r\n" in (DATA / "stats-before.txt").read_bytes()
    info = read_redis_info(DATA / "stats-before.txt")

    assert list(info.sections) == ["Stats"]
    assert info.keyspace_hits == 2210
    assert info.keyspace_misses == 14870
    assert info.fields["instantaneous_input_kbps"] == 0.0
    assert isinstance(info.fields["instantaneous_input_kbps"], float)
    assert info.uptime_s is None
    assert info.run_id is None


def test_window_rate_from_two_snapshots():
    before = read_redis_info(DATA / "stats-before.txt")
    after = read_redis_info(DATA / "stats-after.txt")
    ratio = cache_hit_ratio_from_redis(before, after)

    hits = 95310 - 2210
    misses = 27012 - 14870
    assert ratio.scope == "window"
    assert ratio.hits == hits == 93100
    assert ratio.misses == misses
    assert ratio.mean_ratio == pytest.approx(93100 / 105242, rel=1e-12)
    assert round(ratio.hit_percent, 2) == 88.46
    assert ratio.warnings == ()
    assert ratio.criteria_values() == {"cache_hit_ratio": ratio.hit_percent}


def test_single_snapshot_is_lifetime():
    ratio = cache_hit_ratio_from_redis(read_redis_info(DATA / "stats-after.txt"))

    assert ratio.scope == "lifetime"
    assert ratio.mean_ratio == pytest.approx(95310 / (95310 + 27012), rel=1e-12)
    assert round(ratio.hit_percent, 2) == 77.92
    assert [w.code for w in ratio.warnings] == ["lifetime-rate"]


def test_counters_down_is_reset_not_rate():
    before = read_redis_info(DATA / "stats-before.txt")
    after = read_redis_info(DATA / "stats-after-restart.txt")
    ratio = cache_hit_ratio_from_redis(before, after)

    assert ratio.reset_detected
    assert ratio.mean_ratio is None
    assert ratio.hit_percent is None
    assert [w.code for w in ratio.warnings] == ["counter-reset"]
    assert "keyspace_misses went down from 14870 to 9870" in ratio.warnings[0].message


@pytest.mark.parametrize(
    ("before", "after", "reason"),
    [
        ("run_id:aaa\nuptime_in_seconds:50", "run_id:bbb\nuptime_in_seconds:90",
         "run_id changed"),
        ("uptime_in_seconds:500", "uptime_in_seconds:20",
         "uptime_in_seconds went from 500 to 20"),
    ],
)  # fmt: skip
def test_restart_seen_in_server_section(before, after, reason):
    counters = "# Stats\nkeyspace_hits:10\nkeyspace_misses:5\n"
    first = parse_redis_info(f"# Server\n{before}\n{counters}")
    second = parse_redis_info(f"# Server\n{after}\n{counters}")
    ratio = cache_hit_ratio_from_redis(first, second)

    assert ratio.reset_detected
    assert reason in ratio.warnings[0].message


def test_no_lookups_gives_no_ratio():
    text = "# Stats\nkeyspace_hits:7\nkeyspace_misses:3\n"
    ratio = cache_hit_ratio_from_redis(parse_redis_info(text), parse_redis_info(text))
    assert ratio.mean_ratio is None
    assert [w.code for w in ratio.warnings] == ["no-data"]


def test_keyspace_and_nested_values():
    text = (
        "# Server\r\nredis_version:7.0.15\r\nrun_id:0f3c\r\n"
        "# Commandstats\r\ncmdstat_get:calls=12,usec=40,usec_per_call=3.33\r\n"
        "# Keyspace\r\ndb0:keys=5,expires=1,avg_ttl=3000\r\n"
    )
    info = parse_redis_info(text)

    assert info.fields["redis_version"] == "7.0.15"
    assert info.run_id == "0f3c"
    assert info.fields["cmdstat_get"] == {
        "calls": 12,
        "usec": 40,
        "usec_per_call": 3.33,
    }
    assert info.keyspace["db0"].keys == 5
    assert info.keyspace["db0"].expires == 1
    assert info.keyspace["db0"].avg_ttl_ms == 3000


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "info.txt"
    path.write_text("# Stats\nkeyspace_hits:1\nthis is not info\n")
    with pytest.raises(InputError) as raised:
        read_redis_info(path)
    assert str(raised.value) == (
        f"{path}:3: line is not 'key:value' or '# Section': 'this is not info'; "
        "save the output of `redis-cli INFO` unchanged"
    )


def test_auth_error_output_rejected(tmp_path):
    path = tmp_path / "info.txt"
    path.write_text("NOAUTH Authentication required.\n")
    with pytest.raises(InputError) as raised:
        read_redis_info(path)
    assert str(raised.value) == (
        f"{path}:1: this is a redis-cli error, not INFO output: "
        "'NOAUTH Authentication required.'; run redis-cli with REDISCLI_AUTH set "
        "(or -a PASSWORD) and save again"
    )


def test_missing_counter_is_input_error(tmp_path):
    info = parse_redis_info("# Server\nredis_version:7.0.15\n", "server.txt")
    with pytest.raises(InputError, match="server.txt: no keyspace_hits field"):
        cache_hit_ratio_from_redis(info)


@pytest.mark.redis
def test_real_server_window_rate(redis_server, tmp_path):
    for key in ("a", "b", "c"):
        redis_server.cli("SET", f"perfreport:{key}", "1")
    before = tmp_path / "before.txt"
    before.write_text(redis_server.cli("INFO"), newline="")
    hits = misses = 0
    for round_number in range(4):
        for key in ("a", "b", "c", "x", "y"):
            redis_server.cli("GET", f"perfreport:{key}")
            hits += key in ("a", "b", "c")
            misses += key not in ("a", "b", "c")
    after = tmp_path / "after.txt"
    after.write_text(redis_server.cli("INFO"), newline="")

    first, second = read_redis_info(before), read_redis_info(after)
    ratio = cache_hit_ratio_from_redis(first, second)
    assert b"\r\n" in before.read_bytes()
    assert first.run_id == second.run_id
    assert "Keyspace" in first.sections
    assert ratio.hits == hits == 12
    assert ratio.misses == misses == 8
    assert ratio.mean_ratio == pytest.approx(hits / (hits + misses), rel=1e-12)
    assert not ratio.reset_detected


@pytest.mark.redis
def test_real_server_resetstat_detected(redis_server):
    redis_server.cli("GET", "perfreport:a")
    before = parse_redis_info(redis_server.cli("INFO"), "before")
    redis_server.cli("CONFIG", "RESETSTAT")
    after = parse_redis_info(redis_server.cli("INFO"), "after")

    ratio = cache_hit_ratio_from_redis(before, after)
    assert ratio.reset_detected
    assert ratio.mean_ratio is None
