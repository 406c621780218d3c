"""Calibration, power and speed of perfreport's block-bootstrap significance test.

Run from the repository root:

    python benchmarks/significance_calibration.py            # full, about 10 minutes
    python benchmarks/significance_calibration.py --quick    # about 1 minute

Latency series are simulated as log-normal with an AR(1) process on the log
(phi = 0.85 unless --phi), which mimics queueing bursts. A/A pairs have no real
difference, so every "better"/"worse" verdict is a false alarm; A/B pairs have
every latency of the candidate 10 % higher, so p(95) rises 10 %. A naive test
(Mann-Whitney U on all requests as if independent) runs on the same A/A pairs for
contrast. Finally two runs of a million requests each are compared and timed
against writing them to Parquet and reading them back into numpy arrays.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import signal, stats

from perfreport.analysis.significance import estimate_changes

STATISTICS = ("avg", "med", "p(95)")


def simulate_run(
    rng: np.random.Generator, n: int, phi: float, log_sd: float = 0.4
) -> np.ndarray:
    """Return ``n`` latencies in ms: exp of an AR(1) series with median 100 ms."""
    innovations = rng.normal(0.0, log_sd * math.sqrt(1.0 - phi**2), n)
    start = rng.normal(0.0, log_sd)
    log_latency, _ = signal.lfilter([1.0], [1.0, -phi], innovations, zi=[phi * start])
    return 100.0 * np.exp(log_latency)


def rejection_rates(
    runs: int, n: int, phi: float, factor: float, seed: int
) -> dict[str, float]:
    """Return the share of runs with a significant verdict, per statistic."""
    rng = np.random.default_rng(seed)
    rejected = dict.fromkeys(STATISTICS, 0)
    for run in range(runs):
        baseline = simulate_run(rng, n, phi)
        candidate = simulate_run(rng, n, phi) * factor
        # min_effect 0 isolates the p-value's calibration from the 5 % floor.
        min_effect = 0.0 if factor == 1.0 else 0.05
        for estimate in estimate_changes(
            baseline, candidate, STATISTICS, seed=run, min_effect=min_effect
        ):
            rejected[estimate.statistic] += estimate.significant
    return {name: count / runs for name, count in rejected.items()}


def naive_rejection_rate(runs: int, n: int, phi: float, seed: int) -> float:
    """Return how often Mann-Whitney on all requests rejects on A/A pairs."""
    rng = np.random.default_rng(seed)
    rejected = 0
    for _ in range(runs):
        baseline = simulate_run(rng, n, phi)
        candidate = simulate_run(rng, n, phi)
        rejected += stats.mannwhitneyu(baseline, candidate).pvalue < 0.05
    return rejected / runs


def time_million(phi: float) -> tuple[float, float]:
    """Return (seconds to compare all statistics, seconds to load from Parquet)."""
    rng = np.random.default_rng(7)
    n = 1_000_000
    runs = [simulate_run(rng, n, phi) for _ in range(2)]
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for index, values in enumerate(runs):
            path = Path(folder) / f"run{index}.parquet"
            times = np.arange(n, dtype=np.int64) * 1_000_000
            pq.write_table(pa.table({"time": times, "value": values}), path)
            paths.append(path)
        start = time.perf_counter()
        loaded = [pq.read_table(p).column("value").to_numpy() for p in paths]
        load_s = time.perf_counter() - start

    start = time.perf_counter()
    estimate_changes(
        loaded[0], loaded[1], ["avg", "med", "p(90)", "p(95)", "p(99)", "min", "max"]
    )
    compare_s = time.perf_counter() - start
    return compare_s, load_s


def upper_bound(runs: int, alpha: float = 0.05) -> float:
    """Return the 99.9 % binomial upper bound of the rejection share at ``alpha``."""
    return float(stats.binom.ppf(0.999, runs, alpha)) / runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--phi", type=float, default=0.85, help="AR(1) coefficient")
    options = parser.parse_args(argv)
    runs = 100 if options.quick else 1000
    phi = options.phi

    print(f"AR(1) phi={phi}, alpha=0.05, {runs} runs per row", flush=True)
    print(
        f"binomial 99.9% upper bound of the false-alarm share: {upper_bound(runs):.3f}"
    )
    for n in (5_000, 20_000):
        start = time.perf_counter()
        rates = rejection_rates(runs, n, phi, 1.0, seed=n)
        elapsed = time.perf_counter() - start
        summary = ", ".join(f"{k} {v:.3f}" for k, v in rates.items())
        print(f"A/A n={n}: false alarms {summary} ({elapsed:.0f} s)", flush=True)
        naive = naive_rejection_rate(runs, n, phi, seed=n + 1)
        print(
            f"A/A n={n}: naive Mann-Whitney on all requests rejects {naive:.3f}",
            flush=True,
        )
        rates = rejection_rates(runs, n, phi, 1.10, seed=n + 2)
        summary = ", ".join(f"{k} {v:.3f}" for k, v in rates.items())
        print(f"A/B n={n}, +10%: detected {summary}", flush=True)

    compare_s, load_s = time_million(phi)
    print(
        f"two runs of 1,000,000 requests: all 7 statistics {compare_s:.2f} s; "
        f"reading both from Parquet into numpy {load_s:.3f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
