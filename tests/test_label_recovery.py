"""A label-recovery attack on everything published from a hidden truth.

For a 200-study hidden truth, an attacker sends the submissions that read labels off published
figures -- probabilities strictly increasing in study order, in random orders, constant except for
one study -- and tries to recover the labels from every file written: ``scores.json``,
``detailed_results.html`` and every figure embedded in it (decoded from its ``data:`` URI), the
pages, plots and downloads of ``leaderboard build --hidden-truth``. An adaptive attacker spends the
final phase's whole default submission budget on ``scores.json``. Recovery must stay at chance:
at most max(majority share, 0.5) + 0.10 of the labels right.

Each decoder is shown to work where the policy does not apply (the ordinary leaderboard site, the
development phase's per-part columns), so a pass is the policy's doing, not a blind attacker's.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from hosting_helpers import truth_rows, write_labels
from mura_bench.cli.main import cli
from mura_bench.hosting.codabench_scoring import score_submission
from mura_bench.hosting.scores import information_bits, leaderboard_columns, final_columns

N = 200
MARGIN = 0.10


# ---------------------------------------------------------------------------------------------
# The hidden truth, the attack submissions, the bundle
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hidden(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hidden")
    truth = write_labels(tmp / "hidden_test.csv", N, seed=29)
    studies = truth_rows(truth)
    labels = np.array([int(line.rsplit(",", 1)[1]) for line in truth.read_text().splitlines()])
    out = tmp / "bundle.zip"
    result = CliRunner().invoke(
        cli,
        [
            "export",
            "codabench",
            "--truth",
            str(truth),
            "--final-truth",
            str(truth),
            "--out",
            str(out),
            "--bootstrap",
            "20",
            "--start",
            "2026-03-02",
            "--docker-image",
            "ghcr.io/example/mura-bench:0.1.0",
        ],
    )
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as zf:
        zf.extractall(tmp / "bundle")
    return tmp, truth, studies, labels


def chance(labels: np.ndarray) -> float:
    return max(float(labels.mean()), 1 - float(labels.mean()), 0.5) + MARGIN


def csv_of(studies: list[str], probs) -> bytes:
    return ("study,probability\n" + "".join(f"{s},{p:.6f}\n" for s, p in zip(studies, probs))).encode()


def attack_submissions(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    increasing = (np.arange(n) + 1) / (n + 1)
    subs = {
        "increasing": increasing,
        "random-order-1": increasing[rng.permutation(n)],
        "random-order-2": increasing[rng.permutation(n)],
    }
    for k in (17, 123):
        probs = np.full(n, 0.5)
        probs[k] = 0.9
        subs[f"constant-except-{k}"] = probs
    return subs


def run_phase(bundle_dir: Path, work: Path, task: int, data: bytes, name: str = "predictions.csv") -> dict:
    """The scoring program of ``task`` run on one submission as the worker lays it out; returns
    every file it wrote (name -> text)."""
    comp = yaml.safe_load((bundle_dir / "competition.yaml").read_text(encoding="utf-8"))
    (task_doc,) = [t for t in comp["tasks"] if t["index"] == task]
    (work / "input" / "res").mkdir(parents=True)
    (work / "input" / "ref").symlink_to(bundle_dir / task_doc["reference_data"])
    (work / "input" / "res" / name).write_bytes(data)
    score_submission(work / "input", work / "output", bundle_dir / task_doc["scoring_program"])
    return {p.name: p.read_text(encoding="utf-8") for p in (work / "output").iterdir()}


# ---------------------------------------------------------------------------------------------
# Decoders: what an attacker reads off the published files
# ---------------------------------------------------------------------------------------------

_DATA_URI = re.compile(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)")
_PATH = re.compile(r'<path d="([^"]+)"')


def embedded_svgs(text: str) -> list[str]:
    """Every SVG in ``text``: inline, or base64 ``data:`` URIs decoded."""
    found = [base64.b64decode(m).decode("utf-8") for m in _DATA_URI.findall(text)]
    if "<svg" in text:
        found.append(text)
    return found


def polylines(svg: str) -> list[np.ndarray]:
    """The vertex sequences (pixels) of every path made of move/line commands."""
    out = []
    for d in _PATH.findall(svg):
        if not re.fullmatch(r"[\sMLz\d.\-e]+", d):
            continue
        numbers = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", d)]
        if len(numbers) >= 4 and len(numbers) % 2 == 0:
            out.append(np.array(numbers).reshape(-1, 2))
    return out


def decode_steps(svg_texts: list[str], order: np.ndarray, n: int) -> list[np.ndarray]:
    """ROC-curve reading: a path with one axis-parallel step per study gives the labels in the
    submission's order of decreasing probability (a vertical step is an abnormal study)."""
    guesses = []
    for svg in svg_texts:
        for points in polylines(svg):
            steps = np.diff(points, axis=0)
            moving = steps[np.abs(steps).sum(axis=1) > 1e-6]
            vertical = (np.abs(moving[:, 0]) < 1e-6) & (np.abs(moving[:, 1]) > 1e-6)
            horizontal = (np.abs(moving[:, 1]) < 1e-6) & (np.abs(moving[:, 0]) > 1e-6)
            if len(moving) == n and (vertical | horizontal).all():
                guess = np.zeros(n, dtype=int)
                guess[order[::-1]] = vertical.astype(int)
                guesses.append(guess)
    return guesses


