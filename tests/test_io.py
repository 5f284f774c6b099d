"""io: which CSV files count as plain (read by polars in parallel), the text sample of one, and how
quotes are followed."""

import io
import os
import stat
import sys
import threading

import pyarrow as pa
import pyarrow.csv as pcsv

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import normcli.io
from normcli.errors import DataError
from normcli.io import PlainCsv, _end_of_first_record, _QuoteState, atomic_file, csv_header, open_table

PLAIN_CASES = [  # file bytes, header names, separator, verdict: None (plain) or a word of the problem
    (b"a,b,c\n1,2,3\n4,5,6\n", "abc", ",", None),
    (b"a,b,c\n1,2,3", "abc", ",", None),  # no final newline
    (b"a,b,c\r\n1,2,3\r\n", "abc", ",", None),  # CRLF
    (b"a,b,c\n1,New York,3\n", "abc", ",", None),  # a space inside a field
    (b"a,b,c\n,,\n", "abc", ",", None),  # empty fields
    (b"a\tb\n1\t2\n", "ab", "\t", None),
    (b"a,b,c\n1,2\n", "abc", ",", "length"),  # a short row
    (b"a,b,c\n1,2,3\n\n4,5,6\n", "abc", ",", "blank"),
    (b"a,b,c\n1,2,3\n\n", "abc", ",", "blank"),  # a blank line at the end
    (b"a,b,c\n1,2,3\r\n\r\n", "abc", ",", "blank"),
    (b'a,b,c\n1,"2",3\n', "abc", ",", "quote"),
    (b"a,b,c\n1, 2,3\n", "abc", ",", "whitespace"),
    (b"a,b,c\n 1,2,3\n", "abc", ",", "whitespace"),
    (b"a,b,c\n1,2,\t\n", "abc", ",", "whitespace"),
    (b"a\tb\n1\t 2\n", "ab", "\t", "whitespace"),
    (b"a,b,c\n1,2,3\r4,5,6\n", "abc", ",", "carriage"),  # a lone CR ends a line for pyarrow only
    (b"a,b,c\n1,2,3\r", "abc", ",", "carriage"),
]


@pytest.mark.parametrize("data,names,separator,verdict", PLAIN_CASES)
def test_plain_csv_verdicts(tmp_path, data, names, separator, verdict):
    path = tmp_path / "data.csv"
    path.write_bytes(data)
    plain = PlainCsv(path, list(names), separator)
    plain.start()
    problem = plain.problem()
    if verdict is None:
        assert problem is None
        assert plain.records == data.count(b"\n") - (data.endswith(b"\n"))
    else:
        assert problem is not None and verdict in problem
        assert plain.records is None


def test_plain_csv_check_crosses_block_boundaries(tmp_path, monkeypatch):
    monkeypatch.setattr(PlainCsv, "CHECK_BYTES", 7)  # every line and CRLF split between blocks
    path = tmp_path / "data.csv"
    path.write_bytes(b"a,b\r\n10,20\r\n30,40\r\n")
    plain = PlainCsv(path, ["a", "b"], ",")
    plain.start()
    assert plain.problem() is None and plain.records == 2
    path.write_bytes(b"a,b\n10,20\n30,\n 40,1\n")  # the space starts a field right after a block ends
    plain = PlainCsv(path, ["a", "b"], ",")
    plain.start()
    assert "whitespace" in plain.problem()


