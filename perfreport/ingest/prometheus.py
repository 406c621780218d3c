"""Prometheus range queries, saved Prometheus API responses and their Parquet form.

Every reader here returns a :class:`PromFrame`, whose ``frame`` has one row per
sample and these columns:

``time``
    ``datetime64[ns, UTC]``.
``query``
    The query's name (``p95_latency_seconds``, or the saved file's stem).
``labels``
    The series' label set as a stable string, keys sorted:
    ``{handler="/api/stats",le="0.5"}``; ``{}`` for a series without labels;
    a metric name in front when the result carries one: ``up{job="api"}``.
``label.<name>``
    One string column per label name seen in any series, null where a series
    lacks that label.
``value``
    ``float64``. NaN is a gap: Prometheus sends ``"NaN"`` for a ratio of 0/0
    or a rate window without samples. It is kept so that plots show a gap,
    never 0.
``infinite``
    ``bool``, true where ``value`` is ``+Inf`` or ``-Inf`` (a ratio over a zero
    denominator, or a ``histogram_quantile`` that landed in the ``+Inf``
    bucket). Averages in :mod:`perfreport.analysis.server` leave these out.

Parquet files written by :func:`write_prometheus_parquet` carry the same columns
and, under the schema metadata key ``perfreport``, a JSON object with the format
version :data:`FORMAT_VERSION`, the server URL without credentials, the queries,
the window and the step.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from perfreport.errors import FormatVersionError, InputError, UsageError
from perfreport.ingest.nesting import NestingTooDeepError, loads
from perfreport.ingest.prometheus_http import (
    PrometheusAPIError,
    check_status,
    connect,
    fetch_range,
    redact_url,
)
from perfreport.model import AnalysisWarning

FORMAT_VERSION = "perfreport-prometheus/1"
METADATA_KEY = b"perfreport"
LABEL_PREFIX = "label."
FRAME_COLUMNS = ("time", "query", "labels", "value", "infinite")

# Prometheus rejects a range query whose series would have more than 11,000
# points ("exceeded maximum resolution of 11,000 points per timeseries").
MAX_POINTS_PER_SERIES = 11_000

# Auto-chosen steps come from this ladder, in seconds, so that the grid stays
# readable and lines up with common scrape intervals.
_STEP_LADDER_S = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400,
)  # fmt: skip

_HTTP_P95 = (
    "histogram_quantile(0.95, sum by (le, handler) "
    "(rate(http_request_duration_seconds_bucket[1m])))"
)
_CACHE_RATIO = (
    "(sum(rate(cache_hits_total[1m])) / (sum(rate(cache_hits_total[1m])) "
    "+ sum(rate(cache_misses_total[1m])))) or avg(cache_hit_ratio)"
)

STAGING_PRESET: dict[str, str] = {
    "p95_latency_seconds": _HTTP_P95,
    "request_rate_rps": (
        "sum by (handler) (rate(http_request_duration_seconds_count[1m]))"
    ),
    "cache_hit_ratio": _CACHE_RATIO,
    "db_connections_active": "sum(db_connections_active)",
    "redis_memory_bytes": "redis_memory_bytes",
    "process_resident_memory_bytes": "process_resident_memory_bytes",
}
"""Query name to PromQL for a staging run: the dashboards' usual panels.

