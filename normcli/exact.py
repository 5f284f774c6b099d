"""Float arithmetic as polars expressions, with numpy's (IEEE) results to the last bit.

polars divides a column by a scalar through its reciprocal, ``x * (1 / s)``, which is one ulp off
the true quotient for about one value in sixteen. A column divided by a column is divided exactly,
so ``divide`` hands polars the scalar as a column. Whether that still holds is checked once, on
values where the two differ; if a polars version ever folds the column back into a scalar, the
division is done by numpy, batch by batch, instead.

polars' eager engine also skips adding a scalar 0.0, which is not a no-op: -0.0 + 0.0 is 0.0.
``add`` and ``subtract`` hand polars that one scalar as a column too.
"""

from __future__ import annotations

import math

import polars as pl

from .lazy import module

np = module("numpy")

_divides_exactly: bool | None = None


def divide(x: pl.Expr, divisor: float | pl.Expr) -> pl.Expr:
    """``x / divisor``, correctly rounded (a column ``divisor`` is divided as it is)."""
    if isinstance(divisor, pl.Expr):
        return x / divisor
    if _polars_divides_exactly():
        return x / _as_column(divisor)
    return x.map_batches(lambda series: _numpy_divide(series, divisor), return_dtype=pl.Float64,
                         is_elementwise=True)


def add(x: pl.Expr, value: float) -> pl.Expr:
    """``x + value``, -0.0 + 0.0 = 0.0 included."""
    if value == 0.0 and math.copysign(1.0, value) > 0:
        return x + _as_column(0.0)
    return x + value


def subtract(x: pl.Expr, value: float) -> pl.Expr:
    """``x - value``, which IEEE defines as ``x + (-value)``."""
    return add(x, -value)


def _as_column(value: float) -> pl.Expr:
    """``value`` in every row, as a computed column rather than a literal. The arithmetic gives
    ``value`` exactly (0.0 or 1.0, times 0.0, plus ``value``); it starts from the frame's first
    column as it is, because one built from ``x`` would compute ``x`` a second time."""
    return pl.first().is_null().cast(pl.Float64) * 0.0 + value


def _numpy_divide(series: pl.Series, divisor: float) -> pl.Series:
    with np.errstate(all="ignore"):
        quotient = pl.Series(series.name, np.divide(series.cast(pl.Float64).to_numpy(), divisor))
    if series.null_count():
        quotient = quotient.zip_with(series.is_not_null(), pl.repeat(None, len(series), dtype=pl.Float64, eager=True))
    return quotient


# Quotients that a reciprocal gets wrong: 1.1 * k / 3 and / 10 for k in 1..1000 differ in the last
# bit for dozens of k (a test checks that they do).
# Python floats: a frame built from a numpy array makes polars import numpy.ma (20 ms a run).
PROBE_VALUES = [k * 1.1 for k in range(1, 1001)]
PROBE_DIVISORS = (3.0, 10.0, 0.1, 7.0e-300)


def _polars_divides_exactly() -> bool:
    global _divides_exactly
    if _divides_exactly is None:
        # As in use: the divisor's column made from a first column that is not the dividend (text,
        # with nulls), on both of polars' engines.
        frame = pl.DataFrame({"first": [None, "a"] * (len(PROBE_VALUES) // 2), "x": PROBE_VALUES})
        quotients = [(pl.col("x") / _as_column(d)).alias(str(i)) for i, d in enumerate(PROBE_DIVISORS)]
        results = [frame.select(quotients), frame.lazy().select(quotients).collect(engine="streaming")]
        # Python divides floats as IEEE does (correctly rounded), as numpy does.
        _divides_exactly = all(result[str(i)].to_list() == [x / d for x in PROBE_VALUES]
                               for result in results for i, d in enumerate(PROBE_DIVISORS))
    return _divides_exactly


def round_decimal(x: pl.Expr, decimals: int | pl.Expr, power: float | pl.Expr) -> pl.Expr:
    """Each value rounded half to even at ``decimals`` places (negative: tens, hundreds, ...) as
    numpy's ``stats.round_decimal`` does it: one exact ``power`` = 10 ** |decimals|, one rounding,
    one correctly rounded multiplication or division. ``decimals`` and ``power`` are one number
    for every value, or columns with one per value."""
    up = divide((x * power).round(mode="half_to_even"), power)
    down = divide(x, power).round(mode="half_to_even") * power
    if isinstance(decimals, int):
        return up if decimals >= 0 else down
    return pl.when(decimals >= 0).then(up).otherwise(down)
