"""Synthetic truths and submissions for the hosting tests (Codabench bundle, MedPerf evaluator)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from mura_bench.synth import synth_panel

#: Small resample count: the tests compare with `mura-bench score` run with the same count.
BOOTSTRAP = 50
SEED = 3


def write_panel(path: Path, studies: int = 140, *, seed: int = 7, readers: int = 6) -> Path:
    """A synthetic reader panel ``study,reader_1..reader_N,label``."""
    panel = synth_panel(studies, readers=readers, seed=seed)
    lines = [",".join(["study", *panel.reader_names, "label"])]
    lines += [
        ",".join([s, *(str(int(v)) for v in reads), str(int(label))])
        for s, reads, label in zip(panel.study_ids, panel.readers, panel.labels)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_labels(path: Path, studies: int = 100, *, seed: int = 11) -> Path:
    """A synthetic single-label truth, the official headerless ``study/,label`` format."""
    panel = synth_panel(studies, readers=0, seed=seed)
    path.write_text("".join(f"{s},{int(y)}\n" for s, y in zip(panel.study_ids, panel.labels)), encoding="utf-8")
    return path


def truth_rows(truth: Path) -> list[str]:
    lines = truth.read_text(encoding="utf-8").splitlines()
    rows = lines[1:] if lines[0].startswith("study,") else lines
    return [r.split(",")[0] for r in rows]


def write_probabilities(path: Path, truth: Path, *, seed: int = 0) -> Path:
    """Noisy probabilities that carry some signal: the folder suffix plus noise."""
    rng = np.random.default_rng(seed)
    rows = ["study,probability"]
    for study in truth_rows(truth):
        base = 0.65 if "_positive" in study else 0.35
        rows.append(f"{study},{float(np.clip(base + rng.normal(0, 0.2), 0, 1)):.4f}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def write_binary_labels(path: Path, truth: Path, *, seed: int = 1) -> Path:
    """An official-format, labels-only submission (headerless ``study,0|1``)."""
    rng = np.random.default_rng(seed)
    rows = [f"{s},{int(('_positive' in s) != (rng.random() < 0.2))}" for s in truth_rows(truth)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def cli_scores(
    predictions: Path, truth: Path, *, bootstrap: int = BOOTSTRAP, seed: int = SEED, protocol: str = "auto"
) -> dict:
    """``mura-bench score --output json`` on the same files, in a separate process."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mura_bench.cli.main",
            "score",
            str(predictions),
            "--truth",
            str(truth),
            "--output",
            "json",
            "--bootstrap",
            str(bootstrap),
            "--seed",
            str(seed),
            "--protocol",
            protocol,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(out.stdout)


def expected_scores(doc: dict) -> dict[str, float]:
    """The flat scores a hosted evaluation must report, read off a ``mura-bench/score/v1`` JSON
    document (written independently of :mod:`mura_bench.hosting.scores`)."""
    overall = doc["groups"]["overall"]
    out = {"overall_kappa": overall["model"]["kappa"]["value"], "overall_f1": overall["model"]["f1"]["value"]}
    if "auroc" in overall["model"]:
        out["overall_auroc"] = overall["model"]["auroc"]["value"]
    if "difference" in overall:
        diff = overall["difference"]["f1"]
        out["f1_minus_radiologists"] = diff["value"]
        out["f1_minus_radiologists_ci_low"], out["f1_minus_radiologists_ci_high"] = diff["ci"]
    for part in ("elbow", "finger", "forearm", "hand", "humerus", "shoulder", "wrist"):
        if doc["groups"][part]["studies"]:
            out[f"{part}_f1"] = doc["groups"][part]["model"]["f1"]["value"]
    return out
