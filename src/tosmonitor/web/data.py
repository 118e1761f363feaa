# SPDX-License-Identifier: Apache-2.0
"""Read-only access to the archive for the web app: one read-only SQLite connection per thread, the
archive's state token (for ETags) and the queries behind the pages and the JSON API.

Everything here returns plain dicts and lists of what the archive holds; nothing is escaped or formatted
(the templates escape; :mod:`tosmonitor.web.render` formats).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from ..archive import Archive, iso
from ..clock import parse_date
from ..errors import InputError
from ..models import SEVERITIES

STANCES = ("none", "never", "opt-in", "opt-out", "no-choice")


class ArchiveSource:
    """Hands each thread its own read-only connection to one archive file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._all: list[Archive] = []
        self._lock = threading.Lock()
        Archive(self.path, readonly=True).close()  # fail early with a clear message

    def get(self) -> Archive:
        archive = getattr(self._local, "archive", None)
        if archive is None:
            archive = Archive(self.path, readonly=True)  # SQLite mode=ro: no write, even by mistake
            self._local.archive = archive
            with self._lock:
                self._all.append(archive)
        return archive

    def close(self) -> None:
        with self._lock:
            for archive in self._all:
                archive.db.close()
            self._all.clear()

    def state(self) -> str:
        """A token that changes whenever the archive file (or its write-ahead log) changes."""
        parts = []
        for suffix in ("", "-wal"):
            try:
                stat = os.stat(str(self.path) + suffix)
            except FileNotFoundError:
                parts.append("-")
                continue
            parts.append(f"{stat.st_mtime_ns}:{stat.st_size}:{stat.st_ino}")
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


# ---------------------------------------------------------------------------------------------------------
# Parameters


def parse_since(value: str | None) -> str | None:
    """``since=`` as an ISO date or date-time (UTC when no zone) → the archive's ISO form.

    :raises InputError: naming the parameter when the value is not a date.
    """
    if not value:
        return None
    try:
        moment = parse_date(value)
    except ValueError as exc:
        raise InputError(
            f"since={value!r}: not an ISO date (e.g. 2025-01-31 or 2025-01-31T12:00:00Z)"
        ) from exc
    return iso(moment)


def parse_severity(value: str | None) -> str | None:
    if not value:
        return None
    if value not in SEVERITIES:
        raise InputError(f"severity={value!r}: expected one of {', '.join(SEVERITIES)}")
    return value


def at_least(severity: str) -> list[str]:
    """The severities at or above ``severity``."""
    return list(SEVERITIES[SEVERITIES.index(severity) :])


def parse_int(name: str, value: str | None, default: int, *, low: int = 0, high: int = 10**9) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise InputError(f"{name}={value!r}: not an integer") from exc
    if not low <= number <= high:
        raise InputError(f"{name}={number}: must be between {low} and {high}")
    return number


def parse_flag(name: str, value: str | None) -> bool:
    if value is None or value == "":
        return False
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise InputError(f"{name}={value!r}: expected 1/0, true/false")


# ---------------------------------------------------------------------------------------------------------
# Queries


