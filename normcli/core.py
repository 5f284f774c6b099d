"""fit, apply and invert: the library behind the command line.

``data`` is a path (CSV, TSV or Parquet, by extension), ``-`` for stdin, a pandas DataFrame, a
polars DataFrame or a pyarrow Table. Frames come back as the same kind; paths are written to
``output`` (stdout when None).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import stat
import sys
import threading
import time
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Callable, Iterable, Iterator, Sequence

import polars as pl

from . import exact
from .errors import DataError, NormcliError, SidecarError, UsageError
from .io import (
    CsvOptions,
    CsvWriter,
    ParquetWriter,
    Table,
    batch_frame,
    display_name,
    first_duplicate,
    format_of,
    missing_text,
    open_table,
    output_stream,
    polars_writes_parquet,
    refuse_binary_terminal,
    sink_parquet,
    streams,
    UntilFailure,
)
from .lazy import module
from .methods import DEFAULT_METHOD, make_method
from .sidecar import INTEGER_DTYPES, ColumnParams, Sidecar
from .stats import (LONG_INTEGER, MAX_DECIMALS, SIGNIFICANT_DIGITS, ColumnAccumulator, InfiniteValue, capped_decimals,
                    digits_limit, long_integers, powers_of_ten, significant_decimals)

np = module("numpy")
pa = module("pyarrow")

_EPS = sys.float_info.epsilon
# invert gives back x from y = apply(x) by x' = (y - offset) / scale in floats, then rounds x' to
# the nearest point of x's decimal grid. The roundings on the way (two in apply, two in invert, the
# decimal's own float, the rounding to the grid) add up to less than 8 * eps/2 * (|x| + |offset /
# scale|): below 2**49 grid steps that is under half a step, and the nearest grid point is x. From
# half that (a margin) on, each value is checked against apply itself (_preimages).
_SAFE_STEPS = 2.0**48
# How near (in eps of |x| + |offset / scale|) a computed value must be to a grid point or an integer
# to be taken as it: far above invert's own error (8 of them, see above), far below any real step.
_NEAR_EPS = 64 * _EPS
SIDECAR_KEY = b"normcli.sidecar"
PANDAS_KEY = b"pandas"
SAVED_PANDAS_KEY = b"normcli.pandas"

Progress = Callable[[int], None]  # called with the number of rows just done


# ---------------------------------------------------------------------------------------------
# Inputs


def _frame_kind(data) -> str | None:
    module = type(data).__module__.split(".", 1)[0]
    if module == "pandas" and type(data).__name__ == "DataFrame":
        return "pandas"
    if module == "polars" and isinstance(data, pl.DataFrame):
        return "polars"
    if module == "pyarrow" and isinstance(data, pa.Table):
        return "arrow"
    return None


def _to_arrow(data, kind: str) -> pa.Table:
    """A frame as an Arrow table. A column Arrow cannot hold (a polars Object or Int128 column, a
    pandas column of mixed objects) is all nulls here: it is not numeric, and _from_arrow takes
    every column that is not scaled from the frame itself."""
    if kind == "pandas":
        # Arrow names are text (0 is read as "0"); pyarrow refuses a repeated one without naming it.
        names = [str(label) for label in data.columns]
        duplicate = first_duplicate(names)
        if duplicate is not None:
            raise DataError("duplicate column name", file="<data>", column=duplicate)
        try:
            return pa.Table.from_pandas(data, preserve_index=False)
        except _not_arrow():
            return _columns_or_nulls([(names[i], str(data.dtypes.iloc[i]),
                                       lambda i=i: pa.array(data.iloc[:, i], from_pandas=True))
                                      for i in range(data.shape[1])], len(data))
    if kind == "polars":
        objects = any(dtype == pl.Object for dtype in data.dtypes)  # to_arrow gives their pointers
        if not objects:
            with contextlib.suppress(*_not_arrow()):
                return data.to_arrow()
        return _columns_or_nulls([(series.name, str(series.dtype), None if series.dtype == pl.Object else series.to_arrow)
                                  for series in data.get_columns()], data.height)
    return data


def _not_arrow() -> tuple[type[BaseException], ...]:
    """What converting a column Arrow cannot hold raises (an int beyond int64 among objects:
    OverflowError). A function: pyarrow is loaded only once one is raised."""
    return pa.ArrowException, pl.exceptions.PolarsError, ValueError, TypeError, OverflowError


# The frame's own type of a column Arrow cannot hold, in its field's metadata: for a message.
_FRAME_TYPE = b"normcli.frame_type"


def _columns_or_nulls(columns: list[tuple[str, str, Callable[[], pa.Array] | None]], length: int) -> pa.Table:
    """A table of (name, frame type, conversion) columns; one that Arrow cannot hold (or has no
    conversion) is all nulls."""
    arrays, fields = [], []
    for name, frame_type, convert in columns:
        array = None
        if convert is not None:
            with contextlib.suppress(*_not_arrow()):
                array = convert()
        if array is not None:
            arrays.append(array)
            fields.append(pa.field(name, array.type))
        else:
            arrays.append(pa.nulls(length))
            fields.append(pa.field(name, pa.null(), metadata={_FRAME_TYPE: frame_type}))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _from_arrow(table: pa.Table, kind: str, source, scaled: set[str]):
    """``table`` as a frame of ``kind``, shaped as ``source`` (the frame it was computed from): the
    ``scaled`` columns from ``table``, every other column as it is in ``source``."""
    if kind == "pandas":
        import pandas as pd

        # Rows and columns as they were: the index (left out of the arithmetic), the labels, dtypes.
        frame = source.copy(deep=False)
        for i, field in enumerate(table.schema):
            if field.name in scaled:
                like = source.dtypes.iloc[i]
                if isinstance(like, pd.ArrowDtype):
                    column = table.column(i).to_pandas(types_mapper=pd.ArrowDtype)
                elif isinstance(like, pd.api.extensions.ExtensionDtype) or (
                        pa.types.is_integer(field.type) and table.column(i).null_count):
                    # Nullable in, nullable out (Int64, Float64, ...); and integers with gaps are
                    # pandas' nullable integers, as they come from Parquet, not float64.
                    column = table.column(i).to_pandas(types_mapper=_pandas_nullable)
                else:
                    column = table.column(i).to_pandas()
                frame.isetitem(i, column.set_axis(source.index))
        return frame
    if kind == "polars":
        frame = pl.DataFrame([pl.from_arrow(table.column(i)) if field.name in scaled else source.to_series(i)
                              for i, field in enumerate(table.schema)])
        frame.columns = table.column_names  # polars names a series called "" column_0
        return frame
    return table


def _pandas_nullable(dtype: pa.DataType):
    """pandas' nullable type for an Arrow number type (a ``types_mapper`` for ``to_pandas``)."""
    import pandas as pd

    return {pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
            pa.int64(): pd.Int64Dtype(), pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(),
            pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype(), pa.float32(): pd.Float32Dtype(),
            pa.float64(): pd.Float64Dtype()}.get(dtype)


def _check_source(source) -> None:
    if _frame_kind(source):
        return
    if not isinstance(source, (str, os.PathLike)):
        raise UsageError(f"data must be a path, a pandas or polars DataFrame or a pyarrow Table, not "
                         f"{type(source).__module__.split('.')[0]}.{type(source).__name__}")
    if os.fspath(source) == "":
        raise UsageError("an empty path names no file")  # pathlib would read it as "."


def _open(source, input_format, csv: CsvOptions) -> Table:
    _check_source(source)
    kind = _frame_kind(source)
    if kind:
        return open_table(_to_arrow(source, kind))
    return open_table(source, input_format, csv)


