# SPDX-License-Identifier: Apache-2.0
"""Pure rendering for the web app: the change diff as escaped HTML (inline or side by side, word-level
highlights, the AI findings' quotes marked), the stance chart as inline SVG, search snippets and Atom feeds.

Every piece of archived text passes through :func:`markupsafe.escape` here before it becomes markup.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

from ..sequence import SequenceMatcher

CONTEXT_LINES = 2
_WORD_DIFF_LIMIT = 6000  # tokens on either side above which a replaced block is paired line by line
_TOKEN = re.compile(r"\s*(?:\w+|[^\w\s])|\s+")  # a word or a symbol with the spaces before it

Ranges = list[tuple[int, int]]


# ---------------------------------------------------------------------------------------------------------
# Quotes


def quote_ranges(text: str, quotes: Iterable[str | None]) -> Ranges:
    """Where each quote appears in ``text`` (whitespace-insensitive; quotes not found are skipped)."""
    ranges: Ranges = []
    for quote in quotes:
        if not quote or not quote.strip():
            continue
        start = text.find(quote)
        if start >= 0:
            ranges.append((start, start + len(quote)))
            continue
        words = [re.escape(w) for w in quote.split()]
        match = re.search(r"\s+".join(words), text) if words else None
        if match:
            ranges.append(match.span())
    return sorted(ranges)


def _marked(text: str, start: int, ranges: Ranges) -> Markup:
    """``text`` (found at ``start`` of its full text) escaped, with the parts inside ``ranges`` marked."""
    if not ranges:
        return escape(text)
    end = start + len(text)
    out: list[str] = []
    cursor = start
    for low, high in ranges:
        if high <= cursor or low >= end:
            continue
        low, high = max(low, cursor), min(high, end)
        if low > cursor:
            out.append(str(escape(text[cursor - start : low - start])))
        out.append(f'<mark class="quote">{escape(text[low - start : high - start])}</mark>')
        cursor = high
    if cursor < end:
        out.append(str(escape(text[cursor - start :])))
    return Markup("".join(out))


# ---------------------------------------------------------------------------------------------------------
# Diff


@dataclass
class Segment:
    """A run of text in one word-level operation, with its offsets in the old and new full texts."""

    op: str  # equal | delete | insert
    text: str
    old_at: int = -1
    new_at: int = -1


@dataclass
class Row:
    """One displayed row: unchanged context, a changed block, or a fold of unchanged lines."""

    kind: str  # context | change | fold
    segments: list[Segment] = field(default_factory=list)
    folded: int = 0

    def html(self, side: str, old_marks: Ranges, new_marks: Ranges) -> Markup:
        """The row as markup: ``side`` is ``inline``, ``old`` or ``new``."""
        out: list[str] = []
        for seg in self.segments:
            if seg.op == "equal":
                if side == "old":
                    out.append(_marked(seg.text, seg.old_at, old_marks))
                elif side == "new":
                    out.append(_marked(seg.text, seg.new_at, new_marks))
                else:
                    out.append(_marked(seg.text, seg.new_at, new_marks + old_shifted(seg, old_marks)))
            elif seg.op == "delete" and side != "new":
                out.append(f"<del>{_marked(seg.text, seg.old_at, old_marks)}</del>")
            elif seg.op == "insert" and side != "old":
                out.append(f"<ins>{_marked(seg.text, seg.new_at, new_marks)}</ins>")
        return Markup("".join(out))


def old_shifted(seg: Segment, old_marks: Ranges) -> Ranges:
    """Old-text ranges over an equal segment, moved to the segment's new-text offsets."""
    shift = seg.new_at - seg.old_at
    return [(low + shift, high + shift) for low, high in old_marks if high > seg.old_at]


@dataclass
class DiffView:
    rows: list[Row]
    old_marks: Ranges
    new_marks: Ranges
    added_words: int
    removed_words: int

    @property
    def empty(self) -> bool:
        return not any(row.kind == "change" for row in self.rows)


