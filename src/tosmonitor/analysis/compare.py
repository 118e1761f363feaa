# SPDX-License-Identifier: Apache-2.0
"""Comparing two versions of a policy: clause alignment, cosmetic detection and AI-training findings.

Owns :class:`Finding`, :class:`Comparison`, :func:`align` and :func:`compare`. Findings come from the
difference between the two versions' resolved profiles (so a moved or re-punctuated clause says nothing new),
and quote the clauses that carry the difference, paired by the alignment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from rapidfuzz.distance import Indel

from ..sequence import SequenceMatcher
from .detect import INDEFINITELY, ClauseHit, detect, detect_text
from .lexicon import REGIONS
from .segment import Clause, segment
from .stance import Profile, Stance, profile

SEVERITIES = ("info", "low", "medium", "high", "critical")
_MONTHS = (
    r"january|february|march|april|may|june|july|august|september|october|november|december|"
    r"jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_WORD = re.compile(r"[a-z]{3,}")
# norm_key in steps that ``re`` runs fast (see its docstring for why they equal the one-pass definition).
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_TAG = re.compile(r"<[^>]+>")
_MARKS = re.compile(r"[*_`]+")
_MONTH_NAMES = frozenset(_MONTHS.split("|"))
_RUNS = re.compile(r"\w+")
_NOT_LETTER = re.compile(r"[\d_]+")
_LETTERS = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class Finding:
    """One material change to what the policy says about AI training."""

    rule: str
    severity: str
    summary: str
    old: str | None
    new: str | None

    def to_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "summary": self.summary,
            "old": self.old,
            "new": self.new,
        }


@dataclass(frozen=True)
class Comparison:
    """The analysis of one change (old -> new)."""

    changed: bool
    cosmetic: bool
    ai_training_change: bool
    severity: str  # info | low | medium | high | critical
    before: Stance
    after: Stance
    findings: tuple[Finding, ...]

    def to_dict(self) -> dict[str, object]:
        """Exactly the DESIGN.md ``compare --json`` shape."""
        return {
            "changed": self.changed,
            "cosmetic": self.cosmetic,
            "ai_training_change": self.ai_training_change,
            "severity": self.severity,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
        }


def norm_key(text: str) -> str:
    """A clause reduced to its words: case, punctuation, numbering, dates and link targets ignored.

    The words of ``plain(text)`` lower-cased, apostrophes dropped, then with month names, digits, punctuation
    and ``_`` as separators. Computed in cheaper equivalent steps: tags go before the emphasis marks (no mark is
    a ``<``), whitespace is not collapsed (the final split does it), a month name is a whole run of word
    characters (``\\b`` on both sides), so runs are looked up in a set, and what is left are the runs of letters.
    """
    text = _LINK.sub(r"\1", text)
    if "<" in text:
        text = _TAG.sub("", text)
    if "*" in text or "_" in text or "`" in text:
        text = _MARKS.sub("", text)
    text = text.replace("|", " ; ").lower().replace("’", "").replace("'", "")
    words = " ".join([run for run in _RUNS.findall(text) if run not in _MONTH_NAMES])
    if _NOT_LETTER.search(words):  # digits or "_" inside a run: keep its letters only
        return " ".join(_NOT_LETTER.sub(" ", words).split())
    return words


@dataclass
class History:
    """What consecutive comparisons of one document's versions share, so that a version is read once: clause
    verdicts (most clauses carry over from version to version), normalised paragraphs, and the last versions
    read (the old side of the next comparison). Bounded: the caches start afresh past ``LIMIT`` entries."""

    LIMIT = 50_000

    hits: dict[tuple[str, ...], ClauseHit | None] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    ratios: dict[tuple[str, str], float] = field(default_factory=dict)
    grouped: dict[str, list[str] | None] = field(default_factory=dict)  # paragraph groups of the last texts
    last: tuple[str, list[Clause], Profile] | None = None
    profiles: dict[str, Profile] = field(default_factory=dict)  # of the last two texts

    def read(self, text: str, service: str | None) -> tuple[list[Clause], Profile]:
        """The clauses and profile of one version, every clause read (what :func:`align` pairs)."""
        if self.last is not None and self.last[0] == text:
            return self.last[1], self.last[2]
        if len(self.hits) > self.LIMIT:
            self.hits.clear()
        clauses = segment(text)
        read = profile(detect(clauses, service=service, cache=self.hits))
        self.last = (text, clauses, read)
        return clauses, read

    def profile(self, text: str, service: str | None) -> Profile:
        """The profile of one version, from the blocks that can matter only (``detect_text``): equal to
        :meth:`read`'s, with fewer hits (side clauses far from any training clause are not read)."""
        found = self.profiles.get(text)
        if found is None:
            if len(self.hits) > self.LIMIT:
                self.hits.clear()
            found = profile(detect_text(text, service=service, cache=self.hits))
            if len(self.profiles) >= 2:
                self.profiles.pop(next(iter(self.profiles)))
            self.profiles[text] = found
        return found

    def key(self, text: str) -> str:
        """``norm_key(text)`` of a clause or paragraph, computed once."""
        key = self.keys.get(text)
        if key is None:
            if len(self.keys) > self.LIMIT:
                self.keys.clear()
            key = self.keys[text] = norm_key(text)
        return key

    def ratio(self, a: str, b: str) -> float:
        """``difflib``'s similarity ratio of two clause keys, computed once."""
        found = self.ratios.get((a, b))
        if found is None:
            if len(self.ratios) > self.LIMIT:
                self.ratios.clear()
            found = self.ratios[(a, b)] = SequenceMatcher(None, a, b, autojunk=False).ratio()
        return found

    def paragraph_keys(self, text: str) -> str:
        """``norm_key(text)``, computed paragraph by paragraph so that paragraphs seen before cost a lookup
        (see :meth:`groups`)."""
        groups = self.groups(text)
        if groups is None:
            return norm_key(text)
        return " ".join(key for key in map(self.key, groups) if key)

    def groups(self, text: str) -> list[str] | None:
        """The paragraphs of ``text`` whose keys join into ``norm_key(text)``, or None when there are none.

        A blank line is whitespace, so no word, date or number spans it; a link or a tag can, and a paragraph
        that leaves one open (its last ``[``, ``](`` or ``<`` not closed) is joined to the next. A text where
        one stays open over many paragraphs (a lone ``<``) has no such paragraphs: it is normalised whole.
        Kept for the last two texts (the old side of a comparison is the new side of the one before).
        """
        if text in self.grouped:
            return self.grouped[text]
        groups = _paragraph_groups(text)
        if len(self.grouped) >= 2:
            self.grouped.pop(next(iter(self.grouped)))
        self.grouped[text] = groups
        return groups