def _rows(archive: Archive, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return list(archive.db.query(sql, list(params)))


def services(archive: Archive) -> list[dict[str, Any]]:
    """Each service with its slug (the first part of its documents' ids) and document count."""
    return _rows(
        archive,
        "SELECT service, substr(id, 1, instr(id, '/') - 1) AS slug, COUNT(*) AS documents "
        "FROM documents GROUP BY service ORDER BY service",
    )


def overview(
    archive: Archive, *, ai_only: bool = False, severity: str | None = None, service: str | None = None
) -> list[dict[str, Any]]:
    """Every document with its health, current stance and latest change (matching the filters).

    With ``ai_only`` or ``severity``, the latest *matching* change is shown and documents without one are
    left out.
    """
    conditions = ["document_id = d.id"]
    params: list[Any] = []
    if ai_only:
        conditions.append("ai_training_change = 1")
    if severity:
        marks = ",".join("?" * len(at_least(severity)))
        conditions.append(f"severity IN ({marks})")
        params.extend(at_least(severity))
    where = []
    if service:
        where.append("d.service = ?")
        params.append(service)
    if ai_only or severity:
        where.append("c.id IS NOT NULL")
    sql = (
        "SELECT d.id, d.service, d.name, d.url, d.health, d.last_success_at, d.last_checked_at, "
        "d.consecutive_failures, d.last_error, v.training, v.id AS version_id, "
        "c.id AS change_id, c.detected_at, c.severity, c.headline, c.ai_training_change, c.technical, "
        "c.training_before, c.training_after "
        "FROM documents d LEFT JOIN versions v ON v.id = d.latest_version_id "
        f"LEFT JOIN changes c ON c.id = (SELECT MAX(id) FROM changes WHERE {' AND '.join(conditions)}) "
        + ("WHERE " + " AND ".join(where) + " " if where else "")
        + "ORDER BY d.service, d.name"
    )
    return _rows(archive, sql, params)


def document(archive: Archive, doc_id: str) -> dict[str, Any] | None:
    return archive.document(doc_id)


def document_versions(archive: Archive, doc_id: str) -> list[dict[str, Any]]:
    """The document's versions, oldest first, each with the change that led to it (if any)."""
    return _rows(
        archive,
        "SELECT v.id, v.sha256, v.first_seen_at, v.size, v.training, v.technical, v.imported, "
        "v.snapshot_sha256, v.snapshots, v.previous_version_id, c.id AS change_id, c.severity, c.headline, "
        "c.ai_training_change FROM versions v LEFT JOIN changes c ON c.to_version_id = v.id "
        "WHERE v.document_id = ? ORDER BY v.id",
        [doc_id],
    )


def stance_steps(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stance timeline: one step each time the (non-technical) training stance changes."""
    steps: list[dict[str, Any]] = []
    for v in versions:
        if v["technical"]:
            continue
        if not steps or steps[-1]["training"] != v["training"]:
            steps.append({"from": v["first_seen_at"], "training": v["training"], "version_id": v["id"]})
    return steps


def document_fetches(archive: Archive, doc_id: str, limit: int = 20) -> list[dict[str, Any]]:
    return _rows(
        archive,
        "SELECT id, fetched_at, status, outcome, error_class, error, bytes, elapsed, final_url, "
        "snapshot_sha256, fetcher FROM fetches WHERE document_id = ? ORDER BY id DESC LIMIT ?",
        [doc_id, limit],
    )


_CHANGE_COLUMNS = (
    "c.id, c.document_id, d.service, d.name, c.from_version_id, c.to_version_id, c.detected_at, c.technical, "
    "c.cosmetic, c.imported, c.severity, c.ai_training_change, c.training_before, c.training_after, "
    "c.headline, c.stats, c.findings"
)


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("stats", "findings", "diff", "stance_before", "stance_after"):
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    for key in ("technical", "cosmetic", "imported", "ai_training_change"):
        if key in row and row[key] is not None:
            row[key] = bool(row[key])
    if row.get("findings") is None and "findings" in row:
        row["findings"] = []
    return row


def changes_page(
    archive: Archive,
    *,
    since: str | None = None,
    ai_only: bool = False,
    severity: str | None = None,
    document_id: str | None = None,
    service_slug: str | None = None,
    after: int | None = None,
    before: int | None = None,
    limit: int = 50,
    newest_first: bool = False,
) -> list[dict[str, Any]]:
    """Changes matching the filters, by id (ascending, or descending with ``newest_first``).

    ``after``/``before`` are keyset cursors on the change id (stable while the archive grows).
    """
    where, params = [], []
    if since:
        where.append("c.detected_at >= ?")
        params.append(since)
    if ai_only:
        where.append("c.ai_training_change = 1")
    if severity:
        levels = at_least(severity)
        where.append(f"c.severity IN ({','.join('?' * len(levels))})")
        params.extend(levels)
    if document_id:
        where.append("c.document_id = ?")
        params.append(document_id)
    if service_slug:
        where.append("c.document_id >= ? AND c.document_id < ?")
        params.extend([service_slug + "/", service_slug + "0"])  # "0" sorts right after "/"
    if after is not None:
        where.append("c.id > ?")
        params.append(after)
    if before is not None:
        where.append("c.id < ?")
        params.append(before)
    sql = f"SELECT {_CHANGE_COLUMNS} FROM changes c JOIN documents d ON d.id = c.document_id"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY c.id {'DESC' if newest_first else 'ASC'} LIMIT ?"
    params.append(limit)
    return [_decode(row) for row in _rows(archive, sql, params)]


def change(archive: Archive, change_id: int) -> dict[str, Any] | None:
    rows = _rows(
        archive,
        f"SELECT {_CHANGE_COLUMNS}, c.diff, c.stance_before, c.stance_after, d.url "
        "FROM changes c JOIN documents d ON d.id = c.document_id WHERE c.id = ?",
        [change_id],
    )
    return _decode(rows[0]) if rows else None


def documents_page(
    archive: Archive, *, limit: int, offset: int, only: str | None = None
) -> list[dict[str, Any]]:
    """Documents by id with their current stance and latest change (``only``: just that document)."""
    return _rows(
        archive,
        "SELECT d.id, d.service, d.name, d.url, d.health, d.first_seen_at, d.last_checked_at, "
        "d.last_success_at, d.consecutive_failures, d.last_error, d.latest_version_id, v.training, "
        "(SELECT MAX(id) FROM changes WHERE document_id = d.id) AS latest_change_id "
        "FROM documents d LEFT JOIN versions v ON v.id = d.latest_version_id "
        + ("WHERE d.id = ? " if only else "")
        + "ORDER BY d.id LIMIT ? OFFSET ?",
        [*([only] if only else []), limit, offset],
    )


# Snippet markers: control characters that never appear in the archive's normalised texts.
MARK_START, MARK_END = "\x02", "\x03"


def fts_query(text: str) -> str:
    """A user's words as an FTS5 query: every word must appear (phrases in double quotes kept)."""
    terms: list[str] = []
    parts = text.split('"')
    for index, part in enumerate(parts):
        if index % 2 == 1 and part.strip():
            terms.append('"' + part.strip() + '"')
        else:
            terms.extend('"' + word + '"' for word in part.split() if word.strip())
    return " ".join(terms)


def search(archive: Archive, text: str, *, limit: int, offset: int) -> list[dict[str, Any]]:
    """Full-text search over every version; snippets carry :data:`MARK_START`/:data:`MARK_END` markers."""
    query = fts_query(text)
    if not query:
        return []
    return _rows(
        archive,
        "SELECT f.rowid AS version_id, f.document_id, d.service, d.name, v.first_seen_at, v.training, "
        "(d.latest_version_id = f.rowid) AS current, "
        f"snippet(versions_fts, 0, '{MARK_START}', '{MARK_END}', ' … ', 24) AS snippet "
        "FROM versions_fts f JOIN versions v ON v.id = f.rowid JOIN documents d ON d.id = f.document_id "
        "WHERE versions_fts MATCH ? ORDER BY rank LIMIT ? OFFSET ?",
        [query, limit, offset],
    )


def failing_documents(archive: Archive) -> list[dict[str, Any]]:
    return _rows(
        archive,
        "SELECT id, service, name, url, health, consecutive_failures, last_error, last_error_class, "
        "last_checked_at, last_success_at FROM documents "
        "WHERE health != 'ok' OR consecutive_failures > 0 ORDER BY consecutive_failures DESC, id",
    )


def deliveries(
    archive: Archive, *, status: str | None = None, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    where, params = "", []
    if status:
        where = "WHERE status = ?"
        params.append(status)
    return _rows(
        archive,
        "SELECT id, event_kind, event_id, change_id, document_id, channel, severity, status, attempts, "
        f"last_error, last_attempt_at, next_attempt_at, created_at, sent_at FROM deliveries {where} "
        "ORDER BY id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )


def delivery_counts(archive: Archive) -> dict[str, dict[str, int]]:
    """Per channel, the number of deliveries in each status."""
    counts: dict[str, dict[str, int]] = {}
    for row in _rows(
        archive, "SELECT channel, status, COUNT(*) AS n FROM deliveries GROUP BY channel, status"
    ):
        counts.setdefault(row["channel"], {})[row["status"]] = row["n"]
    return counts


def snapshot_text(archive: Archive, sha: str) -> tuple[str, str | None]:
    """A raw snapshot decoded for display as plain text, with its original content type."""
    body, content_type, charset = archive.snapshot(sha)
    try:
        text = body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name
        text = body.decode("utf-8", errors="replace")
    return text, content_type