def decode_bins(svg_texts: list[str], probs: np.ndarray) -> list[np.ndarray]:
    """Calibration reading: each point of a plotted line is (mean probability, observed rate) of
    a bin; a study belongs to the bin whose mean probability is nearest to its own, and is
    guessed abnormal when that bin's observed rate is above one half. Pixel coordinates are
    mapped to data through the axes' box ([-0.01, 1.01] on both axes)."""
    guesses = []
    for svg in svg_texts:
        box = re.search(
            r'<g id="patch_2">\s*<path d="M ([\d.]+) ([\d.]+)\s*L ([\d.]+) ([\d.]+)\s*'
            r"L ([\d.]+) ([\d.]+)",
            svg,
        )
        if box is None:
            continue
        x0, y0, x1, _, _, y1 = (float(v) for v in box.groups())
        for points in polylines(svg):
            if len(points) < 1 or len(points) > len(probs):
                continue
            px = -0.01 + (points[:, 0] - x0) / (x1 - x0) * 1.02
            py = -0.01 + (y0 - points[:, 1]) / (y0 - y1) * 1.02
            if not ((px >= -0.02) & (px <= 1.02) & (py >= -0.02) & (py <= 1.02)).all():
                continue
            nearest = np.abs(probs[:, None] - px[None, :]).argmin(axis=1)
            guesses.append((py[nearest] > 0.5).astype(int))
    return guesses


def decode_single_probe(texts: list[str], probs: np.ndarray) -> list[np.ndarray]:
    """A submission abnormal on one study only: its F1 is 0 unless that study is abnormal."""
    special = np.flatnonzero(probs > 0.5)
    if len(special) != 1:
        return []
    guesses = []
    for text in texts:
        for key in ("overall_f1",):
            found = re.search(rf'"?{key}"?: (-?[\d.]+)', text)
            if found:
                guess = np.zeros(len(probs), dtype=int)
                guess[special[0]] = int(float(found.group(1)) > 0)
                guesses.append(guess)
    return guesses


def best_recovery(texts: list[str], probs: np.ndarray, labels: np.ndarray) -> float:
    """The best share of labels right among every decoding of ``texts``, each decoding's
    unknown labels filled with the majority class (what the attacker would guess)."""
    majority = int(labels.mean() > 0.5)
    svgs = [svg for text in texts for svg in embedded_svgs(text)]
    order = np.argsort(probs, kind="stable")
    candidates = decode_steps(svgs, order, len(labels)) + decode_bins(svgs, probs)
    candidates += decode_single_probe(texts, probs)
    best = max(labels.mean(), 1 - labels.mean())
    for guess in candidates:
        if len(np.unique(probs)) == 2:  # probe: unknown studies get the majority
            known = probs > 0.5
            guess = np.where(known, guess, majority)
        best = max(best, float((guess == labels).mean()))
    return best


