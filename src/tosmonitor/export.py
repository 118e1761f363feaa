# SPDX-License-Identifier: Apache-2.0
"""The researchers' export: the archive written out in formats other tools already read.

``jsonl`` / ``csv``  one file per table (``versions``, ``changes``, ``fetches``) in a directory;
``dataset``         Open Terms Archive's dataset layout ``<service>/<document type>/<ISO date>.md`` with a
                    ``README.md`` and a ``metadata.json`` (documents, counts, hashes);
``git``             a git repository with one commit per version in time order (``<service>/<type>.md``),
                    dated when the version was first seen, built with ``git fast-import``;
``warc``            the raw snapshots as WARC response records (needs the ``warcio`` package).

Every exporter streams: rows come from database cursors and texts are decoded one version at a time, so memory
does not grow with the archive. Filters (:class:`ExportFilter`) select services, documents and a time window.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from .archive import Archive, iter_rows
from .clock import iso, parse_iso, utcnow
from .errors import ArchiveError, InputError

__all__ = [
    "CHANGE_COLUMNS",
    "FORMATS",
    "VERSION_COLUMNS",
    "ExportFilter",
    "ExportResult",
    "dataset_date",
    "export",
    "export_dataset",
    "export_git",
    "export_tables",
    "export_warc",
    "path_component",
]

FORMATS = ("jsonl", "csv", "dataset", "git", "warc")

VERSION_COLUMNS = (
    "id",
    "document_id",
    "service",
    "document",
    "sha256",
    "first_seen_at",
    "snapshot_sha256",
    "extractor_version",
    "previous_version_id",
    "imported",
    "technical",
    "training",
    "text",
)
CHANGE_COLUMNS = (
    "id",
    "document_id",
    "from_version_id",
    "to_version_id",
    "detected_at",
    "severity",
    "ai_training_change",
    "cosmetic",
    "technical",
    "imported",
    "training_before",
    "training_after",
    "headline",
    "findings",
    "stance_before",
    "stance_after",
    "stats",
)
FETCH_COLUMNS = (
    "id",
    "document_id",
    "url",
    "fetched_at",
    "status",
    "outcome",
    "error_class",
    "error",
    "bytes",
    "elapsed",
    "attempts",
    "etag",
    "last_modified",
    "final_url",
    "snapshot_sha256",
    "fetcher",
    "version_id",
    "change_id",
)
_JSON_COLUMNS = ("findings", "stance_before", "stance_after", "stats")
_BOOL_COLUMNS = ("imported", "technical", "ai_training_change", "cosmetic")

DATASET_DATE = "%Y-%m-%dT%H-%M-%SZ"
GIT_AUTHOR = "tosmonitor <archive@tosmonitor.invalid>"
_ONE_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class ExportFilter:
    """Which part of the archive to export. Empty tuples mean everything; dates are inclusive bounds."""

    services: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    def where(self, time_column: str, *, doc_column: str = "document_id") -> tuple[str, list[Any]]:
        """A SQL ``WHERE`` clause (possibly empty) and its parameters for a table joined as ``d``."""
        parts: list[str] = []
        params: list[Any] = []
        if self.services:
            lowered = [s.lower() for s in self.services]
            parts.append(f"lower(d.service) IN ({','.join('?' * len(lowered))})")
            params.extend(lowered)
        if self.documents:
            parts.append(f"{doc_column} IN ({','.join('?' * len(self.documents))})")
            params.extend(self.documents)
        if self.since is not None:
            parts.append(f"{time_column} >= ?")
            params.append(iso(self.since))
        if self.until is not None:
            parts.append(f"{time_column} <= ?")
            params.append(iso(self.until))
        return (" WHERE " + " AND ".join(parts) if parts else ""), params


@dataclass
class ExportResult:
    """What an export wrote: the output path, row counts per table or file kind, and notes."""

    format: str
    path: str
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "path": self.path, "counts": self.counts, "notes": self.notes}


# ---------------------------------------------------------------------------------------------------------
# Row streams shared by the exporters


def _version_rows(archive: Archive, flt: ExportFilter, *, order: str = "v.id") -> Iterator[dict[str, Any]]:
    where, params = flt.where("v.first_seen_at", doc_column="v.document_id")
    sql = (
        "SELECT v.id, v.document_id, d.service, d.name AS document, d.url, v.sha256, v.first_seen_at, "
        "v.snapshot_sha256, v.extractor_version, v.previous_version_id, v.imported, v.technical, v.training "
        f"FROM versions v JOIN documents d ON d.id = v.document_id{where} ORDER BY {order}"
    )
    return iter_rows(archive.db, sql, params)


def _change_rows(archive: Archive, flt: ExportFilter) -> Iterator[dict[str, Any]]:
    where, params = flt.where("c.detected_at", doc_column="c.document_id")
    columns = ", ".join(f"c.{name}" for name in CHANGE_COLUMNS)
    sql = f"SELECT {columns} FROM changes c JOIN documents d ON d.id = c.document_id{where} ORDER BY c.id"
    return iter_rows(archive.db, sql, params)


def _fetch_rows(archive: Archive, flt: ExportFilter) -> Iterator[dict[str, Any]]:
    where, params = flt.where("f.fetched_at", doc_column="f.document_id")
    sql = f"SELECT f.* FROM fetches f JOIN documents d ON d.id = f.document_id{where} ORDER BY f.id"
    return iter_rows(archive.db, sql, params)


def _version_record(archive: Archive, row: dict[str, Any]) -> dict[str, Any]:
    record = {name: row.get(name) for name in VERSION_COLUMNS if name != "text"}
    for name in ("imported", "technical"):
        record[name] = bool(record[name])
    record["text"] = archive.text(row["id"])
    return record


def _change_record(row: dict[str, Any], *, decode: bool) -> dict[str, Any]:
    record = {name: row.get(name) for name in CHANGE_COLUMNS}
    for name in _BOOL_COLUMNS:
        if name in record:
            record[name] = bool(record[name])
    if decode:
        for name in _JSON_COLUMNS:
            if record[name] is not None:
                record[name] = json.loads(record[name])
    return record


# ---------------------------------------------------------------------------------------------------------
# jsonl / csv


class _JsonlWriter:
    def __init__(self, handle: TextIO) -> None:
        self.handle = handle

    def write(self, record: dict[str, Any]) -> None:
        self.handle.write(json.dumps(record, ensure_ascii=False) + "\n")


class _CsvWriter:
    def __init__(self, handle: TextIO, columns: tuple[str, ...]) -> None:
        self.writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        self.writer.writeheader()

    def write(self, record: dict[str, Any]) -> None:
        row = {}
        for key, value in record.items():
            if isinstance(value, bool):
                value = int(value)
            elif isinstance(value, dict | list):
                value = json.dumps(value, ensure_ascii=False)
            row[key] = value
        self.writer.writerow(row)


def export_tables(archive: Archive, out: Path, fmt: str, flt: ExportFilter = ExportFilter()) -> ExportResult:
    """Write ``versions``, ``changes`` and ``fetches`` as ``<table>.jsonl`` or ``<table>.csv`` in ``out``.

    JSON columns (findings, stances, stats) are nested objects in JSON Lines and JSON strings in CSV; booleans
    are ``true``/``false`` in JSON Lines and ``1``/``0`` in CSV.
    """
    if fmt not in ("jsonl", "csv"):
        raise InputError(f"unknown table format {fmt!r} (use jsonl or csv)")
    out = _prepare_dir(out)
    result = ExportResult(fmt, str(out))
    tables: list[tuple[str, tuple[str, ...], Iterator[dict[str, Any]]]] = [
        ("versions", VERSION_COLUMNS, (_version_record(archive, r) for r in _version_rows(archive, flt))),
        (
            "changes",
            CHANGE_COLUMNS,
            (_change_record(r, decode=fmt == "jsonl") for r in _change_rows(archive, flt)),
        ),
        ("fetches", FETCH_COLUMNS, _fetch_rows(archive, flt)),
    ]
    for name, columns, rows in tables:
        count = 0
        with open(out / f"{name}.{fmt}", "w", encoding="utf-8", newline="") as handle:
            writer = _JsonlWriter(handle) if fmt == "jsonl" else _CsvWriter(handle, columns)
            for record in rows:
                writer.write(record)
                count += 1
        result.counts[name] = count
    return result


def _prepare_dir(out: Path) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory (pass a directory to --out)")
    out.mkdir(parents=True, exist_ok=True)
    return out


# ---------------------------------------------------------------------------------------------------------
# dataset (Open Terms Archive layout)

_UNSAFE = re.compile(r'[/\\\x00-\x1f<>:"|?*]')


def path_component(name: str) -> str:
    """A service or document name made safe as one path component (``/`` and control characters dropped)."""
    cleaned = _UNSAFE.sub("-", name).strip(" .")
    return cleaned or "unnamed"


def dataset_date(moment: datetime) -> str:
    """A dataset file's date: ``YYYY-MM-DDTHH-MM-SSZ`` in UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(DATASET_DATE)


