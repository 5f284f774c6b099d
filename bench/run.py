#!/usr/bin/env python3
"""Benchmark normcli against hand-written polars, pandas + scikit-learn and DuckDB (issue #3).

    python bench/run.py                  # 2,000,000 rows, 3 repeats; writes bench/RESULTS.md
    python bench/run.py --quick          # 200,000 rows, 1 repeat: a smoke run
    python bench/run.py --large          # adds 10,000,000-row runs for the memory targets
    python bench/run.py --normcli PATH   # another normcli (default: next to this python)

Every job is a separate process, timed by wall clock; its peak RSS is ru_maxrss from os.wait4.
Jobs of a group alternate (A B A B ...) and are compared by their medians. Nothing in
RESULTS.md is typed in by hand: it is all written from the run.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
SEED = 20240603
CHUNK_ROWS = 1_000_000
LARGE_ROWS = 10_000_000
DATASET_FILES = 10
DATASET_GROUP = "fit zscore, Parquet: one file vs a directory of files"
MEMORY_METHODS = ("zscore", "minmax", "maxabs", "decimal")
FLOAT_COLUMNS = {  # name: (mean, std) of the normal floats, written with 6 decimals
    "f0": (0.0, 1.0), "f1": (100.0, 15.0), "f2": (-50.0, 3.0), "f3": (1000.0, 200.0),
    "f4": (5.0, 0.5), "f5": (0.01, 0.002), "f6": (250.0, 40.0), "f7": (-7.0, 2.0),
}
LABELS = ("north", "south", "east", "west")

# ---------------------------------------------------------------------------------------------
# The alternatives, written into the temporary directory and run with this python.

SCRIPTS = {
    "polars_stats": '''
import sys
import polars as pl
lf = pl.scan_csv(sys.argv[1]) if sys.argv[1].endswith(".csv") else pl.scan_parquet(sys.argv[1])
numeric = [n for n, t in lf.collect_schema().items() if t.is_numeric()]
stats = [e for c in numeric for e in (
    pl.col(c).mean().alias(f"{c} mean"), pl.col(c).std(ddof=0).alias(f"{c} std"),
    pl.col(c).count().alias(f"{c} count"), pl.col(c).min().alias(f"{c} min"), pl.col(c).max().alias(f"{c} max"))]
print(lf.select(stats).collect(engine="streaming"))
''',
    "polars_quantiles": '''
import sys
import polars as pl
lf = pl.scan_csv(sys.argv[1])
numeric = [n for n, t in lf.collect_schema().items() if t.is_numeric()]
print(lf.select([pl.col(c).quantile(q, interpolation="linear").alias(f"{c} {q}")
                 for c in numeric for q in (0.25, 0.5, 0.75)]).collect(engine="streaming"))
''',
    # command (apply|invert), input, sidecar, output: zscore with the sidecar's mean and scale.
    "polars_scale": '''
import json, sys
import polars as pl
command, source, params, output = sys.argv[1:5]
columns = json.load(open(params))["columns"]
lf = pl.scan_parquet(source) if source.endswith(".parquet") else pl.scan_csv(source)
if command == "apply":
    exprs = [(pl.col(c["name"]) - c["parameters"]["mean"]) / c["parameters"]["scale"] for c in columns]
else:
    exprs = [pl.col(c["name"]) * c["parameters"]["scale"] + c["parameters"]["mean"] for c in columns]
lf = lf.with_columns(exprs)
lf.sink_parquet(output) if output.endswith(".parquet") else lf.sink_csv(output)
''',
    "pandas_sklearn": '''
import sys
import pandas as pd
from sklearn.preprocessing import StandardScaler
df = pd.read_csv(sys.argv[1])
numeric = df.select_dtypes("number").columns
df[numeric] = StandardScaler().fit_transform(df[numeric])
df.to_csv(sys.argv[2], index=False)
''',
    "duckdb_zscore": '''
import sys
import duckdb
source, output = sys.argv[1:3]
con = duckdb.connect()
read = f"read_csv('{source}')"
kinds = con.execute(f"DESCRIBE SELECT * FROM {read}").fetchall()
numeric = {name for name, kind, *_ in kinds
           if kind.split("(")[0] in ("DOUBLE", "FLOAT", "DECIMAL", "BIGINT", "INTEGER", "SMALLINT", "TINYINT")}
q = lambda name: '"' + name.replace('"', '""') + '"'
stats = ", ".join(f"avg({q(n)}) AS m{i}, stddev_pop({q(n)}) AS s{i}" for i, (n, *_) in enumerate(kinds) if n in numeric)
cols = ", ".join(f"({q(n)} - m{i}) / s{i} AS {q(n)}" if n in numeric else q(n) for i, (n, *_) in enumerate(kinds))
con.execute(f"COPY (WITH s AS (SELECT {stats} FROM {read}) SELECT {cols} FROM {read}, s) TO '{output}' (HEADER)")
''',
}

# ---------------------------------------------------------------------------------------------
# Data


def generate(rows: int, csv: Path, parquet: Path | None = None, one_row: Path | None = None,
             dataset: Path | None = None) -> None:
    """``rows`` rows from the fixed seed as CSV (and Parquet, the first row alone, and the same
    rows as a directory of DATASET_FILES Parquet files), 1M at a time.

    Runs in a child process (``--generate``): the harness itself imports no numpy or polars, because a
    child's ru_maxrss starts from the RSS of the process it was forked from.
    """
    import numpy as np
    import polars as pl
    import pyarrow.parquet as pq

    rng = np.random.default_rng(SEED)
    labels = np.array(LABELS)
    writer = None
    with open(csv, "wb") as handle:
        for start in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - start)
            columns = {name: np.round(rng.normal(mean, std, n), 6) for name, (mean, std) in FLOAT_COLUMNS.items()}
            columns["n"] = rng.integers(-1_000, 100_000, n)
            columns["label"] = labels[rng.integers(0, len(labels), n)]
            frame = pl.DataFrame(columns)
            frame.write_csv(handle, include_header=start == 0)
            if parquet is not None:
                table = frame.to_arrow()
                writer = writer or pq.ParquetWriter(parquet, table.schema, compression="zstd")
                writer.write_table(table)
            if one_row is not None and start == 0:
                frame.head(1).write_csv(one_row)
            if dataset is not None:
                dataset.mkdir(exist_ok=True)
                per_file = -(-rows // DATASET_FILES)  # DATASET_FILES files when a chunk holds whole files
                for offset in range(0, n, per_file):
                    frame.slice(offset, per_file).write_parquet(dataset / f"part-{start + offset:012d}.parquet",
                                                                compression="zstd")
    if writer is not None:
        writer.close()


def generate_in_child(rows: int, *paths: Path) -> None:
    print(f"generating {rows:,} rows: {', '.join(p.name for p in paths)}", flush=True)
    subprocess.run([sys.executable, __file__, "--generate", str(rows), *map(str, paths)], check=True)


# ---------------------------------------------------------------------------------------------
# Running and measuring


class StepFailed(Exception):
    pass


@dataclass
class Step:
    argv: list[str]
    stdin: Path | None = None  # fed through `cat FILE |`, a real pipe
    stdout: Path | None = None
    # The file the step writes: removed before each run, or with ``replace`` left from the run
    # before (made by an untimed run the first time), so the step replaces an existing file.
    output: Path | None = None
    replace: bool = False


@dataclass
class Job:
    name: str
    steps: list[Step]


@dataclass
class Group:
    title: str
    jobs: list[Job]  # jobs[0] is the reference of the "x ref" column
    repeat: int
    after: Callable[[], None] | None = None  # runs once the group is done (checks on outputs)


@dataclass
class Result:
    walls: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    error: str | None = None

    @property
    def wall(self) -> float | None:
        return statistics.median(self.walls) if self.walls and not self.error else None

    @property
    def rss_mib(self) -> float | None:
        return statistics.median(self.rss_kib) / 1024 if self.rss_kib and not self.error else None


def prepare(step: Step) -> None:
    """Remove the step's output, or make sure there is one to replace; then write every file to
    disk, so that no run pays for the writing-back of what ran before it (the data generated, the
    outputs of other jobs)."""
    if step.output is not None and not step.replace:
        step.output.unlink(missing_ok=True)
    elif step.output is not None and not step.output.exists():
        subprocess.run(step.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.sync()


def measure(step: Step, log: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one command; with ``stdin`` the pipe's wall, normcli's RSS."""
    prepare(step)
    with open(step.stdout or os.devnull, "wb") as out, open(log, "wb") as err:
        start = time.perf_counter()
        feeder = subprocess.Popen(["cat", str(step.stdin)], stdout=subprocess.PIPE) if step.stdin else None
        proc = subprocess.Popen(step.argv, stdin=feeder.stdout if feeder else subprocess.DEVNULL, stdout=out, stderr=err)
        if feeder:
            feeder.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        if feeder:
            feeder.wait()
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise StepFailed(f"exit {proc.returncode}: {' '.join(step.argv)}: {' / '.join(tail)}")
    return wall, usage.ru_maxrss


