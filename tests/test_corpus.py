"""The bad-input corpus: one table of unusual inputs, the command run on each, and its exact outcome.

Files live in tests/corpus/ (written once by tests/corpus/make_corpus.py); docs/bad-inputs.md is the
same table for users. Every case checks the exit status, the whole of stderr (an exact text, or a
regex only where a message holds a temporary path or another library's wording), that no
traceback and no raw control character reaches stderr, and that a failed run leaves no output
file and no temporary file behind and does not touch a file that was already there. Successful
cases check the output values exactly.

Commands run through click's CliRunner, driving ``normcli.cli.run`` (what the console script's
entry point runs) rather than the ``cli`` group: ``run`` is where an unexpected exception becomes the
one-line ``Error: unexpected failure ...`` and exit 1, which CliRunner on ``cli`` would instead
swallow into ``result.exception`` with an empty stderr. Cases marked ``process=True`` run as a real
``python -m normcli`` process, several times: a crash of the process itself (a native thread
aborting at exit, "terminate called without an active exception", exit status 134, seen some of
the time after a ragged row) is only visible from outside.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "corpus"
DOC = REPO / "docs" / "bad-inputs.md"
TIMEOUT = 120

# Scaling x = 1, 2, 3 with tests/corpus/sidecar_good.json (zscore: mean 2, std sqrt(2/3)).
LO, MID, HI = "-1.224744871391589", "0.0", "1.224744871391589"
X123 = f"x\n{LO}\n{MID}\n{HI}\n"
ID_X123 = f"id,x\n1,{LO}\n2,{MID}\n3,{HI}\n"
BIG_SIDECAR_BYTES = (32 << 20) + 4096


@dataclass(frozen=True)
class Case:
    name: str
    steps: tuple[tuple[str, ...], ...]  # argv after 'normcli'; every step but the last must succeed quietly
    code: int
    stderr: str | re.Pattern = ""  # the whole of stderr: exact text, or a pattern for fullmatch
    check: Callable[[Path, bytes], None] | None = None  # (tmp, stdout) for a successful last step
    setup: Callable[[Path], None] | None = None
    stdin: bytes | None = None
    doc: tuple[str, str] = ("", "")  # (input, what normcli does) for docs/bad-inputs.md
    process: bool = False  # run as a real process (python -m normcli), not in-process
    repeat: int = 1  # runs of the last step, for failures that show only some of the time


def err(text: str) -> str:
    return f"Error: {text}\n"


def usage(command: str, text: str) -> str:
    return f"Usage: normcli {command}\nTry 'normcli {command.split()[0]} --help' for help.\n\nError: {text}\n"


# ---------------------------------------------------------------------------------------------
# Checks on successful outputs


def stdout_is(expected: str):
    def check(tmp: Path, stdout: bytes) -> None:
        assert stdout.decode("utf-8") == expected

    return check


def file_is(name: str, expected: str):
    def check(tmp: Path, stdout: bytes) -> None:
        assert stdout == b""
        assert (tmp / name).read_bytes().decode("utf-8") == expected

    return check


def sidecar_of(tmp: Path, name: str = "s.json") -> dict:
    return json.loads((tmp / name).read_text("utf-8"))


def sidecar_columns(expected: list[str]):
    def check(tmp: Path, stdout: bytes) -> None:
        assert stdout == b""
        assert [c["name"] for c in sidecar_of(tmp)["columns"]] == expected

    return check


def both(*checks):
    def check(tmp: Path, stdout: bytes) -> None:
        for one in checks:
            one(tmp, stdout)

    return check


def sidecar_column_has(name: str, **expected):
    def check(tmp: Path, stdout: bytes) -> None:
        column = next(c for c in sidecar_of(tmp)["columns"] if c["name"] == name)
        got = {k: column[k] if k in column else column["statistics"].get(k, column["parameters"].get(k))
               for k in expected}
        assert got == expected

    return check


def long_field_passes_through(tmp: Path, stdout: bytes) -> None:
    assert stdout == b""
    text = (tmp / "out.csv").read_text("utf-8")
    assert text == f"id,text,x\n1,{'a' * (1 << 20)},{LO}\n2,short,{MID}\n3,b,{HI}\n"


def ints_then_float_round_trip(tmp: Path, stdout: bytes) -> None:
    column = sidecar_of(tmp)["columns"][0]
    assert (column["name"], column["dtype"], column["count"], column["nulls"], column["decimals"]) == (
        "x", "double", 20001, 0, 1)
    with open(tmp / "back.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["x"]
    assert [float(r[0]) for r in rows[1:]] == [float(i) for i in range(20000)] + [0.5]


def parquet_passes_through(source: str, scaled: list[float]):
    def check(tmp: Path, stdout: bytes) -> None:
        before = pq.read_table(CORPUS / source)
        after = pq.read_table(tmp / "out.parquet")
        assert after.column_names == before.column_names
        assert after.column("x").to_pylist() == scaled
        for name in before.column_names:
            if name != "x":
                assert after.schema.field(name).type == before.schema.field(name).type, name
                assert after.column(name).to_pylist() == before.column(name).to_pylist(), name

    return check


# ---------------------------------------------------------------------------------------------
# Set-ups


def write_sidecar_with_bom(tmp: Path) -> None:
    """sidecar_good.json as an editor that starts UTF-8 files with a byte order mark saves it."""
    (tmp / "bom.json").write_bytes(b"\xef\xbb\xbf" + (CORPUS / "sidecar_good.json").read_bytes())


def write_sidecar_with_a_repeated_key(tmp: Path) -> None:
    """sidecar_good.json with a second "mean" in its parameters, as a hand edit might leave it."""
    text = (CORPUS / "sidecar_good.json").read_text("utf-8")
    parameters = text.index('"parameters": {') + len('"parameters": {')
    (tmp / "twice.json").write_text(text[:parameters] + '"mean": 100.0, ' + text[parameters:], "utf-8")


def copy_x_and_sidecar(tmp: Path) -> None:
    (tmp / "d.csv").write_bytes((CORPUS / "x.csv").read_bytes())
    (tmp / "p.json").write_bytes((CORPUS / "sidecar_good.json").read_bytes())


def make_data_set(tmp: Path) -> None:
    """A Parquet data set: a directory of two files, and the sidecar fitted on x.csv beside it."""
    (tmp / "ds").mkdir()
    for part in ("a", "b"):
        (tmp / "ds" / f"{part}.parquet").write_bytes((CORPUS / "good.parquet").read_bytes())
    copy_x_and_sidecar(tmp)


def write_enormous_sidecar(tmp: Path) -> None:
    """A valid sidecar padded with whitespace past the 32 MiB cap: only the size refuses it."""
    text = (CORPUS / "sidecar_good.json").read_text("utf-8").rstrip()
    assert text.endswith("}")
    padding = BIG_SIDECAR_BYTES - len(text.encode("utf-8"))
    (tmp / "big.normcli.json").write_bytes((text[:-1] + " " * padding + "}").encode("utf-8"))


def existing_target(tmp: Path) -> None:
    (tmp / "out.csv").write_bytes(b"keep me\n")


def a_file_where_a_directory_should_be(tmp: Path) -> None:
    (tmp / "file.txt").write_bytes(b"not a directory\n")


def parquet_data_set(second: dict) -> Callable[[Path], None]:
    """A directory {tmp}/ds of two Parquet files: a.parquet (x = 1, 2, 3) and b.parquet, ``second``."""
    def setup(tmp: Path) -> None:
        import pyarrow as pa

        (tmp / "ds").mkdir()
        pq.write_table(pa.table({"x": [1.0, 2.0, 3.0]}), tmp / "ds" / "a.parquet")
        pq.write_table(pa.table(second), tmp / "ds" / "b.parquet")
    return setup


# ---------------------------------------------------------------------------------------------
# The table. Paths: corpus files by name (the commands run in tests/corpus); {tmp} is the case's
# own temporary directory; an error case writes to {tmp}/out.* so that "no output" can be checked.

G = "sidecar_good.json"
OUT = "{tmp}/out.csv"
S = "{tmp}/s.json"

CASES = [
    # --- the control: the good sidecar on a good file -----------------------------------------
    Case("baseline_good_input", (("apply", "x.csv", "-p", G),), 0, check=stdout_is(X123),
         doc=("a plain CSV with x = 1, 2, 3 and its sidecar", "scales it (the other cases vary one thing)")),
    # --- file shape ----------------------------------------------------------------------------
    Case("empty_file", (("fit", "empty.csv", "-p", S),), 1,
         err("empty.csv: empty file: no header and no data"),
         doc=("empty file (0 bytes)", "refused")),
    Case("header_only_fit", (("fit", "header_only.csv", "-p", S),), 1,
         err("header_only.csv: no data rows to fit (the input has a header only)"),
         doc=("header line only", "fit refuses: nothing to fit")),
    Case("header_only_apply", (("apply", "header_only.csv", "-p", G, "-o", OUT),), 0,
         check=file_is("out.csv", "id,x\n"),
         doc=("header line only", "apply writes the header only")),
    Case("utf8_bom_fit", (("fit", "bom.csv", "-p", S),), 0, check=sidecar_columns(["id", "x"]),
         doc=("UTF-8 BOM before the header", "BOM skipped: the first column is `id`, not `\\ufeffid`")),
    Case("utf8_bom_apply", (("apply", "bom.csv", "-p", G),), 0, check=stdout_is(ID_X123),
         doc=("UTF-8 BOM before the header", "apply reads it; output is UTF-8 without a BOM")),
    Case("utf8_double_bom", (("fit", "double_bom.csv", "-p", S), ("apply", "double_bom.csv", "-p", S)), 0,
         check=both(sidecar_column_has("id", mean=2.0), stdout_is(f"id,x\n{LO},{LO}\n{MID},{MID}\n{HI},{HI}\n")),
         doc=("two UTF-8 BOMs before the header", "both skipped: the first column is `id`")),
    Case("crlf_line_endings", (("apply", "crlf.csv", "-p", G),), 0, check=stdout_is(ID_X123),
         doc=("CRLF line endings", "read as records; output has LF endings, no stray `\\r` in values")),
    Case("latin1_default_encoding_fit", (("fit", "latin1.csv", "-p", S),), 1,
         err("latin1.csv: column 'name', row 1: not valid utf-8 text (see --encoding): 'caf\\xe9'"),
         doc=("Latin-1 bytes in a data row, default encoding", "refused, naming column, row and the bytes")),
    Case("latin1_default_encoding_apply", (("apply", "latin1.csv", "-p", G, "-o", OUT),), 1,
         err("latin1.csv: column 'name', row 1: not valid utf-8 text (see --encoding): 'caf\\xe9'"),
         doc=("Latin-1 bytes in a data row, default encoding", "apply refuses; no output file")),
    Case("latin1_default_encoding_stdin", (("apply", "-", "-p", G, "-o", OUT),), 1,
         err("<stdin>: column 'name', row 2: not valid utf-8 text (see --encoding): 'na\\xefve'"),
         stdin="name,x\nplain,1\nna\u00efve,2\ncaf\u00e9,3\n".encode("latin-1"),
         doc=("the same, read from stdin", "refused, naming column, row and the bytes")),
    Case("latin1_with_encoding_ascii", (("fit", "latin1.csv", "-e", "ascii", "-p", S),), 1,
         err("latin1.csv: column 'name', row 1: not valid ascii text (see --encoding): 'caf\\xe9'"),
         doc=("Latin-1 bytes with `-e ascii`", "refused, naming column, row and the bytes")),
    Case("latin1_with_encoding_option", (("apply", "latin1.csv", "-e", "latin-1", "-p", G),), 0,
         check=stdout_is(f"name,x\ncaf\u00e9,{LO}\nna\u00efve,{MID}\nplain,{HI}\n"),
         doc=("Latin-1 file with `-e latin-1`", "works; output is UTF-8")),
    Case("latin1_header", (("fit", "latin1_header.csv", "-p", S),), 1,
         err("latin1_header.csv: the header is not valid utf-8 text (see --encoding): 'caf\\xe9'"),
         doc=("Latin-1 bytes in the header, default encoding", "refused, naming the header field")),
    Case("latin1_header_cr_only", (("fit", "-", "-p", S),), 1,
         err("<stdin>: the header is not valid utf-8 text (see --encoding): 'name,x\\rcaf\\xe9,1\\rb,2\\r'"),
         stdin=b"name,x\rcaf\xe9,1\rb,2\r",
         doc=("Latin-1 bytes in a file whose lines end in a lone carriage return (old Mac exports)",
              "refused, showing all of it: with no line end, the header runs to the end")),
    Case("very_long_line", (("apply", "long_field.csv", "-p", G, "-o", OUT),), 0,
         check=long_field_passes_through,
         doc=("a 1 MiB text field", "passes through byte for byte")),
    Case("all_null_column_default", (("fit", "all_null.csv", "-p", S),), 0, check=sidecar_columns(["id"]),
         doc=("a column whose values are all missing, no `-c`", "left out of the fit (nothing to fit)")),
    Case("column_picked_and_excluded", (("fit", "x.csv", "-c", "x", "-x", "x", "-p", S),), 2,
         err("column 'x': both picked (-c) and left out (-x)"),
         doc=("`-c x -x x`", "refused as a usage error")),
    Case("empty_column_list", (("fit", "x.csv", "-c", "", "-p", S),), 2,
         err("-c '' names no column (leave -c out to fit every numeric column)"),
         doc=("`-c ''` (say, `-c \"$COLS\"` with COLS empty)", "refused, rather than fitting every column")),
    Case("all_null_column_picked", (("fit", "all_null.csv", "-c", "x", "-p", S),), 1,
         err("all_null.csv: column 'x': no values to fit (every value is missing)"),
         doc=("the all-missing column picked with `-c`", "refused")),
    Case("single_row", (("fit", "single_row.csv", "-p", S), ("apply", "single_row.csv", "-p", S)), 0,
         check=both(stdout_is("x\n0.0\n"), sidecar_column_has("x", mean=5.0, std=0.0, scale=1.0, count=1)),
         doc=("a single data row", "fits (std 0, scale 1); apply gives 0.0")),
    Case("blank_lines", (("apply", "blank_lines.csv", "-p", G),), 0, check=stdout_is(ID_X123),
         doc=("blank lines between and after records", "skipped: they are not records")),
    # --- fields --------------------------------------------------------------------------------
    Case("quoted_delimiters_and_newlines", (("apply", "quoted.csv", "-p", G),), 0,
         check=stdout_is(f'id,note,x\n1,"a,b",{LO}\n2,"line1\nline2",{MID}\n3,"say ""hi""",{HI}\n'),
         doc=("quoted fields with commas, newlines and doubled quotes", "pass through, quoted again")),
    Case("unclosed_quote_fit", (("fit", "unclosed_quote.csv", "-p", S),), 1,
         err("unclosed_quote.csv: column 'note', row 2: a quoted value is never closed: it runs on to the end of "
             "the input: 'b...'"),
         doc=("a quote opened in the last column and never closed", "refused, naming the row where it opens "
              "(the reader would take every later line for part of that value)")),
    Case("unclosed_quote_apply", (("apply", "unclosed_quote.csv", "-p", G, "-o", OUT),), 1,
         err("unclosed_quote.csv: column 'note', row 2: a quoted value is never closed: it runs on to the end of "
             "the input: 'b...'"),
         process=True,
         doc=("a quote opened in the last column and never closed", "apply refuses; no output file")),
    Case("unclosed_quote_apply_to_stdout", (("apply", "unclosed_quote.csv", "-p", G),), 1,
         err("unclosed_quote.csv: column 'note', row 2: a quoted value is never closed: it runs on to the end of "
             "the input: 'b...'"),
         doc=("the same, written to stdout", "refused before any of it is written")),
    Case("unclosed_quote_shift_jis", (("fit", "unclosed_quote.csv", "-e", "shift_jis", "-p", S),), 1,
         err("unclosed_quote.csv: column 'note', row 2: a quoted value is never closed: it runs on to the end of "
             "the input: 'b...'"),
         doc=("the same, with `-e shift_jis` (quotes are followed after decoding)", "refused")),
    Case("unclosed_quote_stdin", (("apply", "-", "-p", G, "-o", OUT),), 1,
         err("<stdin>: column 'note', row 1: a quoted value is never closed: it runs on to the end of the input: "
             "'a...'"),
         stdin=b'x,note\n1,"a\n2,b\n3,c\n',
         doc=("the same, read from stdin", "refused")),
    Case("header_inner_quote", (("apply", "header_inner_quote.csv", "-p", G),), 0,
         check=stdout_is(f'id,x,"size"""\n1,{LO},a\n2,{MID},b\n3,{HI},c\n'),
         doc=("a quote inside an unquoted column name (`size\"`)", "an ordinary name; every row read")),
    Case("header_quoted_newline", (("apply", "header_quoted_newline.csv", "-p", G),), 0,
         check=stdout_is(f'"id\nkey",x\n1,{LO}\n2,{MID}\n3,{HI}\n'),
         doc=("a quoted column name with a line break in it", "one name; the records after it are read as records")),
    Case("bom_quoted_header", (("apply", "bom_quoted_header.csv", "-p", G),), 0,
         check=stdout_is(f'"id,",x\n1,{LO}\n2,{MID}\n3,{HI}\n'),
         doc=("a UTF-8 BOM and then a quoted name", "BOM skipped, the name read as quoted")),
    Case("iso2022jp_letters_with_quote_bytes", (("apply", "iso2022jp.csv", "-e", "iso2022_jp", "-p", G),), 0,
         check=stdout_is(f"name,x\n\u304c\u25a0,{LO}\nb,{MID}\nc,{HI}\n"),
         doc=("ISO-2022-JP text whose letters are made of quote and comma bytes, with `-e iso2022_jp`",
              "read as letters; output is UTF-8")),
    Case("header_unclosed_quote", (("fit", "header_unclosed_quote.csv", "-p", S),), 1,
         err("header_unclosed_quote.csv: a quoted name in the header is never closed: 'id,x,\"note'"),
         doc=("a quoted column name that is never closed", "refused")),
    Case("ragged_short_row_fit", (("fit", "ragged_short.csv", "-p", S),), 1,
         err("ragged_short.csv: row 2: ragged row: 1 fields where the header has 2: '3'"),
         process=True, repeat=4,
         doc=("a row with too few fields", "refused, naming the row")),
    Case("ragged_short_row_apply", (("apply", "ragged_short.csv", "-p", G, "-o", OUT),), 1,
         err("ragged_short.csv: row 2: ragged row: 1 fields where the header has 2: '3'"),
         process=True, repeat=4,
         doc=("a row with too few fields", "apply refuses; no output file")),
    Case("ragged_long_row_fit", (("fit", "ragged_long.csv", "-p", S),), 1,
         err("ragged_long.csv: row 3: ragged row: 3 fields where the header has 2: '5,6,7'"),
         process=True, repeat=4,
         doc=("a row with too many fields", "refused, naming the row")),
    Case("ragged_long_row_apply", (("apply", "ragged_long.csv", "-p", G, "-o", OUT),), 1,
         err("ragged_long.csv: row 3: ragged row: 3 fields where the header has 2: '5,6,7'"),
         process=True, repeat=4,
         doc=("a row with too many fields", "apply refuses; no output file")),
    Case("ragged_row_not_utf8", (("fit", "ragged_not_utf8.csv", "-p", S),), 1,
         err("ragged_not_utf8.csv: row 2: ragged row: 3 fields where the header has 2: '2,2,\ufffd'"),
         doc=("a ragged row with a byte that is not UTF-8", "refused, naming the row (the byte shown as U+FFFD)")),
    Case("ragged_row_stdin", (("apply", "-", "-p", G),), 1,
         err("<stdin>: row 2: ragged row: 2 fields where the header has 1: '2,3'"),
         stdin=b"x\n1\n2,3\n4\n", process=True, repeat=4,
         doc=("a ragged row read from stdin", "refused, naming the row")),
    Case("duplicate_column_names", (("fit", "duplicate_columns.csv", "-p", S),), 1,
         err("duplicate_columns.csv: column 'a': duplicate column name in the header"),
         doc=("two columns with the same name", "refused")),
    Case("blank_column_name_fit", (("fit", "blank_column_name.csv", "-p", S),), 0,
         check=sidecar_columns(["id", "", "x"]),
         doc=("a column with an empty name", "an ordinary column named `''`: fitted when numeric")),
    Case("blank_column_name_apply", (("apply", "blank_column_name.csv", "-p", G),), 0,
         check=stdout_is(f"id,,x\n1,7,{LO}\n2,8,{MID}\n3,9,{HI}\n"),
         doc=("a column with an empty name", "passes through under its empty name")),
    # --- values --------------------------------------------------------------------------------
    Case("huge_values", (("fit", "huge_values.csv", "-p", S), ("apply", "huge_values.csv", "-p", S)), 0,
         check=both(stdout_is("x\n1.0\n-1.0\n"), sidecar_column_has("x", mean=0.0, std=1e308, scale=1e308)),
         doc=("1e308 and -1e308", "fit without overflow (mean 0, std 1e308); apply gives 1.0 and -1.0")),
    Case("long_integer_fit", (("fit", "long_integer.csv", "-p", S),), 1,
         err("long_integer.csv: column 'id', row 2: integer too long to scale and give back exactly (more than 15 "
             "significant digits, or not exact in float64); leave the column out of the fit (-x): '9007199254740993'"),
         doc=("an integer of 16 digits (2**53 + 1, which float64 reads as 2**53)", "fit refuses, naming column, row and value")),
    Case("long_integer_excluded", (("fit", "long_integer.csv", "-x", "id", "-p", S), ("apply", "long_integer.csv", "-p", S)),
         0, check=stdout_is(f"id,x\n17,{LO}\n9007199254740993,{MID}\n42,{HI}\n"),
         doc=("the same, left out with `-x id`", "passes through as written")),
    Case("long_integer_apply", (("fit", "small_integer.csv", "-p", S), ("apply", "long_integer.csv", "-p", S)), 1,
         err("long_integer.csv: column 'id', row 2: integer too long to scale and give back exactly (more than 15 "
             "significant digits, or not exact in float64); leave the column out of the fit (-x): '9007199254740993'"),
         doc=("the same, given to apply", "apply refuses, naming column, row and value; no output")),
    Case("inf_fit", (("fit", "inf.csv", "-p", S),), 1,
         err("inf.csv: column 'x', row 2: infinite value; fit needs finite numbers: 'inf'"),
         doc=("`inf` in a numeric column", "fit refuses, naming column, row and value")),
    Case("neg_inf_fit", (("fit", "neg_inf.csv", "-c", "x", "-p", S),), 1,
         err("neg_inf.csv: column 'x', row 3: infinite value; fit needs finite numbers: '-inf'"),
         doc=("`-inf` in a picked column", "fit refuses, naming column, row and value")),
    Case("inf_apply", (("fit", "huge_values.csv", "-p", S), ("apply", "inf.csv", "-p", S)), 0,
         check=stdout_is("x\n1e-308\ninf\n2.9999999999999997e-308\n"),
         doc=("`inf` given to apply, for a column fitted as floats", "inf maps to inf")),
    Case("neg_inf_apply", (("fit", "huge_values.csv", "-p", S), ("apply", "neg_inf.csv", "-p", S)), 0,
         check=stdout_is("x\n1e-308\n2e-308\n-inf\n"),
         doc=("`-inf` given to apply, for a column fitted as floats", "-inf maps to -inf")),
    Case("inf_apply_integer_column", (("apply", "inf.csv", "-p", G, "-o", OUT),), 1,
         err("inf.csv: column 'x', row 2: infinite value, but the column was fitted as int64: invert could not "
             "give it back: 'inf'"),
         doc=("`inf` given to apply, for a column fitted as integers", "refused, naming column, row and value: "
              "no integer comes back from it")),
    Case("nan_tokens_fit", (("fit", "nan_tokens.csv", "-c", "x", "-p", S),), 0,
         check=sidecar_column_has("x", count=2, nulls=6, mean=2.0, std=1.0),
         doc=("`NaN`, `nan`, `NA`, empty, `null`, `NULL`", "missing values: not counted in the fit")),
    Case("nan_tokens_apply", (("apply", "nan_tokens.csv", "-p", G),), 0,
         check=stdout_is(f"id,x\n1,{LO}\n2,\n3,\n4,\n5,\n6,\n7,\n8,{HI}\n"),
         doc=("the same tokens given to apply", "written as empty (missing) fields")),
    Case("thousands_separator_picked", (("fit", "thousands.csv", "-c", "x", "-p", S),), 1,
         err("thousands.csv: column 'x', row 1: not a number: '1,234'"),
         doc=('`"1,234"` in a picked column', "refused: thousands separators are not read")),
    Case("thousands_separator_apply", (("apply", "thousands.csv", "-p", G, "-o", OUT),), 1,
         err("thousands.csv: column 'x', row 1: not a number: '1,234'"),
         doc=('`"1,234"` given to apply', "refused; no output file")),
    Case("padded_values_picked", (("fit", "padded.csv", "-c", "x", "-p", S),), 1,
         err("padded.csv: column 'x', row 1: not a number: ' 1'"),
         doc=("numbers padded with spaces (`' 1'`)", "refused: spaces are not trimmed")),
    Case("scientific_notation", (("fit", "scientific.csv", "-p", S), ("apply", "scientific.csv", "-p", S, "-o", OUT),
                                 ("invert", OUT, "-p", S)), 0,
         check=both(stdout_is("x\n1000.0\n0.025\n-300.0\n"),
                    sidecar_column_has("x", dtype="double", count=3, decimals=3, mean=233.34166666666667)),
         doc=("`1e3`, `2.5E-2`, `-3e+2`", "read as numbers; invert gives them back")),
    Case("booleans_picked", (("fit", "booleans.csv", "-c", "flag", "-p", S),), 1,
         err("booleans.csv: column 'flag', row 1: not a number: 'true'"),
         doc=("booleans in a picked column", "refused, naming column, row and value")),
    Case("dates_picked", (("fit", "dates.csv", "-c", "day", "-p", S),), 1,
         err("dates.csv: column 'day', row 1: not a number: '2024-01-31'"),
         doc=("dates in a picked column", "refused, naming column, row and value")),
    Case("ints_then_a_float", (("fit", "ints_then_float.csv", "-p", S),
                               ("apply", "ints_then_float.csv", "-p", S, "-o", "{tmp}/scaled.csv"),
                               ("invert", "{tmp}/scaled.csv", "-p", S, "-o", "{tmp}/back.csv")), 0,
         check=ints_then_float_round_trip,
         doc=("20,000 integers then `0.5`", "a float column (dtype double), not an error; round trip exact")),
    # --- Parquet -------------------------------------------------------------------------------
    Case("parquet_nested", (("fit", "nested.parquet", "-p", S),
                            ("apply", "nested.parquet", "-p", S, "-o", "{tmp}/out.parquet")), 0,
         check=parquet_passes_through("nested.parquet", [float(LO), 0.0, float(HI)]),
         doc=("Parquet struct and list columns", "not fitted; pass through with their types")),
    Case("parquet_nested_to_csv", (("apply", "nested.parquet", "-p", G, "-o", OUT),), 1,
         re.compile(r"Error: nested\.parquet: column 'point': [^\n]*\n"),
         doc=("Parquet struct column written to CSV", "refused, naming the column; no output file")),
    Case("parquet_dictionary", (("fit", "dictionary.parquet", "-p", S),
                                ("apply", "dictionary.parquet", "-p", S, "-o", "{tmp}/out.parquet")), 0,
         check=parquet_passes_through("dictionary.parquet", [float(LO), 0.0, float(HI)]),
         doc=("Parquet dictionary-encoded column", "passes through, still dictionary-encoded")),
    Case("parquet_decimal_timestamp", (("fit", "decimal_timestamp.parquet", "-p", S),
                                       ("apply", "decimal_timestamp.parquet", "-p", S, "-o", "{tmp}/out.parquet")), 0,
         check=parquet_passes_through("decimal_timestamp.parquet", [float(LO), 0.0, float(HI)]),
         doc=("Parquet decimal128 and timestamp columns", "not fitted by default; pass through")),
    Case("parquet_decimal_picked", (("fit", "decimal_timestamp.parquet", "-c", "price", "-p", S),), 1,
         err("decimal_timestamp.parquet: column 'price': not a numeric column (type decimal128(10, 2))"),
         doc=("Parquet decimal column picked with `-c`", "refused")),
    Case("parquet_duplicate_column_names", (("fit", "duplicate_columns.parquet", "-p", S),), 1,
         err("duplicate_columns.parquet: column 'a': duplicate column name"),
         doc=("Parquet file with two columns of the same name", "refused")),
    Case("parquet_truncated_fit", (("fit", "truncated.parquet", "-p", S),), 1,
         re.compile(r"Error: truncated\.parquet: not a readable Parquet file \([^\n]+\)\n"),
         doc=("Parquet file cut in half", "refused")),
    Case("parquet_truncated_apply", (("apply", "truncated.parquet", "-p", G, "-o", "{tmp}/out.parquet"),), 1,
         re.compile(r"Error: truncated\.parquet: not a readable Parquet file \([^\n]+\)\n"),
         doc=("Parquet file cut in half, apply", "refused; no output file")),
    Case("parquet_data_set_type_differs", (("fit", "{tmp}/ds", "-p", S),), 1,
         err("{tmp}/ds/b.parquet: column 'x': string here but double in {tmp}/ds/a.parquet"),
         setup=parquet_data_set({"x": ["4"]}),
         doc=("directory of Parquet files where a column is text in one file, numbers in another",
              "refused, naming the file and the column")),
    Case("parquet_data_set_missing_column", (("apply", "{tmp}/ds", "-p", G, "-o", "{tmp}/out.parquet"),), 1,
         err("{tmp}/ds/b.parquet: column 'x': missing here but present in {tmp}/ds/a.parquet"),
         setup=parquet_data_set({"y": [4.0]}),
         doc=("directory of Parquet files where one file lacks a column", "refused; no output file")),
    # --- sidecars ------------------------------------------------------------------------------
    Case("sidecar_string_scale", (("apply", "x.csv", "-p", "sidecar_string_scale.json", "-o", OUT),), 1,
         err("sidecar_string_scale.json: not a valid sidecar: columns[0].parameters.scale: '2' is not of type 'number'"),
         doc=('sidecar edited by hand: `"scale": "2"`', "refused, naming the field")),
    Case("sidecar_negative_std", (("apply", "x.csv", "-p", "sidecar_negative_std.json", "-o", OUT),), 1,
         err("sidecar_negative_std.json: column 'x': columns[0]: statistic 'std' must not be negative"),
         doc=("sidecar with a negative std", "refused")),
    Case("sidecar_other_columns", (("apply", "x.csv", "-p", "sidecar_other_columns.json", "-o", OUT),), 1,
         err("x.csv: column 'y': column from the sidecar is not in the input"),
         doc=("sidecar for other columns", "refused, naming the missing column")),
    Case("sidecar_enormous", (("apply", "x.csv", "-p", "{tmp}/big.normcli.json", "-o", OUT),), 1,
         err("{tmp}/big.normcli.json: sidecar is %d bytes, more than the 33554432 a sidecar may have"
             % BIG_SIDECAR_BYTES),
         setup=write_enormous_sidecar,
         doc=("sidecar larger than 32 MiB", "refused by the size cap before it is parsed")),
    Case("sidecar_endless_device", (("apply", "x.csv", "-p", "/dev/zero", "-o", OUT),), 1,
         err("/dev/zero: sidecar is more than the 33554432 bytes a sidecar may have"),
         doc=("a sidecar that never ends (a device, or a pipe: `-p <(cmd)`)",
              "refused once 32 MiB have been read")),
    Case("sidecar_with_bom", (("apply", "x.csv", "-p", "{tmp}/bom.json"),), 0, check=stdout_is(X123),
         setup=write_sidecar_with_bom,
         doc=("sidecar saved with a UTF-8 byte order mark", "the mark is skipped, as in data files")),
    Case("fit_sidecar_over_its_input", (("fit", "{tmp}/d.csv", "-p", "{tmp}/d.csv"),), 2,
         err("{tmp}/d.csv: the sidecar (-p) would replace this input"), setup=copy_x_and_sidecar,
         doc=("`-p` naming the data file (by any path to it: `./`, a link)", "refused; the data is untouched")),
    Case("apply_output_over_its_sidecar", (("apply", "x.csv", "-p", "{tmp}/p.json", "-o", "{tmp}/p.json"),), 2,
         err("{tmp}/p.json: the output (-o) would replace this sidecar"), setup=copy_x_and_sidecar,
         doc=("`-o` naming the sidecar", "refused; the sidecar is untouched")),
    Case("fit_sidecar_inside_its_data_set", (("fit", "{tmp}/ds", "-p", "{tmp}/ds/p.json"),), 2,
         err("{tmp}/ds/p.json: the sidecar (-p) would be written inside the data set {tmp}/ds, where it would be "
             "read as a Parquet file"), setup=make_data_set,
         doc=("`-p` inside the directory fitted as a Parquet data set", "refused: the next read of the data set "
              "would take it for a Parquet file")),
    Case("apply_output_inside_its_data_set", (("apply", "{tmp}/ds", "-p", "{tmp}/p.json", "-o", "{tmp}/ds/o.parquet"),),
         2, err("{tmp}/ds/o.parquet: the output (-o) would be written inside the data set {tmp}/ds, where it would "
                "be read as part of it"), setup=make_data_set,
         doc=("`-o` inside the data set directory being read", "refused, as above")),
    Case("sidecar_repeated_key", (("apply", "x.csv", "-p", "{tmp}/twice.json", "-o", OUT),), 1,
         err("{tmp}/twice.json: not a valid sidecar (the key 'mean' appears twice in one object)"),
         setup=write_sidecar_with_a_repeated_key,
         doc=("sidecar with a key given twice in one object (`\"mean\"` in `parameters`)",
              "refused: JSON readers differ on which one counts")),
    Case("sidecar_extra_fields", (("apply", "x.csv", "-p", "sidecar_extra_fields.json"),), 0,
         check=stdout_is("x\n-1.25\n0.0\n1.25\n"),
         doc=("sidecar with unknown extra fields", "accepted; the extra fields are ignored")),
    Case("sidecar_corrupt_json", (("apply", "x.csv", "-p", "sidecar_corrupt.json", "-o", OUT),), 1,
         err("sidecar_corrupt.json: not a valid sidecar (corrupt JSON: Expecting value: line 2 column 1 (char 35))"),
         doc=("sidecar cut short (corrupt JSON)", "refused, with the JSON position")),
    Case("sidecar_newer_version", (("apply", "x.csv", "-p", "sidecar_newer.json", "-o", OUT),), 1,
         err("sidecar_newer.json: sidecar format version 2 is newer than this normcli 1.0.0 reads (up to 1); "
             "upgrade normcli"),
         doc=("sidecar with `format_version` 2", "refused: upgrade normcli")),
    Case("sidecar_missing", (("apply", "x.csv", "-p", "nosuch.normcli.json", "-o", OUT),), 1,
         err("nosuch.normcli.json: sidecar not found"),
         doc=("sidecar file that does not exist", "refused")),
    Case("invert_csv_without_sidecar", (("invert", "x.csv", "-o", OUT),), 1,
         err("x.csv: no sidecar given (-p) and none stored in the input's metadata"),
         doc=("invert a CSV without `-p`", "refused (only Parquet carries its sidecar)")),
    # --- command line --------------------------------------------------------------------------
    Case("unknown_method", (("fit", "x.csv", "-m", "foo", "-p", S),), 2,
         usage("fit [OPTIONS] INPUT...",
               "Invalid value for '-m' / '--method': 'foo' is not one of "
               "'zscore', 'minmax', 'maxabs', 'robust', 'decimal'."),
         doc=("`-m foo`", "usage error")),
    Case("encoding_not_text", (("fit", "x.csv", "-e", "rot13", "-p", S),), 2,
         err("--encoding: not a text encoding: 'rot13'"),
         doc=("`-e rot13` (a codec, not a text encoding)", "usage error")),
    Case("encoding_utf16", (("fit", "x.csv", "-e", "utf-16", "-p", S),), 2,
         err("--encoding: UTF-16 and UTF-32 are not read; convert to UTF-8 first (iconv -f UTF-16 -t UTF-8): "
             "'utf-16'"),
         doc=("`-e utf-16`", "usage error: lines are found by their newline byte, which UTF-16 splits")),
    Case("delimiter_not_ascii", (("fit", "x.csv", "-d", "é", "-p", S),), 2,
         err("--delimiter takes one ASCII character other than a quote or a line end: 'é'"),
         doc=("`-d é`", "usage error")),
    Case("unknown_column", (("fit", "x.csv", "-c", "nosuch", "-p", S),), 1,
         err("x.csv: column 'nosuch': no such column"),
         doc=("`-c nosuch`", "refused, naming the column")),
    Case("text_column_picked", (("fit", "text_column.csv", "-c", "name", "-p", S),), 1,
         err("text_column.csv: column 'name', row 1: not a number: 'alice'"),
         doc=("`-c` on a text column", "refused, naming column, row and value")),
    Case("output_directory_missing", (("apply", "x.csv", "-p", G, "-o", "{tmp}/nodir/out.csv"),), 1,
         err("{tmp}/nodir/out.csv: output directory does not exist"),
         doc=("`-o` into a directory that does not exist", "refused")),
    Case("output_parent_is_a_file", (("apply", "x.csv", "-p", G, "-o", "{tmp}/file.txt/out.csv"),), 1,
         err("{tmp}/file.txt/out.csv: output directory does not exist"),
         setup=a_file_where_a_directory_should_be,
         doc=("`-o` below a regular file", "refused")),
    Case("output_not_writable", (("apply", "x.csv", "-p", G, "-o", "/sys/normcli-corpus.csv"),), 1,
         err("/sys/normcli-corpus.csv: cannot write here: Permission denied"),
         doc=("`-o` into a directory that cannot be written (even by root: /sys)", "refused")),
    Case("output_is_a_directory", (("apply", "x.csv", "-p", G, "-o", "{tmp}"),), 1,
         err("{tmp}: output is a directory"),
         doc=("`-o` naming a directory", "refused")),
    Case("fit_sidecar_directory_missing", (("fit", "x.csv", "-p", "{tmp}/nodir/s.json"),), 1,
         err("{tmp}/nodir/s.json: output directory does not exist"),
         doc=("fit `-p` into a directory that does not exist", "refused")),
    Case("missing_input", (("apply", "nosuch.csv", "-p", G, "-o", OUT),), 1,
         err("nosuch.csv: no such file"),
         doc=("input file that does not exist", "refused")),
    Case("existing_target_untouched", (("apply", "thousands.csv", "-p", G, "-o", OUT),), 1,
         err("thousands.csv: column 'x', row 1: not a number: '1,234'"),
         setup=existing_target,
         doc=("failing apply with `-o` naming an existing file", "the existing file is left as it was")),
    # --- terminal control characters -----------------------------------------------------------
    Case("control_chars_in_column_and_value", (("fit", "control_header.csv", "-c", "a\x1bb", "-p", S),), 1,
         err("control_header.csv: column 'a\\x1bb', row 1: not a number: '\\x1b[31mred'"),
         doc=("ESC in a column name and in a value", "shown escaped as `\\x1b`")),
    Case("control_chars_in_value", (("fit", "control_value.csv", "-c", "x", "-p", S),), 1,
         err("control_value.csv: column 'x', row 2: not a number: '\\x1b[2J'"),
         doc=("ESC sequence (clear screen) as a value", "shown escaped")),
    Case("control_chars_in_file_name", (("apply", "no\x1bsuch.csv", "-p", G, "-o", OUT),), 1,
         err("no\\x1bsuch.csv: no such file"),
         doc=("ESC in a file name", "shown escaped")),
]


