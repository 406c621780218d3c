"""Thin wrappers that the public API adds over the ingest, analysis and report layers.

Each function here accepts what a notebook has at hand: a path, a DataFrame or
a loaded object. It then calls one library function, so no statistic is
computed here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from importlib import metadata as importlib_metadata
from pathlib import Path

import pandas as pd

from perfreport.analysis.criteria import CriteriaSet, check_metric_names, load_criteria
from perfreport.analysis.thresholds import ThresholdResult
from perfreport.analysis.thresholds import evaluate_thresholds as _evaluate
from perfreport.errors import InputError, UsageError
from perfreport.ingest import load as _load_file
from perfreport.ingest.frame import from_frame
from perfreport.ingest.prometheus import (
    PromFrame,
    read_prometheus_parquet,
    read_prometheus_response,
)
from perfreport.ingest.redis_info import RedisInfo, read_redis_info
from perfreport.model import AnalysisWarning, MetricDef, Run
from perfreport.reporting import ReportMetadata, build_report, server_data

PathLike = str | Path
REPORT_FORMATS = {
    ".md": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".json": "json",
}


def package_version() -> str:
    """Return perfreport's version: installed metadata, else pyproject.toml, else unknown.

    The pyproject.toml fallback covers a source checkout used without an
    install; ``0+unknown`` is returned when neither is found.
    """
    try:
        return importlib_metadata.version("perfreport")
    except importlib_metadata.PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return "0+unknown"
    match = re.search(r'^version\s*=\s*"([^"]+)"', text, flags=re.MULTILINE)
    return match.group(1) if match else "0+unknown"


def load(
    source: PathLike | pd.DataFrame,
    *,
    name: str | None = None,
    skip_bad_lines: bool = True,
    cache: bool = True,
    progress: bool = False,
    metrics: Mapping[str, MetricDef] | None = None,
    duration_s: float | None = None,
    sample_metadata: bool = True,
) -> Run:
    """Read a run from a file, or wrap a points DataFrame already in memory.

    A path goes to :func:`perfreport.ingest.load` (k6 JSON or gzip, CSV,
    summary and baseline files, perfreport Parquet) with ``skip_bad_lines``,
    ``cache``, ``progress`` and ``sample_metadata``. A DataFrame goes to :func:`from_frame` with
    ``metrics`` and ``duration_s``; its name defaults to ``frame``.

    Raises:
        InputError: a missing, empty or malformed file (the message names the
            file and line), or a DataFrame without ``time``/``metric``/``value``
            (:class:`~perfreport.errors.FrameError`, also a ValueError).
        UsageError: ``metrics`` or ``duration_s`` given with a path.
    """
    if isinstance(source, pd.DataFrame):
        return from_frame(
            source, name=name or "frame", metrics=metrics, duration_s=duration_s
        )
    if metrics is not None or duration_s is not None:
        raise UsageError(
            "metrics= and duration_s= apply to a DataFrame; a file carries its own"
        )
    return _load_file(
        source,
        name=name,
        skip_bad_lines=skip_bad_lines,
        cache=cache,
        progress=progress,
        sample_metadata=sample_metadata,
    )


class ThresholdResults(list[ThresholdResult]):
    """The thresholds of one run, as a list that also shows as a table in Jupyter.

    ``warnings`` are the run's own (a truncated file, for one), because a
    verdict on partial data needs that footnote. ``metrics`` are the run's
    metric definitions, which give the units of the observed values.
    """

    def __init__(
        self,
        results: Sequence[ThresholdResult],
        warnings: Sequence[AnalysisWarning] = (),
        metrics: Mapping[str, MetricDef] | None = None,
    ) -> None:
        super().__init__(results)
        self.warnings = list(warnings)
        self.metrics = dict(metrics or {})

    @property
    def passed(self) -> bool:
        """True when every threshold passed; one without data is not a pass."""
        return all(result.ok is True for result in self)

    def to_frame(self) -> pd.DataFrame:
        """Return one row per threshold, with the fields of ThresholdResult."""
        columns = list(ThresholdResult.__dataclass_fields__)
        return pd.DataFrame([vars(r) for r in self], columns=columns)

    def _repr_html_(self) -> str:
        from perfreport.render.notebook import thresholds_html

        return thresholds_html(self, self.warnings, self.metrics)


def evaluate_thresholds(
    run: Run, summary: pd.DataFrame | None = None
) -> ThresholdResults:
    """Evaluate every k6 threshold that ``run`` declares against its own statistics.

    Observed values are in the metric's base unit (ms, shares 0..1, counts).
    ``ok`` is None where the statistic has no samples; ``k6_ok`` is k6's own
    verdict where a summary file records it. See
    :func:`perfreport.analysis.thresholds.evaluate_thresholds`.
    """
    return ThresholdResults(_evaluate(run, summary), run.warnings, run.metrics)


def read_prometheus(path: PathLike) -> list[PromFrame]:
    """Read saved Prometheus data: a folder of API responses, one ``.json``, or Parquet.

    A folder gives one PromFrame per ``*.json`` file in name order, each named
    after its file's stem; a Parquet file is one written by ``perfreport
    prometheus``. Raises InputError for a missing or malformed file.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise InputError(
                path, "folder has no .json files", hint="save query responses there"
            )
        return [read_prometheus_response(file) for file in files]
    if path.suffix == ".parquet":
        return [read_prometheus_parquet(path)]
    return [read_prometheus_response(path)]


