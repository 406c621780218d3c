"""``perfreport compare``, ``summary`` and ``ingest``."""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from perfreport.analysis import compare_cache
from perfreport.analysis.compare import compare as compare_runs
from perfreport.analysis.percentiles import DEFAULT_TREND_STATS
from perfreport.analysis.summary import summarize
from perfreport.cli.app import app
from perfreport.cli.options import check_input, check_output, parse_fraction, parse_stats
from perfreport.errors import InputError, UsageError
from perfreport.ingest import load
from perfreport.model import Run


class CompareFormat(str, Enum):
    table = "table"
    markdown = "markdown"
    json = "json"


class SummaryFormat(str, Enum):
    text = "text"
    k6 = "k6"
    json = "json"
    baseline = "baseline"


def _write(text: str, output: Optional[Path]) -> None:
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}", err=True)


def _load(path: Path, *, skip_bad_lines: bool, name: Optional[str] = None) -> Run:
    # The commands compute statistics only, so k6's per-sample metadata is left out.
    run = load(check_input(path), name=name, skip_bad_lines=skip_bad_lines, sample_metadata=False)
    if run.points is not None and run.points.empty:
        raise InputError(
            path,
            "the run has no samples (k6 stopped before the first request?)",
            hint="check k6's output for errors and record the run again",
        )
    return run


def _run_names(runs: list[Run]) -> None:
    # Two runs from files with the same name would share one column; number them.
    seen: dict[str, int] = {}
    for run in runs:
        count = seen.get(run.name, 0)
        seen[run.name] = count + 1
        if count:
            run.name = f"{run.name}#{count + 1}"


def _check_metrics(requested: Optional[list[str]], runs: list[Run]) -> None:
    """Reject --metric names that no run has, listing the ones it could be."""
    if not requested:
        return
    known: set[str] = set()
    for run in runs:
        known |= set(run.metrics)
        if run.statistics is not None:
            known |= set(run.statistics["metric"].astype(str))
    unknown = [name for name in requested if name != "all" and name not in known]
    if unknown:
        raise UsageError(
            f"--metric {', '.join(unknown)}: not in any of the runs; "
            f"use one of {', '.join(sorted(known))} or 'all'"
        )


SKIP_HELP = "Skip lines that are not valid JSON and count them, instead of stopping at the first."


