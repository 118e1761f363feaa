# SPDX-License-Identifier: Apache-2.0
"""``tosmonitor daemon``: checks every document on its own schedule, for months, unattended.

- One APScheduler 3 job per document (``interval`` with jitter, or ``cron``), ``max_instances=1`` and
  ``coalesce=True``: a check never overlaps itself, and missed runs after downtime collapse into one catch-up.
- The first run of each document is derived from the archive: ``last_checked_at + interval`` when that is
  still ahead; otherwise (overdue or never checked) spread at random over ``min(interval, 10 min)`` so a start
  or restart never fires every check at once.
- Politeness is the shared :class:`~tosmonitor.fetch.Fetcher`'s (per-host limits and spacing, host backoff
  after 429/503 honoured across checks); each check has a hard deadline so one hanging site blocks nothing.
- The alert outbox is drained, and stale documents are looked for, by a periodic job in a worker thread.
- SIGTERM / SIGINT: stop scheduling, let in-flight checks finish within ``stop_deadline`` (then cancel them:
  a check writes in one synchronous transaction, so cancelling leaves no partial state), exit 0.
  SIGHUP: reload the configuration; added documents are scheduled, removed ones unscheduled, changed ones
  rescheduled; an invalid file is rejected with a log line and the old configuration keeps running.
- ``/healthz`` and Prometheus ``/metrics`` on 127.0.0.1 when a metrics port is given.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .archive import Archive
from .clock import iso, parse_iso, utcnow
from .config import load_config
from .errors import TosMonitorError
from .models import Config, DocumentSpec
from .monitor import CheckSummary, Monitor, deliver_and_watch, fetcher_for, make_executor

MAX_STARTUP_SPREAD = 600.0


def first_run_time(
    last_checked: datetime | None,
    interval: float,
    now: datetime,
    rng: random.Random,
    max_spread: float = MAX_STARTUP_SPREAD,
) -> datetime:
    """When a document's first check after a (re)start is due (see the module docstring)."""
    if last_checked is not None:
        due = last_checked + timedelta(seconds=interval)
        if due > now:
            return due
    spread = min(interval, max_spread)
    return now + timedelta(seconds=rng.uniform(0, spread))


def next_due(doc: DocumentSpec, last_checked: datetime | None, now: datetime) -> datetime:
    """The next time a document is due, without jitter (for ``tosmonitor status``)."""
    if doc.cron:
        trigger = CronTrigger.from_crontab(doc.cron, timezone=UTC)
        fire = trigger.get_next_fire_time(None, last_checked or now)
        return fire or now
    if last_checked is None:
        return now
    return max(now, last_checked + timedelta(seconds=doc.interval or 0))