# The column that flags values only the careful path handles (see _scaled_columns); every data
# column's key starts with "c:".
_REFUSED = "refused"


def _any_refused(frame: pl.DataFrame) -> bool:
    return _REFUSED in frame.columns and bool(frame[_REFUSED].any())


def _key(name: str) -> str:
    """The name a column has inside polars frames: never empty (polars renames a blank name)."""
    return "c:" + name


def _frame(batch: pa.RecordBatch, names: list[str]) -> pl.DataFrame:
    """The named columns of ``batch`` as a polars frame keyed by ``_key``."""
    return pl.from_arrow(batch.select(names).rename_columns([_key(n) for n in names]))


def _present(column: str, text: bool, null_values: Sequence[str]) -> pl.Expr:
    """The column with its null tokens made missing (text), or as it is (typed data)."""
    expr = pl.col(_key(column))
    if text:
        expr = pl.when(expr.is_in(list(null_values))).then(None).otherwise(expr)
    return expr


def _parsed(column: str, text: bool, null_values: Sequence[str], strict: bool, dtype=pl.Float64) -> pl.Expr:
    """The column as ``dtype``: text is parsed (null tokens become missing), numbers are cast."""
    return _present(column, text, null_values).cast(dtype, strict=strict)


# An integer as written: beyond int64 it is still one (a 20-digit identifier), not a float.
_INTEGER_TEXT = r"^[+-]?[0-9]+$"


def _integer_flags(column: str, null_values: Sequence[str]) -> tuple[pl.Expr, pl.Expr]:
    """Per value of a text column: a number not written as an integer; an integer beyond int64."""
    present = _present(column, True, null_values)
    beyond = present.cast(pl.Float64, strict=False).is_not_null() & present.cast(pl.Int64, strict=False).is_null()
    integer = present.str.contains(_INTEGER_TEXT)
    return beyond & ~integer, beyond & integer


def _first_unparsable(frame: pl.DataFrame, column: str, null_values) -> tuple[int, str] | None:
    """(index, text) of the first value in a text column that is neither missing nor a number."""
    present = _present(column, True, null_values)
    bad = frame.select((present.is_not_null() & present.cast(pl.Float64, strict=False).is_null()).arg_true())
    if bad.height == 0:
        return None
    index = bad.item(0, 0)
    return index, frame[_key(column)][index]


def _not_numeric(table: Table, name: str) -> str | None:
    """Why the column cannot be scaled (its type), or None. Text (CSV, TSV) is judged value by value."""
    if table.text:
        return None
    if table.polars_types is not None and (table.polars_types[name].is_integer()
                                           or table.polars_types[name].is_float()):
        return None  # the same kind to pyarrow (see io._simple_polars_types); a refusal names its Arrow type
    field = table.schema.field(name)
    if pa.types.is_integer(field.type) or pa.types.is_floating(field.type):
        return None
    return f"not a numeric column (type {(field.metadata or {}).get(_FRAME_TYPE, b'').decode() or field.type})"


def _parse_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Iterable):
        return [str(value)]  # a pandas label 0 is "0"
    return [str(name) for name in value]


# ---------------------------------------------------------------------------------------------
# fit


@dataclass
class _Candidate:
    """A column being fitted."""

    name: str
    accumulator: ColumnAccumulator
    dtype: str  # Arrow type before scaling; text starts as int64 until a non-integer shows up
    nullable: bool
    text: bool  # read from CSV/TSV: an unpicked column may turn out to be text, and is dropped
    dropped: bool = False
    long_integer: DataError | None = None  # the first integer invert could not give back, if any
    beyond_int64: bool = False  # an integer written in text that int64 cannot hold
    too_many_digits: DataError | None = None  # the first integer of more than 15 significant digits

    @property
    def integer(self) -> bool:
        return self.dtype in INTEGER_DTYPES

    def meet(self, table: Table) -> None:
        """Account for the column's type in another input of the same fit."""
        if not table.text and not pa.types.is_integer(table.schema.field(self.name).type):
            self.dtype = "double"


def _candidates(table: Table, scaler, picked: list[str], excluded: set[str]) -> list[_Candidate]:
    names = set(table.names)
    for name in [*picked, *excluded]:
        if name not in names:
            raise DataError("no such column", file=table.name, column=name)
    candidates = []
    index = set() if picked else _pandas_index_columns(table)
    for name in picked or table.names:
        if name in excluded or name in index:
            continue
        problem = _not_numeric(table, name)
        if problem:
            if picked:
                raise DataError(problem, file=table.name, column=name)
            continue
        field = None if table.text else table.schema.field(name)
        candidates.append(_Candidate(
            name=name,
            accumulator=scaler.new_accumulator(),
            dtype="int64" if field is None else str(field.type),
            nullable=field is None or field.nullable,
            text=table.text,
        ))
    return candidates


def _pandas_index_columns(table: Table) -> set[str]:
    """The columns that pandas metadata in a Parquet file calls the frame's index: row labels, not
    data, so not scaled by default (as ``fit`` of the frame itself leaves the index out)."""
    if table.text:
        return set()
    try:
        metadata = table.metadata.get(PANDAS_KEY)
        names = json.loads(metadata)["index_columns"] if metadata else []
    except (ValueError, TypeError, KeyError):
        return set()  # not pandas' metadata after all: nothing to go by
    return {name for name in names if isinstance(name, str)} if isinstance(names, list) else set()


def fit(
    data,
    method: str = DEFAULT_METHOD,
    columns: Iterable[str] | str | None = None,
    exclude: Iterable[str] | str | None = None,
    *,
    feature_range=None,
    quantile_range=None,
    input_format: str | None = None,
    csv: CsvOptions = CsvOptions(),
    progress: Progress | None = None,
) -> Sidecar:
    """Fit ``method`` on the numeric columns of ``data`` and return the parameters.

    ``data`` may be a list: its members are fitted as one data set and must all have the columns.
    ``columns`` picks columns (default: every column whose non-missing values are all numbers);
    ``exclude`` leaves some out. Missing values are ignored; an infinite value is refused.
    """
    options = {}
    if feature_range is not None:
        options["feature_range"] = feature_range
    if quantile_range is not None:
        options["quantile_range"] = quantile_range
    scaler = make_method(method, options)
    sources = list(data) if isinstance(data, (list, tuple)) else [data]
    if not sources:
        raise DataError("no input to fit")
    for source in sources:
        _check_source(source)
    picked = list(dict.fromkeys(_parse_list(columns)))  # a name given twice is picked once
    excluded = set(_parse_list(exclude))
    both = next((name for name in picked if name in excluded), None)
    if both is not None:
        raise UsageError("both picked (-c) and left out (-x)", column=both)
    first_name = None if _frame_kind(sources[0]) else display_name(sources[0])

    try:
        candidates, rows = _fit_sources(sources, scaler, picked, excluded, input_format, csv, progress, plain=True)
    except _NotPlain:
        candidates, rows = _fit_sources(sources, scaler, picked, excluded, input_format, csv, progress, plain=False)

    fitted = []
    for candidate in candidates:
        acc = candidate.accumulator
        if candidate.dropped:
            continue
        whole = candidate.integer  # every value written as an integer
        if candidate.integer and candidate.beyond_int64:
            # int64 cannot hold the column: a float one, which gives back 36893489000000000000 as
            # 3.6893489e+19, the same number, and cannot give back more than 15 digits.
            candidate.dtype = "double"
            if candidate.too_many_digits is not None:
                raise candidate.too_many_digits
        if candidate.integer and candidate.long_integer is not None:
            raise candidate.long_integer  # only now: a later value can still make the column a float one
        if acc.count == 0:
            if picked:
                raise DataError("no values to fit (every value is missing)", file=first_name, column=candidate.name)
            continue
        try:
            statistics, parameters = scaler.fit(acc)
            # What apply would refuse, refused now (a value that is not finite: by to_json, below).
            problem = scaler.check(parameters) if all(math.isfinite(v) for v in parameters.values()) else None
            if problem:
                raise DataError(f"fitted parameters apply would refuse: {problem}")
            if whole:
                _refuse_merged_integers(acc, scaler.affine(parameters))
        except NormcliError as exc:
            raise exc.located(file=first_name, column=candidate.name) from None
        fitted.append(ColumnParams(
            name=candidate.name,
            method=scaler.name,
            options=scaler.options(),
            dtype=candidate.dtype,
            nullable=candidate.nullable,
            count=acc.count,
            nulls=acc.nulls,
            decimals=acc.decimals,
            statistics=statistics,
            parameters=parameters,
        ))
    if not fitted:
        if rows == 0:
            raise DataError("no data rows to fit (the input has a header only)", file=first_name)
        raise DataError("no numeric columns to fit (use -c to pick columns)", file=first_name)
    sidecar = Sidecar(tuple(fitted))
    try:
        sidecar.to_json()  # refuses non-finite statistics now, with the column named
    except NormcliError as exc:
        raise exc.located(file=first_name) from None
    return sidecar


