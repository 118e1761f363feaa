# SPDX-License-Identifier: Apache-2.0
"""The per-document health state machine: one "failing" alert, one "recovered" alert, one "stale" alert.

A broken fetch is not a change: after ``threshold`` failed checks in a row one ``failing`` event is raised,
nothing more while the document keeps failing, and one ``recovered`` event on the first success after an
alert. A document with no successful check for ``watchdog_after`` seconds raises one ``stale`` event.
The caller adds ``document_id``, ``service``, ``document`` and ``url`` to the events it receives.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ..clock import iso_seconds

__all__ = ["HINTS", "HealthState", "hint_for", "next_health", "stale_event"]


@dataclass(frozen=True)
class HealthState:
    """What the health machine remembers about one document (stored as JSON in ``documents``)."""

    consecutive_failures: int
    failing_alerted: bool
    last_success_at: str | None
    last_error_class: str | None
    last_error: str | None
    stale_alerted: bool


HINTS: dict[str, str] = {
    "http_error": "The server answered with an error status. Check that the URL still exists (404/410) or "
    "whether the site moved the page; update the url in targets.yaml.",
    "blocked": "The site served a block page, captcha or cookie wall (often HTTP 403). Try another "
    "user_agent or headers, a longer interval, or javascript: true.",
    "timeout": "The page did not answer in time. Raise the timeout or check the site from this host.",
    "too_large": "The page exceeded the size limit. Raise max_bytes or select a smaller page.",
    "empty": "The page came back empty. The site may need JavaScript (javascript: true) or may be down.",
    "network_error": "The host could not be reached (DNS, refused connection or TLS). Check the domain "
    "name and the network of this host.",
    "dns": "The host name does not resolve. Check the domain name in targets.yaml.",
    "extract_error": "The selector no longer matches anything: the page layout changed. Update the "
    "select/remove rules of this document (try `tosmonitor extract` on a saved copy).",
    "selector": "The selector no longer matches anything: the page layout changed. Update the "
    "select/remove rules of this document.",
    "suspect": "The text shrank suddenly and was held back; check that the page is complete.",
    "browser": "The headless browser failed. Check the Chromium installation.",
    "stale": "No successful check for a long time. Check that the scheduler runs and that fetches succeed "
    "(`tosmonitor status`).",
}
_DEFAULT_HINT = "Look at the last error with `tosmonitor history` and try `tosmonitor check --only` on it."


def hint_for(error_class: str | None, error: str | None = None) -> str:
    """A short, actionable hint for an error class (recognising DNS and 403 in the message too)."""
    text = (error or "").lower()
    if error_class in (None, "network_error", "http_error") and (
        "name or service not known" in text or "nodename nor servname" in text or "dns" in text
    ):
        return HINTS["dns"]
    if "403" in text and error_class in (None, "http_error"):
        return HINTS["blocked"]
    if error_class and error_class in HINTS:
        return HINTS[error_class]
    if "selector" in text or "matched nothing" in text:
        return HINTS["selector"]
    return _DEFAULT_HINT


_iso = iso_seconds


def _event(state_name: str, state: HealthState, now: datetime, **extra: Any) -> dict[str, Any]:
    detected = _iso(now)
    event: dict[str, Any] = {
        "kind": "health",
        "event_id": f"health:{state_name}:{detected}",  # routing adds the document id
        "detected_at": detected,
        "severity": "high",
        "state": state_name,
        "error_class": state.last_error_class,
        "error": state.last_error,
        "hint": hint_for(state.last_error_class, state.last_error),
        "consecutive_failures": state.consecutive_failures,
        "last_success_at": state.last_success_at,
    }
    event.update(extra)
    return event


def next_health(
    state: HealthState,
    *,
    ok: bool,
    error_class: str | None,
    error: str | None,
    now: datetime,
    threshold: int,
) -> tuple[HealthState, dict[str, Any] | None]:
    """The state after one check, and the health event it raises (or None).

    :param ok: the check succeeded (changed, unchanged or not modified).
    :param threshold: failed checks in a row before the one "failing" event.
    """
    if ok:
        alerted = state.failing_alerted or state.stale_alerted
        new = HealthState(
            consecutive_failures=0,
            failing_alerted=False,
            last_success_at=_iso(now),
            last_error_class=None,
            last_error=None,
            stale_alerted=False,
        )
        if not alerted:
            return new, None
        event = _event(
            "recovered",
            state,
            now,
            severity="high",
            failures_before=state.consecutive_failures,
            last_success_at=new.last_success_at,
            hint="Checks succeed again.",
        )
        return new, event
    failures = state.consecutive_failures + 1
    new = replace(state, consecutive_failures=failures, last_error_class=error_class, last_error=error)
    if failures >= threshold and not state.failing_alerted:
        new = replace(new, failing_alerted=True)
        return new, _event("failing", new, now)
    return new, None


def stale_event(
    doc: dict[str, Any], state: HealthState, *, now: datetime, watchdog_after: float
) -> tuple[HealthState, dict[str, Any] | None]:
    """One "stale" event when a document has had no successful check for ``watchdog_after`` seconds.

    ``doc`` is a ``documents`` row; the reference time is the last success, else the first time the
    document was seen. Nothing is raised again until a success resets ``stale_alerted``.
    """
    if state.stale_alerted:
        return state, None
    reference = state.last_success_at or doc.get("last_success_at") or doc.get("first_seen_at")
    if not reference:
        return state, None
    since = datetime.fromisoformat(str(reference).replace("Z", "+00:00"))
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    age = (now - since).total_seconds()
    if age < watchdog_after:
        return state, None
    new = replace(state, stale_alerted=True)
    event = _event(
        "stale",
        new,
        now,
        hint=HINTS["stale"],
        stale_for_seconds=round(age),
        last_success_at=state.last_success_at or doc.get("last_success_at"),
    )
    return new, event
