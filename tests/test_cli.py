"""The command line through click's CliRunner: the contract, formats, and each listed error."""

import json

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from normcli import __version__
from normcli.cli import cli

CSV = "id,price,qty,city\n1,10.5,3,Oslo\n2,,4,Bergen\n3,12.25,NA,\"Ski, N\"\n4,9.0,7,Oslo\n"


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text(CSV)
    return path


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def test_fit_apply_invert_show(data, tmp_path):
    result = run("fit", data, "-m", "minmax", "-x", "id")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    params = tmp_path / "sales.normcli.json"
    assert [c["name"] for c in json.loads(params.read_text())["columns"]] == ["price", "qty"]
    result = run("apply", data, "-p", params)
    assert result.exit_code == 0
    # The same floats as MinMaxScaler().fit_transform gives, to the last bit.
    assert result.stdout.splitlines() == [
        "id,price,qty,city", "1,0.4615384615384617,0.0,Oslo", "2,,0.25,Bergen", '3,1.0000000000000004,,"Ski, N"',
        "4,0.0,1.0,Oslo"]
    (tmp_path / "scaled.csv").write_text(result.stdout)
    result = run("invert", tmp_path / "scaled.csv", "-p", params)
    assert result.stdout == CSV.replace("NA", "")
    result = run("show", params)
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["column", "method", "count", "nulls", "statistics", "scale", "offset"]
    assert lines[1].split() == ["price", "minmax", "3", "1", "data_min=9", "data_max=12.25", "0.307692", "-2.76923"]


def test_formats_and_stdin_stdout(data, tmp_path):
    params = tmp_path / "p.json"
    assert run("fit", "-", "-p", params, input=CSV).exit_code == 0
    from_file = run("apply", data, "-p", params).stdout
    assert run("apply", "-", "-p", params, input=CSV).stdout == from_file
    assert run("apply", data, "-p", params, "-o", tmp_path / "s.parquet").exit_code == 0
    assert pq.read_table(tmp_path / "s.parquet").column_names == ["id", "price", "qty", "city"]
    assert run("invert", tmp_path / "s.parquet", "-o", tmp_path / "b.tsv").exit_code == 0
    assert (tmp_path / "b.tsv").read_text() == CSV.replace("NA", "").replace(",", "\t").replace('"Ski\t N"', "Ski, N")
    tsv = run("apply", data, "-p", params, "--output-format", "tsv").stdout
    assert tsv.splitlines()[0] == "id\tprice\tqty\tcity"


