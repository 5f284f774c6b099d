"""Every method against scikit-learn (the oracle), and the decimal-scaling rules."""

import math
from fractions import Fraction

import numpy as np
import polars as pl
import pytest
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

import normcli
from normcli.methods import decimal_exponent, make_method

ORACLES = [
    ("zscore", {}, lambda: StandardScaler()),
    ("minmax", {}, lambda: MinMaxScaler()),
    ("minmax", {"feature_range": (-1, 1)}, lambda: MinMaxScaler(feature_range=(-1, 1))),
    ("minmax", {"feature_range": (0, 255)}, lambda: MinMaxScaler(feature_range=(0, 255))),
    ("maxabs", {}, lambda: MaxAbsScaler()),
    ("robust", {}, lambda: RobustScaler()),
    ("robust", {"quantile_range": (10, 90)}, lambda: RobustScaler(quantile_range=(10, 90))),
]


def realistic_frame(rng, n=5000):
    """Mixed scales, NaNs in different places, a constant, a near-constant and an integer column."""
    data = {
        "price": np.round(rng.lognormal(3, 1, n), 2),
        "temp": np.round(rng.normal(-5, 12, n), 1),
        "big": 1e5 + rng.standard_normal(n),
        "tiny": rng.normal(0, 1e-6, n),
        "constant": np.full(n, 7.25),
        "near_constant": np.where(np.arange(n) % 2 == 0, 0.3, 0.1 + 0.2),
        "count": rng.integers(-50, 5000, n).astype(np.float64),
    }
    for i, name in enumerate(["price", "temp", "big", "count"]):
        data[name][rng.random(n) < 0.05 * (i + 1)] = np.nan
    return pl.DataFrame(data)


@pytest.mark.parametrize("method,options,make_oracle", ORACLES, ids=[f"{m}{o}" for m, o, _ in ORACLES])
def test_agrees_with_scikit_learn(rng, method, options, make_oracle):
    frame = realistic_frame(rng)
    sidecar = normcli.fit(frame, method=method, **options)
    scaled = normcli.apply(frame, sidecar).to_numpy()
    expected = make_oracle().fit_transform(frame.to_numpy())
    np.testing.assert_array_equal(np.isnan(scaled), np.isnan(expected))
    np.testing.assert_allclose(scaled, expected, rtol=1e-12, atol=1e-12)


def test_zscore_mean_is_correctly_rounded_where_numpy_sum_is_not(rng):
    # On 1e9 + N(0, 1) numpy's sum (and so StandardScaler) can be one ulp (1.2e-7) off the true
    # mean; normcli's shifted blocks give the correctly rounded mean and scale against it.
    x = 1e9 + rng.standard_normal(100_000)
    exact_mean = float(sum(Fraction(v) for v in x) / x.size)
    exact_std = math.sqrt(float(sum((Fraction(v) - Fraction(exact_mean)) ** 2 for v in x) / x.size))
    sidecar = normcli.fit(pl.DataFrame({"x": x}))
    assert sidecar["x"].statistics["mean"] == exact_mean
    assert sidecar["x"].statistics["std"] == pytest.approx(exact_std, rel=1e-13)


def test_zscore_constant_columns_follow_sklearn_relative_rule(rng):
    frame = realistic_frame(rng)
    sidecar = normcli.fit(frame)
    oracle = StandardScaler().fit(frame.to_numpy())
    names = frame.columns
    for i in (names.index("constant"), names.index("near_constant")):
        assert oracle.scale_[i] == 1.0
        assert sidecar[names[i]].parameters["scale"] == 1.0


def test_minmax_constant_column_maps_to_low_end():
    frame = pl.DataFrame({"c": [4.0, 4.0, 4.0]})
    out = normcli.apply(frame, normcli.fit(frame, method="minmax", feature_range=(-1, 1)))
    assert out["c"].to_list() == [-1.0, -1.0, -1.0]


