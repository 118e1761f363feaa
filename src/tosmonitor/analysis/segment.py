# SPDX-License-Identifier: Apache-2.0
"""Segmentation of normalised policy text into blocks and clauses.

Owns :class:`Block`, :class:`Clause`, :func:`blocks`, :class:`Document` and :func:`segment`. A cheap line
scan cuts the text into blocks (a paragraph, a list item or a table row) and tracks the heading path (``#``
headings) of each; a block is then split into clauses: paragraphs and list items into sentences, table rows
kept whole, so every clause can be quoted verbatim as evidence. Splitting is the costly step, so callers that
need only some blocks (see ``detect.select``) split only those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LIST = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)]|[a-z][.)]|\([a-z0-9]{1,4}\))\s+(.*)$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_RULE = re.compile(r"^\s*(?:-\s*){3,}$|^\s*(?:\*\s*){3,}$|^\s*_{3,}\s*$")
# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) before a capital or an opener.
# The match starts at the end mark itself (a leading character class lets ``re`` skip ahead quickly).
_SENT_END = re.compile(r"[.!?][\"'”’)\]*_]*\s+(?=[\"'“‘(\[*_]*[A-Z0-9])")
_ABBREV = re.compile(
    r"(?:\b(?:e\.g|i\.e|etc|inc|ltd|llc|co|corp|no|nos|vs|mr|mrs|ms|dr|st|art|sec|para|fig|approx|incl|"
    r"u\.s|u\.k|e\.u|cf|viz|al|jr|sr|ph\.d)\.|\b[A-Z]\.)$",
    re.IGNORECASE,
)
# The longest abbreviation ("approx.") plus the character its \b looks at fits well within this tail.
_ABBREV_TAIL = 16
_WORDCHAR = re.compile(r"\w")
_MARKS = re.compile(r"[*_`]+")
_LIST_START = frozenset("-*+•(abcdefghijklmnopqrstuvwxyz")


@dataclass  # not frozen: a version has thousands of clauses, and frozen instances take three times as long to make
class Clause:
    """One unit of a policy: a sentence, a list item or a table row, with the headings above it (never changed
    once made)."""

    text: str
    heading_path: tuple[str, ...]
    kind: str  # sentence | list_item | table_row
    index: int

    @property
    def section(self) -> str:
        """The heading path joined with " > " (empty string at top level)."""
        return _joined(self.heading_path)


@lru_cache(maxsize=1024)  # the clauses of one block share their heading path (one tuple), and so do versions
def _joined(path: tuple[str, ...]) -> str:
    return " > ".join(path)


@dataclass  # not frozen, like Clause
class Block:
    """A paragraph (its lines joined by one space), a list item (without its marker) or a table row."""

    kind: str  # paragraph | list_item | table_row
    text: str
    heading_path: tuple[str, ...]


def split_sentences(paragraph: str) -> list[str]:
    """Split a paragraph into sentences, keeping abbreviations such as "e.g." and "Inc." intact."""
    out: list[str] = []
    start = 0
    for m in _SENT_END.finditer(paragraph):
        end = m.start() + 1  # just after the end mark
        head = paragraph[max(start, end - _ABBREV_TAIL) : end].rstrip("\"'”’)]*_")
        if _ABBREV.search(head):
            continue
        piece = paragraph[start:end].strip()
        if piece:
            out.append(piece)
        start = m.end()
    tail = paragraph[start:].strip()
    if tail:
        out.append(tail)
    return out


def _heading_text(raw: str) -> str:
    return _MARKS.sub("", raw).strip()


def blocks(text: str) -> list[Block]:
    """Cut normalised text into blocks, each with the heading path above it (headings and rules omitted).

    A blank line ends every block, so the text is read chunk by chunk between blank lines, and a chunk seen
    before (consecutive versions share most of theirs) is not read again: only the heading path is carried.
    """
    out: list[Block] = []
    stack: list[tuple[int, str]] = []
    path: tuple[str, ...] = ()
    for chunk in text.split("\n\n"):
        for kind, content in _chunk_items(chunk):
            if isinstance(kind, int):  # a heading: its level and title
                while stack and stack[-1][0] >= kind:
                    stack.pop()
                if content:
                    stack.append((kind, content))
                path = tuple(h for _, h in stack)
            else:
                out.append(Block(kind, content, path))
    return out


@lru_cache(maxsize=1024)  # two versions of a long policy; a few MB at most
def _chunk_items(chunk: str) -> tuple[tuple[str | int, str], ...]:
    """The blocks (kind, text) and headings (level, title) of a text without blank lines between them."""
    out: list[tuple[str | int, str]] = []
    para: list[str] = []
    for line in chunk.splitlines():
        stripped = line.strip()
        if not stripped:
            if para:
                out.append(("paragraph", " ".join(para)))
                para = []
            continue
        first = stripped[0]
        if first in "-*_" and _RULE.match(stripped):
            if para:
                out.append(("paragraph", " ".join(para)))
                para = []
            continue
        if first == "#":
            heading = _HEADING.match(stripped)
            if heading:
                if para:
                    out.append(("paragraph", " ".join(para)))
                    para = []
                out.append((len(heading.group(1)), _heading_text(heading.group(2))))
                continue
        if first == "|":
            if para:
                out.append(("paragraph", " ".join(para)))
                para = []
            if not _TABLE_SEP.match(stripped):
                out.append(("table_row", stripped))
            continue
        if first in _LIST_START or first.isdecimal():
            item = _LIST.match(line)
            if item:
                if para:
                    out.append(("paragraph", " ".join(para)))
                    para = []
                out.append(("list_item", item.group(1)))
                continue
        para.append(stripped)
    if para:
        out.append(("paragraph", " ".join(para)))
    return tuple(out)


# Consecutive versions of a document share most of their blocks: each is split once (a few MB at most).
@lru_cache(maxsize=1024)
def _block_clauses(block_kind: str, text: str) -> tuple[tuple[str, str], ...]:
    if block_kind == "table_row":
        pieces = [text]
        kind = "table_row"
    else:
        pieces = split_sentences(text)
        kind = "sentence" if block_kind == "paragraph" else "list_item"
    out = []
    for piece in pieces:
        piece = piece.strip()
        if piece and _WORDCHAR.search(piece):
            out.append((kind, piece))
    return tuple(out)


class Document:
    """The blocks of one text, split into clauses on demand (each block at most once)."""

    def __init__(self, text: str) -> None:
        self.blocks = blocks(text)
        self._split: dict[int, tuple[tuple[str, str], ...]] = {}

    def clauses_of(self, i: int) -> tuple[tuple[str, str], ...]:
        """The (kind, text) clauses of block ``i``."""
        out = self._split.get(i)
        if out is None:
            block = self.blocks[i]
            out = self._split[i] = _block_clauses(block.kind, block.text)
        return out

    def clauses(self, selected: list[int] | None = None) -> list[Clause]:
        """Clauses of the selected blocks (all blocks when ``None``), ``index`` counting from 0 over them."""
        out: list[Clause] = []
        append = out.append
        if selected is None:  # every block, each read once: no need to keep its split
            for block in self.blocks:
                path = block.heading_path
                for kind, piece in _block_clauses(block.kind, block.text):
                    append(Clause(piece, path, kind, len(out)))
            return out
        for i in selected:
            path = self.blocks[i].heading_path
            for kind, piece in self.clauses_of(i):
                append(Clause(piece, path, kind, len(out)))
        return out


def segment(text: str) -> list[Clause]:
    """Split normalised policy text into clauses.

    :param text: Markdown-like normalised text (headings, paragraphs, list items, table rows).
    :returns: clauses in document order, ``index`` counting from 0.
    """
    return Document(text).clauses()
