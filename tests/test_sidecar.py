"""The sidecar: determinism, strict JSON, schema and semantic validation on load."""

import json

import polars as pl
import pytest

import normcli
from normcli.sidecar import FORMAT_VERSION, MAX_BYTES, Sidecar


@pytest.fixture
def sidecar():
    frame = pl.DataFrame({"a": [1.5, 2.25, None, 4.0], "n": [1, 2, 3, 4], "s": ["x", "y", "z", "w"]})
    return normcli.fit(frame)


def test_round_trips_through_json(sidecar, tmp_path):
    path = tmp_path / "p.normcli.json"
    sidecar.save(path)
    loaded = Sidecar.load(path)
    assert loaded == sidecar
    assert loaded.to_json() == path.read_text()


def test_same_input_gives_byte_identical_sidecar(tmp_path, rng):
    frame = pl.DataFrame({"x": rng.normal(size=200_000), "y": rng.integers(0, 9, 200_000)})
    frame.write_csv(tmp_path / "d.csv")
    texts = {normcli.fit(str(tmp_path / "d.csv"), method=m).to_json() for m in ["zscore"] * 3}
    assert len(texts) == 1


def test_document_layout(sidecar):
    document = json.loads(sidecar.to_json())
    assert list(document) == ["format_version", "normcli_version", "columns"]
    assert document["format_version"] == FORMAT_VERSION
    column = document["columns"][0]
    assert list(column) == ["name", "method", "options", "dtype", "nullable", "count", "nulls", "decimals",
                            "statistics", "parameters", "affine"]
    assert column["name"] == "a" and column["count"] == 3 and column["nulls"] == 1 and column["decimals"] == 2
    assert document["columns"][1]["dtype"] == "int64"
    assert "NaN" not in sidecar.to_json() and "Infinity" not in sidecar.to_json()


def edited(sidecar, change):
    document = json.loads(sidecar.to_json())
    change(document)
    return json.dumps(document)


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda d: d["columns"][0]["parameters"].update(scale="2"), r"parameters\.scale: '2' is not of type 'number'"),
        (lambda d: d["columns"][0]["statistics"].update(std=-1.0), "statistic 'std' must not be negative"),
        (lambda d: d["columns"][0]["parameters"].update(scale=-1.0), "parameter 'scale' must be greater than 0"),
        (lambda d: d["columns"][0].pop("parameters"), "'parameters' is a required property"),
        (lambda d: d["columns"][0]["parameters"].pop("mean"), "parameter 'mean' is missing"),
        (lambda d: d.update(format_version=2), "format version 2 is newer"),
        (lambda d: d["columns"][0].update(method="softmax"), "unknown method"),
        (lambda d: d["columns"][0].update(dtype="string"), "dtype 'string' is not a numeric Arrow type"),
        (lambda d: d.update(columns=[]), "should be non-empty"),
        # An integer beyond float64 (Python's json reads it exactly; no float can hold it).
        (lambda d: d["columns"][0]["parameters"].update(scale=10**400), "parameter 'scale' must be a finite number"),
        (lambda d: d["columns"][0]["parameters"].update(mean=-(10**400)), "parameter 'mean' must be a finite number"),
        (lambda d: d["columns"][0].update(count=10**400), r"count: inf is not of type 'integer'"),
    ],
)
def test_bad_sidecars_are_refused_with_the_reason(sidecar, change, message):
    with pytest.raises(normcli.SidecarError, match=message):
        Sidecar.from_json(edited(sidecar, change), source="p.json")


def test_extra_fields_are_accepted(sidecar):
    text = edited(sidecar, lambda d: (d.update(comment="made by hand"), d["columns"][0].update(note="x")))
    assert Sidecar.from_json(text) == sidecar


def test_integers_written_as_3_0_are_integers_as_json_schema_has_it(sidecar):
    # Another program's JSON writer may give every number a fraction.
    text = edited(sidecar, lambda d: (d.update(format_version=1.0), d["columns"][0].update(
        count=float(d["columns"][0]["count"]), nulls=float(d["columns"][0]["nulls"]))))
    assert '"format_version": 1.0' in text
    loaded = Sidecar.from_json(text)
    assert loaded == sidecar
    assert loaded.to_json() == sidecar.to_json()


def test_a_statistic_beyond_float64_is_refused(sidecar):
    # 1e400 is read as infinity, which no statistic may be.
    std = f'"std": {sidecar.columns[0].statistics["std"]!r}'
    assert std in sidecar.to_json()
    with pytest.raises(normcli.SidecarError, match=r"p.json: column 'a': columns\[0\]: statistic 'std' must be a finite"):
        Sidecar.from_json(sidecar.to_json().replace(std, '"std": 1e400'), source="p.json")


def test_nan_and_corrupt_json_are_refused(sidecar):
    with pytest.raises(normcli.SidecarError, match="NaN is not allowed"):
        Sidecar.from_json(sidecar.to_json().replace('"mean": 2.5833333333333335', '"mean": NaN'))
    with pytest.raises(normcli.SidecarError, match="corrupt JSON"):
        Sidecar.from_json(sidecar.to_json()[:-20])


def test_size_cap(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as handle:
        handle.truncate(MAX_BYTES + 1)
    with pytest.raises(normcli.SidecarError, match="more than the"):
        Sidecar.load(path)


def test_missing_file():
    with pytest.raises(normcli.SidecarError, match="sidecar not found"):
        Sidecar.load("/nonexistent/p.json")


def mutations(document):
    """Documents that differ from a valid one in one place each."""
    yield document
    for path, value in [
        (("format_version",), "1"), (("format_version",), 1.5), (("format_version",), 0), (("columns",), {}),
        (("columns",), []), (("normcli_version",), 1), (("columns", 0, "count"), 0), (("columns", 0, "count"), True),
        (("columns", 0, "nulls"), -1), (("columns", 0, "decimals"), 18), (("columns", 0, "decimals"), None),
        (("columns", 0, "decimals"), "2"), (("columns", 0, "nullable"), 1), (("columns", 0, "statistics"), []),
        (("columns", 0, "parameters", "mean"), None), (("columns", 0, "affine", "offset"), "0"),
        (("columns", 0, "options"), []), (("columns", 0, "name"), None), (("columns", 0, "extra"), 1),
        (("format_version",), 1.0), (("columns", 0, "count"), 12.0), (("columns", 0, "decimals"), 2.0),
        (("columns", 0, "nulls"), 0.5),
    ]:
        changed = json.loads(json.dumps(document))
        target = changed
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        yield changed
    for key in ["name", "method", "affine", "dtype"]:
        changed = json.loads(json.dumps(document))
        del changed["columns"][0][key]
        yield changed


def test_own_schema_validator_agrees_with_jsonschema(sidecar):
    import jsonschema

    from normcli.sidecar import schema, schema_errors

    reference = jsonschema.Draft202012Validator(schema())
    for document in mutations(json.loads(sidecar.to_json())):
        ours = [message for _, message in schema_errors(document)]
        theirs = [error.message for error in reference.iter_errors(document)]
        assert sorted(ours) == sorted(theirs), document
