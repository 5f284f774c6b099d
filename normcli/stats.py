"""Streaming column statistics in float64: exact where they can be, stable where they cannot.

Values arrive in batches of any size. Moments are computed over fixed blocks of ``BLOCK`` values
(so the result does not depend on how the input was cut into batches), each block by two passes
and merged with Chan, Golub and LeVeque's update on (n, mean, M2). Before that every value is
shifted by a value near the data, where the data lies far from zero beside its spread, and divided
by a power of two near the spread: the shift keeps 1e9 + N(0, 1) accurate, the power of two (an
exact division) keeps squares of 1e308 or of 1e-300 from overflowing or vanishing.
"""

from __future__ import annotations

import functools
import math

from .lazy import module

np = module("numpy")

BLOCK = 1 << 16
# Powers of ten are exact floats up to 10**22: the decimal places normcli can round to.
MAX_DECIMALS = 22
SIGNIFICANT_DIGITS = 15


# 10.0**k for every exponent a float64 can have: looked up, because an element-wise power is slow.
_LOWEST_EXPONENT = -330
_POWER_LIST = [10.0**k if k <= 308 else math.inf for k in range(_LOWEST_EXPONENT, 312)]


@functools.cache
def _powers() -> np.ndarray:
    return np.array(_POWER_LIST)


def powers_of_ten(exponents: np.ndarray) -> np.ndarray:
    """10.0 ** k for each integer k (a float64 array), as ``10.0 ** k`` gives it one at a time."""
    return _powers()[exponents - _LOWEST_EXPONENT]


def digits_limit(decimals: int) -> float:
    """The magnitude from which a value has more than 15 significant digits at ``decimals`` places."""
    return _POWER_LIST[SIGNIFICANT_DIGITS - decimals - _LOWEST_EXPONENT]


def _exponents(magnitude: np.ndarray) -> np.ndarray:
    """floor(log10(m)) for positive finite m, exactly: log10 rounds (log10(99999999999999.9) is
    14.0), so the result is checked against the powers of ten on both sides."""
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.floor(np.log10(magnitude)).astype(np.int64)
    powers = _powers()
    index = np.clip(exponent - _LOWEST_EXPONENT, 0, len(powers) - 2)
    exponent = np.where(powers[index] > magnitude, exponent - 1, exponent)
    index = np.clip(exponent - _LOWEST_EXPONENT, 0, len(powers) - 2)
    return np.where(powers[index + 1] <= magnitude, exponent + 1, exponent)


def _exponent(magnitude: float) -> int:
    """``_exponents`` of one number, in Python: numpy's calls cost more than the work on one value."""
    exponent = min(max(math.floor(math.log10(magnitude)), _LOWEST_EXPONENT), len(_POWER_LIST) - 2 + _LOWEST_EXPONENT)
    if _POWER_LIST[exponent - _LOWEST_EXPONENT] > magnitude:
        exponent -= 1
    if _POWER_LIST[exponent + 1 - _LOWEST_EXPONENT] <= magnitude:
        exponent += 1
    return exponent


def significant_decimals(values: np.ndarray) -> np.ndarray:
    """Per value, the decimal places at which it has 15 significant digits (negative for large
    values: 1.23e17 has -3). Zero gets 14."""
    magnitude = np.abs(values)
    magnitude = np.where((magnitude > 0) & np.isfinite(magnitude), magnitude, 1.0)
    return SIGNIFICANT_DIGITS - 1 - _exponents(magnitude)


def round_decimal(values: np.ndarray, decimals) -> np.ndarray:
    """Each value rounded to its number of decimal places (one number for all, or one per value;
    |decimals| <= MAX_DECIMALS), giving the float nearest the rounded decimal: one exact power of
    ten, one rounding, one correctly rounded multiplication or division."""
    with np.errstate(over="ignore", invalid="ignore"):
        if np.ndim(decimals) == 0:
            # In place on one new array: each fresh temporary costs page faults here.
            power = 10.0 ** abs(int(decimals))
            up, down = (np.multiply, np.divide) if decimals >= 0 else (np.divide, np.multiply)
            out = up(values, power)
            np.round(out, out=out)
            return down(out, power, out=out)
        power = powers_of_ten(np.abs(decimals))
        return np.where(decimals >= 0, np.round(values * power) / power, np.round(values / power) * power)


