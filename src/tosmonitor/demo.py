# SPDX-License-Identifier: Apache-2.0
"""``tosmonitor demo``: an offline, end-to-end replay of a recorded history of policy pages.

A story (``fixtures/demo/story.yaml``) lists dated steps; each sets the pages a local HTTP server on
127.0.0.1 answers with (page bodies wrapped in a site template with fresh nonces, tracking links and a cookie
banner, like a real CMS), then runs one check of every document through the real pipeline into a fresh
archive, with the archive's clock set to the step's date. Alerts go to a ``log`` channel, so the demo shows
what watchdogs would receive.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from .archive import Archive
from .config import slugify
from .errors import InputError
from .fetch import Fetcher
from .models import ChannelSpec, Config, DocumentSpec, Rules, Settings, Source
from .monitor import CheckSummary, Monitor, deliver_and_watch


def default_fixtures_dir() -> Path:
    """``fixtures/demo`` of the working directory, else of the source checkout this package runs from."""
    candidates = [
        Path.cwd() / "fixtures" / "demo",
        Path(__file__).resolve().parents[2] / "fixtures" / "demo",
    ]
    for candidate in candidates:
        if (candidate / "story.yaml").exists():
            return candidate
    raise InputError("cannot find the demo story (fixtures/demo/story.yaml); pass --fixtures DIR")


@dataclass
class Story:
    directory: Path
    documents: list[tuple[str, str, str]]  # (service, document name, path)
    steps: list[dict[str, Any]]
    template: str = ""


def load_story(directory: Path) -> Story:
    try:
        data = yaml.safe_load((directory / "story.yaml").read_text(encoding="utf-8"))
        documents = [
            (service, name, path) for service, docs in data["services"].items() for name, path in docs.items()
        ]
        template = (directory / "template.html").read_text(encoding="utf-8")
        return Story(directory=directory, documents=documents, steps=list(data["steps"]), template=template)
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise InputError(f"{directory / 'story.yaml'}: not a readable demo story ({exc})") from exc


@dataclass
class _Site:
    """What the demo server answers: path -> (service, page file)."""

    story: Story
    pages: dict[str, tuple[str, str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def render(self, path: str) -> bytes | None:
        with self.lock:
            entry = self.pages.get(path)
        if entry is None:
            return None
        service, filename = entry
        full_page = filename.startswith("!")
        body = (self.story.directory / "pages" / filename.lstrip("!")).read_text(encoding="utf-8")
        if full_page:
            return body.encode("utf-8")
        nonce = secrets.token_hex(8)
        page = self.story.template
        for key, value in {
            "{title}": f"{service} legal",
            "{nonce}": nonce,
            "{year}": "2025",
            "{service}": service,
            "{millis}": str(secrets.randbelow(90) + 10),
            "{content}": body,
        }.items():
            page = page.replace(key, value)
        return page.encode("utf-8")


def _serve(site: _Site) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            body = site.render(self.path.split("?")[0])
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def demo_config(story: Story, base_url: str) -> Config:
    documents = []
    for service, name, path in story.documents:
        documents.append(
            DocumentSpec(
                id=f"{slugify(service)}/{slugify(name)}",
                service=service,
                name=name,
                sources=(Source(url=base_url + path, rules=Rules(select=("main",))),),
                timeout=10.0,
            )
        )
    channels = (ChannelSpec(name="log", type="log", options={"stream": "stdout", "format": "text"}),)
    # The story's steps are weeks apart: its documents are never "stale" between them.
    settings = Settings(
        host_spacing=0.0,
        retries=0,
        health_after=1,
        concurrency=4,
        confirm_delay=0.2,
        watchdog_after=3650 * 86400.0,
    )
    return Config(
        path=str(story.directory / "story.yaml"),
        documents=tuple(documents),
        channels=channels,
        settings=settings,
    )


def run_demo(
    db_path: str,
    *,
    fixtures_dir: str | None = None,
    fresh: bool = True,
    echo: Callable[[str], Any] = print,
) -> list[list[CheckSummary]]:
    """Replay the story into ``db_path``; returns the summaries of each step."""
    story = load_story(Path(fixtures_dir) if fixtures_dir else default_fixtures_dir())
    if fresh:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db_path + suffix):
                os.remove(db_path + suffix)
    site = _Site(story)
    server, base_url = _serve(site)
    config = demo_config(story, base_url)
    paths = {path: service for service, _name, path in story.documents}
    archive = Archive(db_path)
    results: list[list[CheckSummary]] = []
    try:
        archive.sync_documents(config.documents)
        echo(
            f"Replaying {len(story.steps)} dated steps of {len(config.documents)} documents "
            f"served from {base_url} into {db_path}\n"
        )
        for step in story.steps:
            with site.lock:
                for path, filename in (step.get("pages") or {}).items():
                    site.pages[path] = (paths[path], filename)
            moment = datetime.fromisoformat(str(step["date"])).replace(hour=12, tzinfo=UTC)
            echo(f"── {step['date']}: {step.get('note', '')}")
            summaries = asyncio.run(_check_step(config, archive, moment))
            results.append(summaries)
            for summary in summaries:
                echo("   " + _describe(summary))
                if summary.change_id:
                    for line in _findings(archive, summary.change_id):
                        echo("      " + line)
            # the log channel prints them; the watchdog runs on the story's clock
            deliver_and_watch(config, db_path, now=lambda at=moment: at)
            echo("")
        _epilogue(archive, db_path, echo)
    finally:
        archive.close()
        server.shutdown()
        server.server_close()
    return results


async def _check_step(config: Config, archive: Archive, moment: datetime) -> list[CheckSummary]:
    async with Fetcher(host_spacing=0.0, retries=0) as fetcher:
        monitor = Monitor(config, archive, fetcher=fetcher, now=lambda: moment)
        async with monitor:
            return await monitor.check_all()


def _describe(summary: CheckSummary) -> str:
    label = f"{summary.service} {summary.name}"
    if summary.outcome == "first":
        return f"{label}: first version recorded (v{summary.version_id})"
    if summary.outcome in ("unchanged", "not_modified"):
        return f"{label}: unchanged"
    if summary.outcome == "error":
        return f"{label}: ERROR ({summary.error_class}) {summary.error or ''}".rstrip()
    if summary.outcome == "suspect":
        return f"{label}: suspect, waiting for confirmation ({summary.error})"
    severity = f"[{summary.severity}] " if summary.severity else ""
    return f"{label}: CHANGED (v{summary.version_id}, change {summary.change_id}) {severity}{summary.headline or ''}"


def _findings(archive: Archive, change_id: int, limit: int = 4) -> list[str]:
    """Each AI finding of a change with its quotes, shortened for the terminal."""
    lines = []
    findings = archive.change(change_id)["findings"] or []
    for finding in findings[:limit]:
        lines.append(f"- {finding['summary']} ({finding['rule']}, {finding['severity']})")
        for side in ("old", "new"):
            if finding.get(side):
                lines.append(f"    {side}: “{_shorten(finding[side], 150)}”")
    if len(findings) > limit:
        lines.append(f"… and {len(findings) - limit} more findings")
    return lines


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + " …"


def _epilogue(archive: Archive, db_path: str, echo: Callable[[str], Any]) -> None:
    rows = archive.db.execute(
        "SELECT COUNT(*), SUM(ai_training_change) FROM changes WHERE technical = 0"
    ).fetchone()
    versions = archive.db.execute("SELECT COUNT(*) FROM versions").fetchone()[0]
    fetches = archive.db.execute("SELECT COUNT(*) FROM fetches").fetchone()[0]
    sent = archive.db.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'sent'").fetchone()[0]
    echo(
        f"Done: {fetches} fetches, {versions} versions, {rows[0]} changes ({rows[1] or 0} about AI training), "
        f"{sent} alerts sent."
    )
    echo("Explore the archive:")
    echo(f"  tosmonitor history workfolio/privacy-policy --db {db_path}")
    echo(f"  tosmonitor diff workfolio/privacy-policy --db {db_path}")
    echo(f"  tosmonitor show chatterly/privacy-policy --at 2024-06-30 --db {db_path}")
