# SPDX-License-Identifier: Apache-2.0
"""What ``tosmonitor check`` does around the pipeline: progress, the browser, draining the outbox, the table.

Kept out of ``cli`` so that the command stays a thin shell and this can be tested without click.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from .archive import Archive
from .models import Config, DocumentSpec
from .monitor import CheckSummary, deliver_and_watch, make_executor, run_check


def run_check_command(
    config: Config,
    archive: Archive,
    documents: Sequence[DocumentSpec],
    *,
    progress: bool = False,
    browser: bool | None = None,
    deliver: bool = True,
    workers: int | None = None,
) -> tuple[list[CheckSummary], dict[str, Any]]:
    """Check ``documents`` once, then deliver the alerts queued (unless ``deliver`` is false)."""
    return asyncio.run(
        _run(config, archive, documents, progress=progress, browser=browser, deliver=deliver, workers=workers)
    )


async def _run(
    config: Config,
    archive: Archive,
    documents: Sequence[DocumentSpec],
    *,
    progress: bool,
    browser: bool | None,
    deliver: bool,
    workers: int | None,
) -> tuple[list[CheckSummary], dict[str, Any]]:
    done = 0
    total = len(documents)

    def on_result(summary: CheckSummary) -> None:
        nonlocal done
        done += 1
        if progress:
            width = 30
            filled = int(width * done / max(total, 1))
            sys.stderr.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {summary.document_id[:40]:<40}"
            )
            sys.stderr.flush()

    browser_fetcher = make_browser(documents, browser)
    executor = make_executor(workers, len(documents))
    try:
        summaries = await run_check(
            config, archive, documents, on_result=on_result, browser=browser_fetcher, executor=executor
        )
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
    if progress:
        sys.stderr.write("\n")
    report: dict[str, Any] = {}
    if deliver and config.channels:
        report = deliver_and_watch(config, str(archive.path))
    return summaries, report


def make_browser(documents: Sequence[DocumentSpec], enabled: bool | None) -> Any:
    """A browser fetcher when asked for, or when a document needs one and the browser is installed."""
    if enabled is False:
        return None
    needed = any(doc.javascript for doc in documents)
    if not enabled and not needed:
        return None
    try:
        from .browser import BrowserFetcher, browser_available
    except ImportError:
        return None
    ok, _reason = browser_available()
    return BrowserFetcher() if ok else None


def format_summary_table(summaries: Sequence[CheckSummary]) -> str:
    """A plain table: one row per document, then the totals by outcome."""
    if not summaries:
        return "No documents checked."
    headers = ("document", "outcome", "time", "details")
    rows = []
    for s in summaries:
        details = s.headline or s.error or ""
        if s.severity and s.headline:
            details = f"[{s.severity}] {details}"
        rows.append((s.document_id, s.outcome, f"{s.elapsed:.2f}s", details[:90]))
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(3)]
    lines = [f"{headers[0]:<{widths[0]}}  {headers[1]:<{widths[1]}}  {headers[2]:>{widths[2]}}  {headers[3]}"]
    for row in rows:
        lines.append(
            f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}".rstrip()
        )
    counts: dict[str, int] = {}
    for s in summaries:
        counts[s.outcome] = counts.get(s.outcome, 0) + 1
    lines.append("")
    lines.append(", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())))
    return "\n".join(lines)
