# SPDX-License-Identifier: Apache-2.0
"""Benchmark of the alert outbox: N queued deliveries sent to a local webhook receiver.

Queues ``--count`` change events for one webhook channel in a fresh archive, drains the outbox with
``deliver_pending`` and prints deliveries per second. The receiver runs in its own process and counts
requests by idempotency key, so the run confirms zero lost and zero duplicated deliveries. With
``--fail-every K`` every K-th request is answered 500 once, and the outbox is drained again after its
backoff (the clock is advanced) until nothing is pending.

    python bench/alerts_outbox.py [--count 2000] [--fail-every 0]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from tosmonitor.archive import Archive
from tosmonitor.models import ChannelSpec
from tosmonitor.notify.channels import build_channel
from tosmonitor.notify.outbox import deliver_pending
from tosmonitor.notify.routing import plan_deliveries

SECRET = "bench-secret"


def receiver(port_queue: multiprocessing.Queue, fail_every: int) -> None:  # type: ignore[type-arg]
    """Serve POST /hook (counting idempotency keys) and GET /stats until killed."""
    keys: Counter[str] = Counter()
    failed: set[str] = set()
    requests = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self._headers_buffer.append(b"\r\n" + body)  # one write: headers and body together
            self.flush_headers()

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            key = self.headers.get("Idempotency-Key") or ""
            requests[0] += 1
            if fail_every and requests[0] % fail_every == 0 and key not in failed:
                failed.add(key)
                self._reply(500, b"try later")
                return
            keys[key] += 1
            self._reply(200, b"ok")

        def do_GET(self) -> None:
            stats = {"requests": requests[0], "keys": dict(keys), "failed_once": len(failed)}
            self._reply(200, json.dumps(stats).encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_queue.put(server.server_address[1])
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--fail-every", type=int, default=0, help="answer every K-th request 500 once")
    args = parser.parse_args()

    ports: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    server = multiprocessing.Process(target=receiver, args=(ports, args.fail_every), daemon=True)
    server.start()
    port = ports.get(timeout=10)
    url = f"http://127.0.0.1:{port}"

    spec = ChannelSpec(
        name="hook", type="webhook", options={"url": f"{url}/hook", "secret_env": "SECRET", "timeout": 10.0}
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        archive = Archive(path)
        now = datetime.now(UTC)
        start = time.perf_counter()
        with archive.db.atomic():
            for n in range(args.count):
                event = {
                    "kind": "change",
                    "event_id": f"change:{n}",
                    "change_id": None,
                    "document_id": f"service{n % 50}/privacy-policy",
                    "service": f"Service{n % 50}",
                    "document": "Privacy Policy",
                    "url": f"https://service{n % 50}.example/privacy",
                    "detected_at": now.isoformat(),
                    "severity": "critical",
                    "ai_training_change": True,
                    "cosmetic": False,
                    "technical": False,
                    "headline": "AI training now on by default (opt-out)",
                    "stance_before": {"training": "none"},
                    "stance_after": {"training": "opt-out", "excluded_regions": ["EU"]},
                    "findings": [
                        {
                            "rule": "training_added_opt_out",
                            "severity": "critical",
                            "summary": "training on user content added, on by default",
                            "old": None,
                            "new": "We may use the content you share to train our models unless you object.",
                        }
                    ],
                    "stats": {"sentences_added": 2, "sentences_modified": 1},
                    "diff_excerpt": "{+We may use the content you share to train our models+}",
                    "links": {"cli": f"tosmonitor diff service{n % 50}/privacy-policy 1 2", "web": None},
                }
                for row in plan_deliveries(event, [spec], now):
                    archive.db["deliveries"].insert(row)
        queued = time.perf_counter() - start

        channel = build_channel(spec, {"SECRET": SECRET})
        clock = [now]
        start = time.perf_counter()
        report = deliver_pending(archive.db, {"hook": channel}, now=lambda: clock[0])
        first_pass = time.perf_counter() - start
        passes, sent, retried = 1, report.sent, report.retrying
        while archive.db.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'pending'").fetchone()[0]:
            clock[0] += timedelta(hours=7)
            report = deliver_pending(archive.db, {"hook": channel}, now=lambda: clock[0])
            passes += 1
            sent += report.sent
        total = time.perf_counter() - start
        archive.close()

        reopened = Archive(path)  # what a restarted process would see
        by_status = dict(
            reopened.db.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status").fetchall()
        )
        reopened.close()

    stats = httpx.get(f"{url}/stats", timeout=10).json()
    server.kill()
    keys = stats["keys"]
    expected = {f"change:{n}:hook" for n in range(args.count)}
    lost = len(expected - set(keys))
    duplicated = sum(1 for count in keys.values() if count > 1)
    print(f"queued {args.count} deliveries in {queued:.2f} s")
    print(
        f"first pass: {report_rate(sent if passes == 1 else args.count - retried, first_pass)} "
        f"({first_pass:.2f} s, {retried} to retry)"
    )
    print(f"all passes: {passes}, {total:.2f} s, {args.count / total:.0f} deliveries/s overall")
    print(
        f"receiver: {stats['requests']} requests, {len(keys)} distinct keys, {stats['failed_once']} answered 500"
    )
    print(f"archive after reopen: {by_status}")
    print(f"lost: {lost}  duplicated: {duplicated}")
    if lost or duplicated or by_status.get("sent") != args.count:
        sys.exit(1)


def report_rate(count: int, seconds: float) -> str:
    return f"{count / seconds:.0f} deliveries/s" if seconds else "n/a"


if __name__ == "__main__":
    main()
