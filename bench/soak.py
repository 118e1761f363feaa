# SPDX-License-Identifier: Apache-2.0
"""Soak test of the daemon: N documents on loopback at short intervals for a few minutes.

Runs ``tosmonitor daemon`` as a subprocess against a local page server (its own process), then prints checks
done versus scheduled, missed schedules, the p95 lateness of check starts, and the daemon's RSS after warm-up
and at the end.

    python bench/soak.py [--docs 300] [--interval 10] [--minutes 5]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

from check_cycle import HOSTS, serve  # noqa: E402


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between checks of a document")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds before the first RSS reading")
    args = parser.parse_args()

    ctx = multiprocessing.get_context("spawn")
    ready, control = ctx.Event(), ctx.Queue()
    port = 20000 + random.randint(0, 2000)
    server = ctx.Process(target=serve, args=(port, args.docs, ready, control), daemon=True)
    server.start()
    ready.wait(60)
    control.put(("mode", "dynamic"))

    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "targets.yaml"
        lines = [
            "defaults:",
            f"  interval: {int(args.interval)}s",
            "  timeout: 10s",
            "settings:",
            "  host_spacing: 0s",
            "  concurrency: 16",
            "  jitter: 0",
            "services:",
        ]
        for i in range(args.docs):
            lines += [
                f"  Service {i}:",
                "    documents:",
                "      Privacy Policy:",
                f"        url: http://{HOSTS[i % len(HOSTS)]}:{port}/doc/{i}",
                "        select: [main]",
            ]
        config.write_text("\n".join(lines) + "\n")
        command = [
            sys.executable,
            "-m",
            "tosmonitor",
            "daemon",
            "--config",
            str(config),
            "--db",
            str(Path(tmp) / "soak.db"),
            "--log-format",
            "json",
            "--metrics-port",
            "0",
            "--startup-spread",
            str(args.interval),
        ]
        daemon = subprocess.Popen(
            command, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        events: list[dict] = []

        def read() -> None:
            assert daemon.stderr is not None
            for line in daemon.stderr:
                with contextlib.suppress(json.JSONDecodeError):
                    events.append(json.loads(line))

        threading.Thread(target=read, daemon=True).start()
        started = time.monotonic()
        while not any(e.get("event") == "metrics" for e in events):
            time.sleep(0.1)
        address = next(e for e in events if e.get("event") == "metrics")["address"]
        time.sleep(args.warmup)
        rss_start = rss_mib(daemon.pid)
        time.sleep(max(0.0, args.minutes * 60 - args.warmup))
        metrics = httpx.get(address, timeout=10).text
        rss_end = rss_mib(daemon.pid)
        elapsed = time.monotonic() - started
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
    server.terminate()

    values = {}
    for line in metrics.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    checks = sum(1 for e in events if e.get("event") == "check")
    outcomes: dict[str, int] = {}
    for e in events:
        if e.get("event") == "check":
            outcomes[e["outcome"]] = outcomes.get(e["outcome"], 0) + 1
    # The first check of each document starts within its first interval; then one per interval.
    scheduled = int(args.docs * max(0.0, (elapsed - args.interval / 2)) / args.interval)
    print(f"{args.docs} documents every {args.interval:g} s for {elapsed:.0f} s")
    print(f"checks done {checks} / scheduled ~{scheduled}  outcomes {outcomes}")
    print(
        f"missed schedules {int(values.get('tosmonitor_missed_runs_total', 0))}, "
        f"overlaps skipped {int(values.get('tosmonitor_overlapping_runs_skipped_total', 0))}"
    )
    print(f"p95 lateness {values.get('tosmonitor_schedule_lateness_p95_seconds', 0):.3f} s")
    growth = (rss_end - rss_start) / rss_start * 100 if rss_start else 0.0
    print(f"RSS after warm-up {rss_start:.1f} MiB, at the end {rss_end:.1f} MiB ({growth:+.1f}%)")


if __name__ == "__main__":
    main()
