"""One exception family for the whole library.

The core raises :class:`InputError` for anything wrong with what a user handed in (files, options);
the CLI turns it into one message on stderr and exit code 2. Anything else is a bug (exit code 1).
"""
from __future__ import annotations

from collections.abc import Sequence

#: How many offending rows an error message shows before it says "... and N more".
SHOWN_ROWS = 5


class MuraBenchError(Exception):
    """Base class of every error mura-bench raises on purpose."""


class InputError(MuraBenchError):
    """Bad user input: a malformed file, an inconsistent option, a missing study.

    ``problem`` says what is wrong; ``source`` names the file (or option); ``rows`` lists the
    offending places as ``(line_number_or_None, text)`` pairs, of which the first few are shown
    together with the total count.
    """

    def __init__(self, problem: str, *, source: str | None = None,
                 rows: Sequence[tuple[int | None, str]] = (), hint: str | None = None) -> None:
        self.problem = problem
        self.source = source
        self.rows = list(rows)
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        head = f"{self.source}: {self.problem}" if self.source else self.problem
        lines = [head]
        if self.rows:
            total = len(self.rows)
            lines[0] += f" ({total} row{'s' if total != 1 else ''})"
            for line, text in self.rows[:SHOWN_ROWS]:
                where = f"line {line}: " if line is not None else ""
                lines.append(f"  {where}{text}")
            if total > SHOWN_ROWS:
                lines.append(f"  ... and {total - SHOWN_ROWS} more")
        if self.hint:
            lines.append(self.hint)
        return "\n".join(lines)