def run_job(job: Job, result: Result, log: Path) -> None:
    """One run of a job: its steps in order; wall times add up, peak RSS is the largest step's."""
    try:
        measured = [measure(step, log) for step in job.steps]
    except StepFailed as exc:
        result.error = str(exc)
        print(f"    FAILED {job.name}: {exc}", file=sys.stderr)
        return
    result.walls.append(sum(wall for wall, _ in measured))
    result.rss_kib.append(max(rss for _, rss in measured))


def run_group(group: Group, log: Path, scratch: Path) -> dict[str, Result]:
    """Round-robin: every job once per round, ``repeat`` rounds; outputs removed afterwards."""
    print(f"  {group.title} ({group.repeat} x {len(group.jobs)} jobs)", flush=True)
    results = {job.name: Result() for job in group.jobs}
    for _ in range(group.repeat):
        for job in group.jobs:
            if results[job.name].error is None:
                run_job(job, results[job.name], log)
    if group.after:
        group.after()
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    return results


# ---------------------------------------------------------------------------------------------
# The jobs, one function per family


@dataclass
class Bench:
    normcli: str
    work: Path
    rows: int
    repeat: int
    large: bool
    checks: dict[str, object] = field(default_factory=dict)

    def path(self, name: str) -> Path:
        return self.work / name

    def out(self, name: str) -> Path:
        return self.work / "out" / name

    def nc(self, *args) -> list[str]:
        return [self.normcli, *map(str, args)]

    def py(self, script: str, *args) -> list[str]:
        return [sys.executable, str(self.work / f"{script}.py"), *map(str, args)]

    @property
    def csv(self) -> Path:
        return self.path("data.csv")

    @property
    def parquet(self) -> Path:
        return self.path("data.parquet")

    @property
    def dataset(self) -> Path:
        return self.path("dataset")

    @property
    def params(self) -> Path:
        return self.path("data.normcli.json")

    def datasets(self) -> list[tuple[str, Path]]:
        """(label, CSV) of the default size and, with --large, of 10M rows."""
        sets = [(rows_label(self.rows), self.csv)]
        if self.large:
            sets.append((rows_label(LARGE_ROWS), self.path("large.csv")))
        return sets


