# SPDX-License-Identifier: Apache-2.0
"""The pipeline: fetch → snapshot → extract → version → diff → analyse → change → queued alerts.

This is the one module that wires the steps together; ``cli``, ``scheduler`` and ``demo`` all check documents
through :class:`Monitor`. The decisions are made here, in this order, for each document:

1. Fetch every page of the document (conditional GET unless a full fetch is due; the browser when the document
   needs it or when a plain fetch looks blocked). Any failed page makes the whole check an *error*: an error
   is recorded as a failed fetch and counts towards health alerts, never as a version.
2. If every raw body is byte-identical to the pages of the latest version, the check is *unchanged* without
   parsing anything.
3. Extract the text. An extraction error (selector matches nothing, empty text) is an *error* too; the raw
   snapshot is kept for inspection. So is any other failure to read the pages (a page that brings out a bug,
   a worker that stops): it is recorded against that document, and the other checks go on.
4. If the extractor changed since the latest version was recorded, re-derive that version from its own
   snapshots first: a different text is recorded as a *technical* version (never alerted).
5. Same text hash as the latest version: *unchanged*. A different text is *suspect* until a second fetch
   (``confirm_delay`` later, in the same check) yields it again (``confirm_changes``, on by default; a text
   shorter than ``suspect_shrink`` of the latest one always waits): a page that blinks between two texts, or a
   broken render, records no version. A confirmed version keeps the time it was first seen.
6. Otherwise: diff, analyse, and record the version, the change and its deliveries in one transaction.

The CPU-bound steps (extract, diff, analyse) run in a worker process (``make_executor``), beside fetching and
recording in this one. Packing the fetched bodies for storage goes to whichever has time to spare: the worker,
unless it has a backlog (``WORKER_BACKLOG``), as on a first pass; then this process, as it records them.
A worker that stops (killed, out of memory) breaks its pool: a new pool takes over and the tasks run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .archive import (
    Archive,
    CheckRecord,
    DocumentState,
    NewChange,
    NewVersion,
    PageFetch,
    iso,
    sha256_hex,
)
from .clock import utcnow
from .codec import Packed
from .derive import Derived, derive_from_text, extract_first, extract_text, stats_dict, stored_diff
from .diff import diff_texts
from .errors import ExtractError, FetchError
from .extract import EXTRACTOR_VERSION, extract_pages, page_has_scripts
from .fetch import Fetcher, classify_block
from .models import Config, DocumentSpec, FetchOutcome, FetchResult, Settings
from .notify.health import HealthState, next_health, stale_event
from .notify.routing import plan_deliveries
from .worker import exit_with_parent, warm_up


@dataclass(frozen=True)
class CheckSummary:
    """The outcome of one check, for progress bars, logs and exit codes."""

    document_id: str
    service: str
    name: str
    outcome: str  # changed | unchanged | not_modified | error | suspect | first
    elapsed: float
    error_class: str | None = None
    error: str | None = None
    version_id: int | None = None
    change_id: int | None = None
    severity: str | None = None
    headline: str | None = None
    ai_training_change: bool = False
    technical: bool = False

    @property
    def failed(self) -> bool:
        return self.outcome == "error"

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}


def new_change(derived: Derived) -> NewChange | None:
    """The change row a derivation records (None for a first record or an unchanged text)."""
    comparison = derived.comparison
    if comparison is None:
        return None
    return NewChange(
        severity=comparison["severity"],
        cosmetic=bool(comparison["cosmetic"]),
        ai_training_change=bool(comparison["ai_training_change"]),
        training_before=comparison["before"]["training"],
        training_after=comparison["after"]["training"],
        headline=derived.headline,
        stats=derived.stats,
        diff=derived.diff,
        findings=list(comparison["findings"]),
        stance_before=comparison["before"],
        stance_after=comparison["after"],
    )


class WorkerStopped(Exception):
    """The worker process stopped while it ran a check's task, twice (see ``Monitor._run``)."""


