"""Safe outputs: every file mura-bench writes goes through this module, every folder through
:mod:`mura_bench.io.output_folders`.

Contract (the same for ``score``, ``run``, ``synth``, ``demo`` and ``leaderboard build``):

* An output never replaces an input of the same command (the same file, reached through a
  symlink or a hard link included) and never lands inside a dataset folder (``MURA-v1.1/``)
  the command reads: :func:`check_not_input` raises :class:`~mura_bench.errors.InputError`.
* A regular file is written to a temporary file in the destination's folder and renamed into
  place, so it is never half-written. The temporary name is at most :data:`TEMP_NAME_BYTES`
  bytes whatever the destination's name, so a destination name of up to 255 bytes works.
* A destination that is a symlink keeps its link: the file it points to is written (atomically,
  beside it). A character device or FIFO (``/dev/null``, ``/dev/stdout``, a pipe) is written
  through, never replaced; any other special file (block device, socket) is refused.
* A new file gets the permissions of an ordinary new file (``0o666 & ~umask``); a replaced file
  keeps its mode. Folders get ``0o777 & ~umask``.
* The destination's folder must already exist (nothing is created implicitly). A missing folder,
  a "folder" that is a file, no write permission, a read-only file system, a full disk, a name
  over 255 bytes: each is one InputError naming the path.
* A folder is replaced or deleted only when it carries a marker file that mura-bench wrote
  (:func:`~mura_bench.io.output_folders.owned_by_mura_bench`). Staging folders are removed on errors,
  Ctrl-C and SIGTERM (:func:`~mura_bench.io.output_folders.staging_dir`, :func:`cleanup_on_signals`).
"""

from __future__ import annotations

import errno
import os
import secrets
import signal
import stat
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from mura_bench.errors import InputError

#: The dataset folder name of the MURA layout; outputs never go inside one that is being read.
DATASET_DIR = "MURA-v1.1"
#: Longest temporary file or folder name created beside a destination, in bytes (file systems
#: allow 255).
TEMP_NAME_BYTES = 64
#: The longest file name most file systems accept, in bytes.
NAME_MAX = 255


#: The input files read by the command being run (see :func:`command_inputs`); None outside one.
_INPUTS_READ: set[str] | None = None


@contextmanager
def command_inputs() -> Iterator[None]:
    """Scope of one command: every input read inside it (:func:`register_input`) is protected from
    every output written inside it, whichever code path writes. The CLI wraps each command in it."""
    global _INPUTS_READ
    outer, _INPUTS_READ = _INPUTS_READ, set()
    try:
        yield
    finally:
        _INPUTS_READ = outer


def register_input(path: str | os.PathLike) -> None:
    """Record that ``path`` was read as an input of the running command (no-op outside
    :func:`command_inputs`); the readers call this."""
    if _INPUTS_READ is not None and os.fspath(path) not in ("-", b"-"):
        _INPUTS_READ.add(os.path.abspath(os.fspath(path)))


def inputs_read() -> tuple[str, ...]:
    """The inputs registered so far by the running command, in sorted order."""
    return tuple(sorted(_INPUTS_READ or ()))


def display(path: str | os.PathLike) -> str:
    """A path as text that can always be printed: undecodable bytes appear as ``\\xNN``."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _is_within(path: Path, folder: Path) -> bool:
    real_path, real_folder = os.path.realpath(path), os.path.realpath(folder)
    return real_path == real_folder or real_path.startswith(real_folder.rstrip(os.sep) + os.sep)


def _is_regular(path: Path) -> bool:
    """A regular file (through symlinks): the only kind of input an output could destroy."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def dataset_root_of(path: str | os.PathLike) -> Path | None:
    """The ``MURA-v1.1`` folder that holds ``path`` (after resolving symlinks), or None."""
    real = Path(os.path.realpath(path))
    for folder in (real, *real.parents):
        if folder.name == DATASET_DIR:
            return folder
    return None


def check_not_input(
    out: str | os.PathLike,
    *,
    inputs: Iterable[str | os.PathLike] = (),
    datasets: Iterable[str | os.PathLike] = (),
    option: str = "--out",
) -> None:
    """Refuse an output that is (or would replace) one of ``inputs``, or that lies inside one of
    ``datasets`` or inside the ``MURA-v1.1`` folder of an input. A folder output is also refused
    when an input lies inside it. Inputs registered with :func:`register_input` always count."""
    out = Path(out)
    inputs = [Path(p) for p in (*inputs, *inputs_read()) if p is not None]
    roots = [Path(d) for d in datasets if d is not None]
    roots += [r for r in (dataset_root_of(p) for p in inputs) if r is not None]
    for root in roots:
        if _is_within(out, root) or _is_within(root, out):
            raise InputError(
                f"{option} lies in the dataset being read ({display(root)}); refusing to write there",
                source=display(out),
                hint="write outputs outside the dataset folder",
            )
    for source in inputs:
        if _is_regular(out) and _same_file(out, source):
            raise InputError(
                f"{option} is an input of this command ({display(source)}); refusing to overwrite it",
                source=display(out),
                hint="choose another output path",
            )
        if out.is_dir() and _is_within(source, out):
            raise InputError(
                f"{option} is a folder holding an input of this command ({display(source)}); refusing to replace it",
                source=display(out),
                hint="choose another output path",
            )


