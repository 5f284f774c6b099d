"""The library: frames of every kind, files of every format, type guessing, several inputs."""

import json

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import normcli
from normcli.io import CsvOptions


@pytest.fixture
def frame(rng):
    n = 1000
    return pl.DataFrame({
        "id": np.arange(n),
        "x": np.round(rng.normal(10, 3, n), 3),
        "label": rng.choice(["a", "b"], n),
    })


@pytest.mark.parametrize("kind", ["polars", "pandas", "arrow"])
def test_frames_come_back_as_the_same_kind(frame, kind):
    data = {"polars": frame, "pandas": frame.to_pandas(), "arrow": frame.to_arrow()}[kind]
    sidecar = normcli.fit(data, method="minmax")
    scaled = normcli.apply(data, sidecar)
    back = normcli.invert(scaled, sidecar)
    assert type(scaled) is type(data) and type(back) is type(data)
    assert pl.from_arrow(pa.Table.from_pandas(back) if kind == "pandas" else back).equals(frame) if kind != "polars" \
        else back.equals(frame)


def test_fit_over_chunks_equals_fit_over_whole(frame):
    whole = normcli.fit(frame)
    parts = normcli.fit([frame[:300], frame[300:650], frame[650:]])
    for a, b in zip(whole.columns, parts.columns):
        assert a.count == b.count
        for key in a.parameters:
            assert b.parameters[key] == pytest.approx(a.parameters[key], rel=1e-14)


def test_fit_over_several_files_equals_fit_over_one(frame, tmp_path):
    frame.write_csv(tmp_path / "all.csv")
    frame[:400].write_csv(tmp_path / "a.csv")
    frame[400:].write_parquet(tmp_path / "b.parquet")
    one = normcli.fit(str(tmp_path / "all.csv"), columns=["x"])
    two = normcli.fit([str(tmp_path / "a.csv"), str(tmp_path / "b.parquet")], columns=["x"])
    assert two["x"].parameters["mean"] == pytest.approx(one["x"].parameters["mean"], rel=1e-15)
    assert two["x"].parameters["scale"] == pytest.approx(one["x"].parameters["scale"], rel=1e-14)


def test_type_guessing_reads_the_whole_file(tmp_path):
    path = tmp_path / "late.csv"
    path.write_text("v,w\n" + "1,a\n" * 20_000 + "0.5,b\n")
    sidecar = normcli.fit(str(path))
    assert sidecar.names == ["v"]
    assert sidecar["v"].dtype == "double"
    path.write_text("v,w\n" + "1,2\n" * 20_000 + "3,x\n")
    assert normcli.fit(str(path)).names == ["v"]  # w turns out to be text at the last row


def test_integers_come_back_as_integers(tmp_path):
    src = tmp_path / "i.csv"
    src.write_text("n,m\n1,-7\n,3\n12,NA\n9007199254740000,0\n")
    sidecar = normcli.fit(str(src))
    assert [sidecar[c].dtype for c in "nm"] == ["int64", "int64"]
    normcli.apply(str(src), sidecar, str(tmp_path / "s.csv"))
    normcli.invert(str(tmp_path / "s.csv"), sidecar, str(tmp_path / "b.csv"))
    assert (tmp_path / "b.csv").read_text() == "n,m\n1,-7\n,3\n12,\n9007199254740000,0\n"


