# SPDX-License-Identifier: Apache-2.0
"""The outbox sender: delivers the ``deliveries`` rows queued by the pipeline, with retries.

Rows are claimed before sending by pushing their ``next_attempt_at`` forward by a lease (one atomic
``UPDATE ... RETURNING``), so two senders never pick the same row, and a sender killed mid-send leaves
the row to be retried once the lease expires. Each status update is its own transaction. A failed
attempt is retried after ``30 s * 2^(attempts-1)`` (±10 % jitter, at most 6 h); after the channel's
``max_attempts`` the row is ``failed`` with its last error. Delivery is at-least-once: a crash between a
successful send and its status update resends once, with the same idempotency key.

Digest channels get one message per run (``digest: run``) or per day (``digest: daily``, rows due at
midnight UTC) grouping all their due rows.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from ..clock import utcnow
from ..errors import AlertError
from ..models import severity_rank
from .channels import Channel
from .render import render, render_digest
from .routing import format_time

__all__ = [
    "DeliveryReport",
    "backoff",
    "deliver_pending",
    "list_deliveries",
    "retry_failed",
    "send_test",
    "utcnow",
]

LEASE = timedelta(minutes=5)
BASE_DELAY = 30.0
MAX_DELAY = 6 * 3600.0
BATCH = 200


def backoff(attempts: int, *, rng: Callable[[], float] = random.random) -> float:
    """Seconds before the next try after ``attempts`` failed tries: 30 s doubling, ±10 %, at most 6 h."""
    delay = min(BASE_DELAY * 2 ** max(0, attempts - 1), MAX_DELAY)
    return min(delay * (0.9 + 0.2 * rng()), MAX_DELAY)


@dataclass
class DeliveryReport:
    """What one :func:`deliver_pending` run did. ``errors`` holds ``(delivery id, channel, error)``."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0  # due rows of channels that are not configured (left pending)
    messages: int = 0  # messages sent (a digest counts once)
    errors: list[tuple[int, str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "retrying": self.retrying,
            "failed": self.failed,
            "skipped": self.skipped,
            "messages": self.messages,
            "errors": [{"id": i, "channel": c, "error": e} for i, c, e in self.errors],
        }


def _claim(
    db: sqlite_utils.Database, channels: list[str], now: datetime, limit: int | None
) -> list[dict[str, Any]]:
    if not channels:
        return []
    marks = ", ".join("?" for _ in channels)
    lease = format_time(now + LEASE)
    sql = (
        "UPDATE deliveries SET next_attempt_at = ? WHERE id IN ("
        f"SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? AND channel IN ({marks}) "
        "ORDER BY id" + (" LIMIT ?" if limit is not None else "") + ") AND status = 'pending' RETURNING *"
    )
    params: list[Any] = [lease, format_time(now), *channels]
    if limit is not None:
        params.append(limit)
    with db.atomic():  # one short write transaction, committed before anything is sent
        cursor = db.execute(sql, params)
        columns = [c[0] for c in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return sorted(rows, key=lambda r: r["id"])


def _mark_sent(db: sqlite_utils.Database, ids: list[int], when: datetime) -> None:
    stamp = format_time(when)
    with db.atomic():
        for delivery_id in ids:
            db.execute(
                "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, last_attempt_at = ?, "
                "sent_at = ?, next_attempt_at = ? WHERE id = ? AND status = 'pending'",
                [stamp, stamp, stamp, delivery_id],
            )


def _mark_failed(
    db: sqlite_utils.Database, rows: list[dict[str, Any]], error: str, when: datetime, max_attempts: int
) -> tuple[int, int]:
    """Record a failed attempt; returns (still retrying, given up)."""
    retrying = given_up = 0
    stamp = format_time(when)
    with db.atomic():
        for row in rows:
            attempts = int(row["attempts"]) + 1
            if attempts >= max_attempts:
                status, due = "failed", stamp
                given_up += 1
            else:
                status, due = "pending", format_time(when + timedelta(seconds=backoff(attempts)))
                retrying += 1
            db.execute(
                "UPDATE deliveries SET status = ?, attempts = ?, last_error = ?, last_attempt_at = ?, "
                "next_attempt_at = ? WHERE id = ? AND status = 'pending'",
                [status, attempts, error[:2000], stamp, due, row["id"]],
            )
    return retrying, given_up


def _attempt(channel: Channel, send: Callable[[], None]) -> str | None:
    try:
        send()
    except AlertError as exc:
        return str(exc)
    except Exception as exc:  # a channel bug must not stop the outbox: record it on the row
        return f"{channel.spec.type} channel {channel.name!r}: unexpected {type(exc).__name__}: {exc}"
    return None


def _digest_event(name: str, rows: list[dict[str, Any]], events: list[dict[str, Any]], now: datetime) -> dict:
    spec_key = max(r["created_at"] for r in rows)
    top = max(events, key=lambda e: severity_rank(str(e.get("severity") or "info")))
    return {
        "kind": "digest",
        "event_id": f"digest:{name}:{spec_key}",
        "channel": name,
        "detected_at": format_time(now),
        "severity": top.get("severity") or "info",
        "count": len(events),
        "events": events,
    }


def deliver_pending(
    db: sqlite_utils.Database,
    channels: Mapping[str, Channel],
    *,
    now: Callable[[], datetime] = utcnow,
    limit: int | None = None,
) -> DeliveryReport:
    """Send the due ``pending`` deliveries through ``channels`` (by channel name).

    :param limit: at most this many rows this run (digest channels always take all their due rows).
    :returns: counts of sent, retrying, failed (given up) and skipped rows, and the errors met.
    """
    report = DeliveryReport()
    digests = [name for name, ch in channels.items() if ch.spec.digest]
    singles = [name for name, ch in channels.items() if not ch.spec.digest]
    for name in digests:
        channel = channels[name]
        started = now()
        rows = _claim(db, [name], started, None)
        if not rows:
            continue
        events = [json.loads(r["payload"]) for r in rows]
        event = _digest_event(name, rows, events, started)
        key = str(event["event_id"])
        message = render_digest(events, budget=channel.budget)
        error = _attempt(channel, lambda c=channel, m=message, e=event, k=key: c.send(m, e, k))
        _record(db, report, channel, rows, error, now())
    remaining = limit
    while remaining is None or remaining > 0:
        batch = BATCH if remaining is None else min(BATCH, remaining)
        rows = _claim(db, singles, now(), batch)
        if not rows:
            break
        if remaining is not None:
            remaining -= len(rows)
        for row in rows:
            channel = channels[row["channel"]]
            event = json.loads(row["payload"])
            key = str(row["idempotency_key"])
            message = render(event, budget=channel.budget)
            error = _attempt(channel, lambda c=channel, m=message, e=event, k=key: c.send(m, e, k))
            _record(db, report, channel, [row], error, now())
    report.skipped = _count_skipped(db, list(channels), now())
    return report


def _record(
    db: sqlite_utils.Database,
    report: DeliveryReport,
    channel: Channel,
    rows: list[dict[str, Any]],
    error: str | None,
    when: datetime,
) -> None:
    if error is None:
        _mark_sent(db, [r["id"] for r in rows], when)
        report.sent += len(rows)
        report.messages += 1
        return
    retrying, given_up = _mark_failed(db, rows, error, when, channel.spec.max_attempts)
    report.retrying += retrying
    report.failed += given_up
    report.errors.extend((r["id"], channel.name, error) for r in rows)


def _count_skipped(db: sqlite_utils.Database, names: list[str], now: datetime) -> int:
    marks = ", ".join("?" for _ in names)
    where = f" AND channel NOT IN ({marks})" if names else ""
    row = db.execute(
        f"SELECT COUNT(*) FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ?{where}",
        [format_time(now), *names],
    ).fetchone()
    return int(row[0])


def retry_failed(
    db: sqlite_utils.Database, delivery_id: int | None = None, *, now: datetime | None = None
) -> int:
    """Re-queue failed deliveries (all, or one): pending, attempts reset, due now. Returns how many."""
    due = format_time(now or utcnow())
    with db.atomic():
        if delivery_id is None:
            cursor = db.execute(
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ? "
                "WHERE status = 'failed'",
                [due],
            )
        else:
            cursor = db.execute(
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ? "
                "WHERE status = 'failed' AND id = ?",
                [due, delivery_id],
            )
    return int(cursor.rowcount)


_LIST_COLUMNS = (
    "id, idempotency_key, event_kind, event_id, change_id, document_id, channel, severity, status, "
    "attempts, last_error, last_attempt_at, next_attempt_at, created_at, sent_at"
)


def list_deliveries(
    db: sqlite_utils.Database, *, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The newest deliveries first (without their payload), optionally only those with ``status``."""
    if status is not None and status not in ("pending", "sent", "failed"):
        raise ValueError(f"unknown delivery status {status!r} (pending, sent or failed)")
    where = " WHERE status = ?" if status else ""
    params: list[Any] = [status] if status else []
    return list(
        db.query(f"SELECT {_LIST_COLUMNS} FROM deliveries{where} ORDER BY id DESC LIMIT ?", [*params, limit])
    )


def send_test(channel: Channel) -> None:
    """Send a test message through ``channel`` now, bypassing routing and the outbox.

    :raises AlertError: with the channel's real reason when it fails.
    """
    event_id = f"test:{uuid.uuid4()}"
    event = {
        "kind": "test",
        "event_id": event_id,
        "detected_at": format_time(utcnow()),
        "severity": "info",
        "headline": "tosmonitor test message",
    }
    message = render(event, budget=channel.budget)
    channel.send(message, event, f"{event_id}:{channel.name}")
