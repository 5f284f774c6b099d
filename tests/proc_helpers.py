"""Helpers for the tests that run normcli as a real subprocess (faults, pipes, progress).

The command line is run as ``python -m normcli`` with this checkout first on ``PYTHONPATH``, so
the tests exercise the working tree in whatever virtualenv runs pytest. Test data is generated
once per session under pytest's temporary directory and shared by the three test modules; tests
must copy a shared file before changing it.
"""

from __future__ import annotations

import ctypes
import os
import re
import select
import signal
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 60  # seconds: no subprocess may outlive this

BIG_ROWS = 1_500_000  # apply takes a couple of seconds on this
MID_ROWS = 100_000  # ~5 MB of CSV: quick, and over 1 MB when written
COLUMNS = ["c0", "c1", "c2", "c3", "c4"]

ERROR_LINE = re.compile(r"Error: [^\n]+\n")


def cli_env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("NO_COLOR", None)
    env.update(extra)
    return env


def cli(*args) -> list[str]:
    """argv for running normcli with the current interpreter."""
    return [sys.executable, "-m", "normcli", *map(str, args)]


def run_cli(*args, timeout: float = TIMEOUT, **kwargs) -> subprocess.CompletedProcess:
    """Run normcli to completion; stdout and stderr are captured unless given."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(cli(*args), timeout=timeout, env=cli_env(), preexec_fn=default_signals, **kwargs)


def default_signals() -> None:
    """For a child process: SIGINT, SIGTERM and SIGHUP as in an interactive shell, even when the
    tests run as a background job (which ignores SIGINT) or under nohup (SIGHUP): a child would
    inherit that."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def popen_cli(*args, **kwargs) -> subprocess.Popen:
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(cli(*args), env=cli_env(), preexec_fn=default_signals, **kwargs)


def kill_quietly(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=TIMEOUT)


def assert_no_traceback(stderr: bytes | str) -> None:
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    assert "Traceback" not in text, text
    assert "Exception ignored" not in text, text


def assert_one_error_line(stderr: bytes, pattern: str | None = None) -> str:
    """stderr is exactly one line ``Error: ...`` (matching ``pattern`` if given); returns it."""
    assert_no_traceback(stderr)
    text = stderr.decode("utf-8", "replace")
    assert ERROR_LINE.fullmatch(text), f"stderr is not one 'Error:' line: {text!r}"
    if pattern is not None:
        assert re.fullmatch(pattern, text.rstrip("\n")), f"{text!r} does not match {pattern!r}"
    return text


