# SPDX-License-Identifier: Apache-2.0
"""Time ``compare`` on two large policy versions.

Usage: python bench/compare_speed.py [--corpus DIR] [--runs N]

Takes the largest document in the corpus (``../shared/corpus`` relative to the project root, or
``$TOSMONITOR_CORPUS``) that has two versions of 120-180 KB (about 150 KB), compares its two largest versions and prints the
median time of N runs (target: < 0.3 s). Without a corpus it generates two ~150 KB policies that differ in
one sentence. Data: Open Terms Archive contributors, ODC-BY 1.0.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from tosmonitor.analysis import compare


def default_corpus() -> Path:
    env = os.environ.get("TOSMONITOR_CORPUS")
    return Path(env) if env else Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def corpus_pair(corpus: Path) -> tuple[str, str, str] | None:
    versions = corpus / "versions"
    if not versions.is_dir():
        return None
    best: tuple[int, list[Path]] | None = None
    for doc in {p.parent for p in versions.rglob("*.md")}:
        files = sorted(p for p in doc.glob("*.md") if 120_000 <= p.stat().st_size <= 180_000)
        if len(files) >= 2:
            size = files[-1].stat().st_size
            if best is None or size > best[0]:
                best = (size, files[-2:])
    if best is None:
        return None
    old, new = best[1]
    label = f"{old.relative_to(versions)} -> {new.name}"
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    label, old, new = corpus_pair(args.corpus or default_corpus()) or generated_pair()
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
