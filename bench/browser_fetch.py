# SPDX-License-Identifier: Apache-2.0
"""Benchmark the headless-browser fetcher: pages per second and memory of the browser process tree.

Serves N script-rendered pages on 127.0.0.1 (an empty shell whose policy text a script inserts after a short
delay, plus an image that the fetcher must not load), fetches them all through one ``BrowserFetcher`` and
prints throughput and the resident memory (RSS sum) of the Chromium processes, sampled while it runs: the
peak, and the mean over each third and each fifth of the run, which show whether it stays flat.

    python bench/browser_fetch.py [--pages 50] [--concurrency 2] [--quiet-period 0.15] [--json]

Needs Playwright and the system Chromium (see docs/browser.md). psutil is used when installed, else /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tosmonitor.browser import BrowserFetcher, browser_available
from tosmonitor.models import FetchOutcome

WORDS = (
    "we may use the information you share with us to operate improve and develop our services including "
    "features that rely on machine learning you can review and change your choices in your account settings"
).split()

SHELL = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Help article {n}</title></head>
<body><header>Help centre</header><main id="content"></main><img src="/logo-{n}.png" alt="">
<script>
setTimeout(function () {{
  var words = {words};
  var html = "<h1>Help article {n}</h1>";
  for (var i = 0; i < {paragraphs}; i++) {{
    var p = [];
    for (var j = 0; j < 40; j++) {{ p.push(words[(i * 7 + j * 3 + {n}) % words.length]); }}
    html += "<p>" + p.join(" ") + ".</p>";
  }}
  document.getElementById("content").innerHTML = html;
}}, {delay});
</script></body></html>
"""


def make_handler(paragraphs: int, delay_ms: int, hits: dict[str, int]) -> type[BaseHTTPRequestHandler]:
    words = json.dumps(WORDS)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if not self.path.startswith(("/page/", "/warm/", "/logo-")):
                self.send_error(404)
                return
            kind = "image" if self.path.endswith(".png") else "page"
            hits[kind] = hits.get(kind, 0) + 1
            if kind == "image":
                body, ctype = b"\x89PNG\r\n\x1a\n", "image/png"
            else:
                n = int(self.path.rsplit("/", 1)[-1] or 0)
                page = SHELL.format(n=n, words=words, paragraphs=paragraphs, delay=delay_ms)
                body, ctype = page.encode(), "text/html; charset=utf-8"
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            pass

    return Handler


def _children_proc(root: int) -> list[int]:
    """Descendants of ``root`` read from /proc (when psutil is missing)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def browser_rss() -> int:
    """Bytes resident in the Chromium processes started under this process (RSS summed)."""
    try:
        import psutil
    except ImportError:
        total = 0
        for pid in _children_proc(os.getpid()):
            try:
                name = Path(f"/proc/{pid}/comm").read_text().strip().lower()
                if "chrom" not in name:
                    continue
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except OSError:
                continue
        return total
    total = 0
    for proc in psutil.Process().children(recursive=True):
        try:
            if "chrom" in proc.name().lower():
                total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total


class Sampler(threading.Thread):
    """Samples browser_rss() every ``interval`` seconds until stopped."""

    def __init__(self, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append((time.monotonic(), browser_rss()))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


async def run(args: argparse.Namespace, base: str) -> dict[str, Any]:
    fetcher = BrowserFetcher(
        concurrency=args.concurrency, quiet_period=args.quiet_period, restart_every=args.restart_every
    )
    sampler = Sampler()
    try:
        t0 = time.monotonic()
        await fetcher.fetch(f"{base}/warm/0", wait_for=["#content"], timeout=args.timeout)  # launch + warm-up
        launch = time.monotonic() - t0
        sampler.start()
        marks: list[tuple[float, int]] = []

        async def one(n: int) -> tuple[FetchOutcome, float]:
            r = await fetcher.fetch(f"{base}/page/{n}", wait_for=["#content"], timeout=args.timeout)
            marks.append((time.monotonic(), n))
            return r.outcome, r.elapsed

        start = time.monotonic()
        results = await asyncio.gather(*(one(n) for n in range(1, args.pages + 1)))
        wall = time.monotonic() - start
    finally:
        sampler.stop()
        await fetcher.aclose()
    ok = sum(1 for outcome, _ in results if outcome is FetchOutcome.OK)
    rss = [b for _, b in sampler.samples if b]
    third = max(1, len(rss) // 3)
    return {
        "pages": args.pages,
        "ok": ok,
        "concurrency": args.concurrency,
        "quiet_period": args.quiet_period,
        "launch_s": round(launch, 2),
        "wall_s": round(wall, 2),
        "pages_per_s": round(args.pages / wall, 2),
        "page_p50_s": round(statistics.median(e for _, e in results), 3),
        "page_max_s": round(max(e for _, e in results), 3),
        "rss_peak_mb": round(max(rss, default=0) / 2**20, 1),
        "rss_first_third_mb": round(statistics.mean(rss[:third]) / 2**20, 1) if rss else None,
        "rss_last_third_mb": round(statistics.mean(rss[-third:]) / 2**20, 1) if rss else None,
        "rss_fifths_mb": [round(statistics.mean(part) / 2**20) for part in _fifths(rss)],
        "launches": fetcher.launches,
    }


def _fifths(values: list[int]) -> list[list[int]]:
    """``values`` cut into five consecutive parts of (nearly) equal length, leaving out empty ones."""
    size = len(values) / 5
    parts = [values[round(i * size) : round((i + 1) * size)] for i in range(5)]
    return [part for part in parts if part]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--quiet-period", type=float, default=0.15)
    parser.add_argument("--restart-every", type=int, default=50)
    parser.add_argument("--paragraphs", type=int, default=40, help="paragraphs of text per page")
    parser.add_argument("--delay-ms", type=int, default=50, help="delay before the script inserts the text")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    ok, reason = browser_available()
    if not ok:
        print(f"browser unavailable: {reason}", file=sys.stderr)
        return 2
    hits: dict[str, int] = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(args.paragraphs, args.delay_ms, hits))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        report = asyncio.run(run(args, f"http://127.0.0.1:{server.server_address[1]}"))
    finally:
        server.shutdown()
        server.server_close()
    report["images_requested"] = hits.get("image", 0)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key:>20}: {value}")
    target = report["ok"] == report["pages"] and report["pages_per_s"] >= 5
    return 0 if target else 1


if __name__ == "__main__":
    sys.exit(main())
