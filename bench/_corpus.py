# SPDX-License-Identifier: Apache-2.0
"""Shared helpers of the extraction benches: where the corpus is, reading rules.json, comparing texts."""

from __future__ import annotations

import difflib
import json
import os
import re
import unicodedata
from pathlib import Path

from tosmonitor.models import RangeSelector, Rules, Source

ROOT = Path(__file__).resolve().parent.parent


def corpus_dir(option: str | None) -> Path:
    """``--corpus``, else ``$TOSMONITOR_CORPUS``, else ``../shared/corpus`` from the project root."""
    path = Path(option or os.environ.get("TOSMONITOR_CORPUS") or ROOT.parent / "shared" / "corpus")
    if not path.is_dir():
        raise SystemExit(f"corpus not found at {path} (use --corpus DIR or TOSMONITOR_CORPUS)")
    return path


def _selectors(value: object) -> tuple[str | RangeSelector, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    out: list[str | RangeSelector] = []
    for item in items:
        if isinstance(item, dict):
            out.append(
                RangeSelector(
                    start_before=item.get("startBefore"),
                    start_after=item.get("startAfter"),
                    end_before=item.get("endBefore"),
                    end_after=item.get("endAfter"),
                )
            )
        else:
            out.append(str(item))
    return tuple(out)


def sources_from_rules(data: dict) -> list[Source]:
    """One Source per page from a rules.json / declaration dict (a local fallback reader)."""
    base = Rules(select=_selectors(data.get("select")), remove=_selectors(data.get("remove")))
    combine = data.get("combine")
    if not combine:
        return [Source(url=data.get("url") or data.get("fetch") or "", rules=base)]
    sources = []
    for page in combine:
        rules = Rules(
            select=_selectors(page["select"]) if "select" in page else base.select,
            remove=_selectors(page["remove"]) if "remove" in page else base.remove,
        )
        sources.append(Source(url=page.get("fetch") or page.get("url") or "", rules=rules))
    return sources


def load_sources(path: Path) -> list[Source]:
    try:
        from tosmonitor.config import load_rules_json

        return list(load_rules_json(path))
    except ImportError:
        return sources_from_rules(json.loads(path.read_text(encoding="utf-8")))


_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK_TARGET = re.compile(r"\]\([^)\s]*(?:\s+\"[^\"]*\")?\)")
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_CJK = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff])")


# Invisible format characters inside a word: soft hyphens, zero-width spaces, joiners and non-joiners, word
# joiners, byte-order marks. A reader reads "Daten\u00adschutz" as one word, so they join rather than split.
_FORMAT = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]")


def _is_separator(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PSZC" or ch == "_"


def words(markdown: str) -> list[str]:
    """Lower-case word tokens of the NFC text (a CJK character is a word); images, link targets, HTML tags
    left by the Markdown converter (``<br>``), Markdown markup and invisible format characters left out."""
    text = _FORMAT.sub("", unicodedata.normalize("NFC", markdown))
    text = _TAG.sub(" ", _LINK_TARGET.sub("]", _IMAGE.sub(" ", text)))
    text = _CJK.sub(r" \1 ", text.lower())
    return "".join(" " if _is_separator(ch) else ch for ch in text).split()


def similarity(ours: list[str], theirs: list[str]) -> tuple[float, list[str], list[str]]:
    """Token-level matching ratio 2*M/T (M: matched tokens), and the words we miss and the words we add."""
    matcher = difflib.SequenceMatcher(None, ours, theirs, autojunk=False)
    matched = sum(block.size for block in matcher.get_matching_blocks())
    total = len(ours) + len(theirs)
    ratio = 2 * matched / total if total else 1.0
    missing: list[str] = []
    added: list[str] = []
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op in ("replace", "delete"):
            added.extend(ours[a1:a2])
        if op in ("replace", "insert"):
            missing.extend(theirs[b1:b2])
    return ratio, missing, added
