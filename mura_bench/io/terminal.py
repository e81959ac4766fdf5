"""Text from input files on a terminal: shown, never interpreted.

Reader names, study paths, submission names, plugin error messages and file excerpts end up in
tables, error messages, skip lists and warnings. Shown raw they could drive the terminal (ESC/CSI/
OSC sequences set titles, hide text, rewrite lines; C1 controls do the same on some terminals;
bidi overrides reorder what is read) or, inside rich, be read as markup (``[/]`` crashes a table,
``[bold]alice`` shows as "alice"). Every line mura-bench writes to a terminal goes through this
module:

- :func:`visible` turns every control character (C0 but ``\\n``/``\\t``, DEL, C1), every bidi
  and line-separator format character and every lone surrogate (an undecodable byte of a file
  name) into a visible escape such as ``\\x1b`` or ``\\u202e``; everything else is kept.
- :func:`echo` prints plain text through :func:`visible`.
- :func:`console` returns a rich Console in which every string is plain text passed through
  :func:`visible` (markup and emoji codes are never interpreted: the equivalent of
  ``rich.markup.escape`` on every string); styling is done with :func:`styled` Text objects.
- :func:`excerpt` quotes a value of a file in a message: escaped, one line, bounded length,
  bounded nesting (a 5,000-deep array cannot exhaust the stack).

JSON and CSV written to files keep the real names; only what reaches a terminal is escaped.
"""

from __future__ import annotations

import functools
import re
import reprlib
import sys
from typing import Any

#: Control characters (C0 except tab and newline, DEL, C1), bidi embeddings/overrides/isolates and
#: marks, the Unicode line/paragraph separators, and lone surrogates.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_UNSAFE_ONE_LINE = re.compile(_UNSAFE.pattern[:-1] + "\n\t]")

#: Longest excerpt of a file's content quoted in a message.
EXCERPT_CHARS = 80


def _escape_char(match: re.Match) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape): show the byte
        return f"\\x{code - 0xDC00:02x}"
    if code == 0x0A:
        return "\\n"
    if code == 0x09:
        return "\\t"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: str, *, one_line: bool = False) -> str:
    """``text`` with every character that could drive a terminal replaced by a visible escape.

    Newlines and tabs are kept unless ``one_line`` (then they become ``\\n`` and ``\\t`` too).
    Idempotent: the escapes it writes are plain printable characters.
    """
    if not isinstance(text, str):
        text = str(text)
    return (_UNSAFE_ONE_LINE if one_line else _UNSAFE).sub(_escape_char, text)


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = EXCERPT_CHARS
_REPR.maxother = EXCERPT_CHARS
_REPR.maxlong = 40
for _name in ("maxlist", "maxtuple", "maxdict", "maxset", "maxfrozenset", "maxdeque", "maxarray"):
    setattr(_REPR, _name, 4)


def shorten(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` cut to ``limit`` characters, ending in ``…`` when it was longer."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """A short, escaped, one-line rendering of ``value`` for a message: strings as they are
    (escaped), anything else as a bounded ``repr`` (nested containers and huge numbers elided)."""
    try:
        text = value if isinstance(value, str) else _REPR.repr(value)
    except Exception:  # a value whose repr fails is described by its type
        text = f"<{type(value).__name__}>"
    return shorten(visible(text, one_line=True), limit)


def quote(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """:func:`excerpt` in quotes, for a value inside a sentence (``'abc'``, ``[1, 2, ...]``)."""
    if isinstance(value, str):
        return "'" + excerpt(value, limit) + "'"
    return excerpt(value, limit)


def echo(message: Any = "", *, err: bool = False, nl: bool = True) -> None:
    """``click.echo`` of ``message`` made :func:`visible` (for stdout/stderr: terminals or logs)."""
    import click

    click.echo(visible(str(message)), err=err, nl=nl)


def write_stdout(text: str) -> None:
    """Write a rendering (JSON, CSV) to stdout: verbatim into a pipe or file, made :func:`visible`
    on a terminal."""
    stream = sys.stdout
    stream.write(visible(text) if stream.isatty() else text)


@functools.cache
def _safe_console_class():
    from rich.console import Console

    class SafeConsole(Console):
        """Every string rendered (print arguments, table cells, titles, captions) is plain text
        made :func:`visible`: markup and emoji codes are never interpreted."""

        def render_str(self, text: str, **kwargs: Any):  # type: ignore[override]
            kwargs["markup"] = False
            kwargs["emoji"] = False
            return super().render_str(visible(text), **kwargs)

    return SafeConsole


def console(**options: Any):
    """A rich ``Console`` (same options) that shows every string as plain, :func:`visible` text."""
    return _safe_console_class()(**options)


def styled(text: str, style: str = ""):
    """A rich ``Text`` of :func:`visible` ``text`` in ``style`` (never parsed as markup)."""
    from rich.text import Text

    return Text(visible(text), style=style)


__all__ = ["EXCERPT_CHARS", "console", "echo", "excerpt", "quote", "shorten", "styled", "visible", "write_stdout"]
