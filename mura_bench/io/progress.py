"""Progress display for long work, on stderr.

The library reports progress through a plain callback, ``report(stage, done, total)`` (see
:data:`ProgressCallback`), and never prints. The CLI passes a :class:`StderrProgress`, which shows a
rich progress bar on stderr only when stderr is a terminal, only when not ``quiet``, and only once
the work has lasted ``delay`` seconds (short runs stay silent). The bar disappears when done.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO

from mura_bench.io.terminal import visible

#: ``report(stage, done, total)``: ``done`` of ``total`` steps of ``stage`` are finished.
ProgressCallback = Callable[[str, int, int], None]


def report(callback: ProgressCallback | None, stage: str, done: int, total: int) -> None:
    """Call ``callback`` when there is one (lets the library write ``report(progress, ...)``)."""
    if callback is not None:
        callback(stage, done, total)


class StderrProgress:
    """A context manager and :data:`ProgressCallback` drawing a rich bar on stderr.

    ``enabled=None`` means: when ``stream`` is a terminal. Nothing is drawn before ``delay``
    seconds have passed since the first report; a stage's bar is replaced by the next stage's.
    """

    def __init__(
        self, *, enabled: bool | None = None, quiet: bool = False, delay: float = 2.0, stream: IO[str] | None = None
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled and not quiet
        self.delay = delay
        self._start: float | None = None
        self._bar = None
        self._task = None
        self._stage: str | None = None
        self.shown = False

    def __enter__(self) -> "StderrProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self._start is None:
            self._start = now
        if self._bar is None and now - self._start < self.delay:
            return
        if self._bar is None:
            self._open()
        if stage != self._stage:
            if self._task is not None:
                self._bar.remove_task(self._task)
            self._task = self._bar.add_task(visible(stage), total=max(total, 1))
            self._stage = stage
        self._bar.update(self._task, completed=done, total=max(total, 1))

    def _open(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from mura_bench.io.terminal import console as safe_console

        console = safe_console(file=self.stream, force_terminal=True)
        self._bar = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._bar.start()
        self.shown = True

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
