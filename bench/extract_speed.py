# SPDX-License-Identifier: Apache-2.0
"""Extraction speed: median and p95 milliseconds per page, over the fidelity snapshots (with their rules)
and over a generated 100 KB policy page (main-content heuristic and an explicit selector).

Usage: python bench/extract_speed.py [--corpus DIR] [--repeat N]
Data: Open Terms Archive contributors, ODC-BY 1.0.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _corpus import corpus_dir, load_sources  # noqa: E402
from tosmonitor.errors import ExtractError  # noqa: E402
from tosmonitor.extract import extract  # noqa: E402
from tosmonitor.models import Rules  # noqa: E402


def policy_page(target_bytes: int = 100_000) -> bytes:
    """A synthetic privacy policy page with navigation, a cookie banner, lists, tables and links."""
    head = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Privacy</title><script>var x=1;</script>"
        "<style>.a{color:red}</style></head><body><header><nav><a href='/'>Home</a> <a href='/help'>Help</a>"
        "</nav></header><div id='cookie-banner'>We use cookies. <button>Accept</button></div><main id='policy'>"
        "<h1>Privacy Policy</h1><p>Last updated: March 3, 2025</p>"
    )
    parts = [head]
    size = len(head)
    n = 0
    while size < target_bytes:
        n += 1
        section = (
            f"<h2>{n}. How we use information, part {n}</h2>"
            f"<p>We process the <b>information</b> you give us to provide section {n} of the service, "
            f"to keep it secure and to improve it. See <a href='/settings?utm_source=x&id={n}'>your settings</a>"
            f" or write to <a href='mailto:privacy@example.org'>privacy@example.org</a>.</p>"
            "<ul><li>Account details such as name and e-mail<ul><li>kept while the account exists</li>"
            "<li>deleted 30 days after closure</li></ul></li><li>Content you post and messages you send</li></ul>"
            "<table><tr><th>Category</th><th>Purpose</th></tr><tr><td>Usage data</td><td>Analytics<br>"
            "and safety</td></tr></table>"
            "<div class='note'><span>You can object</span> <em>at any time</em> in the settings.</div>"
        )
        parts.append(section)
        size += len(section)
    parts.append("</main><footer><a href='/terms'>Terms</a> © Example</footer></body></html>")
    return "".join(parts).encode()


CPU: list[float] = []


def timed(fn, repeat: int) -> list[float]:  # noqa: ANN001
    """Wall-clock milliseconds per call; CPU milliseconds go to ``CPU`` (steadier on a busy machine)."""
    times = []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - start) * 1000)
        CPU.append((time.process_time() - cpu) * 1000)
    return times


def _p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(0.95 * len(values)))]


def report(label: str, times: list[float]) -> None:
    cpu = CPU[:]
    CPU.clear()
    print(
        f"{label:<44} n={len(times):<5} median {statistics.median(times):6.2f} ms  p95 {_p95(times):6.2f} ms"
        f"  (CPU median {statistics.median(cpu):6.2f} ms  p95 {_p95(cpu):6.2f} ms)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    page = policy_page()
    for label, rules in (
        ("generated 100 KB page, heuristic", Rules()),
        ("generated 100 KB page, select main", Rules(select=("#policy",))),
    ):
        extract(page, rules=rules)
        report(
            f"{label} ({len(page) // 1024} KB)",
            timed(lambda r=rules: extract(page, rules=r), 20 * args.repeat),
        )

    root = corpus_dir(args.corpus) / "snapshots" / "fidelity"
    times: list[float] = []
    sizes: list[int] = []
    for pair in sorted(p for p in root.iterdir() if p.is_dir()):
        sources = load_sources(pair / "rules.json")
        files = (
            [pair / "snapshot.html"]
            if (pair / "snapshot.html").exists()
            else sorted(pair.glob("source-*.html"))
        )
        for i, path in enumerate(files):
            body = path.read_bytes()
            source = sources[min(i, len(sources) - 1)]

            def run(body: bytes = body, rules: Rules = source.rules) -> None:
                with contextlib.suppress(ExtractError):
                    extract(body, rules=rules)

            run()
            times.extend(timed(run, args.repeat))
            sizes.append(len(body))
    report(f"fidelity snapshots (median {statistics.median(sizes) // 1024} KB)", times)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