def check_parent(out: str | os.PathLike, *, option: str = "--out") -> Path:
    """The existing, writable folder that will hold ``out``; InputError otherwise."""
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    check_name_length(out, option=option)
    if not parent.exists():
        raise InputError(
            f"{option}: the folder {display(parent)} does not exist (it is not created implicitly)",
            source=display(out),
            hint=f"create it first: mkdir -p {display(parent)}",
        )
    if not parent.is_dir():
        raise InputError(f"{option}: {display(parent)} is a file, not a folder", source=display(out))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{option}: no permission to write in the folder {display(parent)}", source=display(out))
    return parent


def output_error(exc: OSError, out: str | os.PathLike, *, option: str = "--out") -> InputError:
    """One clear InputError for an OS error met while writing ``out``."""
    reasons = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exceeded",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EROFS: "the file system is read-only",
        errno.ENAMETOOLONG: "the file name is too long",
        errno.ENOTDIR: "a component of the path is a file, not a folder",
        errno.ENOENT: "the folder does not exist",
        errno.EISDIR: "it is a folder",
        errno.EFBIG: "the file is too large",
        errno.EIO: "input/output error",
    }
    reason = reasons.get(exc.errno, exc.strerror or str(exc))
    return InputError(f"{option}: cannot write: {reason}", source=display(out))


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def temp_name(name: str, tag: str = "tmp") -> str:
    """A hidden temporary name derived from ``name``, at most TEMP_NAME_BYTES bytes long."""
    suffix = f".{secrets.token_hex(4)}.{tag}"
    room = TEMP_NAME_BYTES - 1 - len(suffix)
    stem = os.fsencode(name)[:room]
    return "." + os.fsdecode(stem).encode("utf-8", "surrogateescape").decode("utf-8", "ignore") + suffix


#: Paths under these folders are never replaced, only written through (``/dev/stdout`` may point
#: at a pipe, a terminal or the file a shell redirected to).
_WRITE_THROUGH_ROOTS = ("/dev/", "/proc/")


def _resolve_target(out: Path, option: str) -> tuple[Path, bool]:
    """(file to write, write-through?) for ``out``: symlinks are followed (the link stays),
    character devices, FIFOs and anything under /dev or /proc are written through."""
    try:
        mode = os.stat(out).st_mode
    except (FileNotFoundError, NotADirectoryError):
        if out.is_symlink():
            raise InputError(
                f"{option} is a symlink to a missing file; refusing to replace the link", source=display(out)
            ) from None
        return out, False
    except OSError as exc:
        raise output_error(exc, out, option=option) from None
    if stat.S_ISDIR(mode):
        raise InputError(f"{option} is a folder, not a file", source=display(out))
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or os.path.abspath(out).startswith(_WRITE_THROUGH_ROOTS):
        return out, True
    if not stat.S_ISREG(mode):
        raise InputError(
            f"{option} is a special file (not a regular file, character device or FIFO); refusing to replace it",
            source=display(out),
        )
    return Path(os.path.realpath(out)), False


def check_output_file(
    out: str | os.PathLike,
    *,
    inputs: Iterable[str | os.PathLike] = (),
    datasets: Iterable[str | os.PathLike] = (),
    option: str = "--out",
) -> tuple[Path, bool]:
    """Everything :func:`open_output` refuses, checked before any work is done; returns the file
    that will be written and whether it is written through (a device or FIFO)."""
    out = Path(out)
    inputs = list(inputs)
    datasets = list(datasets)
    check_name_length(out, option=option)
    try:
        check_not_input(out, inputs=inputs, datasets=datasets, option=option)
        target, through = _resolve_target(out, option)
        if not through:
            if target != out:
                check_not_input(target, inputs=inputs, datasets=datasets, option=option)
            check_parent(target, option=option)
    except OSError as exc:
        raise output_error(exc, out, option=option) from None
    return target, through


def check_name_length(out: str | os.PathLike, *, option: str = "--out") -> None:
    """Refuse a file name longer than NAME_MAX bytes (before any system call trips over it)."""
    out = Path(out)
    name_bytes = len(os.fsencode(out.name))
    if name_bytes > NAME_MAX:
        raise InputError(
            f"{option}: the file name is {name_bytes} bytes long; file systems allow {NAME_MAX}", source=display(out)
        )


