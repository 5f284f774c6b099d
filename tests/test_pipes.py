"""Pipes with real subprocesses: a reader that closes early (``| head``), stdin that cannot seek
(a pipe from ``cat``), and the rule that a run whose output did not make it never exits 0."""

from __future__ import annotations

import os
import shlex
import subprocess
import time

import pytest

try:
    from proc_helpers import (TIMEOUT, cli, cli_env, kill_quietly, popen_cli, reference_apply, run_cli,
                              shared_data)
except ImportError:  # tests/ became a package
    from .proc_helpers import (TIMEOUT, cli, cli_env, kill_quietly, popen_cli, reference_apply, run_cli,
                               shared_data)

EXIT_BROKEN_PIPE = 141  # documented in cli.py / errors.py: stdout closed early by the reader


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return shared_data(tmp_path_factory)


@pytest.fixture(scope="module")
def big_head(data):
    """The first five lines apply writes for the big file."""
    return reference_apply(data, data.big_csv).splitlines(keepends=True)[:5]


# ---------------------------------------------------------------------------------------------
# A reader that closes early


def test_head_closing_the_pipe_ends_the_run_at_once_and_quietly(data, big_head):
    proc = popen_cli("apply", data.big_csv, "-p", data.params, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        lines = [proc.stdout.readline() for _ in range(5)]
        closed = time.monotonic()
        proc.stdout.close()
        stderr = proc.stderr.read()
        proc.wait(timeout=TIMEOUT)
        took = time.monotonic() - closed
    finally:
        kill_quietly(proc)
    assert lines == big_head
    assert proc.returncode == EXIT_BROKEN_PIPE
    assert stderr == b""
    # The whole run takes seconds; once the reader is gone the next write fails and the run ends.
    assert took < 1.5, f"ran on for {took:.2f}s after the reader closed the pipe"


def test_head_in_a_shell_pipeline(data, big_head):
    command = (f"set -o pipefail; {shlex.join(cli('apply', data.big_csv, '-p', data.params))} | head -n 1")
    result = subprocess.run(["bash", "-c", command], capture_output=True, timeout=TIMEOUT, env=cli_env(),
                            stdin=subprocess.DEVNULL)
    assert result.returncode == EXIT_BROKEN_PIPE
    assert result.stdout == big_head[0]
    assert result.stderr == b""


def _closed_pipe():
    """A pipe whose reading end is already closed: every write to it fails with EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    return write_end


@pytest.mark.parametrize("args", [
    ("apply", "{small}", "-p", "{params}"),
    ("apply", "{small}", "-p", "{params}", "--output-format", "parquet"),
    ("invert", "{small}", "-p", "{params}"),
    ("fit", "{small}", "-p", "-"),
    ("show", "{params}"),
], ids=["apply-csv", "apply-parquet", "invert-csv", "fit-sidecar", "show"])
def test_stdout_already_closed_exits_141_quietly(data, args):
    argv = [a.format(small=data.small_csv, params=data.params) for a in args]
    write_end = _closed_pipe()
    try:
        result = run_cli(*argv, stdout=write_end)
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (EXIT_BROKEN_PIPE, b"")


@pytest.mark.parametrize("args", [
    ("fit", "-", "-p", "{tmp}/s.json"),
    ("apply", "-", "-p", "{params}", "--input-format", "parquet", "-o", "{tmp}/out.parquet"),
], ids=["fit-csv", "apply-parquet"])
def test_stdin_closed_is_one_error_line(data, tmp_path, args):
    # Started with file descriptor 0 closed (``<&-`` in a shell): Python has no sys.stdin then.
    argv = [a.format(tmp=tmp_path, params=data.params) for a in args]
    result = subprocess.run(cli(*argv), env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            timeout=TIMEOUT, preexec_fn=lambda: os.close(0))
    assert (result.returncode, result.stderr) == (1, b"Error: <stdin>: cannot read: standard input is closed\n")
    assert list(tmp_path.iterdir()) == []
    # A file is read as ever.
    fitted = subprocess.run(cli("fit", data.small_csv, "-p", tmp_path / "s.json"), env=cli_env(),
                            stderr=subprocess.PIPE, timeout=TIMEOUT, preexec_fn=lambda: os.close(0))
    assert (fitted.returncode, fitted.stderr) == (0, b"")


def test_stdout_closed_at_start_is_one_error_line_or_none_when_unused(data, tmp_path):
    # Started with file descriptor 1 closed (``>&-``): Python has no sys.stdout then.
    def closed_stdout(*args):
        return subprocess.run(cli(*args), env=cli_env(), stderr=subprocess.PIPE, timeout=TIMEOUT,
                              preexec_fn=lambda: os.close(1))

    for args in [("apply", data.small_csv, "-p", data.params), ("fit", data.small_csv, "-p", "-"),
                 ("show", data.params)]:
        result = closed_stdout(*args)
        assert (result.returncode, result.stderr) == (1, b"Error: <stdout>: cannot write: standard output is closed\n")
    fitted = closed_stdout("fit", data.small_csv, "-p", tmp_path / "s.json")  # stdout is not needed
    assert (fitted.returncode, fitted.stderr) == (0, b"")
    assert (tmp_path / "s.json").is_file()


@pytest.mark.parametrize("target", ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"])
def test_a_descriptor_path_whose_reader_went_away_exits_141_quietly(data, target):
    # polars, writing, reports the closed pipe as a plain OSError: still the reader's doing.
    command = f"set -o pipefail; {shlex.join(cli('apply', data.big_csv, '-p', data.params, '-o', target))} | head -c 10"
    result = subprocess.run(["bash", "-c", command], capture_output=True, timeout=TIMEOUT, env=cli_env(),
                            stdin=subprocess.DEVNULL)
    assert (result.returncode, result.stderr, len(result.stdout)) == (EXIT_BROKEN_PIPE, b"", 10)


@pytest.mark.parametrize("output_format,keep", [("csv", 10 << 20), ("parquet", 4)],
                         ids=["csv-after-10MB", "parquet-after-magic"])
def test_reader_gone_mid_stream_is_never_success(data, output_format, keep):
    """The reader takes ``keep`` bytes and leaves: the output did not make it, so no exit 0."""
    proc = popen_cli("apply", data.big_csv, "-p", data.params, "--output-format", output_format,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        got = proc.stdout.read(keep)
        proc.stdout.close()
        stderr = proc.stderr.read()
        proc.wait(timeout=TIMEOUT)
    finally:
        kill_quietly(proc)
    assert len(got) == keep
    if output_format == "parquet":
        assert got == b"PAR1"
    assert (proc.returncode, stderr) == (EXIT_BROKEN_PIPE, b"")


# ---------------------------------------------------------------------------------------------
# stdin that cannot seek: a pipe from cat


def _through_cat(path, *args, tmp_path) -> tuple[int, bytes, bytes]:
    """``cat path | normcli args`` with stdout to a file; returns (status, stdout, stderr)."""
    out = tmp_path / "stdout.bin"
    cat = subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        with open(out, "wb") as sink:
            proc = popen_cli(*args, stdin=cat.stdout, stdout=sink, stderr=subprocess.PIPE)
            cat.stdout.close()
            try:
                _, stderr = proc.communicate(timeout=TIMEOUT)
            finally:
                kill_quietly(proc)
        assert cat.wait(timeout=TIMEOUT) == 0
    finally:
        kill_quietly(cat)
    return proc.returncode, out.read_bytes(), stderr


@pytest.mark.parametrize("source,extra", [
    ("big_csv", ()),
    ("mid_tsv", ("--input-format", "tsv")),
    ("mid_parquet", ("--input-format", "parquet")),
], ids=["csv", "tsv", "parquet"])
def test_apply_from_a_stdin_pipe_equals_apply_from_the_file(data, tmp_path, source, extra):
    path = getattr(data, source)
    status, stdout, stderr = _through_cat(path, "apply", "-", "-p", data.params, *extra, tmp_path=tmp_path)
    assert (status, stderr) == (0, b"")
    assert stdout == reference_apply(data, path)


@pytest.mark.parametrize("source,extra", [
    ("mid_csv", ()),
    ("mid_tsv", ("--input-format", "tsv")),
    ("mid_parquet", ("--input-format", "parquet")),
], ids=["csv", "tsv", "parquet"])
def test_fit_from_a_stdin_pipe_equals_fit_from_the_file(data, tmp_path, source, extra):
    path = getattr(data, source)
    reference = tmp_path / "reference.json"
    result = run_cli("fit", path, "-m", "robust", "-p", reference)
    assert (result.returncode, result.stderr) == (0, b"")

    status, stdout, stderr = _through_cat(path, "fit", "-", "-m", "robust", "-p", "-", *extra, tmp_path=tmp_path)
    assert (status, stderr) == (0, b"")
    assert stdout == reference.read_bytes()


@pytest.mark.parametrize("source", ["big_csv", "mid_parquet"])
def test_stdout_redirected_to_a_file_gets_the_output(data, tmp_path, source):
    # Redirected stdout is a regular file named "<stdout>": the output must go into it, and no file
    # of that name may appear in the working directory.
    path = getattr(data, source)
    target = tmp_path / "out.csv"
    with open(target, "wb") as handle:
        result = run_cli("apply", path, "-p", data.params, "--output-format", "csv", stdout=handle, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, b"")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    run_cli("apply", path, "-p", data.params, "-o", tmp_path / "file.csv")
    assert target.read_bytes() == (tmp_path / "file.csv").read_bytes()


@pytest.mark.parametrize("command", ["apply", "fit"])
def test_dev_stdout_appended_to_a_file_keeps_what_was_there(data, tmp_path, command):
    # `-o /dev/stdout >> log`: the open descriptor is written, not the file replaced or truncated.
    log = tmp_path / "log.txt"
    log.write_bytes(b"# earlier lines\n")
    args = ("-o", "/dev/stdout") if command == "apply" else ("-p", "/dev/stdout")
    with open(log, "ab") as handle:
        result = run_cli(command, data.small_csv, *(("-p", data.params) if command == "apply" else ()), *args,
                         stdout=handle, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, b"")
    expected = run_cli(command, data.small_csv, *(("-p", data.params) if command == "apply" else ()),
                       *(("-o", "-") if command == "apply" else ("-p", "-"))).stdout
    assert log.read_bytes() == b"# earlier lines\n" + expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.txt"]


@pytest.mark.parametrize("source", ["big_csv", "mid_parquet"])
def test_a_fifo_as_output_is_opened_once_and_gets_everything(data, tmp_path, source):
    # Opened and closed once before the real writing, a FIFO's reader saw its end and went away.
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    expected = run_cli("apply", getattr(data, source), "-p", data.params, "--output-format", "csv").stdout
    for attempt in range(3):
        got = tmp_path / f"got{attempt}.csv"
        with open(got, "wb") as sink:
            reader = subprocess.Popen(["cat", str(fifo)], stdout=sink)
        try:
            result = run_cli("apply", getattr(data, source), "-p", data.params, "-o", fifo, "--output-format", "csv")
            reader.wait(timeout=TIMEOUT)
        finally:
            kill_quietly(reader)
        assert (result.returncode, result.stderr) == (0, b"")
        assert got.read_bytes() == expected


# ---------------------------------------------------------------------------------------------
# A terminal on stdout


@pytest.mark.parametrize("source, args, refused", [
    ("mid_parquet", (), True),  # stdout takes the input's format
    ("small_csv", ("--output-format", "parquet"), True),
    ("small_csv", (), False),  # CSV is text: it may go to the screen
])
def test_parquet_is_not_written_to_a_terminal(data, source, args, refused):
    import pty

    master, slave = pty.openpty()
    try:
        result = run_cli("apply", getattr(data, source), "-p", data.params, *args, stdout=slave)
        os.close(slave)
        slave = None
        os.set_blocking(master, False)
        try:
            shown = os.read(master, 1 << 16)
        except (BlockingIOError, OSError):  # nothing written (Linux gives EIO once the slave is closed)
            shown = b""
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)
    if refused:
        assert result.returncode == 2
        assert result.stderr == (b"Error: stdout is a terminal and Parquet is binary: give -o FILE, pipe the output, "
                                 b"or use --output-format csv\n")
        assert shown == b""
    else:
        assert (result.returncode, result.stderr) == (0, b"")
        assert shown.startswith(b"id,c0,")


@pytest.mark.parametrize("args", [("--version",), ("--help",), ("apply", "{small}", "-p", "{params}")])
def test_a_full_stdout_is_one_error_line(data, args):
    with open("/dev/full", "wb") as full:
        result = run_cli(*(str(a).format(small=data.small_csv, params=data.params) for a in args), stdout=full)
    assert (result.returncode, result.stderr) == (1, b"Error: <stdout>: cannot write: No space left on device\n")


@pytest.mark.parametrize("writer", ["polars", "pyarrow"])
def test_a_failed_parquet_run_to_a_pipe_writes_no_footer(tmp_path, writer):
    """A Parquet writer that fails closes its file with a footer all the same; to a pipe, that made
    a valid table of the rows before the failure (none here), with only the exit status to tell."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    label = pa.array(["a", "b", "c"])
    if writer == "pyarrow":  # polars does not write dictionary columns as pyarrow does
        label = label.dictionary_encode()
    pq.write_table(pa.table({"x": pa.array([1, 2, 4]), "label": label}), tmp_path / "fit.parquet")
    pq.write_table(pa.table({"x": pa.array([0.0, 0.5, 1.0]), "label": label}), tmp_path / "scaled.parquet")
    assert run_cli("fit", tmp_path / "fit.parquet", "-p", tmp_path / "p.json").returncode == 0
    result = run_cli("invert", tmp_path / "scaled.parquet", "-p", tmp_path / "p.json", "--output-format", "parquet",
                     stdout=subprocess.PIPE)
    assert result.returncode == 1 and b"not a whole number" in result.stderr
    assert result.stdout == b""
