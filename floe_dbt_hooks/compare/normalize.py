"""Normalise compiled SQL so two runtimes' output compares on meaning, not on layout.

Applied in this order, and nothing else:

1. comments removed (``-- ...`` to end of line, ``/* ... */``), outside string literals;
2. identifier quoting removed: ``"name"`` becomes ``name`` (double quotes and backticks);
3. runs of whitespace collapsed to one space, and spaces next to ``( ) , ;`` and ``.`` dropped;
4. trailing semicolons removed;
5. case kept as is (string literals are case-sensitive; keyword case is left to linters).
"""

from __future__ import annotations

import re

NORMALISATIONS = (
    "comments removed (-- and /* */, outside string literals)",
    "identifier quotes removed (\"x\" and `x` become x)",
    "whitespace runs collapsed; no spaces around ( ) , ; .",
    "trailing semicolons removed",
)

_TOKENS = re.compile(
    r"""(?P<string>'(?:[^']|'')*')"""
    r"""|(?P<line_comment>--[^\n]*)"""
    r"""|(?P<block_comment>/\*.*?\*/)"""
    r"""|(?P<quoted>"(?:[^"]|"")*"|`[^`]*`)""",
    re.DOTALL,
)
_SPACE = re.compile(r"\s+")
_TIGHT = re.compile(r"\s*([(),;.])\s*")


def normalise_sql(sql: str) -> str:
    """``sql`` with the normalisations above applied (string literals untouched)."""
    pieces: list[str] = []
    literals: list[str] = []
    last = 0
    for match in _TOKENS.finditer(sql):
        pieces.append(sql[last:match.start()])
        kind = match.lastgroup
        text = match.group(0)
        if kind == "string":
            literals.append(text)
            pieces.append(f"\x00{len(literals) - 1}\x00")
        elif kind == "quoted":
            pieces.append(text[1:-1].replace('""', '"'))
        else:
            pieces.append(" ")
        last = match.end()
    pieces.append(sql[last:])
    text = _TIGHT.sub(r"\1", _SPACE.sub(" ", "".join(pieces))).strip()
    text = text.rstrip("; ")
    return re.sub(r"\x00(\d+)\x00", lambda m: literals[int(m.group(1))], text)
