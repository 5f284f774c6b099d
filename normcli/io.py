"""Reading and writing tables: formats, stdin and stdout, and atomic writes.

Every reader yields ``pyarrow.RecordBatch`` objects in order; CSV and TSV columns arrive as text
(``string``), exactly as written, so columns that are not scaled pass through untouched and numbers
are parsed by the caller, who can then name the row and value that fail. Every file written goes
to a temporary file beside the target and is renamed over it only when complete.
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import csv
import errno
import io
import os
import queue
import re
import select
import signal
import stat
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from .errors import UNWINDING_SIGNALS, DataError, FileError, UsageError, is_broken_pipe
from .lazy import module

np = module("numpy")
pa = module("pyarrow")

STDIO = "-"
FORMAT_BY_SUFFIX = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet"}
FORMATS = ("csv", "tsv", "parquet")
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zstd", ".lz4", ".zip", ".z")
DEFAULT_NULL_VALUES = ("", "NA", "NaN", "nan", "null", "NULL")
# Bytes of CSV text per batch: 4 MiB keeps peak memory flat from 2M to 10M rows (8 MiB grew
# 1.4x, 2 MiB was 25% slower; measured with bench/run.py --large). Rows per Parquet batch, and
# rows in one Parquet row group: polars' writer holds a group in memory, and at 2M rows x 10
# columns groups of 2^20 rows took 350 MiB of peak RSS against 235 MiB at 2^18, for no gain in
# time or size.
CSV_BLOCK_BYTES = 4 << 20
MAX_HEADER_BYTES = 16 << 20
PARQUET_BATCH_ROWS = 1 << 16
POLARS_CSV_CHUNK_VARIABLE = "POLARS_CSV_CHUNK_SIZE"
PARQUET_ROW_GROUP_ROWS = 1 << 18


@dataclass(frozen=True)
class CsvOptions:
    """How CSV and TSV text is read and written."""

    delimiter: str | None = None  # None: ',' for csv, tab for tsv
    null_values: tuple[str, ...] = DEFAULT_NULL_VALUES
    encoding: str = "utf-8"
    na_rep: str = ""

    def __post_init__(self):
        if self.delimiter is not None and (len(self.delimiter) != 1 or not self.delimiter.isascii()
                                           or self.delimiter in '\r\n"'):
            raise UsageError("--delimiter takes one ASCII character other than a quote or a line end",
                             value=self.delimiter)
        try:
            codec = codecs.lookup(self.encoding)
        except LookupError:
            raise UsageError("--encoding: unknown encoding", value=self.encoding) from None
        if not getattr(codec, "_is_text_encoding", True):
            raise UsageError("--encoding: not a text encoding", value=self.encoding)
        if codec.name.startswith(("utf-16", "utf-32")):
            # Lines are found by their b"\n" byte, which these encodings do not keep whole.
            raise UsageError("--encoding: UTF-16 and UTF-32 are not read; convert to UTF-8 first (iconv -f UTF-16 -t UTF-8)",
                             value=self.encoding)

    def separator(self, fmt: str, input_format: str | None = None) -> str:
        """The delimiter for ``fmt``; -d applies to the input's format (and so to output in it)."""
        if self.delimiter and (input_format is None or input_format == fmt):
            return self.delimiter
        return "\t" if fmt == "tsv" else ","


def display_name(source) -> str:
    return "<stdin>" if source == STDIO else str(source)


def format_of(path, override: str | None = None, default: str | None = None) -> str:
    """The table format of ``path``: the override, else the extension, else ``default``."""
    if override:
        if override not in FORMATS:  # the command line's choices; the library is told here
            raise UsageError(f"unknown format '{override}' (one of {', '.join(FORMATS)})")
        return override
    if path not in (None, STDIO):
        suffix = Path(str(path)).suffix.lower()
        fmt = FORMAT_BY_SUFFIX.get(suffix)
        if fmt:
            return fmt
        if suffix in COMPRESSED_SUFFIXES:
            raise UsageError("a compressed file, and normcli neither reads nor writes compressed text: use a pipe "
                             "(zcat data.csv.gz | normcli apply - ... | gzip > out.csv.gz)", file=str(path))
    if default:
        return default
    raise UsageError(
        f"cannot tell the format of '{path}' from its extension; use --input-format or --output-format "
        f"({', '.join(FORMATS)})"
    )


class Table:
    """A table to read once, batch by batch."""

    def __init__(self, name: str, columns: pa.Schema | list[str], batches: Iterator[pa.RecordBatch], *, text: bool,
                 fmt: str, cleanup=None, plain: PlainCsv | None = None, parquet_path=None,
                 load_schema: Callable[[], pa.Schema] | None = None, polars_types: dict | None = None,
                 parts: list[Table] | None = None):
        """``columns``: the batches' schema, or the names alone with ``load_schema`` to read it when
        first needed (for text, every column a string, it is built). ``parts``: the files of a data
        set, each a Table with the data set's schema, whose batches are the data set's in turn."""
        self.name = name
        if isinstance(columns, list):
            self.names, self._schema = columns, None
            self._load_schema = load_schema or (lambda: text_schema(self.names))
        else:
            self.names, self._schema = columns.names, columns
        # A Parquet file's column types as polars reads them, when they tell all its fast path
        # needs to know (see _simple_polars_types); None when only the Arrow schema does.
        self.polars_types = polars_types
        self.text = text  # values are text to parse (CSV, TSV)
        self.format = fmt
        self.plain = plain  # a CSV/TSV file that polars' parallel reader may read instead
        self.parquet_path = parquet_path  # a Parquet file (not stdin) that polars may scan instead
        self._batches = batches
        self._cleanup = cleanup
        self.parts = parts
        duplicate = first_duplicate(self.names)  # a CSV header is checked as it is read
        if duplicate is not None:
            self.close()
            raise DataError("duplicate column name", file=name, column=duplicate)

    @property
    def schema(self) -> pa.Schema:
        """The batches' Arrow schema (read or built when first needed: polars alone reads a plain
        CSV file, and a Parquet file of simple columns written to CSV)."""
        if self._schema is None:
            self._schema = self._load_schema()
        return self._schema

    @property
    def metadata(self) -> dict[bytes, bytes]:
        """The schema's key-value metadata (of a Parquet file that pyarrow has not opened: as polars
        reads it)."""
        if self._schema is None and self.polars_types is not None:
            import polars as pl

            stored = pl.read_parquet_metadata(self.parquet_path)
            return {key.encode("utf-8"): value.encode("utf-8") for key, value in stored.items()
                    if key != "ARROW:schema"}
        return self.schema.metadata or {}

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The batches in order, read ahead on a second thread so reading overlaps the work on them."""
        return _read_ahead(self._batches)

    def close(self) -> None:
        if self._cleanup:
            self._cleanup()
            self._cleanup = None


_DONE = object()


def _read_ahead(batches: Iterator, depth: int = 2) -> Iterator:
    """Iterate ``batches`` on a worker thread, ``depth`` items ahead; errors surface in order."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce():
        try:
            for item in batches:
                while not stop.is_set():
                    try:
                        slots.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put((_DONE, None))
        except BaseException as exc:  # handed over to the consumer
            slots.put((_DONE, exc))

    worker = threading.Thread(target=produce, name="normcli-read", daemon=True)
    worker.start()
    try:
        while True:
            try:
                # In short waits, so that a signal is handled while the reader waits (see _WaitingInput).
                item, error = slots.get(timeout=_WaitingInput.WAIT)
            except queue.Empty:
                continue
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()