def test_unpicked_columns_pass_through_as_text(tmp_path):
    src = tmp_path / "t.csv"
    src.write_text('code,x,note\n007,1.5,"a, b"\n0x1F,2.5,""\n,3.5,NA\n')
    sidecar = normcli.fit(str(src), columns=["x"])
    normcli.apply(str(src), sidecar, str(tmp_path / "o.csv"))
    lines = (tmp_path / "o.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == ["code", "007", "0x1F", ""]
    assert lines[1].endswith(',"a, b"') and lines[2].endswith(',""') and lines[3].endswith(",NA")


def test_tsv_and_custom_null_values(tmp_path):
    src = tmp_path / "d.tsv"
    src.write_text("a\tb\n1\t-\n3\t4\n")
    csv = CsvOptions(null_values=("-",))
    sidecar = normcli.fit(str(src), csv=csv)
    assert sidecar["b"].count == 1 and sidecar["b"].nulls == 1
    normcli.apply(str(src), sidecar, str(tmp_path / "o.tsv"), csv=CsvOptions(null_values=("-",), na_rep="NA"))
    assert (tmp_path / "o.tsv").read_text() == "a\tb\n-1.0\tNA\n1.0\t0.0\n"


def test_parquet_types_and_metadata_come_back(tmp_path):
    table = pa.table({
        "i32": pa.array([1, 2, None, 4], pa.int32()),
        "f32": pa.array([1.5, 2.5, 3.5, None], pa.float32()),
        "u8": pa.array([0, 255, 7, 8], pa.uint8()),
        "cat": pa.array(["a", "b", "a", "b"]).dictionary_encode(),
        "ts": pa.array([0, 1, 2, 3], pa.timestamp("ms")),
        "dec": pa.array([1, 2, 3, 4], pa.decimal128(10, 2)),
    })
    table = table.cast(pa.schema([f.with_nullable(f.name != "u8") for f in table.schema]))
    table = table.replace_schema_metadata({"owner": "lab"})
    pq.write_table(table, tmp_path / "in.parquet")
    sidecar = normcli.fit(str(tmp_path / "in.parquet"))
    assert sidecar.names == ["i32", "f32", "u8"]
    assert not sidecar["u8"].nullable
    normcli.apply(str(tmp_path / "in.parquet"), sidecar, str(tmp_path / "s.parquet"))
    scaled = pq.read_table(tmp_path / "s.parquet")
    assert scaled.schema.field("i32").type == pa.float64()
    normcli.invert(str(tmp_path / "s.parquet"), None, str(tmp_path / "b.parquet"))
    back = pq.read_table(tmp_path / "b.parquet")
    assert back.schema.equals(table.schema, check_metadata=True)
    assert back.equals(table)


def test_pandas_metadata_says_integer_only_after_invert(tmp_path):
    df = pd.DataFrame({"n": [1, 2, 3], "x": [0.5, 1.5, 2.5]})
    df.to_parquet(tmp_path / "p.parquet")
    sidecar = normcli.fit(str(tmp_path / "p.parquet"))
    normcli.apply(str(tmp_path / "p.parquet"), sidecar, str(tmp_path / "s.parquet"))
    assert pd.read_parquet(tmp_path / "s.parquet")["n"].dtype == np.float64
    normcli.invert(str(tmp_path / "s.parquet"), sidecar, str(tmp_path / "b.parquet"))
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "b.parquet"), df)


def test_infinite_value_is_refused_by_fit(tmp_path):
    src = tmp_path / "inf.csv"
    src.write_text("x\n1\n2\n-inf\n")
    with pytest.raises(normcli.DataError) as info:
        normcli.fit(str(src))
    assert str(info.value) == f"{src}: column 'x', row 3: infinite value; fit needs finite numbers: '-inf'"


def test_non_numeric_value_in_a_picked_column(tmp_path):
    src = tmp_path / "bad.csv"
    src.write_text("x,y\n1,2\n3,oops\n")
    with pytest.raises(normcli.DataError) as info:
        normcli.fit(str(src), columns=["y"])
    assert str(info.value) == f"{src}: column 'y', row 2: not a number: 'oops'"
    sidecar = normcli.fit(str(src), columns=["x"])
    src.write_text("x,y\n1,2\n3,4\nfive,6\n")
    with pytest.raises(normcli.DataError) as info:
        normcli.apply(str(src), sidecar, str(tmp_path / "o.csv"))
    assert str(info.value) == f"{src}: column 'x', row 3: not a number: 'five'"
    assert not (tmp_path / "o.csv").exists()


def test_arrow_output_carries_the_sidecar(frame):
    table = frame.to_arrow()
    scaled = normcli.apply(table, normcli.fit(table))
    assert normcli.invert(scaled).equals(table)
    with pytest.raises(normcli.SidecarError, match="no sidecar given"):
        normcli.invert(pl.from_arrow(scaled))  # polars keeps no schema metadata


@pytest.mark.parametrize("output", ["out.parquet", "out.csv"])
def test_sidecar_column_missing_from_a_parquet_input(tmp_path, output):
    pl.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}).write_parquet(tmp_path / "ab.parquet")
    pl.DataFrame({"a": [1.0, 2.0]}).write_parquet(tmp_path / "a.parquet")
    sidecar = normcli.fit(str(tmp_path / "ab.parquet"))
    with pytest.raises(normcli.DataError, match="column 'b': column from the sidecar is not in the input"):
        normcli.apply(str(tmp_path / "a.parquet"), sidecar, str(tmp_path / output))
    assert not (tmp_path / output).exists()