A report configuration may override entries by name; a copy is taken per use.
"""

PRESETS: dict[str, dict[str, str]] = {"staging": STAGING_PRESET}


@dataclass(frozen=True)
class PromFrame:
    """Prometheus samples as a long frame, with where they came from.

    ``frame`` has the columns described in this module's docstring.
    ``queries`` maps each query name to its PromQL (empty strings for saved
    responses whose query is unknown). ``start`` and ``end`` are the queried
    window (None when unknown), ``step_s`` the resolution in seconds.
    """

    frame: pd.DataFrame
    queries: dict[str, str]
    source: str
    start: datetime | None = None
    end: datetime | None = None
    step_s: float | None = None
    warnings: tuple[AnalysisWarning, ...] = ()

    def series(self, query: str) -> pd.DataFrame:
        """Return the rows of one query, sorted by label set and time."""
        rows = self.frame[self.frame["query"] == query]
        return rows.sort_values(["labels", "time"], kind="stable")


@dataclass
class _Collected:
    """Rows gathered from several responses before they become one frame."""

    times: list[float] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    labels: list[dict[str, str]] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    warnings: list[AnalysisWarning] = field(default_factory=list)


# --- parsing API responses -------------------------------------------------


def format_labels(labels: Mapping[str, str]) -> str:
    """Format a label set as ``{a="1",b="x"}``, keys sorted, values escaped.

    A ``__name__`` label goes in front as in Prometheus's own notation:
    ``up{job="api"}``.
    """
    parts = []
    name = labels.get("__name__", "")
    for key in sorted(k for k in labels if k != "__name__"):
        value = str(labels[key]).replace("\\", "\\\\").replace('"', '\\"')
        parts.append(f'{key}="{value.replace(chr(10), chr(92) + "n")}"')
    return name + "{" + ",".join(parts) + "}"


def format_time(moment: datetime | None) -> str:
    """Format a time as RFC 3339 in UTC, ``?`` when unknown."""
    if moment is None:
        return "?"
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _no_data_warning(
    query: str, start: datetime | None, end: datetime | None, source: str
) -> AnalysisWarning:
    if start is None or end is None:
        text = f"no data for {query} in the saved response (the result is empty)"
    else:
        text = f"no data for {query} from {format_time(start)} to {format_time(end)}"
    return AnalysisWarning("no-data", text, source)


def _collect_result(
    data: Mapping[str, Any], query: str, into: _Collected, where: str
) -> int:
    """Append one response's ``data`` to ``into``; return the samples added."""
    kind = data.get("resultType")
    result: Any = data.get("result")
    if kind == "scalar":
        into.times.append(float(result[0]))
        into.queries.append(query)
        into.labels.append({})
        into.values.append(str(result[1]))
        return 1
    if kind not in ("matrix", "vector") or not isinstance(result, list):
        raise ValueError(f"unknown resultType {kind!r} in {where}")
    added = 0
    for series in result:
        labels = {str(k): str(v) for k, v in (series.get("metric") or {}).items()}
        if "histograms" in series or "histogram" in series:
            into.warnings.append(_native_histogram_warning(query, labels, where))
        samples = series.get("values") if kind == "matrix" else [series.get("value")]
        for stamp, text in samples or []:
            into.times.append(float(stamp))
            into.queries.append(query)
            into.labels.append(labels)
            into.values.append(str(text))
            added += 1
    return added


def _native_histogram_warning(
    query: str, labels: Mapping[str, str], where: str
) -> AnalysisWarning:
    # Native histograms (Prometheus 2.40+) send bucket sets, not float values.
    return AnalysisWarning(
        "native-histogram",
        f"{query}: series {format_labels(labels)} has native histogram samples, "
        "which perfreport does not read; wrap the query in histogram_quantile() "
        "or histogram_count() to get float values",
        where,
    )


def _to_frame(rows: _Collected) -> pd.DataFrame:
    """Build the long frame from collected rows, converting string values."""
    # float() accepts Prometheus's "NaN", "+Inf" and "-Inf" spellings.
    values = np.array([float(text) for text in rows.values], dtype="float64")
    times = pd.to_datetime(np.array(rows.times, dtype="float64"), unit="s", utc=True)
    frame = pd.DataFrame(
        {
            "time": pd.Series(times).astype("datetime64[ns, UTC]"),
            "query": pd.Series(rows.queries, dtype="str"),
            "labels": pd.Series([format_labels(x) for x in rows.labels], dtype="str"),
            "value": values,
            "infinite": np.isinf(values),
        }
    )
    names = sorted({name for labels in rows.labels for name in labels})
    for name in names:
        column = [labels.get(name) for labels in rows.labels]
        frame[LABEL_PREFIX + name] = pd.Series(column, dtype="str")
    frame = frame.drop_duplicates(["query", "labels", "time"], keep="first")
    return frame.sort_values(["query", "labels", "time"], kind="stable").reset_index(
        drop=True
    )