@pytest.mark.parametrize(
    "max_abs,exponent",
    [(986, 3), (1000, 4), (999.999, 3), (0.005, -2), (0.01, -1), (0.0099, -2), (1, 1), (0.999, 0), (0, 0),
     (1e308, 309), (5e-324, -323), (123456789, 9)],
)
def test_decimal_exponent_is_exact_at_powers_of_ten(max_abs, exponent):
    assert decimal_exponent(max_abs) == exponent


def test_decimal_scaling_values():
    frame = pl.DataFrame({"a": [986.0, -12.0, 0.0], "b": [0.005, 0.001, -0.002], "z": [0.0, 0.0, 0.0]})
    sidecar = normcli.fit(frame, method="decimal")
    assert [sidecar[n].parameters["exponent"] for n in "abz"] == [3, -2, 0]
    out = normcli.apply(frame, sidecar)
    assert out["a"].to_list() == [0.986, -0.012, 0.0]
    assert out["b"].to_list() == [0.5, 0.1, -0.2]
    assert out["z"].to_list() == [0.0, 0.0, 0.0]


def test_infinite_values_pass_through_apply_and_invert():
    fitted = normcli.fit(pl.DataFrame({"x": [1.0, 2.0, 3.0]}))
    frame = pl.DataFrame({"x": [float("inf"), float("-inf"), 2.0]})
    scaled = normcli.apply(frame, fitted)
    assert scaled["x"].to_list()[:2] == [float("inf"), float("-inf")]
    assert normcli.invert(scaled, fitted)["x"].to_list() == [float("inf"), float("-inf"), 2.0]


def test_affine_pair_reproduces_forward(rng):
    frame = realistic_frame(rng).drop("constant", "near_constant")
    for method in ("zscore", "minmax", "maxabs", "robust", "decimal"):
        sidecar = normcli.fit(frame, method=method)
        scaled = normcli.apply(frame, sidecar)
        for column in sidecar.columns:
            scale, offset = column.affine
            x = frame[column.name].to_numpy()
            # The affine form cancels where the offset is large: allow for a few ulps of it.
            atol = 8 * np.finfo(float).eps * abs(offset) + 1e-12
            np.testing.assert_allclose(x * scale + offset, scaled[column.name].to_numpy(), rtol=1e-12, atol=atol)


def test_exact_inverse_is_the_inverse_without_rounding(rng):
    # The float inverse is within a few roundings of the exact one.
    frame = realistic_frame(rng).drop("constant", "near_constant")
    for method in ("zscore", "minmax", "maxabs", "robust", "decimal"):
        sidecar = normcli.fit(frame, method=method)
        scaled = normcli.apply(frame, sidecar)
        back = scaled.select(column.scaler.inverse(pl.col(column.name), column.parameters) for column in sidecar.columns)
        for column in sidecar.columns:
            scale, offset = column.affine
            origin = abs(offset / scale)
            for y, inverse in list(zip(scaled[column.name], back[column.name]))[:200]:
                if y is None or math.isnan(y):
                    continue
                exact = column.scaler.exact_inverse(Fraction(y), column.parameters)
                assert abs(Fraction(inverse) - exact) <= 4 * np.finfo(float).eps * (abs(inverse) + origin), (method, y)


def test_unknown_method_is_a_usage_error():
    with pytest.raises(normcli.UsageError, match="unknown method"):
        normcli.fit(pl.DataFrame({"x": [1.0]}), method="softmax")


@pytest.mark.parametrize("bad", [(1, 1), (2, 1)])
def test_feature_range_must_increase(bad):
    with pytest.raises(normcli.UsageError, match="LO < HI"):
        normcli.fit(pl.DataFrame({"x": [1.0]}), method="minmax", feature_range=bad)


def test_zscore_tiny_but_real_spread_is_scaled_like_sklearn():
    frame = pl.DataFrame({"x": [1e-20, 2e-20, 3e-20]})
    expected = StandardScaler().fit_transform(frame.to_numpy()).ravel()
    np.testing.assert_allclose(normcli.apply(frame, normcli.fit(frame))["x"].to_numpy(), expected, rtol=1e-12, atol=1e-12)
    assert abs(expected[0]) > 1  # a real spread, not the constant rule


def test_decimal_refuses_values_beyond_float_powers():
    with pytest.raises(normcli.DataError, match="beyond float64"):
        normcli.fit(pl.DataFrame({"x": [1e-320]}), method="decimal")


