"""Benchmark: large k6 JSON output to Parquet, perfreport against other readers.

Usage (from the repository root)::

    python benchmarks/ingest.py --sizes 0.25,1,2,4

It records a seed run with k6 against the demo API on 127.0.0.1, or takes
``--seed FILE``. It scales the seed to each size by repeating its Point lines
with the times moved on by whole minutes per copy, so that the copies follow
one another as one long run, writing the Metric lines once. Then it
runs these tools in child processes, on the same files in the same run:

``perfreport``
    :func:`perfreport.ingest.parquet.ingest_to_parquet`: every point, tag and
    metadata key, bad lines counted.
``duckdb``
    DuckDB ``COPY (SELECT * FROM read_ndjson(...)) TO ... (FORMAT parquet)``,
    with the schema DuckDB infers from the head of the file.
``duckdb-map``
    The same with ``tags`` and ``metadata`` read as ``MAP(VARCHAR, VARCHAR)``,
    the DuckDB form that keeps tag keys first seen late in a file.
``pyarrow``
    ``pyarrow.json.open_json`` streamed to a ``ParquetWriter``.
``pandas``
    ``pandas.read_json(lines=True, chunksize=...)`` appended to a ``ParquetWriter``
    (only at sizes up to ``--pandas-max-gb``, because it is slow).

This process takes each child's wall time, the child reports its work time
after imports, and ``os.wait4`` gives its CPU time and peak memory (``ru_maxrss``
of that child alone). Figures are medians of ``--runs`` runs. A gzip round
compares perfreport on the gzip form of one size with the plain file plus the
time of decompressing it alone. Generated files go to benchmarks/data/
(git-ignored) and are deleted at the end unless ``--keep-data`` is given.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / "data"
SEED_SCRIPT = BENCH_DIR / "seed.js"
DEMO_API = REPO_ROOT / "sample_data" / "demo_api.py"
GB = 1_000_000_000
MIB = 1024 * 1024
TOOLS = ("perfreport", "duckdb", "duckdb-map", "pyarrow", "pandas")
PANDAS_CHUNK_LINES = 100_000
SEED_SYSTEM_TAGS = (
    "proto,status,method,url,name,group,check,error,error_code,tls_version,"
    "scenario,expected_response,vu,iter"
)
_MINUTE = re.compile(rb'"time":"(\d{4}-\d\d-\d\dT\d\d:\d\d):')


# ---------------------------------------------------------------------------
# Inputs


def record_seed(target: Path) -> None:
    """Run k6 for 8 s against a demo API started on a free 127.0.0.1 port."""
    api = subprocess.Popen(
        [sys.executable, str(DEMO_API), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert api.stdout is not None
        line = api.stdout.readline()
        match = re.search(r"listening on (127\.0\.0\.1:\d+)", line)
        if match is None:
            raise SystemExit(f"demo API printed {line!r}, expected 'listening on ...'")
        command = [
            "k6", "run", "--quiet", "--address", "127.0.0.1:0",
            "--system-tags", SEED_SYSTEM_TAGS,
            "--out", f"json={target}", str(SEED_SCRIPT),
        ]  # fmt: skip
        env = {**os.environ, "BASE_URL": f"http://{match.group(1)}"}
        subprocess.run(command, env=env, check=True, timeout=120, capture_output=True)
    finally:
        api.terminate()
        api.wait(timeout=10)


def scale_seed(seed: Path, target: Path, size_bytes: int) -> None:
    """Write about ``size_bytes`` of k6 output by repeating the seed's points."""
    lines = seed.read_bytes().splitlines(keepends=True)
    metric_lines = b"".join(line for line in lines if b'"type":"Metric"' in line)
    points = b"".join(line for line in lines if b'"type":"Metric"' not in line)
    minutes = sorted(set(_MINUTE.findall(points)))
    # Each copy starts the seed's span in whole minutes after the one before, so
    # the scaled file reads as one long run with short pauses. Copies days apart
    # would make the per-second series of the throughput test mostly empty.
    span = _minutes_between(minutes[0], minutes[-1]) + 1 if minutes else 1
    temporary = target.with_suffix(".partial")
    written = 0
    copy = 0
    with temporary.open("wb") as out:
        out.write(metric_lines)
        written += len(metric_lines)
        while written < size_bytes:
            block = points
            # Latest first, so that no time is moved twice.
            for minute in reversed(minutes):
                block = block.replace(
                    b'"time":"' + minute, b'"time":"' + _shift_minute(minute, copy * span)
                )
            if written + len(block) > size_bytes:
                block = block[: block.rfind(b"\n", 0, size_bytes - written) + 1]
                if not block:
                    break
            out.write(block)
            written += len(block)
            copy += 1
    temporary.rename(target)


