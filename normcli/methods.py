"""Scaling methods. Each is one class: what it needs from the data, the parameters it fits, its
forward and inverse arithmetic and the names it writes to the sidecar.

Forward and inverse are polars expressions over a Float64 column and follow scikit-learn's
arithmetic step for step, each step one IEEE operation (through ``exact`` for division, which
polars alone would do through the reciprocal, and for adding or subtracting a parameter that may
be a zero), so results match ``sklearn.preprocessing`` to the last bit. polars runs them on every core: inside the scan that reads a plain file, and batch by
batch elsewhere (stdin, other CSV files, Parquet to Parquet, frames).
"""

from __future__ import annotations

import math
import sys
from fractions import Fraction
from typing import ClassVar

import polars as pl

from .errors import DataError, UsageError
from .exact import add, divide, subtract
from .lazy import module
from .stats import ColumnAccumulator

np = module("numpy")

_EPS = sys.float_info.epsilon


def handle_zero_scale(scale: float) -> float:
    """scikit-learn's ``_handle_zeros_in_scale``: a scale below 10 * eps means "no spread": use 1."""
    return 1.0 if scale < 10 * _EPS else scale


def parse_range(text: str | tuple, option: str) -> tuple[float, float]:
    """'LO,HI' (or a pair) as two finite floats."""
    if isinstance(text, str):
        parts = text.split(",")
    else:
        parts = list(text)
    try:
        low, high = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise UsageError(f"{option} takes LO,HI, two numbers", value=text) from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise UsageError(f"{option} takes finite numbers", value=text)
    if not math.isfinite(high - low):
        raise UsageError(f"{option} spans more than the largest float (HI - LO overflows)", value=text)
    return low, high


class Method:
    """Base of the scaling methods.

    statistics: descriptive numbers fitted from the data (written to the sidecar for people);
    parameters: exactly what forward and inverse use (written to the sidecar for programs).
    """

    name: ClassVar[str]
    # What the column accumulator must collect for this method.
    needs_moments: ClassVar[bool] = False
    needs_values: ClassVar[bool] = False
    parameter_names: ClassVar[tuple[str, ...]]

    def __init__(self, **options):
        if options:
            raise UsageError(f"method {self.name} takes no options, got {', '.join(sorted(options))}")

    def options(self) -> dict:
        """The method's options as written to the sidecar."""
        return {}

    def fit(self, acc: ColumnAccumulator) -> tuple[dict, dict]:
        """(statistics, parameters) of one column."""
        raise NotImplementedError

    def check(self, parameters: dict) -> str | None:
        """What is wrong with hand-made parameters, or None."""
        for key in self.parameter_names:
            if key not in parameters:
                return f"parameter '{key}' is missing"
            value = parameters[key]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                return f"parameter '{key}' must be a finite number"
        problem = self._check(parameters)
        if problem is None and not all(math.isfinite(v) for v in self.affine(parameters)):
            problem = "parameters whose map y = x * scale + offset is not finite (a scale too small to divide by)"
        return problem

    def _check(self, parameters: dict) -> str | None:
        """The method's own rules for finite parameters, or None."""
        return None

    def forward(self, x: pl.Expr, p: dict) -> pl.Expr:
        """The scaled column, from the column ``x`` (Float64) and the parameters ``p``."""
        raise NotImplementedError

    def inverse(self, y: pl.Expr, p: dict) -> pl.Expr:
        """The column scaled back, before invert rounds it to the fitted decimal places."""
        raise NotImplementedError

    def exact_inverse(self, y: Fraction, p: dict) -> Fraction:
        """The inverse in exact arithmetic: which of two grid points that apply maps to the same
        ``y`` it came from, where the float inverse cannot tell."""
        raise NotImplementedError

    def affine(self, p: dict) -> tuple[float, float]:
        """(scale, offset) with forward(x) = x * scale + offset, for programs without normcli."""
        raise NotImplementedError

    def new_accumulator(self) -> ColumnAccumulator:
        return ColumnAccumulator(moments=self.needs_moments, keep_values=self.needs_values)


def _refuse_overflow(acc: ColumnAccumulator, centre: float, scale: float, formula: str, method: str) -> None:
    """A DataError unless (x - centre) / scale is a float for every fitted x: apply would write an
    infinity for a finite value."""
    if not math.isfinite(centre):
        return  # refused by name when the sidecar is written
    extreme = max(abs(acc.maximum - centre), abs(acc.minimum - centre))
    if not math.isfinite(extreme / scale):
        raise DataError(f"{formula} overflows float64 at the column's extremes: {method} cannot scale this "
                        "column (try maxabs or decimal)")


