"""``mura-bench demo``: the whole path on generated synthetic data, in seconds.

1. generate a small synthetic MURA-layout dataset with a 6-reader panel (cached between runs);
2. produce example prediction files: a noisy oracle and a chance model written directly, and the
   built-in ``image-statistics`` plugin run through the model runner;
3. score each with the leave-one-out panel protocol and print one table per file;
4. build the demo leaderboard site from them and print the absolute path of its ``index.html``.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from mura_bench import __version__

DEMO_STUDIES = 120
DEMO_SEED = 0
#: Bump when the demo's generated content changes, so stale caches are rebuilt.
CACHE_VERSION = f"{__version__}-2"


def default_cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mura-bench" / "demo"


#: Marker file of a demo cache: the demo deletes and replaces things only inside a folder holding
#: it (``dataset.version`` marks caches written by earlier versions).
CACHE_MARKER = ".mura-bench-demo"


def claim_cache(cache: Path) -> Path:
    """Make ``cache`` the demo's folder: a new or empty folder (then marked), or one the demo marked
    before. Any other folder (a user's dataset, submissions, ...) is an InputError: the demo
    replaces what it finds in its cache, so it never works in a folder it did not create."""
    from mura_bench.errors import InputError
    from mura_bench.output_folders import ensure_output_dir, owned_by_mura_bench
    from mura_bench.outputs import check_name_length, display

    check_name_length(cache, option="--cache")
    if cache.is_symlink() or (cache.exists() and not cache.is_dir()):
        raise InputError("--cache is not a folder", source=display(cache))
    owned = owned_by_mura_bench(cache, CACHE_MARKER) or owned_by_mura_bench(cache, "dataset.version")
    if cache.is_dir() and not owned and any(cache.iterdir()):
        raise InputError(f"--cache is a non-empty folder that is not an earlier build of the demo (no "
                         f"{CACHE_MARKER} file); the demo replaces the data in its cache, so it refuses to "
                         "use this folder", source=display(cache), hint="choose a new or empty folder")
    ensure_output_dir(cache, option="--cache")
    (cache / CACHE_MARKER).write_text("mura-bench demo cache; mura-bench demo replaces its content\n")
    return cache


def ensure_dataset(cache: Path) -> Path:
    """The cached demo dataset root (the folder holding MURA-v1.1/), generated when absent or stale."""
    from mura_bench.synth import SYNTH_MARKER, generate

    marker = cache / "dataset.version"
    if marker.is_file() and marker.read_text().strip() == CACHE_VERSION and (cache / "MURA-v1.1").is_dir():
        return cache
    previous = cache / "MURA-v1.1"
    if previous.is_dir() and not previous.is_symlink() and not (previous / SYNTH_MARKER).is_file():
        shutil.rmtree(previous)          # written by an earlier demo into its own cache
    generate(cache, studies=DEMO_STUDIES, readers=6, seed=DEMO_SEED, overwrite=True)
    marker.write_text(CACHE_VERSION + "\n")
    return cache


def noisy_oracle(labels: np.ndarray, n_images: list[int], rng: np.random.Generator) -> list[np.ndarray]:
    """Per-image probabilities: the study label seen through logistic noise (a strong model)."""
    return [1 / (1 + np.exp(-(2.0 * (2 * y - 1) + rng.normal(0, 1.5, k)))) for y, k in zip(labels, n_images)]


def chance(labels: np.ndarray, n_images: list[int], rng: np.random.Generator) -> list[np.ndarray]:
    """Per-image probabilities drawn uniformly, independent of the study."""
    return [rng.random(k) for k in n_images]


EXAMPLES = {
    "noisy-oracle": ("Noisy oracle", "The study label seen through logistic noise.", noisy_oracle),
    "chance": ("Chance", "Uniform random probabilities.", chance),
}


def write_examples(root: Path, out: Path) -> dict[str, Path]:
    """Write the example prediction files (image-level, format 3) into ``out``; returns slug -> file."""
    from mura_bench.layout import load_split
    from mura_bench.models.registry import load_model
    from mura_bench.models.runner import RunKey, predict_split
    from mura_bench.prediction_writer import write_image_predictions

    index = load_split(root, "valid")
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    n_images = [len(index.images[s]) for s in index.studies]
    for i, (slug, (_, _, make)) in enumerate(EXAMPLES.items()):
        probs = make(index.labels, n_images, np.random.default_rng([DEMO_SEED, i]))
        rows = [(img, float(p)) for s, ps in zip(index.studies, probs) for img, p in zip(index.images[s], ps)]
        files[slug] = out / f"{slug}.csv"
        write_image_predictions(files[slug], rows)
    files["image-statistics"] = out / "image-statistics.csv"
    model = load_model("image-statistics", {})
    predict_split(model, index, files["image-statistics"],
                  key=RunKey("image-statistics", {}, "valid", str(root)), resume=False)
    return files


def write_submissions(files: dict[str, Path], folder: Path) -> Path:
    """One leaderboard submission folder per example prediction file."""
    if folder.is_symlink():
        folder.unlink()
    elif folder.exists():
        shutil.rmtree(folder)            # inside the demo's own cache (claim_cache)
    described = {**{slug: (name, desc) for slug, (name, desc, _) in EXAMPLES.items()},
                 "image-statistics": ("image-statistics (built-in plugin)",
                                      "Fraction of near-white pixels through a logistic link, run with mura-bench run.")}
    for slug, path in files.items():
        sub = folder / slug
        sub.mkdir(parents=True)
        name, desc = described[slug]
        (sub / "submission.toml").write_text(
            f'name = "{name}"\nteam = "mura-bench demo"\ndescription = "{desc}"\n'
            f'date = 2026-01-01\nreported = false\n')
        shutil.copyfile(path, sub / "predictions.csv")
    return folder


def run_demo(cache: Path | None = None, *, resamples: int = 2000, build_site: bool = True) -> Path | None:
    """Run the demo; returns the path of the built ``index.html`` (None with ``build_site=False``)."""
    from mura_bench import render
    from mura_bench.scoring import score_many
    from mura_bench.terminal import echo

    cache = claim_cache(Path(cache) if cache else default_cache())
    root = ensure_dataset(cache)
    panel = root / "MURA-v1.1" / "valid_panel.csv"
    files = write_examples(root, cache / "predictions")
    results = score_many(list(files.values()), panel, resamples=resamples, seed=0)
    for result in results:
        render.print_table(result, readers=False)
        echo()
    if not build_site:
        return None
    from mura_bench.leaderboard.build import build_site as build

    report = build(write_submissions(files, cache / "submissions"), panel, cache / "site",
                   resamples=resamples, seed=0, title="mura-bench demo leaderboard (synthetic data)")
    index = report.index_html.resolve()
    echo(f"demo leaderboard: {index}")
    return index
