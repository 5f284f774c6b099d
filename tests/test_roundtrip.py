"""Property: invert(apply(x)) gives x back exactly, for every method and format."""

import math
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import normcli

METHODS = ["zscore", "minmax", "maxabs", "robust", "decimal"]


@st.composite
def decimal_column(draw, size):
    """Numbers as text with at most 15 significant digits at one magnitude, some missing."""
    digits = draw(st.integers(1, 15))
    exponent = draw(st.integers(-12, 12))
    limit = 10**digits - 1
    values = draw(st.lists(st.one_of(st.none(), st.integers(-limit, limit)), min_size=size, max_size=size))
    if draw(st.booleans()):  # a constant column
        values = [values[0] if v is not None else None for v in values]
    style = draw(st.sampled_from(["plain", "scientific"]))
    if style == "scientific":
        return [None if v is None else f"{v}e{exponent}" for v in values]
    return [None if v is None else f"{v * 10**exponent}" if exponent >= 0 else f"{v / 10**-exponent:.{-exponent}f}"
            for v in values]


@st.composite
def frames(draw):
    size = draw(st.integers(2, 40))
    columns = {f"f{i}": draw(decimal_column(size)) for i in range(draw(st.integers(1, 3)))}
    columns["n"] = [None if v is None else str(v) for v in
                    draw(st.lists(st.one_of(st.none(), st.integers(-(2**40), 2**40)), min_size=size, max_size=size))]
    columns["label"] = draw(st.lists(st.sampled_from(["a", "b,c", "", "NA"]), min_size=size, max_size=size))
    frame = pl.DataFrame(columns, schema={name: pl.String for name in columns})
    # Every fitted column needs one value.
    for name in list(frame.columns):
        if name != "label" and frame[name].null_count() == size:
            frame = frame.with_columns(pl.lit("1").alias(name))
    return frame


def numbers(path: Path, fmt: str) -> dict:
    if fmt == "parquet":
        frame = pl.read_parquet(path)
    else:
        frame = pl.read_csv(path, separator="\t" if fmt == "tsv" else ",", infer_schema=False)
    return {
        name: [None if v is None or v == "" else float(v) for v in frame[name].cast(pl.String).to_list()]
        for name in frame.columns
        if name != "label"
    }


@pytest.mark.parametrize("method", METHODS)
# Derandomized: the same examples on every run, so CI is repeatable; change the seed to explore.
@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames(), fmt=st.sampled_from(["csv", "tsv", "parquet"]))
def test_apply_then_invert_gives_the_numbers_back_exactly(method, frame, fmt):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = tmp / f"in.{fmt}"
        if fmt == "parquet":
            frame.with_columns(pl.col(c).cast(pl.Float64) for c in frame.columns if c.startswith("f")).with_columns(
                pl.col("n").cast(pl.Int64)).write_parquet(source)
        else:
            frame.write_csv(source, separator="\t" if fmt == "tsv" else ",")
        sidecar = normcli.fit(str(source), method=method, exclude=["label"])
        normcli.apply(str(source), sidecar, str(tmp / f"scaled.{fmt}"))
        normcli.invert(str(tmp / f"scaled.{fmt}"), sidecar, str(tmp / f"back.{fmt}"))
        before, after = numbers(source, fmt), numbers(tmp / f"back.{fmt}", fmt)
        assert after == before  # exact: equal floats, None where missing
        if fmt != "parquet":
            back_text = pl.read_csv(tmp / f"back.{fmt}", separator="\t" if fmt == "tsv" else ",", infer_schema=False)
            assert back_text["n"].to_list() == [None if v is None else v for v in frame["n"].to_list()]
            assert back_text["label"].fill_null("").to_list() == frame["label"].fill_null("").to_list()
        assert all(v is None or math.isfinite(v) for v in after["n"])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("values", [
    ["0.1", "99999999999999.9"],        # log10 of the second rounds up to 14.0
    ["100", "99999999999999600"],       # an integer column on a grid of hundreds
    ["28.98", "1.5", "1000000.25"],
    ["1.23e17", "4.56e17", "7.89e17"],
    ["0.000000001", "-0.000000002"],
])
def test_known_hard_columns_come_back_exactly(tmp_path, method, values):
    source = tmp_path / "in.csv"
    source.write_text("x\n" + "\n".join(values) + "\n")
    sidecar = normcli.fit(str(source), method=method)
    normcli.apply(str(source), sidecar, str(tmp_path / "s.csv"))
    normcli.invert(str(tmp_path / "s.csv"), sidecar, str(tmp_path / "b.csv"))
    assert numbers(tmp_path / "b.csv", "csv") == numbers(source, "csv")
