# SPDX-License-Identifier: Apache-2.0
"""The whole pipeline against a real local HTTP server and a real SQLite archive."""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import json
import multiprocessing
import os
import signal
import threading
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from localserver import Response
from tosmonitor import derive as derive_module
from tosmonitor import monitor as monitor_module
from tosmonitor.archive import Archive, CheckRecord, NewChange, NewVersion
from tosmonitor.codec import decompress
from tosmonitor.fetch import Fetcher
from tosmonitor.models import ChannelSpec, Config, DocumentSpec, Rules, Settings, Source
from tosmonitor.monitor import Monitor, make_executor

POLICY = """<html><head><title>Acme</title></head><body>
<nav><a href="/">Home</a> <a href="/jobs">Jobs</a></nav>
<main>
<h1>Acme Privacy Policy</h1>
<p>We collect your name, your e-mail address and the content you post.</p>
<h2>How we use data</h2>
<ul><li>To provide the service.</li><li>To keep the service safe.</li></ul>
{extra}
<p>Contact us at privacy@acme.example for any question about this policy.</p>
</main>
<footer>Generated {nonce}</footer>
</body></html>"""

TRAINING = (
    "<p>We use the content you post to train our artificial intelligence models by default. "
    "You can opt out at any time in your settings.</p>"
)


def page(extra: str = "", nonce: str = "1") -> bytes:
    return POLICY.replace("{extra}", extra).replace("{nonce}", nonce).encode()


def make_config(server, *, paths=("/privacy",), select=("main",), channels=(), **settings) -> Config:
    documents = tuple(
        DocumentSpec(
            id=f"acme/doc{i}",
            service="Acme",
            name=f"Doc {i}",
            sources=(Source(url=server.url(path), rules=Rules(select=tuple(select))),),
            timeout=5.0,
        )
        for i, path in enumerate(paths)
    )
    defaults = {"host_spacing": 0.0, "retries": 1, "health_after": 2, "confirm_delay": 0.0}
    defaults.update(settings)
    return Config(path="test", documents=documents, channels=tuple(channels), settings=Settings(**defaults))


