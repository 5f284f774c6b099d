"""The command line: a thin click layer over normcli.core. Errors are mapped to messages and exit
codes in one place (``NormcliGroup.invoke`` and ``main``)."""

from __future__ import annotations

import csv
import fnmatch
import os
import signal
import sys
import threading
import time

import click

from . import __version__
from .errors import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UNWINDING_SIGNALS,
    NormcliError,
    UsageError,
    escape,
    is_broken_pipe,
)

METHOD_NAMES = ("zscore", "minmax", "maxabs", "robust", "decimal")
FORMAT_NAMES = ("csv", "tsv", "parquet")
DEFAULT_NULL_VALUES = ",NA,NaN,nan,null,NULL"


class StdoutClosed(Exception):
    """The reader of stdout went away (kept apart from OSError, which click would turn into exit 1)."""


class Interrupted(Exception):
    """Ctrl-C during a command (kept from click, which would print a blank line before the error
    even into a log file)."""


class NormcliGroup(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except NormcliError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            if exc.exit_code == EXIT_USAGE:
                raise click.UsageError(str(exc)) from None
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            # What is left here was raised writing stdout (files map their errors to FileError).
            if is_broken_pipe(exc):
                raise StdoutClosed() from None
            raise click.ClickException(f"<stdout>: cannot write: {_os_message(exc)}") from None
        except KeyboardInterrupt:
            raise Interrupted() from None


def _os_message(exc: OSError) -> str:
    # polars gives OSError("No space left on device (os error 28)") with no errno.
    return exc.strerror or str(exc)


def _record(value: str) -> list[str]:
    """One CSV record: 'a,"b,c"' gives ['a', 'b,c']."""
    return next(csv.reader([value]), [])


def _columns(values: tuple[str, ...]) -> list[str]:
    return [name for value in values for name in _record(value)]


def _same_file(target, source) -> bool:
    """Whether writing ``target`` would replace the existing file ``source`` (by any path to it)."""
    try:
        return target is not None and "-" not in (target, source) and os.path.samefile(target, source)
    except OSError:
        return False


def _inside_directory(target, source) -> bool:
    """Whether ``target`` would be written inside the directory ``source``, or where the glob
    ``source`` matches it (a Parquet data set, every file of which is read the next time)."""
    from .io import is_glob

    if target is None or "-" in (target, source):
        return False
    if not os.path.isdir(source):
        return is_glob(source) and fnmatch.fnmatchcase(
            os.path.realpath(target), os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(source))),
                                                   os.path.basename(source)))
    directory = os.path.realpath(source)
    return os.path.commonpath([directory, os.path.realpath(os.path.dirname(os.path.abspath(target)))]) == directory


def _csv_options(delimiter, null_values, encoding, na_rep=""):
    from .io import CsvOptions

    if delimiter is not None:
        delimiter = {"\\t": "\t", "tab": "\t"}.get(delimiter, delimiter)
    return CsvOptions(
        delimiter=delimiter,
        null_values=tuple(_record(null_values)) if null_values else (),
        encoding=encoding,
        na_rep=na_rep,
    )


class Progress:
    """Rows done and rate on stderr, redrawn at most five times a second; only on a terminal."""

    def __init__(self, quiet: bool):
        self.enabled = not quiet and sys.stderr.isatty()
        self.rows = 0
        self.start = self.last = time.monotonic()

    def __call__(self, rows: int) -> None:
        self.rows += rows
        now = time.monotonic()
        if self.enabled and now - self.last >= 0.2:
            self.last = now
            rate = self.rows / max(now - self.start, 1e-9)
            sys.stderr.write(f"\r{self.rows:,} rows  {rate:,.0f} rows/s ")
            sys.stderr.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc_info) -> None:
        # Clear the line, on failure too, so an error message starts at the left margin.
        if self.enabled and self.last != self.start:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def csv_options(func):
    func = click.option("-e", "--encoding", default="utf-8", show_default=True,
                        help="Text encoding of CSV/TSV input (a UTF-8 BOM is skipped).")(func)
    func = click.option("--null-values", default=DEFAULT_NULL_VALUES, show_default=True,
                        help="Tokens that mean missing, as one CSV record (case-sensitive).")(func)
    func = click.option("-d", "--delimiter", default=None,
                        help="Field delimiter for CSV/TSV (default ',' or tab for .tsv; '\\t' for tab).")(func)
    func = click.option("--input-format", type=click.Choice(FORMAT_NAMES), default=None,
                        help="Input format (default: from the extension; stdin: csv).")(func)
    return func