def fitted_oracle(make_oracle, parameters):
    """The scikit-learn scaler with its fitted attributes set to normcli's parameters, one column
    a feature: its transform is then pure arithmetic, the same steps as normcli's."""
    oracle = make_oracle()
    column = lambda key: np.array([p[key] for p in parameters], dtype=np.float64)
    oracle.n_features_in_ = len(parameters)
    if isinstance(oracle, StandardScaler):
        oracle.mean_, oracle.scale_, oracle.var_ = column("mean"), column("scale"), column("scale") ** 2
    elif isinstance(oracle, MinMaxScaler):
        oracle.scale_, oracle.min_ = column("scale"), column("min")
    elif isinstance(oracle, MaxAbsScaler):
        oracle.scale_ = oracle.max_abs_ = column("scale")
    else:
        oracle.center_, oracle.scale_ = column("center"), column("scale")
    return oracle


def scaled_back(frame, sidecar):
    """Each column through its method's inverse expression, before invert's rounding."""
    return frame.select(
        make_method(c.method, c.options).inverse(pl.col(c.name), c.parameters).alias(c.name)
        for c in sidecar.columns).to_numpy()


def assert_same_floats(actual, expected):
    np.testing.assert_array_equal(actual, expected)
    zeros = expected == 0
    np.testing.assert_array_equal(np.signbit(actual[zeros]), np.signbit(expected[zeros]))


@pytest.mark.parametrize("method,options,make_oracle", ORACLES, ids=[f"{m}{o}" for m, o, _ in ORACLES])
def test_arithmetic_is_scikit_learns_to_the_bit(rng, method, options, make_oracle):
    # Given the same parameters, apply and the inverse must be scikit-learn's arithmetic exactly:
    # the fit is compared (to a tolerance) above, the arithmetic here (no tolerance).
    frame = realistic_frame(rng)
    sidecar = normcli.fit(frame, method=method, **options)
    oracle = fitted_oracle(make_oracle, [c.parameters for c in sidecar.columns])
    scaled = normcli.apply(frame, sidecar)
    assert scaled.columns == frame.columns
    assert_same_floats(scaled.to_numpy(), oracle.transform(frame.to_numpy()))
    # Scaled values, and values apply never gives (as invert may be handed), each scaled back.
    for values in (scaled, pl.DataFrame({n: rng.normal(0, 3, 2000) for n in frame.columns})):
        values = values.with_columns(pl.col(n).fill_null(float("nan")) for n in frame.columns)
        assert_same_floats(scaled_back(values, sidecar), oracle.inverse_transform(values.to_numpy()))


def test_decimal_arithmetic_is_a_power_of_ten_to_the_bit(rng):
    # No scikit-learn oracle: x / 10**j for j > 0, x * 10**-j otherwise (0.01 is not a float), with
    # the float nearest 10**j: Python's 10.0 ** j is one ulp off it at j = 23 and j = 210, which the
    # columns e22 and e209 reach.
    frame = realistic_frame(rng).with_columns(
        small=rng.normal(0, 0.004, 5000), zero=np.zeros(5000), huge=rng.normal(0, 1e300, 5000),
        e22=np.concatenate([[1e22], rng.uniform(-9e22, 9e22, 4999)]), e209=rng.uniform(-9e209, 9e209, 5000))
    sidecar = normcli.fit(frame, method="decimal")
    exponents = {c.name: c.parameters["exponent"] for c in sidecar.columns}
    assert {j > 0 for j in exponents.values()} == {True, False}  # both ways are taken
    scaled = normcli.apply(frame, sidecar)
    values = pl.DataFrame({n: rng.normal(0, 3, 2000) for n in frame.columns})
    back = scaled_back(values, sidecar)
    assert {exponents["e22"], exponents["e209"]} == {23, 210}
    assert scaled["e22"][0] == 0.1  # 1e22 / 1e23, where 1e22 / 10.0 ** 23 is 0.09999999999999999
    for i, name in enumerate(frame.columns):
        j = exponents[name]
        power = float(Fraction(10) ** abs(j))
        x, y = frame[name].to_numpy(), values[name].to_numpy()
        forward = x / power if j > 0 else x * power
        inverse = y * power if j > 0 else y / power
        assert_same_floats(scaled[name].to_numpy(), forward)
        assert_same_floats(back[:, i], inverse)


