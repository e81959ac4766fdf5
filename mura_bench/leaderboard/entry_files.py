"""Reading a submission's files as untrusted input (the build runs in CI on pull requests).

A submission may only hand in regular files that live inside its own folder. Symbolic links (to
``/etc/passwd``, to a token file, to another entry's files), hard-to-read special files (FIFOs that
block, devices that never end) and paths that resolve outside the folder are refused with a reason
that names the file and never shows what it points to. The checks and the link-free read are
:mod:`mura_bench.io.regular_files`'s (shared with the hosted scoring programs); this module raises
them as :class:`EntryFileError`, the skip reason of one entry.
"""

from __future__ import annotations

from pathlib import Path

from mura_bench.errors import EntryError
from mura_bench.io.regular_files import check_regular_file, read_regular_file

#: Largest ``submission.toml`` read (the historical leaderboard's is about 90 KB).
MAX_TOML_BYTES = 4 * 1024 * 1024
_PLACE = "submission"


class EntryFileError(EntryError):
    """A submission file that must not be read; the message is the skip reason."""


def check_entry_file(folder: Path, name: str) -> Path | None:
    """``folder/name`` when it is a regular file inside ``folder`` (no link), None when absent.

    Raises :class:`EntryFileError` for a symbolic link (dangling or not), a special file, a folder,
    a path that resolves outside ``folder`` or a file that cannot be inspected.
    """
    return check_regular_file(folder, name, error=EntryFileError, place=_PLACE)


def read_entry_file(folder: Path, name: str, *, max_bytes: int) -> bytes | None:
    """The bytes of ``folder/name`` (None when absent), read through a descriptor opened without
    following links and checked to be a regular file of at most ``max_bytes``."""
    return read_regular_file(folder, name, max_bytes=max_bytes, error=EntryFileError, place=_PLACE)


def check_entry_folder(folder: Path) -> None:
    """Refuse a submission folder that is a symbolic link (its files would live elsewhere)."""
    if folder.is_symlink():
        raise EntryFileError(
            "the submission folder is a symbolic link; submissions must be real folders inside the submissions folder"
        )


__all__ = ["EntryFileError", "MAX_TOML_BYTES", "check_entry_file", "check_entry_folder", "read_entry_file"]
