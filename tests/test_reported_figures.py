"""Reported figures: strings written to TOML escape every control character TOML forbids
(U+007F included), and a published value outside its metric's range or outside its own interval
is refused with the file and the key, by the converter and when a board is built."""

from __future__ import annotations

import csv
import importlib.util
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import REPO
from mura_bench.leaderboard.reported import parse_reported
from mura_bench.leaderboard.submissions import SubmissionError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _load_script():
    spec = importlib.util.spec_from_file_location("convert_reported_under_test", REPO / "site" / "convert_reported.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


convert = _load_script()
FORBIDDEN = [chr(c) for c in range(0x20) if c != 0x09] + ["\x7f"]


@pytest.mark.parametrize("char", FORBIDDEN + ["\t", '"', "\\", "\u0085", "\u2028", "\ufeff"])
def test_every_character_toml_forbids_is_escaped(char):
    text = f"a{char}b"
    written = convert.toml_string(text)
    assert not any(c in written for c in FORBIDDEN)
    assert tomllib.loads(f"x = {written}")["x"] == text


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_any_text_round_trips_through_dump_toml(text):
    data = {"name": text, "description": text + "\x7f", "reported": True, "results": [{"label": text or "x"}]}
    assert tomllib.loads(convert.dump_toml(data)) == data


def test_a_lone_surrogate_is_refused():
    with pytest.raises(ValueError, match="surrogate"):
        convert.toml_string("a\ud800b")


def _table2(folder, rows):
    path = folder / "paper-v1-table2-f1.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["study_type", "radiologists_f1", "radiologists_lo", "radiologists_hi", "model_f1", "model_lo", "model_hi"]
        )
        writer.writerows(rows)
    return path


@pytest.mark.parametrize(
    "row,fault",
    [
        (["Elbow", 1.2, 0.7, 0.9, 0.75, 0.6, 0.85], "outside [0, 1]"),
        (["Elbow", 0.8, 0.7, 0.9, -0.01, -0.1, 0.85], "outside [0, 1]"),
        (["Wrist", 0.95, 0.7, 0.9, 0.75, 0.6, 0.85], "outside its own interval"),
        (["Overall", 0.8, 0.7, 0.9, 0.5, 0.6, 0.85], "outside its own interval"),
    ],
)
def test_the_converter_refuses_impossible_figures_with_file_and_key(tmp_path, row, fault):
    path = _table2(tmp_path, [row])
    data = convert.convert_paper_table2(path)
    with pytest.raises(ValueError) as info:
        convert.check_figures(data, path)
    message = str(info.value)
    assert fault in message and "paper-v1-table2-f1.csv" in message and f".{row[0].lower()}" in message


def test_the_converter_writes_nothing_when_a_table_is_refused(tmp_path, capsys):
    ref = tmp_path / "ref"
    ref.mkdir()
    _table2(ref, [["Elbow", 1.5, 0.7, 0.9, 0.75, 0.6, 0.85]])
    assert convert.main([str(ref), str(tmp_path / "out")]) == 2
    assert "outside [0, 1]" in capsys.readouterr().err and not (tmp_path / "out").exists()


SOURCE = {
    "citation": "c",
    "url": "https://example.org",
    "file": "f.csv",
    "test_set": "t",
    "metric": "f1",
    "interval": "i",
}


@pytest.mark.parametrize(
    "metric,cell,fault",
    [
        ("f1", {"value": 1.01, "ci": [0.9, 1.0]}, "outside [0, 1]"),
        ("auroc", {"value": -0.2}, "outside [0, 1]"),
        ("kappa", {"value": -1.5, "ci": [-1.6, -1.4]}, "outside [-1, 1]"),
        ("f1", {"value": 0.7, "ci": [0.75, 0.9]}, "outside its own interval"),
        ("kappa", {"value": 0.5, "ci": [0.1, 0.4]}, "outside its own interval"),
    ],
)
def test_the_board_refuses_impossible_reported_figures_naming_the_key(metric, cell, fault):
    results = [{"label": "Model", "kind": "model", metric: {"overall": cell}}]
    with pytest.raises(SubmissionError) as info:
        parse_reported(SOURCE, results)
    assert fault in str(info.value) and f"{metric}.overall" in str(info.value)


def test_negative_kappa_within_its_interval_is_accepted():
    rows = parse_reported(
        SOURCE, [{"label": "run", "kind": "run", "kappa": {"overall": {"value": -0.2, "ci": [-0.3, -0.1]}}}]
    )
    assert rows[0].figures["kappa"]["overall"].value == -0.2
