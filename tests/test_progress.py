"""The progress display with real subprocesses and a real terminal (a pty).

cli.py's Progress: shown only when stderr is a terminal and -q is not given; each redraw is
``\\r<rows> rows  <rate> rows/s `` at most five times a second; at the end the line is cleared
with ``\\r\\033[K``. It must never reach a pipe, and must not run into an error message."""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import signal
import subprocess
import threading
import time

import pytest

try:
    from proc_helpers import (BIG_ROWS, TIMEOUT, cli, cli_env, default_signals, kill_quietly, popen_cli,
                              read_until_closed, reference_run, shared_data)
except ImportError:  # tests/ became a package
    from .proc_helpers import (BIG_ROWS, TIMEOUT, cli, cli_env, default_signals, kill_quietly, popen_cli,
                               read_until_closed, reference_run, shared_data)

REDRAW = re.compile(rb"\r(\d{1,3}(?:,\d{3})*) rows  (\d{1,3}(?:,\d{3})*) rows/s ")
CLEAR = b"\r\x1b[K"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return shared_data(tmp_path_factory)


def _on_terminal(*args, stdin=subprocess.DEVNULL, stdout, interrupt_after: float | None = None
                 ) -> tuple[int, bytes, float]:
    """Run normcli with stderr on a pty (sending SIGINT after ``interrupt_after`` seconds, if
    given); returns (status, what the terminal got, seconds taken)."""
    master, slave = pty.openpty()
    try:
        started = time.monotonic()
        proc = popen_cli(*args, stdin=stdin, stdout=stdout, stderr=slave)
        os.close(slave)
        slave = None
        timer = threading.Timer(interrupt_after, proc.send_signal, [signal.SIGINT]) if interrupt_after else None
        if timer:
            timer.start()
        try:
            seen = read_until_closed(master, proc)
        finally:
            if timer:
                timer.cancel()
            kill_quietly(proc)
        took = time.monotonic() - started
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)
    # The terminal turns "\n" into "\r\n" (onlcr); undo that so the bytes are what normcli wrote.
    return proc.returncode, seen.replace(b"\r\n", b"\n"), took


def _redraws(text: bytes) -> list[tuple[int, int]]:
    return [(int(rows.replace(b",", b"")), int(rate.replace(b",", b""))) for rows, rate in REDRAW.findall(text)]


def test_progress_on_a_terminal(data, tmp_path):
    out = tmp_path / "out.csv"
    with open(out, "wb") as sink:
        status, seen, took = _on_terminal("apply", data.big_csv, "-p", data.params, "-o", out, stdout=sink)
    assert status == 0, seen
    # Only redraws, then the line cleared: nothing else, no newline.
    assert re.fullmatch(rb"(?:" + REDRAW.pattern + rb")+" + re.escape(CLEAR), seen), seen
    redraws = _redraws(seen)
    rows = [r for r, _ in redraws]
    assert rows == sorted(set(rows)), "row counts must only grow"
    assert 0 < rows[-1] <= BIG_ROWS
    assert all(rate > 0 for _, rate in redraws)
    assert len(redraws) <= 5 * took + 1, f"{len(redraws)} redraws in {took:.2f}s: more than 5 a second"
    assert out.read_bytes().count(b"\n") == BIG_ROWS + 1  # and the output is all there


def _feed(path, rows: int, tail: bytes = b"") -> subprocess.Popen:
    """A pipe with the header and first ``rows`` records of ``path``, then ``tail``."""
    return subprocess.Popen(
        ["bash", "-c", 'head -n "$1" "$0"; printf %s "$2"', str(path), str(rows + 1), tail.decode()],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )


def test_no_progress_on_a_terminal_with_quiet(data):
    # A million rows from stdin: well past the point where the display shows up without -q.
    feed = _feed(data.big_csv, 1_000_000)
    try:
        status, seen, _ = _on_terminal("apply", "-", "-p", data.params, "-q", stdin=feed.stdout,
                                       stdout=subprocess.DEVNULL)
        feed.stdout.close()
        assert feed.wait(timeout=TIMEOUT) == 0
    finally:
        kill_quietly(feed)
    assert (status, seen) == (0, b"")


def test_no_progress_in_a_pipe(data):
    # stderr is a pipe and there is no -q: the whole big file, and not a byte on stderr.
    result, content = reference_run(data, data.big_csv)
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    assert content.count(b"\n") == BIG_ROWS + 1


def test_error_after_progress_starts_on_a_clean_line(data):
    """A bad value some way into the data: the progress line is cleared (or ended) before the
    error message, so the message is not glued to "... rows/s " on the terminal."""
    rows = 1_000_000
    feed = _feed(data.big_csv, rows, b"1,2,oops,4,5\n")
    try:
        status, seen, _ = _on_terminal("apply", "-", "-p", data.params, stdin=feed.stdout,
                                       stdout=subprocess.DEVNULL)
        feed.stdout.close()
        feed.wait(timeout=TIMEOUT)
    finally:
        kill_quietly(feed)
    assert status == 1, seen
    message = f"Error: <stdin>: column 'c2', row {rows + 1}: not a number: 'oops'\n".encode()
    assert seen.endswith(message), seen
    before = seen[: -len(message)]
    assert _redraws(before), "expected progress before the error"
    assert before.endswith(CLEAR) or before.endswith(b"\n"), f"message glued to the progress line: {seen[-120:]!r}"


def test_interrupt_on_a_terminal_ends_the_line_first(data, tmp_path):
    """Ctrl-C: on a terminal the message starts a new line (the one the terminal echoed ^C on);
    into a pipe it is the one line (tests/test_faults.py)."""
    status, seen, _ = _on_terminal("apply", data.big_csv, "-p", data.params, "-o", tmp_path / "out.csv",
                                   stdout=subprocess.DEVNULL, interrupt_after=0.6)
    assert status == 130, seen
    assert seen.endswith(b"\nError: interrupted\n"), seen
    assert seen.count(b"Error") == 1


@pytest.mark.parametrize("command", ["apply", "fit", "apply -p -"])
def test_ctrl_c_while_waiting_on_a_terminal_ends_the_run_at_once(data, tmp_path, command):
    """Ctrl-C typed at a terminal that normcli reads (stdin is the terminal, and nothing more comes),
    for data or for the sidecar (-p -)."""
    output = ["-o", str(tmp_path / "out.csv")] if command.startswith("apply") else []
    arguments = ([command, "-", "-p", data.params] if command != "apply -p -"
                 else ["apply", data.small_csv, "-p", "-"])
    pid, terminal = pty.fork()
    if pid == 0:  # the child: a session of its own, with the pty as its terminal
        try:
            default_signals()
            argv = cli(*arguments, *output)
            os.execve(argv[0], argv, cli_env())
        finally:
            os._exit(127)
    try:
        os.write(terminal, b"x,y\n1,2\n")
        time.sleep(1.0)
        os.write(terminal, b"\x03")  # the terminal sends SIGINT to the process group
        deadline = time.monotonic() + 10
        status = None
        while status is None and time.monotonic() < deadline:
            done, code = os.waitpid(pid, os.WNOHANG)
            status = os.waitstatus_to_exitcode(code) if done else None
            with contextlib.suppress(OSError):
                if select.select([terminal], [], [], 0.1)[0]:
                    os.read(terminal, 1 << 16)
        assert status == 130
    finally:
        with contextlib.suppress(ChildProcessError, ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(terminal)
    assert not list(tmp_path.iterdir())  # no output, no temporary file
