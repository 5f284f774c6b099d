"""Write the bad-input corpus next to this script (run once; the files are committed).

    /tmp/v/bin/python tests/corpus/make_corpus.py

Every file is small (the 1 MB field is the largest) and deterministic: running the script again
gives the same bytes. The > 32 MiB sidecar is not stored here; tests/test_corpus.py writes it to a
temporary directory. docs/bad-inputs.md and tests/test_corpus.py describe what each file is for.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent


def write(name: str, data: bytes | str) -> None:
    if isinstance(data, str):
        data = data.encode("utf-8")
    (HERE / name).write_bytes(data)


def sidecar(columns: list[dict], **top) -> dict:
    return {"format_version": 1, "normcli_version": "1.0.0", "columns": columns, **top}


def zscore_column(name: str, mean: float, std: float, scale: float | str, **extra) -> dict:
    column = {
        "name": name, "method": "zscore", "options": {}, "dtype": "int64", "nullable": True,
        "count": 3, "nulls": 0, "decimals": 0,
        "statistics": {"mean": mean, "std": std},
        "parameters": {"mean": mean, "scale": scale},
        "affine": {"scale": 1 / scale if isinstance(scale, (int, float)) else 1.0,
                   "offset": -mean / scale if isinstance(scale, (int, float)) else 0.0},
    }
    column.update(extra)
    return column


def write_json(name: str, document) -> None:
    write(name, json.dumps(document, indent=2) + "\n")


def write_parquet(name: str, table: pa.Table) -> None:
    # No compression and no statistics keep the files small and the bytes stable.
    pq.write_table(table, HERE / name, compression="none", write_statistics=False)


def main() -> None:
    # --- file shape -------------------------------------------------------------------------
    write("empty.csv", b"")
    write("header_only.csv", "id,x\n")
    write("bom.csv", "\ufeffid,x\n1,1\n2,2\n3,3\n")
    write("double_bom.csv", "\ufeff\ufeffid,x\n1,1\n2,2\n3,3\n")
    write("crlf.csv", b"id,x\r\n1,1\r\n2,2\r\n3,3\r\n")
    write("latin1.csv", "name,x\ncaf\u00e9,1\nna\u00efve,2\nplain,3\n".encode("latin-1"))
    write("latin1_header.csv", "caf\u00e9,x\n1,1\n2,2\n".encode("latin-1"))
    write("long_field.csv", "id,text,x\n1," + "a" * (1 << 20) + ",1\n2,short,2\n3,b,3\n")
    write("all_null.csv", "id,x\n1,\n2,NA\n3,\n")
    write("single_row.csv", "x\n5\n")

    # --- fields -----------------------------------------------------------------------------
    write("quoted.csv", 'id,note,x\n1,"a,b",1\n2,"line1\nline2",2\n3,"say ""hi""",3\n')
    # A quote opened in the last column and never closed: the rest of the file would be one value.
    write("unclosed_quote.csv", 'id,x,note\n1,1,a\n2,2,"b\n3,3,c\n')
    # A quote inside an unquoted name is text (as inside an unquoted value).
    write("header_inner_quote.csv", 'id,x,size"\n1,1,a\n2,2,b\n3,3,c\n')
    # Too many fields, and a byte that is not UTF-8 among them: pyarrow cannot decode the row's text.
    write("ragged_not_utf8.csv", b"id,x\n1,1\n2,2,\xff\n3,3\n")
    # Quoted names with a line break or a separator in them: the header is one record, not one line.
    write("header_quoted_newline.csv", '"id\nkey",x\n1,1\n2,2\n3,3\n')
    write("bom_quoted_header.csv", '\ufeff"id,",x\n1,1\n2,2\n3,3\n')
    # In ISO-2022-JP the bytes of a letter can be ASCII quotes and commas ("が" is 1b 24 42 24 2c 1b 28 42).
    write("iso2022jp.csv", "name,x\n\u304c\u25a0,1\nb,2\nc,3\n".encode("iso2022_jp"))
    write("header_unclosed_quote.csv", 'id,x,"note\n1,1,a\n2,2,b\n')
    write("ragged_short.csv", "x,y\n1,2\n3\n5,6\n")
    write("ragged_long.csv", "x,y\n1,2\n3,4\n5,6,7\n")
    write("duplicate_columns.csv", "a,b,a\n1,2,3\n4,5,6\n")
    write("blank_column_name.csv", "id,,x\n1,7,1\n2,8,2\n3,9,3\n")

    # --- values -----------------------------------------------------------------------------
    write("huge_values.csv", "x\n1e308\n-1e308\n")
    write("long_integer.csv", "id,x\n17,1\n9007199254740993,2\n42,3\n")
    write("small_integer.csv", "id,x\n17,1\n18,2\n42,3\n")
    write("inf.csv", "x\n1\ninf\n3\n")
    write("neg_inf.csv", "x\n1\n2\n-inf\n")
    write("nan_tokens.csv", "id,x\n1,1\n2,NaN\n3,nan\n4,NA\n5,\n6,null\n7,NULL\n8,3\n")
    write("blank_lines.csv", "id,x\n1,1\n\n2,2\n\n3,3\n\n")
    write("thousands.csv", 'id,x\n1,"1,234"\n2,"2,000"\n')
    write("padded.csv", "id,x\n1, 1\n2,2 \n3, 3 \n")
    write("scientific.csv", "x\n1e3\n2.5E-2\n-3e+2\n")
    write("booleans.csv", "id,flag\n1,true\n2,false\n")
    write("dates.csv", "id,day\n1,2024-01-31\n2,2024-02-29\n")
    write("ints_then_float.csv", "x\n" + "".join(f"{i}\n" for i in range(20000)) + "0.5\n")
    write("text_column.csv", "id,name\n1,alice\n2,bob\n")
    write("control_header.csv", "id,a\x1bb\n1,\x1b[31mred\n")
    write("control_value.csv", "x\n1\n\x1b[2J\n")

    # --- Parquet ----------------------------------------------------------------------------
    nested = pa.table({
        "x": pa.array([1.0, 2.0, 3.0]),
        "point": pa.array([{"a": 1, "b": "p"}, {"a": 2, "b": "q"}, None],
                          type=pa.struct([("a", pa.int64()), ("b", pa.string())])),
        "tags": pa.array([["u", "v"], [], None], type=pa.list_(pa.string())),
    })
    write_parquet("nested.parquet", nested)
    dictionary = pa.table({
        "x": pa.array([1, 2, 3], type=pa.int64()),
        "colour": pa.array(["red", "blue", "red"]).dictionary_encode(),
    })
    write_parquet("dictionary.parquet", dictionary)
    decimal_timestamp = pa.table({
        "x": pa.array([1.5, 2.5, 3.5]),
        "price": pa.array(["1.10", "22.20", "-3.33"]).cast(pa.decimal128(10, 2)),
        "at": pa.array([0, 86_400_000_000, None], type=pa.timestamp("us", tz="UTC")),
    })
    write_parquet("decimal_timestamp.parquet", decimal_timestamp)
    write_parquet("good.parquet", pa.table({"x": pa.array([1.0, 2.0, 3.0, 4.0])}))
    write_parquet("duplicate_columns.parquet",
                  pa.Table.from_arrays([pa.array([1.0, 2.0]), pa.array([3.0, 4.0])], names=["a", "a"]))
    whole = (HERE / "good.parquet").read_bytes()
    write("truncated.parquet", whole[: len(whole) // 2])

    # --- sidecars (for a file with column x = 1, 2, 3) --------------------------------------
    write("x.csv", "x\n1\n2\n3\n")
    good = zscore_column("x", 2.0, 0.816496580927726, 0.816496580927726)
    write_json("sidecar_good.json", sidecar([good]))
    write_json("sidecar_string_scale.json", sidecar([zscore_column("x", 2.0, 0.8, "2")]))
    write_json("sidecar_negative_std.json", sidecar([zscore_column("x", 2.0, -0.8, 0.8)]))
    write_json("sidecar_other_columns.json", sidecar([zscore_column("y", 2.0, 0.8, 0.8)]))
    write_json("sidecar_extra_fields.json",
               sidecar([zscore_column("x", 2.0, 0.8, 0.8, comment="edited by hand", origin={"by": "me"})],
                       note="unknown top-level field", generated_at="2024-01-01T00:00:00Z"))
    write("sidecar_corrupt.json", '{"format_version": 1, "columns": [\n')
    newer = sidecar([good])
    newer["format_version"] = 2
    write_json("sidecar_newer.json", newer)


if __name__ == "__main__":
    main()