def export_dataset(archive: Archive, out: Path, flt: ExportFilter = ExportFilter()) -> ExportResult:
    """Write every version as ``<service>/<document type>/<date first seen>.md`` plus README and metadata.

    Two versions of one document first seen in the same second get the later one moved on by a second, so no
    version is lost (the date in ``metadata.json`` keeps the exact time).
    """
    out = _prepare_dir(out)
    if any(out.iterdir()):
        raise InputError(f"{out}: directory is not empty (export a dataset into a new directory)")
    result = ExportResult("dataset", str(out))
    documents: dict[str, dict[str, Any]] = {}
    used: set[Path] = set()
    count = 0
    for row in _version_rows(archive, flt, order="v.document_id, v.id"):
        moment = parse_iso(row["first_seen_at"]) or utcnow()
        folder = out / path_component(row["service"]) / path_component(row["document"])
        path = folder / f"{dataset_date(moment)}.md"
        while path in used or path.exists():
            moment = moment.replace(microsecond=0) + _ONE_SECOND
            path = folder / f"{dataset_date(moment)}.md"
        used.add(path)
        folder.mkdir(parents=True, exist_ok=True)
        path.write_bytes(archive.text(row["id"]).encode("utf-8"))
        doc = documents.setdefault(
            row["document_id"],
            {
                "id": row["document_id"],
                "service": row["service"],
                "document": row["document"],
                "url": row["url"],
                "path": str(folder.relative_to(out)),
                "versions": [],
            },
        )
        doc["versions"].append(
            {
                "file": path.name,
                "version_id": row["id"],
                "first_seen_at": row["first_seen_at"],
                "sha256": row["sha256"],
                "training": row["training"],
                "imported": bool(row["imported"]),
                "technical": bool(row["technical"]),
            }
        )
        count += 1
    if len(used) != count:  # pragma: no cover - guarded by the loop above
        raise ArchiveError("dataset export lost a version")
    result.counts = {"documents": len(documents), "versions": count}
    metadata = {
        "exported_at": iso(utcnow()),
        "generator": "tosmonitor",
        "filters": {
            "services": list(flt.services),
            "documents": list(flt.documents),
            "since": iso(flt.since),
            "until": iso(flt.until),
        },
        "counts": result.counts,
        "documents": list(documents.values()),
    }
    (out / "metadata.json").write_text(json.dumps(metadata, indent=2, ensure_ascii=False), encoding="utf-8")
    (out / "README.md").write_text(_dataset_readme(result.counts), encoding="utf-8")
    return result