def _refuse_merged_integers(acc: ColumnAccumulator, affine: tuple[float, float]) -> None:
    """DataError when apply would map two integers of the column to one float, so that invert could
    not tell which was there. Integers on the column's finest grid (steps of 1, or 10, 100, ... where
    every value is a multiple of it) lie within ``digits_limit`` of zero, the others on their own
    15-digit grid; each grid, scaled, must be coarser than the floats at the largest scaled value
    that grid reaches (zscore of 1, 2, 3, 7 beside 99999999999999600: its floats near the small
    values stand for steps of 4; maxabs keeps them apart, near 0)."""
    scale, offset = affine
    if acc.decimals is None or not scale:
        return
    fine = digits_limit(acc.decimals)
    grids = [(10.0 ** -acc.decimals, [min(max(acc.minimum, -fine), fine), min(max(acc.maximum, -fine), fine)])]
    top = max(-acc.minimum, acc.maximum)
    if top >= fine:  # the largest value, on the grid of its own 15 digits
        grids.append((10.0 ** -int(significant_decimals(np.array([top]))[0]), [acc.minimum, acc.maximum]))
    for step, ends in grids:
        largest = max(abs(x * scale + offset) for x in ends)
        resolution = float(np.spacing(largest)) / abs(scale)
        if resolution >= step:
            raise DataError(f"its integers differ in size too much to come back: scaled, floats tell them apart only "
                            f"to within {resolution:.3g}, and they are {step:g} apart; leave the column out of the "
                            "fit (-x), or scale its small and large values apart")


def _fit_sources(sources, scaler, picked, excluded, input_format, csv, progress, plain: bool):
    """Feed every source to fresh accumulators: (candidates, rows). With ``plain``, CSV files that
    polars can read exactly are read by it (raising _NotPlain when one proves not to be)."""
    candidates: list[_Candidate] | None = None
    rows = 0
    for source in sources:
        opened = _open(source, input_format, csv)
        try:
            for table in opened.parts or [opened]:  # the files of a data set, each an input
                if candidates is None:
                    candidates = _candidates(table, scaler, picked, excluded)
                else:
                    _meet(table, candidates, picked)
                if plain and table.plain is not None:
                    rows += _accumulate_plain(table, candidates, bool(picked), csv, progress)
                else:
                    rows += _accumulate(table, candidates, bool(picked), csv, progress)
        finally:
            opened.close()
    return candidates, rows


def _meet(table: Table, candidates: list[_Candidate], picked) -> None:
    """Check another input of the same fit against the first: every fitted column present and numeric."""
    present = set(table.names)
    for candidate in candidates:
        if candidate.dropped:
            continue
        if candidate.name not in present:
            raise DataError("column is missing here but present in the first input", file=table.name,
                            column=candidate.name)
        problem = _not_numeric(table, candidate.name)
        if problem:
            if picked:
                raise DataError(problem, file=table.name, column=candidate.name)
            candidate.dropped = True  # text here: not scaled by default, as in one input
            continue
        candidate.meet(table)


def _accumulate(table: Table, candidates: list[_Candidate], picked: bool, csv: CsvOptions, progress) -> int:
    """Feed every batch of ``table`` to the accumulators; drop unpicked columns that prove to be text."""
    offset = 0
    for batch in table.batches():
        active = [c for c in candidates if not c.dropped]
        if active and batch.num_rows:
            _accumulate_frame(_frame(batch, [c.name for c in active]), active, table, picked, csv, offset)
        offset += batch.num_rows
        if progress:
            progress(batch.num_rows)
    return offset


def _accumulate_frame(frame: pl.DataFrame, active: list[_Candidate], table: Table, picked: bool, csv: CsvOptions,
                      offset: int) -> None:
    """Add one batch (a frame keyed by ``_key``; text columns are String) to the accumulators."""
    text = {c.name: frame.schema[_key(c.name)] == pl.String for c in active}
    exprs = [_parsed(c.name, True, csv.null_values, strict=False).alias(_key(c.name)) for c in active if text[c.name]]
    # Text stays an integer column while every number in it is written as an integer.
    for c in active:
        if text[c.name] and c.integer:
            not_integer, beyond_int64 = _integer_flags(c.name, csv.null_values)
            exprs += [not_integer.any().alias(f"i:{c.name}"), beyond_int64.any().alias(f"o:{c.name}")]
    try:
        parsed = frame.select(exprs) if exprs else None
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"cannot read values: {str(exc).splitlines()[0]}", file=table.name) from None
    for candidate in active:
        # Numbers are taken as they are (no polars select per batch: it costs more than the work).
        _add_values(candidate, parsed if text[candidate.name] else frame, frame, table, picked, csv, offset,
                    text[candidate.name])


class _NotPlain(Exception):
    """polars met something in a CSV file that only the careful reader handles: start again with it."""


def _plain_types(table: Table, names: list[str], csv: CsvOptions, *, integers: bool,
                 nulls_known: bool) -> dict[str, pl.DataType | None]:
    """How polars should read each of ``names``, judged on the first lines as the careful reader would:
    Int64 (``integers`` and every number an integer) or Float64 when every value is a number or
    missing; String when that is unsure (all missing, or a null token polars is not told of: not
    ``nulls_known``); None when a value is not a number (a text column). A later value that does not
    fit makes polars fail, and the work starts again with the careful reader."""
    sample = table.plain.head([_key(n) for n in table.names])
    tokens = [t for t in csv.null_values if t]
    kinds = {}
    for name in names:
        text = sample[_key(name)]
        numbers = sample.select(_parsed(name, True, csv.null_values, strict=False)).to_series()
        if numbers.null_count() > sample.select(_present(name, True, csv.null_values)).to_series().null_count():
            kinds[name] = None
        elif numbers.null_count() == numbers.len() or (not nulls_known and text.is_in(tokens).any()):
            kinds[name] = pl.String
        elif integers and text.cast(pl.Int64, strict=False).null_count() == numbers.null_count():
            kinds[name] = pl.Int64
        elif integers and not sample.select(_integer_flags(name, csv.null_values)[0].any()).item():
            kinds[name] = pl.String  # integers beyond int64: the careful reading names the first
        else:
            kinds[name] = pl.Float64
    return kinds


def _output_types(table: Table, sidecar: Sidecar, csv: CsvOptions) -> dict[str, pl.DataType]:
    """``_plain_types`` of the sidecar's columns for apply and invert, where a text column is for
    the careful reader to name."""
    kinds = _plain_types(table, sidecar.names, csv, integers=False, nulls_known=False)
    if any(kind is None for kind in kinds.values()):
        raise _NotPlain  # the careful reader names the row and value
    return kinds


