# SPDX-License-Identifier: Apache-2.0
"""Evaluate the AI-training analysis on labelled real changes.

Usage: python bench/eval_cases.py [--cases DIR] [--verbose]

Reads ``cases.jsonl`` and ``texts/<id>.old.md|.new.md`` from the case folder (default
``../shared/corpus/cases`` relative to the project root, or ``$TOSMONITOR_CORPUS/cases``), runs
``compare`` on each case and prints precision / recall / F1 of ``ai_training_change``, stance accuracy
(non-null labels only), a stance confusion matrix, every miss with a one-line reason, and the total time.
Data: Open Terms Archive contributors, ODC-BY 1.0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

from tosmonitor.analysis import compare

STANCES = ("none", "never", "opt-in", "opt-out", "no-choice")


def default_cases() -> Path:
    corpus = os.environ.get("TOSMONITOR_CORPUS")
    if corpus:
        return Path(corpus) / "cases"
    return Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "cases"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=Path, default=None, help="folder holding cases.jsonl and texts/")
    parser.add_argument("--verbose", action="store_true", help="print the findings of every miss")
    args = parser.parse_args(argv)
    folder = args.cases or default_cases()
    if not (folder / "cases.jsonl").exists():
        print(f"no cases.jsonl in {folder} (use --cases or TOSMONITOR_CORPUS)", file=sys.stderr)
        return 2
    cases = [json.loads(line) for line in (folder / "cases.jsonl").read_text().splitlines() if line.strip()]
    tp = fp = fn = tn = 0
    stance_ok = stance_n = 0
    confusion: Counter[tuple[str, str]] = Counter()
    misses: list[str] = []
    started = time.perf_counter()
    for case in cases:
        cid = case["id"]
        old = (folder / "texts" / f"{cid}.old.md").read_text(encoding="utf-8")
        new = (folder / "texts" / f"{cid}.new.md").read_text(encoding="utf-8")
        c = compare(old, new, service=case.get("service"))
        truth, got = bool(case["ai_training_change"]), c.ai_training_change
        rules = ",".join(f.rule for f in c.findings) or "-"
        ours = f"ours {c.before.training}->{c.after.training} [{rules}]"
        if truth and got:
            tp += 1
        elif got:
            fp += 1
            misses.append(f"FP  {cid}: {ours}; label {case['training_before']}->{case['training_after']}")
        elif truth:
            fn += 1
            misses.append(
                f"FN  {cid}: {ours}; label {case['training_before']}->{case['training_after']} {case['rules']}"
            )
        else:
            tn += 1
        for side, stance in (("before", c.before.training), ("after", c.after.training)):
            label = case[f"training_{side}"]
            if label is None:
                continue
            stance_n += 1
            confusion[(label, stance)] += 1
            if label == stance:
                stance_ok += 1
            else:
                misses.append(f"ST  {cid} {side}: label {label}, ours {stance}")
        if args.verbose and (truth != got):
            for f in c.findings:
                print(f"    {cid} {f.rule}: {f.new or f.old}"[:300])
    elapsed = time.perf_counter() - started
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    print(f"cases: {len(cases)}  (tp {tp}, fp {fp}, fn {fn}, tn {tn})")
    print(f"ai_training_change: precision {precision:.3f}  recall {recall:.3f}  F1 {f1:.3f}")
    print(f"stance accuracy: {stance_ok}/{stance_n} = {stance_ok / max(stance_n, 1):.3f}")
    print("confusion (rows = label, columns = ours):")
    print("            " + "".join(f"{s:>10}" for s in STANCES))
    for label in STANCES:
        print(f"{label:>12}" + "".join(f"{confusion[(label, s)]:>10}" for s in STANCES))
    print(f"misses ({len(misses)}):")
    for line in misses:
        print("  " + line)
    print(f"total time: {elapsed:.2f} s ({elapsed / max(len(cases), 1) * 1000:.0f} ms per case)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
