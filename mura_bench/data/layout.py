"""The MURA dataset layout: study / patient / body part / split from paths, and the official CSVs.

A study id is ``MURA-v1.1/<split>/XR_<PART>/patient<ID>/study<K>_<positive|negative>/`` (with the
trailing slash, as the official files write it); an image path is a study id followed by the image
file name. Paths are normalised to start at ``MURA-v1.1/``: anything before it is stripped
(``/data/MURA-v1.1/valid/...``) and it is added when absent (``valid/XR_WRIST/...``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mura_bench.errors import InputError
from mura_bench.data.tabular import check_column_count, check_unique, raise_first, read_rows

ROOT_NAME = "MURA-v1.1"
BODY_PARTS: tuple[str, ...] = ("elbow", "finger", "forearm", "hand", "humerus", "shoulder", "wrist")
#: Result groups: every body part, then all studies together.
GROUPS: tuple[str, ...] = BODY_PARTS + ("overall",)
SPLITS: tuple[str, ...] = ("train", "valid", "test")
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg")

_STUDY_RE = re.compile(
    r"^(?P<split>train|valid|test)/XR_(?P<part>[A-Z]+)/(?P<patient>patient\d+)/"
    r"(?P<study>study\d+(?:_(?:positive|negative))?)/?(?P<image>[^/]+)?$"
)


@dataclass(frozen=True)
class MuraPath:
    """A parsed MURA path. ``image`` is the file name for an image path, None for a study path."""

    study_id: str
    split: str
    part: str
    patient: str
    study: str
    image: str | None

    @property
    def image_path(self) -> str | None:
        return None if self.image is None else self.study_id + self.image

    @property
    def folder_label(self) -> int | None:
        """1 for ``_positive``, 0 for ``_negative``, None when the folder has no suffix."""
        if self.study.endswith("_positive"):
            return 1
        if self.study.endswith("_negative"):
            return 0
        return None


def _relative_to_root(path: str) -> str:
    path = path.strip().replace("\\", "/")
    marker = ROOT_NAME + "/"
    at = path.find(marker)
    if at >= 0:
        return path[at + len(marker) :]
    return path.lstrip("./") if path.startswith("./") else path.lstrip("/")


@functools.lru_cache(maxsize=1 << 16)  # a leaderboard parses the same study ids for every entry
def parse_path(path: str) -> MuraPath:
    """Parse a study or image path in MURA layout. Raises ValueError (with the reason) otherwise.
    (Results are immutable and cached.)"""
    rel = _relative_to_root(path)
    match = _STUDY_RE.match(rel)
    if match is None:
        raise ValueError(f"not a MURA study or image path: {path!r}")
    part = match["part"].lower()
    if part not in BODY_PARTS:
        raise ValueError(f"unknown body part XR_{match['part']} in {path!r}")
    image = match["image"]
    if image is not None and not image.lower().endswith(IMAGE_SUFFIXES):
        raise ValueError(f"not an image file name ({', '.join(IMAGE_SUFFIXES)}): {path!r}")
    study_id = f"{ROOT_NAME}/{match['split']}/XR_{match['part']}/{match['patient']}/{match['study']}/"
    return MuraPath(study_id, match["split"], part, match["patient"], match["study"], image)


def body_part_of(study_ids: list[str] | np.ndarray) -> np.ndarray:
    """Body part name per study id, as an array of strings."""
    return np.array(BODY_PARTS, dtype=object)[part_index(study_ids)]


def part_index(study_ids: list[str] | np.ndarray) -> np.ndarray:
    """Index into :data:`BODY_PARTS` per study id (int array); raises ValueError (from
    :func:`parse_path`) for a path not in MURA layout."""
    texts = [str(s) for s in study_ids]
    column = parse_path_column(texts)
    if column is not None:
        return column.parts
    lookup = {p: i for i, p in enumerate(BODY_PARTS)}
    return np.array([lookup[parse_path(s).part] for s in texts], dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# Whole columns of paths at once
# ---------------------------------------------------------------------------------------------

#: A CSV field holding a MURA path in the forms that :func:`parse_path` accepts most often, as a
#: regular expression with two groups: the study (``<split>/XR_<PART>/patient<ID>/study<K>...``,
#: without the root and the trailing slash) and the image file name ("" for a study path). The
#: field may carry blanks around it (fields are stripped) and anything before the *first*
#: ``MURA-v1.1/``, or leading slashes; it holds no comma, newline or backslash. Every path it
#: matches is one :func:`parse_path` accepts, with study id ``MURA-v1.1/<study>/`` and image path
#: that plus the name (the readers rely on this; other forms go through :func:`parse_path`).
PATH_FIELD = (
    r"[ \t]*(?:(?:(?!MURA-v1\.1/)[^,\n\\])*MURA-v1\.1/|/*)"
    r"((?:train|valid|test)/XR_(?:" + "|".join(p.upper() for p in BODY_PARTS) + r")"
    r"/patient[0-9]+/study[0-9]+(?:_positive|_negative)?)"
    r"(?:/((?:[^/,\n\\]*\.(?:[pP][nN][gG]|[jJ][pP][gG]|[jJ][pP][eE][gG]))?))?[ \t]*"
)
_PATH_COLUMN_RE = re.compile("^" + PATH_FIELD + "$", re.MULTILINE)
_PART_CODES = {"XR_" + p.upper(): i for i, p in enumerate(BODY_PARTS)}


def study_ids_of(studies: Sequence[str]) -> list[str]:
    """The study id of each study group of :data:`PATH_FIELD`."""
    return [f"{ROOT_NAME}/{s}/" for s in studies]


def parts_of(studies: Sequence[str]) -> np.ndarray:
    """Index into :data:`BODY_PARTS` (int64) of each study group of :data:`PATH_FIELD`."""
    found = _PART_RE.findall("\n".join(studies))
    return np.fromiter(map(_PART_CODES.__getitem__, found), dtype=np.int64, count=len(found))


_PART_RE = re.compile(r"^[a-z]+/(XR_[A-Z]+)/", re.MULTILINE)


class StudyCodes:
    """Codes of the studies named by the study group of :data:`PATH_FIELD`, given a column at a
    time: :meth:`codes` numbers each distinct study in order of first appearance, so code ``c``
    is ``study_ids[c]`` (and its body part ``parts[c]``)."""

    def __init__(self) -> None:
        self._code: dict[str, int] = {}

    def codes(self, studies: Sequence[str]) -> np.ndarray:
        """int64 code per entry of ``studies``."""
        known = self._code
        fresh = [s for s in dict.fromkeys(studies) if s not in known]
        known.update(zip(fresh, range(len(known), len(known) + len(fresh))))
        return np.fromiter(map(known.__getitem__, studies), dtype=np.int64, count=len(studies))

    def __len__(self) -> int:
        return len(self._code)

    @property
    def study_ids(self) -> list[str]:
        """The study ids, by code."""
        return study_ids_of(list(self._code))

    @property
    def parts(self) -> np.ndarray:
        """The body part of each study (index into BODY_PARTS), by code."""
        return parts_of(list(self._code))


@dataclass(frozen=True)
class PathColumn:
    """A column of paths parsed at once: per path its study id, body part (index into
    BODY_PARTS) and image file name ("" for a study path)."""

    study_ids: list[str]
    parts: np.ndarray
    images: list[str]


def parse_path_column(paths: Sequence[str]) -> PathColumn | None:
    """Parse a whole column of paths with one regular expression (:data:`PATH_FIELD`): the result
    is what :func:`parse_path` gives for each path. None when some path is in another form (or not
    in MURA layout): parse those one by one with :func:`parse_path`, which names the fault."""
    if not paths:
        return PathColumn([], np.zeros(0, dtype=np.int64), [])
    text = "\n".join(paths)
    if "\\" in text or "," in text or text.count("\n") != len(paths) - 1:
        return None
    found = _PATH_COLUMN_RE.findall(text)
    if len(found) != len(paths):
        return None
    studies, images = zip(*found)
    return PathColumn(study_ids_of(studies), parts_of(studies), list(images))


# ---------------------------------------------------------------------------------------------
# The official CSVs
# ---------------------------------------------------------------------------------------------


def read_labeled_studies(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Read a headerless ``*_labeled_studies.csv`` (``study/,label``).

    Returns study ids (normalised, file order) and labels (int8 0/1). Raises InputError on any
    malformed row, unknown path, non-binary label or duplicate study, naming the lines.
    """
    source = str(path)
    rows = read_rows(path, what="labeled studies")
    check_column_count(rows, 2, source=source, what="labeled studies")
    studies, labels, bad_path, bad_label = [], [], [], []
    for row in rows:
        try:
            info = parse_path(row.fields[0])
        except ValueError as exc:
            bad_path.append((row.line, str(exc)))
            continue
        if info.image is not None:
            bad_path.append((row.line, f"an image path where a study is expected: {row.fields[0]}"))
            continue
        if row.fields[1] not in ("0", "1"):
            bad_label.append((row.line, f"label {row.fields[1]!r}"))
            continue
        studies.append(info.study_id)
        labels.append(int(row.fields[1]))
    raise_first([("paths not in MURA layout", bad_path), ("labels must be 0 or 1", bad_label)], source=source)
    check_unique(studies, [r.line for r in rows], source=source, what="study")
    return studies, np.asarray(labels, dtype=np.int8)


