# SPDX-License-Identifier: Apache-2.0
"""Time ``analyse`` and ``compare`` on real policy versions.

Usage: python bench/compare_speed.py [--corpus DIR] [--runs N] [--quick]

1. Every version of the corpus (``../shared/corpus/versions/*/*/*.md`` relative to the project root, or
   ``$TOSMONITOR_CORPUS``): ``analyse`` once per version and ``compare`` once per consecutive pair of one
   document; prints median, p95 and worst, for the versions (pairs: both versions) of 40-200 KB and for the
   whole corpus (targets: median ``analyse`` <= 5 ms, median ``compare`` <= 15 ms on 40-200 KB); then
   ``compare`` along each document's history with one shared ``analysis.History``, as an import does.
2. The largest document with two versions of 120-180 KB (about 150 KB): ``compare`` of its two largest versions,
   median of N runs (target: < 0.3 s). Without a corpus it generates two ~150 KB policies that differ in one
   sentence.

``--quick`` skips step 1. Data: Open Terms Archive contributors, ODC-BY 1.0.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from tosmonitor.analysis import History, analyse, compare

LOW, HIGH = 40_000, 200_000


def default_corpus() -> Path:
    env = os.environ.get("TOSMONITOR_CORPUS")
    return Path(env) if env else Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def documents(corpus: Path) -> list[list[Path]]:
    """The versions of each document (a folder of ``*.md``), oldest first."""
    versions = corpus / "versions"
    if not versions.is_dir():
        return []
    by_doc: dict[Path, list[Path]] = {}
    for path in versions.rglob("*.md"):
        by_doc.setdefault(path.parent, []).append(path)
    return [sorted(files) for _, files in sorted(by_doc.items())]


def corpus_pair(corpus: Path) -> tuple[str, str, str] | None:
    best: tuple[int, list[Path]] | None = None
    for files in documents(corpus):
        sized = [p for p in files if 120_000 <= p.stat().st_size <= 180_000]
        sized.sort(key=lambda p: p.name)
        if len(sized) >= 2:
            size = sized[-1].stat().st_size
            if best is None or size > best[0]:
                best = (size, sized[-2:])
    if best is None:
        return None
    old, new = best[1]
    label = f"{old.relative_to(corpus / 'versions')} -> {new.name}"
    return label, old.read_text(encoding="utf-8"), new.read_text(encoding="utf-8")


def generated_pair() -> tuple[str, str, str]:
    body = ["# Privacy Policy"]
    for s in range(70):
        body.append(f"## {s + 1}. Section {s}")
        for p in range(12):
            body.append(
                f"We process records of kind {s}-{p} for the reasons given here and keep them for {p + 1} months."
            )
    old = "\n\n".join(body)
    new = old.replace(
        "## 35. Section 34", "## 35. Section 34\n\nWe may use your posts to train our AI models."
    )
    return "generated", old, new


def _timed(fn, *args) -> float:  # noqa: ANN001
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def _summary(label: str, times: list[float]) -> str:
    if not times:
        return f"{label}: no data"
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"{label}: n={len(times)}  median {statistics.median(times) * 1000:.1f} ms  "
        f"p95 {p95 * 1000:.1f} ms  worst {ordered[-1] * 1000:.1f} ms  total {sum(times):.1f} s"
    )


def corpus_figures(corpus: Path) -> list[str]:
    """analyse per version and compare per consecutive pair, over the whole corpus."""
    analyse_all: list[float] = []
    analyse_mid: list[float] = []
    compare_all: list[float] = []
    compare_mid: list[float] = []
    chained: list[float] = []
    for files in documents(corpus):
        previous: str | None = None
        history = History()
        for path in files:
            text = path.read_text(encoding="utf-8")
            seconds = _timed(analyse, text)
            analyse_all.append(seconds)
            if LOW <= len(text.encode()) <= HIGH:
                analyse_mid.append(seconds)
            if previous is not None:
                seconds = _timed(compare, previous, text)
                compare_all.append(seconds)
                started = time.perf_counter()
                compare(previous, text, history=history)
                chained.append(time.perf_counter() - started)
                if all(LOW <= len(t.encode()) <= HIGH for t in (previous, text)):
                    compare_mid.append(seconds)
            previous = text
    return [
        _summary("analyse, versions of 40-200 KB", analyse_mid),
        _summary("analyse, all versions        ", analyse_all),
        _summary("compare, pairs of 40-200 KB  ", compare_mid),
        _summary("compare, all pairs           ", compare_all),
        _summary("compare along each history   ", chained),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="only the ~150 KB pair")
    args = parser.parse_args(argv)
    corpus = args.corpus or default_corpus()
    if not args.quick and documents(corpus):
        for line in corpus_figures(corpus):
            print(line, flush=True)
    label, old, new = corpus_pair(corpus) or generated_pair()
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        result = compare(old, new)
        times.append(time.perf_counter() - started)
    print(f"pair: {label} ({len(old) / 1000:.0f} KB -> {len(new) / 1000:.0f} KB)")
    print(f"findings: {[f.rule for f in result.findings]}")
    print(
        f"median of {args.runs} runs: {statistics.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