# ---------------------------------------------------------------------------------------------
# The Codabench phases
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", [0, 1], ids=["development", "final"])
def test_one_submission_recovers_no_more_than_chance_from_any_published_file(hidden, tmp_path, task):
    tmp, truth, studies, labels = hidden
    for name, probs in attack_submissions(N).items():
        outputs = run_phase(tmp / "bundle", tmp_path / f"{name}-{task}", task, csv_of(studies, probs))
        assert set(outputs) == {"scores.json", "detailed_results.html"}
        recovered = best_recovery(list(outputs.values()), probs, labels)
        assert recovered <= chance(labels), (name, recovered)


def test_the_decoders_read_the_labels_where_the_policy_does_not_apply(hidden, tmp_path):
    """The ordinary leaderboard site draws the ROC curve: the same decoders read the labels off
    it (the increasing submission gives all of them, a one-study calibration bin gives one)."""
    tmp, truth, studies, labels = hidden
    subs = attack_submissions(N)
    site = build_board(tmp_path, truth, studies, subs, hidden_truth=False)
    texts = {slug: [p.read_text(encoding="utf-8") for p in site_files(site, slug)] for slug in subs}
    assert best_recovery(texts["increasing"], subs["increasing"], labels) == 1.0
    assert best_recovery(texts["random-order-1"], subs["random-order-1"], labels) == 1.0


def _probe(n: int, chosen) -> np.ndarray:
    probs = np.full(n, 0.1)
    probs[list(chosen)] = 0.9
    return probs


def _consistent_counts(f1: float, kappa: float, m: int, n: int, places: int) -> list[tuple[int, int]]:
    """Every (TP, P) -- abnormal studies in the probed set, in all -- whose F1 and kappa round to
    what was published."""
    found = []
    for positives in range(1, n):
        for tp in range(max(0, m + positives - n), min(m, positives) + 1):
            fp, fn = m - tp, positives - tp
            tn = n - tp - fp - fn
            f1_value = 2 * tp / (2 * tp + fp + fn)
            po = (tp + tn) / n
            pe = (m * positives + (n - m) * (n - positives)) / n**2
            kappa_value = (po - pe) / (1 - pe) if pe != 1 else 1.0
            if round(f1_value, places) == f1 and round(kappa_value, places) == kappa:
                found.append((tp, positives))
    return found


def adaptive_attack(n: int, budget: int, publish, places: int, set_sizes: list[int], fill: int) -> np.ndarray:
    """Spend ``budget`` submissions probing disjoint sets of the given sizes; each published
    (F1, kappa) pins down how many of the set are abnormal; a set whose count is certain and
    all-or-nothing is labelled exactly, a set whose count is uncertain gets its likelier class, and
    the unprobed studies get ``fill`` (the attacker is given the majority class for free)."""
    guess = np.full(n, fill)
    start = 0
    for m in itertools.islice(itertools.cycle(set_sizes), budget):
        chosen = range(start, start + m)
        start += m
        scores = publish(_probe(n, chosen))
        counts = _consistent_counts(scores["overall_f1"], scores["overall_kappa"], m, n, places)
        tps = {tp for tp, _ in counts}
        rate = np.mean([tp / m for tp, _ in counts]) if counts else 0.5
        guess[list(chosen)] = int(rate > 0.5)
        if len(tps) == 1 and next(iter(tps)) in (0, m):
            guess[list(chosen)] = int(next(iter(tps)) == m)
    return guess