def _minutes_between(first: bytes, last: bytes) -> int:
    import datetime

    start = datetime.datetime.fromisoformat(first.decode())
    end = datetime.datetime.fromisoformat(last.decode())
    return int((end - start).total_seconds() // 60)


def _shift_minute(minute: bytes, minutes: int) -> bytes:
    import datetime

    moved = datetime.datetime.fromisoformat(minute.decode()) + datetime.timedelta(minutes=minutes)
    return moved.strftime("%Y-%m-%dT%H:%M").encode()


def gzip_file(source: Path, target: Path) -> None:
    with source.open("rb") as raw, gzip.open(target, "wb", compresslevel=6) as packed:
        shutil.copyfileobj(raw, packed, 16 * MIB)


# ---------------------------------------------------------------------------
# Child processes: one tool, one file


def run_perfreport(source: Path, target: Path) -> None:
    from perfreport.ingest.parquet import ingest_to_parquet

    ingest_to_parquet(source, target)


def run_duckdb(source: Path, target: Path, *, as_map: bool) -> None:
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET threads = 2")
    columns = ""
    if as_map:
        data = (
            "STRUCT(time VARCHAR, value DOUBLE, tags MAP(VARCHAR, VARCHAR), "
            "metadata MAP(VARCHAR, VARCHAR))"
        )
        columns = (
            f", columns = {{'type': 'VARCHAR', 'metric': 'VARCHAR', 'data': '{data}'}}"
        )
    connection.execute(
        f"COPY (SELECT * FROM read_ndjson('{source}'{columns})) "
        f"TO '{target}' (FORMAT parquet, COMPRESSION zstd)"
    )


def run_pyarrow(source: Path, target: Path) -> None:
    import pyarrow.json as pa_json
    import pyarrow.parquet as pq

    reader = pa_json.open_json(
        source, read_options=pa_json.ReadOptions(block_size=16 * MIB)
    )
    writer = None
    for batch in reader:
        if writer is None:
            writer = pq.ParquetWriter(target, batch.schema, compression="zstd")
        writer.write_batch(batch)
    if writer is not None:
        writer.close()


def run_pandas(source: Path, target: Path) -> None:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Every column is written as a string, so that chunks share one schema. The
    # columns of the first chunk are kept, because a Parquet file's columns are
    # fixed when it is opened.
    writer = None
    for chunk in pd.read_json(source, lines=True, chunksize=PANDAS_CHUNK_LINES):
        points = chunk[chunk["type"] == "Point"]
        flat = pd.json_normalize(points["data"].tolist())
        flat.insert(0, "metric", points["metric"].to_numpy())
        if writer is None:
            names = list(flat.columns)
            schema = pa.schema([(name, pa.string()) for name in names])
            writer = pq.ParquetWriter(target, schema, compression="zstd")
        flat = flat.reindex(columns=names).astype("string")
        writer.write_table(
            pa.Table.from_pandas(flat, schema=schema, preserve_index=False)
        )
    if writer is not None:
        writer.close()


def run_decompress(source: Path, target: Path) -> None:
    inflater = zlib.decompressobj(wbits=31)
    with source.open("rb") as raw:
        while chunk := raw.read(MIB):
            inflater.decompress(chunk)


def use_package_copy(directory: str) -> None:
    """Import perfreport from ``directory`` instead of the (editable) installed one."""
    sys.meta_path[:] = [
        finder
        for finder in sys.meta_path
        if not type(finder).__module__.startswith("__editable__")
    ]
    sys.path.insert(0, directory)


_IMPORTS = {
    "perfreport": ("perfreport.ingest.parquet",),
    "duckdb": ("duckdb",),
    "duckdb-map": ("duckdb",),
    "pyarrow": ("pyarrow.json", "pyarrow.parquet"),
    "pandas": ("pandas", "pyarrow.parquet"),
    "decompress": (),
}


def run_child(tool: str, source: Path, target: Path) -> None:
    """Import the tool's modules, then time its work alone.

    The work time goes to the file named by ``$PERFREPORT_BENCH_TIMING``, so the
    parent can report it apart from process start and imports.
    """
    if os.environ.get("PERFREPORT_BENCH_PACKAGE"):
        use_package_copy(os.environ["PERFREPORT_BENCH_PACKAGE"])
    import importlib

    for module in _IMPORTS.get(tool, ()):
        importlib.import_module(module)
    started = time.perf_counter()
    run_tool(tool, source, target)
    work_s = time.perf_counter() - started
    timing_file = os.environ.get("PERFREPORT_BENCH_TIMING")
    if timing_file:
        Path(timing_file).write_text(f"{work_s}\n")


def run_tool(tool: str, source: Path, target: Path) -> None:
    if tool == "perfreport":
        run_perfreport(source, target)
    elif tool == "duckdb":
        run_duckdb(source, target, as_map=False)
    elif tool == "duckdb-map":
        run_duckdb(source, target, as_map=True)
    elif tool == "pyarrow":
        run_pyarrow(source, target)
    elif tool == "pandas":
        run_pandas(source, target)
    elif tool == "decompress":
        run_decompress(source, target)
    else:
        raise SystemExit(f"unknown tool {tool!r}")


# ---------------------------------------------------------------------------
# Measuring


@dataclass
class Measurement:
    tool: str
    size_label: str
    input_bytes: int
    seconds: list[float] = field(default_factory=list)
    max_rss_bytes: list[int] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    work_seconds: list[float] = field(default_factory=list)
    failed: str | None = None

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def throughput_mb_s(self) -> float:
        return self.input_bytes / self.median_s / 1e6

    @property
    def median_rss_mib(self) -> float:
        return statistics.median(self.max_rss_bytes) / MIB

    @property
    def median_cpu_s(self) -> float:
        return statistics.median(self.cpu_seconds)

    @property
    def median_work_s(self) -> float:
        return statistics.median(self.work_seconds)

    @property
    def work_throughput_mb_s(self) -> float:
        return self.input_bytes / self.median_work_s / 1e6


@dataclass
class Sample:
    """One child's figures: wall and CPU seconds, work seconds after its imports."""

    wall_s: float
    cpu_s: float
    work_s: float
    max_rss_bytes: int
    failed: str | None


def measure_once(tool: str, source: Path) -> Sample:
    """Run one child and return its figures."""
    target = DATA_DIR / f"out-{tool}.parquet"
    target.unlink(missing_ok=True)
    timing = DATA_DIR / f"timing-{tool}.txt"
    timing.unlink(missing_ok=True)
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        tool,
        str(source),
        str(target),
    ]
    env = {**os.environ, "PERFREPORT_BENCH_TIMING": str(timing)}
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed_s = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    error = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    target.unlink(missing_ok=True)
    failed = None
    if proc.returncode != 0:
        failed = (error.strip().splitlines() or ["failed"])[-1]
    work_s = float(timing.read_text()) if timing.exists() else elapsed_s
    timing.unlink(missing_ok=True)
    cpu_s = usage.ru_utime + usage.ru_stime
    return Sample(elapsed_s, cpu_s, work_s, usage.ru_maxrss * 1024, failed)


