"""Reading simple CSV inputs at C speed: one regular expression over blocks of lines.

Most inputs are plain: ASCII, one record a line, no quotes. For those, the readers of predictions
and truth match a whole block of lines with one compiled regular expression that spells out every
column (``re.findall``, in C), instead of building a Python object per row and field. The
expression is strict: a line it does not match (a fault, or just a form it does not cover) makes
the fast reader *decline* the whole input (:class:`Declined`), and the row-by-row reader of
:mod:`mura_bench.data.tabular` reads it instead and names every fault with its line. So the fast reader
never decides a message, and it only has to give the same result as the row reader on the inputs
it accepts.

An input is *simple* (:func:`simple_csv`) when, after an optional UTF-8 byte-order mark, it holds
printable ASCII, blanks and tabs only (no quotes, no backslashes, no other control characters),
ends its lines with ``\\n`` or ``\\r\\n``, and has no blank line before its last record. Then its
records are its lines, and the line number of a record is its position.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mura_bench.errors import InputError
from mura_bench.data.tabular import Row, parse_table

#: Bytes a simple input may hold: printable ASCII except ``"`` (CSV quoting) and ``\\`` (a path
#: separator that :func:`mura_bench.data.layout.parse_path` rewrites), blanks, tabs and line ends.
_ALLOWED = bytes(b for b in range(32, 127) if b not in b'"\\') + b"\t\n\r"
_BOM = b"\xef\xbb\xbf"
#: Bytes of text matched at once: bounds the Python objects alive at a time.
BLOCK_BYTES = 1 << 20
#: Rows parsed by the standard ``csv`` module to decide the header and the columns.
HEAD_ROWS = 3

#: A field holding a decimal or scientific-notation number (with blanks around it), one group:
#: the number as written. Python's ``float`` reads every such text, exactly as
#: :func:`mura_bench.data.tabular.parse_float` would (NaN and infinity are not in this form).
NUMBER_FIELD = r"[ \t]*([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[ \t]*"
#: A field holding ``0`` or ``1`` (with blanks around it), one group: the digit.
BINARY_FIELD = r"[ \t]*([01])[ \t]*"
#: A field the reader does not use: anything but a comma (no group).
ANY_FIELD = r"[^,\n]*"


class Declined(Exception):
    """The fast reader does not take this input: read it row by row."""


@dataclass(frozen=True)
class SimpleCsv:
    """A simple input: its bytes (``\\r\\n`` turned into ``\\n``, no byte-order mark), the end of its
    last record, and its first :data:`HEAD_ROWS` rows as the row reader parses them."""

    data: bytes
    end: int
    head: list[Row]

    def line_start(self, line: int) -> int:
        """Byte offset of the start of 1-based ``line`` (a line of the file)."""
        at = 0
        for _ in range(line - 1):
            at = self.data.index(b"\n", at) + 1
        return at


def simple_csv(raw: bytes) -> SimpleCsv:
    """The input as a :class:`SimpleCsv`, or :class:`Declined` when it is not simple."""
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    if raw.translate(None, _ALLOWED):
        raise Declined("not plain ASCII")
    if b"\r" in raw:
        if raw.count(b"\r") != raw.count(b"\r\n"):
            raise Declined("a carriage return that does not end a line")
        raw = raw.replace(b"\r\n", b"\n")
    end = len(raw)
    while end and raw[end - 1] == 10:  # trailing line ends
        end -= 1
    if end == 0 or raw.startswith(b"\n") or raw.find(b"\n\n", 0, end) >= 0:
        raise Declined("blank lines")
    head_end = 0
    for _ in range(HEAD_ROWS):
        found = raw.find(b"\n", head_end, end)
        head_end = end if found < 0 else found + 1
        if found < 0:
            break
    try:
        head = parse_table(raw[:head_end], source="", what="").rows
    except InputError:
        raise Declined("no rows") from None
    if [r.line for r in head] != list(range(1, len(head) + 1)):
        raise Declined("blank rows")
    return SimpleCsv(raw, end, head)


def matching_lines(simple: SimpleCsv, pattern, first_line: int) -> Iterator[tuple[int, list]]:
    """``(line, matches)`` per block of the lines from ``first_line`` on: ``pattern.findall`` over
    the block (a compiled, ``re.MULTILINE`` expression of one whole line, ``^...$``) and the line
    of its first match. :class:`Declined` unless every line matches."""
    data, end = simple.data, simple.end
    at, line = simple.line_start(first_line), first_line
    while at < end:
        stop = data.find(b"\n", min(at + BLOCK_BYTES, end - 1), end)
        stop = end if stop < 0 else stop
        block = data[at:stop].decode("ascii")
        matches = pattern.findall(block)
        lines = block.count("\n") + 1
        if len(matches) != lines:
            raise Declined(f"a line from {line} to {line + lines - 1} is not in the fast reader's form")
        yield line, matches
        at, line = stop + 1, line + lines