def capped_decimals(values: np.ndarray, decimals: int, largest: float | None = None):
    """``decimals``, lowered for each value that would have more than 15 significant digits; a
    single number when no value needs it (the common case, and much faster). ``largest`` is the
    largest finite |value|, if the caller knows it."""
    if largest is None:
        finite = np.abs(values[np.isfinite(values)])
        largest = finite.max() if finite.size else 0.0
    if largest < digits_limit(decimals):
        return decimals
    return np.minimum(decimals, significant_decimals(values))


def decimals_needed(values: np.ndarray, start: int, largest: float | None = None) -> int | None:
    """Fewest decimal places d >= start (negative: 10s, 100s, ...) at which every value is written
    exactly, each value capped at its own 15 significant digits; None when some value has more than
    15 significant digits (or lies beyond the powers of ten a float holds exactly).

    The coarsest such grid is what lets invert undo the rounding of apply even for a value much
    smaller than the column's centre. invert rounds with ``capped_decimals`` and with
    ``exact.round_decimal``, the polars form of ``round_decimal`` (a test holds the two equal).
    """
    if largest is None:
        largest = np.abs(values).max() if values.size else 0.0
    if largest == 0:
        return start
    fewest = SIGNIFICANT_DIGITS - 1 - _exponent(largest)
    if fewest < -MAX_DECIMALS:  # beyond 1e37: 10**k is no longer an exact float
        return None
    # Most batches need no more places than those before them: one check, no search.
    if np.array_equal(round_decimal(values, capped_decimals(values, start, largest)), values):
        return start
    magnitude = np.abs(values)
    magnitude[magnitude == 0] = np.inf
    most = SIGNIFICANT_DIGITS - 1 - _exponent(float(magnitude.min()))
    # No value can be written with fewer places than its leading digit allows.
    for d in range(max(start, int(most) - (SIGNIFICANT_DIGITS - 1)), MAX_DECIMALS + 1):
        if np.array_equal(round_decimal(values, capped_decimals(values, d, largest)), values):
            return d
        if d >= most:  # every value is at its 15-digit cap and still not exact
            return None
    return None


# From 10**15 on, an integer may have more than 15 significant digits, which invert cannot give
# back; from 2**53 on, the float64 read may also not be the integer written.
LONG_INTEGER = 1e15
FLOAT_INTEGERS = 2.0**53


