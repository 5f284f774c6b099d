"""The README's examples, run as written: the output it shows is the output normcli gives.

Console blocks are run a command at a time with bash, in a scratch copy of sample_data/, with
``normcli`` on PATH meaning this checkout; each command's stdout and stderr together must be the
lines the README shows under it. The sidecar example and the library example are checked too.
"""

import json
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from proc_helpers import REPO, TIMEOUT, cli_env

README = (REPO / "README.md").read_text(encoding="utf-8")
# The command the README's sidecar example is the output of (shown there with short lists on one line).
SIDECAR_EXAMPLE = "normcli fit sample_data/weather.csv -m minmax --feature-range=-1,1 -c temp_c -p -"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, re.S | re.M)


def _commands(block: str) -> list[tuple[str, str]]:
    """(command, the output shown under it) for each ``$ `` line of a console block."""
    commands: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:], []))
        elif commands:
            commands[-1][1].append(line)
    return [(command, "\n".join(shown).strip("\n")) for command, shown in commands]


@pytest.fixture
def workdir(tmp_path):
    """A scratch directory holding sample_data/ and a ``normcli`` that runs this checkout."""
    shutil.copytree(REPO / "sample_data", tmp_path / "sample_data")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "normcli"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m normcli "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    env = cli_env()
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    return tmp_path, env


def _bash(command: str, cwd: Path, env: dict, status: int = 0) -> subprocess.CompletedProcess:
    # `(exit N)` first, so that `echo $?` shows the status of the command before it.
    return subprocess.run(["bash", "-c", f"(exit {status}); {command}"], cwd=cwd, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT)


def test_the_readme_has_console_examples():
    assert sum(len(_commands(block)) for block in _blocks("console")) >= 5


@pytest.mark.parametrize("index", range(len(_blocks("console"))))
def test_console_examples_show_real_output(workdir, index):
    cwd, env = workdir
    status = 0
    for command, shown in _commands(_blocks("console")[index]):
        result = _bash(command, cwd, env, status)
        assert result.stdout.strip("\n") == shown, f"$ {command}"
        status = result.returncode


def test_sidecar_example_is_what_fit_writes(workdir):
    cwd, env = workdir
    assert SIDECAR_EXAMPLE in README
    (shown,) = _blocks("json")
    result = _bash(SIDECAR_EXAMPLE, cwd, env)
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout) == json.loads(shown)
    # Same keys in the same order: the README shows the file's layout.
    assert result.stdout.replace(" ", "").replace("\n", "") == shown.replace(" ", "").replace("\n", "")


def test_library_example_runs(workdir):
    cwd, env = workdir
    (example,) = _blocks("python")
    result = subprocess.run([sys.executable, "-c", example], cwd=cwd, env=env, text=True,
                            capture_output=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert (cwd / "weather.normcli.json").is_file()
    assert (cwd / "scaled.parquet").is_file()
