# SPDX-License-Identifier: Apache-2.0
"""The SQLite archive: schema, migrations, compressed storage, and the one write path.

Tables (stable names, documented in the README, readable in Datasette):

``documents``   one row per watched document: metadata, conditional-GET validators, health counters, and the
                digest of the markup the latest version's text was rendered from (with that version's id,
                so a later version, imported or re-derived, voids it).
``fetches``     every fetch attempt: time, status, outcome (changed | unchanged | not_modified | error |
                suspect), error class, bytes, elapsed, validators, final URL, snapshot hash, fetcher.
``snapshots``   raw bodies, content-addressed by sha256, zstd-compressed against the latest full copy
                ("keyframe") of the same page when that helps: dynamic pages differ by a few bytes per fetch.
``versions``    normalised text of each distinct version, zstd-compressed against the previous version of the
                same document (a full "keyframe" every ``KEYFRAME_EVERY`` versions bounds the decoding chain).
``versions_fts`` FTS5 full-text index over version texts (rowid = version id); also the readable text.
``changes``     one row per recorded change between two versions: stats, diff, AI findings, severity, stance.
``deliveries``  the alert outbox: one row per (event, channel), written in the same transaction as the change.

Everything a check learns is written by :meth:`Archive.record_check` in **one transaction** (snapshots,
fetch rows, version, change, deliveries, document state), so a process killed at any moment leaves either
all of it or none of it. WAL mode; ``synchronous=NORMAL`` (durable against a crash of the process; a power
cut may lose the last transactions but never corrupts the file). During a check cycle the log is copied into
the file by a thread (:meth:`Archive.background_checkpoints`), so that the disk syncs this ends with do not stop
the event loop.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from .clock import iso, parse_iso, utcnow
from .codec import Packed, compress, decompress, pack_snapshot
from .errors import ArchiveError, ArchiveLocked
from .models import DocumentSpec, FetchResult, sha256_hex

KEYFRAME_EVERY = 16
# Background checkpoints (see ``Archive.background_checkpoints``): how often, and the write-ahead log's size
# (in 4 KiB pages) past which the writer checkpoints once between two transactions so that the log starts over.
CHECKPOINT_EVERY = 0.1
WAL_RESTART_PAGES = 4096
MIGRATIONS = sqlite_utils.Migrations("tosmonitor")


# ---------------------------------------------------------------------------------------------------------
# Schema


@MIGRATIONS()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE documents (
            id TEXT PRIMARY KEY, service TEXT NOT NULL, name TEXT NOT NULL, url TEXT NOT NULL,
            rules_hash TEXT, active INTEGER NOT NULL DEFAULT 1,
            first_seen_at TEXT, last_checked_at TEXT, last_success_at TEXT, last_full_fetch_at TEXT,
            etag TEXT, last_modified TEXT, latest_version_id INTEGER,
            consecutive_failures INTEGER NOT NULL DEFAULT 0, health TEXT NOT NULL DEFAULT 'ok',
            last_error TEXT, last_error_class TEXT, health_state TEXT,
            suspect_sha256 TEXT, suspect_since TEXT
        )"""
    )
    db.execute(
        """CREATE TABLE snapshots (
            sha256 TEXT PRIMARY KEY, body BLOB NOT NULL, codec TEXT NOT NULL, base_sha256 TEXT,
            chain_depth INTEGER NOT NULL DEFAULT 0, content_type TEXT, charset TEXT,
            size INTEGER NOT NULL, stored_size INTEGER NOT NULL, first_seen_at TEXT NOT NULL,
            document_id TEXT, url TEXT, fetcher TEXT
        )"""
    )
    db.execute(
        """CREATE TABLE versions (
            id INTEGER PRIMARY KEY, document_id TEXT NOT NULL REFERENCES documents(id),
            sha256 TEXT NOT NULL, text_z BLOB NOT NULL, codec TEXT NOT NULL,
            base_version_id INTEGER REFERENCES versions(id), chain_depth INTEGER NOT NULL DEFAULT 0,
            size INTEGER NOT NULL, first_seen_at TEXT NOT NULL, snapshot_sha256 TEXT REFERENCES snapshots(sha256),
            snapshots TEXT, extractor_version TEXT, previous_version_id INTEGER REFERENCES versions(id),
            imported INTEGER NOT NULL DEFAULT 0, technical INTEGER NOT NULL DEFAULT 0,
            training TEXT, stance TEXT
        )"""
    )
    db.execute("CREATE INDEX versions_document ON versions(document_id, id)")
    db.execute(
        """CREATE TABLE changes (
            id INTEGER PRIMARY KEY, document_id TEXT NOT NULL REFERENCES documents(id),
            from_version_id INTEGER NOT NULL REFERENCES versions(id),
            to_version_id INTEGER NOT NULL REFERENCES versions(id),
            detected_at TEXT NOT NULL, technical INTEGER NOT NULL DEFAULT 0,
            cosmetic INTEGER NOT NULL DEFAULT 0, imported INTEGER NOT NULL DEFAULT 0,
            severity TEXT NOT NULL, ai_training_change INTEGER NOT NULL DEFAULT 0,
            training_before TEXT, training_after TEXT, headline TEXT,
            stats TEXT, diff TEXT, findings TEXT, stance_before TEXT, stance_after TEXT
        )"""
    )
    db.execute("CREATE INDEX changes_document ON changes(document_id, id)")
    db.execute("CREATE INDEX changes_detected ON changes(detected_at)")
    db.execute(
        """CREATE TABLE fetches (
            id INTEGER PRIMARY KEY, document_id TEXT NOT NULL REFERENCES documents(id), url TEXT NOT NULL,
            fetched_at TEXT NOT NULL, status INTEGER, outcome TEXT NOT NULL, error_class TEXT, error TEXT,
            bytes INTEGER, elapsed REAL, attempts INTEGER, etag TEXT, last_modified TEXT, final_url TEXT,
            snapshot_sha256 TEXT REFERENCES snapshots(sha256), fetcher TEXT,
            version_id INTEGER REFERENCES versions(id), change_id INTEGER REFERENCES changes(id)
        )"""
    )
    db.execute("CREATE INDEX fetches_document ON fetches(document_id, id)")
    db.execute(
        """CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY, idempotency_key TEXT UNIQUE NOT NULL, event_kind TEXT NOT NULL,
            event_id TEXT NOT NULL, change_id INTEGER REFERENCES changes(id), document_id TEXT,
            channel TEXT NOT NULL, severity TEXT NOT NULL, payload TEXT NOT NULL, status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, last_attempt_at TEXT,
            next_attempt_at TEXT NOT NULL, created_at TEXT NOT NULL, sent_at TEXT
        )"""
    )
    db.execute("CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at)")
    db.execute(
        "CREATE VIRTUAL TABLE versions_fts USING fts5(text, document_id UNINDEXED, "
        "tokenize='porter unicode61')"
    )
    db.execute(
        """CREATE VIEW latest_versions AS
           SELECT d.id AS document_id, d.service, d.name, d.url, v.id AS version_id, v.sha256,
                  v.first_seen_at, v.training, f.text
           FROM documents d JOIN versions v ON v.id = d.latest_version_id
           LEFT JOIN versions_fts f ON f.rowid = v.id"""
    )
    db.execute(
        """CREATE VIEW ai_changes AS
           SELECT c.id, c.document_id, d.service, d.name, c.detected_at, c.severity, c.headline,
                  c.training_before, c.training_after, c.findings
           FROM changes c JOIN documents d ON d.id = c.document_id
           WHERE c.ai_training_change = 1 ORDER BY c.detected_at DESC"""
    )


