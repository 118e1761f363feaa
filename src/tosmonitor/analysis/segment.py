# SPDX-License-Identifier: Apache-2.0
"""Segmentation of normalised policy text into clauses.

Owns :class:`Clause` and :func:`segment`: headings (``#``) build the heading path, paragraphs are split
into sentences, list items (``- ``, ``1.``) and table rows (``| a | b |``) are kept whole, so every clause
can be quoted verbatim as evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LIST = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)]|[a-z][.)]|\([a-z0-9]{1,4}\))\s+(.*)$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_RULE = re.compile(r"^\s*(?:-\s*){3,}$|^\s*(?:\*\s*){3,}$|^\s*_{3,}\s*$")
# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) before a capital or an opener.
_SENT_END = re.compile(r"(?<=[.!?])[\"'”’)\]*_]*\s+(?=[\"'“‘(\[*_]*[A-Z0-9])")
_ABBREV = re.compile(
    r"(?:\b(?:e\.g|i\.e|etc|inc|ltd|llc|co|corp|no|nos|vs|mr|mrs|ms|dr|st|art|sec|para|fig|approx|incl|"
    r"u\.s|u\.k|e\.u|cf|viz|al|jr|sr|ph\.d)\.|\b[A-Z]\.)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Clause:
    """One unit of a policy: a sentence, a list item or a table row, with the headings above it."""

    text: str
    heading_path: tuple[str, ...]
    kind: str  # sentence | list_item | table_row
    index: int

    @property
    def section(self) -> str:
        """The heading path joined with " > " (empty string at top level)."""
        return " > ".join(self.heading_path)


def split_sentences(paragraph: str) -> list[str]:
    """Split a paragraph into sentences, keeping abbreviations such as "e.g." and "Inc." intact."""
    out: list[str] = []
    start = 0
    for m in _SENT_END.finditer(paragraph):
        head = paragraph[start : m.start()].rstrip("\"'”’)]*_")
        if _ABBREV.search(head):
            continue
        piece = paragraph[start : m.start()].strip()
        if piece:
            out.append(piece)
        start = m.end()
    tail = paragraph[start:].strip()
    if tail:
        out.append(tail)
    return out


def _heading_text(raw: str) -> str:
    return re.sub(r"[*_`]+", "", raw).strip()


def segment(text: str) -> list[Clause]:
    """Split normalised policy text into clauses.

    :param text: Markdown-like normalised text (headings, paragraphs, list items, table rows).
    :returns: clauses in document order, ``index`` counting from 0.
    """
    clauses: list[Clause] = []
    stack: list[tuple[int, str]] = []
    para: list[str] = []

    def path() -> tuple[str, ...]:
        return tuple(h for _, h in stack)

    def add(kind: str, piece: str) -> None:
        piece = piece.strip()
        if piece and re.search(r"\w", piece):
            clauses.append(Clause(piece, path(), kind, len(clauses)))

    def flush() -> None:
        if para:
            for sentence in split_sentences(" ".join(para)):
                add("sentence", sentence)
            para.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or _RULE.match(stripped):
            flush()
            continue
        heading = _HEADING.match(stripped)
        if heading:
            flush()
            level = len(heading.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            title = _heading_text(heading.group(2))
            if title:
                stack.append((level, title))
            continue
        if stripped.startswith("|"):
            flush()
            if not _TABLE_SEP.match(stripped):
                add("table_row", stripped)
            continue
        item = _LIST.match(line)
        if item:
            flush()
            for sentence in split_sentences(item.group(1)):
                add("list_item", sentence)
            continue
        para.append(stripped)
    flush()
    return clauses
