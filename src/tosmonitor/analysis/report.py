# SPDX-License-Identifier: Apache-2.0
"""Human-readable output of a comparison: a one-line headline and a plain-text report."""

from __future__ import annotations

import textwrap

from .compare import Comparison
from .stance import Stance

_STANCE_WORDS = {
    "none": "says nothing about training AI on users' data",
    "never": "says users' data is not used to train AI",
    "opt-in": "trains AI on users' data only with consent (opt-in)",
    "opt-out": "trains AI on users' data by default; users can opt out",
    "no-choice": "may train AI on users' data, with no way to opt out",
}
_HEADLINES = {
    "opt-out": "AI training now on by default (opt-out)",
    "no-choice": "AI training on user data now permitted, with no opt-out",
    "opt-in": "AI training now requires consent (opt-in)",
    "never": "Now promises not to train AI on user data",
    "none": "Statements about AI training removed",
}
# Where the stance it came from says more than the stance it went to.
_FROM_HEADLINES = {
    ("opt-out", "no-choice"): "Opt-out from AI training removed: training on user data with no opt-out",
    ("opt-in", "no-choice"): "Consent for AI training no longer asked: training on user data with no opt-out",
}


def _regions(stance: Stance) -> str:
    return "/".join(stance.excluded_regions)


def headline(c: Comparison) -> str:
    """One line summing up the change, e.g. "AI training now on by default (opt-out); EU/EEA/UK/CH excluded"."""
    if not c.changed:
        return "No change"
    if not c.ai_training_change:
        return (
            "Cosmetic edit; no change to AI-training terms"
            if c.cosmetic
            else "Text changed; no change to AI-training terms"
        )
    if c.before.training == "never" and c.after.training == "none":
        line = "Promise not to train AI on user data removed"
    elif c.before.training != c.after.training:
        line = _FROM_HEADLINES.get((c.before.training, c.after.training)) or _HEADLINES[c.after.training]
    else:
        line = c.findings[0].summary[:1].upper() + c.findings[0].summary[1:]
    # "Regions now excluded: Canada" already names every region excluded
    said = (
        c.findings[0].rule == "carve_out_added"
        and not c.before.excluded_regions
        and line.startswith("Regions")
    )
    if c.after.excluded_regions and c.after.training in ("opt-out", "no-choice", "opt-in") and not said:
        line += f"; {_regions(c.after)} excluded"
    return line


def _describe(stance: Stance) -> list[str]:
    lines = [f"  training: {stance.training} ({_STANCE_WORDS[stance.training]})"]
    for label, values in (
        ("excluded regions", stance.excluded_regions),
        ("parties", stance.parties),
        ("categories", stance.categories),
    ):
        if values:
            lines.append(f"  {label}: {', '.join(values)}")
    if stance.retention:
        lines.append(f"  retention: {stance.retention}")
    if stance.retroactive_opt_out is not None:
        lines.append(f"  opt-out covers past training: {'yes' if stance.retroactive_opt_out else 'no'}")
    return lines


def _quote(label: str, text: str | None) -> list[str]:
    if text is None:
        return [f"      {label}: (none)"]
    wrapped = textwrap.wrap(text, 96) or [""]
    return [f"      {label}: {wrapped[0]}"] + [f"           {w}" for w in wrapped[1:]]


def render_report(c: Comparison, *, title: str | None = None) -> str:
    """A readable report: the stance before -> after, then each finding with its old/new quotes."""
    lines = []
    if title:
        lines += [title, "=" * len(title)]
    lines += [headline(c), f"severity: {c.severity}", "", "Before:"]
    lines += _describe(c.before)
    lines += ["After:"]
    lines += _describe(c.after)
    if c.findings:
        lines += ["", "Findings:"]
        for f in c.findings:
            lines.append(f"  [{f.severity}] {f.rule}: {f.summary}")
            lines += _quote("old", f.old)
            lines += _quote("new", f.new)
    return "\n".join(lines) + "\n"
