"""Reading a submission's files as untrusted input (the build runs in CI on pull requests).

A submission may only hand in regular files that live inside its own folder. Symbolic links (to
``/etc/passwd``, to a token file, to another entry's files), hard-to-read special files (FIFOs that
block, devices that never end) and paths that resolve outside the folder are refused with a reason
that names the file and never shows what it points to. Files are opened without following links
and checked again on the open descriptor, so a link swapped in between the check and the read is
refused too.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from mura_bench.errors import EntryError

#: Largest ``submission.toml`` read (the historical leaderboard's is about 90 KB).
MAX_TOML_BYTES = 4 * 1024 * 1024


class EntryFileError(EntryError):
    """A submission file that must not be read; the message is the skip reason."""


def _describe_mode(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _refuse(name: str, what: str) -> EntryFileError:
    return EntryFileError(f"{name} is {what}; submission files must be regular files inside the "
                          "submission folder (symbolic links are refused)")


def check_entry_file(folder: Path, name: str) -> Path | None:
    """``folder/name`` when it is a regular file inside ``folder`` (no link), None when absent.

    Raises :class:`EntryFileError` for a symbolic link (dangling or not), a special file, a folder,
    a path that resolves outside ``folder`` or a file that cannot be inspected.
    """
    path = folder / name
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise EntryFileError(f"cannot inspect {name}: {exc.strerror or type(exc).__name__}") from None
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(name, _describe_mode(info.st_mode))
    try:
        inside = path.resolve(strict=True).is_relative_to(folder.resolve(strict=True))
    except (OSError, RuntimeError):
        inside = False
    if not inside:
        raise _refuse(name, "outside the submission folder")
    return path


def read_entry_file(folder: Path, name: str, *, max_bytes: int) -> bytes | None:
    """The bytes of ``folder/name`` (None when absent), read through a descriptor opened without
    following links and checked to be a regular file of at most ``max_bytes``."""
    path = check_entry_file(folder, name)
    if path is None:
        return None
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refuse(name, "a symbolic link") from None
        raise EntryFileError(f"cannot read {name}: {exc.strerror or type(exc).__name__}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refuse(name, _describe_mode(info.st_mode))
        if info.st_size > max_bytes:
            raise EntryFileError(f"{name} is larger than {max_bytes // 1024 // 1024} MiB")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise EntryFileError(f"cannot read {name}: {exc.strerror or type(exc).__name__}") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise EntryFileError(f"{name} is larger than {max_bytes // 1024 // 1024} MiB")
    return data


def check_entry_folder(folder: Path) -> None:
    """Refuse a submission folder that is a symbolic link (its files would live elsewhere)."""
    if folder.is_symlink():
        raise EntryFileError("the submission folder is a symbolic link; submissions must be real "
                             "folders inside the submissions folder")


__all__ = ["EntryFileError", "MAX_TOML_BYTES", "check_entry_file", "check_entry_folder",
           "read_entry_file"]