# ---------------------------------------------------------------------------------------------
# Running


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    for name in ("NO_COLOR", "NORMCLI_DEBUG"):
        env.pop(name, None)
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def _snapshot(tmp: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(tmp)): (p.read_bytes() if p.is_file() else None) for p in sorted(tmp.rglob("*"))}


@dataclass
class Outcome:
    code: int
    stdout: bytes
    stderr: bytes
    before: dict
    after: dict
    failed_step: str | None = None


def _fill(arg: str, tmp: Path) -> str:
    return arg.replace("{tmp}", str(tmp))


class _Main:
    """Lets CliRunner drive ``normcli.cli.run`` (what the console script runs) instead of the
    click group: ``run`` is where unexpected exceptions become the one-line message."""

    name = "normcli"

    def main(self, args, prog_name=None, **extra):
        from normcli.cli import run

        sys.exit(run(list(args)))


def _in_process(argv: list[str], stdin: bytes | None) -> tuple[int, bytes, bytes]:
    result = CliRunner().invoke(_Main(), argv, input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # main() let an exception through: show it as the console script would have.
        import traceback

        text = "".join(traceback.format_exception(result.exception))
        return 1, result.stdout_bytes, result.stderr_bytes + text.encode()
    return result.exit_code, result.stdout_bytes, result.stderr_bytes


def _subprocess(argv: list[str], stdin: bytes | None) -> tuple[int, bytes, bytes]:
    done = subprocess.run([sys.executable, "-m", "normcli", *argv], cwd=CORPUS, input=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), timeout=TIMEOUT)
    return done.returncode, done.stdout, done.stderr


