# SPDX-License-Identifier: Apache-2.0
"""Time in one place: the current UTC time, ISO-8601 text for the archive and alerts, and date parsing.

Every moment tosmonitor stores or sends is UTC written with a trailing ``Z``. Three spellings exist for three
uses: :func:`iso` (the archive's columns), :func:`iso_fixed` (fixed width with microseconds, so that text order
is time order in SQL comparisons such as the outbox's ``next_attempt_at``), :func:`iso_seconds` (for people:
logs and feeds).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_BARE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso(moment: datetime | None) -> str | None:
    """ISO-8601 UTC with a trailing Z; microseconds only when there are some."""
    if moment is None:
        return None
    return _utc(moment).isoformat().replace("+00:00", "Z")


def iso_fixed(moment: datetime) -> str:
    """ISO-8601 UTC with microseconds and a trailing Z: fixed width, so text order is time order."""
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_seconds(moment: datetime) -> str:
    """ISO-8601 UTC to the second, with a trailing Z."""
    return _utc(moment).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_iso(value: str | None) -> datetime | None:
    """The moment an ISO-8601 text names (None for an empty value)."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def parse_date(value: str, *, end_of_day: bool = False) -> datetime:
    """A date (``2025-01-31``) or date-time given by a user, in UTC when it names no zone.

    :param end_of_day: a bare date means the last microsecond of that day (for "until" and "as of").
    :raises ValueError: when the value is not an ISO date or date-time.
    """
    moment = _utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    if end_of_day and _BARE_DATE.fullmatch(value.strip()):
        moment += timedelta(days=1) - timedelta(microseconds=1)
    return moment