def open_table(source, fmt: str | None = None, options: CsvOptions = CsvOptions()) -> Table:
    """Open a path, ``-`` (stdin) or an in-memory Arrow table for reading."""
    if type(source).__module__.startswith("pyarrow") and isinstance(source, pa.Table):
        return Table("<data>", source.schema, iter(source.to_batches()), text=False, fmt="arrow")
    name = display_name(source)
    if source != STDIO and (Path(source).is_dir() or is_glob(str(source))):
        return _open_parquet_dataset(source, name)
    fmt = format_of(source, fmt, default="csv" if source == STDIO else None)
    if fmt == "parquet":
        return _open_parquet(source, name)
    if source == STDIO:
        return _open_csv(open_stdin(), name, fmt, options)
    return _open_csv(_open_file(source, name), name, fmt, options, path=source)


def open_stdin():
    """Standard input as bytes; a DataError when the process was started with it closed."""
    if sys.stdin is None:
        raise DataError("cannot read: standard input is closed", file=display_name(STDIO))
    try:
        descriptor = sys.stdin.fileno()
    except (AttributeError, ValueError, OSError):  # replaced by an object without one (a test runner's)
        return sys.stdin.buffer
    return io.BufferedReader(_WaitingInput(descriptor), buffer_size=1 << 16)


class _WaitingInput(io.RawIOBase):
    """A file descriptor read so that Ctrl-C is felt while it waits for data (a terminal, a pipe
    whose writer is idle). A plain blocking read went on waiting after the signal (strace shows it
    restarted), and Python runs its handler only once the read returns: Ctrl-C did nothing until
    the input ended. ``select`` is never restarted, and a short wait gives the handler its turn at
    least every WAIT seconds, also when the signal went to another thread."""

    WAIT = 0.2

    def __init__(self, descriptor: int):
        self._descriptor = descriptor

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._descriptor

    def readinto(self, buffer) -> int:
        while not select.select([self._descriptor], [], [], self.WAIT)[0]:
            pass
        return os.readv(self._descriptor, [buffer])


def is_glob(path: str) -> bool:
    """Whether ``path`` is a pattern for files rather than a file (one that exists is a file)."""
    return any(ch in path for ch in "*?[") and not os.path.exists(path)


def _open_parquet_dataset(source, name: str) -> Table:
    """A directory (hive-partitioned or not) or a glob of Parquet files, read as one table: its
    files in name order, each a part of it (``Table.parts``) named by its own path."""
    import glob

    import pyarrow.dataset as ds

    if Path(source).is_dir():
        paths = source
    else:
        paths = sorted(glob.glob(str(source), recursive=True))
        if not paths:
            raise FileError("no file matches", file=name)
    try:
        dataset = ds.dataset(paths, format="parquet", partitioning="hive")
        fragments = sorted(dataset.get_fragments(), key=lambda fragment: fragment.path)
        if not fragments:
            raise FileError("no Parquet files in the directory", file=name)
        schema = _dataset_schema(fragments, dataset.partitioning.schema)
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        raise DataError(f"not a readable Parquet data set ({_first_line(exc)})", file=name) from None

    parts = [Table(display_name(f.path), schema,
                   _part_batches(f.path, ds.get_partition_keys(f.partition_expression), schema), text=False,
                   fmt="parquet")
             for f in fragments]
    return Table(name, schema, (batch for part in parts for batch in part._batches), text=False, fmt="parquet",
                 parts=parts)


