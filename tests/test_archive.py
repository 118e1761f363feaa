# SPDX-License-Identifier: Apache-2.0
"""The archive on real SQLite files: storage, compression, the one-transaction write path, locking."""

from __future__ import annotations

import json
import multiprocessing
import random
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import zstandard

from tosmonitor.archive import (
    KEYFRAME_EVERY,
    Archive,
    CheckRecord,
    NewChange,
    NewVersion,
    PageFetch,
    compress,
    decompress,
    sha256_hex,
)
from tosmonitor.errors import ArchiveError, ArchiveLocked
from tosmonitor.models import DocumentSpec, FetchOutcome, FetchResult, Source

T0 = datetime(2025, 1, 1, 12, tzinfo=UTC)
SPEC = DocumentSpec(
    id="acme/privacy-policy",
    service="Acme",
    name="Privacy Policy",
    sources=(Source("http://127.0.0.1:9/privacy"),),
)


def page(body: bytes, when: datetime = T0) -> PageFetch:
    return PageFetch(
        FetchResult(
            url=SPEC.url,
            outcome=FetchOutcome.OK,
            fetched_at=when,
            body=body,
            content_type="text/html",
            status=200,
            etag='"e1"',
        )
    )


def policy_text(n: int) -> str:
    return "# Acme Privacy Policy\n\n" + "\n\n".join(
        f"Paragraph {i} about data, revision {n}." for i in range(200)
    )


@pytest.fixture
def archive(tmp_path):
    with Archive(tmp_path / "archive.db") as opened:
        opened.sync_documents([SPEC])
        yield opened


def record_version(archive: Archive, n: int, *, when: datetime = T0, change: bool = True) -> tuple:
    text = policy_text(n)
    body = f"<html><main>{text}</main><!-- nonce {n} --></html>".encode()
    recorded = archive.record_check(
        CheckRecord(
            document_id=SPEC.id,
            checked_at=when,
            outcome="changed",
            pages=[page(body, when)],
            versions=[NewVersion(text=text, extractor_version="t", snapshots=(sha256_hex(body),))],
            changes=[NewChange(severity="low", headline=f"rev {n}")] if change else [],
        )
    )
    return recorded, text


def record_failing_check(archive: Archive, text: str, pages: list[PageFetch] | None = None) -> None:
    """A check with a new version whose write fails inside its transaction (after the version is inserted)."""

    def explode(version_ids, change_ids):
        raise RuntimeError("simulated crash inside the transaction")

    archive.record_check(
        CheckRecord(
            document_id=SPEC.id,
            checked_at=T0,
            outcome="changed",
            pages=pages or [],
            versions=[NewVersion(text=text, extractor_version="t")],
            changes=[NewChange()],
            deliveries=explode,
        )
    )


def test_compression_round_trips_with_and_without_a_base():
    base = b"The quick brown fox jumps over the lazy dog. " * 200
    data = base.replace(b"lazy", b"sleepy", 1)
    plain, codec = compress(data)
    delta, delta_codec = compress(data, base)
    assert (codec, delta_codec) == ("zstd", "zstd-delta")
    assert decompress(plain, codec) == data
    assert decompress(delta, delta_codec, base) == data
    assert len(delta) < len(plain)


def test_versions_are_stored_as_deltas_and_read_back_exactly(archive):
    texts = []
    for n in range(KEYFRAME_EVERY + 4):
        _, text = record_version(archive, n, change=n > 0, when=T0 + timedelta(days=n))
        texts.append(text)
    rows = archive.versions(SPEC.id)
    assert len(rows) == len(texts)
    for row, text in zip(rows, texts, strict=True):
        fresh = Archive(archive.path)  # no cache: decode the delta chain from disk
        assert fresh.text(row["id"]) == text
        assert row["sha256"] == sha256_hex(text)
        fresh.close()
    codecs = [r[0] for r in archive.db.execute("SELECT codec FROM versions ORDER BY id")]
    assert codecs[0] == "zstd" and codecs[1] == "zstd-delta"
    assert codecs[KEYFRAME_EVERY] == "zstd", "a keyframe bounds the decoding chain"
    sizes = archive.storage_sizes()
    assert sizes["versions_stored"] * 20 < sizes["versions_raw"]


