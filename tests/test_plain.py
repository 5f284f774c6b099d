"""The plain-CSV path (polars reads the file in parallel) against the careful reader: the same
sidecar, the same output bytes (CSV and Parquet), the same errors, on every file; and it is the path
taken when it can be."""

import tempfile
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import normcli
from normcli.errors import NormcliError
from normcli.io import CsvOptions

NUMBERS = ["5", "-12", "+3", "007", "0", "-0", "1.5", "-0.25", ".5", "5.", "1e3", "2.5E-4", "123456.789012",
           "99999999999999.9", "1e300", "-7"]
ODD = ["", "", "NA", "null", "NaN", "nan", "NAN", "inf", "-inf", "  ", " 5", "5 ", "abc", "New York", '"7"',
       '""', '"a,b"', "1,5"]


@contextmanager
def careful_reader_only():
    with mock.patch("normcli.io.PlainCsv", lambda *args, **kwargs: None):
        yield


@contextmanager
def careful_reader_forbidden():
    def refuse(*args, **kwargs):
        raise AssertionError("the careful reader was used")

    with mock.patch("normcli.io._Replay", refuse):
        yield


def outcome(source: Path, out: Path, csv: CsvOptions = CsvOptions(), **fit_options) -> tuple:
    """What fit, apply and invert make of ``source``: the sidecar and output bytes, or the error."""
    try:
        sidecar = normcli.fit(str(source), csv=csv, **fit_options)
    except NormcliError as exc:
        return ("fit", str(exc))
    result = [sidecar.to_json()]
    text = source.suffix
    steps = [("apply", source, out / f"scaled{text}"), ("invert", out / f"scaled{text}", out / f"back{text}"),
             ("apply", source, out / "scaled.parquet")]
    for command, source_path, target in steps:
        try:
            getattr(normcli, command)(str(source_path), sidecar, str(target), csv=csv)
        except NormcliError as exc:
            return (*result, command, str(exc))
        result.append(target.read_bytes())
    return tuple(result)


def both_ways(text: bytes, head_bytes: int = 1 << 16, suffix: str = ".csv", **options) -> tuple[tuple, tuple]:
    with tempfile.TemporaryDirectory() as tmp, mock.patch("normcli.io.PlainCsv.HEAD_BYTES", head_bytes):
        tmp = Path(tmp)
        source = tmp / f"in{suffix}"
        source.write_bytes(text)
        (tmp / "a").mkdir()
        (tmp / "b").mkdir()
        fast = outcome(source, tmp / "a", **options)
        with careful_reader_only():
            careful = outcome(source, tmp / "b", **options)
    return fast, careful


@st.composite
def csv_files(draw, separator=","):
    """Small CSV files, mostly plain numbers, with now and then every oddity the plain check must catch."""
    columns = draw(st.integers(1, 4))
    rows = draw(st.integers(0, 25))
    odd_rate = draw(st.sampled_from([0, 0, 0.05, 0.2]))
    lines = [separator.join(f"c{i}" for i in range(columns))]
    for _ in range(rows):
        fields = []
        for _ in range(columns):
            pool = ODD if draw(st.floats(0, 1)) < odd_rate else NUMBERS
            fields.append(draw(st.sampled_from(pool)))
        if odd_rate and draw(st.floats(0, 1)) < odd_rate / 2:
            fields = fields[: draw(st.integers(0, columns + 1))] if columns > 1 else fields + ["9"]
        lines.append(separator.join(fields))
    ending = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    text = ending.join(lines) + draw(st.sampled_from([ending, ending, "", ending * 2]))
    return text.encode()


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(text=csv_files(), picked=st.booleans(), head_bytes=st.sampled_from([1 << 16, 16, 40]))
def test_plain_path_and_careful_reader_agree(text, picked, head_bytes):
    # A small head makes the types be chosen on the first line or two, so that what follows tests
    # how the polars reading itself meets each oddity.
    options = {"columns": ["c0"]} if picked else {}
    fast, careful = both_ways(text, head_bytes, **options)
    assert fast == careful


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(text=csv_files(separator="\t"), head_bytes=st.sampled_from([1 << 16, 16]),
       nulls=st.sampled_from([("", "NA", "NaN", "nan", "null", "NULL"), ("-",), ("", "null", "abc")]))
def test_tsv_and_other_null_tokens_agree_too(text, head_bytes, nulls):
    text = text.replace(b"NaN", b"-")  # "-" as a null token of its own
    fast, careful = both_ways(text, head_bytes, suffix=".tsv", csv=CsvOptions(null_values=nulls))
    assert fast == careful


def clean_file(rows: int) -> str:
    return "a,b,label\n" + "".join(f"{i * 0.5},{i % 7},x{i % 3}\n" for i in range(rows))


