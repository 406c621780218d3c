"""``perfreport report`` and ``perfreport check``: the staging report and its CI gate."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path

import typer

from perfreport.analysis.criteria import CriteriaSet, check_metric_names, load_criteria
from perfreport.cli.app import app
from perfreport.cli.options import check_input, check_output
from perfreport.config import ReportConfig, RunInput, load_config
from perfreport.errors import UsageError
from perfreport.ingest import load
from perfreport.model import Run
from perfreport.reporting import ReportMetadata, ServerData, build_report, server_data

_RUN_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class ReportFormat(str, Enum):
    markdown = "markdown"
    html = "html"
    pdf = "pdf"
    json = "json"


class CheckFormat(str, Enum):
    table = "table"
    json = "json"


@dataclass
class _Inputs:
    """Everything the two commands read, after the config and the options merge."""

    baseline: RunInput | None = None
    runs: list[RunInput] = field(default_factory=list)
    criteria: Path | None = None
    prometheus: list[Path] = field(default_factory=list)
    redis_before: Path | None = None
    redis_after: Path | None = None


BASELINE_HELP = (
    "Baseline run: k6 JSON (.json/.gz), CSV, summary, baseline file or Parquet."
)
RUN_HELP = "Candidate run as NAME=FILE or FILE (repeatable), in the same formats."
PROMETHEUS_HELP = (
    "Prometheus data: a Parquet file from `perfreport prometheus`, a saved API "
    "response (.json) or a folder of them (repeatable)."
)
CONFIG_HELP = "Report config TOML naming the inputs; options given here override it."


def parse_run_option(value: str) -> RunInput:
    """Parse ``NAME=FILE`` or ``FILE`` from ``--run``."""
    name, sep, path = value.partition("=")
    if sep and _RUN_NAME.match(name) and path:
        return RunInput(Path(path), name)
    return RunInput(Path(value), None)


def _merge(
    config: ReportConfig | None,
    baseline: Path | None,
    runs: list[str],
    criteria: Path | None,
    prometheus: list[Path],
    redis_before: Path | None,
    redis_after: Path | None,
) -> _Inputs:
    inputs = _Inputs()
    if config is not None:
        inputs = _Inputs(
            config.baseline, list(config.runs), config.criteria, list(config.prometheus),
            config.redis_before, config.redis_after,
        )  # fmt: skip
    if baseline is not None:
        inputs.baseline = RunInput(baseline, None)
    if runs:
        inputs.runs = [parse_run_option(v) for v in runs]
    inputs.criteria = criteria or inputs.criteria
    inputs.prometheus = list(prometheus) or inputs.prometheus
    inputs.redis_before = redis_before or inputs.redis_before
    inputs.redis_after = redis_after or inputs.redis_after
    if inputs.baseline is None and not inputs.runs:
        raise UsageError("no runs given; pass --baseline FILE and/or --run NAME=FILE")
    if inputs.redis_after is not None and inputs.redis_before is None:
        raise UsageError(
            "--redis-after needs --redis-before (the snapshot taken first)"
        )
    for item in [inputs.baseline, *inputs.runs]:
        if item is not None:
            check_input(item.path)
    return inputs


def _load_runs(inputs: _Inputs) -> tuple[Run | None, list[Run]]:
    baseline = None
    if inputs.baseline is not None:
        baseline = load(inputs.baseline.path, name=inputs.baseline.name or "baseline", sample_metadata=False)
    runs = [load(item.path, name=item.name, sample_metadata=False) for item in inputs.runs]
    names = [r.name for r in ([baseline] if baseline else []) + runs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UsageError(
            f"two runs are named {duplicates[0]!r}; name them with --run NAME=FILE"
        )
    return baseline, runs


def _criteria(inputs: _Inputs, required: bool) -> CriteriaSet | None:
    if inputs.criteria is None:
        if required:
            raise UsageError(
                "no criteria file; pass --criteria FILE (see docs/criteria.md)"
            )
        return None
    return load_criteria(inputs.criteria)


def _server(inputs: _Inputs, baseline: Run | None, runs: list[Run]) -> ServerData:
    from perfreport.ingest.prometheus import (
        read_prometheus_parquet,
        read_prometheus_response,
    )
    from perfreport.ingest.redis_info import read_redis_info

    frames = []
    for path in inputs.prometheus:
        if path.is_dir():
            frames += [read_prometheus_response(p) for p in sorted(path.glob("*.json"))]
        elif path.suffix == ".parquet":
            frames.append(read_prometheus_parquet(check_input(path)))
        else:
            frames.append(read_prometheus_response(check_input(path)))
    before = (
        read_redis_info(check_input(inputs.redis_before))
        if inputs.redis_before
        else None
    )
    after = (
        read_redis_info(check_input(inputs.redis_after)) if inputs.redis_after else None
    )
    return server_data(
        baseline, runs, prometheus=frames, redis_before=before, redis_after=after
    )


def _prepare(
    inputs: _Inputs, *, criteria_required: bool
) -> tuple[Run | None, list[Run], CriteriaSet | None, ServerData]:
    criteria = _criteria(inputs, criteria_required)
    baseline, runs = _load_runs(inputs)
    if criteria is not None:
        known = set()
        for run in ([baseline] if baseline else []) + runs:
            known |= set(run.metrics)
            if run.statistics is not None:
                known |= set(run.statistics["metric"].astype(str))
        check_metric_names(criteria, known)
    return baseline, runs, criteria, _server(inputs, baseline, runs)


@app.command("report")
def report_command(
    baseline: Path | None = typer.Option(None, "--baseline", help=BASELINE_HELP),
    run: list[str] = typer.Option([], "--run", help=RUN_HELP),
    criteria: Path | None = typer.Option(
        None, "--criteria", help="Sign-off criteria TOML file (docs/criteria.md)."
    ),
    prometheus: list[Path] = typer.Option([], "--prometheus", help=PROMETHEUS_HELP),
    redis_before: Path | None = typer.Option(
        None, "--redis-before", help="Redis INFO output saved before the tests."
    ),
    redis_after: Path | None = typer.Option(
        None, "--redis-after", help="Redis INFO output saved after the tests."
    ),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
    title: str | None = typer.Option(None, "--title", help="Report title."),
    environment: str | None = typer.Option(
        None,
        "--environment",
        help="Environment name (default: the runs' environment tag).",
    ),
    branch: str | None = typer.Option(
        None, "--branch", help="Branch under test (default: the runs' branch tag)."
    ),
    version: str | None = typer.Option(
        None, "--version", help="Version under test (default: the runs' version tag)."
    ),
    date: str | None = typer.Option(
        None, "--date", help="Report date, YYYY-MM-DD (default: the last run's end)."
    ),
    output_format: ReportFormat | None = typer.Option(
        None,
        "--format",
        "-f",
        help="markdown, html, pdf or json (default: from -o's suffix, else markdown).",
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Output file; Markdown charts go to <stem>_charts/ beside it.",
    ),
) -> None:
    """Write the staging performance report: Markdown, HTML, PDF or a JSON verdict."""
    settings = load_config(config) if config is not None else None
    inputs = _merge(
        settings, baseline, run, criteria, prometheus, redis_before, redis_after
    )
    check_output(output)
    chosen = _choose_format(output_format, settings, output)
    output = output or (settings.output if settings else None)
    if chosen in (ReportFormat.pdf,) and output is None:
        raise UsageError("--format pdf needs --output FILE")
    if date is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        raise UsageError(f"invalid --date {date!r}; write YYYY-MM-DD")

    base_run, runs, criteria_set, server = _prepare(inputs, criteria_required=False)
    metadata = _metadata(settings, title, environment, branch, version, date)
    report = build_report(
        base_run, runs, criteria=criteria_set, server=server, metadata=metadata,
        charts=chosen is not ReportFormat.json,
    )  # fmt: skip
    _write_report(report, chosen, output)


_FORMAT_BY_SUFFIX = {
    ".md": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".json": "json",
}


def _choose_format(
    option: ReportFormat | None,
    settings: ReportConfig | None,
    output: Path | None,
) -> ReportFormat:
    """Pick the format: --format, then the suffix of -o, then the config file.

    An -o given on the command line outranks the config's format, so that
    ``--config report.toml -o report.pdf`` writes a PDF.
    """
    if option is not None:
        return option
    if output is not None and output.suffix.lower() in _FORMAT_BY_SUFFIX:
        return ReportFormat(_FORMAT_BY_SUFFIX[output.suffix.lower()])
    if settings is not None and settings.format:
        return ReportFormat(settings.format)
    configured = settings.output if settings is not None else None
    if configured is not None and configured.suffix.lower() in _FORMAT_BY_SUFFIX:
        return ReportFormat(_FORMAT_BY_SUFFIX[configured.suffix.lower()])
    return ReportFormat.markdown


def _metadata(
    settings: ReportConfig | None,
    title: str | None,
    environment: str | None,
    branch: str | None,
    version: str | None,
    date: str | None,
) -> ReportMetadata:
    metadata = ReportMetadata()
    if settings is not None:
        given = {k: v for k, v in settings.metadata.items() if v}
        metadata = replace(metadata, **given)
        if settings.title:
            metadata = replace(metadata, title=settings.title)
    overrides = {
        "title": title, "environment": environment, "branch": branch,
        "version": version, "date": date,
    }  # fmt: skip
    return replace(metadata, **{k: v for k, v in overrides.items() if v is not None})


def _write_report(report: object, chosen: ReportFormat, output: Path | None) -> None:
    from perfreport.render import html, json_report, markdown, pdf

    if chosen is ReportFormat.pdf:
        assert output is not None
        pdf.write_pdf(report, output)  # type: ignore[arg-type]
    elif output is None:
        if chosen is ReportFormat.markdown:
            text = markdown.render_markdown(report)  # type: ignore[arg-type]
        elif chosen is ReportFormat.html:
            text = html.render_html(report)  # type: ignore[arg-type]
        else:
            text = json_report.dumps(json_report.report_document(report))  # type: ignore[arg-type]
        sys.stdout.write(text)
        return
    elif chosen is ReportFormat.markdown:
        markdown.write_markdown(report, output)  # type: ignore[arg-type]
    elif chosen is ReportFormat.html:
        html.write_html(report, output)  # type: ignore[arg-type]
    else:
        json_report.write_json(report, output)  # type: ignore[arg-type]
    typer.echo(f"wrote {output}", err=True)


@app.command("check")
def check_command(
    baseline: Path | None = typer.Option(None, "--baseline", help=BASELINE_HELP),
    run: list[str] = typer.Option([], "--run", help=RUN_HELP),
    criteria: Path | None = typer.Option(
        None, "--criteria", help="Sign-off criteria TOML file (docs/criteria.md)."
    ),
    prometheus: list[Path] = typer.Option([], "--prometheus", help=PROMETHEUS_HELP),
    redis_before: Path | None = typer.Option(
        None, "--redis-before", help="Redis INFO output saved before the tests."
    ),
    redis_after: Path | None = typer.Option(
        None, "--redis-after", help="Redis INFO output saved after the tests."
    ),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
    output_format: CheckFormat = typer.Option(
        CheckFormat.table, "--format", "-f", help="table or json."
    ),
) -> None:
    """Judge the runs against the sign-off criteria and exit with the gate's verdict.

    Exit status: 0 when every row passes, 1 when any row fails, 2 on bad input.
    A NO DATA row fails the gate unless its criterion has optional = true.
    """
    from perfreport.analysis.criteria import evaluate_criteria
    from perfreport.render import json_report
    from perfreport.render.criteria_table import criteria_table

    settings = load_config(config) if config is not None else None
    inputs = _merge(
        settings, baseline, run, criteria, prometheus, redis_before, redis_after
    )
    base_run, runs, criteria_set, server = _prepare(inputs, criteria_required=True)
    assert criteria_set is not None
    result = evaluate_criteria(criteria_set, base_run, runs, server=server.figures)
    for warning in [*server.warnings, *result.warnings]:
        typer.echo(f"Warning: {warning.message}", err=True)
    if output_format is CheckFormat.json:
        sys.stdout.write(json_report.dumps(json_report.criteria_document(result)))
    else:
        sys.stdout.write(criteria_table(result))
    if not result.passed:
        raise typer.Exit(1)