def _part_batches(path: str, partitions: dict, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """A data set's file as batches of the data set's ``schema``: its columns (cast where the data
    set has a wider number type), then its hive ``partitions`` values. Read as a single file is, a
    row group at a time (pyarrow's dataset scanner held twice the memory)."""
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(path, pre_buffer=False) as parquet:
            stored = set(parquet.schema_arrow.names)
            for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
                columns = [batch.column(field.name).cast(field.type) if field.name in stored
                           else pa.repeat(pa.scalar(partitions.get(field.name), field.type), batch.num_rows)
                           for field in schema]
                yield pa.RecordBatch.from_arrays(columns, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        raise DataError(f"cannot read Parquet data ({_first_line(exc)})", file=display_name(path)) from None


def _dataset_schema(fragments, partitions: pa.Schema) -> pa.Schema:
    """The schema of a data set's files read as one table: every file has the first file's columns,
    no others, each of the same type, or a number where the first has a number (integers of
    several widths are read as the widest, integers beside floats as floats, as pyarrow promotes
    them); then the hive partition columns. A file that differs is an error naming it and the column."""
    first = _physical_schema(fragments[0])
    first_name = display_name(fragments[0].path)
    schema = first
    for fragment in fragments[1:]:
        here = _physical_schema(fragment)
        name = display_name(fragment.path)
        for field in first:
            if here.get_field_index(field.name) < 0:
                raise DataError(f"missing here but present in {first_name}", file=name, column=field.name)
        for field in here:
            if first.get_field_index(field.name) < 0:
                raise DataError(f"present here but not in {first_name}", file=name, column=field.name)
            before = first.field(field.name).type
            if field.type != before and not (_is_number(field.type) and _is_number(before)):
                raise DataError(f"{field.type} here but {before} in {first_name}", file=name,
                                column=field.name)
        schema = pa.unify_schemas([schema, here], promote_options="permissive")
    return pa.unify_schemas([schema, partitions], promote_options="permissive") if len(partitions) else schema


def _physical_schema(fragment) -> pa.Schema:
    try:
        return fragment.physical_schema
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"not a readable Parquet file ({_first_line(exc)})", file=display_name(fragment.path)) from None


def _is_number(dtype: pa.DataType) -> bool:
    return pa.types.is_integer(dtype) or pa.types.is_floating(dtype)


def _open_file(path, name: str):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise FileError("no such file", file=name) from None
    except IsADirectoryError:
        raise FileError("is a directory, not a file", file=name) from None
    except OSError as exc:
        raise FileError(f"cannot open: {exc.strerror or exc}", file=name) from None


def _open_parquet(source, name: str) -> Table:
    cleanup = None
    polars_types = None
    if source == STDIO:
        # Parquet keeps its index at the end of the file: stdin is copied to a temporary file first.
        stdin = open_stdin()
        spool = tempfile.TemporaryFile()
        with contextlib.suppress(BrokenPipeError):
            while chunk := stdin.read(1 << 20):
                spool.write(chunk)
        spool.seek(0)
        handle = spool
        cleanup = spool.close
    else:
        handle = _open_file(source, name)
        cleanup = handle.close
        polars_types = _simple_polars_types(source)
    parquet = None

    def parquet_file():
        # pyarrow's reader, opened when first needed: a tenth of a second of imports, spared when
        # polars does all the work.
        nonlocal parquet
        if parquet is None:
            import pyarrow.parquet as pq

            try:
                parquet = pq.ParquetFile(handle, pre_buffer=False)
            except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
                cleanup()
                raise DataError(f"not a readable Parquet file ({_first_line(exc)})", file=name) from None
        return parquet

    def batches():
        try:
            yield from parquet_file().iter_batches(batch_size=PARQUET_BATCH_ROWS)
        except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
            raise DataError(f"cannot read Parquet data ({_first_line(exc)})", file=name) from None

    path = None if source == STDIO else os.fspath(source)
    if polars_types is None:
        return Table(name, parquet_file().schema_arrow, batches(), text=False, fmt="parquet", cleanup=cleanup,
                     parquet_path=path)
    return Table(name, list(polars_types), batches(), text=False, fmt="parquet", cleanup=cleanup, parquet_path=path,
                 load_schema=lambda: parquet_file().schema_arrow, polars_types=polars_types)


def _simple_polars_types(path) -> dict | None:
    """The column types of the Parquet file at ``path`` as polars reads them, when every one is an
    integer, a float (not half), a boolean or text: pyarrow then reads the same kind of column
    (integer, float, bool, or one of its text types). None otherwise, or when polars cannot say.

    An extension type (pyarrow's bool8, uuid, ...) is the exception: polars reads its storage, so
    a file that has one in its Arrow schema is left to pyarrow."""
    import polars as pl

    try:
        types = dict(pl.read_parquet_schema(path))
        stored = pl.read_parquet_metadata(path).get("ARROW:schema", "")
    except Exception:  # pyarrow's reader gives the error, with its reason
        return None
    simple = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64, pl.Float32,
              pl.Float64, pl.Boolean, pl.String)
    if not types or not all(dtype in simple for dtype in types.values()):
        return None
    try:
        if b"ARROW:extension:name" in base64.b64decode(stored):
            return None
    except ValueError:
        return None
    return types


def text_schema(names: list[str]) -> pa.Schema:
    return pa.schema([(n, pa.string()) for n in names])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


_QUOTE = ord('"')


class _Utf8Reader:
    """``stream``'s bytes in ``encoding``, read as UTF-8. A byte that is not ``encoding`` is passed
    on as it is (surrogateescape), for the UTF-8 check to refuse with its row and value. Reading
    UTF-8 keeps the quote check on bytes right for every encoding: in some (ISO-2022-JP, Shift JIS,
    UTF-7) a letter's bytes can include a quote or a comma."""

    def __init__(self, stream, encoding: str):
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="surrogateescape")
        self._ready = b""
        self._done = False

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._ready) < size):
            chunk = self._stream.read(1 << 20)
            self._done = not chunk
            self._ready += self._decoder.decode(chunk, final=self._done).encode("utf-8", errors="surrogateescape")
        if size < 0:
            size = len(self._ready)
        data, self._ready = self._ready[:size], self._ready[size:]
        return data


def _quotes_at_end(view) -> int:
    """How many quotes ``view`` (a uint8 array) ends with, looking back no further than it must."""
    size = 64
    while True:
        window = view[-size:]
        others = np.flatnonzero(window != _QUOTE)
        if others.size:
            return window.size - 1 - int(others[-1])
        if window.size == view.size:
            return view.size
        size *= 16


class _Replay(io.RawIOBase):
    """A binary stream that yields ``prefix`` and then the rest of ``stream`` (stdin cannot seek),
    showing every byte it yields to ``quotes``."""

    def __init__(self, prefix: bytes, stream, quotes: _QuoteState):
        self._prefix = prefix
        self._stream = stream
        self.quotes = quotes

    def readable(self):
        return True

    def readinto(self, buffer):
        if self._prefix:
            data, self._prefix = self._prefix[: len(buffer)], self._prefix[len(buffer) :]
        else:
            data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        self.quotes.feed(data)
        return len(data)


