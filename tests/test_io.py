"""io: which CSV files count as plain (read by polars in parallel), and the text sample of one."""

import pytest

from normcli.io import PlainCsv, csv_header

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
    monkeypatch.setattr("normcli.io.CSV_BLOCK_BYTES", 7)  # every line and CRLF split between blocks
    path = tmp_path / "data.csv"
    path.write_bytes(b"a,b\r\n10,20\r\n30,40\r\n")
    plain = PlainCsv(path, ["a", "b"], ",")
    plain.start()
    assert plain.problem() is None and plain.records == 2
    path.write_bytes(b"a,b\n10,20\n30,\n 40,1\n")  # the space starts a field right after a block ends
    plain = PlainCsv(path, ["a", "b"], ",")
    plain.start()
    assert "whitespace" in plain.problem()


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