def measure_round(
    tools: list[str], source: Path, size_label: str, runs: int, input_bytes: int
) -> list[Measurement]:
    """Measure each tool ``runs`` times, taking turns, so load changes hit all alike."""
    results = [Measurement(t, size_label, input_bytes) for t in tools]
    for _ in range(runs):
        for result in results:
            if result.failed:
                continue
            sample = measure_once(result.tool, source)
            if sample.failed:
                result.failed = sample.failed
                print(f"  {result.tool:11} {size_label:>6}  failed: {sample.failed}")
                continue
            result.seconds.append(sample.wall_s)
            result.cpu_seconds.append(sample.cpu_s)
            result.work_seconds.append(sample.work_s)
            result.max_rss_bytes.append(sample.max_rss_bytes)
            print(
                f"  {result.tool:11} {size_label:>6}  {sample.wall_s:7.2f} s  "
                f"{sample.work_s:7.2f} s work  {sample.cpu_s:7.2f} s CPU  "
                f"{sample.max_rss_bytes / MIB:7.0f} MiB",
                flush=True,
            )
    return results


# ---------------------------------------------------------------------------
# Report


def machine_description() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    import duckdb
    import pandas
    import pyarrow

    return (
        f"{os.cpu_count()} cores, {cpu}, {memory:.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}, pyarrow "
        f"{pyarrow.__version__}, pandas {pandas.__version__}, "
        f"duckdb {duckdb.__version__}"
    )