@MIGRATIONS()
def m002_snapshot_page_index(db: sqlite_utils.Database) -> None:
    """Finding a page's latest keyframe (the base of its next snapshot) without scanning every snapshot."""
    db.execute("CREATE INDEX snapshots_page ON snapshots(document_id, url, codec)")


@MIGRATIONS()
def m003_text_digest(db: sqlite_utils.Database) -> None:
    """The digest of the markup the latest version's text was rendered from, and which version it describes:
    a check whose page yields the same digest skips rendering (see ``extract.extract_pages_digest``)."""
    db.execute("ALTER TABLE documents ADD COLUMN text_digest TEXT")
    db.execute("ALTER TABLE documents ADD COLUMN text_digest_version_id INTEGER")


def _checkpoint_until(
    path: Path, stop: threading.Event, every: float, restart_pages: int, restart_wanted: threading.Event
) -> None:
    """Checkpoint the archive's write-ahead log every ``every`` seconds until ``stop`` is set, then empty it;
    ask the writer for a restart of the log when it holds ``restart_pages`` pages or more (see
    ``Archive.background_checkpoints``)."""
    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout = 100")  # emptying the log at the end waits for readers, not long
        while not stop.wait(every):
            with contextlib.suppress(sqlite3.Error):  # busy or locked: the next round tries again
                _, pages, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if pages >= restart_pages:
                    restart_wanted.set()
        with contextlib.suppress(sqlite3.Error):
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.close()


def _apply_migrations(db: sqlite_utils.Database) -> None:
    """Apply pending migrations; a second process migrating the same new file at once is harmless."""
    for attempt in range(5):
        try:
            MIGRATIONS.apply(db)
            return
        except sqlite3.OperationalError as exc:  # the other process created the tables first
            if "already exists" not in str(exc) and "locked" not in str(exc) or attempt == 4:
                raise
            time.sleep(0.1 * (attempt + 1))


# ---------------------------------------------------------------------------------------------------------
# Records passed to and from the archive


@dataclass(frozen=True)
class Version:
    id: int
    document_id: str
    sha256: str
    text: str
    first_seen_at: str
    snapshot_sha256: str | None
    extractor_version: str | None
    previous_version_id: int | None
    imported: bool = False
    technical: bool = False
    training: str | None = None


@dataclass(frozen=True)
class DocumentState:
    """What a check needs to know about a document before fetching it."""

    id: str
    etag: str | None = None
    last_modified: str | None = None
    last_full_fetch_at: datetime | None = None
    last_success_at: datetime | None = None
    latest_version_id: int | None = None
    latest_sha256: str | None = None
    latest_size: int | None = None
    latest_extractor_version: str | None = None
    latest_snapshots: tuple[str, ...] = ()
    suspect_sha256: str | None = None
    suspect_since: datetime | None = None
    consecutive_failures: int = 0
    health_state: dict[str, Any] | None = None
    text_digest: str | None = None  # of the markup the latest version's text came from (None: not known)


@dataclass
class NewVersion:
    text: str
    extractor_version: str
    snapshots: tuple[str, ...] = ()  # sha256 of each page's snapshot, in order
    first_seen_at: datetime | None = None
    imported: bool = False
    technical: bool = False
    training: str | None = None
    stance: dict[str, Any] | None = None
    sha256: str | None = None  # of ``text`` when already known
    # ``text`` already compressed alone (codec "zstd"), used when the version is stored whole
    text_z: bytes | None = None