def _server_warnings(
    payload: Mapping[str, Any], query: str, source: str
) -> list[AnalysisWarning]:
    """Carry the ``warnings`` list of a success response, e.g. a partial result."""
    return [
        AnalysisWarning(
            "prometheus-warning", f"{query}: Prometheus warned: {text}", source
        )
        for text in payload.get("warnings") or []
    ]


def _inf_warnings(
    frame: pd.DataFrame, source: str, queries: Mapping[str, str] | None = None
) -> list[AnalysisWarning]:
    """Warn once per query that contains infinite values."""
    warnings = []
    for query, rows in frame[frame["infinite"]].groupby("query", sort=True):
        promql = (queries or {}).get(str(query), "")
        if "histogram_quantile" in promql:
            meaning = (
                "the quantile lies in the +Inf bucket, so it is at least the "
                "largest finite bucket bound, not a measured value"
            )
        else:
            meaning = "a division by zero, or a quantile in the +Inf bucket"
        warnings.append(
            AnalysisWarning(
                "infinite-values",
                f"{query}: {len(rows)} point(s) are +Inf or -Inf ({meaning}); "
                "they are flagged and left out of averages",
                source,
            )
        )
    return warnings


# --- saved responses and Parquet --------------------------------------------


def read_prometheus_response(
    path: str | Path,
    query_name: str | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> PromFrame:
    """Read a saved ``/api/v1/query_range`` or ``/api/v1/query`` response.

    The file is the JSON that ``curl ... | jq .`` writes (any indentation), or a
    Parquet file written by :func:`write_prometheus_parquet`. ``query_name``
    names the samples (default: the file's stem). ``start`` and ``end``, when
    given, name the window in the "no data" warning of an empty result.

    Raises :class:`InputError` for a file that is missing, not JSON, not a
    Prometheus response, or an error response (the message carries
    Prometheus's ``errorType`` and error text). Warnings: ``no-data`` for an
    empty result, ``infinite-values`` for ``+Inf``/``-Inf`` points.
    """
    path = Path(path)
    if path.suffix == ".parquet":
        return read_prometheus_parquet(path)
    name = query_name or path.name.split(".")[0]
    payload = _load_json(path)
    try:
        data = check_status(payload, path.name)
        rows = _Collected()
        added = _collect_result(data, name, rows, path.name)
        rows.warnings += _server_warnings(payload, name, str(path))
    except PrometheusAPIError as error:
        raise InputError(
            path,
            f"the saved response is an error: {error.error_type}: {error.error}",
            hint="fix the query and save the response again",
        ) from None
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as error:
        raise InputError(
            path,
            f"not a Prometheus query response ({error})",
            hint="save the output of /api/v1/query_range or /api/v1/query",
        ) from None
    frame = _to_frame(rows)
    warnings = rows.warnings
    if not added:
        warnings.append(_no_data_warning(name, start, end, str(path)))
    warnings += _inf_warnings(frame, str(path))
    return PromFrame(frame, {name: ""}, str(path), start, end, None, tuple(warnings))


def _load_json(path: Path) -> Any:
    try:
        # utf-8-sig drops the byte order mark that PowerShell and Notepad write.
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(path, f"cannot read the file ({error})") from None
    try:
        return loads(text)
    except NestingTooDeepError as error:
        raise InputError(
            path,
            f"not a Prometheus query response: its {error.msg}",
            hint="save the output of /api/v1/query_range or /api/v1/query",
        ) from None
    except json.JSONDecodeError as error:
        raise InputError(
            path,
            f"not JSON ({error.msg} at column {error.colno})",
            line=error.lineno,
            hint="save the API response with `curl ... | jq .`",
        ) from None


def write_prometheus_parquet(
    result: PromFrame, path: str | Path, url: str = ""
) -> None:
    """Write ``result`` to Parquet with its metadata under the key ``perfreport``.

    ``url`` is stored after :func:`redact_url` removes any credentials.
    """
    metadata = {
        "format": FORMAT_VERSION,
        "url": redact_url(url) if url else "",
        "source": redact_url(result.source)
        if "://" in result.source
        else result.source,
        "queries": result.queries,
        "start": format_time(result.start) if result.start else None,
        "end": format_time(result.end) if result.end else None,
        "step_s": result.step_s,
        "warnings": [w.__dict__ for w in result.warnings],
    }
    table = pa.Table.from_pandas(result.frame, preserve_index=False)
    merged = dict(table.schema.metadata or {})
    merged[METADATA_KEY] = json.dumps(metadata).encode("utf-8")
    pq.write_table(table.replace_schema_metadata(merged), Path(path))


def read_prometheus_parquet(path: str | Path) -> PromFrame:
    """Read a Parquet file written by :func:`write_prometheus_parquet`.

    Raises :class:`FormatVersionError` for a file of another format version and
    :class:`InputError` for one that perfreport did not write.
    """
    path = Path(path)
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (OSError, pa.ArrowInvalid) as error:
        raise InputError(path, f"not a readable Parquet file ({error})") from None
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    try:
        meta = loads(raw) if raw else {}
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise FormatVersionError(
            path,
            f"format version {found!r} is not {FORMAT_VERSION!r}",
            hint="write the file again with `perfreport prometheus`",
        )
    frame = table.to_pandas()
    frame["time"] = frame["time"].astype("datetime64[ns, UTC]")
    warnings = tuple(AnalysisWarning(**w) for w in meta.get("warnings", []))
    return PromFrame(
        frame,
        dict(meta.get("queries", {})),
        meta.get("url") or str(path),
        parse_time(meta["start"]) if meta.get("start") else None,
        parse_time(meta["end"]) if meta.get("end") else None,
        meta.get("step_s"),
        warnings,
    )


# --- times, steps and chunks -------------------------------------------------


def parse_time(text: str) -> datetime:
    """Parse RFC 3339 (``2026-01-05T10:00:00Z``) or unix seconds into UTC.

    A time without a zone is rejected, because Prometheus would read it in UTC
    while the user may have meant local time.
    """
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), tz=timezone.utc)
    try:
        moment = datetime.fromisoformat(
            text.replace("Z", "+00:00").replace("z", "+00:00")
        )
    except ValueError:
        raise UsageError(
            f"invalid time {text!r}: use RFC 3339 such as 2026-01-05T10:00:00Z "
            "or unix seconds such as 1767607200"
        ) from None
    if moment.tzinfo is None:
        raise UsageError(
            f"time {text!r} has no time zone: add Z for UTC or an offset like +01:00"
        )
    return moment.astimezone(timezone.utc)