def _plain_scan(table: Table, dtypes: dict, null_values=None) -> pl.LazyFrame:
    """A plain CSV file as a polars scan keyed by ``_key``, each column read as ``dtypes[name]``
    (String when not given)."""
    return table.plain.scan([_key(n) for n in table.names], [dtypes.get(n) or pl.String for n in table.names],
                            null_values=null_values)


def _check_rows(table: Table, rows: int) -> None:
    """The end of a plain reading: _NotPlain unless the file's check passed and the rows add up."""
    if table.plain.problem() is not None or rows != table.plain.records:
        raise _NotPlain


def _plain_frames(table: Table, scan: pl.LazyFrame) -> Iterator[pl.DataFrame]:
    """The frames of ``scan`` (over a plain CSV file, see _plain_scan), computed by polars on every
    core. Raises _NotPlain as soon as the file's check fails, and at the end as _check_rows does."""
    rows = 0
    for frame in scan.collect_batches():
        if table.plain.problem(wait=False):
            raise _NotPlain
        rows += frame.height
        yield frame
    _check_rows(table, rows)


@contextlib.contextmanager
def _plain_attempt(table: Table):
    """Check the file beside the reading; anything polars or normcli refuses means start again."""
    try:
        with table.plain.reading():
            yield
    except (NormcliError, pl.exceptions.PolarsError):
        raise _NotPlain from None


def _accumulate_plain(table: Table, candidates: list[_Candidate], picked: bool, csv: CsvOptions, progress) -> int:
    """``_accumulate`` for a plain CSV file, read by polars on every core."""
    with _plain_attempt(table):
        active = [c for c in candidates if not c.dropped]
        kinds = _plain_types(table, [c.name for c in active], csv, integers=True, nulls_known=True)
        for candidate in active:
            if kinds[candidate.name] is None:
                if picked:
                    raise _NotPlain  # the careful reader names the row and value
                candidate.dropped = True
            elif kinds[candidate.name] is pl.Float64 and candidate.integer:
                candidate.dtype = "double"  # String (unsure, or integers beyond int64): judged as text is
        active = [c for c in active if not c.dropped]
        offset = 0
        scan = _plain_scan(table, kinds, csv.null_values).select([_key(c.name) for c in active])
        for frame in _plain_frames(table, scan):
            _accumulate_frame(frame, active, table, picked, csv, offset)
            offset += frame.height
            if progress:
                progress(frame.height)
        return offset


def _add_values(candidate: _Candidate, parsed: pl.DataFrame, frame: pl.DataFrame, table: Table, picked: bool,
                csv: CsvOptions, offset: int, text: bool) -> None:
    name = candidate.name
    values = parsed[_key(name)]
    if text:
        flag = f"i:{name}"  # "not an integer", beside the column's own key "c:{name}"
        if flag in parsed.columns and parsed[flag][0]:
            candidate.dtype = "double"
        if candidate.integer and f"o:{name}" in parsed.columns and parsed[f"o:{name}"][0]:
            candidate.beyond_int64 = True
        if values.null_count() > frame[_key(name)].null_count():
            bad = _first_unparsable(frame, name, csv.null_values)
            if bad is not None:
                if picked:
                    raise DataError("not a number", file=table.name, column=name, row=offset + bad[0] + 1, value=bad[1])
                candidate.dropped = True  # a text column: not scaled by default
                return
    array = values.to_numpy()  # float64 with NaN where missing, or the column's own numeric type
    if array.dtype != np.float64:
        array = array.astype(np.float64)
    elif text and candidate.integer:
        array = array + 0.0  # "-0" in a column of integers is 0, as polars reads it as Int64
    acc = candidate.accumulator
    try:
        acc.update(array)
    except InfiniteValue as exc:
        raw = frame[_key(name)][exc.index]
        raise DataError("infinite value; fit needs finite numbers", file=table.name, column=name,
                        row=offset + exc.index + 1, value=_as_written(raw)) from None
    if candidate.integer and candidate.too_many_digits is None and max(-acc.minimum, acc.maximum) >= LONG_INTEGER:
        inexact, candidate.too_many_digits = _long_integer(array, frame[_key(name)], table.name, name, offset)
        candidate.long_integer = candidate.long_integer or inexact


def _as_written(value) -> str:
    """A value read from a batch, for a message: text as written, a number as Python writes it."""
    return value if isinstance(value, str) else repr(float(value))


_LONG_INTEGER_MESSAGE = ("integer too long to scale and give back exactly (more than 15 significant digits, or not "
                         "exact in float64); leave the column out of the fit (-x)")


def _long_integer(values: np.ndarray, raw: pl.Series, file, name: str,
                  offset: int) -> tuple[DataError | None, DataError | None]:
    """Errors naming the first value of an integer column (``values``, as float64; ``raw`` as
    read) that invert could not give back exactly, and the first with more than 15 significant
    digits as written, which a float column could not give back either; None where there is none."""
    inexact = None
    index, certain = long_integers(values)
    for position, beyond in zip(index.tolist(), certain.tolist()):  # rare: at least 10**15
        value = raw[position]
        try:
            written = int(value) if isinstance(value, (int, str)) else None  # an integer, or its text
        except ValueError:
            written = None
        if written is None:
            continue  # a float given to apply (1e16, 1e15 + 0.5): invert names one it cannot make whole
        if beyond or written != int(values[position]):
            error = DataError(_LONG_INTEGER_MESSAGE, file=file, column=name, row=offset + position + 1,
                              value=value if isinstance(value, str) else str(value))
            inexact = inexact or error
            # Digits as written: -99999999999999999999 has 20, the -1e20 it is read as has one.
            if len(str(abs(written)).rstrip("0")) > SIGNIFICANT_DIGITS:
                return inexact, error
    return inexact, None


# ---------------------------------------------------------------------------------------------
# apply and invert


def _restore(x: pl.Expr, column: ColumnParams, decimals: pl.Expr | None = None,
             power: pl.Expr | None = None) -> pl.Expr:
    """Give back the original kind of number after the inverse arithmetic.

    Values are rounded to the column's recorded decimal places (negative: tens, hundreds, ...),
    each capped at its own 15 significant digits, when, and only when, the computed value lies
    within a few ulps of that decimal; integers are then rounded (the caller casts them back): so
    values written with up to 15 significant digits come back exactly, and values the fit never
    saw (with more places) are left as computed rather than rounded away.

    By default every value is rounded at the column's places (no value is capped: see _scaled);
    ``decimals`` is instead a column of capped places per value, with ``power`` = 10 ** |places|
    beside it (see _restore_batch).
    """
    origin = _origin(column)
    if column.decimals is None or math.isnan(origin):
        return x.round(mode="half_to_even") if column.integer else x
    if decimals is None:
        places = column.decimals  # within +-MAX_DECIMALS (the sidecar's schema says so)
        restored = exact.round_decimal(x, places, 10.0 ** abs(places))
    else:
        restored = exact.round_decimal(x, decimals.clip(-MAX_DECIMALS, MAX_DECIMALS), power)
    if origin != 0:
        # With an offset, apply maps 0.0 and -0.0 alike, and y * scale + offset a hair below zero
        # rounds to -0.0: a zero comes back as 0.0 (-0.0 + 0.0). Without one, -0.0 is what was there.
        restored = exact.add(restored, 0.0)
    near = (restored - x).abs() <= (x.abs() + origin) * _NEAR_EPS
    if decimals is not None:
        near = near & (decimals >= -MAX_DECIMALS)  # no coarser grid is exact in float64
    result = pl.when(near).then(restored).otherwise(x)  # NaN and infinities stay as computed
    return result.round(mode="half_to_even") if column.integer else result