def test_fit_sidecar_to_stdout_and_column_quoting(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('"a,b",c,d\n1,2,3\n4,5,6\n')
    result = run("fit", path, "-c", '"a,b",c', "-p", "-")
    assert result.exit_code == 0
    assert [c["name"] for c in json.loads(result.stdout)["columns"]] == ["a,b", "c"]


def test_options_reach_the_method(data):
    result = run("fit", data, "-m", "minmax", "--feature-range=-1,1", "-c", "price", "-p", "-")
    column = json.loads(result.stdout)["columns"][0]
    assert column["options"] == {"feature_range": [-1.0, 1.0]}
    result = run("fit", data, "-m", "robust", "--quantile-range=10,90", "-c", "price", "-p", "-")
    assert json.loads(result.stdout)["columns"][0]["options"] == {"quantile_range": [10.0, 90.0]}


def test_help_and_version():
    result = run("--version")
    assert result.stdout == f"normcli, version {__version__}\n"
    for command in ("fit", "apply", "invert", "show"):
        result = run(command, "-h")
        assert result.exit_code == 0 and f"normcli {command}" in result.stdout
        # The examples stand on lines of their own, as written.
        assert "\\b" not in result.stdout and f"\n    normcli {command} " in result.stdout


def test_the_sidecar_can_come_from_stdin(data, tmp_path):
    params = tmp_path / "p.json"
    assert run("fit", data, "-p", params).exit_code == 0
    from_file = run("apply", data, "-p", params)
    from_stdin = run("apply", data, "-p", "-", input=params.read_bytes())
    assert from_stdin.exit_code == 0 and from_stdin.stdout == from_file.stdout


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["fit", "{dir}/missing.csv"], 1, "Error: {dir}/missing.csv: no such file"),
        (["fit", "{dir}/empty.csv"], 1, "Error: {dir}/empty.csv: empty file: no header and no data"),
        (["fit", "{dir}/header.csv"], 1, "Error: {dir}/header.csv: no data rows to fit (the input has a header only)"),
        (["fit", "{dir}/ragged.csv"], 1, "Error: {dir}/ragged.csv: row 2: ragged row: 2 fields where the header has 3: '4,5'"),
        (["fit", "{dir}/sales.csv", "-c", "nope"], 1, "Error: {dir}/sales.csv: column 'nope': no such column"),
        (["fit", "{dir}/sales.csv", "-c", "city"], 1, "Error: {dir}/sales.csv: column 'city', row 1: not a number: 'Oslo'"),
        (["fit", "{dir}/sales.csv", "-m", "softmax"], 2, "Error: Invalid value for '-m' / '--method': 'softmax' is not one of"),
        (["apply", "{dir}/sales.csv", "-p", "{dir}/other.json"], 1,
         "Error: {dir}/sales.csv: column 'weight': column from the sidecar is not in the input"),
        (["apply", "{dir}/sales.csv", "-p", "{dir}/none.json"], 1, "Error: {dir}/none.json: sidecar not found"),
        (["apply", "{dir}/sales.csv"], 2, "Error: Missing option '-p' / '--params'."),
        (["apply", "-", "-p", "-"], 2, "Error: stdin ('-') can be read only once: give the data or the sidecar (-p) "
                                       "as a file"),
        (["apply", "{dir}/sales.csv", "-p", "{dir}/p.json", "-o", "{dir}/out.csv.gz"], 2,
         "Error: {dir}/out.csv.gz: a compressed file, and normcli neither reads nor writes compressed text: use a "
         "pipe (zcat data.csv.gz | normcli apply - ... | gzip > out.csv.gz)"),
        (["apply", "{dir}/sales.csv", "-p", "{dir}/corrupt.json"], 1, "Error: {dir}/corrupt.json: not a valid sidecar (corrupt JSON"),
        (["apply", "{dir}/sales.csv", "-p", "{dir}/newer.json"], 1,
         "Error: {dir}/newer.json: sidecar format version 99 is newer than this normcli"),
        (["apply", "{dir}/sales.csv", "-p", "{dir}/p.json", "-o", "{dir}/no/such/dir/o.csv"], 1,
         "Error: {dir}/no/such/dir/o.csv: output directory does not exist"),
        (["apply", "{dir}/sales.csv", "-p", "{dir}/p.json", "-o", "/proc/o.csv"], 1, "Error: /proc/o.csv: cannot write here"),
        (["fit", "{dir}/cr.csv", "-p", "-"], 1, "Error: {dir}/cr.csv: cannot read the header (new-line character seen"),
        (["fit", "{dir}/noeol.csv", "-p", "-"], 1,
         "Error: {dir}/noeol.csv: no data rows to fit (the input has a header only)"),
        (["invert", "{dir}/big.csv", "-p", "{dir}/maxabs.json", "-o", "{dir}/out.parquet"], 1,
         "Error: {dir}/big.csv: column 'n', row 1: inverts to 9.2276e+18, outside the range of int64: '1.003'"),
    ],
)
def test_errors(data, tmp_path, args, code, message):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("a,b\n")
    (tmp_path / "ragged.csv").write_text("a,b,c\n1,2,3\n4,5\n")
    run("fit", data, "-p", tmp_path / "p.json")
    document = json.loads((tmp_path / "p.json").read_text())
    document["columns"][0]["name"] = "weight"
    (tmp_path / "other.json").write_text(json.dumps(document))
    (tmp_path / "corrupt.json").write_text((tmp_path / "p.json").read_text()[:50])
    document["format_version"] = 99
    (tmp_path / "newer.json").write_text(json.dumps(document))
    (tmp_path / "cr.csv").write_text("x,y\r1,2\r")
    (tmp_path / "noeol.csv").write_text("a,b")
    (tmp_path / "fit_big.csv").write_text("n\n1\n9200000000000000000\n")  # exact in float64
    (tmp_path / "big.csv").write_text("n\n1.003\n")
    run("fit", tmp_path / "fit_big.csv", "-m", "maxabs", "-p", tmp_path / "maxabs.json")
    result = run(*[a.format(dir=tmp_path) for a in args])
    assert result.exit_code == code
    assert "Traceback" not in result.stderr and result.stdout == ""
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1
    assert error_lines[0].startswith(message.format(dir=tmp_path))
    assert not any(p.name.endswith((".tmp", "out.parquet")) for p in tmp_path.iterdir())


def test_header_only_without_newline_and_repeated_columns(tmp_path):
    (tmp_path / "h.csv").write_text("a,b")
    (tmp_path / "x.csv").write_text("a,b\n1,2\n3,5\n")
    result = run("fit", tmp_path / "x.csv", "-c", "a", "-c", "a,b", "-p", tmp_path / "p.json")
    assert result.exit_code == 0
    assert [c["name"] for c in json.loads((tmp_path / "p.json").read_text())["columns"]] == ["a", "b"]
    assert run("apply", tmp_path / "h.csv", "-p", tmp_path / "p.json").stdout == "a,b\n"


