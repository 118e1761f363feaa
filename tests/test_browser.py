# SPDX-License-Identifier: Apache-2.0
"""The headless-browser fetcher against real Chromium and pages served on 127.0.0.1, and needs_browser."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import lxml.html
import pytest

from tosmonitor import browser
from tosmonitor.browser import BrowserFetcher, BrowserUnavailable, browser_available, needs_browser
from tosmonitor.models import FetchOutcome, FetchResult

PAGES = Path(__file__).parent / "pages_js"

# Quiet text at once, then the real text from a slow API call: only the pending request says it is not done.
FETCHING = b"""<!doctype html><html><head><meta charset="utf-8"><title>Privacy</title></head><body>
<main id="privacy"><p>Loading the policy...</p></main>
<script>
  fetch("/slow-api").then(function (r) { return r.text(); }).then(function (text) {
    document.getElementById("privacy").innerHTML = "<p>" + text + "</p>";
  });
</script></body></html>"""
PLAYWRIGHT_MISSING = "playwright is not installed (pip install 'tosmonitor[browser]')"

try:
    import playwright  # noqa: F401

    HAVE_PLAYWRIGHT = True
except ImportError:
    HAVE_PLAYWRIGHT = False

AVAILABLE, REASON = browser_available()
needs_playwright = pytest.mark.skipif(not HAVE_PLAYWRIGHT, reason=PLAYWRIGHT_MISSING)


# -- a small local site -------------------------------------------------------------------------------


class _Site(BaseHTTPRequestHandler):
    log_lines: list[tuple[str, int, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        cookie = self.headers.get("Cookie", "")
        if path == "/gated":
            passed = "gate_passed=yes" in cookie
            self._send(
                200 if passed else 403, (PAGES / ("gated.html" if passed else "gate.html")).read_bytes()
            )
        elif path == "/fetching.html":
            self._send(200, FETCHING)
        elif path == "/slow-api":
            time.sleep(0.6)
            self._send(200, b"We do not train models on your messages.", "text/plain")
        elif path == "/language.html":
            language = self.headers.get("Accept-Language", "none")
            self._send(200, f'<html><body><p id="language">{language}</p></body></html>'.encode())
        elif path == "/pixel.png":
            self._send(200, b"\x89PNG\r\n\x1a\n", "image/png")
        elif path == "/app.js":
            self._send(200, (PAGES / "app.js").read_bytes(), "text/javascript")
        elif path.endswith(".html") and (PAGES / path.lstrip("/")).is_file():
            self._send(200, (PAGES / path.lstrip("/")).read_bytes())
        else:
            self._send(404, b"<html><body><h1>Not found</h1></body></html>")

    def _send(self, status: int, body: bytes, content_type: str = "text/html; charset=utf-8") -> None:
        self.log_lines.append((self.path, status, self.headers.get("User-Agent", "")))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[str, list[tuple[str, int, str]]]]:
    log: list[tuple[str, int, str]] = []
    handler = type("Site", (_Site,), {"log_lines": log})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", log
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as r:
        yield r


@pytest.fixture(scope="module")
def fetcher(runner: asyncio.Runner) -> Iterator[BrowserFetcher]:
    if not AVAILABLE:
        pytest.skip(f"headless browser unavailable: {REASON}")
    f = BrowserFetcher(concurrency=2, quiet_period=0.3)
    runner.run(f.__aenter__())
    yield f
    runner.run(f.aclose())


def plain_fetch(url: str) -> FetchResult:
    """What a plain HTTP client sees, classified the simple way."""
    response = httpx.get(url, headers={"User-Agent": "tosmonitor-test/1"}, timeout=5)
    ok = response.status_code < 400
    return FetchResult(
        url=url,
        outcome=FetchOutcome.OK if ok else FetchOutcome.HTTP_ERROR,
        fetched_at=datetime.now(UTC),
        status=response.status_code,
        body=response.content if ok else None,
        content_type="text/html",
        charset="utf-8",
    )


def selected_text(html: bytes | str, selector: str) -> str:
    root = lxml.html.fromstring(html)
    return " ".join(" ".join(el.text_content().split()) for el in root.cssselect(selector)).strip()


# -- rendering ----------------------------------------------------------------------------------------


@pytest.mark.browser
def test_script_inserted_text_needs_the_browser_and_the_browser_renders_it(
    site: Any, runner: asyncio.Runner, fetcher: BrowserFetcher
) -> None:
    base, log = site
    url = f"{base}/delayed.html"
    plain = plain_fetch(url)
    assert plain.outcome is FetchOutcome.OK
    assert selected_text(plain.body or b"", "#policy") == ""
    assert (
        needs_browser(plain, selected_text_empty=True) == "selected content is empty and the page has scripts"
    )

    result = runner.run(fetcher.fetch(url, wait_for=["#policy"], timeout=10))
    assert result.outcome is FetchOutcome.OK, result.error
    assert result.fetcher == "browser"
    assert (result.status, result.content_type, result.charset) == (200, "text/html", "utf-8")
    assert result.final_url == url
    text = selected_text(result.body or b"", "#policy")
    assert "writing assistant" in text
    assert "never part of this programme" in text
    assert b'data-app="loaded"' in (result.body or b"")  # the external script ran
    paths = [p for p, _status, _ua in log]
    assert "/app.js" in paths
    assert "/pixel.png" not in paths  # images are never requested


@pytest.mark.browser
def test_progressive_page_yields_every_paragraph(
    site: Any, runner: asyncio.Runner, fetcher: BrowserFetcher
) -> None:
    base, _log = site
    result = runner.run(fetcher.fetch(f"{base}/progressive.html", wait_for=["#terms"], timeout=10))
    assert result.outcome is FetchOutcome.OK, result.error
    paragraphs = [
        p.text_content() for p in lxml.html.fromstring(result.body or b"<html/>").cssselect("#terms p")
    ]
    assert len(paragraphs) == 10
    assert paragraphs[-1].startswith("Section 10.")
    assert (
        result.elapsed >= 1.0 + fetcher.quiet_period * 0.9
    )  # waited for the last one, then the quiet period


@pytest.mark.browser
def test_pending_request_holds_a_quiet_page(
    site: Any, runner: asyncio.Runner, fetcher: BrowserFetcher
) -> None:
    base, _log = site
    result = runner.run(fetcher.fetch(f"{base}/fetching.html", wait_for=["#privacy"], timeout=10))
    assert result.outcome is FetchOutcome.OK, result.error
    assert selected_text(result.body or b"", "#privacy") == "We do not train models on your messages."
    assert result.elapsed >= 0.6


@pytest.mark.browser
def test_the_page_itself_counts_its_requests_in_flight(
    site: Any, runner: asyncio.Runner, fetcher: BrowserFetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without Playwright's request events (which can reach us after the probe's answer), the page's own
    # count of fetch() calls in flight still holds the page until the policy text has arrived.
    monkeypatch.setattr(browser, "TRACKED_RESOURCE_TYPES", frozenset())
    base, _log = site
    result = runner.run(fetcher.fetch(f"{base}/fetching.html", wait_for=["#privacy"], timeout=10))
    assert result.outcome is FetchOutcome.OK, result.error
    assert selected_text(result.body or b"", "#privacy") == "We do not train models on your messages."


@pytest.mark.browser
def test_request_counting_leaves_fetch_and_xhr_looking_native(
    site: Any, runner: asyncio.Runner, fetcher: BrowserFetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(browser, "TRACKED_RESOURCE_TYPES", frozenset())  # the page's own count only
    base, _log = site
    result = runner.run(fetcher.fetch(f"{base}/native.html", wait_for=["#policy"], timeout=10))
    assert result.outcome is FetchOutcome.OK, result.error
    assert "We do not train models on your messages." in selected_text(result.body or b"", "#policy")
    assert selected_text(result.body or b"", "#native") == "native"


@pytest.mark.browser
def test_page_closed_to_plain_clients_opens_in_the_browser(
    site: Any, runner: asyncio.Runner, fetcher: BrowserFetcher
) -> None:
    base, log = site
    url = f"{base}/gated"
    plain = plain_fetch(url)
    assert plain.status == 403
    assert needs_browser(plain) == "HTTP 403 to a plain client"

    start = len(log)
    ua = "tosmonitor/0.1 (+https://example.org/contact)"
    result = runner.run(fetcher.fetch(url, wait_for=["#notice"], timeout=10, user_agent=ua))
    assert result.outcome is FetchOutcome.OK, result.error
    assert result.status == 200
    assert "do not use the content of your chats" in selected_text(result.body or b"", "#notice")
    hits = [(status, agent) for path, status, agent in log[start:] if path == "/gated"]
    assert [status for status, _agent in hits] == [403, 200]
    assert {agent for _status, agent in hits} == {ua}

    # A fresh context per page: the cookie set by the check does not carry over to the next fetch.
    start = len(log)
    again = runner.run(fetcher.fetch(url, wait_for=["#notice"], timeout=10))
    assert again.outcome is FetchOutcome.OK, again.error
    assert [status for path, status, _ua in log[start:] if path == "/gated"] == [403, 200]


@pytest.mark.browser
def test_headers_go_with_their_page_only(site: Any, runner: asyncio.Runner, fetcher: BrowserFetcher) -> None:
    base, _log = site
    url = f"{base}/language.html"

    async def three() -> list[FetchResult]:
        french = fetcher.fetch(url, wait_for=["#language"], timeout=10, headers={"Accept-Language": "fr-CH"})
        german = fetcher.fetch(url, wait_for=["#language"], timeout=10, headers={"Accept-Language": "de-AT"})
        return [*await asyncio.gather(french, german), await fetcher.fetch(url, wait_for=["#language"])]

    french, german, default = runner.run(three())
    assert selected_text(french.body or b"", "#language") == "fr-CH"
    assert selected_text(german.body or b"", "#language") == "de-AT"
    assert selected_text(default.body or b"", "#language") not in ("fr-CH", "de-AT")


@pytest.mark.browser
def test_without_selectors_waits_for_body_text_not_script_source(
    site: Any, runner: asyncio.Runner, fetcher: BrowserFetcher
) -> None:
    base, _log = site
    result = runner.run(fetcher.fetch(f"{base}/shell.html", timeout=10))
    assert result.outcome is FetchOutcome.OK, result.error
    assert "keep you signed in" in selected_text(result.body or b"", "p")
    assert result.elapsed >= 0.5


@pytest.mark.browser
def test_endless_page_times_out_while_another_page_succeeds(
    site: Any, runner: asyncio.Runner, fetcher: BrowserFetcher
) -> None:
    base, _log = site

    async def both() -> tuple[FetchResult, FetchResult, float]:
        t0 = time.monotonic()
        endless, good = await asyncio.gather(
            fetcher.fetch(f"{base}/endless.html", wait_for=["#board"], timeout=2.0),
            fetcher.fetch(f"{base}/delayed.html", wait_for=["#policy"], timeout=10),
        )
        return endless, good, time.monotonic() - t0

    endless, good, took = runner.run(both())
    assert endless.outcome is FetchOutcome.TIMEOUT
    assert endless.fetcher == "browser"
    assert endless.body is None
    assert endless.error == "page not rendered within 2s: the content kept changing"
    assert 2.0 <= endless.elapsed < 3.0
    assert good.outcome is FetchOutcome.OK, good.error
    assert good.elapsed < endless.elapsed  # not queued behind the endless page
    assert took < 3.5


@pytest.mark.browser
def test_missing_selector_times_out_naming_it(
    site: Any, runner: asyncio.Runner, fetcher: BrowserFetcher
) -> None:
    base, _log = site
    result = runner.run(
        fetcher.fetch(f"{base}/gated.html", wait_for=["#notice", "#cookie-policy"], timeout=1.0)
    )
    assert result.outcome is FetchOutcome.TIMEOUT
    assert result.error == "page not rendered within 1s: selector(s) never matched: #cookie-policy"


@pytest.mark.browser
def test_error_status_and_refused_connection_are_results(
    site: Any, runner: asyncio.Runner, fetcher: BrowserFetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _log = site
    monkeypatch.setattr(browser, "ERROR_GRACE", 0.3)  # how long an error page may take to replace itself
    missing = runner.run(fetcher.fetch(f"{base}/no-such-page.html", timeout=10))
    assert missing.outcome is FetchOutcome.HTTP_ERROR
    assert (missing.status, missing.error) == (404, "HTTP 404 in the browser")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once closed
    refused = runner.run(fetcher.fetch(f"http://127.0.0.1:{port}/", timeout=5))
    assert refused.outcome is FetchOutcome.NETWORK_ERROR
    assert "ERR_CONNECTION_REFUSED" in (refused.error or "")
    assert not fetcher.breaker_open  # page problems are not browser failures


# -- the browser process --------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.skipif(not AVAILABLE, reason=f"headless browser unavailable: {REASON}")
def test_browser_restarts_after_restart_every_pages(site: Any, runner: asyncio.Runner) -> None:
    base, _log = site

    async def three() -> tuple[list[FetchResult], BrowserFetcher]:
        async with BrowserFetcher(restart_every=2, quiet_period=0.1) as f:
            results = [await f.fetch(f"{base}/gated.html", timeout=10) for _ in range(3)]
        return results, f

    results, f = runner.run(three())
    assert [r.outcome for r in results] == [FetchOutcome.OK] * 3
    assert f.launches == 2
    assert [e["state"] for e in f.events] == ["launched", "restarted", "launched"]


def _browser_pids() -> set[int]:
    """Chromium's main processes started under this one (not its helpers, nor a wrapper script).

    A helper Chromium has just forked still has its parent's command line for a moment: a Chromium process
    whose parent is a Chromium process is never a main one."""
    psutil = pytest.importorskip("psutil")

    def is_chromium(args: list[str]) -> bool:
        return bool(args) and "chrom" in Path(args[0]).name

    pids = set()
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error, IndexError):
            args = proc.cmdline()
            parent = proc.parent()
            if (
                is_chromium(args)
                and not any(a.startswith("--type=") for a in args)
                and not (parent is not None and is_chromium(parent.cmdline()))
            ):
                pids.add(proc.pid)
    return pids


@pytest.mark.browser
@pytest.mark.skipif(not AVAILABLE, reason=f"headless browser unavailable: {REASON}")
def test_next_browser_is_up_before_the_restart(site: Any, runner: asyncio.Runner) -> None:
    base, _log = site

    async def scenario() -> tuple[list[FetchResult], BrowserFetcher, list[set[int]]]:
        seen: list[set[int]] = []
        before = _browser_pids()
        async with BrowserFetcher(restart_every=4, concurrency=1, quiet_period=0.1) as f:
            results = [await f.fetch(f"{base}/gated.html", timeout=10)]
            seen.append(_browser_pids() - before)  # 3 pages left: only the serving browser
            results.append(await f.fetch(f"{base}/gated.html", timeout=10))
            for _ in range(100):  # 2 pages left: the next browser is launched meanwhile
                if len(_browser_pids() - before) == 2:
                    break
                await asyncio.sleep(0.1)
            seen.append(_browser_pids() - before)
            results += [await f.fetch(f"{base}/gated.html", timeout=10) for _ in range(3)]
            for _ in range(100):  # the retired browser is closed: its process may take a moment to exit
                if not (seen[0] & _browser_pids()):
                    break
                await asyncio.sleep(0.1)
            seen.append(_browser_pids() - before)
        return results, f, seen

    results, f, (first, both, after) = runner.run(scenario())
    assert [r.outcome for r in results] == [FetchOutcome.OK] * 5
    assert len(first) == 1 and len(both) == 2 and first < both
    assert (both - first) <= after  # the fifth page ran in the browser launched ahead
    assert not (first & after)  # and the first one is gone
    assert f.launches == 2
    assert [e["state"] for e in f.events] == ["launched", "restarted", "launched"]


@needs_playwright
def test_breaker_opens_after_consecutive_launch_failures(tmp_path: Path, runner: asyncio.Runner) -> None:
    broken = tmp_path / "chromium"
    broken.write_text("#!/bin/sh\necho 'cannot start' >&2\nexit 1\n")
    broken.chmod(broken.stat().st_mode | stat.S_IEXEC)

    async def attempts() -> tuple[list[FetchResult], BrowserFetcher]:
        f = BrowserFetcher(executable=str(broken), breaker_threshold=2, breaker_cooldown=60)
        try:
            return [await f.fetch("http://127.0.0.1:9/") for _ in range(3)], f
        finally:
            await f.aclose()

    results, f = runner.run(attempts())
    assert [r.outcome for r in results] == [FetchOutcome.NETWORK_ERROR] * 3
    assert all(r.fetcher == "browser" for r in results)
    assert results[0].error is not None and results[0].error.startswith("could not launch the browser")
    assert results[2].error is not None and results[2].error.startswith("browser circuit open after 2 ")
    assert f.breaker_open
    assert [e["state"] for e in f.events] == ["launch_failed", "launch_failed", "circuit_open"]
    assert f.events[-1]["cooldown"] == 60


def test_unavailable_browser_says_how_to_enable_it(tmp_path: Path, runner: asyncio.Runner) -> None:
    missing = str(tmp_path / "no-chromium-here")
    ok, reason = browser_available(missing)
    assert not ok
    assert "apt-get install chromium" in reason and "TOSMONITOR_CHROMIUM" in reason

    f = BrowserFetcher(executable=missing)
    with pytest.raises(BrowserUnavailable, match=r"pip install 'tosmonitor\[browser\]'"):
        runner.run(f.fetch("http://127.0.0.1:9/"))


def test_environment_variable_names_the_executable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "my-chromium"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("TOSMONITOR_CHROMIUM", str(fake))
    ok, reason = browser_available()
    assert (ok, reason) == (HAVE_PLAYWRIGHT, str(fake) if HAVE_PLAYWRIGHT else reason)
    os.chmod(fake, 0o644)
    assert browser_available()[0] is False


# -- needs_browser ----------------------------------------------------------------------------------------


def _result(outcome: FetchOutcome = FetchOutcome.OK, **kw: Any) -> FetchResult:
    return FetchResult(url="https://example.org/terms", outcome=outcome, fetched_at=datetime.now(UTC), **kw)


SCRIPTED = b"<html><body><div id=app></div><script src=/app.js></script></body></html>"
STATIC = b"<html><body><div id=app></div></body></html>"


@pytest.mark.parametrize(
    ("result", "kwargs", "expected"),
    [
        (_result(FetchOutcome.HTTP_ERROR, status=403), {}, "HTTP 403 to a plain client"),
        (_result(FetchOutcome.HTTP_ERROR, status=406), {}, "HTTP 406 to a plain client"),
        (_result(FetchOutcome.HTTP_ERROR, status=502), {}, "HTTP 502 to a plain client"),
        (_result(FetchOutcome.HTTP_ERROR, status=429), {}, "HTTP 429 without Retry-After"),
        (_result(FetchOutcome.HTTP_ERROR, status=429, retry_after=120.0), {}, None),
        (_result(FetchOutcome.HTTP_ERROR, status=404), {}, None),
        (_result(FetchOutcome.HTTP_ERROR, status=500), {}, None),
        (_result(FetchOutcome.HTTP_ERROR, status=503), {}, None),
        (
            _result(FetchOutcome.NETWORK_ERROR, error="connection reset by peer"),
            {},
            "network error: connection reset by peer",
        ),
        (_result(FetchOutcome.BLOCKED, status=200, error="captcha page"), {}, "blocked: captcha page"),
        (_result(FetchOutcome.TIMEOUT, error="read timeout"), {}, None),
        (_result(FetchOutcome.NOT_MODIFIED, status=304), {}, None),
        (_result(status=200, body=SCRIPTED), {"selected_text_empty": True}, "selected content is empty and the page has scripts"),
        (_result(status=200, body=SCRIPTED), {"selected_text_empty": False}, None),
        (_result(status=200, body=SCRIPTED), {}, None),
        (_result(status=200, body=STATIC), {"selected_text_empty": True}, None),
        (_result(status=200, body=STATIC), {"selected_text_empty": True, "has_scripts": True}, "selected content is empty and the page has scripts"),
        (_result(status=200, body=SCRIPTED), {"selected_text_empty": True, "has_scripts": False}, None),
        (_result(FetchOutcome.HTTP_ERROR, status=403, fetcher="browser"), {}, None),
    ],
    ids=[
        "403", "406", "502", "429-no-retry-after", "429-retry-after", "404", "500", "503", "network-error",
        "blocked", "timeout", "not-modified", "empty-with-scripts", "text-found", "unknown-emptiness",
        "empty-static", "empty-told-scripts", "empty-told-no-scripts", "already-browser",
    ],
)  # fmt: skip
def test_needs_browser(result: FetchResult, kwargs: dict[str, Any], expected: str | None) -> None:
    assert needs_browser(result, **kwargs) == expected


def _chromium_pids() -> set[int]:
    psutil = pytest.importorskip("psutil")
    me = psutil.Process()
    return {p.pid for p in me.children(recursive=True) if "chrom" in p.name().lower()}


@pytest.mark.browser
@pytest.mark.skipif(not AVAILABLE, reason=f"headless browser unavailable: {REASON}")
def test_crash_is_a_result_and_the_next_page_gets_a_new_browser(site: Any, runner: asyncio.Runner) -> None:
    base, _log = site
    import psutil

    async def scenario() -> tuple[list[FetchResult], BrowserFetcher]:
        before = _chromium_pids()
        async with BrowserFetcher(quiet_period=0.1) as f:
            first = await f.fetch(f"{base}/gated.html", timeout=10)
            ours = _chromium_pids() - before
            assert ours
            pending = asyncio.ensure_future(f.fetch(f"{base}/endless.html", timeout=10))
            await asyncio.sleep(0.5)
            for pid in ours:
                with contextlib.suppress(psutil.NoSuchProcess):
                    psutil.Process(pid).kill()
            crashed = await pending
            after = await f.fetch(f"{base}/gated.html", timeout=10)
        return [first, crashed, after], f

    (first, crashed, after), f = runner.run(scenario())
    assert first.outcome is FetchOutcome.OK
    assert crashed.outcome is FetchOutcome.NETWORK_ERROR
    assert crashed.error is not None and crashed.error.startswith("browser crashed: ")
    assert crashed.elapsed < 5
    assert after.outcome is FetchOutcome.OK, after.error
    assert f.launches == 2
    assert [e["state"] for e in f.events] == ["launched", "crashed", "launched"]
    assert not f.breaker_open
