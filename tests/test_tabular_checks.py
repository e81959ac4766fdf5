"""The checks every reader shares: misplaced header rows, duplicate keys, the first failing check."""

from __future__ import annotations

import pytest

from mura_bench.errors import InputError
from mura_bench.data.tabular import Row, check_unique, is_header_row, raise_first


def test_check_unique_names_every_repeat_with_its_first_line_and_note():
    keys, lines = ["a", "b", "a", "c", "a"], [1, 2, 5, 6, 9]
    with pytest.raises(InputError) as info:
        check_unique(keys, lines, source="f.csv", what="study", note=lambda j, i: f"rows {j} and {i}")
    err = info.value
    assert err.problem == "duplicate study rows"
    assert [r for _, r in err.rows] == ["a (first on line 1; rows 0 and 2)", "a (first on line 1; rows 0 and 4)"]
    assert [line for line, _ in err.rows] == [5, 9]
    check_unique(["a", "b"], [1, 2], source="f.csv", what="study")  # no repeat: no error


def test_is_header_row_knows_the_files_header_and_column_names():
    header = ("Study", "Score")
    assert is_header_row(Row(7, ("study", "SCORE")), header, ())
    assert is_header_row(Row(7, ("x/y", "probability")), None, (("x/y", ("path",)), ("probability", ("probability",))))
    assert not is_header_row(Row(7, ("x/y", "abc")), header, (("abc", ("probability",)),))


def test_raise_first_raises_the_first_check_with_offenders_only():
    raise_first([("a", []), ("b", [])], source="f.csv")
    with pytest.raises(InputError) as info:
        raise_first([("a", []), ("b", [(3, "x")]), ("c", [(1, "y")])], source="f.csv")
    assert info.value.problem == "b" and info.value.rows[0][0] == 3