def _failure(exc: Exception, step: str) -> str:
    """What a check records when a step failed on its pages (``step``: "extractor" or "analysis"): an
    ``ExtractError``'s own message, or for anything else (a page that brings out a bug, a stopped worker) its
    type and message, so that one page never stops the others."""
    if isinstance(exc, ExtractError | WorkerStopped):
        return str(exc)
    return f"the {step} failed on this page ({type(exc).__name__}: {exc})"


PIPE_SIZE = 1 << 20  # bytes of room in each of the worker pool's pipes (see _widen_pipes)
# Unfinished tasks per worker past which the workers are behind (see ``Monitor._worker_behind``). Fetches end
# in bursts, so a few wait now and then even when the workers keep up (an unchanged pass: mostly 0 to 4); on a
# first pass, where the workers set the pace, the backlog grows to the number of checks in progress.
WORKER_BACKLOG = 4
AUTO_WORKERS_FROM = 16  # documents in a run from which a worker process pays for its start-up


def make_executor(workers: int | None, documents: int) -> Executor | None:
    """A process pool for extraction and analysis, so they run beside fetching and storing on another core.

    ``None`` (auto): one worker when there are at least ``AUTO_WORKERS_FROM`` documents; ``0``: inline.
    One worker measured best on two cores: the checking process itself keeps the other one busy. The workers
    start at once and import the extractor and the analysis (about a third of a second each), so the first
    fetched page does not wait for them.
    """
    if workers is None:
        workers = 1 if documents >= AUTO_WORKERS_FROM else 0
    if workers <= 0:
        return None
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=exit_with_parent,
        initargs=(os.getpid(),),
    )
    _widen_pipes(pool)
    for _ in range(workers):  # start and load each worker now, while the first pages download
        pool.submit(warm_up)
    return pool


def _widen_pipes(pool: ProcessPoolExecutor) -> None:
    """Give the pool's two pipes room for several pages (Linux; elsewhere a no-op).

    A page (about 100 KB) and its text do not fit a pipe's default 64 KB: the sender then waits until the other
    side reads, and the pool's reader in this process is a thread that waits for the GIL. With room for the
    whole message a worker hands its result over and goes on with the next page (its idle share fell from
    about 12% to 8% on the check-cycle bench).
    """
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    for queue in (getattr(pool, "_call_queue", None), getattr(pool, "_result_queue", None)):
        reader = getattr(queue, "_reader", None)
        if set_size is None or reader is None:
            continue
        with contextlib.suppress(OSError):  # above the system's limit (/proc/sys/fs/pipe-max-size)
            fcntl.fcntl(reader.fileno(), set_size, PIPE_SIZE)


def fetcher_for(settings: Settings) -> Fetcher:
    """The polite fetcher the configuration's settings ask for."""
    return Fetcher(
        concurrency=settings.concurrency,
        per_host=settings.per_host,
        host_spacing=settings.host_spacing,
        retries=settings.retries,
    )