def read_image_paths(path: str | Path) -> list[str]:
    """Read a headerless ``*_image_paths.csv`` (one image path a row); normalised, file order."""
    source = str(path)
    rows = read_rows(path, what="image paths")
    check_column_count(rows, 1, source=source, what="image paths")
    images, bad = [], []
    for row in rows:
        try:
            info = parse_path(row.fields[0])
        except ValueError as exc:
            bad.append((row.line, str(exc)))
            continue
        if info.image is None:
            bad.append((row.line, f"a study path where an image is expected: {row.fields[0]}"))
            continue
        images.append(info.image_path)
    raise_first([("paths not in MURA layout", bad)], source=source)
    check_unique(images, [r.line for r in rows], source=source, what="image")
    return images


@dataclass(frozen=True)
class SplitIndex:
    """One split of a MURA-layout dataset on disk.

    ``root`` is the folder that contains ``MURA-v1.1/``; image paths are relative to it.
    ``studies`` are sorted study ids, ``labels`` their labels, ``images`` maps each study id to its
    image paths in file order.
    """

    root: Path
    split: str
    studies: list[str]
    labels: np.ndarray
    images: dict[str, list[str]]

    def image_file(self, image_path: str) -> Path:
        return self.root / image_path

    @property
    def parts(self) -> np.ndarray:
        return body_part_of(self.studies)