@dataclass
class Metrics:
    """Counters for /metrics, kept in memory."""

    checks: Counter[str] = field(default_factory=Counter)
    duration_sum: float = 0.0
    duration_count: int = 0
    lateness: list[float] = field(default_factory=list)  # recent schedule lateness, seconds
    missed: int = 0
    skipped_overlap: int = 0
    in_flight: int = 0
    started_at: float = field(default_factory=time.time)

    def observe_check(self, summary: CheckSummary) -> None:
        self.checks[summary.outcome] += 1
        self.duration_sum += summary.elapsed
        self.duration_count += 1

    def observe_lateness(self, seconds: float) -> None:
        self.lateness.append(seconds)
        if len(self.lateness) > 10_000:
            del self.lateness[:5_000]

    def render(self, *, pending_deliveries: int, failed_deliveries: int, scheduled: int) -> str:
        lines = [
            "# HELP tosmonitor_checks_total Checks by outcome.",
            "# TYPE tosmonitor_checks_total counter",
        ]
        for outcome in sorted(self.checks):
            lines.append(f'tosmonitor_checks_total{{outcome="{outcome}"}} {self.checks[outcome]}')
        lateness = sorted(self.lateness)
        p95 = lateness[int(0.95 * (len(lateness) - 1))] if lateness else 0.0
        lines += [
            "# HELP tosmonitor_check_duration_seconds Time spent per check.",
            "# TYPE tosmonitor_check_duration_seconds summary",
            f"tosmonitor_check_duration_seconds_sum {self.duration_sum:.6f}",
            f"tosmonitor_check_duration_seconds_count {self.duration_count}",
            "# HELP tosmonitor_schedule_lateness_p95_seconds 95th percentile of start lateness.",
            "# TYPE tosmonitor_schedule_lateness_p95_seconds gauge",
            f"tosmonitor_schedule_lateness_p95_seconds {p95:.6f}",
            "# TYPE tosmonitor_missed_runs_total counter",
            f"tosmonitor_missed_runs_total {self.missed}",
            "# TYPE tosmonitor_overlapping_runs_skipped_total counter",
            f"tosmonitor_overlapping_runs_skipped_total {self.skipped_overlap}",
            "# TYPE tosmonitor_checks_in_flight gauge",
            f"tosmonitor_checks_in_flight {self.in_flight}",
            "# TYPE tosmonitor_documents_scheduled gauge",
            f"tosmonitor_documents_scheduled {scheduled}",
            "# HELP tosmonitor_deliveries_pending Alerts waiting in the outbox.",
            "# TYPE tosmonitor_deliveries_pending gauge",
            f"tosmonitor_deliveries_pending {pending_deliveries}",
            "# TYPE tosmonitor_deliveries_failed gauge",
            f"tosmonitor_deliveries_failed {failed_deliveries}",
            "# TYPE tosmonitor_uptime_seconds gauge",
            f"tosmonitor_uptime_seconds {time.time() - self.started_at:.1f}",
        ]
        return "\n".join(lines) + "\n"


class CheckLog:
    """One line per check (and per daemon event), as text or JSON."""

    def __init__(self, stream: IO[str] | None = None, fmt: str = "text") -> None:
        self.stream = stream or sys.stderr
        self.fmt = fmt

    def event(self, event: str, **fields: Any) -> None:
        stamp = iso(utcnow())
        if self.fmt == "json":
            line = json.dumps({"ts": stamp, "event": event, **fields}, default=str)
        else:
            parts = " ".join(f"{k}={_quote(v)}" for k, v in fields.items() if v is not None)
            line = f"{stamp} {event} {parts}".rstrip()
        self.stream.write(line + "\n")
        self.stream.flush()

    def check(self, summary: CheckSummary) -> None:
        self.event(
            "check",
            document=summary.document_id,
            outcome=summary.outcome,
            duration=round(summary.elapsed, 3),
            version=summary.version_id,
            change=summary.change_id,
            severity=summary.severity,
            error_class=summary.error_class,
            error=summary.error,
        )