@pytest.mark.parametrize("source", ["frame", "csv"])
def test_adding_a_zero_parameter_turns_negative_zero_into_zero_as_scikit_learn_does(tmp_path, source):
    # minmax on data starting at 0 has min = 0.0, and -0.0 * scale + 0.0 is 0.0; polars' eager
    # engine would skip the addition.
    frame = pl.DataFrame({"x": [-0.0, 0.0, 5.0, -0.0, 2.5]})
    sidecar = normcli.fit(frame, method="minmax")
    assert sidecar["x"].parameters["min"] == 0.0
    expected = MinMaxScaler().fit_transform(frame.to_numpy()).ravel()
    if source == "frame":
        scaled = normcli.apply(frame, sidecar)["x"].to_numpy()
    else:
        frame.write_csv(tmp_path / "x.csv")
        normcli.apply(str(tmp_path / "x.csv"), sidecar, str(tmp_path / "s.csv"))
        scaled = pl.read_csv(tmp_path / "s.csv")["x"].to_numpy()
    np.testing.assert_array_equal(scaled, expected)
    assert np.array_equal(np.signbit(scaled), np.signbit(expected))
    # And back: zscore with mean 0.0 adds it to -0.0 * scale.
    zscored = normcli.fit(pl.DataFrame({"x": [-1.0, 1.0]}))
    assert zscored["x"].parameters["mean"] == 0.0
    back = normcli.invert(pl.DataFrame({"x": [-0.0]}), zscored)["x"].to_numpy()
    assert not np.signbit(back[0])


@pytest.mark.parametrize("method,values,message", [
    ("zscore", [1e308, 1.7976931348623157e308, -1.7976931348623157e308],
     r"\(x - mean\) / std overflows float64 at the column's extremes: zscore cannot scale this column"),
    ("robust", [-1.5e308, 1e308, 1e308, 1e308, 1e308],
     r"\(x - median\) / \(q_hi - q_lo\) overflows float64 at the column's extremes: robust cannot scale"),
    ("minmax", [1e308, 1.7976931348623157e308, -1.7976931348623157e308],
     r"max - min overflows float64: minmax cannot scale this column"),
])
def test_a_column_its_method_would_scale_to_infinity_is_refused_at_fit(method, values, message):
    # apply would otherwise write an infinity for a finite value, and invert give it back.
    frame = pl.DataFrame({"x": values})
    with pytest.raises(normcli.DataError, match=r"column 'x': " + message):
        normcli.fit(frame, method=method)
    for other in ("maxabs", "decimal"):  # which the message suggests
        sidecar = normcli.fit(frame, method=other)
        scaled = normcli.apply(frame, sidecar)
        assert np.isfinite(scaled["x"].to_numpy()).all()
        assert normcli.invert(scaled, sidecar)["x"].to_list() == values


@pytest.mark.parametrize("values", [[5e-324, 1e-323, 0.0], [1e-310, 0.0, -1e-310], [1e-170, 0.0, -1e-170]])
def test_zscore_of_a_spread_near_the_smallest_floats_is_scikit_learns(values):
    # Below about 1e-162 the squares of the deviations are 0.0 in float64: scikit-learn's variance is
    # 0, the column counts as constant, and its scale is 1. (A little above, its variance is a
    # subnormal float that has lost digits, and normcli's std is the more accurate of the two.)
    expected = StandardScaler().fit(np.array(values).reshape(-1, 1))
    sidecar = normcli.fit(pl.DataFrame({"x": values}))
    assert sidecar["x"].parameters == {"mean": float(expected.mean_[0]), "scale": float(expected.scale_[0])}
    scaled = normcli.apply(pl.DataFrame({"x": values}), sidecar)
    assert scaled["x"].to_list() == expected.transform(np.array(values).reshape(-1, 1))[:, 0].tolist()
