# SPDX-License-Identifier: Apache-2.0
"""The pure, CPU-bound step of a check: a fetched document's text and, against its previous version, the diff
and the AI-training analysis.

Owns :class:`Derived`, :class:`Extracted`, :func:`extract_text`, :func:`extract_first` (a document's first
version: text and stance in one call) and :func:`derive_from_text`. These run in worker processes (see
``monitor.make_executor``), so this module imports only the pure modules (``extract``, ``diff``, ``analysis``,
``codec``): a worker does not load the archive, the HTTP client or the alert channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import analysis
from .codec import Packed, compress, decompress, pack_snapshot
from .diff import diff_texts, excerpt
from .extract import extract_pages_digest
from .models import sha256_hex

MAX_STORED_DIFF = 200_000  # characters of sentence text kept in ``changes.diff``


@dataclass(frozen=True)
class Derived:
    """The pure, CPU-bound part of a check: text, and when it changed, the diff and the analysis."""

    text: str
    sha256: str
    diff: dict[str, Any] | None = None
    stats: dict[str, Any] | None = None
    excerpt: str | None = None
    comparison: dict[str, Any] | None = None
    headline: str | None = None
    stance: dict[str, Any] | None = None
    # A document's first text compressed as the archive stores a version with no predecessor (``codec``
    # "zstd"), here in the worker rather than in the process that writes the archive.
    text_z: bytes | None = None


@dataclass(frozen=True)
class Extracted:
    """The text of fetched pages, with what the archive keeps of them."""

    text: str | None  # None: the same text as the version the known digest belongs to
    sha256: str | None
    digest: str  # of the markup the text is rendered from (see ``extract.extract_pages_digest``)
    packed: tuple[Packed | None, ...] = ()  # each page's body compressed for the archive, when asked for


def extract_text(
    pages: Sequence[tuple[bytes, str | None, str | None, Any]],
    known_digest: str | None = None,
    keyframes: Sequence[tuple[str, bytes] | None] | None = None,
) -> Extracted:
    """The text of fetched pages, its sha256 and the digest of the markup it was rendered from (pure; runs in a
    worker process when there is one). Text and sha256 are None when the digest is ``known_digest``: the
    pages hold the same text as the version that digest belongs to.

    ``keyframes``: for each page, the sha256 and zstd blob of its page's keyframe in the archive (or None);
    when given, the bodies are also packed for storage against them, here rather than in the process that
    fetches and stores.

    :raises ExtractError: when the pages give no usable text.
    """
    text, digest = extract_pages_digest(pages, known_digest)
    packed: tuple[Packed | None, ...] = ()
    if keyframes is not None:
        packed = tuple(
            pack_snapshot(
                page[0],
                decompress(frame[1], "zstd") if frame else None,
                frame[0] if frame else None,
                reuse_base=False,  # each page has its own keyframe: no compressor worth keeping
            )
            for page, frame in zip(pages, keyframes, strict=True)
        )
    return Extracted(text, sha256_hex(text) if text is not None else None, digest, packed)


def extract_first(
    pages: Sequence[tuple[bytes, str | None, str | None, Any]],
    keyframes: Sequence[tuple[str, bytes] | None] | None,
    service: str,
) -> tuple[Extracted, Derived]:
    """A document's first version in one trip to a worker: :func:`extract_text` of its pages, and what
    :func:`derive_from_text` gives for that text (its stance, and the text compressed for storage), so the
    text crosses between the processes once.

    :raises ExtractError: when the pages give no usable text.
    """
    extracted = extract_text(pages, None, keyframes)
    assert extracted.text is not None and extracted.sha256 is not None  # without a known digest: a text
    stance = analysis.analyse(extracted.text, service=service).to_dict()
    return extracted, _first_version(extracted.text, extracted.sha256, stance)


def _first_version(text: str, sha: str, stance: dict[str, Any]) -> Derived:
    return Derived(text=text, sha256=sha, stance=stance, text_z=compress(text.encode("utf-8"))[0])


def derive_from_text(
    text: str, old_text: str | None, service: str, history: analysis.History | None = None
) -> Derived:
    """Against the previous version's text (None for a first record): the diff and the AI analysis (pure).

    ``history``: shared along one document's consecutive versions (an import), so each is read once.
    """
    sha = sha256_hex(text)
    if old_text is None:
        if history is not None:  # the next comparison along the history starts from this reading
            stance = history.profile(text, service).stance
        else:
            stance = analysis.analyse(text, service=service)
        return _first_version(text, sha, stance.to_dict())
    if sha256_hex(old_text) == sha:
        return Derived(text=text, sha256=sha)
    text_diff = diff_texts(old_text, text)
    comparison = analysis.compare(old_text, text, service=service, history=history)
    return Derived(
        text=text,
        sha256=sha,
        diff=stored_diff(text_diff),
        stats=stats_dict(text_diff),
        excerpt=excerpt(text_diff),
        comparison=comparison.to_dict(),
        headline=analysis.headline(comparison),
        stance=comparison.after.to_dict(),
    )


def stored_diff(text_diff: Any) -> dict[str, Any]:
    """The diff as kept in ``changes.diff``: sentences without word spans (recomputed when shown), bounded.

    A change's full diff is always recomputable from its two versions (``tosmonitor diff``); the stored copy
    serves Datasette and exports. Past ``MAX_STORED_DIFF`` characters only the first changes are kept and
    ``truncated`` says so.
    """
    kept, size = [], 0
    for change in text_diff.changes:
        size += len(change.old or "") + len(change.new or "")
        if size > MAX_STORED_DIFF:
            break
        kept.append({"kind": change.kind, "old": change.old, "new": change.new})
    return {
        "changed": text_diff.changed,
        "degraded": text_diff.degraded,
        "truncated": len(kept) < len(text_diff.changes),
        "stats": stats_dict(text_diff),
        "changes": kept,
    }


def stats_dict(text_diff: Any) -> dict[str, Any]:
    """A diff's statistics as a plain dict."""
    stats = text_diff.stats
    if hasattr(stats, "__dataclass_fields__"):
        return {key: getattr(stats, key) for key in stats.__dataclass_fields__}
    return dict(stats)