def quiet_option(func):
    return click.option("-q", "--quiet", is_flag=True, help="No progress display.")(func)


@click.group(cls=NormcliGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="normcli")
@click.option("--debug", is_flag=True, hidden=True, help="Show tracebacks.")
@click.pass_context
def cli(ctx, debug):
    """Fit scaling parameters on numeric columns, apply them, and reverse them.

    \b
      normcli fit data.csv -m zscore          # writes data.normcli.json
      normcli apply data.csv -p data.normcli.json -o scaled.csv
      normcli invert scaled.csv -p data.normcli.json -o back.csv
      normcli show data.normcli.json

    Formats: .csv, .tsv, .parquet/.pq (or --input-format); '-' is stdin/stdout.
    Exit status: 0 ok, 1 data/sidecar/I-O error, 2 usage error, 141 stdout closed early.
    """
    ctx.obj = {"debug": debug}


@cli.command(context_settings={"max_content_width": 100})
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("-m", "--method", type=click.Choice(METHOD_NAMES), default="zscore", show_default=True,
              help="Scaling method.")
@click.option("-c", "--columns", multiple=True, metavar="COLS",
              help="Columns to scale, as a CSV record (repeatable). Default: every numeric column.")
@click.option("-x", "--exclude", multiple=True, metavar="COLS", help="Columns to leave out (repeatable).")
@click.option("--feature-range", default=None, metavar="LO,HI", help="minmax target range [default: 0,1].")
@click.option("--quantile-range", default=None, metavar="LO,HI", help="robust quantiles in percent [default: 25,75].")
@click.option("-p", "--params", default=None, metavar="PARAMS",
              help="Sidecar to write (default: <first input stem>.normcli.json beside it; '-' for stdout).")
@csv_options
@quiet_option
def fit(inputs, method, columns, exclude, feature_range, quantile_range, params, input_format, delimiter,
        null_values, encoding, quiet):
    """Fit scaling parameters on INPUT (several inputs are fitted as one data set).

    \b
      normcli fit sales.csv                         # zscore, all numeric columns
      normcli fit sales.csv -m minmax --feature-range=-1,1 -c price,qty
      normcli fit part-*.parquet -m robust -p model.normcli.json
      cat sales.csv | normcli fit - -p - > params.json
    """
    from pathlib import Path

    from . import core
    from .io import is_glob

    if any(not _record(value) for value in columns):
        raise UsageError("-c '' names no column (leave -c out to fit every numeric column)")
    if params is None:
        first = Path(inputs[0])
        if inputs[0] == "-" or is_glob(inputs[0]):
            raise UsageError("fit from stdin or a glob needs -p PARAMS (a path, or '-' for stdout)")
        if first.is_dir():
            first = Path(os.path.abspath(first))  # "." and "ds/..": the directory's own name
            if not first.name:
                raise UsageError("fit of the root directory needs -p PARAMS")
            stem = first.name
        else:
            stem = first.stem
        params = str(first.with_name(f"{stem}.normcli.json"))
    if list(inputs).count("-") > 1:
        raise UsageError("stdin ('-') can be read only once")
    for source in inputs:
        if _same_file(params, source):
            which = "this input" if params == source else f"the input {source}"
            raise UsageError(f"the sidecar (-p) would replace {which}", file=params)
        if _inside_directory(params, source):
            raise UsageError(f"the sidecar (-p) would be written inside the data set {source}, where it would be "
                             "read as a Parquet file", file=params)
    if feature_range is not None and method != "minmax":
        raise UsageError("--feature-range goes with -m minmax")
    if quantile_range is not None and method != "robust":
        raise UsageError("--quantile-range goes with -m robust")
    with Progress(quiet) as progress:
        sidecar = core.fit(
            list(inputs), method=method, columns=_columns(columns), exclude=_columns(exclude),
            feature_range=feature_range, quantile_range=quantile_range, input_format=input_format,
            csv=_csv_options(delimiter, null_values, encoding), progress=progress,
        )
    sidecar.save(params)