def choose_step(start: datetime, end: datetime, step_s: float | None = None) -> float:
    """Return ``step_s``, or the smallest ladder step that keeps a series whole.

    An auto-chosen step is at least 1 s and gives at most
    :data:`MAX_POINTS_PER_SERIES` points over the window.
    """
    if step_s is not None:
        if not step_s > 0 or not math.isfinite(step_s):
            raise UsageError(
                f"invalid --step {step_s}: give a positive number of seconds"
            )
        return float(step_s)
    span_s = (end - start).total_seconds()
    for step in _STEP_LADDER_S:
        if span_s / step + 1 <= MAX_POINTS_PER_SERIES:
            return float(step)
    return math.ceil(span_s / (MAX_POINTS_PER_SERIES - 1))


def split_range(start: float, end: float, step_s: float) -> list[tuple[float, float]]:
    """Split [start, end] (unix seconds) into chunks of at most 11,000 steps.

    Chunks sit on the grid ``start + k * step_s`` and the next chunk starts one
    step after the previous one ends, so no point is fetched twice.
    """
    per_chunk = MAX_POINTS_PER_SERIES - 1
    total_steps = math.floor((end - start) / step_s + 1e-9)
    chunks = []
    first = 0
    while first <= total_steps:
        last = min(first + per_chunk, total_steps)
        chunks.append((start + first * step_s, start + last * step_s))
        first = last + 1
    return chunks


