# SPDX-License-Identifier: Apache-2.0
"""Alerts: routing events to channels, rendering them, the SQLite outbox sender and health alerts.

routing   pure: which channels get an event, and the ``deliveries`` rows to queue for it
render    pure: an event (or a digest of events) as a subject, plain text, HTML and Markdown
channels  the channel types (email, webhook, apprise, feed, log), built from ``ChannelSpec``
outbox    I/O: send due ``deliveries`` rows with retries and backoff, list and re-queue them
health    pure: the per-document health state machine (failing, recovered, stale events)
"""

from __future__ import annotations
