"""Statistics on hard data, against a two-pass numpy reference."""

import math

import numpy as np
import pytest

from normcli.stats import BLOCK, ColumnAccumulator, _exponent, _exponents, decimals_needed, long_integers


def two_pass(x):
    x = x[~np.isnan(x)]
    mean = np.sum(x) / x.size
    return mean, math.sqrt(np.sum((x - mean) ** 2) / x.size)


def fitted(x, batch=10_000):
    acc = ColumnAccumulator(moments=True)
    for start in range(0, x.size, batch):
        acc.update(x[start : start + batch])
    return acc


def test_large_offset_keeps_its_std(rng):
    x = 1e9 + rng.standard_normal(300_000)
    acc = fitted(x)
    mean, std = two_pass(x)
    assert acc.mean == pytest.approx(mean, rel=1e-15)
    assert acc.std == pytest.approx(std, rel=1e-12)
    naive = math.sqrt(np.mean(x * x) - np.mean(x) ** 2)
    assert abs(naive - std) / std > 1e-6  # the naive formula would have failed here


@pytest.mark.parametrize("values", [
    [-1e10, 1e10, 0.1],
    [1e16, -1e16, 1.0],
    [1e-12, 0.009999999999, -1e-12, -0.009999999999, 1e-12],
    [3.0, -7.5, 1e9, -1e9, 2.25],
])
def test_a_small_mean_beside_large_values_of_both_signs_is_exact(values):
    # A shift by the mean (0.0333 beside 1e10) would round every large value as it is shifted.
    from fractions import Fraction

    acc = fitted(np.array(values))
    assert acc.mean == float(sum(map(Fraction, values)) / len(values))


def test_the_mean_errs_by_no_more_than_rounding_allows_at_the_data_scale(rng):
    from fractions import Fraction

    for _ in range(20):
        x = np.round(rng.standard_normal(5000) * 10.0 ** rng.integers(-5, 15, 5000), 3)
        exact = sum(map(Fraction, x.tolist())) / x.size
        bound = 4 * np.finfo(float).eps * float(np.max(np.abs(x)))
        assert abs(Fraction(fitted(x, batch=777).mean) - exact) <= bound


def test_values_near_float_max_do_not_overflow(rng):
    x = rng.uniform(1e307, 1.7e308, 100_000)
    acc = fitted(x)
    scaled = x / 2.0**1000
    mean, std = two_pass(scaled)
    assert acc.mean == pytest.approx(mean * 2.0**1000, rel=1e-14)
    assert acc.std == pytest.approx(std * 2.0**1000, rel=1e-12)
    assert math.isfinite(acc.std)


def test_tiny_values_do_not_underflow(rng):
    x = rng.normal(0, 1e-300, 50_000)
    acc = fitted(x)
    mean, std = two_pass(x * 2.0**1000)
    assert acc.std == pytest.approx(std / 2.0**1000, rel=1e-12)


@pytest.mark.parametrize("batch", [1, 7, 999, BLOCK, BLOCK + 1, 10**6])
def test_result_does_not_depend_on_batch_size(rng, batch):
    x = rng.normal(3, 2, 3 * BLOCK + 17)
    x[::13] = np.nan
    reference = fitted(x, batch=x.size)
    acc = fitted(x, batch=batch) if batch > 1 else fitted(x[:5000], batch=1)
    if batch == 1:
        reference = fitted(x[:5000], batch=5000)
    assert (acc.mean, acc.std, acc.count, acc.nulls) == (reference.mean, reference.std, reference.count, reference.nulls)


def test_chunks_in_any_order_agree(rng):
    parts = [rng.normal(mu, s, n) for mu, s, n in [(0, 1, 70_000), (1e6, 3, 50_000), (-5, 0.1, 90_000)]]
    x = np.concatenate(parts)
    mean, std = two_pass(x)
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        acc = ColumnAccumulator(moments=True)
        for i in order:
            acc.update(parts[i])
        assert acc.mean == pytest.approx(mean, rel=1e-13)
        assert acc.std == pytest.approx(std, rel=1e-12)


