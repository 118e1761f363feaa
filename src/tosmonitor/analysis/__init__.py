# SPDX-License-Identifier: Apache-2.0
"""What a policy says about training AI on users' data, and how a change alters it.

Pure functions on normalised text (no I/O, deterministic, rules first). Every verdict carries the clauses
that caused it. Modules: ``segment`` (blocks and clauses), ``lexicon`` (patterns, guarded by the substrings
they need), ``detect`` (block selection and clause detectors), ``stance`` (one version), ``compare`` (two
versions), ``report`` (text output). Only the blocks that can matter are split into clauses (docs/analysis.md,
"Speed"); results are the same as over every clause.
"""

from __future__ import annotations

from .compare import Comparison, Finding, History, align, compare, is_cosmetic
from .report import headline, render_report
from .segment import Clause, segment
from .stance import Stance, analyse

__all__ = [
    "Clause",
    "Comparison",
    "Finding",
    "History",
    "Stance",
    "align",
    "analyse",
    "compare",
    "headline",
    "is_cosmetic",
    "render_report",
    "segment",
]