def _paragraph_groups(text: str) -> list[str] | None:
    paragraphs = text.split("\n\n")
    if "[" not in text and "<" not in text:  # nothing can span a blank line
        return paragraphs
    out = []
    pending = ""
    joined = 0
    for paragraph in paragraphs:
        paragraph = pending + paragraph
        if _unclosed(paragraph):
            joined += 1
            if joined > 8:
                return None
            pending = paragraph + "\n\n"
            continue
        pending, joined = "", 0
        out.append(paragraph)
    if pending:
        out.append(pending)
    return out


def _unclosed(text: str) -> bool:
    """Whether a link's text or target, or a tag, is still open at the end of ``text``."""
    if "[" not in text and "<" not in text:  # most paragraphs (a link target opens after a "[")
        return False
    return (
        text.rfind("[") > text.rfind("]")
        or text.rfind("](") > text.rfind(")")
        or text.rfind("<") > text.rfind(">")
    )


def is_cosmetic(old_text: str, new_text: str, history: History | None = None) -> bool:
    """True when two texts differ only in formatting, punctuation, numbering, link targets or dates.

    That is, when their normalised keys are equal. Compared by paragraph groups (:meth:`History.groups`): the
    groups both texts begin and end with are the same text, so only the keys of the groups between are
    compared, and only as far as the first difference.
    """
    history = history or History()
    old, new = history.groups(old_text), history.groups(new_text)
    if old is None or new is None:
        return history.paragraph_keys(old_text) == history.paragraph_keys(new_text)
    start = 0
    while start < len(old) and start < len(new) and old[start] == new[start]:
        start += 1
    end_old, end_new = len(old), len(new)
    while end_old > start and end_new > start and old[end_old - 1] == new[end_new - 1]:
        end_old, end_new = end_old - 1, end_new - 1
    return _same_joined(
        (key for key in map(history.key, old[start:end_old]) if key),
        (key for key in map(history.key, new[start:end_new]) if key),
    )