def test_plain_csv_check_starts_on_the_first_question_once_and_never_after_cancel(tmp_path, monkeypatch):
    path = tmp_path / "data.csv"
    path.write_bytes(b"a,b\n1,2\n")
    plain = PlainCsv(path, ["a", "b"], ",")
    with plain.reading():
        assert plain._thread is None  # nothing runs until the first batch asks
        plain.problem(wait=False)
        first = plain._thread
        assert plain.problem() is None and plain.records == 1 and plain._thread is first
    late = PlainCsv(path, ["a", "b"], ",")
    late.cancel()
    assert late.problem() is None and late._thread is None and late.records is None

    # Ctrl-C inside Thread.start, before the thread counts as started (the signal handler raises it
    # there): cancel() has nothing half-started to join, so the interrupt is what comes out.
    interrupted = PlainCsv(path, ["a", "b"], ",")

    def start(thread):
        raise KeyboardInterrupt

    monkeypatch.setattr(threading.Thread, "start", start)
    with pytest.raises(KeyboardInterrupt):
        with interrupted.reading():
            interrupted.problem(wait=False)


def test_plain_csv_head_is_whole_lines_of_text(tmp_path, monkeypatch):
    monkeypatch.setattr(PlainCsv, "HEAD_BYTES", 1000)
    path = tmp_path / "data.csv"
    path.write_bytes(b"a,b\n" + b"".join(b"%d,x%d\n" % (i, i) for i in range(20000)))
    head = PlainCsv(path, ["a", "b"], ",").head(["c:a", "c:b"])
    assert head.columns == ["c:a", "c:b"]
    assert head.dtypes == [head.dtypes[0]] * 2 and str(head.dtypes[0]) == "String"
    assert 0 < head.height < 20000
    assert head["c:a"].to_list() == [str(i) for i in range(head.height)]


def test_csv_header_quotes_only_where_needed():
    assert csv_header(["a", "b,c", "", 'd"e'], ",") == b'a,"b,c",,"d""e"\n'
    assert csv_header(["a", "b,c"], "\t") == b"a\tb,c\n"
    assert csv_header(["x\ry", "x\nz", " a "], ",") == b'"x\ry","x\nz", a \n'  # as polars quotes values


# ---------------------------------------------------------------------------------------------
# Quoting: where the first record ends, and whether the input ends inside a quoted field.
# The reference below reads one character at a time; the first test holds it to pyarrow (the
# careful reader), the others hold normcli's fast forms to it.

QUOTE_ALPHABET = st.sampled_from(['a', 'x', ',', ';', '"', '"', '"', '\n', '\r'])


def reference_parse(text: str, separator: str) -> tuple[list[list[str]], int | None, bool]:
    """(records, index of the newline that ends the first record, ends inside a quoted field),
    by pyarrow's rules: a quote opens a quoted field only where a field starts; "" inside is a
    quote; after the closing quote the field goes on as text; \\r, \\n and \\r\\n end a line; a blank
    line is no record."""
    records, record, field = [], [], []
    state = "start"  # start | text | quoted | quote (a quote seen inside a quoted field)
    first_end = None
    touched = False  # the line so far is not blank
    after_cr = False
    for index, ch in enumerate(text):
        if after_cr:
            after_cr = False
            if ch == "\n" and state == "start":
                first_end = index if first_end is None else first_end
                continue
        if state == "quoted":
            touched = True
            if ch == '"':
                state = "quote"
            else:
                field.append(ch)
            continue
        if state == "quote":
            if ch == '"':
                field.append('"')
                state = "quoted"
                continue
            state = "text"
        if ch in "\r\n":
            if ch == "\n" and first_end is None:
                first_end = index
            after_cr = ch == "\r"
            if touched:
                record.append("".join(field))
                records.append(record)
            record, field, state, touched = [], [], "start", False
            continue
        touched = True
        if ch == separator:
            record.append("".join(field))
            field, state = [], "start"
        elif state == "start" and ch == '"':
            state = "quoted"
        else:
            field.append(ch)
            state = "text"
    if touched:
        record.append("".join(field))
        records.append(record)
    return records, first_end, state == "quoted"


