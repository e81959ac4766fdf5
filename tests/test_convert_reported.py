"""``site/convert_reported.py``: the published MURA tables as reported leaderboard entries.

Fabricated tables in the published layout always; the committed entries against the real tables
where the reference folder is present."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

from helpers import REFERENCE_DIR, REPO, needs_reference
from mura_bench.data.layout import GROUPS
from mura_bench.leaderboard.reported import parse_reported
from mura_bench.leaderboard.submissions import load_submissions


def _load_script():
    spec = importlib.util.spec_from_file_location("convert_reported", REPO / "site" / "convert_reported.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


convert_reported = _load_script()


def _fake_reference(folder: Path) -> Path:
    """Fabricated tables in the layout of the published ones (not the published numbers)."""
    folder.mkdir()
    parts = ["Elbow", "Finger", "Forearm", "Hand", "Humerus", "Shoulder", "Wrist", "Overall"]
    with open(folder / "paper-v1-table2-f1.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["study_type", "radiologists_f1", "radiologists_lo", "radiologists_hi", "model_f1", "model_lo", "model_hi"]
        )
        for i, p in enumerate(parts):
            w.writerow([p, 0.8 + i / 100, 0.7, 0.9, 0.75, 0.6, 0.85])
    with open(folder / "paper-kappa-table.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["study_type"] + [f"{r}_{s}" for r in ("rad1", "rad2", "rad3", "model") for s in ("kappa", "lo", "hi")]
        )
        for p in parts:
            w.writerow([p] + [0.7, 0.6, 0.8] * 4)
    groups = ["overall", "elbow", "finger", "forearm", "hand", "humerus", "shoulder", "wrist"]
    with open(folder / "mura-leaderboard-test-kappa.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["user", "description", "submitted", "eval_bundle", "evaluate_py", "test_csv", "predictions_bundle"]
            + [f"{g}_{s}" for g in groups for s in ("mean", "lower", "upper")]
        )
        w.writerow(
            ["ann", "<script>x</script>", "2018-06-01", "0x1", "e.py", "t.csv", "ann-run"] + [0.6, 0.59, 0.61] * 8
        )
        w.writerow(["bob", "", "2018-06-02", "0x2", "e.py", "t.csv", "bob-run"] + [""] * 24)
        w.writerow(
            ["", "neg", "2018-06-03", "0x3", "e.py", "t.csv", "c-run"]
            + [0.1, 0.09, 0.11] * 2
            + [-0.2, -0.21, -0.19]
            + [0.1, 0.09, 0.11] * 5
        )
    return folder


def test_conversion_of_published_tables_round_trips(tmp_path):
    ref = _fake_reference(tmp_path / "ref")
    board = convert_reported.convert_leaderboard(ref / "mura-leaderboard-test-kappa.csv")
    assert [r["status"] for r in board["results"]] == ["scored", "failed", "negative-kappa"]
    assert board["results"][1]["label"] == "(no description)" and "kappa" not in board["results"][1]
    for data in (
        board,
        convert_reported.convert_paper_table2(ref / "paper-v1-table2-f1.csv"),
        convert_reported.convert_paper_kappa(ref / "paper-kappa-table.csv"),
    ):
        assert tomllib.loads(convert_reported.dump_toml(data)) == data
        rows = parse_reported(data["source"], data["results"])
        assert all(set(f) <= set(GROUPS) for r in rows for f in r.figures.values())
    table2 = convert_reported.convert_paper_table2(ref / "paper-v1-table2-f1.csv")
    assert table2["results"][0]["f1"]["finger"] == {"value": 0.81, "ci": [0.7, 0.9]}


def test_dump_toml_escapes_strings():
    data = {"name": 'a "quoted"\\ line\nnext', "reported": True, "results": [{"label": "é\t"}]}
    assert tomllib.loads(convert_reported.dump_toml(data)) == data


@needs_reference(*(name for name, _ in convert_reported.REFERENCE_TABLES.values()))
def test_committed_reported_entries_match_the_reference_tables():
    for slug, (name, convert) in convert_reported.REFERENCE_TABLES.items():
        committed = tomllib.loads((REPO / "submissions" / slug / "submission.toml").read_text("utf-8"))
        assert committed == convert(REFERENCE_DIR / name), slug


def test_the_script_writes_every_entry_and_reports_usage(tmp_path, capsys):
    ref = _fake_reference(tmp_path / "ref")
    assert convert_reported.main([str(ref), str(tmp_path / "subs")]) == 0
    written = sorted(p.parent.name for p in (tmp_path / "subs").glob("*/submission.toml"))
    assert written == sorted(convert_reported.REFERENCE_TABLES)
    assert load_submissions(tmp_path / "subs").skipped == []
    assert convert_reported.main([str(ref)]) == 2 and "usage:" in capsys.readouterr().err
