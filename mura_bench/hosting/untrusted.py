"""The hosted scoring programs' inputs: one CSV per folder, a regular file inside it, read once.

A Codabench submission is unpacked by the worker into ``input/res`` and a MedPerf model container
writes its predictions folder itself: both are untrusted. :func:`read_folder_csv` finds the one
CSV directly inside a folder and reads it with :mod:`mura_bench.io.regular_files` (no symbolic link,
FIFO or device; opened without following links; size-capped like every input), so a submission
that is a link to the hidden truth is refused, and nothing of a link's target is read or quoted.
:func:`parse_bytes` parses those bytes with mura-bench's readers; their messages name the file as
the submitter knows it. File names are shown escaped (undecodable bytes and control characters
as ``\\xNN``).
"""

from __future__ import annotations

import dataclasses
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from mura_bench.errors import InputError
from mura_bench.io.outputs import display
from mura_bench.io.regular_files import read_regular_file, shown_name

#: Files a platform or an archiver puts next to the CSV, never the CSV itself.
IGNORED_PREFIXES = (".", "_")
T = TypeVar("T")


@dataclass(frozen=True)
class FolderCsv:
    """The one CSV of a folder: its name as shown in messages, its bytes, its file identity."""

    name: str
    data: bytes
    identity: tuple[int, int]


def _is_csv(name: str) -> bool:
    return name.lower().endswith(".csv")


def _visible_entries(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if not n.startswith(IGNORED_PREFIXES))


def read_folder_csv(folder: str | Path, *, what: str, place: str, hint: str | None = None) -> FolderCsv:
    """The one CSV file directly inside ``folder`` (any name, ``.csv`` in any case), read as an
    untrusted regular file. Other files (a platform's ``metadata``, hidden ``.*`` files,
    ``__MACOSX/``) are ignored. No CSV, several, a CSV only in a sub-folder, or a CSV that is a
    link or a special file is an :class:`InputError` naming what was found (escaped)."""
    from mura_bench.data.tabular import max_input_bytes

    folder = Path(folder)
    try:
        info = os.stat(folder)
        if not stat.S_ISDIR(info.st_mode):
            raise InputError(f"{what}: not a folder", source=display(folder))
        entries = _visible_entries(folder)
    except FileNotFoundError:
        raise InputError(f"{what}: folder not found", source=display(folder)) from None
    except OSError as exc:
        raise InputError(
            f"{what}: cannot list the folder: {exc.strerror or type(exc).__name__}", source=display(folder)
        ) from None
    csvs = [n for n in entries if _is_csv(n)]
    if len(csvs) > 1:
        raise InputError(
            f"{what}: expected one CSV file, found {len(csvs)}",
            source=display(folder),
            rows=[(None, shown_name(n)) for n in csvs],
            hint=hint,
        )
    if not csvs:
        nested = _nested_csvs(folder)
        if nested:
            raise InputError(
                f"{what}: the CSV file must sit at the top level, not in a folder",
                source=display(folder),
                rows=[(None, shown_name(n)) for n in nested],
                hint=hint,
            )
        found = ", ".join(shown_name(n) for n in entries) or "nothing"
        raise InputError(f"{what}: no CSV file found (found {found})", source=display(folder), hint=hint)
    name = csvs[0]

    def refuse(message: str) -> InputError:
        return InputError(f"{what}: {message}", source=display(folder), hint=hint)

    data = read_regular_file(folder, name, max_bytes=max_input_bytes(), error=refuse, place=place)
    if data is None:  # removed between the listing and the read
        raise refuse(f"{shown_name(name)} disappeared while it was read")
    found = os.lstat(folder / name)
    return FolderCsv(shown_name(name), data, (found.st_dev, found.st_ino))


def _nested_csvs(folder: Path) -> list[str]:
    """CSV files below the top level (links are not followed), relative names, sorted."""
    nested = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        rel = Path(root).relative_to(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(IGNORED_PREFIXES))
        if rel.parts:
            nested += [(rel / n).as_posix() for n in names if _is_csv(n) and not n.startswith(IGNORED_PREFIXES)]
    return sorted(nested)


def check_distinct_folders(first: str | Path, second: str | Path, *, what: str) -> None:
    """Refuse two input folders that are the same folder, or one inside the other (the
    predictions would then be read from the labels' folder, or the reverse)."""
    a, b = Path(first).resolve(), Path(second).resolve()
    if a == b or a.is_relative_to(b) or b.is_relative_to(a):
        raise InputError(
            f"{what}: the predictions and the labels must be in two separate folders",
            source=f"{display(first)}, {display(second)}",
        )


def check_distinct_files(predictions: FolderCsv, truth: FolderCsv, *, source: str) -> None:
    """Refuse predictions that are the labels' very file (a hard link, a bind mount)."""
    if predictions.identity == truth.identity:
        raise InputError("the predictions file is the labels file", source=source)


def parse_bytes(data: bytes, reader: Callable[[Path], T], *, source: str) -> T:
    """``reader`` (``read_predictions``, ``read_truth``) applied to ``data``, written to a private
    temporary file; its messages name ``source`` instead, and the object's ``path``/``source``
    field says ``source`` too."""
    with tempfile.TemporaryDirectory(prefix="mura-bench-input-") as tmp:
        path = Path(tmp) / "input.csv"
        path.write_bytes(data)
        try:
            found = reader(path)
        except InputError as exc:
            raise InputError(exc.problem, source=source, rows=exc.rows, hint=exc.hint) from None
    names = {f.name for f in dataclasses.fields(found)} if dataclasses.is_dataclass(found) else set()
    for field in ("path", "source"):
        if field in names:
            found = dataclasses.replace(found, **{field: source})
    return found