def dataset_root(data_dir: str | Path) -> Path:
    """The folder holding ``MURA-v1.1/``: accepts that folder itself or ``MURA-v1.1/``."""
    data_dir = Path(data_dir)
    if (data_dir / ROOT_NAME).is_dir():
        return data_dir
    if data_dir.name == ROOT_NAME and data_dir.is_dir():
        return data_dir.parent
    raise InputError(f"no {ROOT_NAME}/ folder here (expected {data_dir / ROOT_NAME})", source=str(data_dir))


def load_split(data_dir: str | Path, split: str) -> SplitIndex:
    """Load ``<split>_labeled_studies.csv`` and ``<split>_image_paths.csv`` of a MURA-layout folder.

    Checks that every image belongs to a labelled study of that split and every study has at least
    one image; raises InputError naming the offenders otherwise.
    """
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    root = dataset_root(data_dir)
    base = root / ROOT_NAME
    studies, labels = read_labeled_studies(base / f"{split}_labeled_studies.csv")
    images = read_image_paths(base / f"{split}_image_paths.csv")
    by_study: dict[str, list[str]] = {s: [] for s in studies}
    orphans = []
    for line, image in enumerate(images, 1):
        info = parse_path(image)
        if info.split != split or info.study_id not in by_study:
            orphans.append((line, image))
        else:
            by_study[info.study_id].append(image)
    if orphans:
        raise InputError(
            f"images of studies not in {split}_labeled_studies.csv",
            source=str(base / f"{split}_image_paths.csv"),
            rows=orphans,
        )
    empty = [(None, s) for s, imgs in by_study.items() if not imgs]
    if empty:
        raise InputError("studies without images", source=str(base / f"{split}_labeled_studies.csv"), rows=empty)
    order = np.argsort(np.asarray(studies, dtype=object), kind="stable")
    sorted_studies = [studies[i] for i in order]
    return SplitIndex(root, split, sorted_studies, labels[order], {s: by_study[s] for s in sorted_studies})
