# SPDX-License-Identifier: Apache-2.0
"""Extraction fidelity against Open Terms Archive: our text vs their Markdown of the same snapshot.

For every pair in ``<corpus>/snapshots/fidelity/*/`` extract ``snapshot.html`` (or ``source-N.html`` in
combine order) with the pair's ``rules.json`` and compare word sequences (lower-case tokens, Markdown markup
and link targets ignored) with ``ota_version.md``: a token-level LCS ratio. Prints per pair, the median and
the worst, and for pairs below 0.98 the words we miss and the words we add.

Usage: python bench/extract_fidelity.py [--corpus DIR] [--only SUBSTRING] [--show N] [--heuristic]
Data: Open Terms Archive contributors, ODC-BY 1.0.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _corpus import corpus_dir, load_sources, similarity, words  # noqa: E402
from tosmonitor.errors import ExtractError  # noqa: E402
from tosmonitor.extract import extract_pages  # noqa: E402
from tosmonitor.models import Source  # noqa: E402


def pair_pages(pair: Path) -> list[Path]:
    single = pair / "snapshot.html"
    if single.exists():
        return [single]
    return sorted(pair.glob("source-*.html"), key=lambda p: int(p.stem.split("-")[1]))


def run_pair(pair: Path, heuristic: bool = False) -> tuple[float, list[str], list[str], str | None]:
    sources = load_sources(pair / "rules.json")
    if heuristic:
        sources = [Source(url=s.url) for s in sources]
    files = pair_pages(pair)
    if len(sources) == 1 and len(files) > 1:
        sources = sources * len(files)
    pages = [(f.read_bytes(), "text/html", None, s) for f, s in zip(files, sources, strict=False)]
    try:
        text = extract_pages(pages)
    except ExtractError as exc:
        text, error = "", str(exc)
    else:
        error = None
    theirs = (pair / "ota_version.md").read_text(encoding="utf-8")
    ours = words(text)
    raw = similarity(ours, words(theirs))
    collapsed = similarity(ours, collapse_repeats(theirs, text))
    ratio, missing, added = max(raw, collapsed, key=lambda r: r[0])
    return ratio, missing, added, error


def collapse_repeats(theirs: str, ours: str) -> list[str]:
    """Their words, with paragraphs repeated more often than in our text left out.

    Open Terms Archive keeps every match of a selector, so ``select: div`` repeats nested content; our
    extractor keeps an element once when it is inside another selected one (on purpose)."""
    ours_joined = " " + " ".join(words(ours)) + " "
    seen: dict[str, int] = {}
    tokens: list[str] = []
    for para in theirs.split("\n\n"):
        para_words = words(para)
        key = " ".join(para_words)
        if len(para_words) >= 5:
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > max(1, ours_joined.count(" " + key + " ")):
                continue
        tokens.extend(para_words)
    return tokens


def summary(tokens: list[str], show: int) -> str:
    counts = Counter(tokens)
    return ", ".join(f"{w}×{n}" if n > 1 else w for w, n in counts.most_common(show))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus")
    parser.add_argument("--only", help="only pairs whose folder name contains this")
    parser.add_argument("--show", type=int, default=25, help="words listed per low pair")
    parser.add_argument(
        "--heuristic",
        action="store_true",
        help="ignore the pairs' select/remove rules: measure the main-content heuristic (extra words are "
        "expected where a declaration selects one part of a page; missing words are lost text)",
    )
    args = parser.parse_args(argv)
    root = corpus_dir(args.corpus) / "snapshots" / "fidelity"
    pairs = sorted(p for p in root.iterdir() if p.is_dir() and (not args.only or args.only in p.name))
    if not pairs:
        print(
            f"no fidelity pair in {root}" + (f" whose name contains {args.only!r}" if args.only else ""),
            file=sys.stderr,
        )
        return 2
    ratios = []
    low = []
    mismatched = []
    for pair in pairs:
        ratio, missing, added, error = run_pair(pair, args.heuristic)
        note = f"  ERROR {error}" if error else ""
        print(f"{ratio:.4f}  missing {len(missing):5d}  extra {len(added):5d}  {pair.name}{note}")
        if error and "matched nothing" in error:
            # the declaration in force when the snapshot was taken is not the one stored with it
            mismatched.append(pair.name)
            continue
        ratios.append(ratio)
        if ratio < 0.98:
            low.append((pair.name, ratio, missing, added))
    print()
    if ratios:
        print(
            f"pairs: {len(ratios)}  median: {statistics.median(ratios):.4f}  worst: {min(ratios):.4f}  "
            f"below 0.98: {len(low)}"
        )
    else:
        print(f"pairs: 0 (none of the {len(pairs)} pairs chosen could be measured)")
    if mismatched:
        print(f"(counting them as 0.0: {len(ratios) + len(mismatched)} pairs, worst 0.0000)")
        print(
            f"left out, rules that match nothing in their snapshot ({len(mismatched)}): {', '.join(mismatched)}"
        )
    for name, ratio, missing, added in low:
        print(f"\n{name} ({ratio:.4f}): missing {len(missing)} words, extra {len(added)} words")
        print(f"  missing: {summary(missing, args.show)}")
        print(f"  extra:   {summary(added, args.show)}")
    print("\nData: Open Terms Archive contributors, ODC-BY 1.0.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
