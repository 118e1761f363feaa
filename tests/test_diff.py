# SPDX-License-Identifier: Apache-2.0
"""Tests of tosmonitor.diff: splitting, block/sentence/word diffs, moves, bounds and renderings."""

from __future__ import annotations

import json
import random
import re
import time

import pytest

from tosmonitor import diff as diffing
from tosmonitor.diff import (
    DiffStats,
    TextDiff,
    WordSpan,
    diff_texts,
    excerpt,
    render_html,
    render_inline,
    split_blocks,
    split_sentences,
    unified_diff,
)

_SUBJECTS = ["We", "Our partners", "The service", "Your account team", "Affiliated companies", "Processors"]
_VERBS = ["collect", "store", "review", "share", "analyse", "delete", "encrypt", "archive"]
_OBJECTS = [
    "the messages you send",
    "your profile details",
    "payment records",
    "device identifiers",
    "support tickets",
    "location signals",
    "uploaded photos",
]
_PURPOSES = [
    "to keep the service secure",
    "to answer your requests",
    "to meet legal duties",
    "to improve search results",
    "to prevent fraud",
]


def _sentence(rng: random.Random, n: int) -> str:
    return (
        f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_PURPOSES)} "
        f"under clause {n} for {rng.randint(2, 90)} days."
    )


def _policy(paragraphs: int, per_paragraph: int = 4, seed: int = 7) -> list[list[str]]:
    """Paragraphs of distinct sentences (each names its clause number)."""
    rng = random.Random(seed)
    n = 0
    out = []
    for _ in range(paragraphs):
        para = []
        for _ in range(per_paragraph):
            n += 1
            para.append(_sentence(rng, n))
        out.append(para)
    return out


def _text(paragraphs: list[list[str]], title: str = "# Privacy Policy") -> str:
    return "\n\n".join([title, *(" ".join(p) for p in paragraphs)]) + "\n"


# -- splitting ------------------------------------------------------------------------------------------------


def test_split_blocks_on_blank_and_whitespace_lines() -> None:
    text = "# Title\r\n\r\nFirst line\nsame block\n   \n\n- item one\n- item two\n\n\n"
    assert split_blocks(text) == ["# Title", "First line\nsame block", "- item one\n- item two"]
    assert split_blocks("") == []


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (
            "We share data with vendors, e.g. hosting firms. They follow our rules.",
            ["We share data with vendors, e.g. hosting firms.", "They follow our rules."],
        ),
        (
            "Contact Example Inc. and the U.S. office, i.e. Legal. Replies take 3.5 days on average. Done!",
            [
                "Contact Example Inc. and the U.S. office, i.e. Legal.",
                "Replies take 3.5 days on average.",
                "Done!",
            ],
        ),
        (
            "Read https://example.com/terms.html before you start. Then sign up at www.example.org. Welcome.",
            [
                "Read https://example.com/terms.html before you start.",
                "Then sign up at www.example.org.",
                "Welcome.",
            ],
        ),
        (
            "Ask Dr. Rivera or J. Smith about it. Is that clear? Yes.",
            ["Ask Dr. Rivera or J. Smith about it.", "Is that clear?", "Yes."],
        ),
        (
            "- First item. It has two sentences.\n- Second item\n  wraps onto a second line.",
            ["- First item.", "It has two sentences.", "- Second item wraps onto a second line."],
        ),
        ("1. Introduction\n   ------------", ["1. Introduction"]),
        ("2. We collect data. We keep it.", ["2. We collect data.", "We keep it."]),
        (
            "| Data | Retention |\n|---|---|\n| Logs | 30 days |",
            ["| Data | Retention |", "| Logs | 30 days |"],
        ),
        (
            "| Purpose | Intro:<br><br>* We do this.<br>* And that |",
            ["| Purpose | Intro:", "* We do this.", "* And that |"],
        ),
        ("## How we use   your data", ["## How we use your data"]),
        ("Privacy Policy\n==============", ["Privacy Policy"]),
        ("- - -", []),
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
    ],
    ids=[
        "eg",
        "inc-us-ie-decimal",
        "urls",
        "titles-initials-question",
        "list-items",
        "numbered-heading",
        "numbered-item",
        "table",
        "br-in-cell",
        "heading-spaces",
        "setext",
        "rule",
        "quote",
    ],
)
def test_split_sentences(block: str, expected: list[str]) -> None:
    assert split_sentences(block) == expected


# -- diffs ----------------------------------------------------------------------------------------------------


def test_unchanged_text_has_no_changes() -> None:
    text = _text(_policy(30))
    result = diff_texts(text, text)
    assert not result.changed
    assert result.changes == ()
    assert result.stats == DiffStats(0, 0, 0, 1 + 30 * 4, 0, 0, 0, 0)
    assert not result.degraded
    assert render_inline(result) == "No change in the text."
    assert excerpt(result) == ""