def test_an_adaptive_attacker_spending_the_final_budget_on_scores_stays_at_chance(hidden, tmp_path):
    tmp, truth, studies, labels = hidden
    comp = yaml.safe_load((tmp / "bundle" / "competition.yaml").read_text(encoding="utf-8"))
    final_phase = comp["phases"][1]
    budget = final_phase["max_submissions"]
    settings = json.loads((tmp / "bundle" / "scoring_program_final" / "settings.json").read_text(encoding="utf-8"))
    places = max(settings["precision"].values())
    runs = itertools.count()

    def publish(probs):
        outputs = run_phase(tmp / "bundle", tmp_path / f"run{next(runs)}", 1, csv_of(studies, probs))
        return json.loads(outputs["scores.json"])

    for sizes in ([1], [3], [10], [100]):
        guess = adaptive_attack(N, budget, publish, places, sizes, fill=int(labels.mean() > 0.5))
        assert (guess == labels).mean() <= chance(labels), sizes
    # and the budget cannot carry the labels even in principle: at most about one label per bit
    bits = information_bits(final_columns(leaderboard_columns(with_difference=False)), budget)
    assert bits <= 0.2 * N and (budget, places) == (2, 2)


def test_per_part_columns_at_full_precision_pin_down_one_label_per_part_in_one_submission(hidden, tmp_path):
    """The residual risk the README states: one crafted development-phase submission (abnormal on
    one study of each body part) reads those seven labels off the <part>_f1 columns."""
    tmp, truth, studies, labels = hidden
    parts = [s.split("/")[2] for s in studies]
    chosen = [parts.index(p) for p in dict.fromkeys(parts)]
    outputs = run_phase(tmp / "bundle", tmp_path / "run", 0, csv_of(studies, _probe(N, chosen)))
    scores = json.loads(outputs["scores.json"])
    read = [int(scores[f"{parts[i][3:].lower()}_f1"] > 0) for i in chosen]
    assert read == [int(labels[i]) for i in chosen] and len(chosen) == 7


# ---------------------------------------------------------------------------------------------
# leaderboard build --hidden-truth
# ---------------------------------------------------------------------------------------------


def build_board(tmp: Path, truth: Path, studies: list[str], subs: dict[str, np.ndarray], *, hidden_truth: bool) -> Path:
    folder = tmp / ("subs-hidden" if hidden_truth else "subs")
    for slug, probs in subs.items():
        (folder / slug).mkdir(parents=True)
        (folder / slug / "predictions.csv").write_bytes(csv_of(studies, probs))
        (folder / slug / "submission.toml").write_text(f'name = "{slug}"\nreported = false\n', encoding="utf-8")
    site = tmp / ("site-hidden" if hidden_truth else "site")
    args = [
        "leaderboard",
        "build",
        str(folder),
        "--truth",
        str(truth),
        "--out",
        str(site),
        "--bootstrap",
        "20",
        "--quiet",
    ] + (["--hidden-truth"] if hidden_truth else [])
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return site


def site_files(site: Path, slug: str) -> list[Path]:
    """Every file of the site that could hold something of ``slug``: its page and plots, and the
    shared pages and downloads."""
    return [p for p in site.rglob("*") if p.is_file() and (slug in p.name or p.parent == site)]


def test_leaderboard_build_hidden_truth_recovers_no_more_than_chance(hidden, tmp_path):
    tmp, truth, studies, labels = hidden
    subs = attack_submissions(N)
    site = build_board(tmp_path, truth, studies, subs, hidden_truth=True)
    assert "ROC curve" not in (site / "entry" / "increasing.html").read_text(encoding="utf-8").split("<figcaption>")[0]
    for slug, probs in subs.items():
        texts = [p.read_text(encoding="utf-8") for p in site_files(site, slug)]
        recovered = best_recovery(texts, probs, labels)
        assert recovered <= chance(labels), (slug, recovered)
    # nothing per study anywhere: no study id of the truth appears in the site
    everything = "".join(p.read_text(encoding="utf-8", errors="replace") for p in site.rglob("*") if p.is_file())
    assert not any(s in everything for s in studies[:20])