def wait_for(predicate, timeout: float, proc: subprocess.Popen | None = None, interval: float = 0.002):
    """Poll ``predicate`` until it returns something true; fail on timeout or if ``proc`` ends first."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process ended (status {proc.returncode}) before the condition was met")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(interval)


def temp_files(directory: Path, target_name: str) -> list[Path]:
    """Temporary files atomic_file makes for ``target_name``: ``.<name>.<random>.tmp``."""
    return sorted(p for p in directory.iterdir() if p.name.startswith(f".{target_name}.") and p.name.endswith(".tmp"))


class CreationWatch:
    """Notices a new file in a directory the moment it is created (inotify), so that a signal can
    be sent while the process that created it is still returning from open(). Falls back to
    polling where inotify is missing. Start it before the process."""

    IN_CREATE = 0x100
    IN_MOVED_TO = 0x80

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.fd = -1
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
            if fd >= 0 and libc.inotify_add_watch(fd, os.fsencode(self.directory), self.IN_CREATE) >= 0:
                self.fd = fd
            elif fd >= 0:
                os.close(fd)
        except (OSError, AttributeError):
            self.fd = -1

    def wait(self, match, timeout: float, proc: subprocess.Popen | None = None) -> Path:
        """The first new file whose name satisfies ``match``."""
        if self.fd < 0:
            return wait_for(lambda: next((p for p in self.directory.iterdir() if match(p.name)), None),
                            timeout, proc)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("timed out waiting for a file to be created")
            ready, _, _ = select.select([self.fd], [], [], min(remaining, 0.1))
            if not ready:
                if proc is not None and proc.poll() is not None:
                    raise AssertionError(f"process ended (status {proc.returncode}) before creating the file")
                continue
            events = os.read(self.fd, 65536)
            offset = 0
            while offset < len(events):
                _, _, _, length = struct.unpack_from("iIII", events, offset)
                name = events[offset + 16: offset + 16 + length].rstrip(b"\0").decode()
                offset += 16 + length
                if match(name):
                    return self.directory / name

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_until_closed(fd: int, proc: subprocess.Popen, timeout: float = TIMEOUT) -> bytes:
    """Everything written to a pty master until every slave is closed (EIO) and ``proc`` ended."""
    chunks = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            kill_quietly(proc)
            raise AssertionError("timed out reading the terminal")
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.5))
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the slave side is closed
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            # Drain what is left without blocking.
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                break
    proc.wait(timeout=TIMEOUT)
    return b"".join(chunks)


# ---------------------------------------------------------------------------------------------
# Shared data


@dataclass(frozen=True)
class Data:
    dir: Path
    big_csv: Path  # BIG_ROWS x 5 float columns
    mid_csv: Path  # an id text column (some quoted, with commas) + 5 float columns with gaps
    mid_tsv: Path
    mid_parquet: Path
    small_csv: Path  # a few rows of mid
    params: Path  # zscore sidecar fitted on mid (columns c0..c4)


_CACHE: dict[Path, Data] = {}
_REFERENCES: dict[Path, tuple[subprocess.CompletedProcess, bytes]] = {}


def _write_big(path: Path, rows: int) -> None:
    rng = np.random.default_rng(20240601)
    frame = pl.DataFrame({name: rng.standard_normal(rows).round(6) for name in COLUMNS})
    frame.write_csv(path)


def _mid_frame(rows: int) -> pl.DataFrame:
    rng = np.random.default_rng(7)
    ids = [f"r{i}" if i % 97 else f"row {i}, \"quoted\"" for i in range(rows)]
    data = {"id": ids}
    for k, name in enumerate(COLUMNS):
        values = (rng.standard_normal(rows) * (k + 1) * 10 + k).round(4)
        gaps = rng.random(rows) < 0.01
        data[name] = pl.Series(name, np.where(gaps, np.nan, values)).fill_nan(None)
    return pl.DataFrame(data)


def shared_data(tmp_path_factory) -> Data:
    base = tmp_path_factory.getbasetemp()
    if base in _CACHE:
        return _CACHE[base]
    directory = tmp_path_factory.mktemp("procdata")
    data = Data(
        dir=directory,
        big_csv=directory / "big.csv",
        mid_csv=directory / "mid.csv",
        mid_tsv=directory / "mid.tsv",
        mid_parquet=directory / "mid.parquet",
        small_csv=directory / "small.csv",
        params=directory / "params.json",
    )
    _write_big(data.big_csv, BIG_ROWS)
    mid = _mid_frame(MID_ROWS)
    mid.write_csv(data.mid_csv)
    mid.write_csv(data.mid_tsv, separator="\t")
    mid.write_parquet(data.mid_parquet)
    mid.head(20).write_csv(data.small_csv)
    result = run_cli("fit", data.mid_csv, "-p", data.params, "-q")
    assert result.returncode == 0, result.stderr
    _CACHE[base] = data
    return data


def reference_run(data: Data, source: Path) -> tuple[subprocess.CompletedProcess, bytes]:
    """``normcli apply SOURCE -p params -o FILE`` (same format as SOURCE) with stderr a pipe and
    no -q, run once per session: (the finished process, what FILE then held)."""
    if source not in _REFERENCES:
        out = data.dir / f"reference-apply-{source.name}"
        result = run_cli("apply", source, "-p", data.params, "-o", out)
        content = out.read_bytes() if out.exists() else b""
        out.unlink(missing_ok=True)
        _REFERENCES[source] = (result, content)
    return _REFERENCES[source]


def reference_apply(data: Data, source: Path) -> bytes:
    """What ``normcli apply SOURCE -p params -o FILE`` writes to FILE."""
    result, content = reference_run(data, source)
    assert (result.returncode, result.stderr) == (0, b""), result.stderr
    return content