def test_delimiter_belongs_to_the_input_format(tmp_path):
    (tmp_path / "s.csv").write_text("a;b\n1;2\n5;6\n")
    run("fit", tmp_path / "s.csv", "-d", ";", "-p", tmp_path / "p.json")
    assert run("apply", tmp_path / "s.csv", "-d", ";", "-p", tmp_path / "p.json").stdout == "a;b\n-1.0;-1.0\n1.0;1.0\n"
    run("apply", tmp_path / "s.csv", "-d", ";", "-p", tmp_path / "p.json", "-o", tmp_path / "o.tsv")
    assert (tmp_path / "o.tsv").read_text() == "a\tb\n-1.0\t-1.0\n1.0\t1.0\n"


def test_binary_column_to_csv_is_refused_by_name(tmp_path):
    import pyarrow as pa

    pq.write_table(pa.table({"x": [1.0, 2.0], "b": [b"a", b"c"]}), tmp_path / "t.parquet")
    run("fit", tmp_path / "t.parquet", "-p", tmp_path / "p.json")
    result = run("apply", tmp_path / "t.parquet", "-p", tmp_path / "p.json", "-o", tmp_path / "o.csv")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {tmp_path}/t.parquet: column 'b': a column of type binary cannot be written as csv; write Parquet\n"