def test_a_first_text_compressed_by_a_worker_is_stored_as_given(archive):
    text = policy_text(0)
    body = b"<html><main>a page</main></html>"
    # level 19 gives other bytes than the archive's own level: the stored blob shows which one was kept
    text_z = zstandard.ZstdCompressor(level=19).compress(text.encode())
    assert text_z != compress(text.encode())[0]
    recorded = archive.record_check(
        CheckRecord(
            document_id=SPEC.id,
            checked_at=T0,
            outcome="changed",
            pages=[page(body)],
            versions=[
                NewVersion(
                    text=text,
                    extractor_version="t",
                    sha256=sha256_hex(text),
                    text_z=text_z,
                    snapshots=(sha256_hex(body),),
                )
            ],
        )
    )
    [version_id] = recorded.version_ids
    blob, codec, sha = archive.db.execute(
        "SELECT text_z, codec, sha256 FROM versions WHERE id = ?", [version_id]
    ).fetchone()
    assert (blob, codec, sha) == (text_z, "zstd", sha256_hex(text))
    fresh = Archive(archive.path)
    assert fresh.text(version_id) == text
    fresh.close()
    # a later version is a delta against this one: the worker's blob is only for a text stored whole
    recorded, later = record_version(archive, 1, when=T0 + timedelta(days=1))
    codec = archive.db.execute("SELECT codec FROM versions WHERE id = ?", recorded.version_ids).fetchone()[0]
    assert codec == "zstd-delta" and archive.text(recorded.version_ids[0]) == later


def test_record_check_links_versions_changes_fetches_and_document_state(archive):
    record_version(archive, 0, change=False)
    recorded, text = record_version(archive, 1, when=T0 + timedelta(days=1))
    change = archive.change(recorded.change_ids[0])
    assert change["from_version_id"] == recorded.version_ids[0] - 1
    assert change["to_version_id"] == recorded.version_ids[0]
    assert change["headline"] == "rev 1"
    doc = archive.document(SPEC.id)
    assert doc["latest_version_id"] == recorded.version_ids[0]
    assert doc["etag"] == '"e1"'
    assert archive.latest_version(SPEC.id).text == text
    fetch = archive.fetches(SPEC.id)[0]
    assert fetch["version_id"] == recorded.version_ids[0] and fetch["outcome"] == "changed"
    assert archive.version_at(SPEC.id, T0 + timedelta(hours=1)).text == policy_text(0)
    assert archive.integrity_problems() == []


def test_a_failing_write_leaves_nothing_behind(archive):
    record_version(archive, 0, change=False)
    before = {t: archive.db[t].count for t in ("versions", "changes", "fetches", "snapshots", "deliveries")}

    with pytest.raises(RuntimeError):
        record_failing_check(archive, "new text", [page(b"<html>new body</html>")])
    after = {t: archive.db[t].count for t in before}
    assert after == before
    assert archive.latest_version(SPEC.id).text == policy_text(0)
    assert archive.integrity_problems() == []


def test_deliveries_are_written_with_the_change_and_deduplicated(archive):
    record_version(archive, 0, change=False)

    def rows(version_ids, change_ids):
        return [
            {
                "idempotency_key": f"change:{change_ids[0]}:log",
                "event_kind": "change",
                "event_id": f"change:{change_ids[0]}",
                "change_id": change_ids[0],
                "document_id": SPEC.id,
                "channel": "log",
                "severity": "high",
                "payload": {"to_version": version_ids[0]},
            }
        ] * 2

    recorded = archive.record_check(
        CheckRecord(
            document_id=SPEC.id,
            checked_at=T0,
            outcome="changed",
            pages=[page(b"x")],
            versions=[NewVersion(text="v2", extractor_version="t")],
            changes=[NewChange()],
            deliveries=rows,
        )
    )
    assert len(recorded.delivery_ids) == 1
    row = archive.db.execute("SELECT change_id, status, payload FROM deliveries").fetchone()
    assert row[0] == recorded.change_ids[0] and row[1] == "pending"
    assert json.loads(row[2]) == {"to_version": recorded.version_ids[0]}


def test_identical_snapshots_are_stored_once(archive):
    body = b"<html><main>same</main></html>"
    for day in range(3):
        archive.record_check(
            CheckRecord(
                document_id=SPEC.id,
                checked_at=T0,
                outcome="unchanged",
                pages=[page(body, T0 + timedelta(days=day))],
            )
        )
    assert archive.db["snapshots"].count == 1
    assert archive.db["fetches"].count == 3
    assert archive.snapshot(sha256_hex(body))[0] == body


def dynamic_body(n: int) -> bytes:
    return f"<html><main>{policy_text(0)}</main><!-- nonce {n} --></html>".encode()


def record_page(archive: Archive, body: bytes, packed=None) -> None:
    fetched = page(body)
    archive.record_check(
        CheckRecord(
            document_id=SPEC.id,
            checked_at=T0,
            outcome="unchanged",
            pages=[PageFetch(fetched.result, packed=packed)],
        )
    )


