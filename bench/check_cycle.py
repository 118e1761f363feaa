# SPDX-License-Identifier: Apache-2.0
"""Check-cycle speed: N policy-like pages (~100 KB each) served on loopback over 10 addresses.

Two modes: *static* (the server sends ETag / Last-Modified and answers 304) and *dynamic* (always 200, with a
nonce in every page, like a CMS). For each mode: a first cycle, an unchanged cycle and a cycle where 10% of
the pages changed a paragraph. Prints documents/s, the peak RSS of the checking process (with its worker
processes), and the CPU time per document of the checking process + its workers (steadier than documents/s
when other work shares the machine). The server runs in its own process; its CPU time is not counted, but it
shares the machine's cores.

    python bench/check_cycle.py [--docs 500] [--workers N] [--mode static|dynamic|both]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

# tosmonitor is imported inside the functions that use it: worker processes (spawn) re-import this file, and
# like the ``tosmonitor`` command's, they should load only what they run.

HOSTS = [f"127.0.0.{i}" for i in range(1, 11)]
WORDS = (
    "data personal information service account content use share process provide partners payment "
    "security rights request delete access legal basis consent legitimate interests cookies advertising "
    "retention countries transfer affiliates profile members public messages contact address device"
).split()
AI_PARAGRAPH = (
    "<p>We may use the content you post to develop and improve our artificial intelligence features. "
    "You can change this in your settings at any time.</p>"
)


def make_page(doc: int, revision: int) -> bytes:
    """About 100 KB of policy-like HTML with headings, paragraphs, lists and a table."""
    rng = random.Random(doc)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Policy</title>",
        "<script>window.config={a:1}</script><style>body{font:14px sans-serif}</style></head><body>",
        "<header><nav><a href='/'>Home</a> <a href='/help'>Help</a></nav></header><main>",
        f"<h1>Privacy Policy of Service {doc}</h1>",
    ]
    for section in range(24):
        parts.append(f"<h2>{section + 1}. Section about {rng.choice(WORDS)}</h2>")
        for _ in range(6):
            sentence_count = rng.randint(3, 6)
            sentences = []
            for _ in range(sentence_count):
                words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(10, 22)))
                sentences.append(words.capitalize() + ".")
            parts.append(f"<p class='para'>{' '.join(sentences)}</p>")
        parts.append(
            "<ul>"
            + "".join(f"<li>{rng.choice(WORDS)} and {rng.choice(WORDS)}</li>" for _ in range(5))
            + "</ul>"
        )
        if section % 6 == 0:
            parts.append(
                "<table><tr><th>Purpose</th><th>Data</th><th>Basis</th></tr>"
                + "".join(
                    f"<tr><td>{rng.choice(WORDS)}</td><td>{rng.choice(WORDS)}</td><td>{rng.choice(WORDS)}</td></tr>"
                    for _ in range(4)
                )
                + "</table>"
            )
    parts.append(AI_PARAGRAPH)  # one clause about AI, as in many policies today
    if revision:
        parts.append(f"<p>Revision {revision}: we changed how we use your data for purpose {revision}.</p>")
    parts.append("</main><footer>© Service <!--NONCE--></footer></body></html>")
    return "".join(parts).encode()


# -- the server process ---------------------------------------------------------------------------------------


def serve(port: int, docs: int, ready, control) -> None:
    """The page server: a bare asyncio protocol with each page's ETag and headers made once per revision, so
    that its own work, which shares the machine's cores with the checking side, stays small."""
    import threading

    pages: dict[int, bytes] = {}
    heads: dict[int, tuple[bytes, bytes]] = {}  # per page: its static 200 headers and its 304 answer
    revisions = {i: 0 for i in range(docs)}
    mode = {"dynamic": False}

    def publish(doc: int) -> None:
        body = make_page(doc, revisions[doc])
        etag = '"' + hashlib.md5(body).hexdigest() + '"'
        heads[doc] = (
            (
                f"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
                f"ETag: {etag}\r\nLast-Modified: Tue, 02 Jan 2024 10:00:00 GMT\r\n\r\n"
            ).encode(),
            f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nContent-Length: 0\r\n\r\n".encode(),
        )
        pages[doc] = body

    for doc in range(docs):
        publish(doc)

    def follow_commands() -> None:  # between cycles: the checking side waits before each one
        while True:
            command = control.get()
            if command[0] == "mode":
                mode["dynamic"] = command[1] == "dynamic"
            elif command[0] == "change":
                for doc in command[1]:
                    revisions[doc] += 1
                    publish(doc)

    threading.Thread(target=follow_commands, daemon=True).start()

    class Pages(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.pending = b""

        def data_received(self, data: bytes) -> None:
            self.pending += data
            while b"\r\n\r\n" in self.pending:
                request, _, self.pending = self.pending.partition(b"\r\n\r\n")
                self.answer(request)

        def answer(self, request: bytes) -> None:
            first_line, _, header_lines = request.partition(b"\r\n")
            try:
                doc = int(first_line.split()[1].rsplit(b"/", 1)[1])
                body = pages[doc]
            except (IndexError, ValueError, KeyError):
                self.transport.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                return
            head, not_modified = heads[doc]
            if mode["dynamic"]:
                body = body.replace(b"<!--NONCE-->", os.urandom(8).hex().encode())
                head = (
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                    f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n\r\n"
                ).encode()
            else:
                etag = not_modified.split(b"ETag: ", 1)[1].split(b"\r\n", 1)[0]
                for line in header_lines.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"if-none-match" and value.strip() == etag:
                        self.transport.write(not_modified)
                        return
            self.transport.writelines((head, body))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        servers = [await loop.create_server(Pages, host, port) for host in HOSTS]
        ready.set()
        await asyncio.gather(*(s.serve_forever() for s in servers))

    asyncio.run(main())


# -- the checking side ----------------------------------------------------------------------------------------


def peak_rss_mib(exclude: int | None = None) -> tuple[float, float]:
    """Peak resident memory (MiB) of this process, and the sum of its live worker processes' peaks
    (``exclude``: the page server's pid, which is a child too)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = 0.0
    for pid in multiprocessing.active_children():
        if pid.pid == exclude:
            continue
        try:
            status = Path(f"/proc/{pid.pid}/status").read_text()
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    children += int(line.split()[1]) / 1024
        except OSError:
            pass
    return own, children


def process_cpu(pid: int) -> float:
    """CPU time (user + system, seconds) used so far by process ``pid`` (0.0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_seconds(exclude: int | None = None) -> tuple[float, float]:
    """CPU time (user + system, seconds) used so far by this process, and by its live worker processes
    (``exclude``: the page server's pid). Per document, these show where a pass spends its work whatever else
    the machine runs at the time."""
    tick = os.sysconf("SC_CLK_TCK")
    workers = 0.0
    for child in multiprocessing.active_children():
        if child.pid == exclude:
            continue
        try:
            fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
            workers += (int(fields[11]) + int(fields[12])) / tick  # utime and stime
        except (OSError, IndexError, ValueError):
            pass
    return time.process_time(), workers


async def cycle(config, archive, executor) -> tuple[float, dict[str, int]]:  # noqa: ANN001
    from tosmonitor.fetch import Fetcher
    from tosmonitor.monitor import Monitor

    async with Fetcher(concurrency=32, per_host=1, host_spacing=0.0, retries=1) as fetcher:
        monitor = Monitor(config, archive, fetcher=fetcher, executor=executor)
        async with monitor:
            started = time.perf_counter()
            results = await monitor.check_all()
            elapsed = time.perf_counter() - started
    outcomes: dict[str, int] = {}
    for r in results:
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
    return elapsed, outcomes


def main() -> None:
    from tosmonitor.archive import Archive
    from tosmonitor.models import Config, DocumentSpec, Rules, Settings, Source
    from tosmonitor.monitor import make_executor

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=500)
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes for extraction/diff/analysis (0: inline; default: as the tosmonitor command, one)",
    )
    parser.add_argument("--mode", choices=["static", "dynamic", "both"], default="both")
    args = parser.parse_args()

    ctx = multiprocessing.get_context("spawn")
    ready, control = ctx.Event(), ctx.Queue()
    port = 18000 + random.randint(0, 2000)
    server = ctx.Process(target=serve, args=(port, args.docs, ready, control), daemon=True)
    server.start()
    if not ready.wait(60):
        sys.exit("the page server did not start")
    # The command's own pool: its workers start (and load the extractor) at once, as here before the first cycle.
    executor = make_executor(args.workers, args.docs)
    pool_size = getattr(executor, "_max_workers", 0)
    size = len(make_page(0, 0))
    print(
        f"{args.docs} documents of ~{size / 1024:.0f} KB over {len(HOSTS)} loopback addresses; "
        f"workers={pool_size}"
    )
    documents = tuple(
        DocumentSpec(
            id=f"bench/doc-{i}",
            service=f"Service {i}",
            name="Privacy Policy",
            sources=(
                Source(url=f"http://{HOSTS[i % len(HOSTS)]}:{port}/doc/{i}", rules=Rules(select=("main",))),
            ),
            timeout=30.0,
        )
        for i in range(args.docs)
    )
    # confirm_delay=0: a changed page is re-fetched at once to confirm it (the daemon waits 30 s by default)
    config = Config(
        path="bench",
        documents=documents,
        settings=Settings(host_spacing=0.0, concurrency=32, confirm_delay=0.0),
    )
    modes = ["static", "dynamic"] if args.mode == "both" else [args.mode]
    rng = random.Random(1)
    try:
        for mode in modes:
            control.put(("mode", mode))
            time.sleep(0.5)
            with tempfile.TemporaryDirectory() as tmp:
                archive = Archive(Path(tmp) / "bench.db")
                archive.sync_documents(documents)
                for label in ("first", "unchanged", "10% changed"):
                    if label == "10% changed":
                        control.put(("change", rng.sample(range(args.docs), args.docs // 10)))
                    time.sleep(0.5)  # let the queue's feeder thread deliver the command
                    cpu_before = cpu_seconds(exclude=server.pid)
                    server_before = process_cpu(server.pid)
                    elapsed, outcomes = asyncio.run(cycle(config, archive, executor))
                    cpu_after = cpu_seconds(exclude=server.pid)
                    server_ms = 1000 * (process_cpu(server.pid) - server_before) / args.docs
                    checker_ms, workers_ms = (
                        1000 * (after - before) / args.docs
                        for before, after in zip(cpu_before, cpu_after, strict=True)
                    )
                    own, workers = peak_rss_mib(exclude=server.pid)
                    print(
                        f"{mode:<8} {label:<12} {args.docs / elapsed:8.1f} docs/s  {elapsed:6.2f} s  "
                        f"peak RSS {own + workers:6.1f} MiB (checker {own:.0f} + workers {workers:.0f})  "
                        f"CPU/doc {checker_ms:.1f} + {workers_ms:.1f} ms (server {server_ms:.1f})  {outcomes}"
                    )
                archive.close()
    finally:
        if executor:
            executor.shutdown()
        server.terminate()


if __name__ == "__main__":
    main()