@given(text=st.text(QUOTE_ALPHABET, max_size=30), separator=st.sampled_from([",", ";"]))
@settings(max_examples=400, deadline=None)
def test_reference_parse_reads_as_pyarrow_does(text, separator):
    records, _, _ = reference_parse(text, separator)
    assume(records)
    names = [f"c{i}" for i in range(len(records[0]))]
    try:
        table = pcsv.read_csv(
            io.BytesIO(text.encode()), read_options=pcsv.ReadOptions(column_names=names),
            parse_options=pcsv.ParseOptions(delimiter=separator, newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())))
    except pa.ArrowInvalid:
        assume(False)  # ragged: pyarrow refuses, and normcli names the row
    assert [list(row.values()) for row in table.to_pylist()] == records


@given(text=st.text(QUOTE_ALPHABET, max_size=60), separator=st.sampled_from([",", ";"]),
       cuts=st.lists(st.integers(1, 7), max_size=30), tail=st.sampled_from([1, 2, 4096]))
@settings(max_examples=600, deadline=None)
def test_quote_state_in_any_chunks(text, separator, cuts, tail):
    data = text.encode()
    state = _QuoteState(separator)
    state.TAIL = tail  # small: the reading back from a chunk's end goes further back
    start = 0
    for cut in cuts:
        state.feed(data[start : start + cut])
        start += cut
    state.feed(data[start:])
    assert state.finish() == reference_parse(text, separator)[2]


@given(text=st.text(QUOTE_ALPHABET, max_size=60), separator=st.sampled_from([",", ";"]))
@settings(max_examples=600, deadline=None)
def test_end_of_first_record(text, separator):
    assert _end_of_first_record(text.encode(), separator) == reference_parse(text, separator)[1]


@pytest.mark.parametrize("text,inside", [
    ('a,b\n1,"x\n2,y\n', True),  # the unclosed quote that once swallowed the rows after it
    ('a,b\n1,"x"\n', False),
    ('a,b\n1,x"\n2,y\n', False),  # a quote inside a field is text
    ('a,b\n1,"x""\n', True),  # "" inside is a quote, not the end
    ('a,b\n1,"x"""\n', False),
    ('a,b\n1,"x"y"\n', False),  # after the closing quote, text
    ('a,b\r1,"x\r', True),
])
def test_quote_state_examples(text, inside):
    state = _QuoteState(",")
    state.feed(text.encode())
    assert state.finish() is inside


@pytest.mark.parametrize("tail", [2, 4096])
def test_quote_state_reads_back_past_a_window_without_an_end(tail):
    # Inside a quoted field at the end of the first chunk; the second closes it ('c"') and opens
    # another (',"'): a window holding only ',"d' cannot tell, so the whole chunk is read.
    state = _QuoteState(",")
    state.TAIL = tail
    state.feed(b'1,"ab')
    state.feed(b'c"x,"d')
    assert state.finish() is True


def test_quote_state_long_runs_and_large_chunks():
    state = _QuoteState(",")
    for _ in range(3):
        state.feed(b'1,"' + b'""' * 300_000)  # one quoted field across chunks, escaped quotes only
    assert state.finish() is True
    state = _QuoteState(",")
    state.feed(b'a,b\n' + b'1,"x ""y"" z"\n' * 100_000 + b'2,"open\n')
    assert state.finish() is True


def test_text_that_is_not_utf8_is_named_with_its_row_in_a_later_batch(monkeypatch):
    monkeypatch.setattr(normcli.io, "CSV_BLOCK_BYTES", 1 << 12)  # many batches
    records = [f"{i},v{i}" for i in range(1, 5001)]
    records[3999] = "4000,caf\u00e9"
    data = ("a,b\n" + "\n".join(records) + "\n").encode("latin-1")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))  # read once, as a pipe is
    table = open_table("-")
    batches = 0
    with pytest.raises(DataError) as raised:
        for _ in table.batches():
            batches += 1
    table.close()
    assert batches > 1
    assert str(raised.value) == "<stdin>: column 'b', row 4000: not valid utf-8 text (see --encoding): 'caf\\xe9'"


