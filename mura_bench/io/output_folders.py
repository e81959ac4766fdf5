"""Safe output folders: created with the umask's permissions, staged beside their destination and
renamed into place, replaced only when mura-bench made them (a marker file says so).

The contract is that of :mod:`mura_bench.io.outputs` (whose checks these functions run): a folder is
replaced or deleted only when it carries a marker file that mura-bench wrote
(:func:`owned_by_mura_bench`); a staging folder (:func:`staging_dir`) is removed on errors, Ctrl-C
and SIGTERM, and :func:`replace_dir` moves it into place.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mura_bench.errors import InputError
from mura_bench.io.outputs import (
    check_name_length,
    check_not_input,
    check_parent,
    cleanup_on_signals,
    display,
    output_error,
    temp_name,
)


def owned_by_mura_bench(folder: str | os.PathLike, marker: str) -> bool:
    """True when ``folder`` is a real folder (not a symlink) holding the marker file ``marker``."""
    folder = Path(folder)
    return folder.is_dir() and not folder.is_symlink() and (folder / marker).is_file()


def check_replaceable_dir(
    dest: str | os.PathLike, marker: str, *, option: str = "--out", inputs: Iterable[str | os.PathLike] = ()
) -> None:
    """Refuse a folder destination that mura-bench may not replace: a file, a symlink, or a
    non-empty folder without ``marker``; or one holding an input of the command."""
    dest = Path(dest)
    check_name_length(dest, option=option)
    check_not_input(dest, inputs=inputs, option=option)
    if dest.is_symlink():
        raise InputError(f"{option} is a symlink; refusing to replace it", source=display(dest))
    if dest.exists() and not dest.is_dir():
        raise InputError(f"{option} exists and is not a folder", source=display(dest))
    if dest.is_dir() and any(dest.iterdir()) and not owned_by_mura_bench(dest, marker):
        raise InputError(
            f"{option} is a non-empty folder that is not an earlier build of mura-bench "
            f"(no {marker} file); refusing to replace it",
            source=display(dest),
            hint="choose an empty or new folder",
        )


def make_dir(folder: Path) -> None:
    """mkdir with the umask's permissions (the parent must exist)."""
    folder.mkdir(mode=0o777)


def ensure_output_dir(folder: str | os.PathLike, *, option: str = "--out") -> Path:
    """Create the folder an option names (with its parents, umask permissions) unless it exists;
    InputError when it is a file, lies under a file, or cannot be created."""
    folder = Path(folder)
    for part in (folder, *folder.parents):
        check_name_length(part, option=option)
    try:
        if folder.exists() and not folder.is_dir():
            raise InputError(f"{option} exists and is not a folder", source=display(folder))
        folder.mkdir(mode=0o777, parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(f"{option} exists and is not a folder", source=display(folder)) from None
    except NotADirectoryError:
        raise InputError(f"{option}: a component of the path is a file, not a folder", source=display(folder)) from None
    except OSError as exc:
        raise output_error(exc, folder, option=option) from None
    return folder


@contextmanager
def staging_dir(dest: str | os.PathLike, *, option: str = "--out") -> Iterator[Path]:
    """A new, empty folder beside ``dest`` (short hidden name, umask permissions), removed with
    its content when the block fails, is interrupted (Ctrl-C) or the process gets SIGTERM; left in
    place on success, for :func:`replace_dir` to move."""
    dest = Path(dest)
    parent = check_parent(dest, option=option)
    tmp = parent / temp_name(dest.name, "partial")
    try:
        make_dir(tmp)
    except OSError as exc:
        raise output_error(exc, dest, option=option) from None
    try:
        with cleanup_on_signals():
            yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_dir(staged: Path, dest: str | os.PathLike, marker: str | None, *, option: str = "--out") -> None:
    """Move the finished folder ``staged`` to ``dest``. An existing ``dest`` must be empty or carry
    ``marker`` (checked again here); it is renamed away first and removed after the move."""
    dest = Path(dest)
    old = None
    try:
        with cleanup_on_signals():
            if dest.exists() or dest.is_symlink():
                if marker is None or not (owned_by_mura_bench(dest, marker) or _empty_dir(dest)):
                    raise InputError(
                        f"{option} exists and mura-bench did not create it; refusing to replace it",
                        source=display(dest),
                    )
                old = dest.parent / temp_name(dest.name, "old")
                os.rename(dest, old)
            os.rename(staged, dest)
    except OSError as exc:
        raise output_error(exc, dest, option=option) from None
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _empty_dir(folder: Path) -> bool:
    return folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir())