@contextmanager
def open_output(
    out: str | os.PathLike,
    *,
    binary: bool = False,
    inputs: Iterable[str | os.PathLike] = (),
    datasets: Iterable[str | os.PathLike] = (),
    option: str = "--out",
) -> Iterator[IO]:
    """Open ``out`` for writing under the module's contract; yields a text (UTF-8, ``\\n``) or
    binary handle. The file appears (renamed into place) only when the block finishes without an
    exception; otherwise the temporary file is removed and an existing ``out`` is untouched."""
    out = Path(out)
    target, through = check_output_file(out, inputs=inputs, datasets=datasets, option=option)
    mode = "wb" if binary else "w"
    encoding = None if binary else "utf-8"
    if through:
        sys.stdout.flush()
        try:
            with open(target, "ab" if binary else "a", encoding=encoding, newline=None if binary else "") as handle:
                yield handle
        except OSError as exc:
            raise output_error(exc, out, option=option) from None
        return
    tmp = (target.parent if str(target.parent) else Path(".")) / temp_name(target.name)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise output_error(exc, out, option=option) from None
    try:
        with cleanup_on_signals():
            try:
                with os.fdopen(fd, mode, encoding=encoding, newline=None if binary else "") as handle:
                    yield handle
                    handle.flush()
                    os.fsync(handle.fileno())
                _keep_mode(target, tmp)
                os.replace(tmp, target)
            except OSError as exc:
                raise output_error(exc, out, option=option) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _keep_mode(target: Path, tmp: Path) -> None:
    """A replaced file keeps its mode; a new one has the umask's (os.open already applied it)."""
    try:
        os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))
    except FileNotFoundError:
        pass


def write_text(out: str | os.PathLike, text: str, **options) -> None:
    """Write ``text`` to ``out`` under the module's contract (see :func:`open_output`)."""
    with open_output(out, **options) as handle:
        handle.write(text)


# ---------------------------------------------------------------------------------------------
# Signals
# ---------------------------------------------------------------------------------------------


class Terminated(SystemExit):
    """Raised in the main thread on SIGTERM/SIGHUP, so that cleanup code (finally/except) runs."""


def _raise_terminated(signum, _frame) -> None:
    raise Terminated(128 + signum)


def _signal_behind(exc: BaseException | None) -> int | None:
    """The signal whose handler raised ``exc`` (Ctrl-C's KeyboardInterrupt, :class:`Terminated`), or None."""
    if isinstance(exc, KeyboardInterrupt):
        return int(signal.SIGINT)
    if isinstance(exc, Terminated) and isinstance(exc.code, int) and exc.code > 128:
        return exc.code - 128
    return None


#: How long a swallowed signal waits before it is raised again: long enough for the callback that
#: swallowed it to have returned, short enough not to be noticed.
REDELIVERY_DELAY = 0.005


def _raise_again_soon(signum: int) -> None:
    """Send ``signum`` to this process from a short-lived thread, after :data:`REDELIVERY_DELAY`.
    Not from here: the handler would run at once, inside the unraisable hook, and be lost again."""

    def send() -> None:
        time.sleep(REDELIVERY_DELAY)
        os.kill(os.getpid(), signum)

    try:
        threading.Thread(target=send, name="mura-bench-signal", daemon=True).start()
    except RuntimeError:  # the interpreter is shutting down: it ends anyway
        pass


@contextmanager
def signals_kept() -> Iterator[None]:
    """Within the block, a signal's exception that Python swallows is delivered again.

    Python raises a signal handler's exception (Ctrl-C's KeyboardInterrupt, :class:`Terminated`)
    wherever the main thread happens to be, a weak-reference callback or ``__del__`` included;
    there it is printed as "Exception ignored" and lost, and the command would carry on as if the
    signal had never come. Here such an exception is not printed: the same signal is sent again a
    moment later (:func:`_raise_again_soon`), when the callback has returned, so the handler raises
    where the command can clean up. Other unraisable exceptions go to the hook that was in place.
    Nested blocks are fine."""
    previous = sys.unraisablehook

    def redeliver(unraisable) -> None:
        signum = _signal_behind(unraisable.exc_value)
        if signum is None:
            previous(unraisable)
        else:
            _raise_again_soon(signum)

    sys.unraisablehook = redeliver
    try:
        yield
    finally:
        sys.unraisablehook = previous


@contextmanager
def cleanup_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Terminated` (exit status 128 + signal)
    instead of killing the process, so that temporary files and folders are removed on the way
    out; Ctrl-C already raises KeyboardInterrupt. A signal's exception raised where Python would
    swallow it is not lost (:func:`signals_kept`). Outside the main thread, or where a handler
    other than the default is installed, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:
            previous[sig] = signal.signal(sig, _raise_terminated)
    try:
        with signals_kept():
            yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = [
    "DATASET_DIR",
    "NAME_MAX",
    "TEMP_NAME_BYTES",
    "Terminated",
    "check_name_length",
    "check_not_input",
    "check_output_file",
    "check_parent",
    "cleanup_on_signals",
    "command_inputs",
    "dataset_root_of",
    "display",
    "inputs_read",
    "open_output",
    "output_error",
    "register_input",
    "signals_kept",
    "temp_name",
    "write_text",
]