@pytest.mark.parametrize("boms", [0, 1, 2])
def test_end_of_first_record_after_byte_order_marks(boms):
    raw = "\ufeff".encode() * boms + b'"a\nb",c\n1,2\n'  # the first name is quoted, with a newline in it
    assert _end_of_first_record(raw, ",") == 3 * boms + 7


@pytest.mark.parametrize("text,shown", [
    ("b", "b"),
    ("b\n3,c\n", "b..."),
    ("b\r\n3,c\r\n", "b..."),
    ("x" * 50, "x" * 40 + "..."),
])
def test_opening_of_a_long_value(text, shown):
    assert normcli.io._opening(text) == shown


def test_a_column_name_longer_than_the_csv_modules_field_limit(tmp_path):
    import csv

    limit = csv.field_size_limit()
    path = tmp_path / "data.csv"
    path.write_text("x," + "n" * (limit + 10) + "\n1,2\n")
    table = open_table(str(path))
    table.close()
    assert table.names == ["x", "n" * (limit + 10)]
    assert csv.field_size_limit() == limit


@pytest.mark.parametrize("encoding", ["latin-1", "shift_jis", "iso2022_jp"])
def test_utf8_reader_in_any_reads(encoding):
    text = "name,x\n\u304c\u25a0,1\n\"a,\"\"b\"\"\",2\n" if encoding != "latin-1" else "name,x\ncaf\u00e9,1\n"
    reader = normcli.io._Utf8Reader(io.BytesIO(text.encode(encoding)), encoding)
    pieces = []
    while piece := reader.read(3):
        assert len(piece) <= 3
        pieces.append(piece)
    assert b"".join(pieces).decode("utf-8") == text


# ---------------------------------------------------------------------------------------------
# Parquet written by polars


def _typed_columns():
    import datetime
    import decimal

    n = 6
    stamps = [datetime.datetime(2024, 2, 29, 23, 59, 59, 123456) + datetime.timedelta(days=i) for i in range(n)]
    return {
        **{f"{t}": pa.array([None, *range(1, n)], t) for t in
           (pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64())},
        "uint64 top": pa.array([2**64 - 1] * n, pa.uint64()),
        "float16": pa.array([None, 0.5, -1.5, 2.0, 65504.0, -0.0], pa.float16()),
        "float32": pa.array([None, 0.1, -1e30, 3.5, float("inf"), -0.0], pa.float32()),
        "float64": pa.array([None, 0.1, -1e300, 5e-324, float("-inf"), -0.0]),
        "bool": pa.array([None, True, False, True, True, False]),
        "string": pa.array([None, "", "a,b", "é\n", '"q"', "x" * 100]),
        "large_string": pa.array([None, "", "a,b", "é\n", '"q"', "x" * 100], pa.large_string()),
        "binary": pa.array([None, b"", b"\x00\xff", b"a", b"b" * 50, b"c"]),
        "string_view": pa.array([None, "", "a", "é", "long text " * 5, "z"], pa.string_view()),
        "large_binary": pa.array([None, b"", b"\x00\xff", b"a", b"b" * 50, b"c"], pa.large_binary()),
        "date32": pa.array([None, *(s.date() for s in stamps[1:])], pa.date32()),
        **{f"timestamp {unit} {tz}": pa.array([None, *stamps[1:]], pa.timestamp(unit, tz=tz))
           for unit in ("ms", "us", "ns") for tz in (None, "UTC", "Europe/Paris")},
        "decimal128": pa.array([None, *(decimal.Decimal(i) / 100 - 7 for i in range(1, n))], pa.decimal128(12, 2)),
    }


