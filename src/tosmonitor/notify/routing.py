# SPDX-License-Identifier: Apache-2.0
"""Routing: which channels receive an event, and the outbox rows queued for it (pure functions).

The pipeline calls :func:`plan_deliveries` inside the transaction that records a change or a health
state, so the alerts are queued atomically with what they announce; the outbox sender delivers them later.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ..clock import iso_fixed
from ..models import ChannelSpec, severity_rank

__all__ = ["delivery_key", "event_id_of", "format_time", "plan_deliveries", "route"]


format_time = iso_fixed  # the outbox compares these as text


def route(event: dict[str, Any], channels: Sequence[ChannelSpec]) -> list[ChannelSpec]:
    """The channels that should receive ``event``, in configuration order.

    Technical and cosmetic changes go nowhere. Per channel: the event's severity must reach
    ``min_severity``; ``only: ai_training`` keeps only changes with an AI-training change (health events
    included: such a channel hears about nothing else); ``services`` and ``exclude_services`` filter by
    the event's service (events without a service, like tests, pass the service filters).
    """
    kind = event.get("kind")
    if kind == "change" and (event.get("technical") or event.get("cosmetic")):
        return []
    rank = severity_rank(str(event.get("severity") or "info"))
    service = event.get("service")
    chosen = []
    for spec in channels:
        if rank < severity_rank(spec.min_severity):
            continue
        if spec.only == "ai_training" and not (kind == "change" and event.get("ai_training_change")):
            continue
        if service is not None and spec.services and service not in spec.services:
            continue
        if service is not None and service in spec.exclude_services:
            continue
        chosen.append(spec)
    return chosen


def event_id_of(event: dict[str, Any]) -> str:
    """The event's stable id. Health events always get ``health:<document>:<state>:<detected_at>``.

    :raises ValueError: when the event has no id and none can be derived.
    """
    if event.get("kind") == "health" and event.get("document_id"):
        return f"health:{event['document_id']}:{event.get('state')}:{event.get('detected_at')}"
    if event.get("event_id"):
        return str(event["event_id"])
    if event.get("kind") == "change" and event.get("change_id") is not None:
        return f"change:{event['change_id']}"
    raise ValueError(f"event without an event_id: kind={event.get('kind')!r}")


def delivery_key(event_id: str, channel: str) -> str:
    """The outbox idempotency key of one event on one channel."""
    return f"{event_id}:{channel}"


def _digest_due(spec: ChannelSpec, now: datetime) -> datetime:
    if spec.digest == "daily":
        day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return day + timedelta(days=1)
    return now


def plan_deliveries(
    event: dict[str, Any], channels: Sequence[ChannelSpec], now: datetime
) -> list[dict[str, Any]]:
    """Rows for the ``deliveries`` table (status ``pending``), one per channel :func:`route` selects.

    Rows of a ``digest: daily`` channel are due at the next midnight UTC, when the sender groups them into
    one message; ``digest: run`` rows are due at once and grouped by the next sender run.
    The payload is the event as JSON with its ``event_id`` filled in.
    """
    targets = route(event, channels)
    if not targets:
        return []
    event_id = event_id_of(event)
    payload_event = dict(event, event_id=event_id)
    payload = json.dumps(payload_event, ensure_ascii=False, sort_keys=True)
    created = format_time(now)
    rows = []
    for spec in targets:
        rows.append(
            {
                "idempotency_key": delivery_key(event_id, spec.name),
                "event_kind": str(event.get("kind")),
                "event_id": event_id,
                "change_id": event.get("change_id"),
                "document_id": event.get("document_id"),
                "channel": spec.name,
                "severity": str(event.get("severity") or "info"),
                "payload": payload,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": format_time(_digest_due(spec, now)),
                "created_at": created,
            }
        )
    return rows