# --- live queries --------------------------------------------------------------


def resolve_queries(
    queries: Mapping[str, str] | None, preset: str | None = None
) -> dict[str, str]:
    """Return the queries to run: ``queries`` when given, else a preset's copy."""
    if queries:
        return dict(queries)
    name = preset or "staging"
    if name not in PRESETS:
        raise UsageError(
            f"unknown --preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}"
        )
    return dict(PRESETS[name])


def query_range(
    url: str,
    queries: Mapping[str, str],
    start: datetime,
    end: datetime,
    step_s: float | None = None,
    *,
    verify_tls: bool = True,
    retries: int = 3,
    timeout_s: float = 30.0,
    environ: Mapping[str, str] | None = None,
) -> PromFrame:
    """Run each PromQL range query over [start, end] and join the results.

    Credentials come from :func:`.prometheus_http.credentials_from_env`, or
    from a user and password in ``url``, and are never logged. ``step_s`` defaults to
    :func:`choose_step`. Windows longer than 11,000 steps are fetched in chunks.
    Connection failures and HTTP 408/429/5xx are retried ``retries`` times with
    backoff. Raises :class:`RemoteError` naming the URL without credentials,
    with Prometheus's ``errorType`` and error text when it sends them.
    Warnings: ``no-data`` per query with an empty result, ``infinite-values``.
    """
    if end <= start:
        raise UsageError(
            f"the window ends ({format_time(end)}) before it starts "
            f"({format_time(start)}); --end must be later than --start"
        )
    step = choose_step(start, end, step_s)
    client = connect(url, verify_tls, retries, environ)
    rows = _Collected()
    for name, promql in queries.items():
        added = 0
        for first, last in split_range(start.timestamp(), end.timestamp(), step):
            payload = fetch_range(client, promql, first, last, step, timeout_s, retries)
            added += _collect_result(payload["data"], name, rows, redact_url(url))
            rows.warnings += _server_warnings(payload, name, redact_url(url))
        if not added:
            rows.warnings.append(_no_data_warning(name, start, end, redact_url(url)))
    frame = _to_frame(rows)
    warnings = rows.warnings + _inf_warnings(frame, redact_url(url), queries)
    return PromFrame(
        frame, dict(queries), redact_url(url), start, end, step, tuple(warnings)
    )


# --- the window of a k6 run ----------------------------------------------------


def window_from_k6_run(path: str | Path) -> tuple[datetime, datetime]:
    """Return the first and last sample time of a k6 run file, in UTC.

    The file is read with :func:`perfreport.ingest.load`, so every k6 output
    it accepts works here. Raises :class:`InputError` for a run without raw
    samples (a summary file), which has no sample times.
    """
    from perfreport.ingest import load

    run = load(path)
    if run.points is None or run.points.empty:
        raise InputError(
            path,
            "the run has no raw samples to take a window from",
            hint="pass k6's --out json file, or --start and --end",
        )
    times = run.points["time"]
    return times.min().to_pydatetime(), times.max().to_pydatetime()


def parse_named(values: Sequence[str], option: str) -> dict[str, str]:
    """Parse repeated ``NAME=VALUE`` options into a dict, in order."""
    parsed: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UsageError(f"invalid {option} {item!r}: expected NAME=VALUE")
        parsed[name.strip()] = value.strip()
    return parsed