def test_polars_writes_each_type_it_is_trusted_with_as_pyarrow_does(tmp_path):
    # The claim behind normcli.io._polars_writes: the same key-value metadata as pyarrow writes, and
    # what pyarrow reads back is the table given.
    import polars as pl
    import pyarrow.parquet as pq

    columns = _typed_columns()
    table = pa.table(columns)
    required = pa.field("required", pa.int64(), nullable=False)
    table = table.append_column(required, pa.array(range(len(table)), pa.int64()))
    table = table.replace_schema_metadata({b"key": b"value", b"normcli.sidecar": b'{"columns": []}'})
    assert normcli.io.polars_writes_parquet(table.schema)
    normcli.io.sink_parquet(pl.from_arrow(table).lazy(), str(tmp_path / "t.parquet"), table.schema)
    pq.write_table(table, tmp_path / "pyarrow.parquet")
    assert (pq.ParquetFile(tmp_path / "t.parquet").metadata.metadata
            == pq.ParquetFile(tmp_path / "pyarrow.parquet").metadata.metadata)
    back = pq.read_table(tmp_path / "t.parquet")
    assert back.schema.equals(table.schema, check_metadata=True)
    for name in table.column_names:
        assert back[name].to_pylist() == table[name].to_pylist(), name
    assert pl.read_parquet(tmp_path / "t.parquet").equals(pl.read_parquet(tmp_path / "pyarrow.parquet"))


def test_metadata_that_is_not_utf8_is_left_to_pyarrow():
    assert not normcli.io.polars_writes_parquet(pa.schema([("x", pa.int64())], metadata={b"k": b"\xff"}))


@pytest.mark.parametrize("values", [pa.array([0], pa.timestamp("s")), pa.array(["a"]).dictionary_encode(),
                                    pa.array([[1]])], ids=["timestamp[s]", "dictionary", "list"])
def test_types_polars_does_not_write_exactly_are_left_to_pyarrow(tmp_path, values):
    import polars as pl
    import pyarrow.parquet as pq

    schema = pa.schema([("x", values.type)])
    assert not normcli.io.polars_writes_parquet(schema)
    try:
        normcli.io.sink_parquet(pl.from_arrow(pa.table([values], schema=schema)).lazy(),
                                str(tmp_path / "t.parquet"), schema)
    except pl.exceptions.PolarsError:
        return
    assert not pq.read_schema(tmp_path / "t.parquet").equals(schema)


def test_a_blank_column_name_is_left_to_pyarrow():
    assert not normcli.io.polars_writes_parquet(pa.schema([("", pa.int64())]))


@pytest.mark.parametrize("sizes", [[7], [1, 1000], [65536], [100003, 3]])
def test_parquet_bytes_do_not_depend_on_how_the_batches_are_cut(tmp_path, sizes):
    import polars as pl

    rows = normcli.io.PARQUET_ROW_GROUP_ROWS + 5  # two row groups
    table = pa.table({"x": pa.array(range(rows), pa.int64()), "t": pa.array([f"v{i % 13}" for i in range(rows)],
                                                                             pa.large_string())})
    whole = tmp_path / "whole.parquet"
    normcli.io.sink_parquet(pl.from_arrow(table).lazy(), str(whole), table.schema)

    def batches():
        offset, turn = 0, 0
        while offset < rows:
            size = sizes[turn % len(sizes)]
            yield from table.slice(offset, size).to_batches()
            offset, turn = offset + size, turn + 1

    with open(tmp_path / "batches.parquet", "wb") as stream:
        normcli.io.sink_parquet(normcli.io.batch_frame(batches(), table.schema), stream, table.schema)
    assert (tmp_path / "batches.parquet").read_bytes() == whole.read_bytes()


def test_batches_are_read_once(tmp_path):
    table = pa.table({"x": [1, 2, 3]})
    frame = normcli.io.batch_frame(iter(table.to_batches()), table.schema)
    assert frame.collect()["x"].to_list() == [1, 2, 3]
    with pytest.raises(RuntimeError, match="read twice"):
        frame.collect()


def test_a_write_error_under_polars_comes_out_as_itself(tmp_path):
    import errno

    import polars as pl

    class Full(io.RawIOBase):
        def writable(self):
            return True

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    table = pa.table({"x": [1, 2, 3]})
    with pytest.raises(OSError) as caught:
        normcli.io.sink_parquet(pl.from_arrow(table).lazy(), Full(), table.schema)
    assert caught.value.errno == errno.ENOSPC