def _quote(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (" " in text or not text) else text


class Daemon:
    """The long-running scheduler. ``asyncio.run(Daemon(...).run())`` returns the exit code."""

    def __init__(
        self,
        config_path: str,
        db_path: str,
        *,
        log: CheckLog | None = None,
        metrics_port: int | None = None,
        metrics_host: str = "127.0.0.1",
        stop_deadline: float = 30.0,
        check_deadline: float = 300.0,
        deliver_every: float = 30.0,
        browser: Any = None,
        rng: random.Random | None = None,
        startup_spread: float = MAX_STARTUP_SPREAD,
        workers: int = 1,
    ) -> None:
        self.config_path = config_path
        self.db_path = db_path
        self.log = log or CheckLog()
        self.metrics_port = metrics_port
        self.metrics_host = metrics_host
        self.stop_deadline = stop_deadline
        self.check_deadline = check_deadline
        self.deliver_every = deliver_every
        self.browser = browser
        self.rng = rng or random.Random()
        self.startup_spread = startup_spread
        self.workers = workers
        self.metrics = Metrics()
        self.config: Config | None = None
        self.specs: dict[str, DocumentSpec] = {}
        self.in_flight: set[asyncio.Task[Any]] = set()
        self._stop = asyncio.Event()
        self._reload_requested = False
        self.metrics_address: tuple[str, int] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def run(self) -> int:
        try:
            self.config = load_config(self.config_path)
        except TosMonitorError as exc:
            self.log.event("config_error", error=str(exc))
            return 2
        self.archive = Archive(self.db_path)
        self.archive.sync_documents(self.config.documents)
        self.fetcher = fetcher_for(self.config.settings)
        self.executor = make_executor(self.workers, self.workers)
        self.monitor = Monitor(
            self.config,
            self.archive,
            fetcher=self.fetcher,
            executor=self.executor,
            browser=self.browser,
            on_result=self._on_result,
            check_deadline=self.check_deadline,
        )
        loop = asyncio.get_running_loop()
        self.scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC)
        self.scheduler.add_listener(
            self._on_job_event, EVENT_JOB_SUBMITTED | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES
        )
        for spec in self.config.documents:
            self._schedule(spec)
        self.scheduler.add_job(
            self._maintenance,
            IntervalTrigger(seconds=self.deliver_every, timezone=UTC),
            id="__maintenance__",
            max_instances=1,
            coalesce=True,
            next_run_time=utcnow() + timedelta(seconds=1),
        )
        for signum, handler in (
            (signal.SIGTERM, self.stop),
            (signal.SIGINT, self.stop),
            (signal.SIGHUP, self.reload),
        ):
            loop.add_signal_handler(signum, handler)
        server = await self._start_metrics() if self.metrics_port is not None else None
        self.scheduler.start()
        self.log.event("started", documents=len(self.specs), db=self.db_path, pid=_pid())
        await self._stop.wait()
        await self._shutdown(server)
        return 0

    def stop(self) -> None:
        if not self._stop.is_set():
            self.log.event("stopping", in_flight=len(self.in_flight), deadline=self.stop_deadline)
            self._stop.set()

    def reload(self) -> None:
        try:
            new_config = load_config(self.config_path)
        except TosMonitorError as exc:
            self.log.event("reload_rejected", error=str(exc), keeping="previous configuration")
            return
        old = self.specs
        new = {doc.id: doc for doc in new_config.documents}
        added = [d for d in new if d not in old]
        removed = [d for d in old if d not in new]
        changed = [d for d in new if d in old and new[d] != old[d]]
        self.config = new_config
        self.monitor.config = new_config
        self.archive.sync_documents(new_config.documents)
        for doc_id in removed:
            self.scheduler.remove_job(doc_id)
            del self.specs[doc_id]
        for doc_id in changed:
            self.scheduler.remove_job(doc_id)
            self._schedule(new[doc_id])
        for doc_id in added:
            self._schedule(new[doc_id])
        self.log.event(
            "reloaded",
            added=len(added),
            removed=len(removed),
            changed=len(changed),
            documents=len(self.specs),
        )

    async def _shutdown(self, server: asyncio.AbstractServer | None) -> None:
        self.scheduler.shutdown(wait=False)
        pending = {t for t in self.in_flight if not t.done()}
        if pending:
            done, still = await asyncio.wait(pending, timeout=self.stop_deadline)
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still, timeout=5)
            self.log.event("abandoned", checks=len(still)) if still else None
        if server is not None:
            server.close()
            await server.wait_closed()
        await self.fetcher.aclose()
        for executor in {id(e): e for e in (self.executor, self.monitor.executor) if e is not None}.values():
            executor.shutdown(cancel_futures=True)  # the monitor's own: one it started after a worker stopped
        if self.browser is not None:
            await self.browser.aclose()
        self.archive.close()
        self.log.event("stopped")

    # -- scheduling --------------------------------------------------------------------------------------

    def _schedule(self, spec: DocumentSpec) -> None:
        self.specs[spec.id] = spec
        row = self.archive.document(spec.id)
        last_checked = parse_iso(row["last_checked_at"]) if row else None
        now = utcnow()
        if spec.cron:
            trigger: Any = CronTrigger.from_crontab(spec.cron, timezone=UTC)
            first = next_due(spec, last_checked, now)
            grace = 3600
        else:
            interval = float(spec.interval or 12 * 3600)
            jitter = interval * (self.config.settings.jitter if self.config else 0.1)
            first = first_run_time(last_checked, interval, now, self.rng, self.startup_spread)
            trigger = IntervalTrigger(seconds=interval, start_date=first, timezone=UTC, jitter=jitter or None)
            grace = max(1, int(interval))
        self.scheduler.add_job(
            self._run_check,
            trigger,
            args=[spec.id],
            id=spec.id,
            name=spec.id,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=grace,
            next_run_time=first,
            replace_existing=True,
        )

    async def _run_check(self, doc_id: str) -> None:
        if self._stop.is_set():
            return
        spec = self.specs.get(doc_id)
        if spec is None:
            return
        task = asyncio.current_task()
        assert task is not None
        self.in_flight.add(task)
        self.metrics.in_flight = len(self.in_flight)
        try:
            await self.monitor.check(spec)
        except Exception as exc:  # a bug in one check must not stop the daemon
            self.log.event("check_crashed", document=doc_id, error=repr(exc))
        finally:
            self.in_flight.discard(task)
            self.metrics.in_flight = len(self.in_flight)

    def _on_result(self, summary: CheckSummary) -> None:
        self.metrics.observe_check(summary)
        self.log.check(summary)

    def _on_job_event(self, event: JobEvent) -> None:
        if event.job_id == "__maintenance__":
            return
        if event.code == EVENT_JOB_SUBMITTED:
            scheduled = max(event.scheduled_run_times)  # type: ignore[attr-defined]
            self.metrics.observe_lateness(max(0.0, (utcnow() - scheduled).total_seconds()))
        elif event.code == EVENT_JOB_MISSED:
            self.metrics.missed += 1
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            self.metrics.skipped_overlap += 1

    async def _maintenance(self) -> None:
        if self._stop.is_set() or self.config is None:
            return
        config = self.config
        try:
            report = await asyncio.to_thread(deliver_and_watch, config, self.db_path)
        except Exception as exc:
            self.log.event("delivery_error", error=repr(exc))
            return
        if report.get("sent") or report.get("failed") or report.get("stale"):
            self.log.event("deliveries", **report)

    # -- metrics -----------------------------------------------------------------------------------------

    async def _start_metrics(self) -> asyncio.AbstractServer:
        server = await asyncio.start_server(self._serve_metrics, self.metrics_host, self.metrics_port)
        self.metrics_address = server.sockets[0].getsockname()[:2]
        self.log.event(
            "metrics", address=f"http://{self.metrics_address[0]}:{self.metrics_address[1]}/metrics"
        )
        return server

    async def _serve_metrics(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request.decode("latin-1").split()
            path = parts[1] if len(parts) > 1 else "/"
            if path == "/healthz":
                status, body, ctype = 200, json.dumps(self.health()).encode(), "application/json"
            elif path == "/metrics":
                counts = dict(
                    self.archive.db.execute(
                        "SELECT status, COUNT(*) FROM deliveries GROUP BY status"
                    ).fetchall()
                )
                text = self.metrics.render(
                    pending_deliveries=counts.get("pending", 0),
                    failed_deliveries=counts.get("failed", 0),
                    scheduled=len(self.specs),
                )
                status, body, ctype = 200, text.encode(), "text/plain; version=0.0.4"
            else:
                status, body, ctype = 404, b"not found\n", "text/plain"
            reason = {200: "OK", 404: "Not Found"}[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    def health(self) -> dict[str, Any]:
        failing = self.archive.db.execute(
            "SELECT COUNT(*) FROM documents WHERE active = 1 AND health != 'ok'"
        ).fetchone()[0]
        return {
            "status": "stopping" if self._stop.is_set() else "ok",
            "documents": len(self.specs),
            "failing_documents": failing,
            "checks_in_flight": len(self.in_flight),
            "checks_done": sum(self.metrics.checks.values()),
        }


def _pid() -> int:
    import os

    return os.getpid()