def _origin(column: ColumnParams) -> float:
    """|offset / scale|: where invert's arithmetic adds the offset, its rounding is this big too.
    NaN (inf / inf) when nothing can be said of it."""
    scale, offset = column.affine
    return abs(offset / scale) if scale else 0.0


def _restore_batch(x: pl.Series, y: pl.Series, column: ColumnParams) -> pl.Series:
    """``_restore`` on one batch of inverses ``x`` of the values ``y`` invert was given: a value with
    more than 15 significant digits at the column's places is rounded at fewer, found per value
    (rare, and numpy's work), and a value too far from its grid for the float arithmetic to be
    sure of it is checked against apply (``_preimages``)."""
    if column.decimals is None:
        return x.to_frame("x").select(_restore(pl.col("x"), column)).to_series()
    values = x.to_numpy()
    largest = np.fmax.reduce(np.abs(values)) if values.size else 0.0  # NaN left out
    decimals = capped_decimals(values, column.decimals, largest if np.isfinite(largest) else None)
    if np.ndim(decimals):
        frame = pl.DataFrame({"x": x, "d": decimals,
                              "p": powers_of_ten(np.abs(np.clip(decimals, -MAX_DECIMALS, MAX_DECIMALS)))})
        restored = frame.select(_restore(pl.col("x"), column, pl.col("d"), pl.col("p"))).to_series()
    else:
        restored = x.to_frame("x").select(_restore(pl.col("x"), column)).to_series()
    return _preimages(restored, values, y, column, decimals)


def _preimages(restored: pl.Series, inverse: np.ndarray, y: pl.Series, column: ColumnParams, decimals) -> pl.Series:
    """``restored``, where a value lies beyond _SAFE_STEPS grid steps, replaced by the grid point
    within two steps of it that apply maps to ``y``; of two or more, the one nearest the exact
    inverse of ``y``. Where none does (``y`` was not written by apply), the value stays."""
    origin = _origin(column)
    if math.isnan(origin):
        return restored
    decimals = np.broadcast_to(decimals, inverse.shape)
    places = np.clip(decimals, -MAX_DECIMALS, MAX_DECIMALS)
    with np.errstate(invalid="ignore", over="ignore"):
        risky = (np.isfinite(inverse) & (decimals >= -MAX_DECIMALS)
                 & (np.abs(inverse) + origin >= _SAFE_STEPS * powers_of_ten(-places)))
    if not risky.any():
        return restored
    index = np.flatnonzero(risky)
    x, places, wanted = inverse[index], places[index], y.to_numpy()[index]
    power = powers_of_ten(np.abs(places))
    up = places >= 0
    nearest = np.where(up, np.round(x * power), np.round(x / power))  # in grid steps, as round_decimal
    shifts = (-2, -1, 0, 1, 2)
    with np.errstate(over="ignore"):
        candidates = np.stack([np.where(up, (nearest + k) / power, (nearest + k) * power) for k in shifts])
    frame = pl.DataFrame({str(k): row for k, row in zip(shifts, candidates)})
    images = frame.select([column.scaler.forward(pl.col(str(k)), column.parameters).alias(str(k))
                           for k in shifts]).to_numpy().T
    matches = images == wanted
    found = matches.sum(axis=0)
    chosen = candidates[matches.argmax(axis=0), np.arange(index.size)]
    for i in np.flatnonzero(found > 1):  # apply maps two grid points to this y: rare, decided exactly
        exact = column.scaler.exact_inverse(Fraction(float(wanted[i])), column.parameters)
        chosen[i] = min(candidates[matches[:, i], i], key=lambda c: abs(Fraction(float(c)) - exact))
    keep = found > 0
    return restored.scatter(index[keep], chosen[keep])


def _scaled(x: pl.Expr, column: ColumnParams, inverse: bool, *,
            nan_is_missing: bool = True) -> tuple[pl.Expr, pl.Expr | None]:
    """The column ``x`` (Float64) scaled, or scaled back, as _output_type has it: ``_transformed`` as one
    expression, for polars to run inside a pipeline; and where it cannot stand for it, true where
    a value needs ``_transformed`` (one rounded per value, one outside an integer type, and without
    ``nan_is_missing`` a NaN written as a number), or None."""
    refused = [] if nan_is_missing else [x.is_nan()]
    if inverse:
        x = column.scaler.inverse(x, column.parameters)
        origin = _origin(column)
        if column.decimals is not None and not math.isnan(origin):
            # Values too far from the grid to be sure of (this includes any above 15 digits). Where
            # NaN is refused, one comparison says it for NaN as well (a NaN in, a NaN here: polars
            # orders NaN above every number), and for infinities, which the careful path also takes.
            extent, limit = x.abs() + origin, _SAFE_STEPS * 10.0 ** -column.decimals
            refused = [(extent >= limit) & x.is_finite()] if nan_is_missing else [~(extent < limit)]
        result = _restore(x, column)
        if column.integer and not math.isnan(origin):
            # Not a whole number: apply was given one the fit never saw; _transformed names it.
            refused.append((result - x).abs() > (x.abs() + origin) * _NEAR_EPS)
    else:
        if column.integer:
            # Maybe too long to give back, or infinite: _transformed decides, and names it.
            refused.append(x.abs() >= LONG_INTEGER)
        result = column.scaler.forward(x, column.parameters)
    target = _output_type(column, inverse)
    if inverse and column.integer:
        # As _to_integers. NaN becomes missing (and polars orders it above every number).
        lowest, beyond = _integer_range(target)
        refused.append(result.is_not_nan() & ((result < lowest) | (result >= beyond)))
        result = result.fill_nan(None).cast(_POLARS_TYPES[target], strict=True)
    elif target != "double":
        result = result.cast(_POLARS_TYPES[target])
    return result, (pl.any_horizontal(refused) if refused else None)


# The Arrow types a sidecar column can have (sidecar.py checks), by alias, as polars types.
_POLARS_TYPES = {"int8": pl.Int8, "int16": pl.Int16, "int32": pl.Int32, "int64": pl.Int64, "uint8": pl.UInt8,
                 "uint16": pl.UInt16, "uint32": pl.UInt32, "uint64": pl.UInt64, "halffloat": pl.Float16,
                 "float": pl.Float32, "double": pl.Float64}


def _integer_range(dtype: str) -> tuple[float, float]:
    """[lowest, beyond) of the integer type with Arrow alias ``dtype``: powers of two, exact as floats
    (its largest value itself may not be: 2**63 - 1 rounds up to 2**63)."""
    bits = int(dtype.removeprefix("u").removeprefix("int"))
    return (0.0, 2.0**bits) if dtype.startswith("u") else (-(2.0 ** (bits - 1)), 2.0 ** (bits - 1))


def _output_type(column: ColumnParams, inverse: bool) -> str:
    """The Arrow type (its alias) of a sidecar column in the output: float64 once scaled, and the
    type it was fitted as once scaled back."""
    return column.dtype if inverse else "double"


def _output_schema(schema: pa.Schema, sidecar: Sidecar, inverse: bool, sidecar_json: str | None) -> pa.Schema:
    """The output's schema: the sidecar's columns as _output_type has them, the others as read, and
    the metadata Parquet carries."""
    fields = []
    for field in schema:
        if field.name in sidecar.names:
            column = sidecar[field.name]
            field = pa.field(field.name, pa.type_for_alias(_output_type(column, inverse)),
                             nullable=column.nullable if inverse else True)
        fields.append(field)
    metadata = dict(schema.metadata or {})
    if inverse:
        saved = metadata.pop(SAVED_PANDAS_KEY, None)
        metadata.pop(SIDECAR_KEY, None)
        if saved is not None:
            metadata[PANDAS_KEY] = saved
    else:
        # pandas metadata would call the scaled columns integers: keep it aside for invert.
        if PANDAS_KEY in metadata:
            metadata[SAVED_PANDAS_KEY] = metadata.pop(PANDAS_KEY)
        if sidecar_json is not None:
            metadata[SIDECAR_KEY] = sidecar_json.encode("utf-8")
    return pa.schema(fields, metadata=metadata or None)