# ---------------------------------------------------------------------------------------------
# A Parquet file's types as polars reads them


@pytest.mark.parametrize("values,simple", [
    (pa.array([1, 2], pa.int16()), True),
    (pa.array([1, 2], pa.uint64()), True),
    (pa.array([0.5, None], pa.float32()), True),
    (pa.array([True, None]), True),
    (pa.array(["a", None]), True),
    (pa.array(["a", None], pa.large_string()), True),
    (pa.array(["a", None], pa.string_view()), True),
    (pa.array([7, 7]).dictionary_encode(), True),  # pyarrow reads it back as int64, as polars does
    (pa.array([0.5, None], pa.float16()), False),
    (pa.array(["a", "a"]).dictionary_encode(), False),
    (pa.array([b"a", None]), False),
    (pa.array([0, 1], pa.timestamp("us")), False),
    (pa.ExtensionArray.from_storage(pa.bool8(), pa.array([1, 0], pa.int8())), False),
], ids=lambda v: str(v.type) if isinstance(v, pa.Array) else str(v))
def test_polars_view_of_a_parquet_file_is_used_only_when_pyarrow_reads_the_same_kinds(tmp_path, values, simple):
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": pa.array([1.5, 2.5]), "y": values}), path)
    types = normcli.io._simple_polars_types(path)
    assert (types is not None) == simple
    if simple:
        arrow = pq.read_schema(path).field("y").type
        numeric = pa.types.is_integer(arrow) or pa.types.is_floating(arrow)
        assert (types["y"].is_integer() or types["y"].is_float()) == numeric
        assert list(types) == ["x", "y"]


def test_polars_view_of_a_file_that_is_not_parquet_is_none(tmp_path):
    (tmp_path / "t.parquet").write_bytes(b"PAR1 not really")
    assert normcli.io._simple_polars_types(tmp_path / "t.parquet") is None


def test_a_parquet_table_read_by_polars_alone_gives_pyarrows_schema_and_metadata_when_asked(tmp_path):
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    table = pa.table({"x": [1.5, 2.5], "s": ["a", "b"]}).replace_schema_metadata({b"k": b"v"})
    pq.write_table(table, path)
    opened = open_table(str(path))
    try:
        assert opened.polars_types is not None and opened.names == ["x", "s"]
        assert opened.metadata == {b"k": b"v"}  # as polars reads it
        assert opened.schema.equals(table.schema, check_metadata=True)
        assert opened.metadata == {b"k": b"v"}  # as pyarrow reads it
        assert pa.Table.from_batches(list(opened.batches())).equals(table)
    finally:
        opened.close()


# ---------------------------------------------------------------------------------------------
# Parquet data sets: a directory or a glob, read as one table of parts


def _write_parts(directory, parts: dict) -> None:
    import pyarrow.parquet as pq

    for relative, table in parts.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)


def test_a_data_set_is_its_files_in_name_order_each_a_part_named_by_its_path(tmp_path):
    _write_parts(tmp_path, {
        "b.parquet": pa.table({"x": [3.0], "n": pa.array([3], pa.int64())}),
        "a.parquet": pa.table({"n": pa.array([1, 2], pa.int32()), "x": [1.0, 2.0]}),  # columns in another order
        "c.parquet": pa.table({"x": pa.array([4], pa.int16()), "n": pa.array([None], pa.int8())}),
    })
    for source in (tmp_path, f"{tmp_path}/*.parquet"):
        table = open_table(str(source))
        assert [part.name for part in table.parts] == [f"{tmp_path}/{n}.parquet" for n in "abc"]
        # The first file's order; integers of several widths as the widest, beside floats as floats.
        assert table.schema == pa.schema([("n", pa.int64()), ("x", pa.float64())])
        assert all(part.schema == table.schema for part in table.parts)
        whole = pa.Table.from_batches(list(table.batches()), schema=table.schema)
        assert whole.to_pydict() == {"n": [1, 2, 3, None], "x": [1.0, 2.0, 3.0, 4.0]}