def _same_joined(left: Iterator[str], right: Iterator[str]) -> bool:
    """Whether ``" ".join(left) == " ".join(right)``, reading each only as far as the first difference."""
    a = b = ""  # what one side has read beyond the other
    left_done = right_done = False
    while not (left_done and right_done):
        if right_done or (not left_done and len(a) <= len(b)):
            piece = next(left, None)
            if piece is None:
                left_done = True
            else:
                a += " " + piece
        else:
            piece = next(right, None)
            if piece is None:
                right_done = True
            else:
                b += " " + piece
        common = min(len(a), len(b))
        if a[:common] != b[:common]:
            return False
        a, b = a[common:], b[common:]
    return a == b


@dataclass(frozen=True)
class Pair:
    """One row of an alignment: equal, moved, modified, removed or added."""

    status: str
    old: Clause | None
    new: Clause | None


def _most_similar(
    candidates: list[int], keys: dict[int, str], key: str, threshold: float, history: History
) -> int:
    """The candidate whose key is most similar to ``key`` by ``difflib``'s ratio (the last of equals), or -1
    when none reaches ``threshold``.

    The ratio counts the characters of the matching blocks ``difflib`` finds, a common subsequence; the
    normalised InDel similarity (``rapidfuzz``, in C++) counts the longest one, so it bounds the ratio from
    above: candidates are tried from the highest bound down, and those whose bound is below the best ratio
    found so far (which cannot reach it) are never compared character by character.
    """
    bounds = {i: Indel.normalized_similarity(keys[i], key) for i in candidates}
    scores: dict[int, float] = {}
    best_score = threshold
    for i in sorted(candidates, key=lambda i: -bounds[i]):
        if bounds[i] < best_score:
            break
        scores[i] = history.ratio(keys[i], key)
        best_score = max(best_score, scores[i])
    winners = [i for i in candidates if scores.get(i, -1.0) >= threshold and scores[i] == best_score]
    return winners[-1] if winners else -1