@dataclass
class NewChange:
    severity: str = "low"
    technical: bool = False
    cosmetic: bool = False
    ai_training_change: bool = False
    training_before: str | None = None
    training_after: str | None = None
    headline: str | None = None
    stats: dict[str, Any] | None = None
    diff: dict[str, Any] | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    stance_before: dict[str, Any] | None = None
    stance_after: dict[str, Any] | None = None


@dataclass
class PageFetch:
    """One fetched page of a check: the fetch result and, when it has a body, the snapshot to keep."""

    result: FetchResult
    keep_snapshot: bool = True
    packed: Packed | None = None  # the body already compressed (by a worker, see codec.pack_snapshot)


@dataclass
class CheckRecord:
    """Everything one check of one document learnt, written together by :meth:`Archive.record_check`."""

    document_id: str
    checked_at: datetime
    outcome: str  # changed | unchanged | not_modified | error | suspect
    pages: list[PageFetch] = field(default_factory=list)
    error_class: str | None = None
    error: str | None = None
    versions: list[NewVersion] = field(
        default_factory=list
    )  # a technical re-derivation may precede the new one
    changes: list[NewChange] = field(default_factory=list)  # one per version after the first ever
    suspect_sha256: str | None = None  # set while a suspicious text waits for confirmation
    full_fetch: bool = False
    text_digest: str | None = None  # of the markup this check found the latest (or new) version's text in
    health_state: dict[str, Any] | None = None
    # Called inside the transaction with the ids of the recorded versions and changes; returns delivery rows.
    deliveries: Callable[[list[int], list[int]], list[dict[str, Any]]] | None = None
    extra_deliveries: list[dict[str, Any]] = field(default_factory=list)  # health events


@dataclass(frozen=True)
class RecordedCheck:
    fetch_ids: tuple[int, ...]
    version_ids: tuple[int, ...]
    change_ids: tuple[int, ...]
    delivery_ids: tuple[int, ...]


# ---------------------------------------------------------------------------------------------------------