def _check_columns(table: Table, sidecar: Sidecar) -> None:
    for name in sidecar.names:
        if name not in table.names:
            raise DataError("column from the sidecar is not in the input", file=table.name, column=name)
    scaled = set(sidecar.names)
    for name in table.names:  # the first in the input's order
        problem = _not_numeric(table, name) if name in scaled else None
        if problem:
            raise DataError(problem, file=table.name, column=name)


def _transform_batches(table: Table, sidecar: Sidecar, inverse: bool, csv: CsvOptions, schema: pa.Schema,
                       progress: Progress | None, *, required: bool = False):
    """Yield output RecordBatches with ``schema``: scaled columns computed, the others as read.
    With ``required``, a missing value in a column ``schema`` calls not nullable (a column fitted
    so, scaled back from a file with a gap) is refused: Parquet cannot hold it."""
    names = sidecar.names
    not_nullable = [field.name for field in schema if not field.nullable] if required else []
    parse = [_parsed(name, table.text, csv.null_values, strict=True).alias(_key(name)) for name in names]
    scaled, refused = _scaled_columns(sidecar, inverse, lambda name: pl.col(_key(name)))
    if refused is not None:
        scaled.append(refused.alias(_REFUSED))
    positions = {name: schema.get_field_index(name) for name in names}
    for part in table.parts or [table]:  # an error names the file of a data set, and its row there
        offset = 0
        for batch in part.batches():
            frame = _frame(batch, names)
            try:
                parsed = frame.select(parse)
            except pl.exceptions.PolarsError as exc:
                raise _diagnose(frame, part, sidecar, csv, offset, exc) from None
            arrays = list(batch.columns)
            for column, array in zip(sidecar.columns, _scaled_arrays(parsed, frame, scaled, sidecar, inverse, schema,
                                                                     part.name, offset)):
                arrays[positions[column.name]] = array
            output = pa.RecordBatch.from_arrays(arrays, schema=schema)
            _refuse_gaps(output, not_nullable, part.name, offset)
            yield output
            offset += batch.num_rows
            if progress:
                progress(batch.num_rows)


def _scaled_arrays(parsed: pl.DataFrame, frame: pl.DataFrame, scaled: list[pl.Expr], sidecar: Sidecar,
                   inverse: bool, schema: pa.Schema, file, offset: int) -> list[pa.Array]:
    """The sidecar's columns of one parsed batch (``frame`` as read), transformed: by ``scaled``
    (see _scaled_columns) on every core, or column by column by _transformed when a value needs it."""
    try:
        result = parsed.select(scaled)
        if not _any_refused(result):
            return [result[_key(c.name)].to_arrow().cast(schema.field(c.name).type) for c in sidecar.columns]
    except pl.exceptions.PolarsError:
        pass  # a value beyond its integer type: _transformed names it
    return [_transformed(parsed[_key(c.name)], frame[_key(c.name)], c, inverse, schema.field(c.name).type, file,
                         offset)
            for c in sidecar.columns]


def _transformed(series: pl.Series, raw: pl.Series, column: ColumnParams, inverse: bool, target: pa.DataType, file,
                 offset: int) -> pa.Array:
    """A parsed column (Float64; ``raw`` as read) scaled, or scaled back, as an Arrow array of type
    ``target``; a value outside an integer type, or an integer too long to give back, is an error
    naming its row."""
    frame = series.to_frame("x")
    if inverse:
        computed = frame.select(column.scaler.inverse(pl.col("x"), column.parameters)).to_series()
        values = _restore_batch(computed, series, column)
        if column.integer:
            rounded = values.to_numpy()
            _check_whole(rounded, computed.to_numpy(), raw, column, file, offset)
            return _to_integers(rounded, raw, target, file, column.name, offset)
    else:
        if column.integer:
            values = series.to_numpy()
            error, _ = _long_integer(values, raw, file, column.name, offset)
            if error is not None:
                raise error
            infinite = np.isinf(values)
            if infinite.any():
                index = int(np.argmax(infinite))
                raise DataError(f"infinite value, but the column was fitted as {column.dtype}: invert could not "
                                "give it back", file=file, column=column.name, row=offset + index + 1,
                                value=_as_written(raw[index]))
        values = frame.select(column.scaler.forward(pl.col("x"), column.parameters)).to_series()
    array = values.to_arrow()
    return array if target == pa.float64() else array.cast(target)


def _check_whole(rounded: np.ndarray, computed: np.ndarray, raw: pl.Series, column: ColumnParams, file,
                 offset: int) -> None:
    """An integer column's values after invert must be whole numbers, up to invert's own error: a
    value with a fraction was one the fit never saw, and rounding it would change it unseen."""
    origin = _origin(column)
    if math.isnan(origin):
        return
    with np.errstate(invalid="ignore"):
        fraction = np.abs(rounded - computed) > (np.abs(computed) + origin) * _NEAR_EPS
    if fraction.any():
        index = int(np.argmax(fraction))
        raise DataError(f"inverts to {float(computed[index])!r}, not a whole number, but the column was fitted as "
                        f"{column.dtype}: refit, or set its dtype to \"double\" in the sidecar",
                        file=file, column=column.name, row=offset + index + 1, value=_as_written(raw[index]))


def _to_integers(values: np.ndarray, raw: pl.Series, target: pa.DataType, file, name, offset) -> pa.Array:
    """Rounded floats as ``target`` integers, NaN (and missing) as missing; a value outside the
    type's range is an error naming the value it came from (``raw``, as read)."""
    lowest, beyond = _integer_range(str(target))
    missing = np.isnan(values)
    with np.errstate(invalid="ignore"):
        outside = ~missing & ((values < lowest) | (values >= beyond))
    if outside.any():
        index = int(np.argmax(outside))
        raise DataError(f"inverts to {float(values[index])!r}, outside the range of {target}", file=file,
                        column=name, row=offset + index + 1, value=_as_written(raw[index]))
    with np.errstate(invalid="ignore"):
        integers = np.where(missing, 0, values).astype(target.to_pandas_dtype())
    return _arrow(integers, missing, target)


def _arrow(values: np.ndarray, missing: np.ndarray | None, dtype: pa.DataType) -> pa.Array:
    """A numpy array as an Arrow array, null where ``missing``; built from buffers because
    ``pa.array(..., mask=)`` imports pandas (half a second of start-up)."""
    values = np.ascontiguousarray(values, dtype=dtype.to_pandas_dtype())
    validity = None
    if missing is not None and missing.any():
        validity = pa.py_buffer(np.packbits(~missing, bitorder="little"))
    return pa.Array.from_buffers(dtype, len(values), [validity, pa.py_buffer(values)])


def _diagnose(frame: pl.DataFrame, table: Table, sidecar: Sidecar, csv, offset, exc) -> DataError:
    """Turn a failed strict parse into an error that names the column, row and value."""
    if table.text:
        for name in sidecar.names:
            bad = _first_unparsable(frame, name, csv.null_values)
            if bad is not None:
                return DataError("not a number", file=table.name, column=name, row=offset + bad[0] + 1, value=bad[1])
    return DataError(f"cannot read values: {str(exc).splitlines()[0]}", file=table.name)