def align(
    old: list[Clause],
    new: list[Clause],
    *,
    threshold: float = 0.6,
    focus: set[int] | None = None,
    history: History | None = None,
) -> list[Pair]:
    """Pair the clauses of two versions; lightly reworded clauses come out as "modified".

    Unchanged runs are found with a sequence match on the clause texts; the leftovers are paired by an equal
    normalised key elsewhere ("moved", or "equal" when only punctuation/links changed in place) or by
    character similarity among candidates sharing words (cheap prefilter).

    :param focus: if given, only new clauses with these indexes are paired by similarity (the expensive step).
    :param history: caches of normalised keys and ratios shared along one document's comparisons.
    """
    history = history or History()
    pairs: list[Pair] = []
    left_old: list[int] = []
    left_new: list[int] = []
    matcher = SequenceMatcher(None, [c.text for c in old], [c.text for c in new], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs.extend(
                Pair("equal", old[i], new[j]) for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            )
        else:
            left_old.extend(range(i1, i2))
            left_new.extend(range(j1, j2))
    ok = {i: history.key(old[i].text) for i in left_old}
    nk = {j: history.key(new[j].text) for j in left_new}
    by_key: dict[str, list[int]] = {}
    for i in left_old:
        by_key.setdefault(ok[i], []).append(i)
    words_old = {i: set(_WORD.findall(ok[i])) for i in left_old}
    index: dict[str, set[int]] = {}
    for i, words in words_old.items():
        for w in words:
            index.setdefault(w, set()).add(i)
    used: set[int] = set()
    unmatched_new: list[int] = []
    for j in left_new:
        same = [i for i in by_key.get(nk[j], []) if i not in used]
        if same:
            i = min(same, key=lambda i: abs(i - j))
            used.add(i)
            pairs.append(Pair("moved", old[i], new[j]))
            continue
        if focus is not None and new[j].index not in focus:
            unmatched_new.append(j)
            continue
        words = set(_WORD.findall(nk[j]))
        counts: dict[int, int] = {}
        for w in words:
            postings = index.get(w, ())
            if len(postings) > 200:
                continue
            for i in postings:
                if i not in used:
                    counts[i] = counts.get(i, 0) + 1
        candidates = [
            i
            for i, shared in sorted(counts.items(), key=lambda kv: -kv[1])[:5]
            if shared / (len(words | words_old[i]) or 1) >= 0.3
        ]
        best = _most_similar(candidates, ok, nk[j], threshold, history)
        if best >= 0:
            used.add(best)
            pairs.append(Pair("modified", old[best], new[j]))
        else:
            unmatched_new.append(j)
    pairs.extend(Pair("removed", old[i], None) for i in left_old if i not in used)
    pairs.extend(Pair("added", None, new[j]) for j in unmatched_new)
    return pairs


def _kept_for(stance: Stance) -> float | None:
    """How long training data is kept, in days (infinite for "indefinitely"; None when not said)."""
    if stance.retention == INDEFINITELY:
        return float("inf")
    return stance.retention_days


def _in_order(regions: set[str]) -> list[str]:
    return [r for r in REGIONS if r in regions]


def _worst(severities: list[str]) -> str:
    return max(severities, key=SEVERITIES.index) if severities else "info"


class _Quotes:
    """Picks the clauses to quote for a finding, preferring clauses that changed."""

    def __init__(self, a: Profile, b: Profile, pairs: list[Pair]) -> None:
        self.a, self.b = a, b
        self.old_of: dict[int, Clause] = {}
        self.new_of: dict[int, Clause] = {}
        self.changed_old: set[int] = set()
        self.changed_new: set[int] = set()
        for p in pairs:
            if p.status in ("modified", "moved") and p.old and p.new:
                self.old_of[p.new.index] = p.old
                self.new_of[p.old.index] = p.new
            if p.status != "equal":
                if p.old:
                    self.changed_old.add(p.old.index)
                if p.new:
                    self.changed_new.add(p.new.index)

    @staticmethod
    def _pick(
        hits: tuple[ClauseHit, ...], pred: Callable[[ClauseHit], bool], changed: set[int]
    ) -> ClauseHit | None:
        chosen = [h for h in hits if pred(h)]
        fresh = [h for h in chosen if h.clause.index in changed]
        return (fresh or chosen or [None])[0]

    def new(self, pred: Callable[[ClauseHit], bool]) -> tuple[str | None, str | None]:
        h = self._pick(self.b.hits, pred, self.changed_new)
        if h is None:
            return None, None
        partner = self.old_of.get(h.clause.index)
        return (partner.text if partner else None), h.text

    def old(self, pred: Callable[[ClauseHit], bool]) -> tuple[str | None, str | None]:
        h = self._pick(self.a.hits, pred, self.changed_old)
        if h is None:
            return None, None
        partner = self.new_of.get(h.clause.index)
        return h.text, (partner.text if partner else None)


def _perm(h: ClauseHit) -> bool:
    return h.training and h.permission and not h.ban


def _stance_findings(a: Profile, b: Profile, q: _Quotes) -> list[Finding]:
    ta, tb = a.stance.training, b.stance.training
    if ta == tb:
        return []
    regions = ", ".join(b.stance.excluded_regions)
    where = f"; excluded: {regions}" if regions else ""
    table: dict[tuple[str, str], tuple[str, str, str]] = {
        ("opt-in", "opt-out"): (
            "default_flip_opt_in_to_opt_out",
            "critical",
            "AI training flipped from opt-in to on by default (opt-out)",
        ),
        ("opt-in", "no-choice"): (
            "consent_removed",
            "critical",
            "consent for AI training removed: training without a choice",
        ),
        ("opt-out", "no-choice"): (
            "opt_out_removed",
            "high",
            "the way to opt out of AI training was removed",
        ),
        ("opt-out", "opt-in"): (
            "default_flip_opt_out_to_opt_in",
            "medium",
            "AI training now needs consent (opt-in)",
        ),
        ("no-choice", "opt-in"): (
            "consent_required_added",
            "medium",
            "AI training now needs consent (opt-in)",
        ),
        ("no-choice", "opt-out"): ("opt_out_added", "medium", "a way to opt out of AI training was added"),
        ("never", "none"): (
            "no_training_promise_removed",
            "high",
            "the promise not to train AI on users' data was removed",
        ),
        ("none", "never"): (
            "no_training_promise_added",
            "medium",
            "a promise not to train AI on users' data was added",
        ),
    }
    for before in ("none", "never"):
        table[(before, "opt-out")] = (
            "training_added_opt_out",
            "critical",
            "AI training on user data added, on by default with opt-out",
        )
        table[(before, "no-choice")] = (
            "training_added_no_choice",
            "critical",
            "AI training on user data added, with no way to opt out",
        )
        table[(before, "opt-in")] = (
            "training_added_opt_in",
            "high",
            "AI training on user data added, with consent (opt-in)",
        )
    for before in ("opt-in", "opt-out", "no-choice"):
        table[(before, "never")] = (
            "training_removed_promise_added",
            "medium",
            "AI training replaced by a promise not to train",
        )
        table[(before, "none")] = (
            "training_removed",
            "medium",
            "the statement permitting AI training was removed",
        )
    rule, severity, summary = table[(ta, tb)]
    if tb in ("opt-out", "no-choice", "opt-in") and ta in ("none", "never"):
        old, new = q.new(_perm)
    elif tb in ("none", "never") and ta in ("opt-in", "opt-out", "no-choice"):
        old, new = q.old(_perm)
        if tb == "never":
            new = q.new(lambda h: h.promise)[1]
    elif ta == "never":
        old, new = q.old(lambda h: h.promise)
    elif tb == "never":
        old, new = q.new(lambda h: h.promise)
    elif ta in ("opt-in", "opt-out") or tb in ("opt-in", "opt-out"):
        old = q.old(lambda h: h.consent or h.default is not None or bool(h.opt_out))[0]
        new = q.new(lambda h: h.consent or h.default is not None or bool(h.opt_out))[1]
        old = old or q.old(_perm)[0]
        new = new or q.new(_perm)[1]
    else:
        old, new = q.new(lambda h: h.consent or _perm(h))
    return [Finding(rule, severity, summary + (where if tb in ("opt-out", "no-choice") else ""), old, new)]


def _set_findings(a: Profile, b: Profile, q: _Quotes) -> list[Finding]:
    out: list[Finding] = []
    sa, sb = a.stance, b.stance
    both_train = a.permission and b.permission
    ra, rb = set(sa.excluded_regions), set(sb.excluded_regions)
    if ra - rb and (a.permission or b.permission):
        rule = "carve_out_removed" if not rb else "carve_out_changed"
        old, new = q.old(lambda h: bool(set(h.excluded_regions) & (ra - rb)))
        if new is None and rb:
            new = q.new(lambda h: bool(set(h.excluded_regions) & rb))[1]
        lost = ", ".join(_in_order(ra - rb))
        out.append(Finding(rule, "high", f"regional carve-out changed: {lost} no longer excluded", old, new))
    elif rb - ra and both_train:
        old, new = q.new(lambda h: bool(set(h.excluded_regions) & (rb - ra)))
        out.append(
            Finding(
                "carve_out_added",
                "medium",
                f"regions now excluded: {', '.join(_in_order(rb - ra))}",
                old,
                new,
            )
        )
    # "from users in the United States" -> "from all users": the same training, for more people
    ia, ib = a.included_regions, b.included_regions
    if both_train and ia and (not ib or ib > ia):
        before = ", ".join(_in_order(set(ia)))
        after = ", ".join(_in_order(set(ib))) if ib else "all users"
        old, new = q.old(lambda h: bool(set(h.included_regions) & ia))
        if new is None:
            new = q.new(lambda h: _perm(h) and set(h.included_regions) != set(ia))[1]
        summary = f"AI training now covers more users: {before} -> {after}"
        out.append(Finding("training_regions_widened", "high", summary, old, new))
    elif both_train and ib and (not ia or ib < ia):
        before = ", ".join(_in_order(set(ia))) if ia else "all users"
        old, new = q.new(lambda h: bool(set(h.included_regions) & ib))
        summary = f"AI training now covers fewer users: {before} -> {', '.join(_in_order(set(ib)))}"
        out.append(Finding("training_regions_narrowed", "medium", summary, old, new))
    if both_train or (b.permission and a.stance.training in ("none", "never")):
        new_parties = set(sb.parties) - set(sa.parties)
        if new_parties and both_train:
            old, new = q.new(lambda h: bool(set(h.parties) & new_parties))
            out.append(
                Finding(
                    "party_added",
                    "high",
                    f"new parties may train: {', '.join(sorted(new_parties))}",
                    old,
                    new,
                )
            )
    if both_train:
        # data newly used, and data newly left out ("except chats from users under 18")
        for rule, severity, field_name, changed, what in (
            ("category_added", "medium", "categories", set(sb.categories) - set(sa.categories),
             "more data used for training"),
            ("category_excluded", "medium", "excluded_categories", b.excluded_categories - _left_out(a),
             "data now left out of training"),
            ("category_exclusion_removed", "high", "excluded_categories",
             a.excluded_categories - _left_out(b), "data no longer left out of training"),
        ):  # fmt: skip
            if changed:
                # quoted from the side that names the data: the new one, or the old one for an exclusion gone
                # (an exclusion may stand in a sentence of its own: "... not used for this purpose")
                pick = q.old if rule == "category_exclusion_removed" else q.new
                old, new = pick(
                    lambda h, f=field_name, c=changed: (
                        (_perm(h) or f == "excluded_categories") and bool(set(getattr(h, f)) & c)
                    )
                )
                out.append(Finding(rule, severity, f"{what}: {', '.join(sorted(changed))}", old, new))
        kept_before, kept_after = _kept_for(sa), _kept_for(sb)
        if kept_before is not None and kept_after is not None and kept_before != kept_after:
            old, new = q.new(lambda h: h.retention_days == sb.retention_days and h.retention == sb.retention)
            rule, severity, how = (
                ("retention_lengthened", "medium", "longer")
                if kept_after > kept_before
                else ("retention_shortened", "low", "for less time")
            )
            summary = f"training data kept {how}: {sa.retention} -> {sb.retention}"
            out.append(Finding(rule, severity, summary, old, new))
        if a.opt_out and b.opt_out and not b.opt_out >= a.opt_out and sa.training == sb.training == "opt-out":
            old, new = q.old(lambda h: bool(set(h.opt_out) - set(b.opt_out)))
            lost = ", ".join(sorted(a.opt_out - b.opt_out))
            out.append(
                Finding(
                    "opt_out_mechanism_changed",
                    "medium",
                    f"opt-out mechanism changed (lost: {lost})",
                    old,
                    new,
                )
            )
    new_kinds = b.model_kinds - a.model_kinds
    if both_train and new_kinds:
        old, new = q.new(lambda h: _perm(h) and bool(set(h.model_kinds) & new_kinds))
        kinds = ", ".join(sorted(new_kinds))
        out.append(Finding("model_scope_widened", "medium", f"training now also covers: {kinds}", old, new))
    if b.retro_scope and not a.retro_scope and b.permission:
        old, new = q.new(lambda h: h.retro_scope)
        out.append(
            Finding(
                "retroactive_scope_added", "high", "training now covers content posted in the past", old, new
            )
        )
    if sb.retroactive_opt_out is False and sa.retroactive_opt_out is True:
        old, new = q.new(lambda h: h.retro_opt_out is False)
        out.append(
            Finding(
                "retroactive_opt_out_removed", "medium", "opting out no longer covers past training", old, new
            )
        )
    elif sb.retroactive_opt_out is False and sa.retroactive_opt_out is None and sa.training == "opt-out":
        old, new = q.new(lambda h: h.retro_opt_out is False)
        out.append(
            Finding(
                "opt_out_not_retroactive",
                "medium",
                "opting out is now said not to cover past training",
                old,
                new,
            )
        )
    elif sb.retroactive_opt_out is True and not sa.retroactive_opt_out and sb.training == "opt-out":
        old, new = q.new(lambda h: h.retro_opt_out is True)
        summary = "opting out now also covers past training"
        out.append(Finding("retroactive_opt_out_added", "low", summary, old, new))
    if b.licence and not a.licence:
        old, new = q.new(lambda h: h.licence)
        out.append(
            Finding(
                "licence_covers_training",
                "high",
                "the licence users grant now covers training AI models",
                old,
                new,
            )
        )
    elif b.perpetual_licence and not a.perpetual_licence and a.licence:
        old, new = q.new(lambda h: h.perpetual)
        summary = "the licence that covers training is now perpetual or irrevocable, or outlives deletion"
        out.append(Finding("licence_made_perpetual", "high", summary, old, new))
    for notice, rule in (("pause", "training_paused"), ("resume", "training_resumed")):
        if notice in b.notices and notice not in a.notices:
            old, new = q.new(lambda h, n=notice: h.notice == n)
            out.append(Finding(rule, "high", f"notice: AI training {rule.split('_')[1]}", old, new))
    if b.exceptions - a.exceptions and b.permission:
        old, new = q.new(lambda h: not h.promise and bool(set(h.exceptions) - a.exceptions))
        extra = ", ".join(sorted(b.exceptions - a.exceptions))
        out.append(
            Finding(
                "opt_out_exception_added",
                "medium",
                f"used for training even after opt-out: {extra}",
                old,
                new,
            )
        )

    # A promise kept, now with exceptions (a new promise with exceptions is only "added").
    def kept_with_exceptions(h: ClauseHit) -> bool:
        return (
            h.promise
            and (h.promise_scope, h.categories) in a.promises
            and bool(set(h.exceptions) - a.promise_exceptions)
        )

    if any(kept_with_exceptions(h) for h in b.hits):
        old, new = q.new(kept_with_exceptions)
        extra = ", ".join(sorted(b.promise_exceptions - a.promise_exceptions))
        out.append(
            Finding(
                "no_training_promise_narrowed",
                "high",
                f"a promise not to train now has exceptions: {extra}",
                old,
                new,
            )
        )
    out.extend(_promise_findings(a, b, q))
    return out


def _covered(promise: tuple[str, tuple[str, ...]], others: frozenset[tuple[str, tuple[str, ...]]]) -> bool:
    scope, cats = promise
    return any(s == scope and set(cs) >= set(cats) for s, cs in others)


def _left_out(p: Profile) -> frozenset[str]:
    """The data a version keeps out of training: left out of a permission ("except posts from users under
    18"), or named by a promise for everyone ("we do not use posts from users under 18 to train")."""
    return p.excluded_categories | {c for scope, cats in p.promises if scope == "all" for c in cats}


def _said_as_exclusion(promise: tuple[str, tuple[str, ...]], other: Profile) -> bool:
    """A promise for everyone about some data ("posts from users under 18") that the other version says as data
    left out of a permission ("posts, except those from users under 18")."""
    scope, cats = promise
    singled_out = set(cats) - set(other.stance.categories)
    return scope == "all" and bool(singled_out) and singled_out <= other.excluded_categories


def _promise_findings(a: Profile, b: Profile, q: _Quotes) -> list[Finding]:
    """Promises are compared as (scope, data categories): a lost one is removed or narrowed, a new one added."""
    out: list[Finding] = []
    labels = {"all": "", "tier": " (for some plans)", "party": " (by third-party providers)"}
    seen: set[str] = set()
    for scope, cats in sorted(a.promises - b.promises):
        if _covered((scope, cats), b.promises) or _said_as_exclusion((scope, cats), b):
            continue
        if scope == "all" and a.stance.training == "never" and b.stance.training != "never":
            continue  # reported as the stance change
        still = any(s == scope for s, _ in b.promises)
        rule = "no_training_promise_narrowed" if still else "no_training_promise_removed"
        if rule + scope in seen:
            continue
        seen.add(rule + scope)
        old, new = q.old(lambda h, s=scope, c=cats: h.promise and h.promise_scope == s and h.categories == c)
        what = "narrowed" if still else "removed"
        out.append(Finding(rule, "high", f"a promise not to train was {what}{labels[scope]}", old, new))
    for scope, cats in sorted(b.promises - a.promises):
        if _covered((scope, cats), a.promises) or _said_as_exclusion((scope, cats), a):
            continue
        if scope == "all" and b.stance.training == "never" and a.stance.training != "never":
            continue
        if "added" + scope in seen:
            continue
        seen.add("added" + scope)
        old, new = q.new(lambda h, s=scope, c=cats: h.promise and h.promise_scope == s and h.categories == c)
        out.append(
            Finding(
                "no_training_promise_added",
                "medium",
                f"a promise not to train was added{labels[scope]}",
                old,
                new,
            )
        )
    return out


def _ai_keys(p: Profile, history: History) -> set[str]:
    return {history.key(h.text) for h in p.hits if not h.ban}


def compare(
    old_text: str, new_text: str, *, service: str | None = None, history: History | None = None
) -> Comparison:
    """Compare two versions of a policy.

    :param old_text: the earlier normalised text.
    :param new_text: the later normalised text.
    :param service: the service's name (sentences naming it count as first-party statements).
    :param history: shared by the comparisons of one document's consecutive versions (each version is then
        read once); results are the same without it.
    :returns: a :class:`Comparison` whose ``to_dict()`` is the ``compare --json`` contract.
    """
    history = history or History()
    a, b = history.profile(old_text, service), history.profile(new_text, service)
    changed = old_text != new_text
    cosmetic = changed and is_cosmetic(old_text, new_text, history)
    findings: list[Finding] = []
    # Every finding stands on a field where the two profiles differ, so equal profiles give none; only then
    # are both versions read whole, for the quotes (their clauses paired by similarity).
    if a != b:
        old_clauses, a = history.read(old_text, service)
        new_clauses, b = history.read(new_text, service)
        if (
            changed
            and not cosmetic
            and _ai_keys(a, history) != _ai_keys(b, history)
            or a.stance.training != b.stance.training
        ):
            # Only clauses that say something about AI training need pairing by similarity (for the quotes).
            pairs = align(old_clauses, new_clauses, focus={h.clause.index for h in b.hits}, history=history)
            q = _Quotes(a, b, pairs)
            findings = _stance_findings(a, b, q) + _set_findings(a, b, q)
    findings.sort(key=lambda f: -SEVERITIES.index(f.severity))
    if findings:
        severity = _worst([f.severity for f in findings])
    else:
        severity = "low" if changed and not cosmetic else "info"
    return Comparison(
        changed=changed,
        cosmetic=cosmetic,
        ai_training_change=bool(findings),
        severity=severity,
        before=a.stance,
        after=b.stance,
        findings=tuple(findings),
    )