class _QuoteState:
    """Whether the bytes fed so far end inside a quoted field, by the careful reader's rules.

    pyarrow reads a quote that is never closed as a field running to the end of the input, rows and
    all, without a word; ``finish`` tells. Its rules: a quote opens a quoted field only where a
    field starts; inside one, two quotes are a quote and one quote ends it (what follows, up to the
    separator, is text, where a quote is a quote). So runs of quotes decide: an even run changes
    nothing; an odd run where a field starts toggles (it opens a field, or ends one after escaped
    quotes); an odd run anywhere else leaves the reader outside (it ends a quoted field, or is
    text). Only the odd runs after the last of those matter, and a chunk is read back from its end
    until one is found: a few KiB of most chunks with quotes, none of those without.
    """

    TAIL = 1 << 12

    def __init__(self, separator: str):
        self._field_start = np.zeros(256, dtype=bool)
        self._field_start[[ord(separator), ord("\n"), ord("\r")]] = True
        self.inside = False
        self._before = ord("\n")  # the byte before the pending quotes; the input starts a field
        self._pending = 0  # quotes at the end of what was fed: the next chunk may add to them

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        if self._pending == 0 and chunk.find(b'"') < 0:  # most chunks of most files
            self._before = chunk[-1]
            return
        view = np.frombuffer(chunk, dtype=np.uint8)
        lead = _quotes_at_end(view[::-1])
        if lead == view.size:
            self._pending += view.size
            return
        end = view.size - _quotes_at_end(view)
        self._run(self._before, self._pending + lead)
        self._settle(view[lead:end])
        self._before, self._pending = int(view[end - 1]), view.size - end

    def finish(self) -> bool:
        """True when the input ends inside a quoted field."""
        self._run(self._before, self._pending)
        self._pending = 0
        return self.inside

    def _run(self, before: int, length: int) -> None:
        if length % 2:
            self.inside = not self.inside if self._field_start[before] else False

    def _settle(self, data: np.ndarray) -> None:
        """The runs of ``data``, which neither starts nor ends with a quote."""
        size = self.TAIL
        while True:
            start = max(0, data.size - size)
            if data[start] == _QUOTE:  # start at the byte before the run, not inside it
                start = int(np.flatnonzero(data[:start] != _QUOTE)[-1])
            if self._runs(data[start:], whole=start == 0):
                return
            size *= 16

    def _runs(self, data: np.ndarray, whole: bool) -> bool:
        """Apply the runs of quotes in data[1:] (data[0] is the byte before them, not a quote);
        False, and nothing changed, when the result depends on what came before ``data``."""
        quotes = np.flatnonzero(data == _QUOTE)
        if quotes.size == 0:
            return whole
        first = np.empty(quotes.size, dtype=bool)
        first[0] = True
        np.not_equal(quotes[1:], quotes[:-1] + 1, out=first[1:])
        starts = np.flatnonzero(first)
        odd = (np.diff(starts, append=quotes.size) & 1).astype(bool)
        at_field_start = self._field_start[data[quotes[starts] - 1]]
        toggles = odd & at_field_start
        leaves = np.flatnonzero(odd & ~at_field_start)
        if leaves.size:
            self.inside = bool(np.count_nonzero(toggles[leaves[-1] + 1 :]) & 1)
            return True
        if not whole:
            return False
        self.inside ^= bool(np.count_nonzero(toggles) & 1)
        return True


def _read_header(stream, name: str, separator: str, encoding: str) -> tuple[list[str], bytes | None]:
    """Column names from the first record of ``stream`` (UTF-8 bytes, read from ``encoding``), and
    the bytes read after it; None for those when the input ends with the header (no records)."""
    raw = bytearray()
    while True:
        chunk = stream.read(max(1 << 16, len(raw)))  # growing: the search starts again each time
        raw += chunk
        end = _end_of_first_record(raw, separator)
        if end is not None or not chunk:
            break
        if len(raw) > MAX_HEADER_BYTES:
            raise DataError(f"the header is longer than {MAX_HEADER_BYTES >> 20} MiB", file=name)
    if not raw.strip():
        raise DataError("empty file: no header and no data", file=name)
    if raw.startswith(b"PAR1"):  # Parquet's magic number, where text was expected
        raise DataError("this is Parquet, not text: give --input-format parquet", file=name)
    if end is None and raw.find(b"\n") >= 0:
        # The careful reader would take every line after it for part of the header.
        shown = bytes(raw[: raw.find(b"\n")]).decode("utf-8", errors="backslashreplace")
        raise DataError("a quoted name in the header is never closed", file=name, value=shown)
    header_bytes = bytes(raw[:end] if end is not None else raw)
    try:
        header = header_bytes.decode("utf-8")
    except UnicodeDecodeError:
        shown = header_bytes.decode("utf-8", errors="backslashreplace")
        try:
            fields = next(csv.reader([shown], delimiter=separator), [])
        except csv.Error:  # a lone carriage return: the header is all of it, shown whole
            fields = []
        bad = next((f for f in fields if "\\x" in f), shown)
        raise DataError(f"the header is not valid {encoding} text (see --encoding)", file=name, value=bad) from None
    # A byte order mark is no part of a name, however many there are (an encoding step repeated).
    header = header.lstrip("\ufeff").rstrip("\r")
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(header) + 1))  # a name may be as long as the header
    try:
        names = next(csv.reader([header], delimiter=separator, quotechar='"', strict=False), [])
    except csv.Error as exc:
        raise DataError(f"cannot read the header ({exc}; lines must end in \\n or \\r\\n)", file=name) from None
    finally:
        csv.field_size_limit(limit)
    duplicate = first_duplicate(names)
    if duplicate is not None:
        raise DataError("duplicate column name in the header", file=name, column=duplicate)
    return names, bytes(raw[end + 1 :]) if end is not None else None


def first_duplicate(names: list[str]) -> str | None:
    seen = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    return None


def _end_of_first_record(raw: bytes, separator: str) -> int | None:
    """Index of the newline that ends the first CSV record, by the careful reader's rules (see
    _QuoteState): a newline inside a quoted field does not end it, and a quote that is not where a
    field starts is text."""
    field_starts = (ord(separator), ord("\n"), ord("\r"))
    first = 0
    while raw.startswith(codecs.BOM_UTF8, first):
        first += len(codecs.BOM_UTF8)
    position = first
    newline = raw.find(b"\n", position)
    while True:
        if 0 <= newline < position:  # found again only once passed: a wide quoted header is not quadratic
            newline = raw.find(b"\n", position)
        quote = raw.find(b'"', position)
        while 0 <= quote and (quote < newline or newline < 0) and quote != first and raw[quote - 1] not in field_starts:
            quote = raw.find(b'"', quote + 1)  # text inside an unquoted field
        if quote < 0 or 0 <= newline < quote:
            return newline if newline >= 0 else None
        while True:  # inside a quoted field: "" is a quote, " ends it
            quote = raw.find(b'"', quote + 1)
            if quote < 0:
                return None
            if raw[quote + 1 : quote + 2] != b'"':
                break
            quote += 1
        position = quote + 1


