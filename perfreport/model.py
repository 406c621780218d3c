"""Data types shared by the ingestors, the analysis and the renderers.

The points frame
----------------
Every ingestor that reads raw samples returns them as a pandas DataFrame with
these columns (see :data:`POINT_COLUMNS`):

``time``
    ``datetime64[ns, UTC]``. k6 writes local time with an offset; it is converted.
``metric``
    The metric name (categorical string).
``value``
    ``float64``. Its unit follows from the metric's ``contains``: ``time`` means
    milliseconds, ``data`` means bytes, ``default`` is a plain number (a count, a
    0/1 rate sample or a gauge reading).
``tag.<key>``
    One column per tag key seen anywhere in the file, as strings (categorical),
    null where a point lacks that tag. ``tag.name``, ``tag.method``, ``tag.url``,
    ``tag.status``, ``tag.group``, ``tag.scenario`` are the usual ones.
``meta.<key>``
    k6's per-sample metadata (``meta.vu``, ``meta.iter``, trace ids), as strings,
    kept apart from tags because k6 never aggregates by them.

Rows keep the file's order, which matters: k6 sums a Trend's average in arrival
order. Parquet files written by perfreport store the same columns, with tags
dictionary-encoded, plus the run's metadata (see :mod:`perfreport.ingest.parquet`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    # Only annotations name pandas, so importing the model does not load it.
    import pandas as pd

MetricType = Literal["counter", "gauge", "rate", "trend"]
MetricContains = Literal["default", "time", "data"]

TIME = "time"
METRIC = "metric"
VALUE = "value"
TAG_PREFIX = "tag."
META_PREFIX = "meta."
POINT_COLUMNS = (TIME, METRIC, VALUE)

UNIT_BY_CONTAINS: dict[str, str] = {"time": "ms", "data": "bytes", "default": ""}


@dataclass(frozen=True)
class Submetric:
    """A k6 sub-metric: the parent metric's samples that carry all of ``tags``."""

    name: str
    suffix: str
    tags: dict[str, str]


@dataclass(frozen=True)
class MetricDef:
    """A k6 metric definition, as written on a "Metric" line or implied by a summary."""

    name: str
    type: MetricType
    contains: MetricContains = "default"
    thresholds: tuple[str, ...] = ()
    submetrics: tuple[Submetric, ...] = ()

    @property
    def unit(self) -> str:
        """Unit of the metric's values: ``ms``, ``bytes`` or empty for plain numbers."""
        return UNIT_BY_CONTAINS.get(self.contains, "")


@dataclass(frozen=True)
class AnalysisWarning:
    """A non-fatal problem, carried with a result and shown as a footnote.

    ``code`` is a stable identifier (``truncated-line``, ``no-samples``, ...);
    ``message`` states what is lacking and what would fix it.
    """

    code: str
    message: str
    source: str | None = None


@dataclass
class IngestStats:
    """Counts of what an ingestor read and of what it could not use."""

    lines_read: int = 0
    points: int = 0
    metric_lines: int = 0
    lines_skipped: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    """Up to 20 (line number, reason) pairs of skipped lines, 1-based."""
    truncated_last_line: bool = False
    gzip_incomplete: bool = False


@dataclass
class Run:
    """One test run, or the statistics that stand in for one.

    ``points`` is the points frame described in this module's docstring. It is
    None when the source has only precomputed statistics (a k6 summary file or a
    baseline file), which are then in ``statistics`` as a long frame with the
    columns ``metric``, ``endpoint``, ``statistic``, ``value``, ``unit``, ``n``.
    ``duration_s`` is k6's test-run duration when the source records it
    (handleSummary's ``state.testRunDurationMs``), else None.
    ``k6_thresholds`` maps a metric (or sub-metric) name to ``{expression: ok}``
    as k6 judged it, when a summary file says so.
    """

    name: str
    source: str
    kind: str
    points: pd.DataFrame | None = None
    metrics: dict[str, MetricDef] = field(default_factory=dict)
    statistics: pd.DataFrame | None = None
    duration_s: float | None = None
    k6_thresholds: dict[str, dict[str, bool]] = field(default_factory=dict)
    checks: pd.DataFrame | None = None
    info: dict[str, Any] = field(default_factory=dict)
    stats: IngestStats = field(default_factory=IngestStats)
    warnings: list[AnalysisWarning] = field(default_factory=list)

    @property
    def has_points(self) -> bool:
        """True when the run carries raw samples, not only precomputed statistics."""
        return self.points is not None

    def summary(
        self, stats: Sequence[str] | None = None, by: str = "endpoint"
    ) -> pd.DataFrame:
        """Return k6's statistics per metric and ``by`` key; see :func:`perfreport.summarize`."""
        from perfreport.analysis.summary import summarize

        return summarize(self, stats=stats, by=by)

    def tag_columns(self) -> list[str]:
        """Return the ``tag.<key>`` columns of the points frame."""
        if self.points is None:
            return []
        return [c for c in self.points.columns if c.startswith(TAG_PREFIX)]

    def _repr_html_(self) -> str:
        from perfreport.render.notebook import run_html

        return run_html(self)