@pytest.mark.parametrize("source", ["frame", "csv", "parquet"])
def test_invert_rounds_a_value_of_more_than_15_digits_at_its_own_15(tmp_path, source):
    # The column has 2 decimal places; 123456789012345.67 has 17 significant digits, so invert
    # rounds it at 0 places (15 digits), value by value, and the others at 2.
    sidecar = normcli.fit(pl.DataFrame({"x": [0.25, 1.5, 2.75]}))
    assert sidecar["x"].decimals == 2
    scaled = normcli.apply(pl.DataFrame({"x": [123456789012345.67, 0.25, 1.1]}), sidecar)
    if source == "frame":
        back = normcli.invert(scaled, sidecar)
    else:
        path = tmp_path / f"scaled.{source}"
        scaled.write_csv(path) if source == "csv" else scaled.write_parquet(path)
        normcli.invert(str(path), sidecar, str(tmp_path / "back.parquet"))
        back = pl.read_parquet(tmp_path / "back.parquet")
    assert back["x"].to_list() == [123456789012346.0, 0.25, 1.1]


@pytest.mark.parametrize("scale", [5e-324, 1e-320])
def test_a_hand_made_scale_too_small_to_divide_by_is_refused_on_load(scale):
    # 1/scale overflows: apply would write infinities to CSV and refuse Parquet. Refused at once.
    fitted = json.loads(normcli.fit(pl.DataFrame({"x": [1.25, 2.5, 3.75]})).to_json())
    fitted["columns"][0]["parameters"].update(scale=scale, mean=1.2345678)
    with pytest.raises(normcli.SidecarError, match=r"column 'x': columns\[0\]: parameters whose map .* is not finite"):
        normcli.Sidecar.from_json(json.dumps(fitted))


@pytest.mark.parametrize("fast", [True, False])
def test_a_one_column_file_keeps_its_missing_rows(tmp_path, fast):
    # A missing value alone on its line is written "" (a blank line would be no record at all).
    from unittest import mock

    source = tmp_path / "one.csv"
    source.write_text("x\n1\nNA\n3\n")
    sidecar = normcli.fit(str(source))
    with mock.patch("normcli.core._fast_writer", wraps=normcli.core._fast_writer if fast else lambda *a: None):
        normcli.apply(str(source), sidecar, str(tmp_path / "s.csv"))
        normcli.invert(str(tmp_path / "s.csv"), sidecar, str(tmp_path / "b.csv"))
    assert (tmp_path / "s.csv").read_text() == 'x\n-1.0\n""\n1.0\n'
    assert (tmp_path / "b.csv").read_text() == 'x\n1\n""\n3\n'


@pytest.mark.parametrize("through", ["csv-csv", "csv-parquet", "frame"])
def test_invert_refuses_to_round_a_fraction_into_an_integer_column(tmp_path, through):
    # Fitted on integers, applied to 2.5: invert must not give back 2 without a word.
    sidecar = normcli.fit(pl.DataFrame({"x": [1, 2, 4]}))
    assert sidecar["x"].integer
    scaled = normcli.apply(pl.DataFrame({"x": [1.0, 2.5, 4.0]}), sidecar)
    # The value named is the one in the data, which inverts to 2.5.
    message = "column 'x', row 2: inverts to 2.5, not a whole number, but the column was fitted as int64: refit, or " \
              f"set its dtype to \"double\" in the sidecar: '{scaled['x'][1]!r}'"
    if through == "frame":
        with pytest.raises(normcli.DataError) as caught:
            normcli.invert(scaled, sidecar)
    else:
        source = tmp_path / "scaled.csv"
        scaled.write_csv(source)
        target = tmp_path / f"back.{through.split('-')[1]}"
        with pytest.raises(normcli.DataError) as caught:
            normcli.invert(str(source), sidecar, str(target))
        assert not target.exists()
    assert str(caught.value).endswith(message)
    # Whole numbers still come back as integers.
    back = normcli.invert(normcli.apply(pl.DataFrame({"x": [7, -3]}), sidecar), sidecar)
    assert back["x"].to_list() == [7, -3] and back["x"].dtype == pl.Int64