def test_counts_extremes_and_missing():
    acc = ColumnAccumulator()
    acc.update(np.array([3.0, np.nan, -2.5, 10.0]))
    acc.update(np.array([np.nan, np.nan]))
    assert (acc.count, acc.nulls, acc.minimum, acc.maximum) == (3, 3, -2.5, 10.0)


@pytest.mark.parametrize("values", [[0.0, 1.0, -0.0], [-0.0, 1.0, 0.0], [-1.0, -0.0, 0.0], [-1.0, 0.0, -0.0],
                                    [-0.0, -0.0], [0.0, -0.0]])
def test_a_zero_extreme_has_one_sign_however_the_values_are_cut(values):
    # numpy's min of 0.0 and -0.0 is whichever comes first in its batch: the sidecar must not care.
    signs = set()
    for cut in range(len(values) + 1):
        acc = ColumnAccumulator()
        for part in (values[:cut], values[cut:]):
            if part:
                acc.update(np.array(part))
        signs.add((math.copysign(1, acc.minimum), math.copysign(1, acc.maximum)))
    assert len(signs) == 1


@pytest.mark.parametrize(
    "values,expected",
    [([1.0, 2.0], 0), ([28.98, 1.5], 2), ([0.1, 0.25, 1e-5], 5), ([1234567.1234567], 7), ([0.1 + 0.2], None),
     ([1e300], None)],
)
def test_decimals_needed(values, expected):
    assert decimals_needed(np.array(values), 0) == expected


def test_a_hundred_million_rows_against_a_two_pass_reference():
    chunks, size = 100, 1_000_000

    def chunk(i):
        return 1e6 + np.random.default_rng(i).standard_normal(size) * 1e-3

    acc = ColumnAccumulator(moments=True)
    sums = []
    for i in range(chunks):
        x = chunk(i)
        acc.update(x)
        sums.append(float(np.sum(x)))
    mean = math.fsum(sums) / (chunks * size)
    m2 = math.fsum(float(np.sum((chunk(i) - mean) ** 2)) for i in range(chunks))
    assert acc.count == chunks * size
    assert acc.mean == pytest.approx(mean, rel=1e-15)
    assert acc.std == pytest.approx(math.sqrt(m2 / (chunks * size)), rel=1e-12)


def test_a_column_of_one_huge_value_is_constant_without_overflow():
    import warnings

    acc = ColumnAccumulator(moments=True)
    acc.update(np.full(5, 1e300))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (n * mean * eps) ** 2 would overflow to inf with a warning
        assert acc.is_constant()
    assert acc.std == 0.0 and acc.mean == 1e300


def test_one_number_exponent_agrees_with_the_array_one(rng):
    powers = 10.0 ** np.arange(-323, 309)
    values = np.concatenate([powers, np.nextafter(powers, 0), np.nextafter(powers, np.inf), rng.lognormal(0, 50, 20_000),
                             [5e-324, np.finfo(float).max, 99999999999999.9]])
    values = values[np.isfinite(values) & (values > 0)]
    assert [_exponent(float(v)) for v in values] == _exponents(values).tolist()


def test_long_integers_are_told_apart_from_those_float64_gives_back():
    values = np.array([7.0, 999999999999999.0, 4000000000000000.0, 4000000000000001.0, np.nan, np.inf,
                       float(2**53), 99999999999999600.0, 99999999999999904.0, -1e18])
    index, certain = long_integers(values)
    # 16 significant digits are certain; from 2**53 on, a float on a grid of 15 digits may still
    # have been read from another integer (99999999999999904 is the float of ...900, and of ...901),
    # so the caller compares it with the integer as written.
    assert index.tolist() == [3, 6, 7, 8, 9]
    assert certain.tolist() == [True, True, False, False, False]
