"""Write notebooks/exploration.ipynb from the cells below, without outputs.

Run it after editing a cell: ``python notebooks/build_exploration.py``. The
notebook is kept as generated text so that its diffs stay readable and no
output (with local paths or timings) is ever committed.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOK = Path(__file__).resolve().parent / "exploration.ipynb"

CELLS: list[tuple[str, str]] = [
    (
        "markdown",
        """# Exploring a load-test run with perfreport

This notebook walks through the sample runs shipped in `sample_data/`: a
baseline run and a stress run of the demo API, recorded with k6 v1.1.0. It
loads both, summarises them per endpoint, compares them with significance
tests, plots latency over time and the latency distribution, drills into one
endpoint by filtering the points frame in memory, and renders the staging
report as Markdown.

Values are in base units everywhere: durations in ms, data in bytes, rates
per second, shares from 0 to 1. Run the cells from the top.""",
    ),
    (
        "code",
        """from pathlib import Path

from IPython.display import Markdown, display

import perfreport as pr


def find_repo_root(*starts: Path) -> Path:
    \"\"\"Return the first folder at or above one of ``starts`` that has sample_data/.\"\"\"
    for start in starts:
        for folder in (start, *start.parents):
            if (folder / "sample_data" / "baseline.json.gz").is_file():
                return folder
    raise FileNotFoundError(
        f"no sample_data/ folder above {', '.join(map(str, starts))}; "
        "start Jupyter inside the perfreport repository"
    )


# The working directory first, then the checkout of an editable install.
ROOT = find_repo_root(Path.cwd().resolve(), Path(pr.__file__).resolve().parent)
DATA = ROOT / "sample_data"
print(f"perfreport {pr.__version__}, sample data in {DATA}")""",
    ),
    (
        "markdown",
        """## Load the runs

`pr.load` reads k6 JSON output (plain or gzip), CSV, summary files, baseline
files and Parquet. A run shows its source, time range, metrics and any
warnings (a truncated last line, for example).""",
    ),
    (
        "code",
        """baseline = pr.load(DATA / "baseline.json.gz")
stress = pr.load(DATA / "stress.json.gz")
baseline""",
    ),
    ("code", "stress"),
    (
        "markdown",
        """## Key figures

The headline numbers of each run: requests, throughput, error rate,
checks, data volumes and the cache hit rate.""",
    ),
    ("code", "pr.key_figures(baseline)"),
    ("code", "pr.key_figures(stress)"),
    (
        "markdown",
        """## Summary per endpoint

`pr.summarize` returns a long frame, one row per metric, endpoint and
statistic, computed as k6 computes its end-of-test summary. Pivot it for a
readable table of response times (ms). The `count` column is the number of
requests.""",
    ),
    (
        "code",
        """summary = pr.summarize(stress, stats=["avg", "med", "p(95)", "p(99)", "max"])
latency = summary[summary["metric"] == "http_req_duration"]
latency = latency.replace({"endpoint": {"": "(all endpoints)"}})
latency.pivot_table(
    index="endpoint", columns="statistic", values="value", sort=False
).round(2)""",
    ),
    (
        "markdown",
        """## Compare the stress run with the baseline

Every row carries the change, a confidence interval from a block bootstrap,
an adjusted p value and a verdict: `better`, `worse`, `~` (no significant
change) or `untested`. Warnings appear as footnotes below the table.""",
    ),
    (
        "code",
        """comparison = pr.compare(baseline, stress)
comparison""",
    ),
    (
        "code",
        """rows = comparison.to_frame()
columns = ["metric", "endpoint", "statistic", "baseline", "candidate",
           "change_pct", "ci_low_pct", "ci_high_pct", "p_adjusted", "verdict"]
rows.loc[rows["verdict"].isin(["worse", "better"]), columns].round(3)""",
    ),
    ("code", "pr.plot_endpoint_p95(comparison)"),
    (
        "markdown",
        """## Latency and throughput over time

Percentiles in 2-second windows show when latency climbed during the run,
and requests per second against active VUs shows the load that caused it.""",
    ),
    (
        "code",
        """pr.plot_latency_over_time(stress, percentiles=(50, 95, 99), window="2s")""",
    ),
    ("code", """pr.plot_throughput(stress, window="2s")"""),
    (
        "markdown",
        """## The distribution before and after

The empirical CDF of every request's duration: the baseline dashed, the
stress run solid. A curve further right is slower.""",
    ),
    ("code", "pr.plot_distribution(baseline, stress)"),
    (
        "markdown",
        """## Drill into one endpoint

Take the endpoint whose p(95) changed most, filter both points frames in
memory and wrap the subsets with `pr.from_frame`. Passing the parent run's
metric definitions and duration keeps every statistic equal to the
parent's per-endpoint row.""",
    ),
    (
        "code",
        """p95 = rows[
    (rows["metric"] == "http_req_duration")
    & (rows["statistic"] == "p(95)")
    & (rows["endpoint"] != "")
]
endpoint = p95.loc[p95["change_pct"].abs().idxmax(), "endpoint"]
print(f"drilling into {endpoint!r}")


def endpoint_run(run: pr.Run, endpoint: str) -> pr.Run:
    points = run.points[run.points["tag.name"] == endpoint]
    return pr.from_frame(
        points,
        name=f"{run.name} {endpoint}",
        metrics=run.metrics,
        duration_s=pr.run_duration_s(run),
    )


baseline_endpoint = endpoint_run(baseline, endpoint)
stress_endpoint = endpoint_run(stress, endpoint)
stress_endpoint""",
    ),
    (
        "code",
        """pr.summarize(stress_endpoint, by="none").query(
    "metric in ['http_req_duration', 'http_reqs', 'http_req_failed']"
)""",
    ),
    (
        "code",
        """pr.compare(baseline_endpoint, stress_endpoint, metrics=["http_req_duration"])""",
    ),
    (
        "code",
        """pr.plot_latency_over_time(stress, window="2s", endpoint=endpoint)""",
    ),
    (
        "markdown",
        """## Thresholds and server data

The k6 thresholds that the script declared, re-evaluated from the run's own
samples (observed values in ms for durations, shares for rates). The
Prometheus queries saved during the run read into frames of samples; here
the active database connections during the stress run.""",
    ),
    ("code", "pr.evaluate_thresholds(stress)"),
    (
        "code",
        """prometheus = pr.read_prometheus(DATA / "prometheus" / "stress")
db = next(p for p in prometheus if "db_connections_active" in p.queries)
connections = pr.select_series(db.frame, "db_connections_active")
pr.summarize_series(connections)""",
    ),
    (
        "markdown",
        """## The staging report

`pr.report` builds the same report as `perfreport report`. Without an
output path it returns the Markdown text, which links no charts. Pass
`output="report.md"` to write the charts as PNGs beside the file.""",
    ),
    (
        "code",
        """markdown = pr.report(
    baseline,
    stress,
    criteria=DATA / "staging-criteria.toml",
    prometheus=[DATA / "prometheus" / "baseline", DATA / "prometheus" / "stress"],
)
display(Markdown(markdown))""",
    ),
]


def build() -> nbformat.NotebookNode:
    """Return the notebook with the cells above and a python3 kernel, no outputs."""
    cells = [
        new_markdown_cell(source) if kind == "markdown" else new_code_cell(source)
        for kind, source in CELLS
    ]
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def main() -> None:
    """Write the notebook next to this script."""
    notebook = build()
    # Stable cell ids keep the file identical when nothing changed.
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index:02d}"
    nbformat.validate(notebook)
    nbformat.write(notebook, NOTEBOOK)


if __name__ == "__main__":
    main()