def _as_run(item: Run | PathLike, name: str | None) -> Run:
    return item if isinstance(item, Run) else _load_file(item, name=name)


def _as_criteria(criteria: CriteriaSet | PathLike | None) -> CriteriaSet | None:
    if criteria is None or isinstance(criteria, CriteriaSet):
        return criteria
    return load_criteria(criteria)


def _as_redis(snapshot: RedisInfo | PathLike | None) -> RedisInfo | None:
    if snapshot is None or isinstance(snapshot, RedisInfo):
        return snapshot
    return read_redis_info(snapshot)


def _as_prometheus(items: Sequence[PromFrame | PathLike]) -> list[PromFrame]:
    frames: list[PromFrame] = []
    for item in items:
        frames += [item] if isinstance(item, PromFrame) else read_prometheus(item)
    return frames


def _known_metrics(runs: Sequence[Run]) -> set[str]:
    known: set[str] = set()
    for run in runs:
        known |= set(run.metrics)
        if run.statistics is not None:
            known |= set(run.statistics["metric"].astype(str))
    return known


def _report_format(output: Path | None, format: str | None) -> str:
    if format is not None:
        if format not in REPORT_FORMATS.values():
            raise UsageError(
                f"invalid report format {format!r}; use markdown, html, pdf or json"
            )
        return format
    if output is None:
        return "markdown"
    return REPORT_FORMATS.get(output.suffix.lower(), "markdown")


def report(
    baseline: Run | PathLike | None,
    *runs: Run | PathLike,
    criteria: CriteriaSet | PathLike | None = None,
    prometheus: Sequence[PromFrame | PathLike] = (),
    redis_before: RedisInfo | PathLike | None = None,
    redis_after: RedisInfo | PathLike | None = None,
    metadata: ReportMetadata | None = None,
    output: PathLike | None = None,
    format: str | None = None,
) -> str | Path:
    """Build the staging report; return its text, or write a file and return its path.

    Runs, criteria, Prometheus data and Redis INFO snapshots may be loaded
    objects or paths (a baseline path gets the name ``baseline``). ``format``
    is markdown, html, pdf or json (default: from ``output``'s suffix, else
    markdown). Without ``output`` the text is returned; Markdown then has no
    charts, only their missing-data notes, and HTML embeds them. With
    ``output`` the file is written, Markdown charts as PNGs in
    ``<stem>_charts/`` beside it. The numbers are those of ``perfreport
    report`` for the same inputs.

    Raises:
        UsageError: no run at all, or an unknown ``format``.
        CriteriaError: the criteria file is invalid or names an unknown metric.
        InputError: an input file is missing or malformed.
    """
    if baseline is None and not runs:
        raise UsageError("report() needs a baseline and/or at least one run")
    base_run = _as_run(baseline, "baseline") if baseline is not None else None
    candidates = [_as_run(item, None) for item in runs]
    all_runs = ([base_run] if base_run is not None else []) + candidates
    criteria_set = _as_criteria(criteria)
    if criteria_set is not None:
        check_metric_names(criteria_set, _known_metrics(all_runs))
    server = server_data(
        base_run,
        candidates,
        prometheus=_as_prometheus(prometheus),
        redis_before=_as_redis(redis_before),
        redis_after=_as_redis(redis_after),
    )
    path = Path(output) if output is not None else None
    chosen = _report_format(path, format)
    if path is None and chosen == "pdf":
        raise UsageError("a PDF report needs output=PATH")
    built = build_report(
        base_run, candidates, criteria=criteria_set, server=server,
        metadata=metadata, charts=chosen != "json",
    )  # fmt: skip
    return _write_report(built, chosen, path)


def _write_report(built: object, chosen: str, path: Path | None) -> str | Path:
    from perfreport.render import html, json_report, markdown, pdf

    if path is None:
        if chosen == "html":
            return html.render_html(built)  # type: ignore[arg-type]
        if chosen == "json":
            return json_report.dumps(json_report.report_document(built))  # type: ignore[arg-type]
        return markdown.render_markdown(built)  # type: ignore[arg-type]
    writers = {
        "markdown": markdown.write_markdown,
        "html": html.write_html,
        "pdf": pdf.write_pdf,
        "json": json_report.write_json,
    }
    return writers[chosen](built, path)  # type: ignore[arg-type]
