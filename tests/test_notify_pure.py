# SPDX-License-Identifier: Apache-2.0
"""Routing, rendering and the health state machine of ``tosmonitor.notify`` (pure functions)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from tosmonitor.models import ChannelSpec
from tosmonitor.notify.health import HealthState, hint_for, next_health, stale_event
from tosmonitor.notify.render import render, render_digest, shorten
from tosmonitor.notify.routing import plan_deliveries, route

NOW = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)

OLD_CLAUSE = "We do not use the messages you write to teach our software anything new about language."
NEW_CLAUSE = (
    "We may use public posts, comments and profile details to develop and train the generative models "
    "that power writing suggestions, unless you switch off the setting named Data for model improvement."
)


def change_event(**overrides: object) -> dict:
    event = {
        "kind": "change",
        "event_id": "change:7",
        "change_id": 7,
        "document_id": "quillnet/privacy-policy",
        "service": "Quillnet",
        "document": "Privacy Policy",
        "url": "https://quillnet.example/privacy",
        "detected_at": "2026-11-23T19:00:00Z",
        "severity": "critical",
        "ai_training_change": True,
        "cosmetic": False,
        "technical": False,
        "headline": "AI training now on by default (opt-out); EU/UK excluded",
        "stance_before": {"training": "none", "excluded_regions": [], "parties": [], "categories": []},
        "stance_after": {
            "training": "opt-out",
            "excluded_regions": ["EU", "UK"],
            "parties": ["Quillnet Labs"],
            "categories": ["posts"],
        },
        "findings": [
            {
                "rule": "training_added_opt_out",
                "severity": "critical",
                "summary": "AI training on user data added, on by default with opt-out",
                "old": OLD_CLAUSE,
                "new": NEW_CLAUSE,
            }
        ],
        "stats": {"sentences_added": 3, "sentences_removed": 0, "sentences_modified": 1},
        "diff_excerpt": "We [-do not use-]{+may use+} public posts",
        "from_version": 3,
        "to_version": 4,
        "links": {"cli": "tosmonitor diff quillnet/privacy-policy 3 4", "web": None},
    }
    event.update(overrides)
    return event


def many_findings(n: int = 50) -> dict:
    findings = [
        {
            "rule": f"rule_{i}",
            "severity": "high" if i % 2 else "critical",
            "summary": f"Finding number {i}: the partner list for model training grew",
            "old": None if i == 0 else f"{OLD_CLAUSE} Clause {i}.",
            "new": f"{NEW_CLAUSE} Clause {i}.",
        }
        for i in range(n)
    ]
    return change_event(findings=findings)


# -- routing -----------------------------------------------------------------------------------------------


def spec(name: str, **fields: object) -> ChannelSpec:
    return ChannelSpec(name=name, type="log", **fields)  # type: ignore[arg-type]


def names(event: dict, channels: list[ChannelSpec]) -> list[str]:
    return [c.name for c in route(event, channels)]


def test_route_min_severity() -> None:
    channels = [spec("all"), spec("high", min_severity="high"), spec("crit", min_severity="critical")]
    assert names(change_event(severity="critical"), channels) == ["all", "high", "crit"]
    assert names(change_event(severity="high"), channels) == ["all", "high"]
    assert names(change_event(severity="low", ai_training_change=False), channels) == ["all"]


def test_route_only_ai_training() -> None:
    channels = [spec("all"), spec("ai", only="ai_training")]
    assert names(change_event(), channels) == ["all", "ai"]
    assert names(change_event(ai_training_change=False, severity="low"), channels) == ["all"]
    health = {"kind": "health", "severity": "high", "service": "Quillnet", "state": "failing"}
    assert names(health, channels) == ["all"]


def test_route_services_and_exclusions() -> None:
    channels = [
        spec("quill", services=("Quillnet",)),
        spec("other", services=("Paperlane",)),
        spec("not-quill", exclude_services=("Quillnet",)),
    ]
    assert names(change_event(), channels) == ["quill"]
    assert names(change_event(service="Paperlane"), channels) == ["other", "not-quill"]
    test_event = {"kind": "test", "event_id": "test:1", "severity": "info"}
    assert names(test_event, channels) == ["quill", "other", "not-quill"]


def test_route_drops_technical_and_cosmetic_changes() -> None:
    channels = [spec("all")]
    assert names(change_event(technical=True, severity="info"), channels) == []
    assert names(change_event(cosmetic=True, ai_training_change=False), channels) == []
    assert names(change_event(), channels) == ["all"]


def test_plan_deliveries_rows() -> None:
    channels = [spec("log"), spec("daily", digest="daily"), spec("crit-only", min_severity="critical")]
    rows = plan_deliveries(change_event(severity="high"), channels, NOW)
    assert [r["channel"] for r in rows] == ["log", "daily"]
    first, daily = rows
    assert first["idempotency_key"] == "change:7:log"
    assert first["status"] == "pending" and first["attempts"] == 0
    assert first["event_kind"] == "change" and first["change_id"] == 7
    assert first["document_id"] == "quillnet/privacy-policy" and first["severity"] == "high"
    assert json.loads(first["payload"])["headline"].startswith("AI training now on")
    assert first["next_attempt_at"] == "2026-11-23T19:00:00.000000Z"
    assert daily["next_attempt_at"] == "2026-11-24T00:00:00.000000Z"


def test_plan_deliveries_health_events_get_document_ids() -> None:
    state = HealthState(2, False, None, "timeout", "timed out", False)
    _, event = next_health(state, ok=False, error_class="timeout", error="timed out", now=NOW, threshold=3)
    assert event is not None
    keys = set()
    for doc in ("a/terms", "b/terms"):
        rows = plan_deliveries(dict(event, document_id=doc, service=doc[0]), [spec("log")], NOW)
        keys.add(rows[0]["idempotency_key"])
        assert doc in rows[0]["event_id"]
        assert json.loads(rows[0]["payload"])["event_id"] == rows[0]["event_id"]
    assert len(keys) == 2  # two documents failing in the same second do not collide


# -- health ------------------------------------------------------------------------------------------------

FRESH = HealthState(
    consecutive_failures=0,
    failing_alerted=False,
    last_success_at="2026-11-20T00:00:00Z",
    last_error_class=None,
    last_error=None,
    stale_alerted=False,
)


def test_health_one_alert_at_threshold_then_silence_then_one_recovery() -> None:
    state, events = FRESH, []
    for i in range(6):
        state, event = next_health(
            state,
            ok=False,
            error_class="http_error",
            error="HTTP 403 Forbidden",
            now=NOW + timedelta(hours=i),
            threshold=3,
        )
        events.append(event)
    assert [e is not None for e in events] == [False, False, True, False, False, False]
    failing = events[2]
    assert failing["kind"] == "health" and failing["state"] == "failing"
    assert failing["consecutive_failures"] == 3 and failing["error"] == "HTTP 403 Forbidden"
    assert "403" in failing["error"] and "user_agent" in failing["hint"]
    assert failing["last_success_at"] == "2026-11-20T00:00:00Z"
    assert state.consecutive_failures == 6 and state.failing_alerted

    state, recovered = next_health(state, ok=True, error_class=None, error=None, now=NOW, threshold=3)
    assert recovered is not None and recovered["state"] == "recovered"
    assert recovered["severity"] == failing["severity"]  # whoever heard of the failure hears of the end
    assert state == HealthState(0, False, "2026-11-23T19:00:00Z", None, None, False)
    state, again = next_health(state, ok=True, error_class=None, error=None, now=NOW, threshold=3)
    assert again is None


def test_health_failures_below_threshold_recover_silently() -> None:
    state, event = next_health(FRESH, ok=False, error_class="timeout", error="slow", now=NOW, threshold=3)
    assert event is None
    state, event = next_health(state, ok=True, error_class=None, error=None, now=NOW, threshold=3)
    assert event is None and state.consecutive_failures == 0


@pytest.mark.parametrize(
    ("error_class", "error", "expected"),
    [
        ("extract_error", "selector '#terms' matched nothing", "selector"),
        ("blocked", "captcha page", "captcha"),
        ("timeout", "no answer in 30 s", "timeout"),
        ("too_large", "over 10 MiB", "max_bytes"),
        ("network_error", "[Errno -2] Name or service not known", "domain name"),
        ("http_error", "HTTP 403 from https://x.example/", "user_agent"),
        ("http_error", "HTTP 404 from https://x.example/", "404"),
    ],
)
def test_hints_per_error_class(error_class: str, error: str, expected: str) -> None:
    assert expected in hint_for(error_class, error)


def test_stale_event_once_until_success() -> None:
    doc = {
        "id": "a/terms",
        "last_success_at": "2026-11-19T00:00:00Z",
        "first_seen_at": "2026-11-01T00:00:00Z",
    }
    state = FRESH
    state, event = stale_event(doc, state, now=datetime(2026, 11, 21, tzinfo=UTC), watchdog_after=3 * 86400)
    assert event is None
    state, event = stale_event(doc, state, now=datetime(2026, 11, 24, tzinfo=UTC), watchdog_after=3 * 86400)
    assert event is not None and event["state"] == "stale" and state.stale_alerted
    state, again = stale_event(doc, state, now=datetime(2026, 11, 25, tzinfo=UTC), watchdog_after=3 * 86400)
    assert again is None
    state, recovered = next_health(state, ok=True, error_class=None, error=None, now=NOW, threshold=3)
    assert recovered is not None and recovered["state"] == "recovered" and not state.stale_alerted


# -- rendering ---------------------------------------------------------------------------------------------


def test_render_summary_first_with_stance_quotes_excerpt_and_links() -> None:
    message = render(change_event(), web_base_url="https://watch.example")
    assert message.subject == (
        "[critical] Quillnet Privacy Policy: AI training now on by default (opt-out); EU/UK excluded"
    )
    lines = message.text.splitlines()
    assert lines[0] == message.subject
    assert "AI training: none → opt-out (excluded: EU, UK; parties: Quillnet Labs; data: posts)" in lines
    assert f"  before: “{OLD_CLAUSE}”" in lines and f"  after: “{NEW_CLAUSE}”" in lines
    assert "Diff: We [-do not use-]{+may use+} public posts" in lines
    assert "Document: https://quillnet.example/privacy" in lines
    assert "Seen: 2026-11-23T19:00:00Z" in lines
    assert "Full diff: https://watch.example/changes/7" in lines
    assert "Full diff (CLI): tosmonitor diff quillnet/privacy-policy 3 4" in lines
    assert message.markdown is not None and message.markdown.startswith("**\\[critical\\] Quillnet")


def test_render_plain_change_subject() -> None:
    event = change_event(severity="low", ai_training_change=False, headline="Text changed", findings=[])
    assert render(event).subject == "[low] Quillnet Privacy Policy changed: 3 sentences added, 1 modified"
    event["stats"] = {"sentences_removed": 2}
    assert render(event).subject == "[low] Quillnet Privacy Policy changed: 2 sentences removed"


def test_html_escapes_untrusted_page_text() -> None:
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    event = change_event(
        headline=f"Headline {hostile}",
        findings=[{"rule": "r", "severity": "high", "summary": hostile, "old": hostile, "new": "a & b"}],
        diff_excerpt=hostile,
        url='https://quillnet.example/p?a=1&b="2"',
    )
    message = render(event)
    assert message.html is not None
    assert "<script" not in message.html and "<img" not in message.html
    assert "&lt;script&gt;" in message.html and "a &amp; b" in message.html
    assert 'href="https://quillnet.example/p?a=1&amp;b=&quot;2&quot;"' in message.html


def tokens(text: str) -> set[str]:
    return {t.strip("“”…,;:.()") for t in text.split()} - {""}


@pytest.mark.parametrize("budget", [500, 2000, 3000, 4000, 4096])
def test_budgets_hold_on_fifty_findings(budget: int) -> None:
    event = many_findings(50)
    full = render(event)
    assert "more finding" not in full.text and len(full.text) > 10_000
    message = render(event, budget=budget)
    assert message.subject == full.subject
    assert 0 < len(message.text) <= budget and len(message.markdown or "") <= budget
    assert message.text.splitlines()[0] == full.subject
    shown = len(re.findall(r"^- \[(?:critical|high)\]", message.text, flags=re.M))
    more = re.search(r"… and (\d+) more findings?", message.text)
    assert more is not None, message.text[-200:]
    assert shown + int(more.group(1)) == 50
    assert tokens(message.text.replace(more.group(0), "")) <= tokens(full.text), "a word was cut"
    assert "Document: https://quillnet.example/privacy" in message.text  # the link survives the cut


def test_budget_never_empty_even_when_the_summary_alone_is_too_long() -> None:
    event = change_event(headline=" ".join(["unprecedented"] * 60))
    message = render(event, budget=120)
    assert 0 < len(message.text) <= 120
    assert message.text.startswith("[critical] Quillnet Privacy Policy: unprecedented")
    assert message.text.endswith("…") and tokens(message.text) <= tokens(render(event).text)


def test_shorten_cuts_at_word_boundaries() -> None:
    assert shorten("alpha beta gamma", 100) == "alpha beta gamma"
    assert shorten("alpha beta gamma", 12) == "alpha beta…"
    assert shorten("alpha beta gamma", 11) == "alpha beta…"
    assert shorten("alpha beta gamma", 10) == "alpha…"


def test_health_and_test_messages() -> None:
    _, event = next_health(
        HealthState(2, False, "2026-11-20T00:00:00Z", None, None, False),
        ok=False,
        error_class="extract_error",
        error="selector '#terms' matched nothing",
        now=NOW,
        threshold=3,
    )
    assert event is not None
    event.update(service="Quillnet", document="Terms", url="https://quillnet.example/terms")
    message = render(event)
    assert message.subject == "[high] Quillnet Terms: checks failing (3 failures in a row, extract_error)"
    assert "Hint: The selector no longer matches anything" in message.text
    assert "Document: https://quillnet.example/terms" in message.text
    test = render(
        {"kind": "test", "event_id": "test:1", "severity": "info", "headline": "tosmonitor test message"}
    )
    assert test.subject == "[info] tosmonitor test message" and test.text


def test_digest_groups_events_within_budget() -> None:
    events = [change_event(event_id=f"change:{i}", service=f"Service{i}") for i in range(30)]
    events[4] = change_event(event_id="change:4", severity="low", ai_training_change=False)
    message = render_digest(events)
    assert message.subject.startswith("[critical] tosmonitor: 30 alerts")
    assert message.text.count("\n- [") == 30
    short = render_digest(events, budget=1000)
    assert len(short.text) <= 1000
    shown = short.text.count("\n- [")
    more = re.search(r"… and (\d+) more alerts", short.text)
    assert more is not None and shown + int(more.group(1)) == 30
    with pytest.raises(ValueError):
        render_digest([])
