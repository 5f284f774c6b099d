"""The sidecar: a JSON document with the fitted parameters of every scaled column.

It is data only (never executed or unpickled), strict JSON (no NaN or Infinity), written with a
stable key order and round-trip floats, so the same fit gives the same bytes. It is validated
against ``sidecar.schema.json`` (shipped in the package) and each method's own rules on load.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path

from . import __version__
from .errors import SidecarError

FORMAT_VERSION = 1
# A sidecar is a few hundred bytes a column; anything near this is not one.
MAX_BYTES = 32 * 1024 * 1024
INTEGER_DTYPES = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"})


@dataclass(frozen=True)
class ColumnParams:
    """The fitted scaling of one column."""

    name: str
    method: str
    options: dict
    dtype: str
    nullable: bool
    count: int
    nulls: int
    decimals: int | None
    statistics: dict
    parameters: dict

    @cached_property
    def scaler(self):
        """The method object that applies and inverts these parameters (made once per column)."""
        from .methods import make_method

        return make_method(self.method, self.options)

    @property
    def integer(self) -> bool:
        return self.dtype in INTEGER_DTYPES

    @property
    def affine(self) -> tuple[float, float]:
        return self.scaler.affine(self.parameters)

    def to_dict(self) -> dict:
        scale, offset = self.affine
        return {
            "name": self.name,
            "method": self.method,
            "options": self.options,
            "dtype": self.dtype,
            "nullable": self.nullable,
            "count": self.count,
            "nulls": self.nulls,
            "decimals": self.decimals,
            "statistics": self.statistics,
            "parameters": self.parameters,
            "affine": {"scale": scale, "offset": offset},
        }


class _DuplicateKey(ValueError):
    """A key given twice in one JSON object of a sidecar."""


@dataclass(frozen=True)
class Sidecar:
    """Fitted parameters for a set of columns, in the order they were fitted."""

    columns: tuple[ColumnParams, ...]
    source: str | None = field(default=None, compare=False)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def __getitem__(self, name: str) -> ColumnParams:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "normcli_version": __version__,
            "columns": [c.to_dict() for c in self.columns],
        }

    def to_json(self) -> str:
        """The document as text: two-space indent, fixed key order, newline at the end."""
        try:
            return json.dumps(self.to_dict(), indent=2, allow_nan=False, ensure_ascii=False) + "\n"
        except ValueError:
            bad = next(
                c.name
                for c in self.columns
                if not all(math.isfinite(v) for v in [*c.statistics.values(), *c.parameters.values(), *c.affine])
            )
            raise SidecarError("a fitted statistic is not finite; the column cannot be scaled", column=bad) from None

    def save(self, path) -> None:
        """Write the sidecar to ``path`` atomically (``-`` for stdout)."""
        from .io import write_text

        write_text(path, self.to_json())

    @classmethod
    def load(cls, path) -> "Sidecar":
        """Read and validate a sidecar file (``-``: standard input)."""
        stdin = str(path) == "-"
        name = "<stdin>" if stdin else str(path)
        path = Path(path)
        try:
            if stdin:
                from .io import open_stdin

                if sys.stdin is None:
                    raise SidecarError("cannot read: standard input is closed", file=name)
                data = open_stdin().read(MAX_BYTES + 1)
            else:
                size = path.stat().st_size
                if size > MAX_BYTES:
                    raise SidecarError(f"sidecar is {size} bytes, more than the {MAX_BYTES} a sidecar may have",
                                       file=name)
                with path.open("rb") as handle:
                    data = handle.read(MAX_BYTES + 1)
            # A pipe or a device has no size to check first.
            if len(data) > MAX_BYTES:
                raise SidecarError(f"sidecar is more than the {MAX_BYTES} bytes a sidecar may have", file=name)
            # A byte order mark, as some editors write one, is no part of the JSON (RFC 8259 lets
            # a reader skip it).
            text = data.decode("utf-8").removeprefix("\ufeff")
        except SidecarError:
            raise
        except FileNotFoundError:
            raise SidecarError("sidecar not found", file=name) from None
        except IsADirectoryError:
            raise SidecarError("sidecar is a directory", file=name) from None
        except UnicodeDecodeError:
            raise SidecarError("sidecar is not UTF-8 text", file=name) from None
        except OSError as exc:
            raise SidecarError(f"cannot read sidecar: {exc.strerror or exc}", file=name) from None
        return cls.from_json(text, source=name)

    @classmethod
    def from_json(cls, text: str, source: str = "<sidecar>") -> "Sidecar":
        """Parse and validate sidecar text; every problem is a SidecarError naming ``source``."""
        if len(text) > MAX_BYTES:
            raise SidecarError(f"sidecar is larger than {MAX_BYTES} bytes", file=source)

        def refuse_constant(name):
            raise ValueError(f"{name} is not allowed in a sidecar")

        def number(digits: str):
            # An integer beyond float64 is read as infinity, which the checks below refuse by name,
            # as they refuse 1e400.
            value = int(digits)
            return value if abs(value) <= _LARGEST_FLOAT else (math.inf if value > 0 else -math.inf)

        def unique(pairs):
            document = dict(pairs)
            if len(document) < len(pairs):
                seen = set()
                raise _DuplicateKey(next(key for key, _ in pairs if key in seen or seen.add(key)))
            return document

        try:
            document = json.loads(text, parse_constant=refuse_constant, parse_int=number, object_pairs_hook=unique)
        except _DuplicateKey as exc:
            # Valid JSON, but readers differ on which of the two counts: so no reader gets to choose.
            raise SidecarError(f"not a valid sidecar (the key '{exc.args[0]}' appears twice in one object)",
                               file=source) from None
        except (ValueError, RecursionError) as exc:
            raise SidecarError(f"not a valid sidecar (corrupt JSON: {exc})", file=source) from None
        return cls.from_dict(document, source=source)

    @classmethod
    def from_dict(cls, document, source: str = "<sidecar>") -> "Sidecar":
        version = document.get("format_version") if isinstance(document, dict) else None
        if _TYPES["integer"](version) and version > FORMAT_VERSION:
            raise SidecarError(
                f"sidecar format version {version} is newer than this normcli {__version__} reads "
                f"(up to {FORMAT_VERSION}); upgrade normcli",
                file=source,
            )
        _validate(document, source)
        columns = []
        seen = set()
        for index, entry in enumerate(document["columns"]):
            where = f"columns[{index}]"
            if entry["name"] in seen:
                raise SidecarError(f"{where}: column listed twice", file=source, column=entry["name"])
            seen.add(entry["name"])
            params = ColumnParams(
                name=entry["name"],
                method=entry["method"],
                options=entry["options"],
                dtype=entry["dtype"],
                nullable=entry["nullable"],
                # JSON Schema's integers include 3.0, as another program may write them.
                count=int(entry["count"]),
                nulls=int(entry["nulls"]),
                decimals=None if entry["decimals"] is None else int(entry["decimals"]),
                statistics=entry["statistics"],
                parameters=entry["parameters"],
            )
            try:
                scaler = params.scaler
            except Exception as exc:  # UsageError from an unknown method or bad options
                raise SidecarError(f"{where}: {getattr(exc, 'message', exc)}", file=source, column=params.name) from None
            problem = scaler.check(params.parameters)
            infinite = [key for key, value in params.statistics.items() if not math.isfinite(value)]
            if problem is None and infinite:
                problem = f"statistic '{infinite[0]}' must be a finite number"
            if problem is None and "std" in params.statistics and params.statistics["std"] < 0:
                problem = "statistic 'std' must not be negative"
            if problem is None and not _is_arrow_numeric(params.dtype):
                problem = f"dtype '{params.dtype}' is not a numeric Arrow type"
            if problem:
                raise SidecarError(f"{where}: {problem}", file=source, column=params.name)
            columns.append(params)
        return cls(tuple(columns), source=source)


_LARGEST_FLOAT = int(sys.float_info.max)


def _is_arrow_numeric(dtype: str) -> bool:
    return dtype in INTEGER_DTYPES or dtype in ("halffloat", "float", "double")


_SCHEMA = None
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    # As JSON Schema has it: a number with no fraction, 3.0 too.
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def schema() -> dict:
    """The JSON Schema of the sidecar, as shipped in the package."""
    global _SCHEMA
    if _SCHEMA is None:
        _SCHEMA = json.loads(resources.files("normcli").joinpath("sidecar.schema.json").read_text())
    return _SCHEMA


def schema_errors(instance, node: dict | None = None, path: tuple = ()):
    """Yield (path, message) for each way ``instance`` breaks the schema.

    A small validator for the keywords the sidecar schema uses (type, const, required, properties,
    additionalProperties, items, minItems, minimum, maximum, $ref), with jsonschema's wording; the
    tests check it against jsonschema itself. It keeps a 0.15 s import off every apply and invert.
    """
    root = schema()
    node = root if node is None else node
    if "$ref" in node:
        node = root["$defs"][node["$ref"].rsplit("/", 1)[1]]
    types = node.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        if not any(_TYPES[name](instance) for name in names):
            expected = ", ".join(repr(n) for n in names)
            yield path, f"{instance!r} is not of type {expected}"
    if "const" in node and instance != node["const"]:
        yield path, f"{node['const']!r} was expected"
    if isinstance(instance, (int, float)) and not isinstance(instance, bool):
        if "minimum" in node and instance < node["minimum"]:
            yield path, f"{instance!r} is less than the minimum of {node['minimum']!r}"
        if "maximum" in node and instance > node["maximum"]:
            yield path, f"{instance!r} is greater than the maximum of {node['maximum']!r}"
    if isinstance(instance, dict):
        for key in node.get("required", ()):
            if key not in instance:
                yield path, f"{key!r} is a required property"
        properties = node.get("properties", {})
        extra = node.get("additionalProperties")
        for key, value in instance.items():
            if key in properties:
                yield from schema_errors(value, properties[key], (*path, key))
            elif isinstance(extra, dict):
                yield from schema_errors(value, extra, (*path, key))
    if isinstance(instance, list):
        if "minItems" in node and len(instance) < node["minItems"]:
            yield path, f"{instance!r} should be non-empty" if node["minItems"] == 1 else f"{instance!r} is too short"
        if "items" in node:
            for index, value in enumerate(instance):
                yield from schema_errors(value, node["items"], (*path, index))


def _validate(document, source: str) -> None:
    error = next(iter(schema_errors(document)), None)
    if error is not None:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error[0]).lstrip(".")
        message = error[1] if len(error[1]) < 200 else error[1][:200] + "..."
        raise SidecarError(f"not a valid sidecar: {where + ': ' if where else ''}{message}", file=source)
