# SPDX-License-Identifier: Apache-2.0
"""Segmentation of normalised policy text into blocks and clauses.

Owns :class:`Block`, :class:`Clause`, :func:`blocks`, :class:`Document` and :func:`segment`. A cheap line
scan cuts the text into blocks (a paragraph, a list item or a table row) and tracks the heading path (``#``
headings) of each; a block is then split into clauses: paragraphs and list items into sentences, table rows
kept whole, so every clause can be quoted verbatim as evidence.

:func:`segment` reads a whole text. A :class:`Document` reads lazily: it cuts the text at blank lines into
chunks, scans only the chunks holding a ``#`` for the heading paths, and cuts a chunk into blocks (and a block
into clauses) when asked for, so a caller that needs a few blocks (see ``detect.select``) reads only those.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate

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


Address = tuple[int, int]  # a block of a Document: (chunk, the block's place among that chunk's blocks)


def _push(stack: tuple[tuple[int, str], ...], level: int, title: str) -> tuple[tuple[int, str], ...]:
    """The heading stack after a heading of ``level`` titled ``title`` (an empty title only closes sections)."""
    kept = list(stack)
    while kept and kept[-1][0] >= level:
        kept.pop()
    if title:
        kept.append((level, title))
    return tuple(kept)


class Document:
    """The blocks of one text, read lazily: the text is cut at blank lines into chunks, and a chunk into blocks
    and a block into clauses only when asked for (each at most once). A block is addressed by its chunk and its
    place in it (:data:`Address`); addresses sort in document order.

    Only the chunks that hold a ``#`` are read up front, for the heading path at the start of every chunk, so a
    caller that needs a few blocks (see ``detect.select``) does not cut the whole text.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.chunks = text.split("\n\n")
        self._stacks: list[tuple[tuple[int, str], ...]] = []  # the heading stack where each chunk starts
        stack: tuple[tuple[int, str], ...] = ()
        for chunk in self.chunks:
            self._stacks.append(stack)
            if "#" in chunk:
                for kind, content in _chunk_items(chunk):
                    if isinstance(kind, int):
                        stack = _push(stack, kind, content)
        self._chunk_blocks: dict[int, list[Block]] = {}
        self._split: dict[Address, tuple[tuple[str, str], ...]] = {}
        self._starts: list[int] | None = None

    def chunk_at(self, offset: int) -> int:
        """The number of the chunk that holds character ``offset`` of the text (the blank line after a chunk
        counts with it)."""
        if self._starts is None:
            self._starts = list(accumulate((len(chunk) + 2 for chunk in self.chunks[:-1]), initial=0))
        return bisect_right(self._starts, offset) - 1

    @property
    def blocks(self) -> list[Block]:
        """Every block, in document order (this cuts every chunk: :func:`blocks` does it in one pass)."""
        return [block for chunk in range(len(self.chunks)) for block in self.blocks_of(chunk)]

    def blocks_of(self, chunk: int) -> list[Block]:
        """The blocks of chunk number ``chunk``."""
        out = self._chunk_blocks.get(chunk)
        if out is None:
            stack = self._stacks[chunk]
            path = tuple(h for _, h in stack)
            out = []
            for kind, content in _chunk_items(self.chunks[chunk]):
                if isinstance(kind, int):
                    stack = _push(stack, kind, content)
                    path = tuple(h for _, h in stack)
                else:
                    out.append(Block(kind, content, path))
            self._chunk_blocks[chunk] = out
        return out

    def block(self, address: Address) -> Block:
        return self.blocks_of(address[0])[address[1]]

    def following(self, address: Address) -> Address | None:
        """The address of the next block (None after the last one)."""
        chunk, place = address
        if place + 1 < len(self.blocks_of(chunk)):
            return chunk, place + 1
        for later in range(chunk + 1, len(self.chunks)):
            if self.blocks_of(later):
                return later, 0
        return None

    def preceding(self, address: Address) -> Address | None:
        """The address of the block before (None before the first one)."""
        chunk, place = address
        if place > 0:
            return chunk, place - 1
        for earlier in range(chunk - 1, -1, -1):
            found = self.blocks_of(earlier)
            if found:
                return earlier, len(found) - 1
        return None

    def clauses_of(self, address: Address) -> tuple[tuple[str, str], ...]:
        """The (kind, text) clauses of the block at ``address``."""
        out = self._split.get(address)
        if out is None:
            block = self.block(address)
            out = self._split[address] = _block_clauses(block.kind, block.text)
        return out

    def clauses(self, selected: list[Address]) -> list[Clause]:
        """Clauses of the selected blocks, ``index`` counting from 0 over them (all of a text: :func:`segment`)."""
        out: list[Clause] = []
        append = out.append
        for address in selected:
            path = self.block(address).heading_path
            for kind, piece in self.clauses_of(address):
                append(Clause(piece, path, kind, len(out)))
        return out


def segment(text: str) -> list[Clause]:
    """Split normalised policy text into clauses.

    :param text: Markdown-like normalised text (headings, paragraphs, list items, table rows).
    :returns: clauses in document order, ``index`` counting from 0.
    """
    out: list[Clause] = []
    append = out.append
    for block in blocks(text):  # every block, each read once: a lazy Document would only add work
        path = block.heading_path
        for kind, piece in _block_clauses(block.kind, block.text):
            append(Clause(piece, path, kind, len(out)))
    return out