@pytest.mark.parametrize("tail", [
    "1.5,NA,x\n",          # a null token polars is not told of, after the lines the types are chosen on
    "1.5,2.5,x\n",         # a float in a column that began as integers
    "abc,2,x\n",           # text in a number column
    "NaN,2,x\n",           # NaN, a null token
    "1.5,2\n",             # a short row
    "1.5,2,x,9\n",         # a long row
    "1.5,2,x\n\n3,4,y\n",  # a blank line
    '1.5,"2",x\n',         # quotes
    "1.5, 2,x\n",          # a field that starts with a space
    "  ,2,x\n",            # a field of spaces (polars reads it as missing)
    "1e999,2,x\n",         # infinite
])
@pytest.mark.parametrize("picked", [False, True])
def test_oddities_after_the_first_lines_are_caught(tail, picked):
    text = (clean_file(10000) + tail).encode()  # beyond the first 64 KiB the types are chosen on
    fast, careful = both_ways(text, **({"columns": ["a", "b"]} if picked else {}))
    assert fast == careful


def test_a_plain_file_never_reaches_the_careful_reader(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(clean_file(3000) + "7.5,,\n8.5,NA,x\n")  # an empty field, and a null token in the first lines
    with careful_reader_forbidden():
        sidecar = normcli.fit(str(source))
        normcli.apply(str(source), sidecar, str(tmp_path / "s.csv"))
        normcli.invert(str(tmp_path / "s.csv"), sidecar, str(tmp_path / "b.csv"))
        normcli.apply(str(source), sidecar, str(tmp_path / "s.parquet"))
    assert (tmp_path / "b.csv").read_text() == source.read_text().replace("8.5,NA,x", "8.5,,x")
    assert sidecar["b"].dtype == "int64" and sidecar["a"].dtype == "double"
    assert "label" not in sidecar.names


def test_an_odd_file_falls_back_and_counts_progress_once_per_reading(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(clean_file(3000) + '1,"2",x\n')
    seen = []
    normcli.fit(str(source), progress=seen.append)
    assert sum(seen) >= 3001


def parquet_table():
    import datetime
    import decimal

    import pyarrow as pa

    n = 300
    return pa.table({
        "f64": pa.array([None if i % 17 == 0 else float("nan") if i % 23 == 0 else i * 0.37 - 20 for i in range(n)]),
        "f32": pa.array([i / 7 for i in range(n)], pa.float32()),
        "i8": pa.array([i % 100 - 50 for i in range(n)], pa.int8()),
        "u32": pa.array([None if i % 5 == 0 else i * 1000 for i in range(n)], pa.uint32()),
        "i64": pa.array([i * 3 for i in range(n)], pa.int64()),
        "flag": pa.array([i % 3 == 0 for i in range(n)]),
        'a "name",\r with  spaces ': pa.array([None if i % 11 == 0 else f"n{i % 4}" for i in range(n)]),
        "big": pa.array([f"x,{i}" for i in range(n)], pa.large_string()),
        "view": pa.array([None if i % 13 == 0 else f"v {i}" for i in range(n)], pa.string_view()),
        "when": pa.array([datetime.datetime(2024, 1, 1) + datetime.timedelta(hours=i) for i in range(n)]),
        "cat": pa.array([f"c{i % 3}" for i in range(n)]).dictionary_encode(),
        "money": pa.array([decimal.Decimal(i) / 100 for i in range(n)], pa.decimal128(10, 2)),
    })


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("drop", [["when", "cat", "money"], []])
@pytest.mark.parametrize("command", ["apply", "invert"])
def test_parquet_through_polars_matches_the_careful_path(tmp_path, drop, command, suffix):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = parquet_table().drop_columns(drop)
    source = tmp_path / "in.parquet"
    pq.write_table(table, source)
    sidecar = normcli.fit(str(source), columns=["f64", "f32", "i8", "u32", "i64"])
    if command == "invert":
        normcli.apply(str(source), sidecar, str(tmp_path / "scaled.parquet"))
        source = tmp_path / "scaled.parquet"
    fast, careful = tmp_path / f"fast{suffix}", tmp_path / f"careful{suffix}"
    with mock.patch("normcli.core._scaled_scan", wraps=normcli.core._scaled_scan) as polars_pipeline:
        getattr(normcli, command)(str(source), sidecar, str(fast))
    assert polars_pipeline.called == bool(drop)  # timestamps, dictionaries and decimals take the careful path
    with mock.patch("normcli.core._fast_writer", return_value=None):
        getattr(normcli, command)(str(source), sidecar, str(careful))
    assert fast.read_bytes() == careful.read_bytes()
    if suffix == ".csv":
        assert b"NaN" in fast.read_bytes()
    else:
        written = pq.read_table(fast)
        assert written.schema.equals(pq.read_table(careful).schema, check_metadata=True)
        assert written.schema.field('a "name",\r with  spaces ').type == pa.string()  # as read
        assert written["f64"].to_pylist()[23] != written["f64"].to_pylist()[23]  # NaN


@pytest.mark.parametrize("source_format,fmt", [("csv", "csv"), ("csv", "parquet"), ("parquet", "csv"),
                                               ("parquet", "parquet")])  # polars' paths
@pytest.mark.parametrize("case", ["digits", "outside", "nan", "none"])
def test_values_only_the_careful_path_handles_are_handed_over(tmp_path, source_format, fmt, case):
    # One with more than 15 significant digits at the fitted places (rounded at fewer, per value),
    # one beyond its integer type; the polars pipeline must give the careful path's result.
    import polars as pl

    sidecar = normcli.fit(pl.DataFrame({"x": [0.25, 1.5, 2.75], "n": [1, 2, 3]}))
    assert sidecar["x"].decimals == 2 and sidecar["n"].integer
    scaled = normcli.apply(pl.DataFrame({"x": [0.25, 0.5, -1.0, 0.75], "n": [2, 3, 1, 3]}), sidecar)
    if case == "digits":  # 1.23e14 at 2 places is 17 digits: rounded at 0 places instead
        scaled = pl.concat([scaled, normcli.apply(pl.DataFrame({"x": [123456789012345.67], "n": [2]}), sidecar)])
    elif case == "outside":  # beyond int64 once scaled back
        scaled = pl.concat([scaled, pl.DataFrame({"x": [0.0], "n": [1e20]})])
    elif case == "nan":  # missing in an integer column ("NaN" is a null token in CSV)
        scaled = pl.concat([scaled, pl.DataFrame({"x": [0.0], "n": [float("nan")]})])
    source = tmp_path / f"scaled.{source_format}"
    scaled.write_csv(source) if source_format == "csv" else scaled.write_parquet(source)

    def outcome(target):
        try:
            normcli.invert(str(source), sidecar, str(target))
        except NormcliError as exc:
            return str(exc)
        return target.read_bytes()

    with mock.patch("normcli.core._transform_batches", wraps=normcli.core._transform_batches) as handed_over:
        fast = outcome(tmp_path / f"fast.{fmt}")
    with mock.patch("normcli.core._fast_writer", return_value=None):
        careful = outcome(tmp_path / f"careful.{fmt}")
    assert fast == careful
    assert handed_over.called == (case in ("digits", "outside"))
    if case == "outside":
        assert "outside the range of int64" in careful and "row 5" in careful


INTERRUPTED_APPLY = """
import _thread, json, signal, sys, threading
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in an interactive shell
import normcli
source, head, out, how = sys.argv[1:5]
interrupt = {"signal": lambda: signal.pthread_kill(threading.main_thread().ident, signal.SIGINT),
             "simulated": _thread.interrupt_main}[how]
done = []

def progress(count):
    if not done:
        interrupt()
    done.append(count)

try:
    normcli.apply(source, normcli.fit(head), out, progress=progress)
    outcome = "finished"
except KeyboardInterrupt:
    outcome = "interrupted"
print(json.dumps({"outcome": outcome, "rows": sum(done)}))
"""


@pytest.mark.parametrize("how", ["signal", "simulated"])
def test_an_interrupt_stops_the_polars_pipeline_at_once(tmp_path, how):
    # Ctrl-C reaches the main thread, which waits in Python while polars works on another thread;
    # the pipeline then stops at its next batch instead of running to the end of the file. A real
    # signal at the main thread wakes it; a simulated one (or a real one another thread takes) is
    # noticed when its wait times out. In a fresh interpreter with SIGINT handled as in an
    # interactive shell: a test run started as a background job ignores SIGINT, and in its own
    # process neither interrupt would do anything.
    import json
    import subprocess
    import sys

    rows = 3_000_000  # far more than polars gets through while the main thread takes the interrupt
    source = tmp_path / "in.csv"
    source.write_text(clean_file(rows))
    (tmp_path / "head.csv").write_text(clean_file(1000))
    result = subprocess.run([sys.executable, "-c", INTERRUPTED_APPLY, source, tmp_path / "head.csv",
                             tmp_path / "out.csv", how], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[1])
    report = json.loads(result.stdout)
    assert report["outcome"] == "interrupted", result.stderr
    assert 0 < report["rows"] < rows // 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["head.csv", "in.csv"]  # no output, no temporary file


@pytest.mark.parametrize("method", ["zscore", "minmax", "robust"])
def test_negative_zero_in_a_column_of_integers_is_zero_on_both_paths(method):
    # polars reads "-0" in an integer column as Int64 0; the careful reader's text gives -0.0.
    fast, careful = both_ways(b"a,b\n1,-0\n2,-0\n", method=method)
    assert fast == careful
    assert '"data_min": -0.0' not in fast[0] and '"mean": -0.0' not in fast[0]