# ---------------------------------------------------------------------------------------------
# MedPerf's results.yaml
# ---------------------------------------------------------------------------------------------


def test_medperf_results_recover_no_more_than_chance(hidden, tmp_path):
    tmp, truth, studies, labels = hidden
    for name, probs in attack_submissions(N).items():
        root = tmp_path / name
        for folder in ("predictions", "labels"):
            (root / folder).mkdir(parents=True)
        (root / "labels" / "truth.csv").write_bytes(truth.read_bytes())
        (root / "predictions" / "preds.csv").write_bytes(csv_of(studies, probs))
        (root / "parameters.yaml").write_text("bootstrap: 20\n", encoding="utf-8")
        result = CliRunner().invoke(
            cli,
            [
                "medperf",
                "evaluate",
                "--predictions",
                str(root / "predictions"),
                "--labels",
                str(root / "labels"),
                "--parameters-file",
                str(root / "parameters.yaml"),
                "--output-path",
                str(root / "results.yaml"),
            ],
        )
        assert result.exit_code == 0, result.output
        text = (root / "results.yaml").read_text(encoding="utf-8")
        assert set(yaml.safe_load(text)) <= {
            "overall_kappa",
            "overall_f1",
            "overall_auroc",
            "elbow_f1",
            "finger_f1",
            "forearm_f1",
            "hand_f1",
            "humerus_f1",
            "shoulder_f1",
            "wrist_f1",
        }
        assert best_recovery([text], probs, labels) <= chance(labels), name


# ---------------------------------------------------------------------------------------------
# A digest of the truth is a check for guesses
# ---------------------------------------------------------------------------------------------

_HEX = re.compile(r"[0-9a-f]{12,64}")
UNKNOWN = 12


def digest_attack(texts: list[str], truth_bytes: bytes, unknown: np.ndarray) -> np.ndarray | None:
    """An attacker who knows the truth file's format and every label but those of the rows
    ``unknown`` (learned elsewhere) tries each of their 2**k assignments and keeps the one whose
    SHA-256, or a prefix of 12 digits or more, appears in a published file; None when none does."""
    published = {match[:12] for text in texts for match in _HEX.findall(text)}
    lines = truth_bytes.decode("utf-8").splitlines(keepends=True)
    for bits in itertools.product("01", repeat=len(unknown)):
        for row, bit in zip(unknown, bits):
            lines[row] = lines[row][: lines[row].rindex(",") + 1] + bit + "\n"
        if hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()[:12] in published:
            return np.array([int(b) for b in bits])
    return None


def test_no_digest_of_a_hidden_truth_is_published(hidden, tmp_path):
    tmp, truth, studies, labels = hidden
    unknown = np.random.default_rng(3).choice(N, UNKNOWN, replace=False)
    probs = attack_submissions(N)["increasing"]

    def texts_of(folder: Path) -> list[str]:
        return [p.read_text(encoding="utf-8", errors="replace") for p in folder.rglob("*") if p.is_file()]

    # the ordinary site names its truth by SHA-256: every guess can be checked, the labels are found
    site = build_board(tmp_path, truth, studies, {"increasing": probs}, hidden_truth=False)
    assert np.array_equal(digest_attack(texts_of(site), truth.read_bytes(), unknown), labels[unknown])
    # a hidden truth: the leaderboard site and both Codabench phases publish no digest of it
    texts = texts_of(build_board(tmp_path, truth, studies, {"increasing": probs}, hidden_truth=True))
    for task in (0, 1):
        texts += list(run_phase(tmp / "bundle", tmp_path / f"digest-{task}", task, csv_of(studies, probs)).values())
    assert digest_attack(texts, truth.read_bytes(), unknown) is None
    digest = hashlib.sha256(truth.read_bytes()).hexdigest()
    assert not any(digest[:8] in text for text in texts)
    assert any("sha256 is withheld" in text for text in texts)
