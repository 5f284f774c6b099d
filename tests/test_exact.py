"""normcli.exact: polars arithmetic that gives numpy's (IEEE) results to the last bit."""

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import normcli
from normcli import exact, stats

DIVISORS = [3.0, -7.0, 10.0, 0.1, 1e-300, 7e300, 5e-324]


def assert_same_floats(actual, expected):
    """Equal to the bit where it matters: NaN where NaN, and zeros with the same sign."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    np.testing.assert_array_equal(actual, expected)
    zeros = expected == 0
    np.testing.assert_array_equal(np.signbit(actual[zeros]), np.signbit(expected[zeros]))


def awkward_values(rng, n=40_000):
    """Values of every size, the special ones among them, and nulls (the mask) in random places."""
    specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, -5e-324, np.finfo(float).max,
                         np.finfo(float).tiny, 1.0, -1.0])
    values = np.concatenate([
        rng.standard_normal(n),
        rng.lognormal(0, 5, n),
        rng.standard_normal(n) * 1e-310,  # subnormal
        rng.standard_normal(n) * 1e300,
        np.arange(1, n + 1) * 1.1,  # where a reciprocal is often one ulp off
        np.tile(specials, 50),
    ])
    values = rng.permutation(values)
    return values, rng.random(values.size) < 0.05


def frame_with_nulls(values, mask):
    return pl.DataFrame({"x": values, "null": mask}).select(
        pl.when(~pl.col("null")).then(pl.col("x")).alias("x"))


def evaluated(frame, expr, engine):
    if engine == "eager":
        return frame.select(expr.alias("y"))["y"]
    return frame.lazy().select(expr.alias("y")).collect(engine="streaming")["y"]


def check_divide(rng, engine):
    values, mask = awkward_values(rng)
    frame = frame_with_nulls(values, mask)
    for divisor in DIVISORS:
        quotient = evaluated(frame, exact.divide(pl.col("x"), divisor), engine)
        np.testing.assert_array_equal(quotient.is_null().to_numpy(), mask, err_msg=f"nulls, / {divisor!r}")
        with np.errstate(all="ignore"):
            expected = values / divisor
        assert_same_floats(quotient.to_numpy()[~mask], expected[~mask])


# ---------------------------------------------------------------------------------------------
# divide


@pytest.mark.parametrize("divisor", exact.PROBE_DIVISORS)
def test_probe_tells_a_reciprocal_from_a_division(divisor):
    # The check in _polars_divides_exactly can only fail if x * (1/d) and x / d differ on the probe.
    values = np.array(exact.PROBE_VALUES)
    assert np.array_equal(values, np.arange(1, 1001) * 1.1)  # as numpy computes them
    assert np.count_nonzero(values * (1 / divisor) != values / divisor) > 0


def test_polars_alone_divides_by_a_scalar_through_its_reciprocal():
    """Why exact.divide exists. Should this fail, polars now divides a column by a scalar literal
    exactly, and divide's computed-column detour (and its start-up check) is no longer needed."""
    frame = pl.DataFrame({"x": exact.PROBE_VALUES})
    for divisor in exact.PROBE_DIVISORS:
        quotient = frame.select(pl.col("x") / divisor)["x"].to_numpy()
        assert not np.array_equal(quotient, np.array(exact.PROBE_VALUES) / divisor), (
            f"polars now divides by the literal {divisor!r} exactly: exact.divide could be plain '/'")


def test_polars_divides_exactly_through_a_computed_column():
    # Holds on this polars; when it stops holding, divide falls back to numpy (tested below).
    assert exact._polars_divides_exactly()


@pytest.mark.parametrize("engine", ["eager", "streaming"])
def test_divide_is_numpy_division(rng, engine):
    check_divide(rng, engine)


@pytest.mark.parametrize("engine", ["eager", "streaming"])
def test_numpy_fallback_is_numpy_division(rng, engine, monkeypatch):
    calls = []
    numpy_divide = exact._numpy_divide
    monkeypatch.setattr(exact, "_divides_exactly", False)
    monkeypatch.setattr(exact, "_numpy_divide", lambda series, d: calls.append(d) or numpy_divide(series, d))
    check_divide(rng, engine)
    assert calls  # the fallback really ran


def test_divide_by_a_column_is_numpy_division(rng):
    values, mask = awkward_values(rng, n=5000)
    divisors = rng.choice(np.array(DIVISORS), values.size)
    frame = frame_with_nulls(values, mask).with_columns(d=pl.Series(divisors))
    quotient = frame.select(exact.divide(pl.col("x"), pl.col("d")))["x"]
    np.testing.assert_array_equal(quotient.is_null().to_numpy(), mask)
    with np.errstate(all="ignore"):
        assert_same_floats(quotient.to_numpy()[~mask], (values / divisors)[~mask])


