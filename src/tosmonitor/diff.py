# SPDX-License-Identifier: Apache-2.0
"""Diffs of two normalised texts: block, sentence and word level, with renderings and statistics.

Owns :class:`TextDiff` (and :class:`SentenceChange`, :class:`WordSpan`, :class:`DiffStats`),
:func:`diff_texts`, the splitters :func:`split_blocks` and :func:`split_sentences`, and the renderings
:func:`unified_diff`, :func:`render_inline`, :func:`render_html` and :func:`excerpt`. Everything here is a
pure function of text: no I/O.

Algorithm
---------
1. **Blocks.** Both texts are split into blocks (separated by blank lines) and aligned with
   :class:`difflib.SequenceMatcher` (``autojunk=False``; see :mod:`tosmonitor.sequence`) keyed on the
   exact block text. Equal blocks are unchanged and never split further, except to count their sentences.
2. **Sentences.** Inside each non-equal block range, blocks are split into sentences (list items, table rows
   and headings are units of their own) and the two sentence lists are aligned the same way, keyed on the
   sentence with its whitespace collapsed. Whitespace-only edits and re-flowed paragraphs are therefore not
   changes.
3. **Moves.** A sentence removed in one place and added, identical, anywhere else in the document is a move:
   it is counted in :attr:`DiffStats.sentences_moved` and is *not* listed in :attr:`TextDiff.changes` nor
   counted as added, removed or unchanged. A text that was only reordered has ``changed == False``.
4. **Pairing.** Within each replaced sentence range, removed and added sentences are paired in order as
   ``"modified"`` when their word-level similarity (``2 * matching words / all words``, the
   :meth:`SequenceMatcher.ratio` of the word lists after trimming the common prefix and suffix) is at least
   :data:`PAIR_RATIO`. Each removed sentence looks at most :data:`PAIR_WINDOW` added sentences ahead, and
   two cheap upper bounds reject most candidates before any alignment: the length bound
   (``real_quick_ratio``) and a distinct-words bound (one set intersection).
5. **Words.** A modified sentence gets word-level spans (``equal`` / ``delete`` / ``insert``) from the same
   alignment.

Bounds (the quadratic parts; when one applies, the output is coarser and ``degraded`` is True)
------------------------------------------------------------------------------------------------
- a replaced block range with more than :data:`MAX_REGION_SENTENCES` sentences on either side is not
  aligned in order: its identical sentences are counted as unchanged by hash, the rest is reported as plain
  added / removed sentences, without pairing;
- a replaced sentence range whose pairing would examine more than :data:`MAX_COMPARISONS` candidates
  (removed sentences × ``min(added, PAIR_WINDOW)``) is reported as plain added / removed sentences, and one
  diff examines at most :data:`MAX_COMPARISONS` candidates in all (later removed sentences stay unpaired);
- the word alignments that score candidates may cover at most :data:`MAX_RATIO_WORDS` words per diff; past
  that, the distinct-words bound stands for the similarity;
- the middle parts (after the common prefix and suffix) of two sentences are not aligned word by word when
  they have more than :data:`MAX_WORD_CELLS` word pairs: the similarity is the distinct-words bound and the
  spans are one ``delete`` and one ``insert`` between the common prefix and suffix.

So the cost of a diff is linear in the size of the texts plus, at most, a fixed number of sentence
comparisons and word alignments. On the corpus of real policies (1,615 consecutive pairs, up to 800 KB) the
median diff takes about 2 ms, the slowest under 100 ms, and one pair in 1,615 (a page replaced by a
different document) is degraded.

Words are whitespace-separated tokens (punctuation stays with its word, as in ``git diff --word-diff``).
Word spans hold words joined by single spaces; renderers put one space between spans. The output is
deterministic: the same two texts always give the same diff.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, Literal

from .sequence import SequenceMatcher

__all__ = [
    "MAX_COMPARISONS",
    "MAX_RATIO_WORDS",
    "MAX_REGION_SENTENCES",
    "MAX_WORD_CELLS",
    "PAIR_RATIO",
    "PAIR_WINDOW",
    "DiffStats",
    "SentenceChange",
    "TextDiff",
    "WordSpan",
    "diff_texts",
    "excerpt",
    "render_html",
    "render_inline",
    "split_blocks",
    "split_sentences",
    "unified_diff",
]

PAIR_RATIO = 0.5
"""Minimum word-level similarity for a removed and an added sentence to be reported as one modification."""
PAIR_WINDOW = 12
"""How many added sentences ahead a removed sentence is compared with, in a replaced range."""
MAX_REGION_SENTENCES = 4000
"""Above this many sentences on either side, a replaced block range is not aligned sentence by sentence."""
MAX_COMPARISONS = 20_000
"""Budget of candidate pairings (removed sentence, added sentence) examined in one diff."""
MAX_RATIO_WORDS = 400_000
"""Budget of words (both sentences counted) aligned to compute the similarity ratios of one diff."""
MAX_WORD_CELLS = 250_000
"""Above this many word pairs, a modified sentence gets no word-level alignment of its differing middle."""

WordKind = Literal["equal", "insert", "delete"]
ChangeKind = Literal["added", "removed", "modified"]


@dataclass(frozen=True)
class WordSpan:
    """A run of words that is equal in both sentences, inserted in the new one or deleted from the old one."""

    kind: WordKind
    text: str


@dataclass(frozen=True)
class SentenceChange:
    """One sentence added, removed or modified, with its word spans and the blocks it sits in.

    ``words`` holds the word-level highlights of a modification; for an added (removed) sentence it is one
    ``insert`` (``delete``) span with the whole sentence. ``block_old`` / ``block_new`` are indexes into
    :func:`split_blocks` of the old / new text (``None`` on the side where the sentence does not exist).
    """

    kind: ChangeKind
    old: str | None
    new: str | None
    words: tuple[WordSpan, ...]
    block_old: int | None
    block_new: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "old": self.old,
            "new": self.new,
            "words": [{"kind": w.kind, "text": w.text} for w in self.words],
            "block_old": self.block_old,
            "block_new": self.block_new,
        }


@dataclass(frozen=True)
class DiffStats:
    """Counts of a diff. Moved sentences count in ``sentences_moved`` only; words count whitespace-separated
    tokens (inserted / deleted words of modified sentences plus all words of added / removed ones);
    ``blocks_changed`` is the sum, over non-equal block ranges, of the larger side's number of blocks."""

    sentences_added: int
    sentences_removed: int
    sentences_modified: int
    sentences_unchanged: int
    words_added: int
    words_removed: int
    blocks_changed: int
    sentences_moved: int = 0

    def to_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class TextDiff:
    """The diff of two texts: sentence changes in document order, statistics, and whether a bound applied."""

    changes: tuple[SentenceChange, ...]
    stats: DiffStats
    degraded: bool

    @property
    def changed(self) -> bool:
        """True when at least one sentence was added, removed or modified (moves alone do not count)."""
        return bool(self.changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict: ``changed``, ``degraded``, ``stats`` and ``changes``."""
        return {
            "changed": self.changed,
            "degraded": self.degraded,
            "stats": self.stats.to_dict(),
            "changes": [c.to_dict() for c in self.changes],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextDiff:
        """Rebuild a diff from :meth:`to_dict` output (e.g. a diff stored in the archive).

        :raises ValueError: when ``data`` does not have the shape of :meth:`to_dict`.
        """
        try:
            changes = tuple(
                SentenceChange(
                    kind=c["kind"],
                    old=c["old"],
                    new=c["new"],
                    words=tuple(WordSpan(w["kind"], w["text"]) for w in c["words"]),
                    block_old=c["block_old"],
                    block_new=c["block_new"],
                )
                for c in data["changes"]
            )
            stats = DiffStats(**data["stats"])
            return cls(changes=changes, stats=stats, degraded=bool(data["degraded"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a serialised TextDiff: missing or bad field ({exc})") from exc


# -- splitting ------------------------------------------------------------------------------------------------

_BLANK_LINES = re.compile(r"\n(?:[ \t\u00a0\ufeff]*\n)+")
_HEADING = re.compile(r"#{1,6}(?:\s|$)")
_LIST_ITEM = re.compile(r"(?:[-*+•]|\d{1,3}[.)]|\([a-zA-Z0-9]{1,4}\))\s")
_UNDERLINE = re.compile(r"[=\-]{2,}\s*$|(?:[-*_]\s*){3,}$")
_WORD_CHAR = re.compile(r"\w")
_LETTER = re.compile(r"[^\W\d_]")
_ODD_SPACE = re.compile(r"[^\S ]")  # whitespace other than a plain space
_BR = re.compile(r"(?:\s*<br\s*/?>\s*)+", re.IGNORECASE)
_OPENERS = "\"'“‘([*_"
# A candidate sentence end: . ! ? or … (then closing quotes/brackets/emphasis), whitespace, then a capital,
# a digit or an opening quote/bracket/emphasis.
_SENT_END = re.compile(r"[.!?…][\"'”’)\]*_]*\s+(?=[\"'“‘(\[*_]*[A-Z0-9À-ÖØ-Þ])")
_ABBREVIATIONS = frozenset(
    "e.g i.e etc inc ltd llc plc co corp no nos vs mr mrs ms dr st art arts sec secs para fig approx incl "
    "cf viz al jr sr ph.d u.s u.k e.u u.s.a p pp ca vol ed eds rev dept est jan feb mar apr jun jul aug sep "
    "sept oct nov dec ref tel".split()
)
_INITIALS = re.compile(r"(?:[a-z]\.)*[a-z]")


def split_blocks(text: str) -> list[str]:
    """Split a normalised text into blocks: runs of lines separated by blank (or whitespace-only) lines.

    :param text: the normalised text (``\\r\\n`` line ends are accepted).
    :returns: the blocks in order, each stripped of surrounding whitespace; empty blocks are dropped.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for piece in _BLANK_LINES.split(text):
        piece = piece.strip()
        if piece:
            out.append(piece)
    return out


def _units(block: str) -> Iterator[str]:
    """The units of a block: headings, list items, table rows and paragraphs (lines joined)."""
    if "\n" not in block:  # most blocks: one line (split_blocks strips them)
        if not _UNDERLINE.match(block):
            yield block
        return
    current: list[str] = []
    whole = False  # the current unit is a heading or a table row: the next line starts a new unit
    for raw in block.split("\n"):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("|") or _HEADING.match(line):
            if current:
                yield " ".join(current)
            current, whole = [line], True
        elif _UNDERLINE.match(line):
            continue  # setext heading underline or a horizontal rule: formatting only
        elif _LIST_ITEM.match(line):
            if current:
                yield " ".join(current)
            current, whole = [line], False
        elif whole:
            yield " ".join(current)
            current, whole = [line], False
        else:
            current.append(line)
    if current:
        yield " ".join(current)


def _split_unit(unit: str, out: list[str]) -> None:
    """Append the sentences of one unit (whitespace already collapsed) to ``out``."""
    if _HEADING.match(unit):
        if _WORD_CHAR.search(unit):
            out.append(unit)
        return
    start = 0
    found = False
    for m in _SENT_END.finditer(unit):
        stop = m.start()
        if unit[stop] == ".":
            cut = unit.rfind(" ", start, stop)
            word = unit[cut + 1 if cut >= 0 else start : stop]
            if len(word) < 9 or "." in word:
                word = word.lstrip(_OPENERS).lower()
                if not word or word in _ABBREVIATIONS or _INITIALS.fullmatch(word):
                    continue  # "e.g.", "Inc.", "U.S.", an initial
        if not (unit[start].isalpha() or _LETTER.search(unit, start, stop)):
            continue  # only a list marker or a number so far ("1."): keep it with what follows
        out.append(unit[start : m.end()].rstrip())
        found = True
        start = m.end()
    tail = unit[start:]
    if not tail:
        return
    if found and not _LETTER.search(tail):
        out[-1] = f"{out[-1]} {tail}"
    elif found or _WORD_CHAR.search(tail):
        out.append(tail)


def split_sentences(block: str) -> list[str]:
    """Split a block into sentences, with whitespace collapsed.

    A heading is one sentence; list items and table rows start a new sentence and keep their marker (``- ``,
    ``1.``, ``(a)``, ``|``) with their first sentence (a long cell may hold several sentences); other lines
    of a block are joined into a paragraph; ``<br>`` tags (line breaks in table cells) separate units too.
    A sentence ends at ``.``, ``!``, ``?`` or ``…`` followed by whitespace and a capital letter, a digit or an
    opening quote or bracket, but not after an abbreviation (``e.g.``, ``i.e.``, ``Inc.``, ``U.S.``...), an
    initial, or a bare list marker. Decimals (``3.5``) and URLs (``example.com/a.b``) never end a sentence,
    since no whitespace follows their dots. Pieces without any letter or digit (rules, table separators) are
    dropped.

    :param block: one block of :func:`split_blocks` (or any paragraph).
    :returns: the sentences in order.
    """
    return list(_sentences(block))


# Consecutive versions of a document share most of their blocks: each is split once (a few MB at most).
@lru_cache(maxsize=1024)
def _sentences(block: str) -> tuple[str, ...]:
    out: list[str] = []
    for unit in _units(block):
        if "<br" in unit:  # line breaks inside table cells (or any line): each part is a unit
            for part in _BR.split(unit):
                if part.strip():
                    _split_unit(" ".join(part.split()), out)
            continue
        if "  " in unit or "\t" in unit or (not unit.isascii() and _ODD_SPACE.search(unit)):
            unit = " ".join(unit.split())
        _split_unit(unit, out)
    return tuple(out)


# -- diffing --------------------------------------------------------------------------------------------------


@dataclass
class _Budget:
    comparisons: int = MAX_COMPARISONS
    ratio_words: int = MAX_RATIO_WORDS
    degraded: bool = False


@dataclass
class _Side:
    """Sentences of one side of a replaced block range, with the block each comes from."""

    sentences: list[str]
    blocks: list[int]


def _sentences_of(blocks: Sequence[str], lo: int, hi: int) -> _Side:
    sentences: list[str] = []
    where: list[int] = []
    for index in range(lo, hi):
        for sentence in _sentences(blocks[index]):
            sentences.append(sentence)
            where.append(index)
    return _Side(sentences, where)


def _trim_common(a: Sequence[str], b: Sequence[str]) -> tuple[int, int]:
    """Lengths of the common prefix and (non-overlapping) common suffix of two word lists."""
    n = min(len(a), len(b))
    pre = 0
    while pre < n and a[pre] == b[pre]:
        pre += 1
    suf = 0
    while suf < n - pre and a[-1 - suf] == b[-1 - suf]:
        suf += 1
    return pre, suf


_Runs = list[tuple[WordKind, list[str]]]


def _align_words(old_words: list[str], new_words: list[str], budget: _Budget) -> tuple[int | None, _Runs]:
    """Align two word lists: the number of matching words and the runs (equal / delete / insert).

    The common prefix and suffix are taken first; the middle parts are aligned with SequenceMatcher unless
    they have more than MAX_WORD_CELLS word pairs, in which case they become one deletion and one insertion
    (degraded) and the count is ``None``.
    """
    pre, suf = _trim_common(old_words, new_words)
    mid_a = old_words[pre : len(old_words) - suf]
    mid_b = new_words[pre : len(new_words) - suf]
    runs: _Runs = []
    matched: int | None = pre + suf
    if pre:
        runs.append(("equal", old_words[:pre]))
    if len(mid_a) * len(mid_b) > MAX_WORD_CELLS:
        budget.degraded = True
        matched = None
        runs += [("delete", mid_a), ("insert", mid_b)]
    elif mid_a and mid_b:
        matcher = SequenceMatcher(None, mid_a, mid_b, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                runs.append(("equal", mid_a[i1:i2]))
                matched += i2 - i1  # type: ignore[operator]
            else:
                runs += [("delete", mid_a[i1:i2]), ("insert", mid_b[j1:j2])]
    else:
        runs += [("delete", mid_a), ("insert", mid_b)]
    if suf:
        runs.append(("equal", old_words[len(old_words) - suf :]))
    return matched, runs


def _spans(runs: _Runs) -> tuple[WordSpan, ...]:
    """Word spans from runs: neighbours of one kind merged, empty runs dropped, deletions before insertions."""
    spans: _Runs = []
    for kind, words in runs:
        if not words:
            continue
        if spans and spans[-1][0] == kind:
            spans[-1][1].extend(words)
        elif kind == "delete" and spans and spans[-1][0] == "insert":
            if len(spans) >= 2 and spans[-2][0] == "delete":
                spans[-2][1].extend(words)
            else:
                spans.insert(len(spans) - 1, (kind, list(words)))
        else:
            spans.append((kind, list(words)))
    return tuple(WordSpan(kind, " ".join(words)) for kind, words in spans)


@dataclass(frozen=True)
class _Words:
    """A sentence's words and their distinct set."""

    words: list[str]
    distinct: frozenset[str]

    @classmethod
    def of(cls, sentence: str) -> _Words:
        words = sentence.split()
        return cls(words, frozenset(words))


def _similar(old: _Words, new: _Words, budget: _Budget) -> tuple[float, _Runs | None]:
    """The word-level ratio of two sentences (0.0 when it cannot reach PAIR_RATIO) and their word runs.

    Two cheap upper bounds come first: the length bound ``2 * min / total`` and a bound from the distinct
    words (a word of one sentence whose form is absent from the other cannot match, so at most
    ``len - distinct + common`` words match on each side). When the ratio budget is spent or the sentences
    are too long to align, the second bound stands for the ratio (degraded) and the runs are ``None``.
    """
    la, lb = len(old.words), len(new.words)
    total = la + lb
    if 2 * min(la, lb) < PAIR_RATIO * total:
        return 0.0, None
    common = len(old.distinct & new.distinct)
    bound = min(la - len(old.distinct), lb - len(new.distinct)) + common
    if 2 * bound < PAIR_RATIO * total:
        return 0.0, None
    if total > budget.ratio_words:
        budget.degraded = True
        return 2 * bound / total, None
    budget.ratio_words -= total
    matched, runs = _align_words(old.words, new.words, budget)
    if matched is None:
        return 2 * bound / total, None
    return 2 * matched / total, runs


def _pair(
    removed: list[int], added: list[int], old: _Side, new: _Side, budget: _Budget
) -> list[tuple[int | None, int | None, _Runs | None]]:
    """Pair removed and added sentences (indexes into ``old`` / ``new``) in order, by similarity.

    Each removed sentence takes the most similar of the next PAIR_WINDOW unpaired added sentences (the
    earliest on ties) when the ratio reaches PAIR_RATIO; added sentences it skips are plain additions.

    :returns: ``(old_index, new_index, word runs)`` in order; ``None`` on one side for an addition or a
        removal (the runs are known for most modifications, else ``None``).
    """
    out: list[tuple[int | None, int | None, _Runs | None]] = []
    new_words: dict[int, _Words] = {}
    k = 0
    for i in removed:
        best, best_ratio, best_runs = -1, 0.0, None
        if k < len(added) and budget.comparisons <= 0:
            budget.degraded = True
        elif k < len(added):
            budget.comparisons -= min(PAIR_WINDOW, len(added) - k)
            old_words = _Words.of(old.sentences[i])
            for pos in range(k, min(k + PAIR_WINDOW, len(added))):
                j = added[pos]
                words = new_words.get(j)
                if words is None:
                    words = new_words[j] = _Words.of(new.sentences[j])
                ratio, runs = _similar(old_words, words, budget)
                if ratio >= PAIR_RATIO and ratio > best_ratio:
                    best, best_ratio, best_runs = pos, ratio, runs
        if best < 0:
            out.append((i, None, None))
            continue
        out.extend((None, added[pos], None) for pos in range(k, best))
        out.append((i, added[best], best_runs))
        k = best + 1
    out.extend((None, added[pos], None) for pos in range(k, len(added)))
    return out


@dataclass
class _Region:
    """A replaced block range after sentence alignment: removed and added sentences per sentence range."""

    old: _Side
    new: _Side
    ranges: list[tuple[list[int], list[int]]]  # (removed old indexes, added new indexes) per replaced range
    pairing: bool = True  # False when the range was too large to pair removed and added sentences


def _align_region(old: _Side, new: _Side, budget: _Budget) -> tuple[_Region, int]:
    """Align the sentences of a replaced block range; returns the region and its unchanged sentence count."""
    a, b = old.sentences, new.sentences
    if len(a) > MAX_REGION_SENTENCES or len(b) > MAX_REGION_SENTENCES:
        # too large to align in order: identical sentences (first occurrences) are unchanged, the rest is
        # reported as plain removals and additions
        budget.degraded = True
        common = Counter(a) & Counter(b)
        unchanged = sum(common.values())
        left = common.copy()
        removed = []
        for i, sentence in enumerate(a):
            if left[sentence] > 0:
                left[sentence] -= 1
            else:
                removed.append(i)
        left = common
        added = []
        for j, sentence in enumerate(b):
            if left[sentence] > 0:
                left[sentence] -= 1
            else:
                added.append(j)
        return _Region(old, new, [(removed, added)], pairing=False), unchanged
    ranges: list[tuple[list[int], list[int]]] = []
    unchanged = 0
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            unchanged += i2 - i1
        else:
            ranges.append((list(range(i1, i2)), list(range(j1, j2))))
    return _Region(old, new, ranges), unchanged


def _remove_moves(regions: list[_Region]) -> int:
    """Take identical sentences removed in one place and added in another out of every range; count them."""
    removed_at: dict[str, list[tuple[int, int, int]]] = {}
    added_at: dict[str, list[tuple[int, int, int]]] = {}
    for r, region in enumerate(regions):
        for g, (rem, add) in enumerate(region.ranges):
            for i in rem:
                removed_at.setdefault(region.old.sentences[i], []).append((r, g, i))
            for j in add:
                added_at.setdefault(region.new.sentences[j], []).append((r, g, j))
    drop_old: set[tuple[int, int, int]] = set()
    drop_new: set[tuple[int, int, int]] = set()
    for sentence, places in removed_at.items():
        targets = added_at.get(sentence)
        if targets:
            n = min(len(places), len(targets))
            drop_old.update(places[:n])
            drop_new.update(targets[:n])
    if not drop_old:
        return 0
    for r, region in enumerate(regions):
        region.ranges = [
            (
                [i for i in rem if (r, g, i) not in drop_old],
                [j for j in add if (r, g, j) not in drop_new],
            )
            for g, (rem, add) in enumerate(region.ranges)
        ]
    return len(drop_old)


def _count_sentences(blocks: Sequence[str], lo: int, hi: int) -> int:
    return sum(len(_sentences(blocks[i])) for i in range(lo, hi))


def _unpaired(removed: list[int], added: list[int]) -> list[tuple[int | None, int | None, _Runs | None]]:
    return [(i, None, None) for i in removed] + [(None, j, None) for j in added]


def diff_texts(old: str, new: str) -> TextDiff:
    """Diff two normalised texts at block, sentence and word level.

    :param old: the previous text.
    :param new: the new text.
    :returns: the sentence changes in document order, statistics, and ``degraded`` when one of the bounds
        described in the module docstring applied.
    """
    budget = _Budget()
    old_blocks, new_blocks = split_blocks(old), split_blocks(new)
    unchanged = 0
    blocks_changed = 0
    regions: list[_Region] = []
    if old_blocks != new_blocks:
        matcher = SequenceMatcher(None, old_blocks, new_blocks, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                unchanged += _count_sentences(old_blocks, i1, i2)
                continue
            blocks_changed += max(i2 - i1, j2 - j1)
            region, same = _align_region(
                _sentences_of(old_blocks, i1, i2), _sentences_of(new_blocks, j1, j2), budget
            )
            unchanged += same
            regions.append(region)
    else:
        unchanged = _count_sentences(old_blocks, 0, len(old_blocks))
    moved = _remove_moves(regions)

    changes: list[SentenceChange] = []
    counts = Counter[str]()
    for region in regions:
        o, n = region.old, region.new
        for removed, added in region.ranges:
            if removed and added and region.pairing:
                if len(removed) * min(len(added), PAIR_WINDOW) > MAX_COMPARISONS:
                    budget.degraded = True  # too many candidate pairings: plain removals and additions
                    pairs = _unpaired(removed, added)
                else:
                    pairs = _pair(removed, added, o, n, budget)
            else:
                pairs = _unpaired(removed, added)
            for i, j, runs in pairs:
                if i is not None and j is not None:
                    if runs is None:
                        runs = _align_words(o.sentences[i].split(), n.sentences[j].split(), budget)[1]
                    words = _spans(runs)
                    change = SentenceChange(
                        "modified", o.sentences[i], n.sentences[j], words, o.blocks[i], n.blocks[j]
                    )
                    counts["modified"] += 1
                    counts["words_added"] += sum(len(w.text.split()) for w in words if w.kind == "insert")
                    counts["words_removed"] += sum(len(w.text.split()) for w in words if w.kind == "delete")
                elif i is not None:
                    text = o.sentences[i]
                    change = SentenceChange(
                        "removed", text, None, (WordSpan("delete", text),), o.blocks[i], None
                    )
                    counts["removed"] += 1
                    counts["words_removed"] += len(text.split())
                else:
                    assert j is not None
                    text = n.sentences[j]
                    change = SentenceChange(
                        "added", None, text, (WordSpan("insert", text),), None, n.blocks[j]
                    )
                    counts["added"] += 1
                    counts["words_added"] += len(text.split())
                changes.append(change)
    stats = DiffStats(
        sentences_added=counts["added"],
        sentences_removed=counts["removed"],
        sentences_modified=counts["modified"],
        sentences_unchanged=unchanged,
        words_added=counts["words_added"],
        words_removed=counts["words_removed"],
        blocks_changed=blocks_changed,
        sentences_moved=moved,
    )
    return TextDiff(changes=tuple(changes), stats=stats, degraded=budget.degraded)


# -- renderings -----------------------------------------------------------------------------------------------


def unified_diff(
    old: str, new: str, *, old_label: str = "old", new_label: str = "new", context: int = 3
) -> str:
    """A unified line diff (like ``diff -u``), empty when the texts are equal.

    :param context: lines of context around each hunk.
    """
    a, b = old.splitlines(), new.splitlines()
    if a == b:
        return ""
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    out = [f"--- {old_label}\n", f"+++ {new_label}\n"]
    for group in matcher.get_grouped_opcodes(context):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        out.append(f"@@ -{_hunk_range(i1, i2)} +{_hunk_range(j1, j2)} @@\n")
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                out.extend(f" {line}\n" for line in a[a1:a2])
                continue
            out.extend(f"-{line}\n" for line in a[a1:a2])
            out.extend(f"+{line}\n" for line in b[b1:b2])
    return "".join(out)


def _hunk_range(start: int, stop: int) -> str:
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start + 1 if length else start},{length}"


_DEL_OPEN, _DEL_CLOSE, _INS_OPEN, _INS_CLOSE = "[-", "-]", "{+", "+}"
_RED, _GREEN, _RESET = "\x1b[31m", "\x1b[32m", "\x1b[0m"


def _no_change(diff: TextDiff) -> str:
    moved = diff.stats.sentences_moved
    if moved:
        return f"No change in the text ({moved} sentence{'' if moved == 1 else 's'} moved)."
    return "No change in the text."


def _marked(span: WordSpan, color: bool) -> str:
    if span.kind == "equal":
        return span.text
    if color:
        return f"{_RED if span.kind == 'delete' else _GREEN}{span.text}{_RESET}"
    if span.kind == "delete":
        return f"{_DEL_OPEN}{span.text}{_DEL_CLOSE}"
    return f"{_INS_OPEN}{span.text}{_INS_CLOSE}"


def _join_spans(parts: list[tuple[WordKind, str]]) -> str:
    """Join rendered spans with one space, except between a deletion and the insertion replacing it."""
    out: list[str] = []
    previous: WordKind | None = None
    for kind, text in parts:
        if out and not (previous == "delete" and kind == "insert"):
            out.append(" ")
        out.append(text)
        previous = kind
    return "".join(out)


def render_inline(diff: TextDiff, *, color: bool = False) -> str:
    """The changes as text, one paragraph per changed sentence: ``[-deleted-]{+inserted+}`` word marks, or
    red / green ANSI colours instead of marks when ``color`` is True."""
    if not diff.changes:
        return _no_change(diff)
    paragraphs = [_join_spans([(s.kind, _marked(s, color)) for s in change.words]) for change in diff.changes]
    if diff.degraded:
        paragraphs.append("(coarse diff: the changes were too large for a finer alignment)")
    return "\n\n".join(paragraphs)


def render_html(diff: TextDiff) -> str:
    """The changes as an HTML fragment: one ``<p>`` per changed sentence with ``<del>`` / ``<ins>`` spans.

    All text is escaped (page text is untrusted). Classes: ``tosmonitor-diff`` on the container, and
    ``change added|removed|modified`` on each paragraph, which also carries ``data-block-old`` /
    ``data-block-new`` when known.
    """
    if not diff.changes:
        return f'<div class="tosmonitor-diff"><p class="no-change">{html.escape(_no_change(diff))}</p></div>'
    out = ['<div class="tosmonitor-diff">']
    for change in diff.changes:
        attrs = f'class="change {change.kind}"'
        if change.block_old is not None:
            attrs += f' data-block-old="{change.block_old}"'
        if change.block_new is not None:
            attrs += f' data-block-new="{change.block_new}"'
        parts: list[tuple[WordKind, str]] = []
        for span in change.words:
            text = html.escape(span.text, quote=True)
            tag = {"equal": "", "delete": "del", "insert": "ins"}[span.kind]
            parts.append((span.kind, f"<{tag}>{text}</{tag}>" if tag else text))
        out.append(f"<p {attrs}>{_join_spans(parts)}</p>")
    if diff.degraded:
        out.append('<p class="degraded">Coarse diff: the changes were too large for a finer alignment.</p>')
    out.append("</div>")
    return "\n".join(out)


EXCERPT_CONTEXT = 5
"""Unchanged words kept on each side of a word change in :func:`excerpt`."""


def _excerpt_change(change: SentenceChange) -> str:
    parts: list[tuple[WordKind, str]] = []
    last = len(change.words) - 1
    for index, span in enumerate(change.words):
        if span.kind != "equal":
            parts.append((span.kind, _marked(span, color=False)))
            continue
        words = span.text.split(" ")
        c = EXCERPT_CONTEXT
        if index == 0 and len(words) > c:  # leading context: its last words
            text = " ".join(["…", *words[-c:]])
        elif index == last and len(words) > c:  # trailing context: its first words
            text = " ".join([*words[:c], "…"])
        elif 0 < index < last and len(words) > 2 * c:
            text = " ".join([*words[:c], "…", *words[-c:]])
        else:
            text = span.text
        parts.append(("equal", text))
    return _join_spans(parts)


def excerpt(diff: TextDiff, max_chars: int = 600) -> str:
    """A short word-level excerpt of the first changes, for alerts: one line per change, unchanged words
    trimmed to a few around each word change, ``[-deleted-]{+inserted+}`` marks.

    The text is cut at a word boundary with "…" when longer than ``max_chars`` (marks left open are closed),
    and is never empty for a changed diff: when even the first word is longer than ``max_chars``, that word
    is kept whole.

    :returns: the excerpt, or "" when nothing changed.
    """
    if not diff.changes:
        return ""
    lines: list[str] = []
    size = 0
    for change in diff.changes:
        line = _excerpt_change(change)
        lines.append(line)
        size += len(line) + 1
        if size > max_chars:
            break
    text = "\n".join(lines)
    if len(text) <= max_chars:
        return text
    return _cut(text, max_chars)


def _cut(text: str, max_chars: int) -> str:
    """Cut ``text`` at a word boundary so that, with "…" and closing marks, it fits ``max_chars``."""
    room = max(max_chars - 1 - len(_DEL_CLOSE), 0)
    cut = -1
    for m in re.finditer(r"\s+", text):
        if m.start() > room:
            break
        cut = m.start()
    if cut <= 0:  # the first word alone is too long: keep it whole
        m = re.search(r"\s", text)
        cut = m.start() if m else len(text)
    head = text[:cut].rstrip()
    head += "…"
    if head.rfind(_DEL_OPEN) > head.rfind(_DEL_CLOSE):
        head += _DEL_CLOSE
    elif head.rfind(_INS_OPEN) > head.rfind(_INS_CLOSE):
        head += _INS_CLOSE
    return head
