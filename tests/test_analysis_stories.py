# SPDX-License-Identifier: Apache-2.0
"""Story tests: successive versions of invented policies (fixtures/policies/<story>/vN.md) through compare()."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tosmonitor.analysis import analyse, compare, headline

POLICIES = Path(__file__).resolve().parent.parent / "fixtures" / "policies"


def version(story: str, n: int) -> str:
    return (POLICIES / story / f"v{n}.md").read_text(encoding="utf-8")


def rules(c) -> list[str]:
    return [f.rule for f in c.findings]


def test_pro_network_adds_default_training_then_drops_carve_out():
    v1, v2, v3 = (version("pro-network", n) for n in (1, 2, 3))
    assert analyse(v1).training == "none"
    added = compare(v1, v2)
    assert added.ai_training_change and added.severity == "critical"
    assert rules(added)[0] == "training_added_opt_out"
    after = added.after
    assert after.training == "opt-out"
    assert after.excluded_regions == ("EU", "EEA", "UK", "CH")
    assert after.parties == ("affiliates", "Northwind Labs")
    assert {"posts", "profile"} <= set(after.categories)
    assert after.retroactive_opt_out is False
    assert any("develop and train artificial intelligence models" in e for e in after.evidence)
    assert headline(added) == "AI training now on by default (opt-out); EU/EEA/UK/CH excluded"

    dropped = compare(v2, v3)
    assert dropped.ai_training_change and dropped.severity == "high"
    assert rules(dropped) == ["carve_out_removed"]
    assert dropped.after.training == "opt-out" and dropped.after.excluded_regions == ()
    assert "EU, EEA, UK or Switzerland" in dropped.findings[0].old


def test_social_platform_announces_pauses_and_resumes_training():
    v = [version("social-announce", n) for n in (1, 2, 3, 4)]
    announced = compare(v[0], v[1])
    assert announced.after.training == "opt-out"  # right to object => default on
    assert "training_added_opt_out" in rules(announced)
    assert "posts" in announced.after.categories
    paused = compare(v[1], v[2])
    assert rules(paused) == ["training_paused"]
    assert "pausing" in paused.findings[0].new
    resumed = compare(v[2], v[3])
    assert rules(resumed) == ["training_resumed"]
    assert resumed.severity == "high"


def test_chat_service_flips_from_opt_in_to_opt_out():
    c = compare(version("chat-flip", 1), version("chat-flip", 2))
    assert (c.before.training, c.after.training) == ("opt-in", "opt-out")
    assert rules(c) == ["default_flip_opt_in_to_opt_out"]
    assert c.severity == "critical"
    assert "only if you opt in" in c.findings[0].old
    assert "turned on by default" in c.findings[0].new


def test_no_training_promise_removed():
    c = compare(version("promise-removed", 1), version("promise-removed", 2))
    assert (c.before.training, c.after.training) == ("never", "none")
    assert rules(c) == ["no_training_promise_removed"]
    assert c.severity == "high"
    assert c.findings[0].old.startswith("We do not use your content to train")
    assert c.findings[0].new is None


def test_licence_grant_gains_training():
    c = compare(version("licence-train", 1), version("licence-train", 2))
    assert c.after.training == "no-choice"
    assert "licence_covers_training" in rules(c)
    f = next(f for f in c.findings if f.rule == "licence_covers_training")
    assert f.old is not None and "royalty-free licence" in f.old
    assert "to train our machine learning" in f.new


def test_publisher_side_ban_is_not_a_user_stance_change():
    c = compare(version("publisher-ban", 1), version("publisher-ban", 2))
    assert c.changed and not c.ai_training_change
    assert (c.before.training, c.after.training) == ("none", "none")
    assert c.severity == "low"


def test_cosmetic_edits_of_an_ai_clause_give_no_finding():
    v1, v2, v3 = (version("cosmetic-ai", n) for n in (1, 2, 3))
    repunctuated = compare(v1, v2)  # date, punctuation and link target changed
    assert repunctuated.cosmetic and not repunctuated.ai_training_change and repunctuated.severity == "info"
    moved = compare(v2, v3)  # the AI clause moved above its neighbour
    assert not moved.cosmetic and not moved.ai_training_change and moved.findings == ()


def _long_policy(changed: bool) -> str:
    topics = ["cookies", "payments", "support tickets", "security logs", "newsletters", "job applications"]
    parts = ["# Privacy Policy"]
    for s in range(64):
        parts.append(f"## {s + 1}. Section about {topics[s % len(topics)]}")
        for p in range(12):
            parts.append(
                f"We process {topics[(s + p) % len(topics)]} records for purpose {s}-{p} under the applicable law. "
                f"These records are kept for {p + 1} months and are then deleted or anonymised. "
                "You can ask us for a copy of them at any time."
            )
    if changed:
        parts.insert(200, "We may use your messages and uploaded images to train our generative AI models.")
    return "\n\n".join(parts) + "\n"


@pytest.mark.parametrize("direction", ["added", "removed"])
def test_long_policy_single_changed_sentence_is_found_fast(direction):
    plain, changed = _long_policy(False), _long_policy(True)
    assert len(plain) > 150_000
    old, new = (plain, changed) if direction == "added" else (changed, plain)
    started = time.perf_counter()
    c = compare(old, new)
    elapsed = time.perf_counter() - started
    expected = "training_added_no_choice" if direction == "added" else "training_removed"
    assert rules(c)[0] == expected
    assert "uploaded images" in (c.findings[0].new or c.findings[0].old)
    if direction == "added":
        assert set(c.after.categories) >= {"messages", "images"}
    assert elapsed < 2.0