@app.command()
def compare(
    baseline: Path = typer.Argument(..., help="Baseline: k6 JSON output (.json/.gz), CSV, summary, baseline file or Parquet."),
    candidates: list[Path] = typer.Argument(..., help="One or more candidate runs, in the same formats."),
    output_format: CompareFormat = typer.Option(CompareFormat.table, "--format", "-f", help="Output format."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
    stat: Optional[list[str]] = typer.Option(None, "--stat", help="Extra Trend statistic, e.g. 'p(99.9)' (repeatable)."),
    metric: Optional[list[str]] = typer.Option(None, "--metric", help="Compare only this metric (repeatable; 'all' for every metric)."),
    confidence: str = typer.Option("95%", help="Confidence level of the intervals, from 50% to 99.9%."),
    min_effect: str = typer.Option("5%", "--min-effect", help="Smallest relative change that counts as a change, from 0% to 99%."),
    correction: str = typer.Option("bh", help="Multiple-comparison correction: bh (Benjamini-Hochberg, false discovery rate) or holm (Holm, family-wise error rate)."),
    seed: int = typer.Option(0, help="Seed of the bootstrap, so that a report is reproducible."),
    skip_bad_lines: bool = typer.Option(False, "--skip-bad-lines", help=SKIP_HELP),
    fail_on_worse: bool = typer.Option(False, "--fail-on-worse", help="Exit with status 1 when any statistic is significantly worse."),
) -> None:
    """Compare candidate runs with a baseline, statistic by statistic and per endpoint."""
    confidence_level = parse_fraction(confidence, "--confidence", low=0.5, high=0.999, example="95%")
    check_output(output)
    effect = parse_fraction(min_effect, "--min-effect", low=0.0, high=0.99)
    if correction not in ("holm", "bh"):
        raise UsageError(f"invalid --correction {correction!r}; use holm or bh")
    stats = tuple(dict.fromkeys(DEFAULT_TREND_STATS + parse_stats(stat)))
    paths = [check_input(path) for path in (baseline, *candidates)]
    options = {
        "stats": stats, "metrics": metric, "confidence": confidence_level, "min_effect": effect,
        "correction": correction, "seed": seed,
    }
    try:
        key = compare_cache.comparison_key(paths, {**options, "skip_bad_lines": skip_bad_lines})
    except OSError:
        key = None  # an unreadable input: _load below reports which one and why
    comparison = compare_cache.read_comparison(key) if key else None
    if comparison is None:
        runs = [_load(path, skip_bad_lines=skip_bad_lines) for path in paths]
        _run_names(runs)
        _check_metrics(metric, runs)
        comparison = compare_runs(runs[0], *runs[1:], **options)
        if key:
            compare_cache.write_comparison(key, comparison)
    from perfreport.render import compare_table

    renderers = {
        CompareFormat.table: compare_table.comparison_text,
        CompareFormat.markdown: compare_table.comparison_markdown,
        CompareFormat.json: compare_table.comparison_json,
    }
    _write(renderers[output_format](comparison), output)
    if fail_on_worse and (comparison.frame["verdict"] == "worse").any():
        raise typer.Exit(1)


@app.command()
def summary(
    run_path: Path = typer.Argument(..., metavar="RUN", help="k6 JSON output, CSV, summary file, baseline file or Parquet."),
    output_format: SummaryFormat = typer.Option(SummaryFormat.text, "--format", "-f", help="text, k6 (the shape of k6's --summary-export), json, or baseline (a perfreport baseline file)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
    stat: Optional[list[str]] = typer.Option(None, "--stat", help="Trend statistics, as k6's summaryTrendStats (repeatable or comma-separated)."),
    by: str = typer.Option("endpoint", help="Group rows by endpoint, group, scenario, a tag key, or none."),
    k6_summary: Optional[Path] = typer.Option(None, "--k6-summary", help="handleSummary JSON of the same run: gives k6's exact test-run duration for Counter rates and the sub-metric thresholds."),
    skip_bad_lines: bool = typer.Option(False, "--skip-bad-lines", help=SKIP_HELP),
) -> None:
    """Summarize one run, per metric and endpoint, or as k6's own summary export."""
    stats = parse_stats(stat)
    check_output(output)
    run = _load(run_path, skip_bad_lines=skip_bad_lines)
    if k6_summary is not None:
        reference = _load(k6_summary, skip_bad_lines=False)
        if reference.duration_s is None:
            raise UsageError(f"{k6_summary}: has no state.testRunDurationMs; give the handleSummary data file")
        run.duration_s = reference.duration_s
        # Thresholds on sub-metrics appear only in the summary files.
        for name, verdicts in reference.k6_thresholds.items():
            run.k6_thresholds.setdefault(name, dict(verdicts))
    if output_format is SummaryFormat.k6:
        from perfreport.render.k6_summary import summary_export

        _write(json.dumps(summary_export(run, stats or None), indent=4) + "\n", output)
        return
    frame = summarize(run, stats=stats or DEFAULT_TREND_STATS, by=by)
    if output_format is SummaryFormat.baseline:
        if output is None:
            raise UsageError("--format baseline writes a file; give it with -o FILE")
        from perfreport.ingest.baseline import write_baseline

        write_baseline(run, summarize(run, stats=stats or DEFAULT_TREND_STATS), output)
        typer.echo(f"wrote {output}", err=True)
        return
    if output_format is SummaryFormat.json:
        records = json.loads(frame.to_json(orient="records"))
        doc = {
            "run": run.name,
            "kind": run.kind,
            "source": run.source,
            "ingest": {
                "lines_read": run.stats.lines_read,
                "points": run.stats.points,
                "lines_skipped": run.stats.lines_skipped,
                "bad_lines": [{"line": line, "reason": reason} for line, reason in run.stats.bad_lines],
                "truncated_last_line": run.stats.truncated_last_line,
                "gzip_incomplete": run.stats.gzip_incomplete,
            },
            "warnings": [{"code": w.code, "message": w.message} for w in run.warnings],
            "rows": records,
        }
        _write(json.dumps(doc, indent=2) + "\n", output)
        return
    from perfreport.render.k6_summary import summary_text

    _write(summary_text(run, frame), output)


@app.command()
def ingest(
    run_path: Path = typer.Argument(..., metavar="RUN", help="k6 JSON output (.json or .gz) or CSV."),
    output: Path = typer.Option(..., "--output", "-o", help="Parquet file to write."),
    skip_bad_lines: bool = typer.Option(False, "--skip-bad-lines", help=SKIP_HELP),
) -> None:
    """Read a k6 run into a Parquet file that every perfreport command accepts.

    The run streams to the file block by block, so memory stays flat however
    large the input is.
    """
    from perfreport.ingest.parquet import ingest_to_parquet

    check_output(output)
    run = ingest_to_parquet(
        check_input(run_path), output, skip_bad_lines=skip_bad_lines,
        # A progress bar only helps a person watching a terminal.
        progress=sys.stderr.isatty() and not os.environ.get("PERFREPORT_QUIET"),
    )
    typer.echo(f"wrote {output}: {run.stats.points} points, {run.stats.lines_skipped} lines skipped", err=True)
    for warning in run.warnings:
        typer.echo(f"warning: {warning.message}", err=True)