def test_apply_and_invert_are_the_same_with_the_numpy_fallback(rng, monkeypatch):
    n = 20_000
    frame = pl.DataFrame({
        "a": np.round(rng.lognormal(3, 1, n), 2),
        "b": np.arange(1, n + 1) * 1.1,
        "c": rng.normal(0, 1e-6, n),
        "d": np.where(rng.random(n) < 0.1, np.nan, rng.normal(-5, 12, n)),
    })
    methods = ("zscore", "minmax", "maxabs", "robust", "decimal")
    sidecars = {m: normcli.fit(frame, method=m) for m in methods}
    polars_results = {m: (normcli.apply(frame, s), normcli.invert(normcli.apply(frame, s), s))
                      for m, s in sidecars.items()}
    calls = []
    numpy_divide = exact._numpy_divide
    monkeypatch.setattr(exact, "_divides_exactly", False)
    monkeypatch.setattr(exact, "_numpy_divide", lambda series, d: calls.append(d) or numpy_divide(series, d))
    for method, sidecar in sidecars.items():
        scaled = normcli.apply(frame, sidecar)
        restored = normcli.invert(scaled, sidecar)
        for got, want in zip((scaled, restored), polars_results[method]):
            assert got.columns == want.columns
            for name in got.columns:
                assert_same_floats(got[name].to_numpy(), want[name].to_numpy())
    assert calls


# ---------------------------------------------------------------------------------------------
# round_decimal


def near_tie(decimals):
    """Floats at or next to k + 1/2 units of the last place: where the rounding mode shows."""
    place = 10.0 ** abs(decimals)
    to_value = (lambda k: (k + 0.5) / place) if decimals >= 0 else (lambda k: (k + 0.5) * place)
    return st.builds(lambda k, step: float(np.nextafter(to_value(k), np.inf * step) if step else to_value(k)),
                     st.integers(-10**7, 10**7), st.sampled_from([-1, 0, 1]))


def on_grid(decimals):
    """Floats with ``decimals`` places: their rounding is undone by a division, which must be exact."""
    place = 10.0 ** abs(decimals)
    to_value = (lambda k: k / place) if decimals >= 0 else (lambda k: k * place)
    return st.builds(to_value, st.integers(-10**15, 10**15))


any_float = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)
places = st.integers(-stats.MAX_DECIMALS, stats.MAX_DECIMALS)


@st.composite
def values_at_places(draw, per_value: bool):
    """(values, decimals): decimals one int, or with ``per_value`` one per value."""
    if not per_value:
        d = draw(places)
        return draw(st.lists(st.one_of(any_float, near_tie(d), on_grid(d)), min_size=1, max_size=40)), d
    pairs = draw(st.lists(places.flatmap(lambda d: st.tuples(st.one_of(any_float, near_tie(d), on_grid(d)),
                                                             st.just(d))), min_size=1, max_size=40))
    return [v for v, _ in pairs], [d for _, d in pairs]


ROUND_SETTINGS = settings(derandomize=True, database=None, max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])


def rounded_by_polars(values, decimals):
    if np.ndim(decimals) == 0:
        frame = pl.DataFrame({"x": values}, schema={"x": pl.Float64})
        expr = exact.round_decimal(pl.col("x"), decimals, 10.0 ** abs(decimals))
    else:
        frame = pl.DataFrame({"x": values, "d": decimals,
                              "p": stats.powers_of_ten(np.abs(decimals))},
                             schema={"x": pl.Float64, "d": pl.Int64, "p": pl.Float64})
        expr = exact.round_decimal(pl.col("x"), pl.col("d"), pl.col("p"))
    eager = frame.select(expr.alias("y"))["y"].to_numpy()
    streaming = frame.lazy().select(expr.alias("y")).collect(engine="streaming")["y"].to_numpy()
    assert_same_floats(streaming, eager)
    return eager


@ROUND_SETTINGS
@given(values_at_places(per_value=False))
@example(([0.5, 1.5, 2.5, -0.5, -2.5, -0.3, -0.0], 0))  # half to even, and zeros keep their sign
@example(([0.3, 0.7, 1e300, -5e-324], 1))  # 3 / 10 is 0.3; 3 * (1 / 10) is not
@example(([250.0, -999994.9999999999, 1e308], -1))  # x / 10 exactly, then rounded
def test_round_decimal_matches_numpy(case):
    values, decimals = case
    values = np.array(values, dtype=np.float64)
    with np.errstate(all="ignore"):
        expected = stats.round_decimal(values.copy(), decimals)
    assert_same_floats(rounded_by_polars(values, decimals), expected)


@ROUND_SETTINGS
@given(values_at_places(per_value=True))
@example(([0.5, 2.5, 0.3, -999994.9999999999, -0.3, 1e300], [0, 0, 1, -1, 0, 22]))
def test_round_decimal_per_value_matches_numpy(case):
    values, decimals = case
    values, decimals = np.array(values, dtype=np.float64), np.array(decimals, dtype=np.int64)
    with np.errstate(all="ignore"):
        expected = stats.round_decimal(values, decimals)
    assert_same_floats(rounded_by_polars(values, decimals), expected)