def test_whitespace_and_reflow_are_not_changes() -> None:
    old = "# Terms\n\nWe collect data. We keep it for thirty days.\n"
    new = "# Terms\n\nWe collect  data.\nWe keep it for thirty days.\n"
    result = diff_texts(old, new)
    assert not result.changed
    assert result.stats.blocks_changed == 1
    assert result.stats.sentences_unchanged == 3


def test_one_word_among_thousands_gives_one_modified_sentence() -> None:
    paragraphs = _policy(600)  # 2,400 sentences, about 190 KB
    target = paragraphs[377][2]
    changed = target.replace(" days.", " months.")
    assert changed != target
    new_paragraphs = [list(p) for p in paragraphs]
    new_paragraphs[377][2] = changed
    old, new = _text(paragraphs), _text(new_paragraphs)

    result = diff_texts(old, new)

    assert len(result.changes) == 1
    change = result.changes[0]
    assert change.kind == "modified"
    assert (change.old, change.new) == (target, changed)
    assert (change.block_old, change.block_new) == (378, 378)  # block 0 is the heading
    head, tail = target.rsplit(" ", 1)
    assert change.words == (
        WordSpan("equal", head),
        WordSpan("delete", tail),
        WordSpan("insert", "months."),
    )
    assert result.stats == DiffStats(0, 0, 1, 2400, 1, 1, 1, 0)
    assert not result.degraded


def test_word_spans_inside_a_sentence() -> None:
    old = "We may share your posts with partners for research."
    new = "We may use your public posts with partners and affiliates for research."
    (change,) = diff_texts(old, new).changes
    assert change.words == (
        WordSpan("equal", "We may"),
        WordSpan("delete", "share"),
        WordSpan("insert", "use"),
        WordSpan("equal", "your"),
        WordSpan("insert", "public"),
        WordSpan("equal", "posts with partners"),
        WordSpan("insert", "and affiliates"),
        WordSpan("equal", "for research."),
    )
    assert render_inline(diff_texts(old, new)) == (
        "We may [-share-]{+use+} your {+public+} posts with partners {+and affiliates+} for research."
    )


def test_added_and_removed_paragraphs() -> None:
    paragraphs = _policy(10)
    added = ["We may train machine learning models on public posts.", "You can object in your settings."]
    new_paragraphs = paragraphs[:3] + [added] + paragraphs[3:7] + paragraphs[8:]
    result = diff_texts(_text(paragraphs), _text(new_paragraphs))

    kinds = [(c.kind, c.old or c.new) for c in result.changes]
    assert kinds == [("added", s) for s in added] + [("removed", s) for s in paragraphs[7]]
    assert result.changes[0].words == (WordSpan("insert", added[0]),)
    assert result.changes[0].block_new == 4 and result.changes[0].block_old is None
    assert result.changes[2].block_old == 8 and result.changes[2].block_new is None
    stats = result.stats
    assert (stats.sentences_added, stats.sentences_removed, stats.sentences_modified) == (2, 4, 0)
    assert stats.sentences_unchanged == 1 + 9 * 4
    assert stats.words_added == sum(len(s.split()) for s in added)
    assert stats.words_removed == sum(len(s.split()) for s in paragraphs[7])
    assert stats.blocks_changed == 2


def test_moved_paragraph_is_not_a_change() -> None:
    paragraphs = _policy(12)
    moved = paragraphs[:2] + paragraphs[3:10] + [paragraphs[2]] + paragraphs[10:]
    result = diff_texts(_text(paragraphs), _text(moved))
    assert not result.changed
    assert result.stats.sentences_moved == 4
    assert result.stats.sentences_added == result.stats.sentences_removed == 0
    assert result.stats.sentences_unchanged == 1 + 11 * 4
    assert "4 sentences moved" in render_inline(result)


def test_moved_and_edited_paragraphs() -> None:
    paragraphs = _policy(12)
    edited = [list(p) for p in paragraphs]
    edited[5][1] = edited[5][1].replace("under clause", "only under clause")
    moved = edited[:2] + edited[3:10] + [edited[2]] + edited[10:]
    result = diff_texts(_text(paragraphs), _text(moved))
    assert [c.kind for c in result.changes] == ["modified"]
    assert result.changes[0].words[1] == WordSpan("insert", "only")
    assert result.stats.sentences_moved == 4


