"""A gallery of synthetic views: per body part, a few normal views and a few abnormal ones.

``mura-bench gallery --out docs/synthetic-gallery.png`` draws it (matplotlib, Agg). Abnormal
tiles are views that show their study's finding, captioned with its kind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mura_bench.data.layout import BODY_PARTS
from mura_bench.synth.table import synth_panel
from mura_bench.synth.views import DEFAULT_DIFFICULTY, check_difficulty, study_images, study_view_findings


def pick_views(
    *, per_class: int = 3, seed: int = 0, image_size: int = 96, difficulty: str = DEFAULT_DIFFICULTY
) -> dict[str, list[tuple[np.ndarray, str | None]]]:
    """Per body part, ``per_class`` normal views then ``per_class`` abnormal views (that show the
    finding), as (pixels, finding kind or None), from the valid split of ``seed``."""
    check_difficulty(difficulty)
    panel = synth_panel(2000, readers=0, seed=seed)
    picked: dict[str, list[tuple[np.ndarray, str | None]]] = {}
    for part in BODY_PARTS:
        normal: list[tuple[np.ndarray, str | None]] = []
        abnormal: list[tuple[np.ndarray, str | None]] = []
        for row in np.flatnonzero(panel.parts == part):
            bucket = abnormal if panel.labels[row] else normal
            if len(bucket) >= per_class:
                if len(normal) >= per_class and len(abnormal) >= per_class:
                    break
                continue
            findings = study_view_findings(panel, row, difficulty=difficulty)
            images = study_images(panel, row, image_size=image_size, difficulty=difficulty)
            view = next(j for j, f in enumerate(findings) if f is not None) if panel.labels[row] else 0
            bucket.append((images[view], findings[view]))
        picked[part] = normal + abnormal
    return picked


def write_gallery(
    out: str | Path, *, per_class: int = 3, seed: int = 0, image_size: int = 96, difficulty: str = DEFAULT_DIFFICULTY
) -> Path:
    """Write the gallery PNG to ``out`` (:func:`mura_bench.io.outputs.open_output`: a temporary file
    renamed into place; the folder must exist); returns the path. The output is checked before any
    drawing."""
    from mura_bench.io.outputs import check_output_file

    check_output_file(out)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    views = pick_views(per_class=per_class, seed=seed, image_size=image_size, difficulty=difficulty)
    cols = 2 * per_class
    fig, axes = plt.subplots(len(BODY_PARTS), cols, figsize=(1.45 * cols, 1.6 * len(BODY_PARTS)), squeeze=False)
    for r, part in enumerate(BODY_PARTS):
        for c, (pixels, finding) in enumerate(views[part]):
            ax = axes[r, c]
            ax.imshow(pixels, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(finding or "normal", fontsize=7, color="#b91c1c" if finding else "#374151")
            if c == 0:
                ax.set_ylabel(part, fontsize=8)
    fig.suptitle(f"Synthetic MURA views ({difficulty}): normal (left), abnormal (right)", fontsize=9)
    fig.tight_layout()
    out = Path(out)
    from mura_bench.io.outputs import open_output

    try:  # through outputs.py: the folder must exist, a path under a file or a special file is refused
        with open_output(out, binary=True) as handle:
            fig.savefig(handle, format="png", dpi=90, metadata={"Software": None})
    finally:
        plt.close(fig)
    return out