def _open_csv(stream, name: str, fmt: str, options: CsvOptions, path=None) -> Table:
    separator = options.separator(fmt)
    close = stream.close if path is not None else (lambda: None)  # stdin stays open
    if codecs.lookup(options.encoding).name != "utf-8":
        stream = _Utf8Reader(stream, options.encoding)
    try:
        names, rest = _read_header(stream, name, separator, options.encoding)
        if rest == b"":
            rest = stream.read(1 << 16)
    except BaseException:
        close()
        raise
    if not rest:
        close()  # the header alone: no records
        return Table(name, names, iter(()), text=True, fmt=fmt)

    def failure(exc) -> DataError:
        message = _first_line(exc)
        # pyarrow's message names the record (blank lines not counted) and shows its start. Its
        # invalid-row handler would give the same, but it decodes the text first and a record that
        # is not UTF-8 makes that fail where nothing can catch it (Python prints a traceback).
        found = _RAGGED_MESSAGE.search(message)
        if found:
            number, expected, actual, text = found.groups()
            return DataError(f"ragged row: {actual} fields where the header has {expected}", file=name,
                             row=int(number), value=text)
        return DataError(f"cannot parse: {message}", file=name)

    def open_reader(quotes: _QuoteState):
        import pyarrow.csv as pcsv

        return pcsv.open_csv(
            # The header is read already: a quoted name with a line break in it is one record here,
            # where pyarrow's skip_rows would skip one line.
            io.BufferedReader(_Replay(rest, stream, quotes), buffer_size=1 << 20),
            read_options=pcsv.ReadOptions(
                column_names=names, block_size=CSV_BLOCK_BYTES, encoding="utf8",
                # One thread parses, so a bad row's number is known (the reading is not the slow part).
                use_threads=False,
            ),
            parse_options=pcsv.ParseOptions(delimiter=separator, quote_char='"', newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(
                # Bytes, made text batch by batch (_as_text), so that a value that is not UTF-8 is
                # named with its row: pyarrow's own check names neither, and stdin cannot be read again.
                column_types=dict.fromkeys(names, pa.binary()),
                # An empty field is missing; a quoted empty field "" stays an empty string, so
                # both come back out as they went in.
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )

    def batches():
        # Opened on first use: the reader parses its first block at once, wasted when polars reads.
        schema, quotes = text_schema(names), _QuoteState(separator)
        try:
            reader = open_reader(quotes)
        except pa.ArrowInvalid as exc:
            close()
            raise failure(exc) from None
        rows, last = 0, None
        try:
            for batch in reader:
                batch = _as_text(batch, schema, name, rows, options.encoding)
                if batch.num_rows:
                    if last is not None:
                        yield last  # one batch behind: the last waits for the quote check below
                    rows, last = rows + batch.num_rows, batch
        except pa.ArrowInvalid as exc:
            raise failure(exc) from None
        finally:
            reader.close()
            close()
        if quotes.finish():
            # Only a field of the last column runs to the end without making its row ragged.
            value = last.column(last.num_columns - 1)[-1].as_py() if last is not None else None
            raise DataError("a quoted value is never closed: it runs on to the end of the input", file=name,
                            column=names[-1] if last is not None else None, row=rows or None,
                            value=None if value is None else _opening(value))
        if last is not None:
            yield last

    plain = None
    if path is not None and len(names) > 1 and options.encoding.lower().replace("-", "") == "utf8":
        plain = PlainCsv(path, names, separator)
    return Table(name, names, batches(), text=True, fmt=fmt, cleanup=close, plain=plain)


class PlainCsv:
    """A CSV or TSV file that polars' parallel reader reads exactly as the careful reader above does.

    polars gives a short row nulls without a word, makes a blank line a row of nulls, reads a field of
    spaces as missing and does not end a line at a lone carriage return. So the file counts as plain
    only when it has no quote character, no blank line, no field starting with whitespace, no lone
    carriage return, and exactly as many separators as its lines need (polars refuses a long row
    itself, so the total proves every row). That is checked on a second thread (numpy releases the
    lock) while polars reads, from the first call of ``problem``, which gives the verdict. A caller
    that finds the file is not plain, or meets anything unusual, does the work again with the
    careful reader.
    """

    def __init__(self, path, names: list[str], separator: str):
        self.path = os.fspath(path)
        self.names = names
        self.separator = separator
        self.records: int | None = None  # data rows, once checked
        self._problem: str | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Lock()
        self._stop = threading.Event()

    def scan(self, keys: list[str], dtypes: list, null_values=None):
        """A polars LazyFrame of the records, column i named ``keys[i]`` and read as ``dtypes[i]``;
        an empty field is missing, and so is one of ``null_values``."""
        import polars as pl

        return pl.scan_csv(
            self.path, has_header=False, skip_lines=1, separator=self.separator, quote_char=None,
            schema=dict(zip(keys, dtypes)), null_values=list(null_values) if null_values else None,
            empty_string_is_null=True, infer_schema=False,
            truncate_ragged_lines=False, encoding="utf8", raise_if_empty=False, glob=False,
        )

    HEAD_BYTES = 1 << 16
    # Bytes the check reads at a time. It passes over each block ten times (a count of newlines,
    # one of separators, a search for each unusual byte): a block that stays in a core's cache
    # makes them cheap. Beside polars at 2M rows, 4 MiB blocks took 0.27 s of CPU, 256 KiB 0.12 s.
    CHECK_BYTES = 1 << 18

    def head(self, keys: list[str]):
        """The whole lines in the first HEAD_BYTES bytes, as a polars frame of text (the header left out)."""
        import polars as pl

        size = self.HEAD_BYTES
        with open(self.path, "rb") as handle:
            raw = handle.read(size)
        if len(raw) == size:
            raw = raw[: raw.rfind(b"\n") + 1]
        return pl.read_csv(io.BytesIO(raw), has_header=False, skip_lines=1, separator=self.separator,
                           quote_char=None, schema=dict.fromkeys(keys, pl.String), null_values=None,
                           empty_string_is_null=True, infer_schema=False, raise_if_empty=False)

    @contextlib.contextmanager
    def reading(self):
        """For as long as polars reads the file: the check may run beside it, and polars reads it in
        CSV_BLOCK_BYTES chunks. Its default chunks grow with the file (peak RSS 310 MiB at 2M rows,
        380 MiB at 10M); 4 MiB chunks hold it near 190 MiB at any size, at the same speed. The
        setting is polars' own environment variable, read when a query runs: a polars that no
        longer knows it only costs memory."""
        saved = os.environ.get(POLARS_CSV_CHUNK_VARIABLE)
        os.environ[POLARS_CSV_CHUNK_VARIABLE] = str(CSV_BLOCK_BYTES)
        try:
            yield
        finally:
            self.cancel()
            if saved is None:
                os.environ.pop(POLARS_CSV_CHUNK_VARIABLE, None)
            else:
                os.environ[POLARS_CSV_CHUNK_VARIABLE] = saved

    def start(self) -> None:
        """Start the check, once. Callers ask for ``problem`` as polars hands over its first batch:
        polars is busy by then, and importing numpy (a tenth of a second) does not hold it up."""
        with self._started:
            if self._thread is None and not self._stop.is_set():
                thread = threading.Thread(target=self._check, name="normcli-check", daemon=True)
                thread.start()  # kept only once started: an interrupt in start() leaves nothing to join
                self._thread = thread

    def problem(self, wait: bool = True) -> str | None:
        """Why the file is not plain (None when it is); without ``wait``, only what is known so far.
        After ``cancel`` no check runs, and ``records`` stays unknown."""
        self.start()
        if wait and self._thread is not None:
            self._thread.join()
        return self._problem

    def cancel(self) -> None:
        self._stop.set()
        with self._started:
            thread = self._thread
        if thread is not None:
            thread.join()

    def _check(self) -> None:
        try:
            self._problem = self._scan_bytes()
        except OSError as exc:
            self._problem = f"cannot read: {exc}"

    def _scan_bytes(self) -> str | None:
        sep = ord(self.separator)
        # Bytes that need a closer look; each is rare in numeric data, and find() is a fast memchr.
        unusual = [b for b in (b'"', b"\r", b" ", b"\t", b"\x0b", b"\x0c") if b != self.separator.encode()]
        newlines = separators = 0
        previous = ord("\n")  # the byte before the current block; the file starts a line
        pending_cr = False
        buffer = bytearray(self.CHECK_BYTES)
        with open(self.path, "rb", buffering=0) as handle:
            while size := handle.readinto(buffer):
                if self._stop.is_set():
                    return "cancelled"
                block = np.frombuffer(buffer, dtype=np.uint8, count=size)
                if pending_cr and block[0] != ord("\n"):
                    return "a carriage return that does not end a line"
                pending_cr = False
                newlines += int(np.count_nonzero(block == ord("\n")))
                separators += int(np.count_nonzero(block == sep))
                if any(buffer.find(b, 0, size) >= 0 for b in unusual):
                    problem = self._look_closer(block, sep, previous)
                    if problem:
                        return problem
                    pending_cr = bool(block[-1] == ord("\r"))
                previous = int(block[-1])
        if pending_cr:
            return "a carriage return that does not end a line"
        lines = newlines + (previous != ord("\n"))
        if separators != (len(self.names) - 1) * lines:
            return "rows of differing length, or blank lines"
        self.records = lines - 1
        return None

    @staticmethod
    def _look_closer(block: np.ndarray, sep: int, previous: int) -> str | None:
        if (block == ord('"')).any():
            return "quote characters"
        space = (block == ord(" ")) | (block == 0x0B) | (block == 0x0C)
        if sep != ord("\t"):
            space |= block == ord("\t")
        starts = np.flatnonzero(space)
        if starts.size:
            before = np.where(starts > 0, block[starts - 1], previous)
            if ((before == sep) | (before == ord("\n"))).any():
                return "a field that starts with whitespace"
        returns = np.flatnonzero(block == ord("\r"))
        inside = returns[returns + 1 < block.size]
        if (block[inside + 1] != ord("\n")).any():
            return "a carriage return that does not end a line"
        return None


_RAGGED_MESSAGE = re.compile(r"Row #(\d+): Expected (\d+) columns, got (\d+): (.*)")


def _opening(text: str, limit: int = 40) -> str:
    """The start of a long value, for a message: its first line, at most ``limit`` characters."""
    line = text.split("\n", 1)[0].split("\r", 1)[0]
    return line if len(line) <= limit and line == text else line[:limit] + "..."


def _as_text(batch: pa.RecordBatch, schema: pa.Schema, name: str, offset: int, encoding: str) -> pa.RecordBatch:
    """A batch read as bytes, as text; the first value that is not UTF-8 is refused with its row
    (``offset`` rows came before the batch)."""
    try:
        return pa.RecordBatch.from_arrays([column.cast(pa.string()) for column in batch.columns], schema=schema)
    except pa.ArrowInvalid:
        pass
    first = None  # (row, column, value)
    for column, values in zip(schema.names, batch.columns):
        for row, value in enumerate(values.to_pylist()[: first[0] if first else None]):
            if value is None:
                continue
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                first = (row, column, value)
                break
    if first is None:  # pyarrow and Python disagree on what UTF-8 is: name what is known
        raise DataError(f"not valid {encoding} text (see --encoding)", file=name)
    row, column, value = first
    raise DataError(f"not valid {encoding} text (see --encoding)", file=name, column=column, row=offset + row + 1,
                    value=value.decode("utf-8", errors="backslashreplace"))


# ---------------------------------------------------------------------------------------------
# Writing


@contextlib.contextmanager
def atomic_file(path, mode: str = "wb", sync: bool = False):
    """Yield a temporary file beside ``path``; on success it replaces ``path``, on any failure
    (an exception, Ctrl-C, SIGTERM turned into SystemExit) it is removed and ``path`` is untouched.

    ``sync`` also flushes the file to disk before the rename (survives a power cut, not only a
    killed process); it is used for sidecars, where it costs nothing, and not for data, where it
    costs about a second per 300 MB here and no other data tool does it."""
    target = Path(path)
    directory = target.parent
    name = display_name(path)
    if target.is_dir():
        raise FileError("output is a directory", file=name)
    if not directory.is_dir():
        raise FileError("output directory does not exist", file=name)
    pending = _defer_signals()
    try:
        fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        pending()
        raise FileError(f"cannot write here: {exc.strerror or exc}", file=name) from None
    try:
        pending()  # a Ctrl-C or SIGTERM that came while the file was made lands here, inside the cleanup
        os.close(fd)
        with open(temp, mode) as handle:  # by name, so that handle.name is the temporary file's path
            yield handle
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        os.chmod(temp, _mode_for(target))
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError) and not is_broken_pipe(exc):
            raise FileError(f"cannot write: {exc.strerror or exc}", file=name) from None
        raise


def _mode_for(target: Path) -> int:
    """The permissions of the file ``target`` replaces (as ``>`` and ``cp`` keep them), or those a
    new file gets under the umask."""
    try:
        # Read and write bits only: setuid and setgid on a file now owned by whoever ran normcli
        # would hand that user's rights to the file's users.
        return stat.S_IMODE(os.stat(target).st_mode) & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _defer_signals():
    """Hold the UNWINDING_SIGNALS until the returned function is called, which restores the handlers
    and delivers what arrived (so a signal cannot fall between creating a temp file and the
    ``try`` that removes it)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    arrived = []
    previous = {sig: signal.signal(sig, lambda number, frame: arrived.append(number))
                for sig in UNWINDING_SIGNALS}

    def release():
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in arrived:
            signal.raise_signal(sig)

    return release


def refuse_binary_terminal(path, fmt: str) -> None:
    """Parquet is not written to a terminal: it would be bytes on the screen, some of which the
    terminal takes as commands."""
    descriptor = 1 if path in (None, STDIO) else _descriptor(path)
    if descriptor is None or fmt != "parquet":
        return
    try:
        terminal = os.isatty(descriptor)
    except OSError:  # a closed descriptor
        terminal = False
    if terminal:
        raise UsageError("stdout is a terminal and Parquet is binary: give -o FILE, pipe the output, "
                         "or use --output-format csv")


@contextlib.contextmanager
def output_stream(path, sync: bool = False):
    """A binary stream for ``path`` (atomic) or stdout for ``-``/None."""
    if path in (None, STDIO):
        if sys.stdout is None:  # started with stdout closed (>&-)
            raise FileError("cannot write: standard output is closed", file="<stdout>")
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    descriptor = _descriptor(path)
    if descriptor is not None or streams(path):
        # A device or a FIFO (/dev/null, a named pipe): nothing to replace, so write to it. An open
        # descriptor (/dev/stdout) is written as it is, not opened again: opened again by name, a
        # redirect to a file would be truncated (`>> log`) or, replaced, lose what else goes to it.
        try:
            handle = os.fdopen(os.dup(descriptor), "wb") if descriptor is not None else open(target, "wb")
        except OSError as exc:
            raise FileError(f"cannot write: {exc.strerror or exc}", file=display_name(path)) from None
        try:
            with handle:
                yield handle
        except OSError as exc:
            if is_broken_pipe(exc):  # a FIFO or /dev/stdout whose reader went away
                raise
            raise FileError(f"cannot write: {exc.strerror or exc}", file=display_name(path)) from None
        return
    # Through a symlink, the file it points to is replaced, and the link stays.
    if target.is_symlink():
        try:
            os.stat(target)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # links that point at each other: nothing to write to
                raise FileError(f"cannot write: {exc.strerror}", file=display_name(path)) from None
    with atomic_file(os.path.realpath(target) if target.is_symlink() else path, sync=sync) as handle:
        yield handle


_STANDARD_DESCRIPTORS = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}


def _descriptor(path) -> int | None:
    """The open file descriptor a path names (/dev/stdout, /dev/fd/3, /proc/self/fd/3), if any."""
    text = os.fspath(path)
    if text in _STANDARD_DESCRIPTORS:
        return _STANDARD_DESCRIPTORS[text]
    match = re.fullmatch(r"/(?:dev/fd|proc/self/fd)/([0-9]+)", text)
    return int(match.group(1)) if match else None


def streams(path) -> bool:
    """Whether output to ``path`` goes straight to a stream (stdout, a descriptor, a device or a
    FIFO) rather than to a new file renamed into place."""
    if path in (None, STDIO) or _descriptor(path) is not None:
        return True
    target = Path(path)
    return target.exists() and not target.is_file() and not target.is_dir()


def write_text(path, text: str) -> None:
    with output_stream(path, sync=True) as handle:
        handle.write(text.encode("utf-8"))


def csv_header(names: list[str], separator: str) -> bytes:
    """The header line for ``names``, quoted where needed, as polars quotes values: a carriage
    return is quoted too (with "\r\n" as the terminator the csv module quotes both)."""
    header = io.StringIO()
    csv.writer(header, delimiter=separator, lineterminator="\r\n").writerow(names)
    return header.getvalue().removesuffix("\r\n").encode("utf-8") + b"\n"


def missing_text(names: list[str]) -> str:
    """How a missing value is written in CSV with the columns ``names``: an empty field, or ``""``
    when it would stand alone on its line (a blank line is no record: read back, the row would be
    gone)."""
    return '""' if len(names) == 1 else ""


class CsvWriter:
    """Writes polars frames as CSV text. Serialising runs on a second thread while the next batch is
    read and computed (polars releases the GIL while it formats)."""

    def __init__(self, handle, schema: pa.Schema, separator: str):
        self._handle = handle
        self._separator = separator
        self._missing = missing_text(schema.names)
        # The header is written by us, not by polars, which would rename a blank column name; and
        # only once the first rows are ready, so that an early error leaves stdout empty.
        self._header: bytes | None = csv_header(schema.names, separator)
        self._queue: queue.Queue = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while (frame := self._queue.get()) is not None:
            if self._error is not None:
                continue
            try:
                frame.write_csv(self._handle, include_header=False, separator=self._separator,
                                null_value=self._missing)
            except BaseException as exc:  # handed to the main thread in write() or close()
                self._error = exc

    def write(self, frame) -> None:
        """Queue a polars DataFrame for writing."""
        if self._error is not None:
            self._raise()
        self._write_header()
        self._queue.put(frame)

    def _write_header(self):
        if self._header is not None:
            self._handle.write(self._header)
            self._header = None

    def _raise(self):
        error, self._error = self._error, None
        raise error

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            self._raise()
        self._write_header()  # no rows at all: the header alone

    def abort(self) -> None:
        self._error = self._error or RuntimeError("aborted")
        self._queue.put(None)
        self._thread.join()


def _polars_writes(dtype: pa.DataType) -> bool:
    """Whether polars writes a column of ``dtype`` to Parquet as pyarrow does (each one is checked
    against pyarrow in tests/test_io.py)."""
    return (pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_boolean(dtype)
            or pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype)
            or pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype) or pa.types.is_date32(dtype)
            or pa.types.is_decimal128(dtype) or (pa.types.is_timestamp(dtype) and dtype.unit != "s"))


def polars_writes_parquet(schema: pa.Schema) -> bool:
    """Whether ``sink_parquet`` can write a table of ``schema``; if not, ParquetWriter does."""
    try:
        _text_metadata(schema)
    except UnicodeDecodeError:
        return False
    return all(bool(field.name) and _polars_writes(field.type) for field in schema)


def _text_metadata(schema: pa.Schema) -> dict[str, str]:
    return {key.decode("utf-8"): value.decode("utf-8") for key, value in (schema.metadata or {}).items()}


def sink_parquet(frame, target, schema: pa.Schema) -> None:
    """Write a polars LazyFrame as Parquet with ``schema`` (see ``polars_writes_parquet``) to a path
    or a binary stream. The file is what pyarrow writes for ``schema`` in content, types and
    metadata. Its bytes depend on the rows alone, not on how they arrive in batches or on the
    number of threads: row groups are exactly PARQUET_ROW_GROUP_ROWS."""
    # polars writes text and bytes with 64-bit offsets only. Parquet stores both forms alike; the
    # Arrow schema kept in the file (as pyarrow keeps it) tells readers which one the column is.
    stored = _text_metadata(schema)
    stored["ARROW:schema"] = base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")
    written = pa.schema([field.with_type(pa.large_string() if pa.types.is_string(field.type)
                                         else pa.large_binary() if pa.types.is_binary(field.type) else field.type)
                         for field in schema])
    stream = None if isinstance(target, str) else _KeptErrors(target)
    try:
        frame.sink_parquet(target if stream is None else stream, compression="zstd",
                           row_group_size=PARQUET_ROW_GROUP_ROWS, arrow_schema=written, metadata=stored)
    except Exception:
        if stream is not None and stream.error is not None:
            raise stream.error from None  # polars passes on only its text
        raise


class _KeptErrors:
    """A binary stream that keeps the first OSError its writes raise (a broken pipe, a full disk)."""

    def __init__(self, stream):
        self._stream = stream
        self.error: OSError | None = None

    def _kept(self, call, *args):
        try:
            return call(*args)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def write(self, data) -> int:
        return self._kept(self._stream.write, data)

    def flush(self) -> None:
        self._kept(self._stream.flush)

    def __getattr__(self, name):
        return getattr(self._stream, name)


class UntilFailure:
    """A binary stream that holds back its first bytes (the writer's header) until there is more
    than a header to write, and drops every write once ``fail()`` is called. A Parquet writer that
    fails still closes its file with a footer (pyarrow and polars both do); to a pipe, that would
    make the rows before the failure read as a whole table, with only the exit status to tell."""

    HELD = 1 << 16

    def __init__(self, stream):
        self._stream = stream
        self._held: bytearray | None = bytearray()
        self.failed = False

    def fail(self) -> None:
        self.failed = True

    def write(self, data) -> int:
        if self.failed:
            return len(data)
        if self._held is None:
            return self._stream.write(data)
        self._held += data
        if len(self._held) >= self.HELD:
            self._release()
        return len(data)

    def _release(self) -> None:
        held, self._held = self._held, None
        self._stream.write(held)

    def finish(self) -> None:
        """The file is complete: write what is held back."""
        if self._held is not None and not self.failed:
            self._release()
        self.flush()

    def flush(self) -> None:
        if self._held is None and not self.failed:
            self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def batch_frame(batches: Iterator[pa.RecordBatch], schema: pa.Schema):
    """``batches`` (with ``schema``) as a polars LazyFrame that reads them once, as polars pulls."""
    import polars as pl
    from polars.io.plugins import register_io_source

    taken = False

    def source(with_columns, predicate, n_rows, batch_size):
        nonlocal taken
        if taken:  # a second reading would find the batches gone and write a short table
            raise RuntimeError("the batches were read twice")
        taken = True
        for batch in batches:
            frame = pl.from_arrow(batch)
            if predicate is not None:
                frame = frame.filter(predicate)
            yield frame if with_columns is None else frame.select(with_columns)

    return register_io_source(source, schema=pl.from_arrow(schema.empty_table()).schema)


class ParquetWriter:
    """Writes batches as Parquet with ``schema`` exactly, gathering them into large row groups:
    pyarrow's writer, for the types polars does not write (see ``polars_writes_parquet``).

    Columns named in ``continuous`` (scaled numbers) are written without dictionary encoding:
    trying it on 2M distinct floats made writing 2.7x slower and the file 30% larger."""

    def __init__(self, handle, schema: pa.Schema, continuous=()):
        import pyarrow.parquet as pq

        continuous = set(continuous)
        dictionary = [f.name for f in schema if f.name not in continuous]
        self._writer = pq.ParquetWriter(handle, schema, compression="zstd", use_dictionary=dictionary)
        self._schema = schema
        self._pending: list[pa.RecordBatch] = []
        self._rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        self._pending.append(batch)
        self._rows += batch.num_rows
        if self._rows >= PARQUET_ROW_GROUP_ROWS:
            # Row groups of exactly PARQUET_ROW_GROUP_ROWS, however the batches were cut: the file
            # is then the same whichever reader produced them.
            table = pa.Table.from_batches(self._pending, schema=self._schema)
            full = self._rows - self._rows % PARQUET_ROW_GROUP_ROWS
            self._writer.write_table(table.slice(0, full), row_group_size=PARQUET_ROW_GROUP_ROWS)
            self._pending = table.slice(full).to_batches()
            self._rows -= full

    def _flush(self):
        if self._rows:
            self._writer.write_table(pa.Table.from_batches(self._pending, schema=self._schema),
                                     row_group_size=self._rows)
        self._pending, self._rows = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()

    def abort(self) -> None:
        self._pending = []
        with contextlib.suppress(Exception):
            self._writer.close()