def print_table(results: list[Measurement]) -> None:
    """Print the medians: wall time of the whole child, its work after imports."""
    print(
        "\n| size GB | tool | wall s | MB/s | work s | work MB/s | CPU s "
        "| peak RSS MiB | runs |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        if r.failed:
            print(f"| {r.size_label} | {r.tool} | failed: {r.failed[:70]} |||||||")
            continue
        print(
            f"| {r.size_label} | {r.tool} | {r.median_s:.2f} | {r.throughput_mb_s:.0f} "
            f"| {r.median_work_s:.2f} | {r.work_throughput_mb_s:.0f} "
            f"| {r.median_cpu_s:.2f} | {r.median_rss_mib:.0f} | {len(r.seconds)} |"
        )


def _ratio(numerator: float | None, denominator: float | None, suffix: str = "") -> str:
    if not numerator or not denominator:
        return "-"
    return f"{numerator / denominator:.2f}{suffix}"


def print_ratios(results: list[Measurement]) -> None:
    """Print perfreport's throughput and memory relative to the other tools.

    A throughput ratio above 1 means perfreport is faster. "whole" uses the
    child's wall time (process start and imports included), "work" the time
    after imports. The CPU ratio divides the other tool's CPU seconds by
    perfreport's: it is less sensitive than wall time to other processes
    competing for the cores.
    """
    by_key = {(r.tool, r.size_label): r for r in results if not r.failed}
    sizes = sorted({r.size_label for r in results}, key=float)
    pandas_rates = [
        r.work_throughput_mb_s for r in results if r.tool == "pandas" and not r.failed
    ]
    pandas_rate = statistics.median(pandas_rates) if pandas_rates else None
    print(
        "\n| size GB | vs duckdb whole | vs duckdb work | vs duckdb CPU "
        "| vs duckdb-map work | vs pyarrow work | vs pandas work | RSS / duckdb RSS |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        ours = by_key.get(("perfreport", size))
        if ours is None:
            continue
        duck = by_key.get(("duckdb", size))
        duck_map = by_key.get(("duckdb-map", size))
        arrow = by_key.get(("pyarrow", size))
        pandas_here = by_key.get(("pandas", size))
        pandas_mb_s = pandas_here.work_throughput_mb_s if pandas_here else pandas_rate
        cells = [
            _ratio(ours.throughput_mb_s, duck.throughput_mb_s if duck else None),
            _ratio(
                ours.work_throughput_mb_s, duck.work_throughput_mb_s if duck else None
            ),
            _ratio(duck.median_cpu_s if duck else None, ours.median_cpu_s),
            _ratio(
                ours.work_throughput_mb_s,
                duck_map.work_throughput_mb_s if duck_map else None,
            ),
            _ratio(
                ours.work_throughput_mb_s, arrow.work_throughput_mb_s if arrow else None
            ),
            _ratio(ours.work_throughput_mb_s, pandas_mb_s, "x"),
            _ratio(ours.median_rss_mib, duck.median_rss_mib if duck else None),
        ]
        print(f"| {size} | " + " | ".join(cells) + " |")
    ours_rss = [
        by_key[("perfreport", s)].median_rss_mib
        for s in sizes
        if ("perfreport", s) in by_key
    ]
    if ours_rss:
        low, high = min(ours_rss), max(ours_rss)
        print(
            f"\nperfreport peak RSS across sizes: {low:.0f}-{high:.0f} MiB "
            f"(spread {(high - low) / low:.0%})"
        )


# ---------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="0.25,1,2,4",
        help="input sizes in GB (10^9 bytes), comma-separated",
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="runs per tool and size (median reported)"
    )
    parser.add_argument(
        "--tools",
        default=",".join(TOOLS),
        help=f"comma-separated subset of {','.join(TOOLS)}",
    )
    parser.add_argument(
        "--pandas-max-gb",
        type=float,
        default=0.25,
        help="largest size pandas is run on",
    )
    parser.add_argument(
        "--gzip-gb", type=float, default=1.0, help="size of the gzip round (0 skips it)"
    )
    parser.add_argument(
        "--seed", type=Path, help="k6 JSON output to scale instead of recording one"
    )
    parser.add_argument(
        "--keep-data", action="store_true", help="keep the generated inputs"
    )
    parser.add_argument(
        "--snapshot",
        action="store_true",
        help="benchmark a copy of perfreport/, so that edits made meanwhile stay out",
    )
    parser.add_argument(
        "--others-max-gb",
        type=float,
        default=float("inf"),
        help="largest size that tools other than perfreport and duckdb run on",
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("TOOL", "SOURCE", "TARGET"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--make", nargs=3, metavar=("SEED", "TARGET", "BYTES"), help=argparse.SUPPRESS
    )
    return parser.parse_args(argv)


def prepare_inputs(args: argparse.Namespace, sizes: list[str]) -> dict[str, Path]:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    seed = args.seed or DATA_DIR / "seed.json"
    if not seed.exists():
        print(f"recording the seed run into {seed} ...", flush=True)
        record_seed(seed)
    inputs = {}
    for size in sizes:
        target = DATA_DIR / f"k6-{size}gb.json"
        if not target.exists():
            print(f"writing {target} ...", flush=True)
            # In a child process, so this process stays small: a child's peak
            # RSS starts from its parent's size at fork.
            size_bytes = str(int(float(size) * GB))
            command = [
                sys.executable,
                __file__,
                "--make",
                str(seed),
                str(target),
                size_bytes,
            ]
            subprocess.run(command, check=True)
        inputs[size] = target
    return inputs


def _runs_at(tool: str, size_gb: float, args: argparse.Namespace) -> bool:
    if tool == "pandas":
        return size_gb <= args.pandas_max_gb
    if tool not in ("perfreport", "duckdb"):
        return size_gb <= args.others_max_gb
    return True


def gzip_round(inputs: dict[str, Path], size: str, runs: int) -> list[Measurement]:
    plain = inputs[size]
    packed = plain.with_suffix(".json.gz")
    if not packed.exists():
        print(f"writing {packed} ...", flush=True)
        gzip_file(plain, packed)
    input_bytes = plain.stat().st_size
    print(
        f"gzip round on {packed} ({packed.stat().st_size / MIB:.0f} MiB compressed)",
        flush=True,
    )
    plain_result = measure_round(["perfreport"], plain, size, runs, input_bytes)
    packed_results = measure_round(
        ["perfreport", "decompress"], packed, f"{size}gz", runs, input_bytes
    )
    return plain_result + packed_results


def print_gzip(results: list[Measurement]) -> None:
    plain, packed, inflate = (r.median_work_s for r in results)
    print(
        f"\ngzip (work s): perfreport {packed:.2f} s on gzip vs {plain:.2f} s plain + "
        f"{inflate:.2f} s decompression alone = {plain + inflate:.2f} s "
        f"(gzip input costs {packed - plain:.2f} s extra)"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        tool, source, target = args.child
        run_child(tool, Path(source), Path(target))
        return 0
    if args.make:
        seed, target, size_bytes = args.make
        scale_seed(Path(seed), Path(target), int(size_bytes))
        return 0

    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    print(machine_description())
    if args.snapshot:
        snapshot = DATA_DIR / "package"
        shutil.rmtree(snapshot, ignore_errors=True)
        shutil.copytree(REPO_ROOT / "perfreport", snapshot / "perfreport")
        os.environ["PERFREPORT_BENCH_PACKAGE"] = str(snapshot)
    inputs = prepare_inputs(args, sizes)
    results = []
    try:
        for size in sizes:
            source = inputs[size]
            input_bytes = source.stat().st_size
            print(f"{source.name}: {input_bytes / GB:.2f} GB", flush=True)
            here = [t for t in tools if _runs_at(t, float(size), args)]
            results += measure_round(here, source, size, args.runs, input_bytes)
        gzip_results = []
        if args.gzip_gb > 0:
            gzip_size = f"{args.gzip_gb:g}"
            if gzip_size not in inputs:
                inputs.update(prepare_inputs(args, [gzip_size]))
            gzip_results = gzip_round(inputs, gzip_size, args.runs)
        print_table(results + gzip_results)
        print_ratios(results)
        if gzip_results and not any(r.failed for r in gzip_results):
            print_gzip(gzip_results)
    finally:
        if not args.keep_data:
            for path in DATA_DIR.glob("k6-*"):
                path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
