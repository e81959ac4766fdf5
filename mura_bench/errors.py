"""One exception family for the whole library.

The core raises :class:`InputError` for anything wrong with what a user handed in (files, options);
the CLI turns it into one message on stderr and exit code 2. Anything else is a bug (exit code 1).
"""
from __future__ import annotations

from collections.abc import Sequence

from mura_bench.terminal import shorten, visible

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
    with control characters made visible (:func:`mura_bench.terminal.visible`), the problem and
    hint are cut at :data:`MAX_PROBLEM_CHARS`, each row at :data:`MAX_ROW_CHARS`.
    """

    def __init__(self, problem: str, *, source: str | None = None,
                 rows: Sequence[tuple[int | None, str]] = (), hint: str | None = None) -> None:
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


def _line(text: object, limit: int) -> str:
    return shorten(visible(str(text), one_line=True), limit)