def test_bodies_packed_by_a_worker_are_stored_against_the_current_keyframe(archive):
    from tosmonitor.codec import pack_snapshot

    assert archive.keyframe(SPEC.id, SPEC.url) is None
    record_page(archive, dynamic_body(0), pack_snapshot(dynamic_body(0), None, None))
    keyframe_sha, keyframe_blob = archive.keyframe(SPEC.id, SPEC.url)
    assert keyframe_sha == sha256_hex(dynamic_body(0))

    packed = pack_snapshot(dynamic_body(1), decompress(keyframe_blob, "zstd"), keyframe_sha)
    assert packed[1] == "zstd-delta" and packed[2] == keyframe_sha and len(packed[0]) < 200
    record_page(archive, dynamic_body(1), packed)
    row = archive.db.execute(
        "SELECT codec, base_sha256, stored_size FROM snapshots WHERE sha256 = ?",
        [sha256_hex(dynamic_body(1))],
    ).fetchone()
    assert row == ("zstd-delta", keyframe_sha, len(packed[0]))
    assert archive.snapshot(sha256_hex(dynamic_body(1)))[0] == dynamic_body(1)


def test_a_body_packed_against_another_keyframe_is_packed_again(archive):
    from tosmonitor.codec import pack_snapshot

    record_page(archive, dynamic_body(0))
    stale = b"<html><main>an older keyframe of this page</main></html>" * 40
    record_page(archive, dynamic_body(1), pack_snapshot(dynamic_body(1), stale, sha256_hex(stale)))
    row = archive.db.execute(
        "SELECT codec, base_sha256 FROM snapshots WHERE sha256 = ?", [sha256_hex(dynamic_body(1))]
    ).fetchone()
    assert row == ("zstd-delta", sha256_hex(dynamic_body(0)))
    assert archive.snapshot(sha256_hex(dynamic_body(1)))[0] == dynamic_body(1)
    assert archive.integrity_problems() == []


def test_a_page_that_drifted_far_from_its_keyframe_starts_a_new_one():
    from tosmonitor.codec import pack_snapshot

    keyframe = b"<p>" + b"alpha beta gamma delta " * 400 + b"</p>"
    unrelated = random.Random(7).randbytes(5000)  # nothing in common: the delta is as large as the body
    blob, codec, base = pack_snapshot(unrelated, keyframe, sha256_hex(keyframe))
    assert (codec, base) == ("zstd", None)
    assert decompress(blob, codec) == unrelated


def test_error_checks_count_failures_and_success_resets_them(archive):
    failed = FetchResult(
        url=SPEC.url, outcome=FetchOutcome.HTTP_ERROR, fetched_at=T0, status=503, error="HTTP 503"
    )
    for _ in range(2):
        archive.record_check(
            CheckRecord(
                document_id=SPEC.id,
                checked_at=T0,
                outcome="error",
                pages=[PageFetch(failed)],
                error_class="http_error",
                error="HTTP 503",
            )
        )
    doc = archive.document(SPEC.id)
    assert (doc["consecutive_failures"], doc["health"], doc["last_error_class"]) == (
        2,
        "failing",
        "http_error",
    )
    assert archive.db["versions"].count == 0
    record_version(archive, 0, change=False)
    doc = archive.document(SPEC.id)
    assert (doc["consecutive_failures"], doc["health"]) == (0, "ok")


def test_full_text_search_finds_versions(archive):
    record_version(archive, 0, change=False)
    hits = archive.search("revision")
    assert hits and hits[0]["document_id"] == SPEC.id and "[revision]" in hits[0]["snippet"]


def test_a_batch_indexes_its_versions_when_it_ends_and_drops_those_of_a_failed_check(archive):
    with archive.batch():
        record_version(archive, 0, change=False)
        with pytest.raises(RuntimeError):
            record_failing_check(archive, "a lost zanzibar clause")
        record_version(archive, 1)
        assert archive.db["versions_fts"].count == 0, "indexed when the batch ends"
    assert archive.db["versions"].count == 2
    assert archive.db["versions_fts"].count == 2
    assert archive.search("zanzibar") == []
    assert archive.integrity_problems() == []


def test_a_batch_that_fails_writes_nothing(archive):
    with pytest.raises(RuntimeError), archive.batch():
        record_version(archive, 0, change=False)
        raise RuntimeError("interrupted import")
    assert archive.db["versions"].count == 0
    assert archive.db["versions_fts"].count == 0


def wal_pages(archive: Archive) -> int:
    wal = archive.path.with_name(archive.path.name + "-wal")
    return wal.stat().st_size // 4096 if wal.exists() else 0


def write_with_background_checkpoints(path, restart_pages: int) -> tuple[int, Archive, list[str]]:
    """60 checks of ~28 KB texts that compress badly, one right after the other; the largest the log grew."""
    archive = Archive(path)
    archive.sync_documents([SPEC])
    texts, largest = [], 0
    rng = random.Random(1)
    with archive.background_checkpoints(every=0.005, restart_pages=restart_pages):
        for _ in range(60):
            text = " ".join(f"{rng.getrandbits(40):x}" for _ in range(2500))
            archive.record_check(
                CheckRecord(
                    document_id=SPEC.id,
                    checked_at=T0,
                    outcome="changed",
                    versions=[NewVersion(text=text, extractor_version="t")],
                )
            )
            texts.append(text)
            largest = max(largest, wal_pages(archive))
    return largest, archive, texts


def test_background_checkpoints_keep_the_log_short_and_lose_nothing(tmp_path):
    # Checkpoints that keep up are not enough: commits land during each one, so the log never starts over.
    unbounded, archive, _ = write_with_background_checkpoints(tmp_path / "unbounded.db", restart_pages=10**9)
    archive.close()
    largest, archive, texts = write_with_background_checkpoints(tmp_path / "archive.db", restart_pages=64)
    with archive:
        assert largest < unbounded / 2, (largest, unbounded)
        assert wal_pages(archive) == 0, "emptied at the end"
        assert [archive.text(v["id"]) for v in archive.versions(SPEC.id)] == texts


def test_a_check_waits_for_another_writer_instead_of_failing(archive):
    # A check reads the document row first: a transaction that only took the write lock at its first write
    # would be refused at once while another connection holds it.
    other = sqlite3.connect(archive.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(0.3, other.execute, args=("COMMIT",))
    releaser.start()
    started = time.monotonic()
    try:
        recorded, text = record_version(archive, 1, change=False)
    finally:
        releaser.join()
        other.close()
    assert time.monotonic() - started >= 0.25
    assert archive.text(recorded.version_ids[0]) == text


def test_resolve_document_by_id_or_name(archive):
    assert archive.resolve_document("Acme/Privacy Policy") == SPEC.id
    assert archive.resolve_document("acme/privacy-policy") == SPEC.id
    with pytest.raises(ArchiveError, match="no document"):
        archive.resolve_document("nobody/terms")


def test_readonly_open_of_a_missing_archive_is_a_clear_error(tmp_path):
    with pytest.raises(ArchiveError, match="no archive here"):
        Archive(tmp_path / "missing.db", readonly=True)


def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are not the tables you are looking for\n" * 100)
    before = path.read_bytes()
    with pytest.raises(ArchiveError) as raised:
        Archive(path)
    assert str(raised.value) == f"{path}: cannot open the archive: file is not a database"
    with pytest.raises(ArchiveError, match="cannot open the archive read-only: file is not a database"):
        Archive(path, readonly=True)
    assert path.read_bytes() == before, "the file is left as it was"


def _hold_lock(path: str, ready, release) -> None:
    archive = Archive(path)
    archive.acquire_lock()
    ready.set()
    release.wait(10)
    archive.close()


def test_the_run_lock_excludes_a_second_process(tmp_path):
    path = str(tmp_path / "archive.db")
    Archive(path).close()
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(path, ready, release))
    holder.start()
    try:
        assert ready.wait(20)
        second = Archive(path)
        with pytest.raises(ArchiveLocked, match="in use by another tosmonitor run"):
            second.acquire_lock()
        release.set()
        holder.join(10)
        second.acquire_lock(wait=True, timeout=5)  # free again once the holder exits
        second.close()
    finally:
        release.set()
        holder.join(5)


def test_schema_is_migrated_once_and_survives_reopening(tmp_path):
    path = tmp_path / "archive.db"
    Archive(path).close()
    Archive(path).close()
    conn = sqlite3.connect(path)
    names = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations")]
    assert names == sorted(set(names)) and "m001_initial" in names
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_base_used_once_leaves_no_prepared_compressor_behind():
    from tosmonitor import codec

    codec._delta_compressor.cache_clear()
    base = b"<p>" + b"alpha beta gamma delta " * 400 + b"</p>"
    body = base.replace(b"gamma", b"GAMMA", 1)
    blob, kind = codec.compress(body, base, reuse_base=False)
    assert codec._delta_compressor.cache_info().currsize == 0
    assert codec.decompress(blob, kind, base) == body
    assert codec.compress(body, base) == (blob, kind), "the same bytes as with a kept compressor"
    assert codec._delta_compressor.cache_info().currsize == 1