class Archive:
    """The archive file. Open it, read from it, and write checks through :meth:`record_check`."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly and not self.path.exists():
            raise ArchiveError(f"{self.path}: no archive here (run 'tosmonitor check' or 'tosmonitor demo')")
        try:
            if readonly:  # SQLite itself refuses writes: readers can never damage the archive
                conn = sqlite3.connect(
                    f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
                )
                conn.execute("PRAGMA busy_timeout = 10000")
                conn.execute("PRAGMA query_only = ON")
                conn.execute("SELECT 1 FROM documents LIMIT 1").fetchall()
                self.db = sqlite_utils.Database(conn)
            else:
                self.db = sqlite_utils.Database(self.path)
                conn = self.db.conn
                conn.execute("PRAGMA busy_timeout = 10000")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA foreign_keys = ON")
                _apply_migrations(self.db)
        except Exception as exc:  # sqlite3.DatabaseError and friends
            if isinstance(exc, ArchiveError):
                raise
            mode = " read-only" if readonly else ""
            raise ArchiveError(f"{self.path}: cannot open the archive{mode}: {exc}") from exc
        self.readonly = readonly
        self._log_restart_wanted = threading.Event()  # set by background checkpoints
        self._text_cache: dict[int, bytes] = {}
        self._pending_index: list[tuple[int, str, str]] | None = None  # full-text rows held by batch()
        self._keyframes: dict[str, bytes] = {}
        self._lock_file: Any = None

    # -- lifecycle ---------------------------------------------------------------------------------------

    def close(self) -> None:
        self.release_lock()
        self.db.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def background_checkpoints(
        self, every: float = CHECKPOINT_EVERY, restart_pages: int = WAL_RESTART_PAGES
    ) -> Iterator[None]:
        """While the block runs, a thread copies the write-ahead log into the archive file, so that writes do not.

        SQLite checkpoints in the thread whose commit takes the log past 1000 pages: a first record of a 90 KB
        page writes about 60, so every 16th or so commit also copies the log and waits for the disk to sync
        (``fsync``). In a check cycle that wait stops the event loop: 1.8 ms a record on average, a third of
        the time ``record_check`` takes. Here the writing connection stops checkpointing, and a thread with its
        own connection checkpoints every ``every`` seconds without blocking anyone (``PASSIVE``).

        The log starts over only when a checkpoint has copied all of it before the next commit begins. With
        commits landing during the thread's checkpoints that may never happen, and the log would grow by every
        commit of the block (139 MiB for the bench's 500 first records). So when it holds ``restart_pages``
        pages the thread asks the writer to checkpoint once, between two transactions: little is left to
        copy, and the next commit starts the log over. At the end the log is emptied. What a crash or a power
        cut can lose is unchanged: the log is synced before it is copied, as before.
        """
        if self.readonly:
            yield
            return
        stop = threading.Event()
        worker = threading.Thread(
            target=_checkpoint_until,
            args=(self.path, stop, every, restart_pages, self._log_restart_wanted),
            name="archive-checkpoints",
            daemon=True,
        )
        self.db.execute("PRAGMA wal_autocheckpoint = 0")
        worker.start()
        try:
            yield
        finally:
            stop.set()
            worker.join()
            self.db.execute("PRAGMA wal_autocheckpoint = 1000")

    # -- lock for cron mode ------------------------------------------------------------------------------

    def acquire_lock(self, *, wait: bool = False, timeout: float | None = None) -> None:
        """Take the archive's run lock (``<db>.lock``), held until :meth:`release_lock` or exit.

        :raises ArchiveLocked: when another process holds it and ``wait`` is false (or ``timeout`` passed).
        """
        lock_path = Path(str(self.path) + ".lock")
        handle = open(lock_path, "a+")  # noqa: SIM115 - held open for the lifetime of the lock
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait or (deadline is not None and time.monotonic() > deadline):
                    handle.seek(0)
                    holder = handle.read().strip()
                    handle.close()
                    raise ArchiveLocked(
                        f"{self.path} is in use by another tosmonitor run ({holder or 'unknown pid'}); "
                        "try again later or pass --wait"
                    ) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {iso(utcnow())}\n")
        handle.flush()
        self._lock_file = handle

    def release_lock(self) -> None:
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    # -- documents ---------------------------------------------------------------------------------------

    def sync_documents(self, specs: Iterable[DocumentSpec], *, deactivate_others: bool = False) -> None:
        """Insert or update the documents' metadata (never touches their history)."""
        now = iso(utcnow())
        seen = []
        with self.db.atomic():
            for spec in specs:
                seen.append(spec.id)
                rules_hash = sha256_hex(repr(spec.sources))[:16]
                existing = self.db.execute("SELECT id FROM documents WHERE id = ?", [spec.id]).fetchone()
                if existing:
                    self.db.execute(
                        "UPDATE documents SET service = ?, name = ?, url = ?, rules_hash = ?, active = 1 "
                        "WHERE id = ?",
                        [spec.service, spec.name, spec.url, rules_hash, spec.id],
                    )
                else:
                    self.db["documents"].insert(
                        {
                            "id": spec.id,
                            "service": spec.service,
                            "name": spec.name,
                            "url": spec.url,
                            "rules_hash": rules_hash,
                            "first_seen_at": now,
                        }
                    )
            if deactivate_others and seen:
                marks = ",".join("?" * len(seen))
                self.db.execute(f"UPDATE documents SET active = 0 WHERE id NOT IN ({marks})", seen)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction around many :meth:`record_check` calls (an import's history of one document),
        with the full-text rows of its versions written once at its end.

        Full-text indexing writes its pending rows out at every savepoint, which is what each ``record_check``
        inside a transaction opens: held back to the end, a document's versions are indexed in one pass.
        """
        if self._pending_index is not None:  # already in a batch
            yield
            return
        self._pending_index = []
        try:
            with self._write_transaction():
                yield
                self._write_index(self._pending_index)
        finally:
            self._pending_index = None

    def _write_index(self, rows: list[tuple[int, str, str]]) -> None:
        self.db.conn.executemany("INSERT INTO versions_fts(rowid, text, document_id) VALUES (?, ?, ?)", rows)

    def ensure_document(self, doc_id: str, service: str, name: str, url: str = "") -> None:
        """Create a document row if missing (imports and tests)."""
        if not self.db.execute("SELECT 1 FROM documents WHERE id = ?", [doc_id]).fetchone():
            with self.db.atomic():
                self.db["documents"].insert(
                    {
                        "id": doc_id,
                        "service": service,
                        "name": name,
                        "url": url,
                        "first_seen_at": iso(utcnow()),
                    }
                )

    def document(self, doc_id: str) -> dict[str, Any] | None:
        # A plain cursor: read at every check, twice (sqlite-utils' query() adds a savepoint per call).
        cursor = self.db.execute("SELECT * FROM documents WHERE id = ?", [doc_id])
        row = cursor.fetchone()
        return dict(zip((c[0] for c in cursor.description), row, strict=True)) if row else None

    def documents(self, *, active_only: bool = False) -> list[dict[str, Any]]:
        where = "WHERE active = 1" if active_only else ""
        return list(self.db.query(f"SELECT * FROM documents {where} ORDER BY service, name"))

    def resolve_document(self, ref: str) -> str:
        """Find a document id from an id, or "Service/Document name", case-insensitively.

        :raises ArchiveError: when nothing (or more than one document) matches.
        """
        if self.document(ref):
            return ref
        wanted = ref.strip().lower()
        candidates = [
            d["id"]
            for d in self.documents()
            if wanted in (d["id"].lower(), f"{d['service']}/{d['name']}".lower())
        ]
        if not candidates:
            candidates = [d["id"] for d in self.documents() if d["id"].lower().startswith(wanted)]
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise ArchiveError(f"no document {ref!r} in {self.path} (see 'tosmonitor history --list')")
        raise ArchiveError(f"{ref!r} matches several documents: {', '.join(sorted(candidates))}")

    def state(self, doc_id: str) -> DocumentState:
        row = self.document(doc_id)
        if row is None:
            return DocumentState(id=doc_id)
        latest = None
        if row["latest_version_id"]:
            latest = self.db.execute(
                "SELECT id, sha256, size, extractor_version, snapshots FROM versions WHERE id = ?",
                [row["latest_version_id"]],
            ).fetchone()
        return DocumentState(
            id=doc_id,
            etag=row["etag"],
            last_modified=row["last_modified"],
            last_full_fetch_at=parse_iso(row["last_full_fetch_at"]),
            last_success_at=parse_iso(row["last_success_at"]),
            latest_version_id=latest[0] if latest else None,
            latest_sha256=latest[1] if latest else None,
            latest_size=latest[2] if latest else None,
            latest_extractor_version=latest[3] if latest else None,
            latest_snapshots=tuple(json.loads(latest[4] or "[]")) if latest else (),
            suspect_sha256=row["suspect_sha256"],
            suspect_since=parse_iso(row["suspect_since"]),
            consecutive_failures=row["consecutive_failures"],
            health_state=json.loads(row["health_state"]) if row["health_state"] else None,
            text_digest=row["text_digest"] if latest and row["text_digest_version_id"] == latest[0] else None,
        )

    # -- snapshots ---------------------------------------------------------------------------------------

    def has_snapshot(self, sha: str) -> bool:
        return self.db.execute("SELECT 1 FROM snapshots WHERE sha256 = ?", [sha]).fetchone() is not None

    def snapshot(self, sha: str) -> tuple[bytes, str | None, str | None]:
        """The raw body of a snapshot with its content type and charset."""
        row = self.db.execute(
            "SELECT body, codec, base_sha256, content_type, charset FROM snapshots WHERE sha256 = ?", [sha]
        ).fetchone()
        if row is None:
            raise ArchiveError(f"no snapshot {sha} in {self.path}")
        body, codec, base_sha, content_type, charset = row
        base = self._keyframe(base_sha) if codec == "zstd-delta" else None
        return decompress(body, codec, base), content_type, charset

    def _keyframe(self, sha: str) -> bytes:
        cached = self._keyframes.get(sha)
        if cached is None:
            cached = self.snapshot(sha)[0]
            if len(self._keyframes) > 32:
                self._keyframes.clear()
            self._keyframes[sha] = cached
        return cached

    _KEYFRAME_OF_PAGE = (
        "FROM snapshots WHERE document_id = ? AND url = ? AND codec = 'zstd' ORDER BY rowid DESC LIMIT 1"
    )

    def keyframe(self, document_id: str, url: str) -> tuple[str, bytes] | None:
        """The latest full copy ("keyframe") stored for a page of a document: its sha256 and its zstd blob.
        A new body of the page is stored as a delta against it (see :func:`codec.pack_snapshot`)."""
        row = self.db.execute(f"SELECT sha256, body {self._KEYFRAME_OF_PAGE}", [document_id, url]).fetchone()
        return (row[0], row[1]) if row else None

    def _put_snapshot(self, result: FetchResult, document_id: str, packed: Packed | None = None) -> str:
        body = result.body or b""
        sha = result.body_sha256
        if self.has_snapshot(sha):
            return sha
        # Star topology: a snapshot is a delta against the latest *keyframe* of its page, so reading any
        # snapshot takes at most two decompressions (dynamic pages differ by a few bytes from fetch to fetch).
        base_row = self.db.execute(
            f"SELECT sha256 {self._KEYFRAME_OF_PAGE}", [document_id, result.url]
        ).fetchone()
        base_sha = base_row[0] if base_row else None
        if packed is None or packed[2] not in (None, base_sha):  # not packed, or against another keyframe
            packed = pack_snapshot(body, self._keyframe(base_sha) if base_sha else None, base_sha)
        blob, codec, base_sha = packed
        self._insert(
            "snapshots",
            {
                "sha256": sha,
                "body": blob,
                "codec": codec,
                "base_sha256": base_sha,
                "chain_depth": 1 if base_sha else 0,
                "content_type": result.content_type,
                "charset": result.charset,
                "size": len(body),
                "stored_size": len(blob),
                "first_seen_at": iso(result.fetched_at),
                "document_id": document_id,
                "url": result.url,
                "fetcher": result.fetcher,
            },
        )
        return sha

    # -- versions ----------------------------------------------------------------------------------------

    def _cache_text(self, version_id: int, data: bytes) -> None:
        """Keep recently used version texts (the base of the next delta), at most 32 of them."""
        while len(self._text_cache) >= 32:
            self._text_cache.pop(next(iter(self._text_cache)))
        self._text_cache[version_id] = data

    def clear_caches(self) -> None:
        """Forget cached texts and snapshots (long imports call this between documents)."""
        self._text_cache.clear()
        self._keyframes.clear()

    def _version_bytes(self, version_id: int) -> bytes:
        cached = self._text_cache.get(version_id)
        if cached is not None:
            return cached
        row = self.db.execute(
            "SELECT text_z, codec, base_version_id FROM versions WHERE id = ?", [version_id]
        ).fetchone()
        if row is None:
            raise ArchiveError(f"no version {version_id} in {self.path}")
        blob, codec, base_id = row
        base = self._version_bytes(base_id) if codec == "zstd-delta" else None
        data = decompress(blob, codec, base)
        self._cache_text(version_id, data)
        return data

    def text(self, version_id: int) -> str:
        return self._version_bytes(version_id).decode("utf-8")

    def _version_from_row(self, row: dict[str, Any]) -> Version:
        return Version(
            id=row["id"],
            document_id=row["document_id"],
            sha256=row["sha256"],
            text=self.text(row["id"]),
            first_seen_at=row["first_seen_at"],
            snapshot_sha256=row["snapshot_sha256"],
            extractor_version=row["extractor_version"],
            previous_version_id=row["previous_version_id"],
            imported=bool(row["imported"]),
            technical=bool(row["technical"]),
            training=row["training"],
        )

    _VERSION_COLUMNS = (
        "id, document_id, sha256, first_seen_at, snapshot_sha256, extractor_version, previous_version_id, "
        "imported, technical, training, size"
    )

    def version(self, version_id: int) -> Version:
        rows = list(self.db.query(f"SELECT {self._VERSION_COLUMNS} FROM versions WHERE id = ?", [version_id]))
        if not rows:
            raise ArchiveError(f"no version {version_id} in {self.path}")
        return self._version_from_row(rows[0])

    def latest_version(self, doc_id: str) -> Version | None:
        row = self.document(doc_id)
        if not row or not row["latest_version_id"]:
            return None
        return self.version(row["latest_version_id"])

    def versions(self, doc_id: str) -> list[dict[str, Any]]:
        """Every version of a document, oldest first, without texts."""
        return list(
            self.db.query(
                f"SELECT {self._VERSION_COLUMNS} FROM versions WHERE document_id = ? ORDER BY id", [doc_id]
            )
        )

    def version_at(self, doc_id: str, moment: datetime) -> Version | None:
        """The version in force at ``moment`` (the last one first seen at or before it)."""
        rows = list(
            self.db.query(
                f"SELECT {self._VERSION_COLUMNS} FROM versions WHERE document_id = ? AND first_seen_at <= ? "
                "ORDER BY first_seen_at DESC, id DESC LIMIT 1",
                [doc_id, iso(moment)],
            )
        )
        return self._version_from_row(rows[0]) if rows else None

    def _insert_version(self, doc_id: str, new: NewVersion, previous_id: int | None, now: datetime) -> int:
        data = new.text.encode("utf-8")
        base, base_id, depth = None, None, 0
        if previous_id is not None:
            prev_depth = self.db.execute(
                "SELECT chain_depth FROM versions WHERE id = ?", [previous_id]
            ).fetchone()[0]
            if prev_depth + 1 < KEYFRAME_EVERY:
                base, base_id, depth = self._version_bytes(previous_id), previous_id, prev_depth + 1
        if base is None and new.text_z is not None:
            blob, codec = new.text_z, "zstd"
        else:
            blob, codec = compress(data, base)
        row = {
            "document_id": doc_id,
            "sha256": new.sha256 or sha256_hex(data),
            "text_z": blob,
            "codec": codec,
            "base_version_id": base_id if codec == "zstd-delta" else None,
            "chain_depth": depth if codec == "zstd-delta" else 0,
            "size": len(data),
            "first_seen_at": iso(new.first_seen_at or now),
            "snapshot_sha256": new.snapshots[0] if new.snapshots else None,
            "snapshots": json.dumps(list(new.snapshots)),
            "extractor_version": new.extractor_version,
            "previous_version_id": previous_id,
            "imported": int(new.imported),
            "technical": int(new.technical),
            "training": new.training,
            "stance": json.dumps(new.stance) if new.stance is not None else None,
        }
        version_id = self._insert("versions", row)
        if self._pending_index is not None:
            self._pending_index.append((version_id, new.text, doc_id))
        else:
            self._write_index([(version_id, new.text, doc_id)])
        self._cache_text(version_id, data)
        return int(version_id)

    # -- changes -----------------------------------------------------------------------------------------

    _JSON_CHANGE_FIELDS = ("stats", "diff", "findings", "stance_before", "stance_after")

    def _decode_change(self, row: dict[str, Any]) -> dict[str, Any]:
        for key in self._JSON_CHANGE_FIELDS:
            if key in row and row[key] is not None:
                row[key] = json.loads(row[key])
        for key in ("technical", "cosmetic", "imported", "ai_training_change"):
            if key in row:
                row[key] = bool(row[key])
        return row

    def change(self, change_id: int) -> dict[str, Any]:
        rows = list(self.db.query("SELECT * FROM changes WHERE id = ?", [change_id]))
        if not rows:
            raise ArchiveError(f"no change {change_id} in {self.path}")
        return self._decode_change(rows[0])

    def changes(
        self,
        doc_id: str | None = None,
        *,
        since: datetime | None = None,
        ai_only: bool = False,
        include_diff: bool = False,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        columns = (
            "*"
            if include_diff
            else (
                "id, document_id, from_version_id, to_version_id, detected_at, technical, cosmetic, imported, "
                "severity, ai_training_change, training_before, training_after, headline, stats, findings, "
                "stance_before, stance_after"
            )
        )
        where, params = [], []
        if doc_id:
            where.append("document_id = ?")
            params.append(doc_id)
        if since:
            where.append("detected_at >= ?")
            params.append(iso(since))
        if ai_only:
            where.append("ai_training_change = 1")
        sql = f"SELECT {columns} FROM changes"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [self._decode_change(row) for row in self.db.query(sql, params)]

    def fetches(self, doc_id: str, *, limit: int = 50) -> list[dict[str, Any]]:
        return list(
            self.db.query(
                "SELECT * FROM fetches WHERE document_id = ? ORDER BY id DESC LIMIT ?", [doc_id, limit]
            )
        )

    # -- the write path ----------------------------------------------------------------------------------

    def record_check(self, record: CheckRecord) -> RecordedCheck:
        """Write everything one check learnt in a single transaction."""
        held = len(self._pending_index) if self._pending_index is not None else 0
        try:
            return self._record_check(record)
        except BaseException:
            if self._pending_index is not None:  # its savepoint was rolled back: so are its full-text rows
                del self._pending_index[held:]
            raise

    def _record_check(self, record: CheckRecord) -> RecordedCheck:
        now = record.checked_at
        doc_id = record.document_id
        fetch_ids: list[int] = []
        version_ids: list[int] = []
        change_ids: list[int] = []
        delivery_ids: list[int] = []
        with self._write_transaction():
            doc = self.document(doc_id)
            if doc is None:
                raise ArchiveError(f"unknown document {doc_id!r}: sync the configuration first")
            snapshot_for_url: dict[str, str] = {}
            for page in record.pages:
                if page.keep_snapshot and page.result.body is not None:
                    snapshot_for_url[page.result.url] = self._put_snapshot(page.result, doc_id, page.packed)
            previous_id = doc["latest_version_id"]
            for new in record.versions:
                previous_id = self._insert_version(doc_id, new, previous_id, now)
                version_ids.append(previous_id)
            chain = [doc["latest_version_id"], *version_ids]
            for index, change in enumerate(record.changes):
                from_id, to_id = chain[-len(record.changes) - 1 + index], chain[-len(record.changes) + index]
                if from_id is None or to_id is None:
                    raise ArchiveError("a change needs a version before and after it")
                change_id = self._insert(
                    "changes",
                    {
                        "document_id": doc_id,
                        "from_version_id": from_id,
                        "to_version_id": to_id,
                        "detected_at": iso(now),
                        "technical": int(change.technical),
                        "cosmetic": int(change.cosmetic),
                        "imported": int(record.versions[-1].imported) if record.versions else 0,
                        "severity": change.severity,
                        "ai_training_change": int(change.ai_training_change),
                        "training_before": change.training_before,
                        "training_after": change.training_after,
                        "headline": change.headline,
                        "stats": json.dumps(change.stats) if change.stats is not None else None,
                        "diff": json.dumps(change.diff) if change.diff is not None else None,
                        "findings": json.dumps(change.findings),
                        "stance_before": json.dumps(change.stance_before) if change.stance_before else None,
                        "stance_after": json.dumps(change.stance_after) if change.stance_after else None,
                    },
                )
                change_ids.append(change_id)
            for page in record.pages:
                result = page.result
                fetch_ids.append(
                    self._insert(
                        "fetches",
                        {
                            "document_id": doc_id,
                            "url": result.url,
                            "fetched_at": iso(result.fetched_at),
                            "status": result.status,
                            "outcome": record.outcome,
                            "error_class": record.error_class
                            if record.outcome == "error"
                            else (result.outcome.value if result.outcome.is_error else None),
                            "error": result.error or (record.error if record.outcome == "error" else None),
                            "bytes": len(result.body) if result.body is not None else None,
                            "elapsed": round(result.elapsed, 4),
                            "attempts": result.attempts,
                            "etag": result.etag,
                            "last_modified": result.last_modified,
                            "final_url": result.final_url,
                            "snapshot_sha256": snapshot_for_url.get(result.url),
                            "fetcher": result.fetcher,
                            "version_id": version_ids[-1] if version_ids else None,
                            "change_id": change_ids[-1] if change_ids else None,
                        },
                    )
                )
            rows = list(record.extra_deliveries)
            if record.deliveries is not None:
                rows.extend(record.deliveries(version_ids, change_ids))
            for row in rows:
                cursor = self.db.execute(
                    "INSERT OR IGNORE INTO deliveries (idempotency_key, event_kind, event_id, change_id, "
                    "document_id, channel, severity, payload, status, attempts, next_attempt_at, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                    [
                        row["idempotency_key"],
                        row["event_kind"],
                        row["event_id"],
                        row.get("change_id"),
                        row.get("document_id"),
                        row["channel"],
                        row["severity"],
                        row["payload"] if isinstance(row["payload"], str) else json.dumps(row["payload"]),
                        row.get("status", "pending"),
                        row.get("next_attempt_at") or iso(now),
                        row.get("created_at") or iso(now),
                    ],
                )
                if cursor.rowcount:
                    delivery_ids.append(int(cursor.lastrowid or 0))
            self._update_document_state(doc, record, version_ids)
        return RecordedCheck(tuple(fetch_ids), tuple(version_ids), tuple(change_ids), tuple(delivery_ids))

    @contextlib.contextmanager
    def _write_transaction(self) -> Iterator[None]:
        """A transaction that takes the archive's write lock as it begins (``BEGIN IMMEDIATE``), so that another
        writer holding it (another process, a checkpoint emptying the log) is waited for, up to the busy
        timeout. A transaction that reads first and writes later cannot wait: SQLite refuses it at once. Inside
        an open transaction (a ``batch``), a savepoint. Before it, the checkpoint that background checkpoints
        asked for, if any (it is only an optimisation: a failure there does not stop the write)."""
        if self.db.conn.in_transaction:
            with self.db.atomic():
                yield
            return
        if self._log_restart_wanted.is_set():  # see background_checkpoints
            self._log_restart_wanted.clear()
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.conn.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        """Insert one row into one of our own tables (their columns are known: no schema lookups)."""
        columns = ", ".join(row)
        marks = ", ".join("?" * len(row))
        cursor = self.db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(row.values()))
        return int(cursor.lastrowid or 0)

    def _update_document_state(
        self, doc: dict[str, Any], record: CheckRecord, version_ids: list[int]
    ) -> None:
        updates: dict[str, Any] = {"last_checked_at": iso(record.checked_at)}
        if record.outcome == "error":
            updates["consecutive_failures"] = (doc["consecutive_failures"] or 0) + 1
            updates["last_error"] = record.error
            updates["last_error_class"] = record.error_class
            updates["health"] = "failing"
        else:
            updates["consecutive_failures"] = 0
            updates["last_success_at"] = iso(record.checked_at)
            updates["health"] = "ok"
            ok_pages = [p.result for p in record.pages if p.result.outcome.value == "ok"]
            if ok_pages:  # a 304 keeps the validators we already have
                updates["etag"] = ok_pages[0].etag
                updates["last_modified"] = ok_pages[0].last_modified
            if record.full_fetch:
                updates["last_full_fetch_at"] = iso(record.checked_at)
            updates["suspect_sha256"] = record.suspect_sha256
            if record.suspect_sha256 != doc["suspect_sha256"]:
                updates["suspect_since"] = iso(record.checked_at) if record.suspect_sha256 else None
        if record.health_state is not None:
            updates["health_state"] = json.dumps(record.health_state)
        if version_ids:
            updates["latest_version_id"] = version_ids[-1]
        if record.text_digest is not None:
            updates["text_digest"] = record.text_digest
            updates["text_digest_version_id"] = version_ids[-1] if version_ids else doc["latest_version_id"]
        assignments = ", ".join(f"{key} = ?" for key in updates)
        self.db.execute(f"UPDATE documents SET {assignments} WHERE id = ?", [*updates.values(), doc["id"]])

    def update_health_state(
        self, doc_id: str, state: dict[str, Any], deliveries: list[dict[str, Any]]
    ) -> None:
        """Store a document's health state with the health alerts it raised (stale watchdog), atomically."""
        with self.db.atomic():
            self.db.execute("UPDATE documents SET health_state = ? WHERE id = ?", [json.dumps(state), doc_id])
            for row in deliveries:
                self.db.execute(
                    "INSERT OR IGNORE INTO deliveries (idempotency_key, event_kind, event_id, change_id, "
                    "document_id, channel, severity, payload, status, attempts, next_attempt_at, created_at) "
                    "VALUES (?, ?, ?, NULL, ?, ?, ?, ?, 'pending', 0, ?, ?)",
                    [
                        row["idempotency_key"],
                        row["event_kind"],
                        row["event_id"],
                        row.get("document_id"),
                        row["channel"],
                        row["severity"],
                        row["payload"] if isinstance(row["payload"], str) else json.dumps(row["payload"]),
                        row.get("next_attempt_at") or iso(utcnow()),
                        row.get("created_at") or iso(utcnow()),
                    ],
                )

    # -- consistency -------------------------------------------------------------------------------------

    def integrity_problems(self) -> list[str]:
        """Everything wrong with the archive's consistency (empty when all is well)."""
        problems = []
        result = self.db.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            problems.append(f"integrity_check: {result}")
        checks = {
            "version without its snapshot": "SELECT v.id FROM versions v WHERE v.snapshot_sha256 IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.sha256 = v.snapshot_sha256)",
            "change without its versions": "SELECT c.id FROM changes c WHERE NOT EXISTS (SELECT 1 FROM versions "
            "v WHERE v.id = c.from_version_id) OR NOT EXISTS (SELECT 1 FROM versions v WHERE v.id = "
            "c.to_version_id)",
            "fetch pointing to a missing snapshot": "SELECT f.id FROM fetches f WHERE f.snapshot_sha256 IS NOT "
            "NULL AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.sha256 = f.snapshot_sha256)",
            "document whose latest version is missing": "SELECT d.id FROM documents d WHERE "
            "d.latest_version_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM versions v WHERE v.id = "
            "d.latest_version_id)",
            "version missing from the full-text index": "SELECT v.id FROM versions v WHERE NOT EXISTS "
            "(SELECT 1 FROM versions_fts f WHERE f.rowid = v.id)",
            "delivery for a missing change": "SELECT d.id FROM deliveries d WHERE d.change_id IS NOT NULL AND "
            "NOT EXISTS (SELECT 1 FROM changes c WHERE c.id = d.change_id)",
        }
        for label, sql in checks.items():
            ids = [row[0] for row in self.db.execute(sql).fetchall()]
            if ids:
                problems.append(f"{label}: {ids[:10]}")
        for row in self.db.execute("SELECT id, sha256 FROM versions ORDER BY id DESC LIMIT 200").fetchall():
            if sha256_hex(self._version_bytes(row[0])) != row[1]:
                problems.append(f"version {row[0]}: text does not match its sha256")
        return problems

    def search(self, query: str, *, limit: int = 20) -> list[dict[str, Any]]:
        """Full-text search over versions, with highlighted snippets."""
        sql = (
            "SELECT f.rowid AS version_id, f.document_id, v.first_seen_at, "
            "snippet(versions_fts, 0, '[', ']', ' … ', 12) AS snippet "
            "FROM versions_fts f JOIN versions v ON v.id = f.rowid WHERE versions_fts MATCH ? "
            "ORDER BY rank LIMIT ?"
        )
        return list(self.db.query(sql, [query, limit]))

    def storage_sizes(self) -> dict[str, int]:
        row = self.db.execute(
            "SELECT COALESCE(SUM(LENGTH(text_z)), 0), COALESCE(SUM(size), 0) FROM versions"
        ).fetchone()
        snap = self.db.execute(
            "SELECT COALESCE(SUM(stored_size), 0), COALESCE(SUM(size), 0) FROM snapshots"
        ).fetchone()
        return {
            "versions_stored": row[0],
            "versions_raw": row[1],
            "snapshots_stored": snap[0],
            "snapshots_raw": snap[1],
        }


def iter_rows(db: sqlite_utils.Database, sql: str, params: Iterable[Any] = ()) -> Iterator[dict[str, Any]]:
    """Stream rows of a query as dicts (memory does not grow with the archive)."""
    cursor = db.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    for values in cursor:
        yield dict(zip(names, values, strict=True))