@pytest.mark.parametrize("writer", ["polars", "pyarrow"])
def test_invert_to_parquet_refuses_a_gap_in_a_column_fitted_as_not_nullable(tmp_path, writer):
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = tmp_path / "in.parquet"
    columns = {"x": pa.array([1.0, 2.0, 3.0])}
    if writer == "pyarrow":  # a dictionary column is written by pyarrow
        columns["tag"] = pa.array(["a", "b", "a"]).dictionary_encode()
    pq.write_table(pa.table(columns, schema=pa.schema([pa.field("x", pa.float64(), nullable=False),
                                                       *([pa.field("tag", columns["tag"].type)] if "tag" in columns
                                                         else [])])), source)
    sidecar = normcli.fit(str(source))
    assert not sidecar["x"].nullable
    scaled = tmp_path / "scaled.parquet"
    gap = {"x": [0.5, None, 0.25]} | ({"tag": pa.array(["a", "b", "b"]).dictionary_encode()} if "tag" in columns else {})
    pq.write_table(pa.table(gap), scaled)
    target = tmp_path / "back.parquet"
    with pytest.raises(normcli.DataError, match=r"scaled.parquet: column 'x', row 2: missing, but the column was "
                                                r"fitted as not nullable"):
        normcli.invert(str(scaled), sidecar, str(target))
    assert not target.exists()
    normcli.invert(str(scaled), sidecar, str(tmp_path / "back.csv"))  # CSV has no such rule
    assert (tmp_path / "back.csv").read_text().splitlines()[2] == ('""' if writer == "polars" else ",b")