def long_integers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whole numbers (float64; NaN for missing) that may not come back exactly from invert: their
    positions, in order, and whether each is certain not to (more than 15 significant digits in
    float64). The others lie at or beyond 2**53, where the integer as written must be compared."""
    magnitude = np.abs(values)
    with np.errstate(invalid="ignore"):
        index = np.flatnonzero((magnitude >= LONG_INTEGER) & (magnitude < np.inf))  # infinity is refused apart
    if not index.size:
        return index, index.astype(bool)
    suspects = values[index]
    certain = round_decimal(suspects, capped_decimals(suspects, 0)) != suspects
    keep = certain | (np.abs(suspects) >= FLOAT_INTEGERS)
    return index[keep], certain[keep]


class InfiniteValue(ValueError):
    """An infinite value given to ColumnAccumulator.update, at ``index`` of the values."""

    def __init__(self, index: int):
        super().__init__(f"infinite value at index {index}")
        self.index = index


class ColumnAccumulator:
    """Count, nulls, extremes, decimal places and, on request, moments and all values of a column."""

    def __init__(self, *, moments: bool = False, keep_values: bool = False):
        self.moments = moments
        self.keep_values = keep_values
        self.count = 0
        self.nulls = 0
        self.minimum = math.inf
        self.maximum = -math.inf
        self.decimals: int | None = -MAX_DECIMALS
        self._values: list[np.ndarray] = []
        self._pending: list[np.ndarray] = []
        self._pending_size = 0
        self._shift: float | None = None
        self._unit = 1.0
        self._n = 0
        self._mean_u = 0.0  # mean of (x - shift) / unit
        self._m2_u = 0.0  # sum of squared deviations, in unit**2

    def update(self, values: np.ndarray) -> None:
        """Add float64 values; NaN marks a missing value. An infinite value raises InfiniteValue
        with its index, before anything is added."""
        missing = np.isnan(values)
        present = values[~missing] if missing.any() else values
        if present.size == 0:
            self.nulls += values.size
            return
        # + 0.0 makes a zero extreme 0.0: which of 0.0 and -0.0 min() returns depends on where
        # the batch was cut, and the sidecar must not.
        low, high = float(present.min()) + 0.0, float(present.max()) + 0.0
        if math.isinf(low) or math.isinf(high):
            raise InfiniteValue(int(np.argmax(np.isinf(values))))
        self.nulls += values.size - present.size
        self.count += present.size
        self.minimum = min(self.minimum, low)
        self.maximum = max(self.maximum, high)
        if self.decimals is not None:
            self.decimals = decimals_needed(present, self.decimals, max(-low, high))
        if self.keep_values:
            self._values.append(present)
        if self.moments:
            self._add_blocks(present)

    def _add_blocks(self, values: np.ndarray) -> None:
        """Cut the values seen so far into blocks of BLOCK: only a block that spans two batches is
        copied together; the others are read where they are."""
        start = 0
        if self._pending_size:
            start = BLOCK - self._pending_size
            if values.size < start:
                self._pending.append(values)
                self._pending_size += values.size
                return
            self._add_block(np.concatenate([*self._pending, values[:start]]))
        full = start + (values.size - start) // BLOCK * BLOCK
        for offset in range(start, full, BLOCK):
            self._add_block(values[offset : offset + BLOCK])
        self._pending = [values[full:]] if full < values.size else []
        self._pending_size = values.size - full

    def _add_block(self, block: np.ndarray) -> None:
        if self._shift is None:
            low, high = float(block.min()), float(block.max())
            with np.errstate(over="ignore"):
                mean = float(np.mean(block))
            centre = mean if math.isfinite(mean) else low / 2 + high / 2
            # Shifting by the centre keeps 1e9 + N(0, 1) exact: every x lies within a factor of two
            # of it, so x - shift is exact. Values of a wider spread are summed as they are: beside
            # -1e10 and 1e10, x - 0.0333 would round each large x by up to half its ulp.
            self._shift = centre if abs(centre) > 2 * (high - low) else 0.0
            spread = max(abs(high - self._shift), abs(low - self._shift)) if math.isfinite(high - low) else max(abs(low), abs(high))
            # A power of two at or just below the spread: exact to divide by, and still a float
            # when the spread is near the largest float.
            self._unit = math.ldexp(1.0, math.frexp(spread)[1] - 1) if spread > 0 else 1.0
        u = np.subtract(block, self._shift)  # in place from here: fresh temporaries cost page faults
        u /= self._unit
        n_b = u.size
        mean_b = float(np.sum(u)) / n_b
        u -= mean_b
        correction = float(np.sum(u))
        # np.sum is pairwise and deterministic; a BLAS dot product is neither (and can be slow).
        u *= u
        m2_b = float(np.sum(u)) - correction**2 / n_b
        if self._n == 0:
            self._n, self._mean_u, self._m2_u = n_b, mean_b, m2_b
            return
        n_a = self._n
        total = n_a + n_b
        delta = mean_b - self._mean_u
        self._mean_u += delta * n_b / total
        self._m2_u += m2_b + delta * delta * (n_a * n_b / total)
        self._n = total

    def _finish_moments(self) -> None:
        if self._pending_size:
            self._add_block(np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0])
            self._pending, self._pending_size = [], 0

    @property
    def mean(self) -> float:
        """Arithmetic mean of the present values."""
        self._finish_moments()
        return self._shift + self._mean_u * self._unit

    @property
    def std(self) -> float:
        """Population standard deviation (ddof = 0) of the present values."""
        self._finish_moments()
        return math.sqrt(max(self._m2_u, 0.0) / self._n) * self._unit

    def is_constant(self) -> bool:
        """scikit-learn's test for a constant feature: var <= n*eps*var + (n*mean*eps)**2.

        Evaluated in the scaled units (both sides scale with unit**2). A column of one value is
        answered first: its unit is 1, and the square of a mean near 1e300 would overflow; with any
        spread the unit is near it and mean / unit stays far below that.
        """
        self._finish_moments()
        eps = np.finfo(np.float64).eps
        n = self._n
        var_u = max(self._m2_u, 0.0) / n
        if var_u == 0 or var_u * self._unit * self._unit == 0:
            return True  # the second: a spread so small that scikit-learn's squares of it are all 0.0
        mean_u = self.mean / self._unit
        return var_u <= n * eps * var_u + (n * mean_u * eps) ** 2

    def values(self) -> np.ndarray:
        """Every present value seen (only with keep_values=True)."""
        if not self._values:
            return np.empty(0)
        return np.concatenate(self._values)