def _as_read_from(sidecar: Sidecar, table: Table) -> Sidecar:
    """The sidecar with each column's type as ``table`` has it, so that invert gives back that type."""
    if table.text:
        return sidecar
    fields = {f.name: f for f in table.schema}
    return Sidecar(tuple(
        replace(c, dtype=str(fields[c.name].type), nullable=fields[c.name].nullable) for c in sidecar.columns
    ))


def stored_sidecar(path) -> Sidecar:
    """The sidecar that apply stored in a Parquet file it wrote."""
    table = _open(path, "parquet", CsvOptions())
    try:
        if SIDECAR_KEY not in table.metadata:
            raise SidecarError("no sidecar stored in this file (apply stores one in the Parquet it writes)",
                               file=table.name)
        return _sidecar_from_metadata(table)
    finally:
        table.close()


def _sidecar_from_metadata(table: Table) -> Sidecar:
    metadata = table.metadata
    if SIDECAR_KEY not in metadata:
        raise SidecarError("no sidecar given (-p) and none stored in the input's metadata", file=table.name)
    return Sidecar.from_json(metadata[SIDECAR_KEY].decode("utf-8"), source=f"{table.name} (metadata)")


def _run(data, sidecar, inverse: bool, output, *, input_format, output_format, csv: CsvOptions,
         progress: Progress | None):
    kind = _frame_kind(data)
    if kind and output is not None:
        raise UsageError("output is for data read from a path: a frame comes back as a frame")
    table = _open(data, input_format, csv)
    try:
        if sidecar is None:
            sidecar = _sidecar_from_metadata(table)
        elif not isinstance(sidecar, Sidecar):
            sidecar = Sidecar.load(sidecar)
        _check_columns(table, sidecar)  # once, before anything reads the columns or opens the output
        out_format = kind or format_of(output, output_format, default=table.format)
        if not kind:
            refuse_binary_terminal(output, out_format)
        # Output that can carry metadata carries the sidecar, so invert needs no -p.
        stored = None
        if not inverse and out_format in ("parquet", "arrow"):
            stored = _as_read_from(sidecar, table).to_json()
        # Built when first needed: polars alone writes a plain CSV file's output, without pyarrow.
        schema = functools.cache(lambda: _output_schema(table.schema, sidecar, inverse, stored))
        if kind:
            batches = list(_transform_batches(table, sidecar, inverse, csv, schema(), progress))
            return _from_arrow(pa.Table.from_batches(batches, schema=schema()), kind, data, set(sidecar.names))
        _write(table, sidecar, inverse, csv, schema, output, out_format, progress)
        return None
    finally:
        table.close()


def _csv_writable(dtype: pa.DataType) -> bool:
    """Types polars can write as CSV text."""
    if pa.types.is_dictionary(dtype):
        return _csv_writable(dtype.value_type)
    return (pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype)
            or pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_boolean(dtype)
            or pa.types.is_temporal(dtype) and not pa.types.is_duration(dtype) and not pa.types.is_interval(dtype)
            or pa.types.is_decimal(dtype) or pa.types.is_null(dtype))


def _write(table, sidecar, inverse, csv, schema: Callable[[], pa.Schema], output, out_format, progress):
    if out_format != "parquet" and not table.text and table.polars_types is None:  # text and numbers are written
        for field in schema():
            if not _csv_writable(field.type):
                raise DataError(f"a column of type {field.type} cannot be written as {out_format}; write Parquet",
                                file=table.name, column=field.name)
    fast = _fast_writer(table, out_format, schema)
    if fast is not None and not streams(output):  # a FIFO is opened once: its reader sees one end
        try:
            with output_stream(output) as handle:
                if not _fresh_file(handle):
                    raise _NotPlain  # stdout, a device or a FIFO: only the careful path streams there
                return fast(table, sidecar, inverse, csv, schema, handle, out_format, progress)
        except _NotPlain:
            pass  # the temporary file is gone; polars, which may still flush into it, writes nowhere now
    with output_stream(output) as handle:
        _write_batches(table, sidecar, csv, schema(), handle, out_format,
                       _transform_batches(table, sidecar, inverse, csv, schema(), progress,
                                          required=out_format == "parquet"))


def _fast_writer(table: Table, out_format: str, schema: Callable[[], pa.Schema]):
    """The polars pipeline that reads, computes and writes this output, if any; each raises
    _NotPlain to hand over to the careful path."""
    if not all(table.names):
        return None  # polars would write a blank column name as "" in a CSV header
    if out_format == "parquet" and not polars_writes_parquet(schema()):
        return None
    if table.plain is not None:
        return _write_plain
    return _write_from_parquet if table.parquet_path else None


def _write_batches(table, sidecar, csv, schema, handle, out_format, batches) -> None:
    if out_format == "parquet":
        handle = UntilFailure(handle)
        if polars_writes_parquet(schema):
            return _sink_batches(batches, schema, handle)
        writer = ParquetWriter(handle, schema, continuous=sidecar.names)
    else:
        writer = CsvWriter(handle, schema, csv.separator(out_format, table.format))
    try:
        for batch in batches:
            writer.write(batch if out_format == "parquet" else _csv_frame(batch, sidecar, csv))
        writer.close()
        if isinstance(handle, UntilFailure):
            handle.finish()
    except BaseException:
        if isinstance(handle, UntilFailure):
            handle.fail()  # no footer after the rows so far
        writer.abort()
        raise


def _sink_batches(batches: Iterator[pa.RecordBatch], schema: pa.Schema, handle: UntilFailure) -> None:
    """Write the batches as Parquet with the polars pipelines' writer, so that a file is the same
    whichever path computed it; polars pulls the batches on a thread of its own."""
    pipeline = _Pipeline()

    def checked():
        try:
            for batch in batches:
                pipeline.check()
                yield batch
        except BaseException:
            handle.fail()  # before polars, seeing the source fail, closes the file with a footer
            raise

    pipeline.run(lambda: sink_parquet(batch_frame(checked(), schema), handle, schema))
    handle.finish()


def _refuse_gaps(batch: pa.RecordBatch, names: list[str], file, offset: int) -> None:
    """DataError at the first missing value of the named columns (``offset``: rows before ``batch``)."""
    for name in names:
        missing = batch.column(name).is_null()
        if missing.true_count:
            row = offset + int(np.argmax(missing.to_numpy(zero_copy_only=False))) + 1
            raise DataError("missing, but the column was fitted as not nullable: refit, or set its "
                            "\"nullable\" to true in the sidecar", file=file, column=name, row=row)


def _scaled_columns(sidecar: Sidecar, inverse: bool, number: Callable[[str], pl.Expr], *,
                    nan_is_missing: bool = True) -> tuple[list[pl.Expr], pl.Expr | None]:
    """``_scaled`` for each of the sidecar's columns (``number(name)`` is the column as Float64),
    keyed by ``_key``; and true where any value needs ``_transformed`` (None: none can)."""
    scaled, refused = [], []
    for column in sidecar.columns:
        expr, refuse = _scaled(number(column.name), column, inverse, nan_is_missing=nan_is_missing)
        scaled.append(expr.alias(_key(column.name)))
        if refuse is not None:
            refused.append(refuse)
    return scaled, (pl.any_horizontal(refused) if refused else None)