def rows_label(rows: int) -> str:
    return f"{rows / 1e6:g}M rows" if rows >= 1_000_000 else f"{rows / 1e3:g}k rows"


def fit_groups(b: Bench) -> list[Group]:
    return [Group("fit zscore, CSV", [
        Job("normcli fit", [Step(b.nc("fit", b.csv, "-m", "zscore", "-p", b.out("fit.json")))]),
        Job("polars scan_csv + streaming stats", [Step(b.py("polars_stats", b.csv))]),
    ], b.repeat)]


POLARS_SCRIPT = "polars lazy scan -> sink"
REPLACING = ", replacing its output"


def dataset_groups(b: Bench) -> list[Group]:
    """fit over a directory of Parquet files, beside fit over the same rows in one file."""
    from_file, from_dataset = b.out("file.json"), b.out("dataset.json")

    def compare():
        same = from_file.exists() and from_dataset.exists() and filecmp.cmp(from_file, from_dataset, shallow=False)
        b.checks["data set sidecar identical"] = same

    return [Group(DATASET_GROUP, [
        Job("normcli fit FILE", [Step(b.nc("fit", b.parquet, "-p", from_file))]),
        Job("normcli fit DIRECTORY", [Step(b.nc("fit", b.dataset, "-p", from_dataset))]),
        Job("polars scan_parquet(DIRECTORY) + streaming stats", [Step(b.py("polars_stats", b.dataset))]),
    ], b.repeat, after=compare)]


