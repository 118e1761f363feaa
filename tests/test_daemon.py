# SPDX-License-Identifier: Apache-2.0
"""``tosmonitor daemon`` as a real subprocess against a local server, with intervals of a second or two."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tosmonitor.archive import Archive

pytestmark = pytest.mark.slow

PAGE = "<html><body><main><h1>{title}</h1><p>We collect the content you post.</p></main></body></html>"


def targets_yaml(docs: dict[str, str], interval: str = "2s") -> str:
    lines = [
        "defaults:",
        f"  interval: {interval}",
        "  timeout: 5s",
        "settings:",
        "  host_spacing: 0s",
        "  retries: 0",
        "  jitter: 0",
        "services:",
        "  Acme:",
        "    documents:",
    ]
    for name, url in docs.items():
        lines += [f"      {name}:", f"        url: {url}", "        select: [main]"]
    return "\n".join(lines) + "\n"


class DaemonProcess:
    """The daemon in a subprocess, its JSON log lines collected as they arrive."""

    def __init__(self, config: Path, db: Path, *extra: str) -> None:
        command = [
            sys.executable,
            "-m",
            "tosmonitor",
            "daemon",
            "--config",
            str(config),
            "--db",
            str(db),
            "--log-format",
            "json",
            "--startup-spread",
            "1",
            *extra,
        ]
        self.process = subprocess.Popen(
            command,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.events: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            try:
                self.events.append(json.loads(line))
            except json.JSONDecodeError:
                self.events.append({"event": "raw", "line": line})

    def wait_for(self, predicate, timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in list(self.events):
                if predicate(event):
                    return event
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"event not seen; got {self.events[-20:]}")

    def checks(self, document: str | None = None) -> list[dict]:
        return [
            e
            for e in self.events
            if e.get("event") == "check" and (document is None or e["document"] == document)
        ]

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = 40.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code


@pytest.fixture
def daemons():
    started: list[DaemonProcess] = []

    def start(config: Path, db: Path, *extra: str) -> DaemonProcess:
        process = DaemonProcess(config, db, *extra)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait(5)


def test_checks_run_on_schedule_and_a_slow_site_blocks_nobody(tmp_path, local_server, daemons):
    local_server.add_host("127.0.0.2")
    local_server.set("/fast", PAGE.format(title="Fast"))
    local_server.set("/slow", PAGE.format(title="Slow"), delay=4.0)
    config = tmp_path / "targets.yaml"
    config.write_text(
        targets_yaml(
            {"Fast": local_server.url("/fast"), "Slow": local_server.url("/slow", host="127.0.0.2")},
            interval="1s",
        )
    )
    daemon = daemons(config, tmp_path / "archive.db", "--metrics-port", "0")
    metrics = daemon.wait_for(lambda e: e.get("event") == "metrics")
    daemon.wait_for(lambda e: len([c for c in daemon.checks("acme/fast")]) >= 4, timeout=12)
    assert len(daemon.checks("acme/slow")) <= 1, "the slow page is still on its first check"

    base = metrics["address"].rsplit("/", 1)[0]
    health = httpx.get(base + "/healthz", timeout=5).json()
    assert health["status"] == "ok" and health["documents"] == 2
    text = httpx.get(base + "/metrics", timeout=5).text
    assert 'tosmonitor_checks_total{outcome="unchanged"}' in text
    assert "tosmonitor_deliveries_pending 0" in text
    assert daemon.stop() == 0


def test_sigterm_during_a_check_exits_cleanly_and_consistently(tmp_path, local_server, daemons):
    local_server.set("/slow", PAGE.format(title="Slow"), delay=2.0)
    config = tmp_path / "targets.yaml"
    config.write_text(targets_yaml({"Slow": local_server.url("/slow")}))
    db = tmp_path / "archive.db"
    daemon = daemons(config, db, "--stop-deadline", "1")
    deadline = time.monotonic() + 10
    while local_server.hits("/slow") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.stop() == 0
    assert time.monotonic() - started < 8
    with Archive(db) as archive:
        assert archive.integrity_problems() == []


def test_restart_resumes_without_a_burst(tmp_path, local_server, daemons):
    for name in ("a", "b", "c"):
        local_server.set(f"/{name}", PAGE.format(title=name))
    config = tmp_path / "targets.yaml"
    config.write_text(targets_yaml({n: local_server.url(f"/{n}") for n in ("a", "b", "c")}, interval="60s"))
    db = tmp_path / "archive.db"
    first = daemons(config, db)
    first.wait_for(lambda e: len(first.checks()) >= 3)
    assert first.stop() == 0
    hits_before = sum(local_server.hits(f"/{n}") for n in ("a", "b", "c"))
    second = daemons(config, db)
    second.wait_for(lambda e: e.get("event") == "started")
    time.sleep(2.5)
    assert second.checks() == [], "documents checked a moment ago are not checked again after a restart"
    assert sum(local_server.hits(f"/{n}") for n in ("a", "b", "c")) == hits_before
    assert second.stop() == 0


def test_sighup_adds_a_document_and_rejects_a_broken_config(tmp_path, local_server, daemons):
    local_server.set("/a", PAGE.format(title="A"))
    local_server.set("/b", PAGE.format(title="B"))
    config = tmp_path / "targets.yaml"
    config.write_text(targets_yaml({"A": local_server.url("/a")}))
    daemon = daemons(config, tmp_path / "archive.db")
    daemon.wait_for(lambda e: len(daemon.checks("acme/a")) >= 1)

    config.write_text(targets_yaml({"A": local_server.url("/a"), "B": local_server.url("/b")}))
    daemon.signal(signal.SIGHUP)
    daemon.wait_for(lambda e: e.get("event") == "reloaded" and e.get("added") == 1)
    daemon.wait_for(lambda e: len(daemon.checks("acme/b")) >= 1)

    config.write_text("services: [this is not valid\n")
    daemon.signal(signal.SIGHUP)
    rejected = daemon.wait_for(lambda e: e.get("event") == "reload_rejected")
    assert "targets.yaml" in rejected["error"]
    count = len(daemon.checks("acme/b"))
    daemon.wait_for(lambda e: len(daemon.checks("acme/b")) > count, timeout=8)  # the old config still runs
    assert daemon.stop() == 0


def _workers_of(pid: int) -> list[int]:
    """The daemon's worker processes (its children started by multiprocessing, not its resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    found = []
    for child in map(int, children):
        with contextlib.suppress(OSError):
            command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            if b"multiprocessing" in command and b"resource_tracker" not in command:
                found.append(child)
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from /proc (Linux)")
def test_a_worker_killed_under_the_daemon_is_replaced(tmp_path, local_server, daemons):
    local_server.set("/a", PAGE.format(title="A"))
    config = tmp_path / "targets.yaml"
    settings = "settings:\n  confirm_delay: 0s\n"  # the changed page is confirmed at once
    config.write_text(
        targets_yaml({"A": local_server.url("/a")}, interval="1s").replace("settings:\n", settings)
    )
    daemon = daemons(config, tmp_path / "archive.db")
    daemon.wait_for(lambda e: any(c.get("outcome") == "first" for c in daemon.checks("acme/a")))
    [worker] = _workers_of(daemon.process.pid)
    os.kill(worker, signal.SIGKILL)  # as the out-of-memory killer would
    local_server.set("/a", PAGE.format(title="A, changed"))
    changed = daemon.wait_for(lambda e: e.get("event") == "check" and e.get("outcome") == "changed")
    assert changed["document"] == "acme/a"
    assert not [e for e in daemon.events if e.get("event") == "check_crashed"]
    [replacement] = _workers_of(daemon.process.pid)
    assert replacement != worker
    assert daemon.stop() == 0
    deadline = time.monotonic() + 5
    while Path(f"/proc/{replacement}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{replacement}").exists(), "the replacement worker ends with the daemon"