def test_a_column_nullable_in_any_file_is_nullable_in_the_data_set(tmp_path):
    strict = pa.schema([pa.field("x", pa.float64(), nullable=False)])
    _write_parts(tmp_path, {"a.parquet": pa.table({"x": [1.0]}, schema=strict),
                            "b.parquet": pa.table({"x": [None, 2.0]})})
    assert open_table(str(tmp_path)).schema.field("x").nullable


def test_hive_partitions_are_columns_after_the_files_columns(tmp_path):
    _write_parts(tmp_path, {"year=2023/a.parquet": pa.table({"x": [1.0, 2.0]}),
                            "year=2024/b.parquet": pa.table({"x": [3.0]})})
    table = open_table(str(tmp_path))
    assert table.names == ["x", "year"]
    assert [part.name for part in table.parts] == [f"{tmp_path}/year=2023/a.parquet", f"{tmp_path}/year=2024/b.parquet"]
    rows = pa.Table.from_batches(list(table.parts[1].batches()), schema=table.schema).to_pydict()
    assert rows == {"x": [3.0], "year": [2024]}


@pytest.mark.parametrize("second, message", [
    (pa.table({"x": ["u"], "y": [1]}), "column 'x': string here but double in {a}"),
    (pa.table({"x": [1.0]}), "column 'y': missing here but present in {a}"),
    (pa.table({"x": [1.0], "y": [1], "z": [1]}), "column 'z': present here but not in {a}"),
    (pa.table({"x": [1.0], "y": [True]}), "column 'y': bool here but int64 in {a}"),
])
def test_a_file_that_does_not_fit_the_data_set_is_named_with_its_column(tmp_path, second, message):
    _write_parts(tmp_path, {"a.parquet": pa.table({"x": [1.0], "y": [1]}), "b.parquet": second})
    with pytest.raises(DataError) as info:
        open_table(str(tmp_path))
    assert str(info.value) == f"{tmp_path}/b.parquet: " + message.format(a=f"{tmp_path}/a.parquet")


def test_a_file_of_a_data_set_that_is_not_parquet_is_named(tmp_path):
    _write_parts(tmp_path, {"a.parquet": pa.table({"x": [1.0]})})
    (tmp_path / "b.parquet").write_bytes(b"not parquet at all\n")
    with pytest.raises(DataError, match=rf"^{tmp_path}/b\.parquet: not a readable Parquet file \(.+\)$"):
        open_table(str(tmp_path))


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    target = tmp_path / "private.csv"
    target.write_text("old\n")
    target.chmod(0o600)
    with atomic_file(target) as handle:
        handle.write(b"new\n")
    assert target.read_text() == "new\n" and stat.S_IMODE(target.stat().st_mode) == 0o600
    target.chmod(0o4750)  # setuid: not handed on to a file that whoever runs normcli now owns
    with atomic_file(target) as handle:
        handle.write(b"newer\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o750
    fresh = tmp_path / "fresh.csv"
    umask = os.umask(0o022)
    try:
        with atomic_file(fresh) as handle:
            handle.write(b"new\n")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644


def test_parquet_is_not_written_to_a_terminal_named_by_its_descriptor():
    from normcli.errors import UsageError
    from normcli.io import refuse_binary_terminal

    terminal, other = os.openpty()
    try:
        for path in (f"/dev/fd/{terminal}", f"/proc/self/fd/{terminal}"):
            with pytest.raises(UsageError, match="Parquet is binary"):
                refuse_binary_terminal(path, "parquet")
            refuse_binary_terminal(path, "csv")  # text may go to the screen
    finally:
        os.close(terminal)
        os.close(other)
    refuse_binary_terminal("/dev/null", "parquet")  # a device that is not a terminal