def transform_groups(b: Bench) -> list[Group]:
    """Each transform writes a new file (the one before removed), and replaces an existing one: normcli
    writes a temporary file and renames it over the old, which the file system frees then, at the
    end; polars truncates the old file as it opens it, at the start, beside the work."""
    cases = [  # title, command, input, output format
        ("apply CSV->CSV", "apply", b.csv, "csv"),
        ("invert CSV->CSV", "invert", b.path("scaled.csv"), "csv"),
        ("apply Parquet->Parquet", "apply", b.parquet, "parquet"),
        ("apply CSV->Parquet", "apply", b.csv, "parquet"),
        ("apply Parquet->CSV", "apply", b.parquet, "csv"),
    ]
    def jobs(command, source, fmt, replace):
        tag, suffix = ("-r", REPLACING) if replace else ("", "")
        normcli, polars = b.out(f"normcli{tag}.{fmt}"), b.out(f"polars{tag}.{fmt}")
        return [Job(f"normcli {command}{suffix}", [Step(b.nc(command, source, "-p", b.params, "-o", normcli),
                                                        output=normcli, replace=replace)]),
                Job(f"{POLARS_SCRIPT}{suffix}", [Step(b.py("polars_scale", command, source, b.params, polars),
                                                      output=polars, replace=replace)])]

    return [Group(title, jobs(command, source, fmt, False) + jobs(command, source, fmt, True), b.repeat)
            for title, command, source, fmt in cases]


def end_to_end_groups(b: Bench) -> list[Group]:
    sidecar = b.out("e2e.json")
    return [Group("zscore fit + apply, CSV->CSV", [
        Job("normcli fit + apply", [Step(b.nc("fit", b.csv, "-p", sidecar)),
                                    Step(b.nc("apply", b.csv, "-p", sidecar, "-o", b.out("normcli.csv")),
                                         output=b.out("normcli.csv"))]),
        Job("pandas read_csv + StandardScaler + to_csv", [Step(b.py("pandas_sklearn", b.csv, b.out("pandas.csv")),
                                                               output=b.out("pandas.csv"))]),
        Job("DuckDB SQL COPY to CSV", [Step(b.py("duckdb_zscore", b.csv, b.out("duckdb.csv")),
                                            output=b.out("duckdb.csv"))]),
    ], b.repeat)]


def robust_groups(b: Bench) -> list[Group]:
    return [Group(f"robust fit (exact quantiles), CSV, {label}", [
        Job("normcli fit -m robust", [Step(b.nc("fit", csv, "-m", "robust", "-p", b.out("robust.json")))]),
        Job("polars exact quantiles (streaming)", [Step(b.py("polars_quantiles", csv))]),
    ], b.repeat if csv == b.csv else 1) for label, csv in b.datasets()]


def stdin_groups(b: Bench) -> list[Group]:
    from_file, from_stdin = b.out("file.csv"), b.out("stdin.csv")

    def compare():
        same = from_file.exists() and from_stdin.exists() and filecmp.cmp(from_file, from_stdin, shallow=False)
        b.checks["stdin byte-identical"] = same

    return [Group("apply CSV->CSV, stdin -> stdout vs file -> file", [
        Job("normcli apply FILE -o FILE", [Step(b.nc("apply", b.csv, "-p", b.params, "-o", from_file),
                                                output=from_file)]),
        Job("cat FILE | normcli apply - > FILE", [Step(b.nc("apply", "-", "-p", b.params), stdin=b.csv,
                                                       stdout=from_stdin, output=from_stdin)]),
    ], b.repeat, after=compare)]


