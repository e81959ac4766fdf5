"""Reading untrusted files: only regular files that live inside their folder.

Submissions to a leaderboard (pull requests), the unpacked submission of a Codabench scoring run and
the predictions a MedPerf model container wrote are all handed in by someone who must not be able to
make mura-bench read anything else. A symbolic link (to the hidden truth, to a token file, to
``/etc/passwd``), a FIFO that blocks, a device that never ends and a path that resolves outside the
folder are refused with a reason that names the file and never shows what it points to. The file
is opened relative to a descriptor of the resolved folder, without following links
(``O_NOFOLLOW``), and checked again on the open descriptor, so a link swapped in between the check
and the read is refused too.

The callers choose the exception (``error``: a class taking one message) and how the folder is
called in messages (``place``): :mod:`mura_bench.leaderboard.entry_files` for leaderboard entries,
:mod:`mura_bench.hosting.untrusted` for the hosted scoring programs.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

from mura_bench.io.outputs import display
from mura_bench.io.terminal import visible

ErrorFactory = Callable[[str], Exception]


def shown_name(name: str | os.PathLike) -> str:
    """A file name as it can be shown anywhere: undecodable bytes as ``\\xNN``, control characters
    (DEL included) and bidi controls escaped, one line."""
    return visible(display(name), one_line=True)


def describe_mode(mode: int) -> str:
    """What a file of ``mode`` is, in words ("a symbolic link", "a FIFO", ...)."""
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


def refusal(name: str, what: str, place: str) -> str:
    """The message for a file that is ``what`` (a link, a FIFO, outside the folder ...)."""
    return (
        f"{shown_name(name)} is {what}; {place} files must be regular files inside the {place} "
        "folder (symbolic links are refused)"
    )


def check_regular_file(folder: Path, name: str, *, error: ErrorFactory, place: str) -> Path | None:
    """``folder/name`` when it is a regular file inside ``folder`` (no link), None when absent.

    Raises ``error(message)`` for a symbolic link (dangling or not), a special file, a folder, a
    path that resolves outside ``folder`` or a file that cannot be inspected. Nothing of a link's
    target is read or quoted.
    """
    path = folder / name
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise error(f"cannot inspect {shown_name(name)}: {exc.strerror or type(exc).__name__}") from None
    if not stat.S_ISREG(info.st_mode):
        raise error(refusal(name, describe_mode(info.st_mode), place))
    try:
        inside = path.resolve(strict=True).is_relative_to(folder.resolve(strict=True))
    except (OSError, RuntimeError):
        inside = False
    if not inside:
        raise error(refusal(name, f"outside the {place} folder", place))
    return path


def read_regular_file(folder: Path, name: str, *, max_bytes: int, error: ErrorFactory, place: str) -> bytes | None:
    """The bytes of ``folder/name`` (None when absent): checked by :func:`check_regular_file`, then
    opened relative to the resolved ``folder`` without following links, checked again on the
    descriptor (a regular file of at most ``max_bytes``) and read."""
    path = check_regular_file(folder, name, error=error, place=place)
    if path is None:
        return None
    shown = shown_name(name)
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    flags = os.O_RDONLY | nofollow | getattr(os, "O_NONBLOCK", 0)
    try:
        parent = os.open(folder.resolve(strict=True), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise error(f"cannot read {shown}: {exc.strerror or type(exc).__name__}") from None
    try:
        fd = os.open(name, flags, dir_fd=parent) if os.open in os.supports_dir_fd else os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise error(refusal(name, "a symbolic link", place)) from None
        raise error(f"cannot read {shown}: {exc.strerror or type(exc).__name__}") from None
    finally:
        os.close(parent)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(refusal(name, describe_mode(info.st_mode), place))
        if info.st_size > max_bytes:
            raise error(f"{shown} is larger than {_size(max_bytes)}")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"cannot read {shown}: {exc.strerror or type(exc).__name__}") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise error(f"{shown} is larger than {_size(max_bytes)}")
    return data


def _size(limit: int) -> str:
    mib = limit / 1024 / 1024
    return f"{mib:g} MiB" if mib >= 1 else f"{limit:,} bytes"


__all__ = ["check_regular_file", "describe_mode", "read_regular_file", "refusal", "shown_name"]
