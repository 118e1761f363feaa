# SPDX-License-Identifier: Apache-2.0
"""``SequenceMatcher``: the one sequence aligner that diffs, clause alignment and diff pages use.

It is :class:`difflib.SequenceMatcher`, from ``cydifflib`` when that is installed: the same algorithm compiled,
giving the same matches, opcodes and ratios (several times faster, eighteen times on long clause keys).
Where no compiled wheel exists for the running Python, the standard library's is used.
"""

from __future__ import annotations

try:
    from cydifflib import SequenceMatcher
except ImportError:  # pragma: no cover - depends on the platform's wheels
    from difflib import SequenceMatcher

__all__ = ["SequenceMatcher"]