def startup_groups(b: Bench) -> list[Group]:
    return [Group("start-up", [
        Job("normcli apply, 1-row CSV", [Step(b.nc("apply", b.path("one.csv"), "-p", b.params, "-o", b.out("one.csv")))]),
        Job('python -c "import polars"', [Step([sys.executable, "-c", "import polars"])]),
        Job("normcli --help", [Step(b.nc("--help"))]),
        Job("normcli --version", [Step(b.nc("--version"))]),
    ], max(10, b.repeat))]


def memory_groups(b: Bench) -> list[Group]:
    """fit and apply (CSV->CSV) per method at each size, ``repeat`` times: with every core at work
    the peak RSS of one run moves by about 20 MiB either way, so the report takes the median."""
    groups = []
    for method in MEMORY_METHODS:
        jobs = []
        for label, csv in b.datasets():
            sidecar = b.out(f"{method}.json")
            jobs += [Job(f"fit {label}", [Step(b.nc("fit", csv, "-m", method, "-p", sidecar))]),
                     Job(f"apply {label}", [Step(b.nc("apply", csv, "-p", sidecar, "-o", b.out("mem.csv")))])]
        groups.append(Group(f"memory {method}", jobs, b.repeat))
    return groups


FAMILIES = [fit_groups, dataset_groups, transform_groups, end_to_end_groups, robust_groups, stdin_groups,
            startup_groups]

# ---------------------------------------------------------------------------------------------
# Reporting


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table, padded so it also reads in a terminal."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    return [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)]


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}" if value < 1 else f"{value:.2f}"