def _check_positive(parameters: dict, key: str) -> str | None:
    return None if parameters[key] > 0 else f"parameter '{key}' must be greater than 0"


class ZScore(Method):
    """Standardise: y = (x - mean) / std, as StandardScaler (population std, ddof = 0).

    A constant column (scikit-learn's relative test, so 0.3 and 0.1 + 0.2 count as constant) gets
    std 1, so it maps to x - mean. As in StandardScaler, that test replaces the absolute 10 * eps
    one: a column of 1e-20, 2e-20, 3e-20 has a real spread and is scaled by it.
    """

    name = "zscore"
    needs_moments = True
    parameter_names = ("mean", "scale")

    def fit(self, acc):
        mean, std = acc.mean, acc.std
        scale = 1.0 if acc.is_constant() else std
        _refuse_overflow(acc, mean, scale, "(x - mean) / std", self.name)
        return {"mean": mean, "std": std}, {"mean": mean, "scale": scale}

    def _check(self, parameters):
        return _check_positive(parameters, "scale")

    def forward(self, x, p):
        return divide(subtract(x, p["mean"]), p["scale"])

    def inverse(self, y, p):
        return add(y * p["scale"], p["mean"])

    def exact_inverse(self, y, p):
        return y * Fraction(p["scale"]) + Fraction(p["mean"])

    def affine(self, p):
        return 1.0 / p["scale"], -p["mean"] / p["scale"]


class MinMax(Method):
    """Map [min, max] onto feature_range (LO, HI): y = x * scale + min, as MinMaxScaler.

    scale = (HI - LO) / (max - min), min = LO - data_min * scale; a constant column maps to LO.
    """

    name = "minmax"
    parameter_names = ("scale", "min")

    def __init__(self, feature_range=(0.0, 1.0)):
        low, high = parse_range(feature_range, "--feature-range")
        if not low < high:
            raise UsageError("--feature-range needs LO < HI", value=f"{low:g},{high:g}")
        self.feature_range = (low, high)

    def options(self):
        return {"feature_range": list(self.feature_range)}

    def fit(self, acc):
        low, high = self.feature_range
        if not math.isfinite(acc.maximum - acc.minimum):
            raise DataError("max - min overflows float64: minmax cannot scale this column (try maxabs or decimal)")
        scale = (high - low) / handle_zero_scale(acc.maximum - acc.minimum)
        offset = low - acc.minimum * scale
        if not all(math.isfinite(x * scale) and math.isfinite(x * scale + offset) for x in (acc.minimum, acc.maximum)):
            raise DataError(f"--feature-range {low!r},{high!r} scales this column's extremes beyond float64")
        return (
            {"data_min": acc.minimum, "data_max": acc.maximum},
            {"scale": scale, "min": offset},
        )

    def _check(self, parameters):
        return _check_positive(parameters, "scale")

    def forward(self, x, p):
        return add(x * p["scale"], p["min"])

    def inverse(self, y, p):
        return divide(subtract(y, p["min"]), p["scale"])

    def exact_inverse(self, y, p):
        return (y - Fraction(p["min"])) / Fraction(p["scale"])

    def affine(self, p):
        return p["scale"], p["min"]


class MaxAbs(Method):
    """Divide by the largest absolute value: y = x / max|x|, as MaxAbsScaler (0 becomes 1)."""

    name = "maxabs"
    parameter_names = ("scale",)

    def fit(self, acc):
        max_abs = max(abs(acc.minimum), abs(acc.maximum))
        return {"max_abs": max_abs}, {"scale": handle_zero_scale(max_abs)}

    def _check(self, parameters):
        return _check_positive(parameters, "scale")

    def forward(self, x, p):
        return divide(x, p["scale"])

    def inverse(self, y, p):
        return y * p["scale"]

    def exact_inverse(self, y, p):
        return y * Fraction(p["scale"])

    def affine(self, p):
        return 1.0 / p["scale"], 0.0