def _dataset_readme(counts: dict[str, int]) -> str:
    return (
        "# Terms and policies dataset\n\n"
        f"{counts['versions']} versions of {counts['documents']} documents exported by tosmonitor on "
        f"{iso(utcnow())}.\n\n"
        "Layout: `<service>/<document type>/<YYYY-MM-DDTHH-MM-SSZ>.md`, one file per version, named after the "
        "time (UTC) the version was first seen. Each file holds the normalised text exactly as archived; its "
        "SHA-256 is the version hash listed in `metadata.json` with the version id, the AI-training stance and "
        "whether it was imported or a technical re-extraction.\n\n"
        "Gaps between versions are not evidence that a document stayed the same: it may not have been "
        "watched.\n"
    )


# ---------------------------------------------------------------------------------------------------------
# git


def _git_message(row: dict[str, Any], first: bool, headline: str | None) -> str:
    subject = f"{row['service']} {row['document']}"
    if first:
        message = f"First record of {subject}"
    elif row["technical"]:
        message = f"Apply technical change to {subject}"
    else:
        message = f"Record new changes of {subject}"
    if headline and not row["technical"]:
        message += f"\n\n{headline}"
    return message + f"\n\nVersion: {row['id']}\nSHA-256: {row['sha256']}\n"


def _git(args: list[str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, **kwargs)
    except FileNotFoundError as exc:
        raise InputError("the git export needs the git program on PATH") from exc
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr.decode("utf-8", "replace").strip()
        raise ArchiveError(f"git {' '.join(args[:2])} failed in {cwd}: {detail}") from exc


def export_git(archive: Archive, out: Path, flt: ExportFilter = ExportFilter()) -> ExportResult:
    """Build a git repository in ``out`` with one commit per version, oldest first, on branch ``main``.

    Files are ``<service>/<document type>.md``; author and committer dates are the version's first-seen time.
    Commit messages follow Open Terms Archive's: "First record of …", "Record new changes of …" (with the
    change's AI headline when there is one) and "Apply technical change to …".
    """
    out = _prepare_dir(out)
    if any(out.iterdir()):
        raise InputError(f"{out}: directory is not empty (export to git into a new directory)")
    _git(["-c", "init.defaultBranch=main", "init", "-q"], out)
    headlines = _headlines(archive, flt)
    seen_docs: set[str] = set()
    count = 0
    try:
        process = subprocess.Popen(
            ["git", "fast-import", "--quiet", "--done"],
            cwd=out,
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except FileNotFoundError as exc:  # pragma: no cover - checked by git init above
        raise InputError("the git export needs the git program on PATH") from exc
    assert process.stdin is not None
    stream = process.stdin
    try:
        for row in _version_rows(archive, flt, order="v.first_seen_at, v.id"):
            moment = parse_iso(row["first_seen_at"]) or utcnow()
            stamp = f"{int(moment.timestamp())} +0000"
            path = f"{path_component(row['service'])}/{path_component(row['document'])}.md"
            first = row["document_id"] not in seen_docs
            seen_docs.add(row["document_id"])
            message = _git_message(row, first, headlines.get(row["id"])).encode("utf-8")
            data = archive.text(row["id"]).encode("utf-8")
            stream.write(
                b"commit refs/heads/main\n"
                + f"author {GIT_AUTHOR} {stamp}\ncommitter {GIT_AUTHOR} {stamp}\n".encode()
                + f"data {len(message)}\n".encode()
                + message
                + b"\n"
                + f'M 100644 inline "{_quote_git_path(path)}"\n'.encode()
                + f"data {len(data)}\n".encode()
                + data
                + b"\n\n"
            )
            count += 1
        stream.write(b"done\n")
        stream.close()
    except BrokenPipeError:
        pass
    stderr = process.stderr.read() if process.stderr else b""
    if process.wait() != 0:
        raise ArchiveError(f"git fast-import failed in {out}: {stderr.decode('utf-8', 'replace').strip()}")
    if count:
        _git(["reset", "-q", "--hard", "main"], out)
    return ExportResult("git", str(out), {"documents": len(seen_docs), "commits": count})


def _quote_git_path(path: str) -> str:
    return path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _headlines(archive: Archive, flt: ExportFilter) -> dict[int, str]:
    """Headlines of AI-training changes by the version they lead to (one short string per such change)."""
    where, params = flt.where("c.detected_at", doc_column="c.document_id")
    where = (
        where + " AND " if where else " WHERE "
    ) + "c.headline IS NOT NULL AND c.technical = 0 AND c.ai_training_change = 1"
    sql = f"SELECT c.to_version_id, c.headline FROM changes c JOIN documents d ON d.id = c.document_id{where}"
    return {row["to_version_id"]: row["headline"] for row in iter_rows(archive.db, sql, params)}


# ---------------------------------------------------------------------------------------------------------
# WARC


def export_warc(archive: Archive, out: Path, flt: ExportFilter = ExportFilter()) -> ExportResult:
    """Write each archived raw snapshot as a WARC ``response`` record (gzip per record).

    ``WARC-Target-URI`` is the page's original URL, ``WARC-Date`` the time the snapshot was first fetched, and
    the HTTP headers are reconstructed (status 200, ``Content-Type`` with its charset, ``Content-Length``).
    ``out`` is the ``.warc.gz`` file, or a directory to write ``tosmonitor.warc.gz`` into.
    """
    try:
        from warcio.statusandheaders import StatusAndHeaders
        from warcio.warcwriter import WARCWriter
    except ImportError as exc:
        raise InputError("the WARC export needs the warcio package: pip install warcio") from exc
    out = Path(out)
    if out.is_dir():
        out = out / "tosmonitor.warc.gz"
    out.parent.mkdir(parents=True, exist_ok=True)
    where, params = flt.where("s.first_seen_at", doc_column="s.document_id")
    sql = (
        "SELECT s.sha256, s.url, s.first_seen_at, s.content_type, s.charset, s.document_id, s.fetcher "
        f"FROM snapshots s JOIN documents d ON d.id = s.document_id{where} ORDER BY s.first_seen_at, s.rowid"
    )
    count = 0
    with open(out, "wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        warcinfo = writer.create_warcinfo_record(
            out.name, {"software": "tosmonitor", "format": "WARC File Format 1.1"}
        )
        writer.write_record(warcinfo)
        for row in iter_rows(archive.db, sql, params):
            body, content_type, charset = archive.snapshot(row["sha256"])
            media = content_type or "application/octet-stream"
            if charset and media.startswith("text/"):
                media += f"; charset={charset}"
            headers = StatusAndHeaders(
                "200 OK",
                [("Content-Type", media), ("Content-Length", str(len(body)))],
                protocol="HTTP/1.1",
            )
            moment = parse_iso(row["first_seen_at"]) or utcnow()
            record = writer.create_warc_record(
                row["url"] or f"urn:tosmonitor:{row['document_id']}",
                "response",
                payload=_BytesReader(body),
                length=len(body),
                http_headers=headers,
                warc_headers_dict={
                    "WARC-Date": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "WARC-Payload-Digest": f"sha256:{row['sha256']}",
                    "X-Tosmonitor-Document": row["document_id"],
                },
            )
            writer.write_record(record)
            count += 1
    return ExportResult("warc", str(out), {"records": count})


class _BytesReader:
    """A minimal readable stream over bytes (what warcio expects as a payload)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = len(self.data) - self.pos
        chunk = self.data[self.pos : self.pos + size]
        self.pos += len(chunk)
        return chunk


# ---------------------------------------------------------------------------------------------------------


def export(archive: Archive, fmt: str, out: str | Path, flt: ExportFilter = ExportFilter()) -> ExportResult:
    """Export the archive in ``fmt`` (one of :data:`FORMATS`) to ``out``.

    :raises InputError: for an unknown format or an unusable output path.
    :raises ArchiveError: when git fails.
    """
    path = Path(out)
    if fmt in ("jsonl", "csv"):
        return export_tables(archive, path, fmt, flt)
    if fmt == "dataset":
        return export_dataset(archive, path, flt)
    if fmt == "git":
        return export_git(archive, path, flt)
    if fmt == "warc":
        return export_warc(archive, path, flt)
    raise InputError(f"unknown export format {fmt!r} (use one of: {', '.join(FORMATS)})")