def _word_segments(old: str, new: str, old_at: int, new_at: int) -> list[Segment]:
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    if len(a) > _WORD_DIFF_LIMIT or len(b) > _WORD_DIFF_LIMIT:
        return [Segment("delete", old, old_at, -1), Segment("insert", new, -1, new_at)]
    segments: list[Segment] = []
    o, n = old_at, new_at
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        old_part, new_part = "".join(a[i1:i2]), "".join(b[j1:j2])
        if tag == "equal":
            segments.append(Segment("equal", old_part, o, n))
        else:
            if old_part:
                segments.append(Segment("delete", old_part, o, -1))
            if new_part:
                segments.append(Segment("insert", new_part, -1, n))
        o += len(old_part)
        n += len(new_part)
    return segments


_UNIT = re.compile(r"[^\n]*\n(?:[ \t]*\n)*|[^\n]+")


def _units(text: str) -> list[str]:
    """Lines, each with the blank lines after it (blank lines alone would make line matching quadratic)."""
    return _UNIT.findall(text)


def _offsets(lines: Sequence[str]) -> list[int]:
    offsets, at = [], 0
    for line in lines:
        offsets.append(at)
        at += len(line)
    offsets.append(at)
    return offsets


def _touches(ranges: Ranges, low: int, high: int) -> bool:
    return any(r_low < high and r_high > low for r_low, r_high in ranges)


def diff_view(
    old: str, new: str, *, old_quotes: Iterable[str | None] = (), new_quotes: Iterable[str | None] = ()
) -> DiffView:
    """Line-aligned, word-highlighted diff of two texts, with long unchanged runs folded.

    Lines holding a finding's quote are never folded, so the quote is always visible.
    """
    old_marks, new_marks = quote_ranges(old, old_quotes), quote_ranges(new, new_quotes)
    a, b = _units(old), _units(new)
    a_at, b_at = _offsets(a), _offsets(b)
    rows: list[Row] = []
    added = removed = 0
    opcodes = SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            count = i2 - i1
            head = CONTEXT_LINES if index > 0 else 0  # lines kept after the previous change
            tail = CONTEXT_LINES if index < len(opcodes) - 1 else 0  # lines kept before the next change
            keep = [
                k
                for k in range(count)
                if k < head
                or k >= count - tail
                or _touches(old_marks, a_at[i1 + k], a_at[i1 + k + 1])
                or _touches(new_marks, b_at[j1 + k], b_at[j1 + k + 1])
            ]
            previous = -1
            for k in keep:
                if k - previous > 1:
                    rows.append(Row("fold", folded=k - previous - 1))
                rows.append(Row("context", [Segment("equal", a[i1 + k], a_at[i1 + k], b_at[j1 + k])]))
                previous = k
            if count - 1 - previous > 0:
                rows.append(Row("fold", folded=count - 1 - previous))
            continue
        old_block, new_block = "".join(a[i1:i2]), "".join(b[j1:j2])
        if tag == "replace" and (i2 - i1) > 1 and (i2 - i1) == (j2 - j1):
            for k in range(i2 - i1):
                segments = _word_segments(a[i1 + k], b[j1 + k], a_at[i1 + k], b_at[j1 + k])
                rows.append(Row("change", segments))
        elif tag == "replace":
            rows.append(Row("change", _word_segments(old_block, new_block, a_at[i1], b_at[j1])))
        elif tag == "delete":
            rows.append(Row("change", [Segment("delete", old_block, a_at[i1], -1)]))
        else:
            rows.append(Row("change", [Segment("insert", new_block, -1, b_at[j1])]))
    for row in rows:
        for seg in row.segments:
            if seg.op == "insert":
                added += len(seg.text.split())
            elif seg.op == "delete":
                removed += len(seg.text.split())
    return DiffView(rows, old_marks, new_marks, added, removed)


# ---------------------------------------------------------------------------------------------------------
# Search snippets


def snippet_html(snippet: str, start: str, end: str) -> Markup:
    """An FTS snippet with ``start``/``end`` markers as escaped text with ``<mark>`` highlights."""
    out: list[str] = []
    for index, piece in enumerate(re.split(f"({re.escape(start)}|{re.escape(end)})", snippet or "")):
        if piece == start:
            out.append("<mark>")
        elif piece == end:
            out.append("</mark>")
        elif index % 2 == 0:
            out.append(str(escape(piece.replace(start, "").replace(end, ""))))
    html = "".join(out)
    if html.count("<mark>") != html.count("</mark>"):
        html = str(escape(snippet.replace(start, "").replace(end, "")))
    return Markup(html)