def test_table_row_change() -> None:
    old = "# Retention\n\n| Data | Kept for |\n|---|---|\n| Chat logs | 30 days |\n| Photos | 1 year |\n"
    new = old.replace("| Chat logs | 30 days |", "| Chat logs | 18 months |")
    result = diff_texts(old, new)
    (change,) = result.changes
    assert change.kind == "modified"
    assert (change.old, change.new) == ("| Chat logs | 30 days |", "| Chat logs | 18 months |")
    assert change.words == (
        WordSpan("equal", "| Chat logs |"),
        WordSpan("delete", "30 days"),
        WordSpan("insert", "18 months"),
        WordSpan("equal", "|"),
    )
    assert result.stats.sentences_unchanged == 3


def test_list_item_change_and_addition() -> None:
    old = (
        "Data we share:\n\n- with payment providers, to bill you;\n- with courts, when the law requires it.\n"
    )
    new = (
        "Data we share:\n\n- with payment providers, to bill you;\n"
        "- with courts and regulators, when the law requires it;\n- with AI model partners, to train models.\n"
    )
    result = diff_texts(old, new)
    assert [c.kind for c in result.changes] == ["modified", "added"]
    modified, added = result.changes
    # words are whitespace-separated tokens: punctuation stays with its word
    assert modified.words[:3] == (
        WordSpan("equal", "- with"),
        WordSpan("delete", "courts,"),
        WordSpan("insert", "courts and regulators,"),
    )
    assert added.new == "- with AI model partners, to train models."
    assert result.stats.sentences_unchanged == 2


def test_dissimilar_sentences_are_not_paired() -> None:
    old = "Intro.\n\nWe never sell your data to anyone.\n\nOutro."
    new = "Intro.\n\nOur cookie banner lets you pick analytics settings.\n\nOutro."
    result = diff_texts(old, new)
    assert [c.kind for c in result.changes] == ["removed", "added"]


def test_diff_is_deterministic_and_serialisable() -> None:
    paragraphs = _policy(80)
    rng = random.Random(3)
    new_paragraphs = [
        [s.replace("share", "sell") if rng.random() < 0.2 else s for s in p] for p in paragraphs
    ]
    old, new = _text(paragraphs), _text(new_paragraphs)
    first, second = diff_texts(old, new), diff_texts(old, new)
    assert first == second
    data = first.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["changed"] is True and data["stats"]["sentences_modified"] == len(first.changes)
    assert TextDiff.from_dict(data) == first
    with pytest.raises(ValueError, match="not a serialised TextDiff"):
        TextDiff.from_dict({"changes": []})


def _rewrite(paragraphs: list[list[str]], rng: random.Random, rate: float) -> list[list[str]]:
    out = []
    for para in paragraphs:
        new_para = []
        for s in para:
            roll = rng.random()
            if roll < rate / 3:
                continue  # removed
            if roll < 2 * rate / 3:
                words = s.split()
                words[rng.randrange(len(words))] = "substantially"
                new_para.append(" ".join(words))  # modified
            elif roll < rate:
                new_para += [s, _sentence(rng, 100_000 + len(out))]  # kept, one added
            else:
                new_para.append(s)
        out.append(new_para)
    return out


def test_large_document_with_many_changes_is_fast_and_exact() -> None:
    paragraphs = _policy(480)  # about 150 KB
    new_paragraphs = _rewrite(paragraphs, random.Random(11), rate=0.3)
    old, new = _text(paragraphs), _text(new_paragraphs)
    assert len(old) > 140_000
    start = time.perf_counter()
    result = diff_texts(old, new)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0
    assert not result.degraded
    stats = result.stats
    assert stats.sentences_modified > 100 and stats.sentences_added > 100 and stats.sentences_removed > 100
    old_total = sum(len(split_sentences(b)) for b in split_blocks(old))
    new_total = sum(len(split_sentences(b)) for b in split_blocks(new))
    assert stats.sentences_unchanged + stats.sentences_removed + stats.sentences_modified == old_total
    assert stats.sentences_unchanged + stats.sentences_added + stats.sentences_modified == new_total


def test_wholesale_rewrite_hits_the_bounds_and_stays_fast() -> None:
    old_paragraphs = _policy(480, seed=1)
    new_paragraphs = [[s.replace("under clause", "per article") for s in p] for p in _policy(480, seed=2)]
    new_paragraphs = [[f"Rewritten: {s}" for s in p] for p in new_paragraphs]
    old, new = _text(old_paragraphs, "# Policy"), _text(new_paragraphs, "# Notice")
    start = time.perf_counter()
    result = diff_texts(old, new)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0
    assert result.degraded  # one range of ~1,900 removed sentences: too many candidate pairings
    assert result.stats.sentences_modified == 0
    assert result.stats.sentences_removed == 1 + 480 * 4
    assert result.stats.sentences_added == 1 + 480 * 4
    assert result.changed
    assert "coarse diff" in render_inline(result)


