"""A Run built from a points frame that is already in memory.

In a notebook, a run is often cut down before it is analysed: one endpoint, one
scenario, the minutes of a spike. :func:`from_frame` checks such a frame against
the points-frame contract of :mod:`perfreport.model` and wraps it in a
:class:`~perfreport.model.Run`, so every analysis function accepts it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from perfreport.errors import FrameError
from perfreport.model import (
    META_PREFIX,
    METRIC,
    POINT_COLUMNS,
    TAG_PREFIX,
    TIME,
    VALUE,
    AnalysisWarning,
    IngestStats,
    MetricContains,
    MetricDef,
    MetricType,
    Run,
)

FRAME_KIND = "frame"
DEFAULT_SOURCE = "<DataFrame>"

# k6 v1.1.0's built-in metrics with their types and value kinds, so a frame
# without definitions is summarised as k6 would summarise it.
K6_BUILTIN_DEFINITIONS: dict[str, tuple[MetricType, MetricContains]] = {
    "http_reqs": ("counter", "default"),
    "http_req_failed": ("rate", "default"),
    "http_req_duration": ("trend", "time"),
    "http_req_blocked": ("trend", "time"),
    "http_req_connecting": ("trend", "time"),
    "http_req_tls_handshaking": ("trend", "time"),
    "http_req_sending": ("trend", "time"),
    "http_req_waiting": ("trend", "time"),
    "http_req_receiving": ("trend", "time"),
    "iteration_duration": ("trend", "time"),
    "group_duration": ("trend", "time"),
    "iterations": ("counter", "default"),
    "dropped_iterations": ("counter", "default"),
    "data_sent": ("counter", "data"),
    "data_received": ("counter", "data"),
    "vus": ("gauge", "default"),
    "vus_max": ("gauge", "default"),
    "checks": ("rate", "default"),
    "ws_connecting": ("trend", "time"),
    "ws_session_duration": ("trend", "time"),
    "ws_ping": ("trend", "time"),
    "ws_msgs_sent": ("counter", "default"),
    "ws_msgs_received": ("counter", "default"),
    "ws_sessions": ("counter", "default"),
    "grpc_req_duration": ("trend", "time"),
}
_RATE_SUFFIXES = ("_rate", "_ratio")
_TIME_SUFFIXES = ("_duration", "_ms", "_time", "_latency")


def from_frame(
    points: pd.DataFrame,
    *,
    name: str = "frame",
    metrics: Mapping[str, MetricDef] | None = None,
    duration_s: float | None = None,
    source: str = DEFAULT_SOURCE,
) -> Run:
    """Build a Run from a points frame, such as a filtered ``run.points``.

    ``points`` needs the columns ``time`` (datetimes; naive ones are taken as
    UTC), ``metric`` and ``value`` (numbers), and may have ``tag.<key>`` and
    ``meta.<key>`` columns. Other columns are dropped with a ``dropped-columns``
    warning. Rows keep their order and the frame is copied, never modified.

    ``metrics`` gives the metric definitions (pass ``run.metrics`` of the run
    the frame came from). A metric without one gets k6's built-in definition,
    or a type guessed from its name and values with a ``guessed-metric-type``
    warning. ``duration_s`` is the test-run duration that Counter rates divide
    by. Pass the parent run's (:func:`perfreport.analysis.summary.run_duration_s`),
    because then the per-second rates of a subset match the parent's
    per-endpoint rates. Without it, the duration is estimated from the frame's
    own time span.

    Raises:
        FrameError: ``points`` is not a DataFrame, has no rows, lacks ``time``,
            ``metric`` or ``value``, or has values of the wrong type there.
    """
    _check_columns(points, source)
    warnings: list[AnalysisWarning] = []
    frame = _points_frame(points, source, warnings)
    present = [str(m) for m in frame[METRIC].cat.categories]
    definitions, guessed = _definitions(frame, present, metrics or {})
    if guessed:
        warnings.append(_guessed_warning(guessed, definitions, source))
    return Run(
        name=name,
        source=source,
        kind=FRAME_KIND,
        points=frame,
        metrics=definitions,
        duration_s=duration_s,
        stats=IngestStats(points=len(frame)),
        warnings=warnings,
    )


def _check_columns(points: object, source: str) -> None:
    if not isinstance(points, pd.DataFrame):
        raise FrameError(
            source,
            f"expected a pandas DataFrame, got {type(points).__name__}",
            hint="pass a points frame such as run.points",
        )
    missing = [c for c in POINT_COLUMNS if c not in points.columns]
    if missing:
        raise FrameError(
            source,
            f"missing column(s) {', '.join(repr(c) for c in missing)}; "
            f"found {', '.join(repr(str(c)) for c in points.columns[:12]) or 'none'}",
            hint="a points frame has the columns 'time', 'metric' and 'value' "
            "(see perfreport.model)",
        )
    if points.empty:
        raise FrameError(
            source,
            "the frame has no rows",
            hint="check the filter that built it",
        )


def _points_frame(
    points: pd.DataFrame, source: str, warnings: list[AnalysisWarning]
) -> pd.DataFrame:
    tag_columns = [
        c
        for c in points.columns
        if isinstance(c, str) and c.startswith((TAG_PREFIX, META_PREFIX))
    ]
    dropped = [
        str(c)
        for c in points.columns
        if c not in POINT_COLUMNS and c not in tag_columns
    ]
    if dropped:
        warnings.append(
            AnalysisWarning(
                "dropped-columns",
                f"column(s) {', '.join(dropped)} are not 'time', 'metric', 'value', "
                "'tag.<key>' or 'meta.<key>' and were left out; rename a tag "
                "column to 'tag.<key>' to keep it",
                source,
            )
        )
    frame = pd.DataFrame(
        {
            TIME: _time_column(points[TIME], source, warnings),
            METRIC: _metric_column(points[METRIC], source),
            VALUE: _value_column(points[VALUE], source),
        }
    )
    for column in tag_columns:
        frame[column] = _string_column(points[column])
    return frame.reset_index(drop=True)


def _time_column(
    times: pd.Series, source: str, warnings: list[AnalysisWarning]
) -> np.ndarray:
    if not pd.api.types.is_datetime64_any_dtype(times):
        if pd.api.types.is_numeric_dtype(times):
            raise FrameError(
                source,
                f"column 'time' holds numbers ({times.dtype}), not datetimes",
                hint="convert it, e.g. pd.to_datetime(df['time'], unit='s', utc=True)",
            )
        try:
            times = pd.to_datetime(times, utc=True, format="ISO8601")
        except (ValueError, TypeError) as error:
            raise FrameError(
                source,
                f"column 'time' is not datetimes ({error})",
                hint="convert it with pd.to_datetime(..., utc=True)",
            ) from None
    if times.dt.tz is None:
        warnings.append(
            AnalysisWarning(
                "naive-time",
                "column 'time' has no time zone; it was taken as UTC",
                source,
            )
        )
        times = times.dt.tz_localize("UTC")
    if times.isna().any():
        raise FrameError(
            source,
            f"column 'time' has {int(times.isna().sum())} missing value(s)",
            hint="drop those rows first",
        )
    converted = times.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    return converted.to_numpy()


def _metric_column(metrics: pd.Series, source: str) -> pd.Categorical:
    if metrics.isna().any():
        raise FrameError(
            source,
            f"column 'metric' has {int(metrics.isna().sum())} missing value(s)",
            hint="drop those rows first",
        )
    return pd.Categorical(metrics.astype(str).to_numpy())


def _value_column(values: pd.Series, source: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(values):
        return values.astype("float64").to_numpy()
    if not pd.api.types.is_numeric_dtype(values):
        raise FrameError(
            source,
            f"column 'value' holds {values.dtype}, not numbers",
            hint="convert it with pd.to_numeric(df['value'])",
        )
    return values.astype("float64").to_numpy()


def _string_column(column: pd.Series) -> pd.Categorical:
    if isinstance(column.dtype, pd.CategoricalDtype) and all(
        isinstance(category, str) for category in column.cat.categories
    ):
        return column.cat.remove_unused_categories().array
    text = column.astype("object")
    text = text.where(text.isna(), text.astype(str))
    return pd.Categorical(text.to_numpy())


def _definitions(
    frame: pd.DataFrame, present: list[str], given: Mapping[str, MetricDef]
) -> tuple[dict[str, MetricDef], list[str]]:
    definitions: dict[str, MetricDef] = {}
    guessed: list[str] = []
    for metric in present:
        if metric in given:
            definitions[metric] = given[metric]
        elif metric in K6_BUILTIN_DEFINITIONS:
            metric_type, contains = K6_BUILTIN_DEFINITIONS[metric]
            definitions[metric] = MetricDef(metric, metric_type, contains)
        else:
            values = frame.loc[frame[METRIC] == metric, VALUE].to_numpy()
            definitions[metric] = guess_definition(metric, values)
            guessed.append(metric)
    return definitions, guessed


def guess_definition(metric: str, values: np.ndarray) -> MetricDef:
    """Guess a custom metric's definition from its name, then from its values.

    ``*_rate`` and ``*_ratio`` metrics with values 0 and 1 are Rates.
    ``*_duration``, ``*_ms``, ``*_time`` and ``*_latency`` are Trends in ms.
    Other metrics with whole non-negative values are Counters, and the rest
    are plain Trends.
    """
    is_binary = bool(np.isin(values, (0.0, 1.0)).all())
    if metric.endswith(_RATE_SUFFIXES) and is_binary:
        return MetricDef(metric, "rate")
    if metric.endswith(_TIME_SUFFIXES):
        return MetricDef(metric, "trend", "time")
    whole = bool(np.all(values >= 0) and np.all(np.mod(values, 1) == 0))
    if whole:
        return MetricDef(metric, "counter")
    return MetricDef(metric, "trend")


def _guessed_warning(
    guessed: list[str], definitions: Mapping[str, MetricDef], source: str
) -> AnalysisWarning:
    listed = ", ".join(f"{m} as {definitions[m].type}" for m in guessed)
    return AnalysisWarning(
        "guessed-metric-type",
        f"no definition for {listed}; the type was guessed from the name and "
        "values; pass metrics=run.metrics to use the run's own definitions",
        source,
    )
