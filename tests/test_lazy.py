"""Which heavy libraries each command loads: pandas never, pyarrow only where a path needs it."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest

from normcli.lazy import LazyModule, module

try:
    from proc_helpers import TIMEOUT, cli_env
except ImportError:  # run as a package
    from .proc_helpers import TIMEOUT, cli_env

HEAVY = ("pandas", "polars", "pyarrow", "numpy")

# Runs the command line in a fresh interpreter and reports the heavy modules it loaded.
PROBE = """
import json, sys
from normcli.cli import run
code = run(sys.argv[1:])
print(json.dumps({"code": code, "loaded": [name for name in %r if name in sys.modules]}))
""" % (HEAVY,)


def loaded_by(*args, cwd) -> list[str]:
    result = subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], cwd=cwd, env=cli_env(),
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT)
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["code"] == 0, result.stderr
    return report["loaded"]


@pytest.fixture
def plain(tmp_path):
    rows = "\n".join(f"{i},{i * 0.25},label{i % 3}" for i in range(200))
    (tmp_path / "data.csv").write_text("n,x,label\n" + rows + "\n")
    return tmp_path


def test_help_and_version_load_no_data_library(tmp_path):
    for args in (["--help"], ["--version"], ["apply", "--help"]):
        assert loaded_by(*args, cwd=tmp_path) == []


def test_a_plain_csv_file_is_fitted_and_scaled_without_pyarrow(plain):
    assert loaded_by("fit", "data.csv", "-p", "p.json", cwd=plain) == ["polars", "numpy"]
    # numpy is loaded by the check beside polars' reading, not before polars starts.
    assert loaded_by("apply", "data.csv", "-p", "p.json", "-o", "scaled.csv", cwd=plain) == ["polars", "numpy"]
    assert loaded_by("invert", "scaled.csv", "-p", "p.json", "-o", "back.csv", cwd=plain) == ["polars", "numpy"]
    assert (plain / "back.csv").read_text() == (plain / "data.csv").read_text()


def test_paths_that_need_pyarrow_load_it_and_none_loads_pandas(plain):
    assert loaded_by("fit", "data.csv", "-p", "p.json", cwd=plain) == ["polars", "numpy"]
    assert loaded_by("apply", "data.csv", "-p", "p.json", "-o", "scaled.parquet", cwd=plain) == [
        "polars", "pyarrow", "numpy"]
    # Parquet output needs pyarrow's schema, and so does fit of a Parquet file.
    assert loaded_by("apply", "scaled.parquet", "-p", "p.json", "-o", "again.parquet", cwd=plain) == [
        "polars", "pyarrow", "numpy"]
    assert loaded_by("fit", "scaled.parquet", "-p", "q.json", cwd=plain) == ["polars", "pyarrow", "numpy"]


def test_a_parquet_file_of_simple_columns_is_written_to_csv_by_polars_alone(plain):
    assert loaded_by("fit", "data.csv", "-p", "p.json", cwd=plain) == ["polars", "numpy"]
    assert loaded_by("apply", "data.csv", "-p", "p.json", "-o", "scaled.parquet", cwd=plain) == [
        "polars", "pyarrow", "numpy"]
    # The sidecar comes from the file's metadata, read by polars too.
    assert loaded_by("invert", "scaled.parquet", "-o", "back.csv", cwd=plain) == ["polars"]
    assert (plain / "back.csv").read_text() == (plain / "data.csv").read_text()
    assert loaded_by("apply", "scaled.parquet", "-p", "p.json", "-o", "twice.csv", cwd=plain) == ["polars"]


def test_a_lazy_module_imports_on_first_read_and_then_reads_as_the_module():
    name = "json.tool"  # a module no test imports
    sys.modules.pop(name, None)
    lazy = module(name)
    assert isinstance(lazy, LazyModule) and name not in sys.modules
    main = lazy.main
    assert name in sys.modules and main is sys.modules[name].main
    assert "main" in vars(lazy)  # copied: later reads do not go through __getattr__
    with pytest.raises(AttributeError):
        lazy.no_such_attribute


def test_a_loaded_module_is_given_as_it_is():
    assert module("json") is sys.modules["json"]
    assert not isinstance(module("json"), LazyModule) and isinstance(module("json"), types.ModuleType)