def _data_set(directory, frame: pl.DataFrame, cuts=(0, 300, 301, 700)) -> list[str]:
    """``frame`` cut into Parquet files part-0.parquet, ... (the first empty): their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    bounds = [*cuts, frame.height]
    paths = []
    for i, (start, end) in enumerate(zip(bounds, bounds[1:])):
        paths.append(str(directory / f"part-{i}.parquet"))
        frame[start:end].write_parquet(paths[-1])
    return paths


def test_fit_over_a_directory_or_a_glob_is_fit_over_its_files(frame, tmp_path):
    from sklearn.preprocessing import StandardScaler

    paths = _data_set(tmp_path / "ds", frame)
    files = normcli.fit(paths)
    for source in (tmp_path / "ds", f"{tmp_path}/ds/part-*.parquet"):
        assert normcli.fit(str(source)).to_json() == files.to_json()
    oracle = StandardScaler().fit(frame.select("id", "x").to_numpy().astype(float))
    assert [files[n].parameters["mean"] for n in ("id", "x")] == pytest.approx(oracle.mean_, rel=1e-12)
    assert [files[n].parameters["scale"] for n in ("id", "x")] == pytest.approx(oracle.scale_, rel=1e-12)


def test_a_data_set_of_integer_and_float_files_is_fitted_as_floats(tmp_path):
    directory = tmp_path / "ds"
    directory.mkdir()
    pl.DataFrame({"x": [1, 2]}).write_parquet(directory / "a.parquet")
    pl.DataFrame({"x": [3.5]}).write_parquet(directory / "b.parquet")
    sidecar = normcli.fit(str(directory))
    assert sidecar["x"].dtype == "double" and sidecar["x"].count == 3
    assert sidecar["x"].parameters["mean"] == pytest.approx(6.5 / 3, rel=1e-15)


def test_hive_partitions_are_columns_of_the_data_set(frame, tmp_path):
    _data_set(tmp_path / "ds" / "year=2023", frame[:500])
    _data_set(tmp_path / "ds" / "year=2024", frame[500:], cuts=(0, 200))
    with_years = frame.with_columns(year=pl.Series([2023] * 500 + [2024] * 500, dtype=pl.Int32))
    sidecar = normcli.fit(str(tmp_path / "ds"), exclude=["year"])
    assert sidecar.to_json() == normcli.fit(frame).to_json()
    assert normcli.fit(str(tmp_path / "ds"))["year"].parameters["mean"] == 2023.5  # numeric, so scaled by default
    normcli.apply(str(tmp_path / "ds"), sidecar, str(tmp_path / "scaled.parquet"))
    normcli.invert(str(tmp_path / "scaled.parquet"), output=str(tmp_path / "back.parquet"))
    assert pl.read_parquet(tmp_path / "back.parquet").equals(with_years)


def test_an_error_in_a_data_set_names_the_file_and_its_row(tmp_path):
    directory = tmp_path / "ds"
    directory.mkdir()
    pl.DataFrame({"x": [1.0, 2.0]}).write_parquet(directory / "a.parquet")
    pl.DataFrame({"x": [3.0, float("inf")]}).write_parquet(directory / "b.parquet")
    with pytest.raises(normcli.DataError) as info:
        normcli.fit(str(directory))
    assert str(info.value) == f"{directory}/b.parquet: column 'x', row 2: infinite value; fit needs finite numbers: 'inf'"
    # apply and invert too: fitted on integers, a scaled value that is not the image of one.
    sidecar = normcli.fit(pl.DataFrame({"x": [1, 2, 4]}))
    normcli.apply(pl.DataFrame({"x": [1.0]}), sidecar).write_parquet(directory / "a.parquet")
    normcli.apply(pl.DataFrame({"x": [2.0, 2.5]}), sidecar).write_parquet(directory / "b.parquet")
    with pytest.raises(normcli.DataError) as info:
        normcli.invert(str(directory), sidecar, str(tmp_path / "back.csv"))
    assert str(info.value).startswith(f"{directory}/b.parquet: column 'x', row 2: inverts to 2.5, not a whole number")
    assert not (tmp_path / "back.csv").exists()
    # A gap that Parquet cannot hold, in a column fitted as not nullable.
    import pyarrow as pa

    strict = normcli.fit(pa.table({"x": [1, 2, 4]}, schema=pa.schema([pa.field("x", pa.int64(), nullable=False)])))
    assert not strict["x"].nullable
    normcli.apply(pl.DataFrame({"x": [2.0, None]}), strict).write_parquet(directory / "b.parquet")
    with pytest.raises(normcli.DataError) as info:
        normcli.invert(str(directory), strict, str(tmp_path / "back.parquet"))
    assert str(info.value).startswith(f"{directory}/b.parquet: column 'x', row 2: missing, but the column was fitted")
    assert not (tmp_path / "back.parquet").exists()


def test_a_column_both_picked_and_excluded_is_a_usage_error(frame):
    with pytest.raises(normcli.UsageError, match=r"column 'x': both picked \(-c\) and left out \(-x\)"):
        normcli.fit(frame, columns=["x"], exclude=["x"])


def test_a_pandas_frame_comes_back_with_its_index_labels_and_nullable_integers():
    import pandas as pd

    frame = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, np.nan, 1.0],
                          "id": pd.array([1, None, 3], dtype="Int64"), "keep": pd.array([5, None, 6], dtype="UInt8")},
                         index=[10, 20, 30])
    sidecar = normcli.fit(frame, exclude=["keep"])
    scaled = normcli.apply(frame, sidecar)
    assert list(scaled.index) == [10, 20, 30]
    assert scaled["keep"].dtype == pd.UInt8Dtype()  # passed through, gaps and all
    back = normcli.invert(scaled, sidecar)
    pd.testing.assert_frame_equal(back, frame)
    labelled = pd.DataFrame({0: [1.0, 2.0, 3.0], 1: [4.0, 5.0, 7.0]})  # labels that are not text
    assert list(normcli.apply(labelled, normcli.fit(labelled)).columns) == [0, 1]


def test_a_pandas_frame_with_a_duplicate_column_name_is_a_data_error():
    import pandas as pd

    with pytest.raises(normcli.DataError, match=r"<data>: column 'a': duplicate column name"):
        normcli.fit(pd.DataFrame([[1.0, 2.0]], columns=["a", "a"]))


def _integer_sources(tmp_path, name: str, values: list[str]) -> dict:
    """One column of integers as a plain CSV file, a CSV file only the careful reader takes (a
    quoted header), a Parquet file and a polars frame (Parquet and frame: int64, or uint64 above it)."""
    plain, quoted = tmp_path / f"{name}.csv", tmp_path / f"{name}_quoted.csv"
    plain.write_text("n\n" + "\n".join(values) + "\n")
    quoted.write_text('"n"\n' + "\n".join(values) + "\n")
    numbers = [int(v) for v in values]
    dtype = pl.Int64 if max(numbers) < 2**63 else pl.UInt64
    frame = pl.DataFrame({"n": numbers}, schema={"n": dtype})
    frame.write_parquet(tmp_path / f"{name}.parquet")
    return {"plain csv": plain, "careful csv": quoted, "parquet": tmp_path / f"{name}.parquet", "frame": frame}


# The second value is one invert could not give back: a 16th significant digit, an integer that
# float64 reads as another (2**53 + 1, and 99999999999999601 read as ...600), or one of 15
# significant digits that is not a float64 (99999999999999900 is read as ...904).
LONG_INTEGERS = ["4000000000000001", "-9007199254740993", "99999999999999601", "99999999999999900",
                 "1152921504606846977"]


@pytest.mark.parametrize("long", LONG_INTEGERS)
@pytest.mark.parametrize("source", ["plain csv", "careful csv", "parquet", "frame"])
def test_fit_refuses_an_integer_column_it_could_not_give_back(tmp_path, long, source):
    data = _integer_sources(tmp_path, "long", ["12", long, "7"])[source]
    with pytest.raises(normcli.DataError) as caught:
        normcli.fit(data)
    error = caught.value
    assert (error.column, error.row, error.value) == ("n", 2, long)
    assert "leave the column out of the fit (-x)" in str(error)


@pytest.mark.parametrize("long", LONG_INTEGERS)
@pytest.mark.parametrize("source", ["plain csv", "careful csv", "parquet", "frame"])
def test_apply_refuses_an_integer_it_could_not_give_back(tmp_path, long, source):
    sidecar = normcli.fit(pl.DataFrame({"n": [1, 5, 9]}))
    data = _integer_sources(tmp_path, "long", ["12", long, "7"])[source]
    with pytest.raises(normcli.DataError) as caught:
        normcli.apply(data, sidecar, None if source == "frame" else tmp_path / "out.csv")
    assert (caught.value.column, caught.value.row, caught.value.value) == ("n", 2, long)
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("method", ["zscore", "minmax", "maxabs", "robust", "decimal"])
@pytest.mark.parametrize("source", ["plain csv", "careful csv", "parquet", "frame"])
@pytest.mark.parametrize("values", [
    ["-999999999999999", "999999999999999", "4000000000000000", "7"],  # 15 digits, and a 16th that is 0
    ["99999999999999600", "12345678901234500", "-50000000000000000"],  # beyond 2**53, on a grid of 100
    ["9200000000000000000", "1000000000000000000", "-3000000000000000000"],
])
def test_integers_of_15_significant_digits_in_float64_come_back_at_any_size(tmp_path, method, source, values):
    data = _integer_sources(tmp_path, "ints", values)[source]
    sidecar = normcli.fit(data, method=method)
    if source == "frame":
        assert normcli.invert(normcli.apply(data, sidecar), sidecar).equals(data)
        return
    out_format = "csv" if source.endswith("csv") else "parquet"
    normcli.apply(data, sidecar, tmp_path / f"scaled.{out_format}")
    normcli.invert(tmp_path / f"scaled.{out_format}", sidecar, tmp_path / f"back.{out_format}")
    back = pl.read_csv(tmp_path / "back.csv") if out_format == "csv" else pl.read_parquet(tmp_path / "back.parquet")
    assert back["n"].to_list() == [int(v) for v in values]


@pytest.mark.parametrize("long", ["12345678901234567890", "-99999999999999999999", "+184467440737095516160"])
@pytest.mark.parametrize("row", [2, 20_000])  # in the lines polars' types are judged on, and far after them
@pytest.mark.parametrize("quoted", [False, True])
def test_fit_refuses_an_integer_beyond_int64_rather_than_reading_a_float_column(tmp_path, long, row, quoted):
    # Text beyond int64 is still an integer as written: a 20-digit identifier, not a float column.
    values = ["12,1"] * (row - 1) + [f"{long},2", "7,3"]  # a second column: polars reads the file
    path = tmp_path / "ids.csv"
    path.write_text(('"n"' if quoted else "n") + ",v\n" + "\n".join(values) + "\n")
    with pytest.raises(normcli.DataError) as caught:
        normcli.fit(path)
    assert (caught.value.column, caught.value.row, caught.value.value) == ("n", row, long)


@pytest.mark.parametrize("quoted", [False, True])
def test_integers_beyond_int64_of_15_digits_make_a_float_column_that_gives_them_back(tmp_path, quoted):
    # 36893489000000000000 is not a float64, but the float nearest it is written 3.6893489e+19.
    values = ["36893489000000000000", "-500000000000000000000", "4000000000000000000"]
    path = tmp_path / "big.csv"
    path.write_text(('"n"' if quoted else "n") + "\n" + "\n".join(values) + "\n")
    sidecar = normcli.fit(path, method="maxabs")
    assert sidecar.columns[0].dtype == "double"
    normcli.apply(path, sidecar, tmp_path / "scaled.csv")
    normcli.invert(tmp_path / "scaled.csv", sidecar, tmp_path / "back.csv")
    back = pl.read_csv(tmp_path / "back.csv", infer_schema=False)["n"].to_list()
    assert [float(v) for v in back] == [float(v) for v in values]
    # Still integers as written: small ones that apply would merge beside them are refused.
    path.write_text(path.read_text() + "1\n5\n")
    with pytest.raises(normcli.DataError, match="its integers differ in size too much"):
        normcli.fit(path)


@pytest.mark.parametrize("long", ["4000000000000001", "12345678901234567890"])
def test_a_long_integer_in_a_column_that_proves_to_be_float_is_a_float(tmp_path, long):
    # The column is float64 once 1.5 is read: the long integer is read as the float it is.
    path = tmp_path / "mixed.csv"
    path.write_text(f"n\n{long}\n1.5\n")
    assert normcli.fit(path).columns[0].dtype == "double"


def test_apply_leaves_a_float_in_a_column_fitted_as_integers_to_invert():
    # Not an integer as written, so not refused as a long one: apply scales it, and invert names it
    # if it cannot make it whole.
    sidecar = normcli.fit(pl.DataFrame({"n": [1, 5, 9]}))
    values = [1e15 + 0.5, 2e16]
    scaled = normcli.apply(pl.DataFrame({"n": values}), sidecar)
    p = sidecar.columns[0].parameters
    assert scaled["n"].to_list() == [(v - p["mean"]) / p["scale"] for v in values]


def test_a_polars_frame_keeps_every_column_it_does_not_scale_as_it_was():
    frame = pl.DataFrame({"": [1.0, 2.0, 4.0], "o": pl.Series([object(), object(), object()], dtype=pl.Object),
                          "big": pl.Series([1, 2, 3], dtype=pl.Int128)})
    sidecar = normcli.fit(frame)
    assert sidecar.names == [""]  # Object and Int128 are not columns Arrow can hold: left alone
    scaled = normcli.apply(frame, sidecar)
    assert scaled.columns == ["", "o", "big"] and scaled.schema["o"] == pl.Object
    assert scaled["o"].to_list() == frame["o"].to_list() and scaled["big"].equals(frame["big"])
    back = normcli.invert(scaled, sidecar)
    assert back[""].equals(frame[""]) and back["o"].to_list() == frame["o"].to_list()


def test_a_pandas_frame_keeps_its_dtypes_nullable_in_nullable_out():
    import pandas as pd

    frame = pd.DataFrame({"a": [1, 2, 3], "s": pd.array(["x", None, "z"], dtype="string"),
                          "f": pd.array([1.5, None, 3.0], dtype="Float64"),
                          "p": pd.array([1, None, 3], dtype="int64[pyarrow]"), "m": ["x", 1, 2.5]})
    sidecar = normcli.fit(frame, columns=["a", "f", "p"])
    scaled = normcli.apply(frame, sidecar)
    assert scaled["s"].dtype == frame["s"].dtype and scaled["s"].isna().tolist() == [False, True, False]
    assert scaled["m"].tolist() == ["x", 1, 2.5]  # mixed objects pass through, though Arrow cannot hold them
    assert scaled["f"].dtype == pd.Float64Dtype() and scaled["p"].dtype == pd.ArrowDtype(pa.float64())
    pd.testing.assert_frame_equal(normcli.invert(scaled, sidecar), frame)


@pytest.mark.parametrize("data", [pd.Series([1.0, 2.0]), np.array([[1.0], [2.0]]), pl.LazyFrame({"a": [1.0]}),
                                  [[1.0, 2.0]]], ids=["series", "ndarray", "lazyframe", "list of lists"])
def test_data_that_is_not_a_table_or_a_path_is_a_usage_error(data):
    with pytest.raises(normcli.UsageError, match="data must be a path, a pandas or polars DataFrame or a pyarrow "
                                                 "Table, not "):
        normcli.fit(data)
    with pytest.raises(normcli.UsageError):
        normcli.apply(data, normcli.fit(pl.DataFrame({"a": [1.0, 2.0]})))


def test_a_pandas_index_stored_in_parquet_is_not_scaled_unless_picked(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"a": [1.5, 2.5, 4.0]}, index=pd.Index([10, 20, 30], name="id"))
    frame.to_parquet(tmp_path / "d.parquet")
    assert normcli.fit(tmp_path / "d.parquet").names == normcli.fit(frame).names == ["a"]
    assert normcli.fit(tmp_path / "d.parquet", columns=["id", "a"]).names == ["id", "a"]
    normcli.apply(tmp_path / "d.parquet", normcli.fit(tmp_path / "d.parquet"), tmp_path / "s.parquet")
    assert pq.read_table(tmp_path / "s.parquet")["id"].to_pylist() == [10, 20, 30]


@pytest.mark.parametrize("method", ["zscore", "minmax", "maxabs", "robust", "decimal"])
def test_integers_that_apply_would_merge_are_refused_by_fit(tmp_path, method):
    # Beside 99999999999999600, zscore's floats near the small values stand for steps of about 4:
    # 1, 2, 3 and 7 came back as 0, 4, 4 and 8. The methods that keep small values near 0 keep them.
    frame = pl.DataFrame({"n": [1, 2, 3, 7, 99999999999999600]})
    if method == "zscore":
        with pytest.raises(normcli.DataError, match="column 'n': its integers differ in size too much to come back"):
            normcli.fit(frame, method=method)
        return
    sidecar = normcli.fit(frame, method=method)
    assert normcli.invert(normcli.apply(frame, sidecar), sidecar).equals(frame)


def test_a_feature_range_that_overflows_or_vanishes_is_refused_by_fit():
    frame = pl.DataFrame({"x": [1.0, 2.0, 10.0]})
    with pytest.raises(normcli.DataError, match="scales this column's extremes beyond float64"):
        normcli.fit(frame, method="minmax", feature_range=(0.0, 1.7976931348623157e308))
    with pytest.raises(normcli.DataError, match="apply would refuse: parameter 'scale' must be greater than 0"):
        normcli.fit(frame, method="minmax", feature_range=(5e-324, 1e-323))


def test_a_pandas_column_of_integers_beyond_int64_passes_through():
    import pandas as pd

    frame = pd.DataFrame({"a": [1.0, 2.0, 4.0], "big": [2**64, 1, 2]})  # object: Arrow has no type for it
    sidecar = normcli.fit(frame)
    assert sidecar.names == ["a"]
    assert normcli.apply(frame, sidecar)["big"].tolist() == [2**64, 1, 2]


def test_library_arguments_the_command_line_would_refuse_are_usage_errors(tmp_path):
    frame = pl.DataFrame({"a": [1.0, 2.0, 4.0]})
    sidecar = normcli.fit(frame)
    # A frame comes back as a frame: an output path would be silently ignored.
    with pytest.raises(normcli.UsageError, match="output is for data read from a path"):
        normcli.apply(frame, sidecar, tmp_path / "scaled.csv")
    with pytest.raises(normcli.UsageError, match="output is for data read from a path"):
        normcli.invert(frame, sidecar, tmp_path / "back.csv")
    assert list(tmp_path.iterdir()) == []
    frame.write_csv(tmp_path / "a.csv")
    for fmt in ["PARQUET", "xlsx", "parquet "]:
        with pytest.raises(normcli.UsageError, match=f"unknown format '{fmt}' \\(one of csv, tsv, parquet\\)"):
            normcli.apply(tmp_path / "a.csv", sidecar, tmp_path / "out.bin", output_format=fmt)
        with pytest.raises(normcli.UsageError, match=f"unknown format '{fmt}'"):
            normcli.fit(tmp_path / "a.csv", input_format=fmt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]
    # pathlib reads "" as ".": the working directory would be fitted as a data set.
    for function in (normcli.fit, lambda data: normcli.apply(data, sidecar)):
        with pytest.raises(normcli.UsageError, match="an empty path names no file"):
            function("")


def test_pandas_labels_that_are_not_text_can_be_picked_and_left_out():
    import pandas as pd

    frame = pd.DataFrame({0: [1.0, 2.0, 4.0], 1: [3.0, 5.0, 9.0]})
    assert normcli.fit(frame, columns=[0]).names == ["0"]
    assert normcli.fit(frame, exclude=[1]).names == ["0"]
    assert normcli.fit(frame, columns=["0"]).names == ["0"]
    assert normcli.fit(frame, columns=0).names == normcli.fit(frame, exclude=1).names == ["0"]


def test_a_frame_column_arrow_cannot_hold_is_named_by_its_own_type_when_picked():
    import pandas as pd

    int128 = pl.DataFrame({"id": pl.Series([1, 2, 3], dtype=pl.Int128), "v": [1.0, 2.0, 4.0]})
    mixed = pd.DataFrame({"m": ["x", 1, 2.5], "v": [1.0, 2.0, 3.0]})
    objects = pl.DataFrame({"o": pl.Series([object(), 1, "a"], dtype=pl.Object), "v": [1.0, 2.0, 3.0]})
    for frame, name, shown in [(int128, "id", "Int128"), (mixed, "m", "object"), (objects, "o", "Object")]:
        with pytest.raises(normcli.DataError, match=f"column '{name}': not a numeric column \\(type {shown}\\)$"):
            normcli.fit(frame, columns=[name])
        assert normcli.fit(frame).names == ["v"]