class Robust(Method):
    """Centre on the median and divide by a quantile range: y = (x - median) / (q_hi - q_lo).

    As RobustScaler: quantile_range in percent (default 25, 75), numpy's linear interpolation, a zero
    range becomes 1. Exact quantiles need every value of the column in memory (8 bytes a value).
    """

    name = "robust"
    needs_values = True
    parameter_names = ("center", "scale")

    def __init__(self, quantile_range=(25.0, 75.0)):
        low, high = parse_range(quantile_range, "--quantile-range")
        if not 0 <= low <= high <= 100:
            raise UsageError("--quantile-range needs 0 <= LO <= HI <= 100", value=f"{low:g},{high:g}")
        self.quantile_range = (low, high)

    def options(self):
        return {"quantile_range": list(self.quantile_range)}

    def fit(self, acc):
        values = acc.values()
        with np.errstate(over="ignore", invalid="ignore"):  # near the largest float: inf, refused by name later
            median = float(np.median(values))
            q_lo, q_hi = (float(q) for q in np.percentile(values, self.quantile_range))
        scale = handle_zero_scale(q_hi - q_lo)
        if math.isfinite(scale):
            _refuse_overflow(acc, median, scale, "(x - median) / (q_hi - q_lo)", self.name)
        return {"median": median, "q_lo": q_lo, "q_hi": q_hi}, {"center": median, "scale": scale}

    def _check(self, parameters):
        return _check_positive(parameters, "scale")

    def forward(self, x, p):
        return divide(subtract(x, p["center"]), p["scale"])

    def inverse(self, y, p):
        return add(y * p["scale"], p["center"])

    def exact_inverse(self, y, p):
        return y * Fraction(p["scale"]) + Fraction(p["center"])

    def affine(self, p):
        return 1.0 / p["scale"], -p["center"] / p["scale"]


def decimal_exponent(max_abs: float) -> int:
    """Smallest integer j with max_abs / 10**j < 1, decided exactly (no float log10 at 10**k)."""
    if max_abs == 0:
        return 0
    exact = Fraction(max_abs)
    j = math.floor(math.log10(max_abs)) + 1
    while exact >= Fraction(10) ** j:
        j += 1
    while exact < Fraction(10) ** (j - 1):
        j -= 1
    return j


# 10.0**k is exact up to k = 22; beyond 308 it is not a float at all.
_LARGEST_POWER = 308


class Decimal(Method):
    """Decimal scaling: y = x / 10**j, with j the smallest integer such that max|x| / 10**j < 1.

    Max 986 gives j = 3, max 1000 gives j = 4, max 0.005 gives j = -2, an all-zero column j = 0.
    Multiplying by 10**-j when j < 0 keeps the division exact in intent (0.01 is not a float).
    """

    name = "decimal"
    parameter_names = ("exponent",)

    def fit(self, acc):
        max_abs = max(abs(acc.minimum), abs(acc.maximum))
        exponent = decimal_exponent(max_abs)
        if exponent < -_LARGEST_POWER:
            raise DataError(f"values as small as {max_abs!r} need 10**{exponent}, beyond float64; "
                            "decimal scaling cannot scale this column")
        return {"max_abs": max_abs}, {"exponent": exponent}

    def check(self, parameters):
        j = parameters.get("exponent")
        if not isinstance(j, int) or isinstance(j, bool) or not -_LARGEST_POWER <= j <= 400:
            return f"parameter 'exponent' must be an integer between -{_LARGEST_POWER} and 400"
        return None

    def forward(self, x, p):
        j = p["exponent"]
        if j <= 0:
            return x * _power_of_ten(-j)
        if j <= _LARGEST_POWER:
            return divide(x, _power_of_ten(j))
        return divide(divide(x, _power_of_ten(_LARGEST_POWER)), _power_of_ten(j - _LARGEST_POWER))

    def inverse(self, y, p):
        j = p["exponent"]
        if j <= 0:
            return divide(y, _power_of_ten(-j))
        if j <= _LARGEST_POWER:
            return y * _power_of_ten(j)
        return y * _power_of_ten(j - _LARGEST_POWER) * _power_of_ten(_LARGEST_POWER)

    def exact_inverse(self, y, p):
        return y * Fraction(10) ** p["exponent"]

    def affine(self, p):
        return _power_of_ten(-p["exponent"]), 0.0


def _power_of_ten(k: int) -> float:
    """The float nearest 10**k. Python's 10.0 ** k is not always that beyond 10**22, where 10**k is
    no longer a float: 10.0 ** 23 gives 1.0000000000000001e+23, not 1e+23."""
    return float(Fraction(10) ** k)


METHODS: dict[str, type[Method]] = {m.name: m for m in (ZScore, MinMax, MaxAbs, Robust, Decimal)}
DEFAULT_METHOD = ZScore.name


def make_method(name: str, options: dict | None = None) -> Method:
    """The method called ``name`` with ``options`` (as in the sidecar or from the command line)."""
    try:
        cls = METHODS[name]
    except KeyError:
        raise UsageError(f"unknown method (choose from {', '.join(METHODS)})", value=name) from None
    return cls(**(options or {}))
