"""Write the embedded synthetic truth panel and the example re-scored submissions.

    python site/make_examples.py            # from the repository root

Deterministic: the same files every run (seeded NumPy generators, fixed formatting). Writes

* ``site/truth/valid_panel.csv``: 1,199 synthetic studies in MURA layout with a 6-reader panel
  (``mura_bench.synth.synth_panel(1199, readers=6, seed=0)``; header
  ``study,reader_1..reader_6,label``). Synthetic, so it may be committed (no MURA data).
* ``submissions/example-*/predictions.csv`` for the example entries below (their
  ``submission.toml`` files are written too).

The example models are noisy functions of the synthetic clinical label: a logistic score
``sigmoid(separation * (2 * label - 1) + noise)`` with normal noise, so a larger separation is a
better model; the separations keep every example below the simulated readers, as on MURA, where
the paper's model (kappa 0.705) stayed below the radiologists; the chance model draws uniform
probabilities.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mura_bench.synth import synth_panel  # noqa: E402
from mura_bench.synth.writer import write_panel_csv  # noqa: E402

STUDIES = 1199
SEED = 0

EXAMPLES = {
    # slug: (name, description, separation or None for chance, write 0/1 labels instead)
    "example-noisy-oracle": (
        "Noisy oracle",
        "The synthetic clinical label seen through logistic "
        "noise: a strong model, about as good as the MURA paper's DenseNet-169 "
        "(kappa near 0.7), below the readers.",
        1.1,
        False,
    ),
    "example-weak-model": (
        "Weak noisy model",
        "The synthetic clinical label seen through heavier logistic noise: a weak model.",
        0.5,
        False,
    ),
    "example-labels-only": (
        "Thresholded model (0/1 labels)",
        "A medium model submitted in the official 0/1 format: no probabilities, so no AUROC.",
        0.85,
        True,
    ),
    "example-chance": ("Chance", "Uniform random probabilities, independent of the studies.", None, False),
}


def write_truth(path: Path) -> tuple[list[str], np.ndarray]:
    panel = synth_panel(STUDIES, readers=6, seed=SEED)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_panel_csv(path, panel)
    return panel.study_ids, panel.labels


def example_scores(labels: np.ndarray, separation: float | None, seed: int) -> np.ndarray:
    rng = np.random.default_rng([SEED, seed])
    if separation is None:
        return rng.random(len(labels))
    logits = separation * (2.0 * labels - 1.0) + rng.normal(0.0, 1.0, len(labels))
    return 1.0 / (1.0 + np.exp(-logits))


def toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


#: Built-in plugin models run, through the model runner, over the synthetic images that match the
#: embedded panel (``mura-bench synth --studies 1199 --seed 0`` makes the same valid split).
PLUGIN_RUNS = {
    "builtin-image-statistics": (
        "image-statistics",
        "image-statistics (built-in plugin)",
        "Fraction of near-white pixels through a logistic link; run with "
        "`mura-bench run image-statistics` on the realistic synthetic images, "
        "where pixel statistics are near chance.",
    ),
    "builtin-constant-prior": (
        "constant-prior",
        "constant-prior (built-in plugin)",
        "Predicts MURA's train abnormal-study fraction for every image: the floor a model must beat.",
    ),
}


def write_submission_toml(folder: Path, name: str, description: str) -> None:
    (folder / "submission.toml").write_text(
        f"name = {toml_string(name)}\n"
        f'team = "mura-bench examples"\n'
        f"description = {toml_string(description + ' Made by site/make_examples.py on the embedded synthetic panel.')}\n"
        f"date = 2026-01-01\n"
        f"reported = false\n",
        encoding="utf-8",
    )


def run_plugins() -> None:
    """Generate the synthetic images of the embedded panel and run the built-in models on them."""
    import tempfile

    from mura_bench.data.layout import load_split
    from mura_bench.models.registry import load_model
    from mura_bench.models.runner import RunKey, predict_split
    from mura_bench.synth import generate

    with tempfile.TemporaryDirectory() as tmp:
        generate(tmp, studies=STUDIES, train_studies=1, readers=6, seed=SEED, difficulty="realistic")
        panel = Path(tmp) / "MURA-v1.1" / "valid_panel.csv"
        if panel.read_bytes() != (ROOT / "site" / "truth" / "valid_panel.csv").read_bytes():
            raise SystemExit("the generated images do not match site/truth/valid_panel.csv")
        index = load_split(tmp, "valid")
        for slug, (model_name, name, description) in PLUGIN_RUNS.items():
            folder = ROOT / "submissions" / slug
            folder.mkdir(parents=True, exist_ok=True)
            predict_split(
                load_model(model_name, {}),
                index,
                folder / "predictions.csv",
                key=RunKey(model_name, {}, "valid", "synthetic"),
                resume=False,
            )
            write_submission_toml(folder, name, description)
            print(folder)


def main() -> None:
    studies, labels = write_truth(ROOT / "site" / "truth" / "valid_panel.csv")
    for index, (slug, (name, description, separation, as_labels)) in enumerate(EXAMPLES.items()):
        folder = ROOT / "submissions" / slug
        folder.mkdir(parents=True, exist_ok=True)
        scores = example_scores(labels, separation, index + 1)
        if as_labels:
            rows = [f"{s},{int(p > 0.5)}" for s, p in zip(studies, scores)]
        else:
            rows = ["study,probability"] + [f"{s},{p:.4f}" for s, p in zip(studies, scores)]
        (folder / "predictions.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        write_submission_toml(folder, name, description)
        print(folder)
    run_plugins()


if __name__ == "__main__":
    main()