class Clock:
    def __init__(self) -> None:
        self.moment = datetime(2025, 3, 1, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


def run(
    config: Config,
    archive: Archive,
    clock: Clock | None = None,
    *,
    confirm_now: bool = True,
    executor: Executor | None = None,
):
    """One pass; ``confirm_now=False`` leaves a suspect text for the next pass to confirm."""

    async def go():
        async with Fetcher(host_spacing=0.0, retries=config.settings.retries, backoff_base=0.01) as fetcher:
            kwargs: dict = {"now": clock} if clock else {}
            if not confirm_now:
                kwargs["confirm_delay"] = None
            if executor is not None:
                kwargs["executor"] = executor
            async with Monitor(config, archive, fetcher=fetcher, **kwargs) as monitor:
                return await monitor.check_all()

    return asyncio.run(go())


@pytest.fixture
def archive(tmp_path: Path):
    with Archive(tmp_path / "archive.db") as opened:
        yield opened


def test_first_record_then_unchanged_then_changed(local_server, archive):
    local_server.set("/privacy", page())
    config = make_config(local_server)
    [first] = run(config, archive)
    assert first.outcome == "first" and first.version_id
    [same] = run(config, archive)
    assert same.outcome == "unchanged"
    local_server.set("/privacy", page(TRAINING))
    [changed] = run(config, archive)
    assert changed.outcome == "changed" and changed.change_id
    change = archive.change(changed.change_id)
    assert change["stats"]["sentences_added"] >= 1
    assert change["ai_training_change"] is True
    assert change["training_before"] == "none" and change["training_after"] == "opt-out"
    assert archive.db["versions"].count == 2
    assert "train our artificial intelligence" in archive.latest_version("acme/doc0").text
    assert archive.integrity_problems() == []


def test_markup_only_changes_and_nonces_make_no_version(local_server, archive):
    local_server.set("/privacy", page(nonce="aaa"))
    config = make_config(local_server)
    run(config, archive)
    redesigned = page(nonce="bbb").replace(b"<p>We collect", b"<p class='lead'><span>We collect</span>")
    redesigned = redesigned.replace(b"</span> your name", b" your name")
    local_server.set("/privacy", redesigned)
    [summary] = run(config, archive)
    assert summary.outcome == "unchanged"
    assert archive.db["versions"].count == 1
    assert archive.db["snapshots"].count == 2, "every distinct raw page is kept"


def test_not_modified_with_etag(local_server, archive):
    local_server.set("/privacy", page(), etag=True)
    config = make_config(local_server)
    run(config, archive)
    [again] = run(config, archive)
    # the first check was a full fetch: the next one sends If-None-Match and gets 304
    assert again.outcome == "not_modified"
    assert local_server.requests_to("/privacy")[-1].header("If-None-Match")


def test_full_fetch_is_forced_once_a_day_even_with_validators(local_server, archive):
    local_server.set("/privacy", page(), etag=True)
    clock = Clock()
    config = make_config(local_server)
    run(config, archive, clock)
    clock.advance(hours=25)
    [summary] = run(config, archive, clock)
    assert summary.outcome == "unchanged"
    assert local_server.requests_to("/privacy")[-1].header("If-None-Match") is None


def test_redirect_records_the_final_url(local_server, archive):
    local_server.set("/new-privacy", page())
    local_server.redirect("/privacy", "/new-privacy")
    config = make_config(local_server)
    [summary] = run(config, archive)
    assert summary.outcome == "first"
    assert archive.fetches("acme/doc0")[0]["final_url"].endswith("/new-privacy")


def test_transient_500_is_retried(local_server, archive):
    local_server.set_sequence("/privacy", [Response(status=500), Response(body=page())])
    config = make_config(local_server)
    [summary] = run(config, archive)
    assert summary.outcome == "first"
    assert archive.fetches("acme/doc0")[0]["attempts"] == 2


def test_captcha_page_is_an_error_not_a_version(local_server, archive):
    local_server.set("/privacy", page())
    config = make_config(local_server)
    run(config, archive)
    captcha = (
        b"<html><head><title>Just a moment...</title></head><body><h1>Checking your browser before "
        b"accessing</h1><p>Please verify you are human.</p><div class='cf-challenge'></div></body></html>"
    )
    local_server.set("/privacy", captcha, status=200)
    [summary] = run(config, archive)
    assert summary.outcome == "error" and summary.error_class == "blocked"
    assert archive.db["versions"].count == 1
    assert archive.document("acme/doc0")["consecutive_failures"] == 1


def test_selector_matching_nothing_is_an_extraction_error(local_server, archive):
    local_server.set("/privacy", page())
    config = make_config(local_server, select=("#no-such-element",))
    [summary] = run(config, archive)
    assert summary.outcome == "error" and summary.error_class == "extraction"
    assert "no-such-element" in summary.error
    assert archive.db["versions"].count == 0
    assert archive.db["snapshots"].count == 1, "the raw page is kept for inspection"


def test_sudden_shrink_is_suspect_until_confirmed(local_server, archive):
    long_extra = "".join(f"<p>Section {i}: we describe another use of your data here.</p>" for i in range(40))
    local_server.set("/privacy", page(long_extra))
    config = make_config(local_server)
    run(config, archive)
    local_server.set("/privacy", page())  # most of the text gone: a broken render, or a real rewrite?
    [suspect] = run(config, archive, confirm_now=False)
    assert suspect.outcome == "suspect"
    assert archive.db["versions"].count == 1
    [confirmed] = run(config, archive, confirm_now=False)
    assert confirmed.outcome == "changed"
    assert archive.db["versions"].count == 2


def test_shrink_that_goes_away_records_nothing(local_server, archive):
    long_extra = "".join(f"<p>Section {i}: we describe another use of your data here.</p>" for i in range(40))
    local_server.set("/privacy", page(long_extra))
    config = make_config(local_server)
    run(config, archive)
    local_server.set("/privacy", page())
    assert run(config, archive, confirm_now=False)[0].outcome == "suspect"
    local_server.set("/privacy", page(long_extra))
    assert run(config, archive, confirm_now=False)[0].outcome == "unchanged"
    assert archive.db["versions"].count == 1
    assert archive.db["changes"].count == 0


def test_non_utf8_page(local_server, archive):
    body = page("<p>Données personnelles traitées à Zürich.</p>").decode().encode("windows-1252")
    local_server.set("/privacy", body, content_type="text/html; charset=windows-1252")
    config = make_config(local_server)
    run(config, archive)
    assert "Données personnelles traitées à Zürich" in archive.latest_version("acme/doc0").text


def test_a_new_extractor_records_a_technical_change_not_an_alert(local_server, archive, monkeypatch):
    local_server.set("/privacy", page())
    log = ChannelSpec(name="log", type="log", options={"stream": "stderr"})
    config = make_config(local_server, channels=[log])
    run(config, archive)
    # Pretend the stored version came from an older extractor that lost the list items.
    original = archive.latest_version("acme/doc0")
    monkeypatch.setattr(monitor_module, "EXTRACTOR_VERSION", "next")
    real_extract = derive_module.extract_pages_digest

    def next_extractor(pages, known=None):
        text, digest = real_extract(pages, known)
        return (text.replace("safe", "secure") if text else text), digest

    monkeypatch.setattr(derive_module, "extract_pages_digest", next_extractor)
    [summary] = run(config, archive)
    assert summary.technical is True
    change = archive.changes("acme/doc0")[-1]
    assert change["technical"] is True
    assert archive.latest_version("acme/doc0").text == original.text.replace("safe", "secure")
    assert archive.db["deliveries"].count == 0, "a technical change is never alerted"


def test_changes_queue_deliveries_in_the_same_transaction(local_server, archive):
    local_server.set("/privacy", page())
    log = ChannelSpec(name="log", type="log", options={"stream": "stderr"})
    config = make_config(local_server, channels=[log])
    run(config, archive)
    local_server.set("/privacy", page(TRAINING))
    [changed] = run(config, archive)
    rows = list(archive.db.query("SELECT * FROM deliveries"))
    assert len(rows) == 1
    assert rows[0]["change_id"] == changed.change_id and rows[0]["status"] == "pending"
    assert rows[0]["severity"] in ("high", "critical")


def test_health_alert_after_consecutive_failures_and_one_recovery(local_server, archive):
    local_server.set("/privacy", page())
    log = ChannelSpec(name="log", type="log", options={"stream": "stderr"})
    config = make_config(local_server, channels=[log], health_after=2, retries=0)
    run(config, archive)
    local_server.set("/privacy", b"gone", status=404)
    for _ in range(4):
        assert run(config, archive)[0].outcome == "error"
    local_server.set("/privacy", page())
    assert run(config, archive)[0].outcome == "unchanged"
    kinds = [
        (row["event_kind"], row["payload"])
        for row in archive.db.query("SELECT event_kind, payload FROM deliveries ORDER BY id")
    ]
    states = [p for k, p in kinds if k == "health"]
    assert len(states) == 2, kinds
    assert '"failing"' in states[0] and '"recovered"' in states[1]


def test_politeness_one_request_at_a_time_per_host(local_server, archive):
    paths = [f"/p{i}" for i in range(4)]
    for path in paths:
        local_server.set(path, page(), delay=0.1)
    config = make_config(local_server, paths=paths)
    run(config, archive)
    spans = sorted((r.started, r.finished) for r in local_server.requests)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end - 0.005, "two requests to one host overlapped"


def test_a_page_that_blinks_records_no_version(local_server, archive):
    local_server.set("/privacy", page())
    config = make_config(local_server)
    run(config, archive)
    # An A/B test or a stale cache node: the other text is served once, then the usual one again.
    local_server.set_sequence("/privacy", [Response(body=page(TRAINING)), Response(body=page())])
    [summary] = run(config, archive)
    assert summary.outcome == "unchanged"
    assert archive.db["versions"].count == 1
    assert archive.db["changes"].count == 0
    assert [f["outcome"] for f in archive.fetches("acme/doc0")][:2] == ["unchanged", "suspect"]
    assert archive.db["snapshots"].count == 2, "the blinking page is still archived raw"


def test_a_confirmed_change_keeps_the_time_it_was_first_seen(local_server, archive):
    local_server.set("/privacy", page())
    clock = Clock()
    config = make_config(local_server)
    run(config, archive, clock)
    local_server.set("/privacy", page(TRAINING))
    clock.advance(hours=12)
    first_seen = clock.moment
    assert run(config, archive, clock, confirm_now=False)[0].outcome == "suspect"
    clock.advance(hours=12)
    [confirmed] = run(config, archive, clock, confirm_now=False)
    assert confirmed.outcome == "changed"
    version = archive.latest_version("acme/doc0")
    assert version.first_seen_at.startswith(first_seen.isoformat()[:19])


def test_a_pdf_document_is_versioned_from_its_text(local_server, archive):
    from test_extract import make_pdf

    local_server.set(
        "/terms.pdf",
        make_pdf(["Acme Terms of Service", "We may use your uploads to train our models."]),
        content_type="application/pdf",
    )
    config = make_config(local_server, paths=("/terms.pdf",), select=())
    [summary] = run(config, archive)
    assert summary.outcome == "first", summary
    text = archive.latest_version("acme/doc0").text
    assert "Acme Terms of Service" in text and "train our models" in text
    assert archive.fetches("acme/doc0")[0]["bytes"] > 0
    snapshot = archive.db.execute("SELECT content_type FROM snapshots").fetchone()[0]
    assert snapshot == "application/pdf"


def test_an_oversized_page_is_an_error_and_stores_nothing(local_server, archive):
    local_server.set("/privacy", page("<p>" + "word " * 50_000 + "</p>"))
    config = make_config(local_server)
    doc = config.documents[0]
    small = Config(
        path="t", documents=(dataclasses.replace(doc, max_bytes=10_000),), settings=config.settings
    )
    [summary] = run(small, archive)
    assert summary.outcome == "error" and summary.error_class == "too_large"
    assert archive.db["snapshots"].count == 0 and archive.db["versions"].count == 0


def test_watchdog_raises_one_stale_alert_then_one_recovery(local_server, archive):
    from tosmonitor.monitor import deliver_and_watch

    local_server.set("/privacy", page())
    clock = Clock()
    log = ChannelSpec(name="log", type="log", options={"stream": "stderr"})
    config = make_config(local_server, channels=[log], watchdog_after=3 * 86400.0)
    run(config, archive, clock)

    def health_states() -> list[str]:
        rows = archive.db.execute("SELECT payload FROM deliveries WHERE event_kind = 'health' ORDER BY id")
        return [json.loads(row[0])["state"] for row in rows]

    clock.advance(days=2)
    deliver_and_watch(config, str(archive.path), now=clock)
    assert health_states() == []
    clock.advance(days=2)  # four days without a successful check
    for _ in range(2):  # the same state twice: one alert
        deliver_and_watch(config, str(archive.path), now=clock)
    assert health_states() == ["stale"]
    run(config, archive, clock)
    assert health_states() == ["stale", "recovered"]


def test_an_unchanged_dynamic_page_is_not_rendered_again(local_server, archive, monkeypatch):
    from tosmonitor import extract as extract_module

    local_server.set("/privacy", page(nonce="first-request"))
    config = make_config(local_server)
    run(config, archive)
    assert archive.state("acme/doc0").text_digest is not None
    renders = []
    real_render = extract_module._render_selected
    monkeypatch.setattr(
        extract_module, "_render_selected", lambda *args: renders.append(1) or real_render(*args)
    )
    local_server.set("/privacy", page(nonce="second-request"))  # new bytes, same selected markup
    [same] = run(config, archive)
    assert same.outcome == "unchanged" and renders == []
    local_server.set("/privacy", page(TRAINING, nonce="third-request"))
    [changed] = run(config, archive)
    assert changed.outcome == "changed" and renders, "new markup in the selection is rendered"
    assert archive.state("acme/doc0").text_digest is not None


def test_the_markup_digest_only_vouches_for_the_version_it_was_taken_with(local_server, archive):
    local_server.set("/privacy", page())
    config = make_config(local_server)
    run(config, archive)
    assert archive.state("acme/doc0").text_digest is not None
    # another version becomes the latest (as an import would make it): the digest no longer applies
    archive.record_check(
        CheckRecord(
            document_id="acme/doc0",
            checked_at=datetime(2025, 3, 2, tzinfo=UTC),
            outcome="changed",
            versions=[NewVersion(text="# Imported\n\nOther text.\n", extractor_version="1", imported=True)],
            changes=[NewChange(severity="low")],
        )
    )
    assert archive.state("acme/doc0").text_digest is None
    local_server.set("/privacy", page(nonce="later"))
    [summary] = run(config, archive)
    assert summary.outcome == "changed", "the page is compared with the imported text, not skipped"


def test_the_worker_pool_starts_its_workers_before_the_first_page_arrives():
    before = {p.pid for p in multiprocessing.active_children()}
    pool = make_executor(2, 100)
    assert pool is not None
    try:
        started = {p.pid for p in multiprocessing.active_children()} - before
        assert len(started) == 2, "both workers start (and load the extractor) at once"
        loaded = pool.submit(
            eval,
            "sorted(m for m in ('tosmonitor.derive', 'tosmonitor.monitor', 'tosmonitor.archive', 'httpx', "
            "'aiohttp') "
            "if m in __import__('sys').modules)",
        ).result(timeout=60)
        assert loaded == ["tosmonitor.derive"], "loaded for the work, and nothing a worker never uses"
    finally:
        pool.shutdown()
    assert make_executor(None, 3) is None, "for a few documents a worker does not pay for its start"


class TripLog(Executor):
    """Runs each task at once, in this process, and notes the name of the function each trip to it runs."""

    def __init__(self) -> None:
        self.trips: list[str] = []

    def submit(self, fn, /, *args, **kwargs) -> Future:
        self.trips.append(fn.__name__)
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def test_a_first_version_takes_one_trip_to_the_worker_and_a_change_two(local_server, archive):
    local_server.set("/privacy", page(TRAINING))
    config = make_config(local_server)
    log = TripLog()
    [first] = run(config, archive, executor=log)
    assert first.outcome == "first" and log.trips == ["extract_first"], "text and stance in one trip"
    stored = archive.latest_version("acme/doc0")
    assert stored.training == "opt-out", "the stance made in that trip is recorded with the version"
    log.trips.clear()
    local_server.set("/privacy", page())
    [changed] = run(config, archive, executor=log)
    assert changed.outcome == "changed"
    # extracted, held as suspect, extracted again to confirm it, then compared with the old text
    assert log.trips == ["extract_text", "extract_text", "derive_from_text"]


def test_a_first_version_in_one_trip_is_what_extraction_then_derivation_give():
    source = Source(url="https://acme.example/privacy", rules=Rules(select=("main",)))
    pages = [(page(TRAINING), "text/html", "utf-8", source)]
    extracted, first = derive_module.extract_first(pages, [None], "Acme")
    assert extracted == derive_module.extract_text(pages, None, [None])
    derived = derive_module.derive_from_text(extracted.text, None, "Acme")
    assert first == derived and first.stance["training"] == "opt-out"
    assert first.text_z is not None
    assert decompress(first.text_z, "zstd").decode() == extracted.text, "compressed for the archive"


class GatedPool(ThreadPoolExecutor):
    """One worker that starts only when ``gate`` opens, noting for each extraction whether it was asked to
    pack the bodies too (keyframes given) or left that to the checking process."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.gate = threading.Event()
        self.worker_packs: list[bool] = []

    def submit(self, fn, /, *args, **kwargs) -> Future:
        if fn.__name__ in ("extract_first", "extract_text"):
            self.worker_packs.append(args[1 if fn.__name__ == "extract_first" else 2] is not None)

        def gated(*call_args):
            self.gate.wait(10)
            return fn(*call_args)

        return super().submit(gated, *args, **kwargs)


def test_bodies_are_packed_by_the_checking_process_while_the_worker_is_behind(local_server, archive):
    paths = [f"/doc{i}" for i in range(12)]
    for n, path in enumerate(paths):
        local_server.set(path, page(f"<p>Document {n}.</p>"))
    config = make_config(local_server, paths=paths)
    pool = GatedPool()
    threading.Timer(1.0, pool.gate.set).start()  # a backlog builds up while the worker is held
    try:
        results = run(config, archive, executor=pool)
    finally:
        pool.shutdown()
    assert [r.outcome for r in results] == ["first"] * 12
    backlog = monitor_module.WORKER_BACKLOG
    assert all(pool.worker_packs[: backlog + 1]), "the worker packs while it keeps up"
    assert False in pool.worker_packs, "past a backlog the checking process packs"
    for n in range(len(paths)):  # wherever they were packed, the bodies read back exactly
        fetch = archive.fetches(f"acme/doc{n}")[0]
        assert archive.snapshot(fetch["snapshot_sha256"])[0] == page(f"<p>Document {n}.</p>")


@pytest.mark.skipif(not hasattr(fcntl, "F_GETPIPE_SZ"), reason="pipe sizes are a Linux feature")
def test_the_worker_pool_pipes_hold_a_whole_page():
    pool = make_executor(1, 100)
    assert pool is not None
    try:
        for queue in (pool._call_queue, pool._result_queue):
            size = fcntl.fcntl(queue._reader.fileno(), fcntl.F_GETPIPE_SZ)
            assert size >= min(monitor_module.PIPE_SIZE, _pipe_max_size()) > 64 * 1024
        assert pool.submit(len, b"x" * 300_000).result(timeout=60) == 300_000
    finally:
        pool.shutdown()


def _pipe_max_size() -> int:
    return int(Path("/proc/sys/fs/pipe-max-size").read_text())


def test_a_worker_that_stops_is_replaced_and_the_checks_go_on(local_server, archive):
    local_server.set("/privacy", page())
    config = make_config(local_server)
    before = {p.pid for p in multiprocessing.active_children()}
    pool = make_executor(1, 100)
    assert pool is not None
    try:
        [first] = run(config, archive, executor=pool)
        assert first.outcome == "first"
        [worker] = [p for p in multiprocessing.active_children() if p.pid not in before]
        os.kill(worker.pid, signal.SIGKILL)  # as the out-of-memory killer would
        worker.join(10)
        local_server.set("/privacy", page(TRAINING))
        [changed] = run(config, archive, executor=pool)
    finally:
        pool.shutdown()
    assert changed.outcome == "changed", changed.error
    assert archive.change(changed.change_id)["ai_training_change"] is True
    assert not [p for p in multiprocessing.active_children() if p.pid not in before], (
        "the pool started in place of the broken one was shut down with its monitor"
    )


def test_a_task_that_stops_the_worker_every_time_fails_alone(local_server, archive):
    config = make_config(local_server)

    async def go():
        pool = make_executor(1, 100)
        async with Monitor(config, archive, executor=pool) as monitor:
            try:
                with pytest.raises(monitor_module.WorkerStopped, match="stopped twice"):
                    await monitor._run(os._exit, 3)  # a page that crashes the worker, each time
                assert monitor.executor is not pool
                return await monitor._run(len, "the next page")
            finally:
                assert pool is not None
                pool.shutdown()

    assert asyncio.run(go()) == len("the next page"), "the next task runs in a new worker"


class FailingPool(ThreadPoolExecutor):
    """Extraction that fails with an unexpected error for the pages whose body holds ``poison``."""

    def __init__(self, poison: bytes) -> None:
        super().__init__(max_workers=1)
        self.poison = poison

    def submit(self, fn, /, *args, **kwargs) -> Future:
        poisoned = fn.__name__ == "extract_first" and self.poison in args[0][0][0]
        if poisoned or fn.__name__ == "derive_from_text" and self.poison.decode() in args[0]:

            def bug(*_args):
                raise ValueError("a bug this page brings out")

            return super().submit(bug)
        return super().submit(fn, *args, **kwargs)


def test_a_page_that_brings_out_a_bug_is_an_error_of_its_own(local_server, archive):
    local_server.set("/good", page())
    local_server.set("/odd", page("<p>An odd page.</p>"))
    config = make_config(local_server, paths=("/good", "/odd"))
    pool = FailingPool(b"An odd page")
    try:
        good, odd = run(config, archive, executor=pool)
    finally:
        pool.shutdown()
    assert good.outcome == "first"
    assert (odd.outcome, odd.error_class) == ("error", "extraction")
    assert odd.error == "the extractor failed on this page (ValueError: a bug this page brings out)"
    assert archive.state("acme/doc1").consecutive_failures == 1
    assert archive.fetches("acme/doc1")[0]["error"] == odd.error, "the attempt is in the fetch log"
    # the same bug in comparing a changed page with its last version
    local_server.set("/good", page("<p>Now an odd page.</p>"))
    pool = FailingPool(b"odd page")
    try:
        changed, _ = run(config, archive, executor=pool)
    finally:
        pool.shutdown()
    assert (changed.outcome, changed.error_class) == ("error", "analysis")
    assert changed.error == "the analysis failed on this page (ValueError: a bug this page brings out)"


def test_a_first_record_along_a_history_is_read_once():
    # An import derives v1 (a first record), then v1 -> v2 with the same History: v1's reading is reused.
    policies = Path(__file__).resolve().parent.parent / "fixtures" / "policies" / "pro-network"
    v1, v2 = ((policies / name).read_text(encoding="utf-8") for name in ("v1.md", "v2.md"))
    history = derive_module.analysis.History()
    first = derive_module.derive_from_text(v1, None, "Trellis", history)
    assert first.stance == derive_module.derive_from_text(v1, None, "Trellis").stance
    assert v1 in history.profiles, "kept for the comparison that follows"
    change = derive_module.derive_from_text(v2, v1, "Trellis", history)
    assert change.comparison == derive_module.derive_from_text(v2, v1, "Trellis").comparison