# ---------------------------------------------------------------------------------------------------------
# Stance chart


def _when(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def stance_chart(steps: Sequence[dict[str, Any]], *, now: datetime | None = None, width: int = 640) -> Markup:
    """A step chart of the AI-training stance over time, as inline SVG (no script, no inline style)."""
    levels = ["unknown", "none", "never", "opt-in", "opt-out", "no-choice"]
    if not steps:
        return Markup("")
    row_h, left, right, top = 22, 86, 12, 8
    height = top + row_h * len(levels) + 24
    start = _when(steps[0]["from"])
    end = max(now or datetime.now(UTC), _when(steps[-1]["from"]))
    span = max((end - start).total_seconds(), 1.0)

    def x(moment: datetime) -> float:
        return round(left + (width - left - right) * (moment - start).total_seconds() / span, 1)

    def y(training: str | None) -> float:
        level = training if training in levels else "unknown"
        return top + row_h * (len(levels) - 1 - levels.index(level)) + row_h / 2

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="AI-training stance over time" xmlns="http://www.w3.org/2000/svg">'
    ]
    for level in levels:
        parts.append(
            f'<text class="axis" x="{left - 8}" y="{y(level) + 4}" text-anchor="end">{escape(level)}</text>'
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(level)}" y2="{y(level)}"/>'
        )
    points: list[str] = []
    for index, step in enumerate(steps):
        x0 = x(_when(step["from"]))
        x1 = x(_when(steps[index + 1]["from"])) if index + 1 < len(steps) else x(end)
        yy = y(step["training"])
        points.append(f"{x0},{yy} {x1},{yy}")
    parts.append(f'<polyline class="stance-line" points="{" ".join(points)}"/>')
    for step in steps:
        level = step["training"] if step["training"] in levels else "unknown"
        parts.append(
            f'<circle class="dot stance-{escape(level)}" cx="{x(_when(step["from"]))}" cy="{y(level)}" r="5">'
            f"<title>{escape(step['from'][:10])}: {escape(level)} (version {int(step['version_id'])})</title>"
            "</circle>"
        )
    base = top + row_h * len(levels) + 16
    parts.append(f'<text class="axis" x="{left}" y="{base}">{escape(start.date().isoformat())}</text>')
    parts.append(
        f'<text class="axis" x="{width - right}" y="{base}" text-anchor="end">'
        f"{escape(end.date().isoformat())}</text></svg>"
    )
    return Markup("".join(parts))


# ---------------------------------------------------------------------------------------------------------
# Atom

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
ATOM = "http://www.w3.org/2005/Atom"


def _clean(text: str | None) -> str:
    return _XML_BAD.sub("", text or "")


def atom_feed(
    *, title: str, feed_url: str, site_url: str, entries: Sequence[dict[str, Any]], updated: str | None
) -> bytes:
    """An Atom 1.0 feed. Each entry: ``id`` (URL), ``title``, ``url``, ``updated``, ``summary``, ``category``."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}title").text = _clean(title)
    ET.SubElement(feed, f"{{{ATOM}}}id").text = feed_url
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = updated or "1970-01-01T00:00:00Z"
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=feed_url, type="application/atom+xml")
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="alternate", href=site_url, type="text/html")
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = "tosmonitor"
    ET.SubElement(feed, f"{{{ATOM}}}generator").text = "tosmonitor"
    for item in entries:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(entry, f"{{{ATOM}}}id").text = item["id"]
        ET.SubElement(entry, f"{{{ATOM}}}title").text = _clean(item["title"])
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = item["updated"]
        ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", href=item["url"], type="text/html")
        for term in item.get("category", []):
            ET.SubElement(entry, f"{{{ATOM}}}category", term=_clean(term))
        ET.SubElement(entry, f"{{{ATOM}}}summary", type="text").text = _clean(item["summary"])
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode")).encode(
        "utf-8"
    )