def mib(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def timing_rows(groups: list[Group], results: dict) -> list[list[str]]:
    rows = []
    for group in groups:
        reference = results[group.title][group.jobs[0].name].wall
        for index, job in enumerate(group.jobs):
            r = results[group.title][job.name]
            if r.error:
                rows.append([group.title, job.name, "FAILED", "", "", "", ""])
                continue
            ratio = "ref" if index == 0 else f"{r.wall / reference:.2f}x" if reference else "-"
            rows.append([group.title if index == 0 else "", job.name, str(len(r.walls)), seconds(r.wall),
                         f"{seconds(min(r.walls))}–{seconds(max(r.walls))}", mib(r.rss_mib), ratio])
    return rows


def memory_rows(b: Bench, results: dict) -> list[list[str]]:
    labels = [label for label, _ in b.datasets()]
    rows = []
    for method in MEMORY_METHODS:
        for step in ("fit", "apply"):
            runs = [results[f"memory {method}"][f"{step} {label}"] for label in labels]
            row = [method, step, *(mib(r.rss_mib) for r in runs), *(seconds(r.wall) for r in runs)]
            if len(runs) == 2:
                row.insert(4, f"{runs[1].rss_mib / runs[0].rss_mib:.2f}x" if runs[0].rss_mib and runs[1].rss_mib else "-")
            rows.append(row)
    headers = ["method", "step", *(f"peak RSS MiB, {label}" for label in labels)]
    if len(labels) == 2:
        headers.append("RSS ratio")
    return [headers, *rows]


def figure(measured: float, limit: float) -> str:
    """``measured`` to two decimals, or three where two would show it equal to ``limit``."""
    return f"{measured:.3f}" if f"{measured:.2f}" == f"{limit:.2f}" and measured != limit else f"{measured:.2f}"


def verdict(measured: float | None, limit: float, at_most: bool, unit: str) -> str:
    if measured is None:
        return "not measured"
    if (measured <= limit) if at_most else (measured >= limit):
        return "met"
    miss = abs(measured - limit) / limit
    by = f"{miss:.1%}" if miss < 0.01 else f"{miss:.0%}"
    return f"MISSED by {by} ({figure(measured, limit)}{unit} vs {limit:g}{unit})"


def targets(b: Bench, results: dict) -> list[list[str]]:
    def wall(group: str, job: str) -> float | None:
        r = results.get(group, {}).get(job)
        return r.wall if r else None

    def ratio(numerator, denominator) -> float | None:
        return numerator / denominator if numerator and denominator else None

    rows = []

    def add(target: str, goal: str, value: float | None, limit: float, at_most: bool = True, unit: str = "x",
            shown: str | None = None):
        text = shown or ("-" if value is None else f"{figure(value, limit)}{unit}")
        rows.append([target, goal, text, verdict(value, limit, at_most, unit)])

    add("fit zscore CSV", "<= 1.1x polars script",
        ratio(wall("fit zscore, CSV", "normcli fit"), wall("fit zscore, CSV", "polars scan_csv + streaming stats")), 1.1)
    for title, command in [("apply CSV->CSV", "apply"), ("invert CSV->CSV", "invert"), ("apply Parquet->Parquet", "apply"),
                           ("apply CSV->Parquet", "apply"), ("apply Parquet->CSV", "apply")]:
        for suffix, output in (("", "new output"), (REPLACING, "replacing the output")):
            add(f"{title}, {output}", "<= 1.1x polars lazy script",
                ratio(wall(title, f"normcli {command}{suffix}"), wall(title, f"{POLARS_SCRIPT}{suffix}")), 1.1)
    e2e = "zscore fit + apply, CSV->CSV"
    add("pandas + sklearn fit+apply", "normcli >= 15x faster",
        ratio(wall(e2e, "pandas read_csv + StandardScaler + to_csv"), wall(e2e, "normcli fit + apply")), 15, at_most=False)
    # The same ratio for the polars scripts, from their fit and apply jobs: what the target asks of
    # any tool that reads the CSV file with polars on this machine.
    scripts = [wall("fit zscore, CSV", "polars scan_csv + streaming stats"), wall("apply CSV->CSV", POLARS_SCRIPT)]
    pandas_vs_scripts = ratio(wall(e2e, "pandas read_csv + StandardScaler + to_csv"),
                              sum(scripts) if all(scripts) else None)
    rows.append(["pandas + sklearn fit+apply, against the polars scripts", "for scale: the 15x above, for them",
                 "-" if pandas_vs_scripts is None else f"{pandas_vs_scripts:.2f}x", "reference"])

    if b.large:
        small, large = (label for label, _ in b.datasets())
        for method in MEMORY_METHODS:
            for step in ("fit", "apply"):
                runs = results[f"memory {method}"]
                before, after = runs[f"{step} {small}"].rss_mib, runs[f"{step} {large}"].rss_mib
                growth = ratio(after, before)
                met = after is not None and growth is not None and after <= 512 and growth <= 1.2
                shown = "-" if growth is None else f"{after:.0f} MiB, {growth:.2f}x the {small} figure"
                misses = [] if met or growth is None else (
                    ([f"{(after - 512) / 512:.0%} over 512 MiB"] if after > 512 else [])
                    + ([f"growth {growth:.2f}x > 1.2x"] if growth > 1.2 else []))
                rows.append([f"peak RSS {step} {method}, {large}", "<= 512 MiB and <= 1.2x",
                             shown, "met" if met else ("MISSED: " + "; ".join(misses)) if misses else "not measured"])
    else:
        rows.append(["peak RSS fit/apply at 10M rows", "<= 512 MiB and <= 1.2x", "-", "not measured (run with --large)"])

    robust = [(label, results[f"robust fit (exact quantiles), CSV, {label}"]["normcli fit -m robust"]) for label, _ in b.datasets()]
    stated = ", ".join(f"{mib(r.rss_mib)} MiB at {label}" for label, r in robust)
    rows.append(["robust fit memory", "stated", stated, "met (stated)" if all(r.rss_mib for _, r in robust) else "not measured"])

    runs = results.get(DATASET_GROUP, {})
    file_rss, dataset_rss = (runs[job].rss_mib if job in runs else None for job in ("normcli fit FILE", "normcli fit DIRECTORY"))
    identical = b.checks.get("data set sidecar identical")
    rows.append(["fit over a Parquet directory", "streams its files; same sidecar as one file",
                 f"{mib(dataset_rss)} MiB against {mib(file_rss)} MiB; sidecar "
                 + {True: "identical", False: "DIFFERENT", None: "-"}[identical],
                 {True: "met (stated)", False: "MISSED", None: "not measured"}[identical if dataset_rss else None]])

    stdin_group = "apply CSV->CSV, stdin -> stdout vs file -> file"
    stdin_ratio = ratio(wall(stdin_group, "cat FILE | normcli apply - > FILE"), wall(stdin_group, "normcli apply FILE -o FILE"))
    add("stdin -> stdout apply", "<= 2.5x file -> file", stdin_ratio, 2.5)
    identical = b.checks.get("stdin byte-identical")
    rows.append(["stdin -> stdout output", "byte-identical to file mode",
                 {True: "identical", False: "DIFFERENT", None: "-"}[identical],
                 {True: "met", False: "MISSED", None: "not measured"}[identical]])

    for flag in ("--help", "--version"):
        add(f"normcli {flag}", "<= 0.15 s", wall("start-up", f"normcli {flag}"), 0.15, unit=" s")
    add("apply on a 1-row file", '<= 2x python -c "import polars"',
        ratio(wall("start-up", "normcli apply, 1-row CSV"), wall("start-up", 'python -c "import polars"')), 2.0)
    return rows


def machine(load_before: float) -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    memory = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), 0)

    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    libraries = ", ".join(f"{name} {version(name)}" for name in ("polars", "pyarrow", "numpy", "pandas", "scikit-learn", "duckdb"))
    return [
        f"- CPU: {cpu}; nproc {len(os.sched_getaffinity(0))}; memory {memory / 2**20:.1f} GiB",
        f"- OS: {platform.platform()}",
        f"- Python {platform.python_version()} ({sys.executable}); {libraries}",
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- Load average (1 min) before / after the run: {load_before:.2f} / {os.getloadavg()[0]:.2f} "
        "(above nproc means other work shared the machine: absolute times inflate, ratios get noisier)",
    ]