def _transform_command(name: str, inverse: bool):
    examples = {
        False: "  normcli apply data.csv -p data.normcli.json -o scaled.parquet\n"
               "  cat data.csv | normcli apply - -p data.normcli.json | gzip > scaled.csv.gz",
        True: "  normcli invert scaled.csv -p data.normcli.json -o back.csv\n"
              "  normcli invert scaled.parquet -o back.parquet   # sidecar read from the file",
    }[inverse]
    summary = ("Reverse the scaling of INPUT with the sidecar PARAMS." if inverse
               else "Scale INPUT with the parameters in the sidecar PARAMS.")

    @click.argument("input_path", metavar="INPUT")
    @click.option("-p", "--params", required=not inverse, metavar="PARAMS",
                  help="Sidecar written by fit." + (" Optional for Parquet written by apply." if inverse else ""))
    @click.option("-o", "--output", default=None, metavar="OUTPUT", help="Output path (default: stdout).")
    @click.option("--output-format", type=click.Choice(FORMAT_NAMES), default=None,
                  help="Output format (default: from -o's extension, else the input's).")
    @click.option("--na-rep", default="", help="Text for missing values in scaled columns [default: empty].")
    @csv_options
    @quiet_option
    def command(input_path, params, output, output_format, na_rep, input_format, delimiter, null_values, encoding,
                quiet):
        from . import core

        if input_path == "-" and params == "-":
            raise UsageError("stdin ('-') can be read only once: give the data or the sidecar (-p) as a file")
        if params is not None and _same_file(output, params):
            which = "this sidecar" if output == params else f"the sidecar {params}"
            raise UsageError(f"the output (-o) would replace {which}", file=output)
        if _inside_directory(output, input_path):
            raise UsageError(f"the output (-o) would be written inside the data set {input_path}, where it would be "
                             "read as part of it", file=output)
        transform = core.invert if inverse else core.apply
        with Progress(quiet) as progress:
            transform(input_path, params, output, input_format=input_format, output_format=output_format,
                      csv=_csv_options(delimiter, null_values, encoding, na_rep), progress=progress)

    command.__doc__ = f"{summary}\n\n\b\n{examples}\n"  # \b: click keeps the examples as they are
    return cli.command(name, context_settings={"max_content_width": 100})(command)


apply = _transform_command("apply", inverse=False)
invert = _transform_command("invert", inverse=True)


@cli.command()
@click.argument("params", metavar="PARAMS")
def show(params):
    """Print the sidecar PARAMS as a table (or the one stored in a Parquet file apply wrote).

    \b
      normcli show data.normcli.json
      normcli show scaled.parquet
    """
    from .io import FORMAT_BY_SUFFIX, output_stream
    from .sidecar import Sidecar

    if FORMAT_BY_SUFFIX.get(os.path.splitext(params)[1].lower()) == "parquet":
        from . import core

        sidecar = core.stored_sidecar(params)
    else:
        sidecar = Sidecar.load(params)
    header = ["column", "method", "count", "nulls", "statistics", "scale", "offset"]
    rows = []
    for column in sidecar.columns:
        scale, offset = column.affine
        stats = " ".join(f"{k}={_number(v)}" for k, v in column.statistics.items())
        rows.append([escape(column.name), column.method, str(column.count), str(column.nulls), stats,
                     _number(scale), _number(offset)])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *rows]]
    with output_stream(None) as handle:  # as data is written: a closed stdout is an error, not silence
        handle.write("".join(f"{line}\n" for line in lines).encode("utf-8"))


def _number(value: float) -> str:
    return f"{value:.6g}"


