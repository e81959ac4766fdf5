"""Independent files written on several processes: forked helpers and the calling process share them.

:func:`write_shared` runs a few whole tasks (a site's forest plots, index pages, downloads), then
writes items ``0 .. count - 1`` (its entry pages). It forks ``helpers`` processes that start at
once; every process, the caller included, claims the next unit of work (a task, or a run of
:func:`claim_size` items) from a counter in shared memory, in order, and writes its files itself:
nothing but a failure travels back. The files are those that one process writes.

Failures keep the order of writing in one process: a task's failure is raised, else the failure
of the lowest item (a process that fails stops claiming; every item below it was claimed earlier,
by a process that finishes what it claimed), with its cause (:func:`portable`). Helpers never
outlive the call: they are ended on any error, Ctrl-C or SIGTERM of the caller, and end
themselves when the caller is gone. Forking needs a caller without other threads; where the
platform has no fork, the caller writes everything itself
(:func:`mura_bench.io.processes.fork_available`).
"""

from __future__ import annotations

import os
import pickle
import signal
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from mura_bench.io.progress import ProgressCallback, report

#: How often the waiting caller reports progress (seconds).
PROGRESS_INTERVAL = 0.2


def claim_size(count: int, processes: int) -> int:
    """Items a process claims at a time: small enough that processes finish together (about
    eight claims per process), large enough that the counter is rarely touched."""
    return max(1, min(16, count // (8 * max(processes, 1))))


def write_shared(
    count: int,
    write: Callable[[int], None],
    *,
    helpers: int,
    first: Sequence[Callable[[], None]] = (),
    progress: ProgressCallback | None = None,
    stage: str = "entry pages",
) -> None:
    """Run the tasks ``first`` (one process each, in order of claim), then write items
    ``0 .. count - 1`` with ``write(i)``, on ``helpers`` forked processes and this one; raises what
    a task of ``first`` raised, else what ``write`` raised for the lowest failing item.

    Tasks and ``write`` must only write files (results are dropped) and must not depend on each
    other. The caller must run no other thread: a forked child has only the thread that forked,
    and a lock held by another thread at that moment would stay held there.
    ``progress(stage, done, count)`` is reported from this process only.
    """
    import multiprocessing
    import multiprocessing.connection

    context = multiprocessing.get_context("fork")
    work = _Work(count, write, list(first), claim_size(count, helpers + 1))
    counter = context.Value("l", 0)  # the next unit to claim
    done = context.Value("l", 0, lock=False)  # items written (progress; updated under counter's lock)
    stop = context.Value("b", 0, lock=False)  # a process failed: claim nothing more
    parent = os.getpid()
    children: list = []
    pipes: list = []
    try:
        for _ in range(helpers):
            receive, send = context.Pipe(duplex=False)
            child = context.Process(target=_helper, args=(send, work, counter, done, stop, parent), daemon=True)
            # Signals wait until the child has its handlers and is listed here (ended in finally).
            with _signals_blocked(), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
                pipes.append(receive)
                try:
                    child.start()
                except OSError:  # no process to be had (memory, process limit): fewer helpers
                    pipes.pop().close()
                    send.close()
                    break
                children.append(child)
                send.close()
        failures = []
        failure = _write_claimed(work, counter, done, stop, lambda: _report(progress, stage, done, count))
        if failure is not None:
            failures.append(failure)
        waiting = list(range(len(children)))
        while waiting:
            ready = multiprocessing.connection.wait([pipes[k] for k in waiting], timeout=PROGRESS_INTERVAL)
            for k in [k for k in waiting if pipes[k] in ready]:
                waiting.remove(k)
                try:
                    found = pipes[k].recv()
                except EOFError:  # it died without a word (killed, out of memory)
                    children[k].join()
                    raise RuntimeError(
                        f"a process writing the site's {stage} ended unexpectedly (exit code {children[k].exitcode})"
                    ) from None
                if found is not None:
                    failures.append((found[0], pickle.loads(found[1])))
                children[k].join()
            _report(progress, stage, done, count)
        if failures:
            raise min(failures, key=lambda f: f[0])[1]
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()
        for child in children:
            child.join()
        for pipe in pipes:
            pipe.close()


# Where there is fork there are these three (SIGHUP is missing elsewhere: the module still imports).
_SIGNALS = {getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)}


@contextmanager
def _signals_blocked() -> Iterator[None]:
    """Signals held back from this thread (a forked child inherits the mask); delivered after."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _report(progress: ProgressCallback | None, stage: str, done, count: int) -> None:
    report(progress, stage, min(done.value, count), count)


class _Work:
    """What the processes share: ``first`` tasks (units ``0 .. len(first) - 1``), then the
    ``count`` items in units of ``claim``."""

    def __init__(self, count: int, write: Callable[[int], None], first: list, claim: int) -> None:
        self.count, self.write, self.first, self.claim = count, write, first, claim

    def run(self, unit: int) -> tuple[int, int] | None:
        """Run one unit: ``None`` when there is none left, else the items it wrote ``(start,
        stop)``. An exception names its place: a task ``k`` of ``first`` as ``k - len(first)``
        (before every item), an item as its index (:class:`_Failed`)."""
        if unit < len(self.first):
            try:
                self.first[unit]()
            except Exception as exc:
                raise _Failed(unit - len(self.first), exc) from exc
            return (0, 0)
        start = (unit - len(self.first)) * self.claim
        if start >= self.count:
            return None
        stop = min(start + self.claim, self.count)
        for i in range(start, stop):
            try:
                self.write(i)
            except Exception as exc:
                raise _Failed(i, exc) from exc
        return start, stop


class _Failed(Exception):
    def __init__(self, place: int, exc: Exception) -> None:
        super().__init__(place)
        self.place, self.exc = place, exc


def _write_claimed(work: _Work, counter, done, stop, after_claim) -> tuple | None:
    """Claim and run units until none is left or one fails: ``(place, exception)`` of that one."""
    while not stop.value:
        with counter.get_lock():
            unit = counter.value
            counter.value = unit + 1
        try:
            wrote = work.run(unit)
        except _Failed as failed:
            stop.value = 1
            return failed.place, failed.exc
        if wrote is None:
            return None
        with counter.get_lock():
            done.value += wrote[1] - wrote[0]
        after_claim()
    return None


def _helper(send, work: _Work, counter, done, stop, parent: int) -> None:
    """A forked helper: claims and writes until done, sends ``None`` or ``(item, pickled
    exception)``, and exits at once (no clean-up of the parent's state, no flushing of streams
    that another thread of the parent may have held at the fork)."""
    code = 1
    try:
        # The caller ends helpers with SIGTERM; Ctrl-C reaches the caller, which ends them.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)

        def caller_alive() -> None:
            if os.getppid() != parent:
                os._exit(1)

        failure = _write_claimed(work, counter, done, stop, caller_alive)
        send.send(None if failure is None else (failure[0], _pickled(failure[1])))
        code = 0
    finally:
        os._exit(code)


def _pickled(exc: BaseException) -> bytes:
    return pickle.dumps(portable(exc))


def portable(exc: BaseException | None) -> object:
    """What to pickle for ``exc`` so that it comes back with its type and message: ``exc`` itself
    when its class pickles it so (an ``OSError`` with its file name; an
    :class:`~mura_bench.leaderboard.pages.EntryRenderError` with its cause), else a copy made
    without calling its ``__init__`` (its class, ``args`` and attributes: an
    :class:`~mura_bench.errors.InputError` keeps its rows and hint), else, where neither pickles
    (a local class, an attribute that does not pickle), :func:`stand_in`. ``None`` stays ``None``."""
    if exc is None:
        return None
    for candidate in (exc, _Copy(exc)):
        try:
            back = pickle.loads(pickle.dumps(candidate))
        except Exception:  # noqa: BLE001 - any exception class may refuse or fail to rebuild
            continue
        if type(back) is type(exc) and str(back) == str(exc):
            return candidate
    return stand_in(exc)


class _Copy:
    """Pickles as a copy of an exception: ``kind.__new__(kind, *args)``, then its attributes."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __reduce__(self):
        return (_copied, (type(self.exc), self.exc.args, dict(vars(self.exc))))


def _copied(kind: type, args: tuple, state: dict) -> BaseException:
    exc = kind.__new__(kind, *args)
    exc.args = args
    vars(exc).update(state)
    return exc


def stand_in(exc: BaseException) -> Exception:
    """A picklable exception with the name, module and message of ``exc`` (not its type)."""
    return _Foreign(type(exc).__name__, type(exc).__module__, str(exc))


class _Foreign(Exception):
    """What :func:`stand_in` pickles: rebuilt as an exception of a class of the same name."""

    def __init__(self, name: str, module: str, message: str) -> None:
        super().__init__(message)
        self.name, self.module, self.message = name, module, message

    def __reduce__(self):
        return (_foreign, (self.name, self.module, self.message))


def _foreign(name: str, module: str, message: str) -> Exception:
    kind = type(name, (Exception,), {"__module__": module, "__qualname__": name})
    return kind(message)
