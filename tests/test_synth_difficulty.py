"""The realistic synthetic task: no pixel shortcut, learnable, readers unchanged; the machinery
around it (difficulty option, workers, progress, gallery, synthetic-data wording on the board)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from mura_bench.cli.main import cli
from mura_bench.synth import PAPER_RADIOLOGIST_F1, generate, is_synthetic_study, study_view_findings, synth_panel
from mura_bench.synth import writer
from mura_bench.synth.calibration import measure
from mura_bench.synth.probes import fit_logistic, predict_logistic
from mura_bench.synth.realistic import FINDING_KINDS

CHEAP = ("mean intensity", "near-white fraction", "image size", "aspect ratio", "views per study")


@pytest.fixture(scope="module")
def realistic() -> dict:
    """A reduced, seeded calibration run (the full one is benchmarks/synth_difficulty.py)."""
    return measure(studies=300, train_studies=900, seed=3).scores


@pytest.mark.slow
def test_no_pixel_statistic_or_cheap_feature_is_a_shortcut(realistic):
    plugin = [name for name in realistic if name.startswith("image-statistics")]
    assert len(plugin) >= 8  # the defaults and the threshold sweep
    for name in plugin:
        assert realistic[name]["overall"]["auroc"] <= 0.66, name
        assert realistic[name]["overall"]["kappa"] <= 0.3, name
    for name in CHEAP:
        assert abs(realistic[name]["overall"]["auroc"] - 0.5) <= 0.16, name


@pytest.mark.slow
def test_the_learned_probe_beats_every_cheap_feature_and_stays_below_the_readers(realistic):
    learned = realistic["learned probe"]["overall"]["auroc"]
    assert 0.66 <= learned <= 0.92
    assert learned > max(realistic[name]["overall"]["auroc"] for name in CHEAP) + 0.05
    readers = realistic["readers"]["overall"]
    assert learned < 0.95 and readers["f1"] > 0.8
    assert abs(readers["f1"] - PAPER_RADIOLOGIST_F1["overall"]) <= 0.05


def test_easy_difficulty_keeps_the_near_white_shortcut():
    easy = measure(studies=120, train_studies=1, seed=3, difficulty="easy", learned=False).scores
    assert easy["image-statistics (defaults)"]["overall"]["auroc"] >= 0.9


def test_findings_are_varied_and_only_some_views_show_them():
    panel = synth_panel(600, readers=0, seed=5)
    kinds, partial = set(), 0
    for row in np.flatnonzero(panel.labels == 1):
        findings = study_view_findings(panel, row)
        shown = [f for f in findings if f is not None]
        assert shown and len(set(shown)) == 1  # one kind per study, at least one view
        kinds.add(shown[0])
        partial += len(shown) < len(findings)
    assert kinds == set(FINDING_KINDS)
    assert partial > 20
    for row in np.flatnonzero(panel.labels == 0)[:50]:
        assert all(f is None for f in study_view_findings(panel, row))


def test_study_table_and_panel_do_not_depend_on_the_difficulty(tmp_path):
    a = generate(tmp_path / "a", studies=12, train_studies=3, seed=4, difficulty="easy")
    b = generate(tmp_path / "b", studies=12, train_studies=3, seed=4)
    for name in ("valid_panel.csv", "valid_labeled_studies.csv", "train_labeled_studies.csv", "valid_image_paths.csv"):
        assert (a.dataset_dir / name).read_bytes() == (b.dataset_dir / name).read_bytes()
    first = (a.dataset_dir / "valid_image_paths.csv").read_text().split()[0]
    assert (a.root / first).read_bytes() != (b.root / first).read_bytes()


def test_worker_processes_write_the_same_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "_PARALLEL_MIN_IMAGES", 0)
    monkeypatch.setattr(writer, "_CHUNK_STUDIES", 5)
    one = generate(tmp_path / "one", studies=20, train_studies=12, seed=8, workers=1)
    reports = []
    two = generate(
        tmp_path / "two", studies=20, train_studies=12, seed=8, workers=2, progress=lambda *args: reports.append(args)
    )
    assert reports[-1] == ("synthesising studies", 32, 32)
    assert [done for _, done, _ in reports] == sorted(done for _, done, _ in reports)
    files = sorted(p.relative_to(one.dataset_dir) for p in one.dataset_dir.rglob("*") if p.is_file())
    assert len(files) > 60
    assert files == sorted(p.relative_to(two.dataset_dir) for p in two.dataset_dir.rglob("*") if p.is_file())
    for rel in files:
        assert (one.dataset_dir / rel).read_bytes() == (two.dataset_dir / rel).read_bytes(), rel


def test_logistic_read_out_agrees_with_scikit_learn():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6)) * [1, 2, 3, 1, 5, 0.5] + 3
    y = (x[:, 0] - 0.5 * x[:, 2] + rng.normal(size=400) > 1.5).astype(int)
    ours = fit_logistic(x, y, l2=2.0)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    oracle = LogisticRegression(C=1 / 2.0, tol=1e-10, max_iter=10_000).fit(z, y)
    np.testing.assert_allclose(ours.coef, oracle.coef_[0], atol=1e-4)
    np.testing.assert_allclose(predict_logistic(ours, x), oracle.predict_proba(z)[:, 1], atol=1e-5)
    assert roc_auc_score(y, predict_logistic(ours, x)) > 0.8


def test_synthetic_study_ids_are_recognised():
    panel = synth_panel(50, readers=0, seed=1, split="train")
    assert all(is_synthetic_study(s) for s in panel.study_ids)
    assert all(is_synthetic_study(s.removeprefix("MURA-v1.1/")) for s in panel.study_ids)
    assert not is_synthetic_study("MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/")
    assert not is_synthetic_study("not a path")


def test_cli_difficulty_option_and_its_errors(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(
        cli,
        [
            "synth",
            "--out",
            str(tmp_path / "d"),
            "--studies",
            "4",
            "--train-studies",
            "1",
            "--difficulty",
            "easy",
            "--quiet",
            "--image-size",
            "32",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert "easy" in ok.output
    image = next((tmp_path / "d" / "MURA-v1.1" / "valid").rglob("*.png"))
    with Image.open(image) as opened:
        assert opened.size == (32, 32)
    bad = runner.invoke(cli, ["synth", "--out", str(tmp_path / "e"), "--difficulty", "hard"])
    assert bad.exit_code == 2 and "hard" in bad.output
    assert not (tmp_path / "e" / "MURA-v1.1").exists()


def test_gallery_command_writes_a_montage(tmp_path):
    out = tmp_path / "docs" / "gallery.png"
    out.parent.mkdir()  # --out's folder must exist (outputs.py), as for every command
    result = CliRunner().invoke(cli, ["gallery", "--out", str(out), "--per-class", "1", "--image-size", "48"])
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size[0] > 100 and image.size[1] > 300
    assert [p.name for p in out.parent.iterdir()] == ["gallery.png"]  # no temporary file left


def _board(tmp_path, truth_rows: list[str], studies: list[str], title: str | None):
    from mura_bench.leaderboard.build import build_site

    (tmp_path / "truth.csv").write_text("\n".join(truth_rows) + "\n")
    entry = tmp_path / "subs" / "model"
    entry.mkdir(parents=True)
    (entry / "submission.toml").write_text('name = "M"\nteam = "T"\ndate = 2026-01-01\nreported = false\n')
    rng = np.random.default_rng(0)
    (entry / "predictions.csv").write_text("".join(f"{s},{rng.random():.3f}\n" for s in studies))
    report = build_site(tmp_path / "subs", tmp_path / "truth.csv", tmp_path / "site", resamples=20, title=title)
    return report.index_html.read_text(encoding="utf-8")


@pytest.mark.parametrize("title", [None, "Our board"])
def test_a_board_built_from_synthetic_truth_says_so(tmp_path, title):
    panel = synth_panel(70, readers=6, seed=2)
    rows = ["study," + ",".join(panel.reader_names)] + [
        f"{s}," + ",".join(str(int(v)) for v in r) for s, r in zip(panel.study_ids, panel.readers)
    ]
    html = _board(tmp_path, rows, panel.study_ids, title)
    assert f"<title>{title or 'MURA abnormality detection leaderboard'} (synthetic data)</title>" in html
    method = html[html.index('id="method"') :]
    assert "Synthetic data" in method


def test_a_board_built_from_real_style_truth_does_not(tmp_path):
    studies = [f"MURA-v1.1/valid/XR_WRIST/patient{11000 + i}/study1_negative/" for i in range(40)]
    rng = np.random.default_rng(1)
    rows = ["study,r1,r2,r3"] + [f"{s}," + ",".join(str(v) for v in rng.integers(0, 2, 3)) for s in studies]
    html = _board(tmp_path, rows, studies, None)
    assert "synthetic" not in html.lower()


def test_part_conspicuity_is_ordered_like_the_paper_model():
    """Finger findings are the least conspicuous, wrist ones the most and shown in every view."""
    from mura_bench.synth.realistic import PART_DIFFICULTY

    strength = {part: values[0] for part, values in PART_DIFFICULTY.items()}
    shown = {part: values[1] for part, values in PART_DIFFICULTY.items()}
    assert min(strength, key=strength.get) == "finger" and max(strength, key=strength.get) == "wrist"
    assert all(strength["finger"] < v < strength["wrist"] for p, v in strength.items() if p not in ("finger", "wrist"))
    assert shown["wrist"] == 1.0 and all(shown["finger"] <= v < 1.0 for p, v in shown.items() if p != "wrist")