def report(b: Bench, groups: list[Group], results: dict, command: str, sizes: dict[str, int], elapsed: float,
           load_before: float) -> str:
    normcli_version = subprocess.run([b.normcli, "--version"], capture_output=True, text=True).stdout.strip()
    timing = table(["group", "job", "runs", "wall median s", "wall min–max s", "peak RSS MiB (median)", "x ref"],
                   timing_rows([g for g in groups if not g.title.startswith("memory ")], results))
    memory = memory_rows(b, results)
    goals = targets(b, results)
    failures = [f"- {group} / {job}: {r.error}" for group, jobs in results.items() for job, r in jobs.items() if r.error]
    lines = [
        "# normcli benchmark results", "",
        "Written by `bench/run.py`; every number below comes from the run it describes.", "",
        "## Machine", "", *machine(load_before), f"- normcli: {normcli_version} ({b.normcli})", "",
        "## Command", "", f"    {command}", "",
        f"Data: {b.rows:,} rows x 10 columns (8 normal floats with 6 decimals, 1 integer, 1 string of 4 values; "
        f"the Parquet data set is the same rows in {len(list(b.dataset.iterdir()))} files), "
        f"seed {SEED}; " + "; ".join(f"{name} {size / 1e6:.0f} MB" for name, size in sizes.items()) + ". "
        f"Whole run: {elapsed / 60:.1f} min.", "",
        "Each job is a separate process; wall clock from start to exit, peak RSS = `ru_maxrss` of the process "
        "(`os.wait4`); for a job of two commands the walls add up and the RSS is the larger one. Jobs in a group "
        "alternate (A B A B ...). The harness forks every job and a child's `ru_maxrss` starts at its parent's RSS, "
        f"so the harness imports no data library: its own peak RSS ({resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB) "
        "is the floor of every figure. **x ref** = median wall / median wall of the first job of the group "
        "(above 1: slower than the reference). The `cat |` job's wall includes `cat`; its RSS is normcli's. "
        "normcli's package is byte-compiled first, as a regular install is. Before each run of a job that writes a "
        "file, its output is removed (a new output), or left from the run before where the job says \"replacing its "
        "output\"; before every run `sync` writes every file to disk, outside the timing.", "",
        "## Timings", "", *timing, "",
        f"## Peak RSS by method (fit, then apply CSV->CSV; median of {b.repeat} run{'s' * (b.repeat != 1)})", "",
        *table(memory[0], memory[1:]), "",
        "## Targets", "", *table(["target", "goal", "measured", "result"], goals), "",
    ]
    if any(row[-1].startswith("MISSED") for row in goals):
        lines += ["Why the missed targets are missed, with the measurements behind it: `bench/README.md`, "
                  "\"Where normcli stands, and why\".", ""]
    if failures:
        lines += ["## Failures", "", *failures, ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def byte_compile(normcli: str) -> None:
    """Byte-compile the normcli package the executable runs, as a regular install is. An editable
    install is not, and with PYTHONDONTWRITEBYTECODE set every run would compile it again (30-40 ms
    here)."""
    first_line = Path(normcli).read_text(errors="replace").partition("\n")[0]
    interpreter = first_line.removeprefix("#!").strip() if first_line.startswith("#!") else ""
    if not ("python" in Path(interpreter).name and os.access(interpreter, os.X_OK)):
        interpreter = sys.executable  # a wrapper script: assume it runs this Python
    subprocess.run([interpreter, "-c", "import compileall, os, normcli; "
                    "compileall.compile_dir(os.path.dirname(normcli.__file__), quiet=1)"], check=True)


def main() -> None:
    if sys.argv[1:2] == ["--generate"]:
        rows, *paths = sys.argv[2:]
        return generate(int(rows), *map(Path, paths))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows of the main data set [2,000,000]")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each job [3]")
    parser.add_argument("--large", action="store_true", help=f"also fit/apply {LARGE_ROWS:,} rows for the memory targets")
    parser.add_argument("--quick", action="store_true", help="smoke run: 200,000 rows, 1 repeat")
    parser.add_argument("--normcli", default=str(Path(sys.executable).parent / "normcli"), help="normcli executable")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md", help="report to write [bench/RESULTS.md]")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeat = 200_000, 1
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="normcli-bench-"))
    try:
        b = Bench(normcli=args.normcli, work=work, rows=args.rows, repeat=args.repeat, large=args.large)
        (work / "out").mkdir()
        for name, code in SCRIPTS.items():
            (work / f"{name}.py").write_text(code.lstrip())
        generate_in_child(args.rows, b.csv, b.parquet, b.path("one.csv"), b.dataset)
        if args.large:
            generate_in_child(LARGE_ROWS, b.path("large.csv"))
        sizes = {path.name: path.stat().st_size for path in [b.csv, b.parquet, b.path("large.csv")] if path.exists()}
        log = work / "stderr.log"
        byte_compile(b.normcli)
        for step in [Step(b.nc("fit", b.csv, "-p", b.params)),  # untimed: a sidecar, and input for invert
                     Step(b.nc("apply", b.csv, "-p", b.params, "-o", b.path("scaled.csv")))]:
            measure(step, log)
        groups = [group for family in [*FAMILIES, memory_groups] for group in family(b)]
        results = {group.title: run_group(group, log, work / "out") for group in groups}
        command = " ".join([Path(sys.executable).name, "bench/run.py", *sys.argv[1:]])
        text = report(b, groups, results, command, sizes, time.perf_counter() - started, load_before)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(text)
    args.output.write_text(text)
    print(f"written: {args.output}")


if __name__ == "__main__":
    main()