@dataclass
class Monitor:
    """Checks documents into an archive. One instance per run (``check``) or per process (``daemon``)."""

    config: Config
    archive: Archive
    fetcher: Fetcher | None = None
    browser: Any = None  # a tosmonitor.browser.BrowserFetcher, when enabled
    executor: Executor | None = None  # for the CPU-bound part (extract, diff, analyse)
    now: Callable[[], datetime] = utcnow
    on_result: Callable[[CheckSummary], None] | None = None
    check_deadline: float | None = None  # hard deadline for one document's check, seconds
    # Re-fetch a suspect text this long after it was first seen, within the same check (None: wait for the
    # next scheduled check instead). Defaults to the configuration's ``confirm_delay``.
    confirm_delay: float | None = -1.0
    _own_fetcher: bool = field(default=False, init=False)
    _checkpoints: contextlib.AbstractContextManager[None] | None = field(default=None, init=False, repr=False)
    _slots: asyncio.Semaphore = field(init=False, repr=False)
    _in_executor: set[Future[Any]] = field(default_factory=set, init=False, repr=False)  # tasks not yet done
    _own_executor: bool = field(default=False, init=False)  # a pool started here in place of a broken one

    def __post_init__(self) -> None:
        if self.confirm_delay is not None and self.confirm_delay < 0:
            self.confirm_delay = self.config.settings.confirm_delay
        # Checks past their fetch hold a page body until it is extracted and recorded; bounding how many run
        # at once bounds memory when extraction is slower than fetching (documents waiting for their host's
        # turn hold no body, so this can be generous).
        self._slots = asyncio.Semaphore(max(32, 4 * self.config.settings.concurrency))

    async def __aenter__(self) -> Monitor:
        if self.fetcher is None:
            self.fetcher = fetcher_for(self.config.settings)
            self._own_fetcher = True
        # Checkpoints of the archive's log wait for the disk: in a thread, not in the event loop.
        self._checkpoints = self.archive.background_checkpoints()
        self._checkpoints.__enter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._checkpoints is not None:
            self._checkpoints.__exit__(None, None, None)
            self._checkpoints = None
        if self._own_fetcher and self.fetcher is not None:
            await self.fetcher.aclose()
            self.fetcher = None
        if self.browser is not None:
            await self.browser.aclose()
        if self._own_executor and self.executor is not None:
            self.executor.shutdown(cancel_futures=True)

    async def check_all(self, documents: Sequence[DocumentSpec] | None = None) -> list[CheckSummary]:
        """Check the documents concurrently (politeness is the fetcher's job); results in input order."""
        documents = list(self.config.documents if documents is None else documents)
        self.archive.sync_documents(documents)
        return list(await asyncio.gather(*(self.check(doc) for doc in documents)))

    async def check(self, doc: DocumentSpec) -> CheckSummary:
        """Check one document and record what it learnt. Never raises for page problems.

        A suspect text is fetched again ``confirm_delay`` later (without holding a check slot meanwhile).
        """
        started = time.monotonic()
        async with self._slots:
            summary = await self._check_within_deadline(doc, started)
        if summary.outcome == "suspect" and self.confirm_delay is not None:
            await asyncio.sleep(self.confirm_delay)
            async with self._slots:
                summary = await self._check_within_deadline(doc, started)
        if self.on_result is not None:
            self.on_result(summary)
        return summary

    async def _check_within_deadline(self, doc: DocumentSpec, started: float) -> CheckSummary:
        try:
            async with asyncio.timeout(self.check_deadline):
                return await self._check(doc, started)
        except TimeoutError:
            return self._record_error(
                doc,
                self.archive.state(doc.id),
                [],
                "deadline",
                f"the check did not finish within {self.check_deadline:g} s",
                started,
            )

    # -- the steps ---------------------------------------------------------------------------------------

    async def _check(self, doc: DocumentSpec, started: float) -> CheckSummary:
        assert self.fetcher is not None, "use 'async with Monitor(...)'"
        state = self.archive.state(doc.id)
        now = self.now()
        full_fetch = (
            state.last_full_fetch_at is None
            or (now - state.last_full_fetch_at).total_seconds() >= self.config.settings.full_fetch_every
            or len(doc.sources) > 1
            or state.latest_version_id is None
            or state.suspect_sha256 is not None  # the confirming fetch must see the page itself, not a 304
        )
        results: list[FetchResult] = []
        for source in doc.sources:
            results.append(await self._fetch(doc, source, state, full_fetch))
        failed = next((r for r in results if r.outcome.is_error), None)
        if failed is not None:
            return self._record_error(doc, state, results, failed.outcome.value, _describe(failed), started)
        if all(r.outcome is FetchOutcome.NOT_MODIFIED for r in results):
            return self._record_simple(doc, state, results, "not_modified", started, full_fetch=False)

        same_bytes = tuple(r.body_sha256 for r in results) == state.latest_snapshots
        if same_bytes and state.latest_extractor_version == EXTRACTOR_VERSION:
            return self._record_simple(doc, state, results, "unchanged", started, full_fetch=full_fetch)

        pages = [
            (r.body or b"", r.content_type, r.charset, s) for r, s in zip(results, doc.sources, strict=True)
        ]
        versions: list[NewVersion] = []
        changes: list[NewChange] = []
        old_text: str | None = None
        if state.latest_version_id is not None and state.latest_extractor_version != EXTRACTOR_VERSION:
            old_text = self._current_text(doc, state, versions, changes)
        known_digest = state.text_digest if not versions else None
        # The worker also packs the bodies for storage, against their pages' keyframes, unless it has work
        # waiting: then this process packs them as it records them (see ``_worker_behind``).
        keyframes = None if self._worker_behind() else [self.archive.keyframe(doc.id, r.url) for r in results]
        first: Derived | None = None
        try:
            if state.latest_version_id is None:  # a first version: its text and its stance in one trip
                extracted, first = await self._run(extract_first, pages, keyframes, doc.service)
            else:
                extracted = await self._run(extract_text, pages, known_digest, keyframes)
        except Exception as exc:
            return self._record_error(doc, state, results, "extraction", _failure(exc, "extractor"), started)
        text, text_sha, digest = extracted.text, extracted.sha256, extracted.digest
        packed = dict(
            zip((r.body_sha256 for r in results), extracted.packed or [None] * len(results), strict=True)
        )
        current_sha = sha256_hex(old_text) if old_text is not None else state.latest_sha256
        # None: the same markup as the latest version's, so the same text (never with a re-derived version)
        same_text = text is None or (state.latest_version_id is not None and text_sha == current_sha)
        if same_text and not versions:  # nothing to analyse
            return self._record_simple(
                doc,
                state,
                results,
                "unchanged",
                started,
                full_fetch=full_fetch,
                text_digest=digest,
                packed=packed,
            )
        if same_text:  # only the re-derived (technical) version to record
            return self._record_versions(
                doc,
                state,
                results,
                versions,
                changes,
                None,
                started,
                full_fetch,
                text_digest=digest,
                packed=packed,
            )
        assert text is not None and text_sha is not None  # else same_text
        if old_text is None and state.latest_version_id is not None:
            old_text = self._current_text(doc, state, versions, changes)
        settings = self.config.settings
        if old_text is not None and text_sha != state.suspect_sha256:
            shrunk = len(text) < settings.suspect_shrink * len(old_text)
            if shrunk or settings.confirm_changes:  # hold it until a second fetch yields the same text
                note = (
                    _shrink_note(text, old_text)
                    if shrunk
                    else "new text held until a second fetch confirms it"
                )
                health_state, health_rows = self._health(doc, state, ok=True)
                self.archive.record_check(
                    CheckRecord(
                        document_id=doc.id,
                        checked_at=now,
                        outcome="suspect",
                        pages=_page_fetches(results, packed),
                        versions=versions,
                        changes=changes,
                        suspect_sha256=text_sha,
                        full_fetch=full_fetch,
                        health_state=health_state,
                        extra_deliveries=health_rows,
                    )
                )
                return self._summary(doc, "suspect", started, error=note)
        if first is not None:
            derived = first
        else:
            try:
                derived = await self._run(derive_from_text, text, old_text, doc.service)
            except Exception as exc:
                return self._record_error(doc, state, results, "analysis", _failure(exc, "analysis"), started)
        first_seen = state.suspect_since if text_sha == state.suspect_sha256 else None
        return self._record_versions(
            doc,
            state,
            results,
            versions,
            changes,
            derived,
            started,
            full_fetch,
            first_seen,
            text_digest=digest,
            packed=packed,
        )

    async def _fetch(
        self, doc: DocumentSpec, source: Any, state: DocumentState, full_fetch: bool
    ) -> FetchResult:
        assert self.fetcher is not None
        if doc.javascript is True:
            return await self._browser_fetch(doc, source, None)
        single = len(doc.sources) == 1
        result = await self.fetcher.fetch(
            source.url,
            headers=doc.headers,
            user_agent=doc.user_agent,
            timeout=doc.timeout,
            max_bytes=doc.max_bytes,
            etag=None if full_fetch or not single else state.etag,
            last_modified=None if full_fetch or not single else state.last_modified,
        )
        if doc.javascript is None and self.browser is not None:
            from .browser import needs_browser

            has_scripts = result.body is not None and page_has_scripts(result.body)
            empty = None
            if result.outcome is FetchOutcome.OK and has_scripts:
                try:
                    extract_pages([(result.body or b"", result.content_type, result.charset, source)])
                    empty = False
                except ExtractError:
                    empty = True
            if needs_browser(result, selected_text_empty=empty, has_scripts=has_scripts):
                return await self._browser_fetch(doc, source, result)
        return result

    async def _browser_fetch(self, doc: DocumentSpec, source: Any, plain: FetchResult | None) -> FetchResult:
        if self.browser is None:
            if plain is not None:
                return plain
            return FetchResult(
                url=source.url,
                outcome=FetchOutcome.NETWORK_ERROR,
                fetched_at=self.now(),
                error="this document needs a browser (javascript: true) but the browser fetcher is not "
                "enabled: pip install 'tosmonitor[browser]', install Chromium, and run with --browser",
            )
        wait_for = [s for s in source.rules.select if isinstance(s, str)]
        try:
            result = await self.browser.fetch(
                source.url,
                wait_for=wait_for,
                timeout=doc.timeout,
                user_agent=doc.user_agent,
                headers=dict(doc.headers),
            )
        except FetchError as exc:
            return FetchResult(
                url=source.url, outcome=FetchOutcome.NETWORK_ERROR, fetched_at=self.now(), error=str(exc)
            )
        if result.outcome is FetchOutcome.OK:  # a rendered bot check is still a bot check
            reason = classify_block(result.status or 200, result.content_type, result.text())
            if reason:
                return dataclasses.replace(
                    result,
                    outcome=FetchOutcome.BLOCKED,
                    error=f"the browser got a {reason}, not the document",
                )
        return result

    def _current_text(
        self, doc: DocumentSpec, state: DocumentState, versions: list[NewVersion], changes: list[NewChange]
    ) -> str | None:
        """The latest version's text, re-derived first when the extractor changed (a technical change)."""
        if state.latest_version_id is None:
            return None
        latest = self.archive.version(state.latest_version_id)
        if latest.extractor_version == EXTRACTOR_VERSION or latest.imported or not state.latest_snapshots:
            return latest.text
        try:
            pages = []
            for sha, source in zip(state.latest_snapshots, doc.sources, strict=False):
                body, content_type, charset = self.archive.snapshot(sha)
                pages.append((body, content_type, charset, source))
            rederived = extract_text(pages).text
        except Exception:  # an old snapshot the new extractor cannot read: keep the stored text
            return latest.text
        if rederived is None or rederived == latest.text:  # (None only when given a known digest)
            return latest.text
        text_diff = diff_texts(latest.text, rederived)
        versions.append(
            NewVersion(
                text=rederived,
                extractor_version=EXTRACTOR_VERSION,
                snapshots=state.latest_snapshots,
                technical=True,
                training=latest.training,
            )
        )
        changes.append(
            NewChange(
                severity="info",
                technical=True,
                headline="technical change: text re-derived by a new extractor",
                stats=stats_dict(text_diff),
                diff=stored_diff(text_diff),
            )
        )
        return rederived

    async def _run(self, func: Callable[..., Any], *args: Any) -> Any:
        """``func(*args)`` in the worker pool (or here, without one).

        A worker that stops (killed, out of memory, or crashed by a page) breaks the pool and every task in
        it: a new pool is started and the task runs again once. Twice broken, it raises ``WorkerStopped``.
        """
        if self.executor is None:
            return func(*args)
        for _attempt in range(2):
            executor = self.executor
            try:
                future = executor.submit(func, *args)
                # Counted until the executor has the result (its own thread marks it done), not until this
                # event loop gets round to it: a busy loop must not make the workers look behind.
                self._in_executor.add(future)
                future.add_done_callback(self._in_executor.discard)
                return await asyncio.wrap_future(future)
            except BrokenProcessPool:
                self._replace_executor(executor)
        raise WorkerStopped("the worker process stopped twice while reading this page; a new one was started")

    def _replace_executor(self, broken: Executor) -> None:
        """A new worker pool in place of ``broken`` (once, however many of its tasks report it)."""
        if self.executor is not broken:
            return
        workers = getattr(broken, "_max_workers", 1)
        broken.shutdown(wait=False, cancel_futures=True)
        self.executor = make_executor(workers, workers)
        self._own_executor = True

    def _worker_behind(self) -> bool:
        """Whether the worker processes have a backlog (more than ``WORKER_BACKLOG`` unfinished tasks each).
        The checking process then packs the fetched bodies itself: on a first pass the worker, which renders
        and analyses every page, sets the pace, while this process has time to spare."""
        if self.executor is None:
            return False
        return len(self._in_executor) > WORKER_BACKLOG * getattr(self.executor, "_max_workers", 1)

    # -- recording ---------------------------------------------------------------------------------------

    def _health(
        self,
        doc: DocumentSpec,
        state: DocumentState,
        *,
        ok: bool,
        error_class: str | None = None,
        error: str | None = None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        previous = (
            HealthState(**state.health_state)
            if state.health_state
            else HealthState(
                consecutive_failures=state.consecutive_failures,
                failing_alerted=False,
                last_success_at=iso(state.last_success_at),
                last_error_class=None,
                last_error=None,
                stale_alerted=False,
            )
        )
        new_state, event = next_health(
            previous,
            ok=ok,
            error_class=error_class,
            error=error,
            now=self.now(),
            threshold=self.config.settings.health_after,
        )
        rows: list[dict[str, Any]] = []
        if event is not None:
            event.update(
                {"document_id": doc.id, "service": doc.service, "document": doc.name, "url": doc.url}
            )
            rows = plan_deliveries(event, self.config.channels, self.now())
        return _asdict(new_state), rows

    def _record_error(
        self,
        doc: DocumentSpec,
        state: DocumentState,
        results: list[FetchResult],
        error_class: str,
        error: str,
        started: float,
    ) -> CheckSummary:
        health_state, rows = self._health(doc, state, ok=False, error_class=error_class, error=error)
        pages = [PageFetch(r) for r in results]
        if not pages:  # deadline hit before any page came back: still log the attempt
            pages = [
                PageFetch(
                    FetchResult(url=doc.url, outcome=FetchOutcome.TIMEOUT, fetched_at=self.now(), error=error)
                )
            ]
        self.archive.record_check(
            CheckRecord(
                document_id=doc.id,
                checked_at=self.now(),
                outcome="error",
                pages=pages,
                error_class=error_class,
                error=error,
                health_state=health_state,
                extra_deliveries=rows,
            )
        )
        return self._summary(doc, "error", started, error_class=error_class, error=error)

    def _record_simple(
        self,
        doc: DocumentSpec,
        state: DocumentState,
        results: list[FetchResult],
        outcome: str,
        started: float,
        *,
        full_fetch: bool,
        text_digest: str | None = None,
        packed: dict[str, Packed | None] | None = None,
    ) -> CheckSummary:
        health_state, rows = self._health(doc, state, ok=True)
        self.archive.record_check(
            CheckRecord(
                document_id=doc.id,
                checked_at=self.now(),
                outcome=outcome,
                pages=_page_fetches(results, packed),
                full_fetch=full_fetch and outcome != "not_modified",
                health_state=health_state,
                extra_deliveries=rows,
                suspect_sha256=None,
                text_digest=text_digest,
            )
        )
        return self._summary(doc, outcome, started, version_id=state.latest_version_id)

    def _record_versions(
        self,
        doc: DocumentSpec,
        state: DocumentState,
        results: list[FetchResult],
        versions: list[NewVersion],
        changes: list[NewChange],
        derived: Derived | None,
        started: float,
        full_fetch: bool,
        first_seen: datetime | None = None,
        *,
        text_digest: str | None = None,
        packed: dict[str, Packed | None] | None = None,
    ) -> CheckSummary:
        now = self.now()
        snapshots = tuple(r.body_sha256 for r in results)
        comparison = derived.comparison if derived else None
        event_template: dict[str, Any] | None = None
        if derived is not None:
            versions.append(
                NewVersion(
                    text=derived.text,
                    extractor_version=EXTRACTOR_VERSION,
                    snapshots=snapshots,
                    first_seen_at=first_seen,
                    training=(derived.stance or {}).get("training"),
                    stance=derived.stance,
                    sha256=derived.sha256,
                    text_z=derived.text_z,
                )
            )
            if comparison is not None:
                change = new_change(derived)
                assert change is not None
                changes.append(change)
                event_template = change_event(
                    doc, change, derived.excerpt, now, self.config.settings.web_base_url
                )
        health_state, health_rows = self._health(doc, state, ok=True)

        def deliveries(version_ids: list[int], change_ids: list[int]) -> list[dict[str, Any]]:
            if event_template is None or not change_ids:
                return []
            event = dict(event_template)
            event["change_id"] = change_ids[-1]
            event["event_id"] = f"change:{change_ids[-1]}"
            event["to_version"] = version_ids[-1]
            event["from_version"] = version_ids[-2] if len(version_ids) > 1 else state.latest_version_id
            event["links"] = _links(
                doc.id,
                event["from_version"],
                event["to_version"],
                change_ids[-1],
                self.config.settings.web_base_url,
            )
            return plan_deliveries(event, self.config.channels, now)

        recorded = self.archive.record_check(
            CheckRecord(
                document_id=doc.id,
                checked_at=now,
                outcome="changed",
                pages=_page_fetches(results, packed),
                versions=versions,
                changes=changes,
                full_fetch=full_fetch,
                health_state=health_state,
                deliveries=deliveries,
                extra_deliveries=health_rows,
                text_digest=text_digest,
            )
        )
        first = state.latest_version_id is None
        last_change = changes[-1] if changes else None
        return self._summary(
            doc,
            "first" if first else "changed",
            started,
            version_id=recorded.version_ids[-1] if recorded.version_ids else None,
            change_id=recorded.change_ids[-1] if recorded.change_ids else None,
            severity=last_change.severity if last_change else None,
            headline=last_change.headline if last_change else None,
            ai_training_change=bool(last_change and last_change.ai_training_change),
            technical=bool(last_change and last_change.technical),
        )

    def _summary(self, doc: DocumentSpec, outcome: str, started: float, **fields: Any) -> CheckSummary:
        return CheckSummary(
            document_id=doc.id,
            service=doc.service,
            name=doc.name,
            outcome=outcome,
            elapsed=round(time.monotonic() - started, 4),
            **fields,
        )


def change_event(
    doc: DocumentSpec, change: NewChange, diff_excerpt: str | None, now: datetime, web_base_url: str | None
) -> dict[str, Any]:
    """The alert event for a recorded change (ids are filled in inside the transaction)."""
    return {
        "kind": "change",
        "event_id": None,
        "change_id": None,
        "document_id": doc.id,
        "service": doc.service,
        "document": doc.name,
        "url": doc.url,
        "detected_at": iso(now),
        "severity": change.severity,
        "ai_training_change": change.ai_training_change,
        "cosmetic": change.cosmetic,
        "technical": change.technical,
        "headline": change.headline,
        "stance_before": change.stance_before,
        "stance_after": change.stance_after,
        "findings": change.findings,
        "stats": change.stats,
        "diff_excerpt": diff_excerpt,
        "from_version": None,
        "to_version": None,
        "links": {},
    }


def _links(doc_id: str, old: int | None, new: int | None, change_id: int, base: str | None) -> dict[str, Any]:
    return {
        "cli": f"tosmonitor diff {doc_id} {old} {new}",
        "web": f"{base.rstrip('/')}/changes/{change_id}" if base else None,
    }


def _page_fetches(results: list[FetchResult], packed: dict[str, Packed | None] | None) -> list[PageFetch]:
    """The pages of a check as the archive records them, with the bodies a worker already packed."""
    packed = packed or {}
    return [PageFetch(r, packed=packed.get(r.body_sha256) if r.body is not None else None) for r in results]


def _describe(result: FetchResult) -> str:
    if result.error:
        return result.error
    if result.status:
        return f"HTTP {result.status} from {result.url}"
    return f"{result.outcome.value} fetching {result.url}"


def _shrink_note(new: str, old: str) -> str:
    return (
        f"text shrank from {len(old)} to {len(new)} characters; held as suspect until the next fetch "
        "confirms it"
    )


def _asdict(state: Any) -> dict[str, Any]:
    return {key: getattr(state, key) for key in state.__dataclass_fields__}


async def run_check(
    config: Config,
    archive: Archive,
    documents: Sequence[DocumentSpec] | None = None,
    *,
    on_result: Callable[[CheckSummary], None] | None = None,
    executor: Executor | None = None,
    fetcher: Fetcher | None = None,
    browser: Any = None,
) -> list[CheckSummary]:
    """One pass over the documents (all of the configuration's by default)."""
    async with Monitor(
        config, archive, fetcher=fetcher, browser=browser, executor=executor, on_result=on_result
    ) as monitor:
        return await monitor.check_all(documents)


def select_documents(config: Config, only: Sequence[str]) -> list[DocumentSpec]:
    """The documents named by ``--only`` values: a service, a document id, or "Service/Document"."""
    if not only:
        return list(config.documents)
    chosen: list[DocumentSpec] = []
    for wanted in only:
        key = wanted.strip().lower()
        matches = [
            doc
            for doc in config.documents
            if key
            in (
                doc.id.lower(),
                doc.service.lower(),
                f"{doc.service}/{doc.name}".lower(),
                doc.id.split("/")[0].lower(),
            )
        ]
        if not matches:
            raise KeyError(wanted)
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def deliver_and_watch(config: Config, db_path: str, now: Callable[[], datetime] = utcnow) -> dict[str, Any]:
    """Raise "stale" health alerts, then send the due deliveries (cron runs and the daemon alike).

    Opens its own connection, so the daemon can run it in a worker thread.
    """
    from .notify.channels import build_channel  # channels and the sender load only when alerts go out
    from .notify.outbox import deliver_pending

    archive = Archive(db_path)
    try:
        stale = 0
        for doc in archive.documents(active_only=True):
            if not doc["health_state"]:
                continue
            state = HealthState(**json.loads(doc["health_state"]))
            new_state, event = stale_event(
                doc, state, now=now(), watchdog_after=config.settings.watchdog_after
            )
            if new_state != state or event is not None:
                rows = []
                if event is not None:
                    event.update(
                        {
                            "document_id": doc["id"],
                            "service": doc["service"],
                            "document": doc["name"],
                            "url": doc["url"],
                        }
                    )
                    rows = plan_deliveries(event, config.channels, now())
                    stale += 1
                archive.update_health_state(doc["id"], dataclasses.asdict(new_state), rows)
        report: dict[str, Any] = {"stale": stale}
        if config.channels:
            channels = {spec.name: build_channel(spec) for spec in config.channels}
            result = deliver_pending(archive.db, channels)
            report.update(result.to_dict())
        return report
    finally:
        archive.close()