def _on_signal(signum, frame):
    """SIGINT (Ctrl-C), SIGTERM and SIGHUP unwind the command, so temporary files are removed on the way out.

    Python code that polars runs from Rust (its own, to compare data types, say, or numpy's import
    when it first hands over an array) turns the exception into some other error: "unexpected
    failure", a Rust panic with a traceback, or a fall back to the careful reader that goes on
    working. While polars is below the interrupted code, the signal is raised again a moment later."""
    if _under_polars(frame):
        threading.Timer(0.01, signal.raise_signal, (signum,)).start()
        return
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def _under_polars(frame) -> bool:
    """Whether a polars frame lies between ``frame`` and the nearest frame of normcli's own code."""
    polars = sys.modules.get("polars")
    if polars is None:
        return False
    polars_dir, normcli_dir = (os.path.dirname(module.__file__) + os.sep
                               for module in (polars, sys.modules[__package__]))
    while frame is not None:
        if frame.f_code.co_filename.startswith(normcli_dir):
            return False
        if frame.f_code.co_filename.startswith(polars_dir):
            return True
        frame = frame.f_back
    return False


def _exit_at_once(signum, frame):
    os._exit(128 + signum)


def run(argv=None) -> int:
    """Run the CLI and return the exit status; every failure becomes one ``Error:`` line."""
    try:
        cli.main(args=argv, prog_name="normcli", standalone_mode=False)
        if sys.stdout is not None:  # None when started with stdout closed (>&-)
            sys.stdout.flush()
        return EXIT_OK
    except StdoutClosed:
        return _broken_pipe()
    except (Interrupted, click.exceptions.Abort, KeyboardInterrupt) as exc:
        if isinstance(exc, Interrupted) and sys.stderr.isatty():
            click.echo(err=True)  # ends the line the terminal echoed ^C on
        click.echo("Error: interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        if is_broken_pipe(exc.__context__):
            return _broken_pipe()
        exc.show()
        return exc.exit_code
    except SystemExit as exc:
        if is_broken_pipe(exc.__context__):  # click turns a closed stdout into exit 1
            return _broken_pipe()
        return exc.code if isinstance(exc.code, int) else EXIT_FAILURE
    except OSError as exc:  # writing stdout before any command ran (--help, --version)
        if is_broken_pipe(exc):
            return _broken_pipe()
        click.echo(f"Error: <stdout>: cannot write: {_os_message(exc)}", err=True)
        return EXIT_FAILURE
    except BaseException as exc:  # an Exception, or a panic in Rust code (pyo3's PanicException is not one)
        if is_broken_pipe(exc):
            return _broken_pipe()
        if "--debug" in (argv if argv is not None else sys.argv):
            raise
        click.echo(f"Error: unexpected failure ({type(exc).__name__}: {escape(exc)}); "
                   "rerun as 'normcli --debug COMMAND ...' to see where", err=True)
        return EXIT_FAILURE


def main(argv=None) -> None:
    """Console entry point: run, flush, and leave.

    The process ends with ``os._exit``: after an error in mid-stream, pyarrow's reader threads can
    abort a normal interpreter shutdown ("terminate called ...") and change the exit status.
    """
    for signum in UNWINDING_SIGNALS:
        # A signal the parent ignores stays ignored (a shell starts background jobs so for SIGINT).
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _on_signal)
    # normcli does no linear algebra: the OpenBLAS threads numpy starts on import only burn CPU
    # (about 0.1 s a run, beside polars on every core). Set before numpy loads; a user's value wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    code = run(argv)
    # The command is over: a signal now (or one _on_signal put off) has nothing left to unwind.
    for signum in UNWINDING_SIGNALS:
        if signal.getsignal(signum) is _on_signal:
            signal.signal(signum, _exit_at_once)
    try:
        if sys.stdout is not None:  # None when normcli was started with stdout closed (>&-)
            sys.stdout.flush()
    except OSError as exc:
        code = _broken_pipe() if is_broken_pipe(exc) else EXIT_FAILURE
    if sys.stderr is not None:
        sys.stderr.flush()
    os._exit(code)


def _broken_pipe() -> int:
    """The reader closed stdout: end quietly, with nothing more written to it."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE
