# SPDX-License-Identifier: Apache-2.0
"""Web dashboard latency on a large archive: 1,000 documents, 10,000 changes, one 200 KB diff.

Builds the archive with ``Archive.record_check`` (synthetic policies, no network), serves it with uvicorn on
127.0.0.1 and times real HTTP requests: the overview, a change page whose diff covers ~200 KB of text, and the
API list endpoints. Prints median and p95 per page against the targets (overview ≤ 300 ms, change page
≤ 500 ms, API ≤ 100 ms at p95).

    python bench/web.py [--db PATH] [--rounds 30] [--documents 1000] [--changes-per-document 10]
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn

from tosmonitor.archive import Archive, CheckRecord, NewChange, NewVersion, PageFetch, sha256_hex
from tosmonitor.models import FetchOutcome, FetchResult
from tosmonitor.web import create_app

T0 = datetime(2024, 1, 1, tzinfo=UTC)
STANCES = ["none", "never", "opt-in", "opt-out", "no-choice"]
SEVERITIES = ["info", "low", "medium", "high", "critical"]
WORDS = (
    "we collect use share store process personal data information account content posts messages profile "
    "partners affiliates models train improve services features settings choose object withdraw consent "
    "region law retain delete request access security advertising measurement research"
).split()


def paragraph(rng: random.Random, words: int = 40) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def policy(rng: random.Random, paragraphs: int) -> list[str]:
    return [paragraph(rng) for _ in range(paragraphs)]


def _page(url: str, body: bytes, when: datetime) -> PageFetch:
    return PageFetch(
        FetchResult(
            url=url, outcome=FetchOutcome.OK, fetched_at=when, body=body, content_type="text/html", status=200
        )
    )


def _check(
    archive: Archive,
    doc_id: str,
    url: str,
    text: str,
    when: datetime,
    training: str,
    change: NewChange | None,
) -> None:
    body = f"<html><body><main>{text}</main></body></html>".encode()
    archive.record_check(
        CheckRecord(
            document_id=doc_id,
            checked_at=when,
            outcome="changed",
            pages=[_page(url, body, when)],
            versions=[
                NewVersion(
                    text=text, extractor_version="bench", training=training, snapshots=(sha256_hex(body),)
                )
            ],
            changes=[change] if change else [],
        )
    )


def build(path: Path, documents: int, per_document: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with Archive(path) as archive:
        for d in range(documents):
            service = f"Service {d // 3:03d}"
            doc_id = f"service-{d // 3:03d}/document-{d % 3}"
            url = f"https://s{d // 3}.example/doc{d % 3}"
            archive.ensure_document(doc_id, service, f"Document {d % 3}", url)
            paras = policy(rng, 12)
            training = "none"
            _check(archive, doc_id, url, "\n\n".join(paras), T0, training, None)
            for c in range(per_document):
                paras[rng.randrange(len(paras))] = paragraph(rng)
                before, training = training, rng.choice(STANCES) if rng.random() < 0.2 else training
                ai = before != training
                severity = rng.choice(SEVERITIES[3:] if ai else SEVERITIES[:3])
                quote = paras[rng.randrange(len(paras))]
                change = NewChange(
                    severity=severity,
                    ai_training_change=ai,
                    training_before=before,
                    training_after=training,
                    headline=f"AI training: {before} → {training}" if ai else "wording changed",
                    findings=[{"rule": "r", "severity": severity, "summary": "s", "old": None, "new": quote}]
                    if ai
                    else [],
                )
                _check(
                    archive,
                    doc_id,
                    url,
                    "\n\n".join(paras),
                    T0 + timedelta(days=c + 1, seconds=d),
                    training,
                    change,
                )
        # One document whose change has a ~200 KB diff: every other paragraph rewritten.
        doc_id, url = "bigcorp/privacy-policy", "https://bigcorp.example/privacy"
        archive.ensure_document(doc_id, "BigCorp", "Privacy Policy", url)
        old = policy(rng, 800)
        new = [paragraph(rng) if i % 2 else p for i, p in enumerate(old)]
        quote = new[401]
        _check(archive, doc_id, url, "\n\n".join(old), T0, "none", None)
        _check(
            archive,
            doc_id,
            url,
            "\n\n".join(new),
            T0 + timedelta(days=90),
            "opt-out",
            NewChange(
                severity="critical",
                ai_training_change=True,
                training_before="none",
                training_after="opt-out",
                headline="big rewrite",
                findings=[
                    {"rule": "r", "severity": "critical", "summary": "s", "old": old[401], "new": quote}
                ],
            ),
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed(client: httpx.Client, url: str, rounds: int) -> list[float]:
    client.get(url).raise_for_status()  # warm-up
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return samples


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="Reuse or create the archive here (default: a temporary file).")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--changes-per-document", type=int, default=10)
    args = parser.parse_args(argv)
    tmp = tempfile.TemporaryDirectory()
    path = Path(args.db) if args.db else Path(tmp.name) / "bench.db"
    if not path.exists():
        start = time.perf_counter()
        build(path, args.documents, args.changes_per_document)
        print(f"built {path} in {time.perf_counter() - start:.1f} s ({path.stat().st_size / 1e6:.1f} MB)")
    with Archive(path, readonly=True) as archive:
        counts = archive.db.execute(
            "SELECT (SELECT COUNT(*) FROM documents), (SELECT COUNT(*) FROM changes)"
        ).fetchone()
        big = archive.db.execute(
            "SELECT c.id, v1.size, v2.size FROM changes c JOIN versions v1 ON v1.id = c.from_version_id "
            "JOIN versions v2 ON v2.id = c.to_version_id WHERE c.document_id = 'bigcorp/privacy-policy'"
        ).fetchone()
    print(
        f"{counts[0]} documents, {counts[1]} changes; big change {big[0]}: {big[1] / 1024:.0f} KB → {big[2] / 1024:.0f} KB"
    )

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(path), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    targets = [
        ("overview", "/", 300),
        ("overview, AI filter", "/?ai=1&severity=high", 300),
        ("change page, 200 KB diff (side by side)", f"/changes/{big[0]}", 500),
        ("change page, 200 KB diff (inline)", f"/changes/{big[0]}?view=inline", 500),
        ("change page, small diff", "/changes/5000", 500),
        ("document page", "/documents/service-100/document-1", 300),
        ("API /api/documents", "/api/documents", 100),
        ("API /api/changes", "/api/changes?limit=100", 100),
        ("API /api/changes?ai=1&since=", "/api/changes?ai=1&since=2024-01-05", 100),
        ("API /api/changes (deep cursor)", "/api/changes?cursor=9000", 100),
        ("API /api/documents/{id}/versions", "/api/documents/service-100/document-1/versions", 100),
        ("API /api/search", "/api/search?q=train%20models", 100),
        ("search page", "/search?q=train%20models", 300),
        ("Atom feed all", "/feeds/all.atom", 300),
    ]
    failed = False
    print(f"{'page':<42} {'median':>8} {'p95':>8} {'target':>8}")
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for label, url, target in targets:
            samples = timed(client, url, args.rounds)
            worst = p95(samples)
            ok = worst <= target
            failed |= not ok
            print(
                f"{label:<42} {statistics.median(samples):>6.1f}ms {worst:>6.1f}ms {target:>6}ms {'ok' if ok else 'SLOW'}"
            )
        etag = client.get("/api/changes").headers["etag"]
        samples = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            assert client.get("/api/changes", headers={"If-None-Match": etag}).status_code == 304
            samples.append((time.perf_counter() - start) * 1000)
        print(f"{'conditional GET (304)':<42} {statistics.median(samples):>6.1f}ms {p95(samples):>6.1f}ms")
    server.should_exit = True
    thread.join(timeout=10)
    tmp.cleanup()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