def test_huge_sentence_gets_coarse_word_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diffing, "MAX_WORD_CELLS", 100)
    old = "Intro " + " ".join(f"w{i}" for i in range(40)) + " end."
    new = "Intro " + " ".join(f"w{i}" if i % 3 else f"x{i}" for i in range(40)) + " end."
    result = diff_texts(old, new)
    assert result.degraded
    (change,) = result.changes
    assert [w.kind for w in change.words] == ["equal", "delete", "insert", "equal"]


# -- renderings -----------------------------------------------------------------------------------------------


def test_unified_diff() -> None:
    old = "# Terms\n\nline one\nline two\nline three\n"
    new = "# Terms\n\nline one\nline 2\nline three\nline four\n"
    out = unified_diff(old, new, old_label="v1", new_label="v2", context=1)
    assert out == (
        "--- v1\n+++ v2\n@@ -3,3 +3,4 @@\n line one\n-line two\n+line 2\n line three\n+line four\n"
    )
    assert unified_diff(old, old) == ""
    full = unified_diff(old, new)
    assert full.startswith("--- old\n+++ new\n@@ -1,5 +1,6 @@\n # Terms\n")


def test_render_inline_colour() -> None:
    result = diff_texts("We keep logs for 30 days.", "We keep logs for 90 days.")
    assert render_inline(result) == "We keep logs for [-30-]{+90+} days."
    coloured = render_inline(result, color=True)
    assert coloured == "We keep logs for \x1b[31m30\x1b[0m\x1b[32m90\x1b[0m days."


def test_render_inline_one_paragraph_per_change() -> None:
    result = diff_texts(
        "A first rule.\n\nA second rule.", "A first rule, amended.\n\nA second rule.\n\nA third rule."
    )
    assert render_inline(result) == "A first [-rule.-]{+rule, amended.+}\n\n{+A third rule.+}"


def test_render_html_escapes_page_text() -> None:
    old = "Our page says hello."
    new = 'Our page says <script>alert("x")</script> & hello.'
    out = render_html(diff_texts(old, new))
    assert "<script>" not in out
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp;" in out
    assert "<ins>" in out and 'class="change modified"' in out
    assert re.sub(r"<[^>]+>", "", out).count("&lt;script&gt;") == 1
    assert "no-change" in render_html(diff_texts(old, old))


def _plain_words(text: str) -> list[str]:
    cleaned = (
        text.replace("[-", " ").replace("-]", " ").replace("{+", " ").replace("+}", " ").replace("…", " ")
    )
    return cleaned.split()


@pytest.mark.parametrize("max_chars", [1, 8, 20, 45, 80, 150, 600])
def test_excerpt_cuts_at_word_boundaries_and_is_never_empty(max_chars: int) -> None:
    paragraphs = _policy(40)
    new_paragraphs = _rewrite(paragraphs, random.Random(5), rate=0.5)
    old, new = _text(paragraphs), _text(new_paragraphs)
    result = diff_texts(old, new)
    out = excerpt(result, max_chars=max_chars)
    assert out.strip()
    vocabulary = set(old.split()) | set(new.split())
    assert set(_plain_words(out)) <= vocabulary  # every word is whole
    first_word = _plain_words(render_inline(result))[0]
    if len(first_word) + 6 <= max_chars:
        assert len(out) <= max_chars
    assert out.count("[-") == out.count("-]") and out.count("{+") == out.count("+}")


def test_excerpt_trims_context_around_word_changes() -> None:
    old = "Under these terms " + "we process many kinds of records every single day " * 3 + "for thirty days."
    new = old.replace("thirty", "ninety")
    out = excerpt(diff_texts(old, new))
    assert out == "… records every single day for [-thirty-]{+ninety+} days."
    long_word = "x" * 50
    out = excerpt(diff_texts("Intro.", f"Intro.\n\n{long_word} tail."), max_chars=10)
    assert out == "{+" + long_word + "…+}"


def test_the_sequence_matcher_gives_difflibs_alignments_and_ratios():
    import difflib
    from pathlib import Path

    from tosmonitor.sequence import SequenceMatcher

    folder = Path(__file__).resolve().parents[1] / "fixtures" / "policies"
    texts = [p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*.md"))]
    assert len(texts) >= 4
    for old, new in zip(texts, texts[1:], strict=False):
        for a, b in (
            (old.split(), new.split()),
            (old.split("\n\n"), new.split("\n\n")),
            (old[:3000], new[:3000]),
        ):
            ours = SequenceMatcher(None, a, b, autojunk=False)
            reference = difflib.SequenceMatcher(None, a, b, autojunk=False)
            assert ours.get_opcodes() == reference.get_opcodes()
            assert ours.ratio() == reference.ratio()
