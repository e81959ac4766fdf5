"""Synthetic data in the exact MURA-v1.1 layout, with a simulated radiologist panel.

MURA itself may not be redistributed, so examples, tests and the demo run on data made here:

* :func:`synth_panel` builds the study table of one split (study ids, body parts, labels, images per
  study and a reader matrix) without touching the disk (:mod:`.table`, readers in :mod:`.readers`);
* :func:`study_images` draws a study's views at a difficulty (:mod:`.views`): ``realistic`` (the
  default; :mod:`.realistic`: subtle, varied abnormalities among the things that fool pixel
  statistics) or ``easy`` (:mod:`.easy`: bright hardware that a pixel heuristic finds);
* :func:`generate` writes ``OUT/MURA-v1.1/{train,valid}/XR_<PART>/patient<ID>/study<K>_<suffix>/
  image<J>.png``, both headerless CSVs per split and ``OUT/MURA-v1.1/valid_panel.csv``
  (``study,reader_1..reader_N,label``) (:mod:`.writer`);
* :func:`is_synthetic_study` tells synthetic study ids (patients numbered from 500,001) from MURA's.

Same seed and difficulty, same bytes; asking for more studies only appends studies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

#: Where each public name lives: imported on first use, so that importing one submodule (for
#: example :mod:`.table` for :func:`is_synthetic_study`) does not import the image code and scipy.
_HOMES = {
    "PAPER_RADIOLOGIST_F1": "readers",
    "READER_ACCURACY": "readers",
    "SPEC_MARGIN": "readers",
    "calibrate_reader_accuracy": "readers",
    "expected_loo_f1": "readers",
    "reader_offsets": "readers",
    "reader_rates": "readers",
    "REAL_COUNTS": "table",
    "SynthPanel": "table",
    "is_synthetic_study": "table",
    "synth_panel": "table",
    "DEFAULT_DIFFICULTY": "views",
    "DIFFICULTIES": "views",
    "FINDING_RATE": "views",
    "render_image": "views",
    "study_findings": "views",
    "study_images": "views",
    "study_view_findings": "views",
    "SYNTH_MARKER": "writer",
    "SynthSummary": "writer",
    "generate": "writer",
}

if TYPE_CHECKING:
    from mura_bench.synth.readers import (
        PAPER_RADIOLOGIST_F1,
        READER_ACCURACY,
        SPEC_MARGIN,
        calibrate_reader_accuracy,
        expected_loo_f1,
        reader_offsets,
        reader_rates,
    )
    from mura_bench.synth.table import REAL_COUNTS, SynthPanel, is_synthetic_study, synth_panel
    from mura_bench.synth.views import (
        DEFAULT_DIFFICULTY,
        DIFFICULTIES,
        FINDING_RATE,
        render_image,
        study_findings,
        study_images,
        study_view_findings,
    )
    from mura_bench.synth.writer import SYNTH_MARKER, SynthSummary, generate


__all__ = [
    "DEFAULT_DIFFICULTY",
    "DIFFICULTIES",
    "FINDING_RATE",
    "PAPER_RADIOLOGIST_F1",
    "READER_ACCURACY",
    "REAL_COUNTS",
    "SPEC_MARGIN",
    "SYNTH_MARKER",
    "SynthPanel",
    "SynthSummary",
    "calibrate_reader_accuracy",
    "expected_loo_f1",
    "generate",
    "is_synthetic_study",
    "reader_offsets",
    "reader_rates",
    "render_image",
    "study_findings",
    "study_images",
    "study_view_findings",
    "synth_panel",
]


def __getattr__(name: str):
    if name in _HOMES:
        value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names, the lazily imported ones included."""
    return sorted(set(globals()) | set(__all__))
