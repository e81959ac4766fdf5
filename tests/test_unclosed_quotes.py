"""A quote that is never closed is reported at the line where it opens (not at the end of the
file), in every file read through ``tabular``: predictions and truth."""

from __future__ import annotations

import pytest

from helpers import run, study_id
from mura_bench import InputError, read_predictions, read_truth
from mura_bench.data.tabular import unclosed_quote_line

ROWS = [f"{study_id(i)},0.{i + 1}" for i in range(8)]


@pytest.mark.parametrize("at", [0, 3, 7])
@pytest.mark.parametrize("header", [True, False])
def test_an_unclosed_quote_in_predictions_is_reported_where_it_opens(tmp_path, at, header):
    rows = list(ROWS)
    rows[at] = '"' + rows[at]
    lines = (["study,probability"] if header else []) + rows
    path = tmp_path / "preds.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as info:
        read_predictions(path)
    opened = at + 1 + (1 if header else 0)
    assert "never closed" in str(info.value) and f"line {opened}:" in str(info.value)
    assert f"line {len(lines)}:" not in str(info.value) or opened == len(lines)


def test_an_unclosed_quote_in_a_later_field_and_in_the_truth(tmp_path):
    lines = ["study,r1,r2,r3"] + [f"{study_id(i)},1,0,1" for i in range(6)]
    lines[4] = lines[4].replace(",0,", ',"0,')
    path = tmp_path / "panel.csv"
    path.write_text("\n".join(lines) + "\n\n\n")
    with pytest.raises(InputError) as info:
        read_truth(path)
    assert "never closed" in str(info.value) and "line 5:" in str(info.value)
    proc = run("score", path, "--truth", path)
    assert proc.returncode == 2 and "line 5:" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "text,start,expected",
    [
        (b'a,b\n"x,1\ny,2\n', 2, 2),
        (b'a,b\n"x\ny",1\n', 2, None),  # a quoted field over two lines, closed: valid
        (b'a,b\n"x""y",1\nz,"q\n\n', 3, 3),
        (b'a,"b""\nc\n', 1, 1),  # "" inside quotes is a quote, not the end
        (b'a,b\nc,"d\ne"""\n', 2, None),
        (b'\xef\xbb\xbf"a,b\n', 1, 1),  # after a byte-order mark
    ],
)
def test_unclosed_quote_line(text, start, expected):
    assert unclosed_quote_line(text, start) == expected


def test_closed_multi_line_fields_still_read(tmp_path):
    path = tmp_path / "preds.csv"
    path.write_text("study,probability\n" + "\n".join(ROWS) + "\n")
    assert len(read_predictions(path).study_ids) == len(ROWS)
