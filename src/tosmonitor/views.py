# SPDX-License-Identifier: Apache-2.0
"""Read-only views of the archive for the CLI (and the web app): listings, histories, diffs.

Each view returns plain JSON-able data (the ``--json`` output); ``format_*`` functions turn it into text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from . import clock
from . import diff as diffing
from .archive import Archive
from .errors import ArchiveError, InputError


def parse_date(value: str) -> datetime:
    """``--at``: an ISO date or date-time; a bare date means the end of that day (UTC)."""
    try:
        return clock.parse_date(value, end_of_day=True)
    except ValueError as exc:
        raise InputError(
            f"--at {value!r}: not an ISO date (e.g. 2025-01-31 or 2025-01-31T12:00:00Z)"
        ) from exc


def documents_listing(archive: Archive) -> list[dict[str, Any]]:
    rows = []
    for doc in archive.documents():
        latest = archive.db.execute(
            "SELECT training, first_seen_at FROM versions WHERE id = ?", [doc["latest_version_id"]]
        ).fetchone()
        count = archive.db.execute(
            "SELECT COUNT(*) FROM versions WHERE document_id = ?", [doc["id"]]
        ).fetchone()
        rows.append(
            {
                "id": doc["id"],
                "service": doc["service"],
                "name": doc["name"],
                "url": doc["url"],
                "versions": count[0],
                "training": latest[0] if latest else None,
                "last_success_at": doc["last_success_at"],
                "health": doc["health"],
                "consecutive_failures": doc["consecutive_failures"],
                "last_error": doc["last_error"],
            }
        )
    return rows


def format_documents(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "The archive holds no documents yet."
    width = max(len(r["id"]) for r in rows)
    lines = [f"{'document':<{width}}  versions  training    health   last success"]
    for r in rows:
        lines.append(
            f"{r['id']:<{width}}  {r['versions']:>8}  {r['training'] or '-':<10}  {r['health']:<7}  "
            f"{r['last_success_at'] or '-'}"
        )
    return "\n".join(lines)


def document_history(archive: Archive, doc_id: str) -> dict[str, Any]:
    """Versions, changes and the AI-training stance timeline of one document."""
    doc = archive.document(doc_id)
    if doc is None:
        raise ArchiveError(f"no document {doc_id!r}")
    changes = {c["to_version_id"]: c for c in archive.changes(doc_id)}
    versions = []
    timeline = []
    previous_training = None
    for v in archive.versions(doc_id):
        change = changes.get(v["id"])
        versions.append(
            {
                "version_id": v["id"],
                "sha256": v["sha256"],
                "first_seen_at": v["first_seen_at"],
                "size": v["size"],
                "training": v["training"],
                "technical": bool(v["technical"]),
                "imported": bool(v["imported"]),
                "change_id": change["id"] if change else None,
                "severity": change["severity"] if change else None,
                "ai_training_change": change["ai_training_change"] if change else False,
                "headline": change["headline"]
                if change
                else ("first record" if not v["previous_version_id"] else None),
                "findings": [f["rule"] for f in (change["findings"] or [])] if change else [],
            }
        )
        if v["training"] != previous_training and not v["technical"]:
            timeline.append({"from": v["first_seen_at"], "training": v["training"], "version_id": v["id"]})
            previous_training = v["training"]
    return {
        "document_id": doc_id,
        "service": doc["service"],
        "name": doc["name"],
        "url": doc["url"],
        "health": doc["health"],
        "versions": versions,
        "stance_timeline": timeline,
    }


def format_history(data: dict[str, Any]) -> str:
    lines = [f"{data['service']} {data['name']} ({data['document_id']})", data["url"], ""]
    if not data["versions"]:
        lines.append("No version recorded yet.")
    for v in data["versions"]:
        flags = []
        if v["technical"]:
            flags.append("technical")
        if v["imported"]:
            flags.append("imported")
        severity = f"[{v['severity']}] " if v["severity"] else ""
        lines.append(
            f"v{v['version_id']:<5} {v['first_seen_at'][:19]}  training={v['training'] or '-':<10} "
            f"{severity}{v['headline'] or ''}{' (' + ', '.join(flags) + ')' if flags else ''}"
        )
    if data["stance_timeline"]:
        lines.append("")
        lines.append("AI-training stance over time:")
        for step in data["stance_timeline"]:
            lines.append(
                f"  since {step['from'][:10]}: {step['training'] or 'unknown'} (v{step['version_id']})"
            )
    return "\n".join(lines)


def version_diff(archive: Archive, doc_id: str, old: int | None, new: int | None) -> dict[str, Any]:
    """The diff between two versions (default: the latest change), with the stored AI findings."""
    versions = archive.versions(doc_id)
    if len(versions) < 1:
        raise ArchiveError(f"{doc_id} has no version yet")
    ids = [v["id"] for v in versions]
    if new is None and old is None:
        if len(ids) < 2:
            raise ArchiveError(f"{doc_id} has a single version: nothing to diff")
        old, new = ids[-2], ids[-1]
    elif new is None:
        new = ids[-1]
    for ref in (old, new):
        if ref not in ids:
            raise ArchiveError(f"version {ref} is not a version of {doc_id} (versions: {ids})")
    assert old is not None and new is not None
    old_text, new_text = archive.text(old), archive.text(new)
    text_diff = diffing.diff_texts(old_text, new_text)
    stored = archive.db.execute(
        "SELECT id FROM changes WHERE from_version_id = ? AND to_version_id = ?", [old, new]
    ).fetchone()
    change = archive.change(stored[0]) if stored else None
    return {
        "document_id": doc_id,
        "from_version": old,
        "to_version": new,
        "change_id": change["id"] if change else None,
        "severity": change["severity"] if change else None,
        "headline": change["headline"] if change else None,
        "findings": change["findings"] if change else [],
        "stance_before": change["stance_before"] if change else None,
        "stance_after": change["stance_after"] if change else None,
        "diff": text_diff.to_dict(),
        "_diff": text_diff,
        "_unified": diffing.unified_diff(old_text, new_text, old_label=f"v{old}", new_label=f"v{new}"),
    }


def documents_status(config: Any, archive: Archive) -> list[dict[str, Any]]:
    """Health and next due time of each configured document."""
    from .clock import parse_iso
    from .scheduler import next_due

    now = datetime.now(UTC)
    rows = []
    for spec in config.documents:
        doc = archive.document(spec.id) or {}
        last_checked = parse_iso(doc.get("last_checked_at"))
        rows.append(
            {
                "id": spec.id,
                "health": doc.get("health", "never checked"),
                "last_success_at": doc.get("last_success_at"),
                "last_checked_at": doc.get("last_checked_at"),
                "last_error": doc.get("last_error"),
                "last_error_class": doc.get("last_error_class"),
                "consecutive_failures": doc.get("consecutive_failures", 0),
                "next_due": next_due(spec, last_checked, now).isoformat().replace("+00:00", "Z"),
            }
        )
    return rows


def format_status(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "No documents configured."
    width = max(len(r["id"]) for r in rows)
    lines = [
        f"{'document':<{width}}  health         fails  last success          next due              last error"
    ]
    for r in rows:
        lines.append(
            f"{r['id']:<{width}}  {r['health']:<13}  {r['consecutive_failures']:>5}  "
            f"{(r['last_success_at'] or '-')[:19]:<20}  {r['next_due'][:19]:<20}  {(r['last_error'] or '')[:60]}"
        )
    return "\n".join(lines)
