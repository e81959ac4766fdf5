"""One exception family for the whole library.

The core raises :class:`InputError` for anything wrong with what a user handed in (files, options);
the CLI turns it into one message on stderr and exit code 2. Anything else is a bug (exit code 1).
:class:`PredictionSetError` is the :class:`InputError` of one prediction set among several (it says
which). The leaderboard raises :class:`EntryError` (and its :class:`SubmissionError`) for one unusable
entry: the build skips that entry with the message as its reason and publishes the others.
"""

from __future__ import annotations

from collections.abc import Sequence

from mura_bench.io.terminal import shorten, visible

#: How many offending rows an error message shows before it says "... and N more".
SHOWN_ROWS = 5
#: Longest problem / hint sentence and longest row excerpt a message shows (file content included).
MAX_PROBLEM_CHARS = 400
MAX_ROW_CHARS = 160


class MuraBenchError(Exception):
    """Base class of every error mura-bench raises on purpose."""


class InputError(MuraBenchError):
    """Bad user input: a malformed file, an inconsistent option, a missing study.

    ``problem`` says what is wrong; ``source`` names the file (or option); ``rows`` lists the
    offending places as ``(line_number_or_None, text)`` pairs, of which the first few are shown
    together with the total count. The rendering is escaped and bounded: every part is one line
    with control characters made visible (:func:`mura_bench.io.terminal.visible`), the problem and
    hint are cut at :data:`MAX_PROBLEM_CHARS`, each row at :data:`MAX_ROW_CHARS`.
    """

    def __init__(
        self,
        problem: str,
        *,
        source: str | None = None,
        rows: Sequence[tuple[int | None, str]] = (),
        hint: str | None = None,
    ) -> None:
        self.problem = problem
        self.source = source
        self.rows = list(rows)
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        problem = _line(self.problem, MAX_PROBLEM_CHARS)
        head = f"{visible(self.source, one_line=True)}: {problem}" if self.source else problem
        lines = [head]
        if self.rows:
            total = len(self.rows)
            lines[0] += f" ({total} row{'s' if total != 1 else ''})"
            for line, text in self.rows[:SHOWN_ROWS]:
                where = f"line {line}: " if line is not None else ""
                lines.append(f"  {where}{_line(text, MAX_ROW_CHARS)}")
            if total > SHOWN_ROWS:
                lines.append(f"  ... and {total - SHOWN_ROWS} more")
        if self.hint:
            lines.append(_line(self.hint, MAX_PROBLEM_CHARS))
        return "\n".join(lines)


class PredictionSetError(InputError):
    """Reading or aligning one of several prediction sets failed.

    The message is that of the underlying :class:`InputError` (``__cause__``), unchanged; ``index``
    is the set's position in the list that was scored and ``name`` its file (``<memory>`` for sets
    built in memory), so that a caller scoring many entries can skip the one at fault.
    """

    def __init__(self, cause: InputError, *, index: int, name: str) -> None:
        self.index = index
        self.name = name
        super().__init__(cause.problem, source=cause.source, rows=cause.rows, hint=cause.hint)


class EntryError(MuraBenchError):
    """One leaderboard entry is unusable; the message is its skip reason (written by mura-bench,
    quoting file content only through :func:`mura_bench.io.terminal.quote`)."""


class SubmissionError(EntryError):
    """One submission folder (its ``submission.toml`` or layout) is unusable; the message is the
    reason shown to the user."""


def _line(text: object, limit: int) -> str:
    return shorten(visible(str(text), one_line=True), limit)
