# SPDX-License-Identifier: Apache-2.0
"""Time ``diff_texts`` on every consecutive pair of versions of the corpus.

Usage: python bench/diff_corpus.py [--corpus DIR] [--runs N] [--worst K]

Reads ``<corpus>/versions/<Service>/<Document type>/*.md`` (``../shared/corpus`` relative to the project
root, or ``$TOSMONITOR_CORPUS``); each document folder and each of its ``alt-*`` subfolders is a series,
sorted by file name. Every consecutive pair is diffed (sentence- and word-level output included) and the
script prints pairs/s, the median, p95 and worst milliseconds per pair (the best of N runs of each pair),
how many pairs came out degraded, and the K slowest pairs by name. Targets: median <= 5 ms, worst <= 100 ms.
Data: Open Terms Archive contributors, ODC-BY 1.0.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from tosmonitor.diff import diff_texts


def default_corpus() -> Path:
    env = os.environ.get("TOSMONITOR_CORPUS")
    return Path(env) if env else Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def series(versions: Path) -> list[list[Path]]:
    """Every folder of versions (document folders and their ``alt-*`` subfolders), files sorted by name."""
    folders = sorted({p.parent for p in versions.rglob("*.md")})
    return [sorted(folder.glob("*.md")) for folder in folders]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=default_corpus())
    parser.add_argument("--runs", type=int, default=1, help="runs per pair; the best time is kept")
    parser.add_argument("--worst", type=int, default=5, help="how many slowest pairs to list")
    parser.add_argument(
        "--cpu", action="store_true", help="time with the process CPU clock (steadier on a busy machine)"
    )
    args = parser.parse_args(argv)
    versions = args.corpus / "versions"
    if not versions.is_dir():
        print(f"no corpus versions at {versions} (use --corpus or TOSMONITOR_CORPUS)", file=sys.stderr)
        return 2

    clock = time.process_time if args.cpu else time.perf_counter
    timings: list[tuple[float, str]] = []
    degraded = changed = 0
    total_start = time.perf_counter()
    for files in series(versions):
        texts = [f.read_text(encoding="utf-8") for f in files]
        for (old_path, old), (new_path, new) in zip(
            zip(files, texts, strict=True), zip(files[1:], texts[1:], strict=True), strict=False
        ):
            best = float("inf")
            for _ in range(max(args.runs, 1)):
                start = clock()
                result = diff_texts(old, new)
                best = min(best, clock() - start)
            degraded += result.degraded
            changed += result.changed
            label = f"{old_path.relative_to(versions)} -> {new_path.name}"
            timings.append((best * 1000, label))
    wall = time.perf_counter() - total_start
    if not timings:
        print("no consecutive versions found", file=sys.stderr)
        return 2

    ms = sorted(t for t, _ in timings)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    print(f"clock: {'process CPU time' if args.cpu else 'wall time'}, best of {max(args.runs, 1)} run(s)")
    print(f"pairs: {len(ms)} ({changed} with sentence changes, {degraded} degraded)")
    print(f"pairs/s: {len(ms) / (sum(ms) / 1000):.0f} (diff time only; {wall:.1f} s wall with reading)")
    print(f"median: {statistics.median(ms):.2f} ms   p95: {p95:.2f} ms   worst: {ms[-1]:.2f} ms")
    print(f"worst {args.worst}:")
    for elapsed, label in sorted(timings, reverse=True)[: args.worst]:
        print(f"  {elapsed:8.2f} ms  {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