def _scaled_scan(scan: pl.LazyFrame, table: Table, sidecar: Sidecar, inverse: bool, csv: CsvOptions,
                 on_batch: Callable[[int], None]) -> pl.LazyFrame:
    """``scan`` (columns keyed by ``_key``) with the sidecar's columns scaled or scaled back, as
    _output_type has them, for a sink that Python does not see. Text (a CSV column read so) is
    parsed as the careful path parses it; a NaN written in a CSV file is left to the careful reader.
    A callback beside the first column raises _NotPlain at a value only the careful path handles
    and calls ``on_batch`` with the rows of each batch."""
    types = scan.collect_schema()
    scaled, refused = _scaled_columns(
        sidecar, inverse,
        lambda name: _parsed(name, types[_key(name)] == pl.String, csv.null_values, strict=True),
        nan_is_missing=table.plain is None)

    # One Python call per batch: cheap, unlike arithmetic there.
    def watch(series: list[pl.Series]) -> pl.Series:
        if len(series) > 1 and series[1].any():
            raise _NotPlain
        on_batch(series[0].len())
        return series[0]

    first = scaled[0]
    scaled[0] = pl.map_batches([first, *([refused] if refused is not None else [])], watch,
                               return_dtype=scan.select(first).collect_schema().dtypes()[0],
                               is_elementwise=True).alias(_key(sidecar.names[0]))
    return scan.with_columns(scaled)


def _csv_frame(batch: pa.RecordBatch, sidecar: Sidecar, csv: CsvOptions) -> pl.DataFrame:
    return _with_na_rep(_frame(batch, batch.schema.names), sidecar, csv)


def _with_na_rep(frame, sidecar: Sidecar, csv: CsvOptions):
    """The frame (eager or lazy) with missing scaled values written as --na-rep."""
    if csv.na_rep:
        scaled = [_key(name) for name in sidecar.names]
        frame = frame.with_columns(pl.col(scaled).cast(pl.String).fill_null(csv.na_rep))
    return frame


def _fresh_file(handle) -> bool:
    """Whether ``handle`` is a new, empty regular file that polars can open by its name (stdout
    redirected to a file is a regular file too, but its name is "<stdout>")."""
    try:
        opened = os.fstat(handle.fileno())
        return (stat.S_ISREG(opened.st_mode) and handle.tell() == 0 and isinstance(handle.name, str)
                and os.path.samestat(os.stat(handle.name), opened))
    except (OSError, ValueError, AttributeError):
        return False


def _write_plain(table: Table, sidecar: Sidecar, inverse: bool, csv: CsvOptions, schema, handle,
                 out_format: str, progress: Progress | None) -> None:
    """apply or invert a plain CSV file in one polars pipeline (reading, arithmetic and writing on
    every core). Raises _NotPlain, having written part of the output, when the file proves not to
    be plain or anything is amiss: the caller starts again."""
    with _plain_attempt(table):
        scan = _plain_scan(table, _output_types(table, sidecar, csv))
        _check_rows(table, _sink(scan, table, sidecar, inverse, csv, schema, handle, out_format, progress))


# Arrow types that polars reads from Parquet exactly as pyarrow does.
def _simple_type(dtype: pa.DataType) -> bool:
    return (pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_boolean(dtype)
            or pa.types.is_string(dtype) or pa.types.is_large_string(dtype))


def _write_from_parquet(table: Table, sidecar: Sidecar, inverse: bool, csv: CsvOptions, schema, handle,
                        out_format: str, progress: Progress | None) -> None:
    """apply or invert a Parquet file of simple columns in one polars pipeline; raises _NotPlain,
    having written part of the output, when polars refuses anything."""
    if table.polars_types is None and not all(_simple_type(field.type) for field in table.schema):
        raise _NotPlain
    try:
        scan = pl.scan_parquet(table.parquet_path, glob=False).select(
            [pl.col(name).alias(_key(name)) for name in table.names])
        _sink(scan, table, sidecar, inverse, csv, schema, handle, out_format, progress)
    except (NormcliError, pl.exceptions.PolarsError):
        raise _NotPlain from None


def _sink(scan: pl.LazyFrame, table: Table, sidecar: Sidecar, inverse: bool, csv: CsvOptions,
          schema: Callable[[], pa.Schema], handle, out_format: str, progress: Progress | None) -> int:
    """Write ``scan`` (columns keyed by ``_key``) with the sidecar's columns transformed, as CSV or
    as Parquet with ``schema()``, to the file ``handle`` is open on, by name (polars writes faster
    to a path than through a Python file); the number of rows. A CSV file read as text
    (``table.plain``) stops at the first sign it is not plain."""
    pipeline = _Pipeline()
    lock = threading.Lock()
    rows = 0

    def on_batch(count: int) -> None:
        nonlocal rows
        pipeline.check()
        if table.plain is not None and table.plain.problem(wait=False):
            raise _NotPlain
        with lock:  # polars calls from several threads
            rows += count
            if progress:
                progress(count)

    output = _scaled_scan(scan, table, sidecar, inverse, csv, on_batch)
    output = output.rename(dict(zip(map(_key, table.names), table.names)))
    if out_format == "parquet":
        pipeline.run(lambda: sink_parquet(output, handle.name, schema()))
    else:
        output = _with_na_rep(output, sidecar, csv)
        pipeline.run(lambda: output.sink_csv(handle.name, separator=csv.separator(out_format, table.format),
                                             null_value=missing_text(table.names), check_extension=False))
    return rows


class _Stopped(Exception):
    """Raised in polars' threads to end a pipeline the main thread has given up on."""


class _Pipeline:
    """A polars call with Python callbacks (each calls ``check``) run so that it can be stopped.

    polars does not return to Python until the call is done, so it runs on a second thread while
    the main thread waits in Python: Ctrl-C and SIGTERM are handled there at once, not after the
    whole file. On any exception in the main thread the callbacks raise _Stopped, and the main
    thread waits until they have gone quiet: polars returns its first error while other batches
    are still on the way, and a callback that reaches Python as the interpreter shuts down aborts
    the process."""

    QUIET = 0.2  # seconds without a callback that count as the pipeline having ended

    def __init__(self):
        self._stop = threading.Event()
        self._last_call = time.monotonic()

    def check(self) -> None:
        self._last_call = time.monotonic()
        if self._stop.is_set():
            raise _Stopped

    def run(self, work: Callable[[], None]) -> None:
        outcome: list[BaseException] = []

        def target():
            try:
                work()
            except BaseException as exc:  # handed to the main thread
                outcome.append(exc)

        worker = threading.Thread(target=target, name="normcli-polars", daemon=True)
        worker.start()
        try:
            # A signal sent to the process interrupts the wait and its handler runs here; the
            # timeout covers one that lands on another thread, which wakes nothing: polars scales
            # about a million rows in the quarter second this used to be.
            while worker.is_alive():
                worker.join(0.05)
        except BaseException:
            self._stop.set()
            worker.join()
            deadline = time.monotonic() + 10
            while time.monotonic() - self._last_call < self.QUIET and time.monotonic() < deadline:
                time.sleep(self.QUIET / 4)
            raise
        if outcome:
            raise outcome[0]


def apply(data, sidecar, output=None, *, input_format=None, output_format=None, csv: CsvOptions = CsvOptions(),
          progress: Progress | None = None):
    """Scale ``data`` with ``sidecar`` (a Sidecar or a path).

    A frame comes back as the same kind; a path or ``-`` is written to ``output`` (stdout when None).
    Missing values stay missing, ±inf stays ±inf. Parquet output carries the sidecar in its metadata.
    """
    return _run(data, sidecar, False, output, input_format=input_format, output_format=output_format, csv=csv,
                progress=progress)


def invert(data, sidecar=None, output=None, *, input_format=None, output_format=None,
           csv: CsvOptions = CsvOptions(), progress: Progress | None = None):
    """Undo ``apply``: integers come back as integers, floats to their fitted decimal places.

    ``sidecar`` may be None when the input is Parquet written by ``apply``, which stores it.
    """
    return _run(data, sidecar, True, output, input_format=input_format, output_format=output_format, csv=csv,
                progress=progress)