def _run(case: Case, tmp: Path) -> list[Outcome]:
    if case.setup:
        case.setup(tmp)
    call = _subprocess if case.process else _in_process

    for step in case.steps[:-1]:
        code, stdout, stderr = call([_fill(a, tmp) for a in step], None)
        if code != 0 or stderr:
            return [Outcome(code, stdout, stderr, {}, {}, failed_step=" ".join(step))]
    outcomes = []
    for _ in range(case.repeat):
        before = _snapshot(tmp)
        code, stdout, stderr = call([_fill(a, tmp) for a in case.steps[-1]], case.stdin)
        outcomes.append(Outcome(code, stdout, stderr, before, _snapshot(tmp)))
    return outcomes


def _show(raw: bytes) -> str:
    return raw.decode("utf-8", errors="backslashreplace")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus(case: Case, tmp_path, monkeypatch):
    monkeypatch.chdir(CORPUS)
    corpus_before = sorted(p.name for p in CORPUS.iterdir())
    for outcome in _run(case, tmp_path):
        _check_outcome(case, outcome, tmp_path)
    assert sorted(p.name for p in CORPUS.iterdir()) == corpus_before


def _check_outcome(case: Case, outcome: Outcome, tmp: Path) -> None:
    stderr = _show(outcome.stderr)
    assert outcome.failed_step is None, f"set-up step failed: {outcome.failed_step}: {stderr}"

    # Never a traceback, a raw control character, an unexpected-failure message or a native abort.
    assert "Traceback" not in stderr
    assert b"\x1b" not in outcome.stderr
    assert "unexpected failure" not in stderr
    assert "terminate called" not in stderr

    expected = case.stderr
    if isinstance(expected, str):
        assert stderr == _fill(expected, tmp)
    else:
        assert expected.fullmatch(stderr), stderr
    assert outcome.code == case.code, stderr

    if case.code == 0:
        assert case.check is not None
        case.check(tmp, outcome.stdout)
    else:
        assert outcome.stdout == b""
        # No output file, no temporary file left behind, files already there untouched.
        assert outcome.after == outcome.before
        assert not Path("/sys/normcli-corpus.csv").exists()


def test_case_table_is_sound():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    assert len(CASES) >= 45
    for case in CASES:
        assert case.doc[0] and case.doc[1], case.name
        assert (case.code == 0) == (case.check is not None), case.name
        if case.code != 0:
            assert case.stderr, case.name
            assert isinstance(case.stderr, re.Pattern) or case.stderr.count("Error: ") == 1, case.name


def test_docs_list_every_case():
    text = DOC.read_text("utf-8")
    for case in CASES:
        assert f"`{case.name}`" in text, case.name


def test_corpus_files_are_as_generated(tmp_path):
    """make_corpus.py gives the committed bytes (Parquet files: the same data and types)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.HERE = tmp_path
    module.main()
    for generated in sorted(tmp_path.iterdir()):
        committed = CORPUS / generated.name
        assert committed.exists(), generated.name
        if generated.suffix == ".parquet" and generated.name != "truncated.parquet":
            # ParquetFile, as normcli reads it: read_table refuses duplicate column names.
            assert pq.ParquetFile(committed).read().equals(pq.ParquetFile(generated).read()), generated.name
        elif generated.suffix != ".parquet":
            assert committed.read_bytes() == generated.read_bytes(), generated.name