def test_output_through_a_symlink_and_to_a_device(data, tmp_path):
    import os
    import stat

    run("fit", data, "-p", tmp_path / "p.json")
    (tmp_path / "real.csv").write_text("keep\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "real.csv")
    assert run("apply", data, "-p", tmp_path / "p.json", "-o", tmp_path / "link.csv").exit_code == 0
    assert (tmp_path / "link.csv").is_symlink()
    assert (tmp_path / "real.csv").read_text() == run("apply", data, "-p", tmp_path / "p.json").stdout
    assert run("apply", data, "-p", tmp_path / "p.json", "-o", "/dev/null").exit_code == 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_fit_leaves_out_a_column_that_is_text_in_any_input(tmp_path):
    # Without -c, a column that is text in one input is not scaled, whichever input comes first.
    import pyarrow as pa

    (tmp_path / "a.csv").write_text("x,name\n1,a\n2,b\n")
    pq.write_table(pa.table({"x": pa.array([3, 4]), "name": ["c", "d"]}), tmp_path / "b.parquet")
    sidecars = []
    for order in (["a.csv", "b.parquet"], ["b.parquet", "a.csv"]):
        result = run("fit", *[tmp_path / name for name in order], "-p", "-")
        assert (result.exit_code, result.stderr) == (0, "")
        sidecars.append(json.loads(result.stdout))
    assert sidecars[0] == sidecars[1]
    assert [(c["name"], c["count"]) for c in sidecars[0]["columns"]] == [("x", 4)]
    result = run("fit", tmp_path / "a.csv", tmp_path / "b.parquet", "-c", "x,name", "-p", "-")
    assert (result.exit_code, result.stderr) == (1, "Error: " + str(tmp_path / "a.csv") +
                                                 ": column 'name', row 1: not a number: 'a'\n")


@pytest.mark.parametrize("args", [("apply", "{data}", "-p", "{params}", "-o", "/dev/full"),
                                  ("fit", "{data}", "-p", "/dev/full")])
def test_a_full_device_is_named_in_the_error(data, tmp_path, args):
    params = tmp_path / "p.json"
    assert run("fit", data, "-p", params).exit_code == 0
    result = run(*(a.format(data=data, params=params) for a in args))
    assert (result.exit_code, result.stderr) == (1, "Error: /dev/full: cannot write: No space left on device\n")


def test_robust_on_the_largest_floats_says_one_line(tmp_path):
    # The median of 1.7e308 and 1.5e308 overflows; numpy's warning must not reach stderr. A real
    # process: pytest would catch the warning before it got there.
    try:
        from proc_helpers import run_cli
    except ImportError:  # tests/ became a package
        from .proc_helpers import run_cli

    (tmp_path / "h.csv").write_text("x\n1.79769313486231e308\n1.5e308\n")
    result = run_cli("fit", tmp_path / "h.csv", "-m", "robust", "-p", tmp_path / "h.json")
    assert (result.returncode, result.stderr.decode()) == (
        1, f"Error: {tmp_path / 'h.csv'}: column 'x': a fitted statistic is not finite; the column cannot be scaled\n")


def test_a_signal_under_polars_code_is_raised_again_a_moment_later(monkeypatch):
    """polars runs some Python code from Rust (its own, or numpy's import), where an exception turns
    into another error: a signal that lands while polars is below the interrupted code is put off,
    and one that lands anywhere else unwinds at once."""
    import os
    import signal
    import threading
    import types

    import numpy
    import polars

    from normcli import cli as cli_module

    raised = threading.Event()
    monkeypatch.setattr(signal, "raise_signal", lambda signum: raised.set() if signum == signal.SIGINT else None)

    def stack(*paths):
        """Frames, innermost first: the last path is the outermost caller."""
        frame = None
        for path in reversed(paths):
            frame = types.SimpleNamespace(f_code=types.SimpleNamespace(co_filename=path), f_back=frame)
        return frame

    in_polars = os.path.join(os.path.dirname(polars.__file__), "datatypes", "classes.py")
    in_numpy, in_normcli = numpy.__file__, cli_module.__file__
    for deferred in (stack(in_polars, in_normcli), stack(in_numpy, "<frozen importlib._bootstrap>", in_polars, in_normcli)):
        raised.clear()
        assert cli_module._on_signal(signal.SIGINT, deferred) is None
        assert raised.wait(5)
    for at_once in (stack(in_normcli, in_polars), stack(in_numpy, in_normcli, in_polars), stack(in_numpy), None):
        with pytest.raises(KeyboardInterrupt):
            cli_module._on_signal(signal.SIGINT, at_once)
    with pytest.raises(SystemExit) as terminated:
        cli_module._on_signal(signal.SIGTERM, stack(os.path.dirname(polars.__file__) + "_like/x.py"))
    assert terminated.value.code == 128 + signal.SIGTERM


def test_show_reads_the_sidecar_a_parquet_file_carries(data, tmp_path):
    assert run("fit", data, "-p", tmp_path / "p.json").exit_code == 0
    assert run("apply", data, "-p", tmp_path / "p.json", "-o", tmp_path / "s.parquet").exit_code == 0
    from_file, from_parquet = run("show", tmp_path / "p.json"), run("show", tmp_path / "s.parquet")
    assert from_parquet.exit_code == 0 and from_parquet.stdout == from_file.stdout
    assert "zscore" in from_parquet.stdout


def test_output_matched_by_the_glob_it_reads_is_a_usage_error(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "ds").mkdir()
    for part in ("a", "b"):
        pq.write_table(pa.table({"x": [1.0, 2.0]}), tmp_path / "ds" / f"{part}.parquet")
    pattern = str(tmp_path / "ds" / "*.parquet")
    assert run("fit", pattern, "-p", tmp_path / "p.json").exit_code == 0
    result = run("apply", pattern, "-p", tmp_path / "p.json", "-o", tmp_path / "ds" / "new.parquet")
    assert result.exit_code == 2 and "would be written inside the data set" in result.stderr
    assert run("apply", pattern, "-p", tmp_path / "p.json", "-o", tmp_path / "ds" / "new.csv").exit_code == 0
    shown = run("show", tmp_path / "ds" / "a.parquet")
    assert (shown.exit_code, shown.stderr) == (1, f"Error: {tmp_path}/ds/a.parquet: no sidecar stored in this file "
                                                  "(apply stores one in the Parquet it writes)\n")


def test_small_mistakes_are_named(data, tmp_path):
    wide = run("fit", data, "-m", "minmax", "--feature-range=-1e308,1e308", "-p", tmp_path / "p.json")
    assert (wide.exit_code, wide.stderr.splitlines()[-1]) == (
        2, "Error: --feature-range spans more than the largest float (HI - LO overflows): '-1e308,1e308'")
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    assert run("fit", data, "-p", tmp_path / "p.json").exit_code == 0
    loop = run("apply", data, "-p", tmp_path / "p.json", "-o", tmp_path / "loop1")
    assert (loop.exit_code, loop.stderr) == (1, f"Error: {tmp_path}/loop1: cannot write: Too many levels of "
                                                "symbolic links\n")
    assert (tmp_path / "loop1").is_symlink()
    assert run("apply", data, "-p", tmp_path / "p.json", "-o", tmp_path / "s.parquet").exit_code == 0
    parquet = run("invert", "-", "-p", tmp_path / "p.json", input=(tmp_path / "s.parquet").read_bytes())
    assert (parquet.exit_code, parquet.stderr) == (1, "Error: <stdin>: this is Parquet, not text: give "
                                                      "--input-format parquet\n")


def test_fit_of_the_working_directory_names_the_sidecar_after_it(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "ds").mkdir()
    pq.write_table(pa.table({"x": [1.0, 2.0]}), tmp_path / "ds" / "a.parquet")
    monkeypatch.chdir(tmp_path / "ds")
    for name in (".", "./"):
        result = run("fit", name)
        assert (result.exit_code, result.stderr) == (0, "")
        assert (tmp_path / "ds.normcli.json").is_file()
        (tmp_path / "ds.normcli.json").unlink()
    assert sorted(p.name for p in (tmp_path / "ds").iterdir()) == ["a.parquet"]
