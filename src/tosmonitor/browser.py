# SPDX-License-Identifier: Apache-2.0
"""The optional headless-browser fetcher, for pages rendered by JavaScript or closed to plain clients.

This module owns everything about the browser: finding the system Chromium, driving it with Playwright,
waiting until a page has finished rendering, bounding time, memory and concurrency, restarting the browser,
and a circuit breaker that stops using it after repeated crashes. It also owns :func:`needs_browser`, the pure
rule that decides when a plain-HTTP result deserves a second try in the browser.

The browser is optional: Playwright (``pip install 'tosmonitor[browser]'``) drives the system Chromium
(``apt-get install chromium-headless-shell``, the lighter headless build, or ``chromium``; or
``$TOSMONITOR_CHROMIUM``); no browser is ever downloaded. Importing this module works without either;
:func:`browser_available` says whether they are there.

Every page gets a fresh browser context (no cookies shared between pages), opened ahead while other pages
render; one browser process serves a run and is replaced after a crash or every ``restart_every`` pages,
by one launched ahead. Images, fonts and media are never loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import re
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import FetchError
from .models import FetchOutcome, FetchResult

__all__ = [
    "LAUNCH_FLAGS",
    "BrowserFetcher",
    "BrowserUnavailable",
    "browser_available",
    "find_chromium",
    "launch_flags",
    "needs_browser",
]

ENV_EXECUTABLE = "TOSMONITOR_CHROMIUM"
# The headless shell first: the same engine without the desktop browser around it (Debian's package
# chromium-headless-shell), it opens a context and page for about half the CPU time and memory of the full
# browser in headless mode.
CHROMIUM_CANDIDATES = (
    "chromium-headless-shell",
    "chrome-headless-shell",
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)

# Headless, no sandbox (containers), and nothing that reaches the network on its own. Site isolation is
# off: a page's navigation then stays in the renderer opened ahead for it instead of starting another
# process (about 0.1 s a page), and every page already has a context of its own with nothing to protect.
LAUNCH_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-site-isolation-trials",
    "--disable-features=IsolateOrigins,site-per-process",
)

# Chromium shares memory between its processes through /dev/shm; where that is small (64 MiB in a default
# Docker container) it must use files in /tmp instead, which costs disk writes on every page elsewhere.
SMALL_SHM_FLAG = "--disable-dev-shm-usage"
SHM_MIN_FREE = 512 * 2**20

BLOCKED_RESOURCE_TYPES = frozenset({"image", "font", "media"})

ENABLE_HINT = (
    "install Playwright with pip install 'tosmonitor[browser]' and the system Chromium with "
    "apt-get install chromium-headless-shell or apt-get install chromium "
    "(or set TOSMONITOR_CHROMIUM to a Chromium executable)"
)

# Seconds a page whose main document answered with an error status may take to replace itself (a JavaScript
# check that sets a cookie and reloads) before the error is final.
ERROR_GRACE = 3.0
LAUNCH_TIMEOUT = 30.0
CLOSE_TIMEOUT = 5.0

_SCRIPT_RE = re.compile(rb"<script\b", re.IGNORECASE)

# Requests a page is not settled without while they are pending (documents, scripts, XHR and fetch), and
# how long one may stay pending before it no longer holds the page (long polls, streams, hung beacons).
TRACKED_RESOURCE_TYPES = frozenset({"document", "script", "xhr", "fetch"})
REQUEST_PATIENCE = 2.0

# Run in every document before its own scripts (and by the probe, should a document lack it): a
# MutationObserver that records, per node, when its children or text last changed (performance.now()), and
# the page's own fetch and XMLHttpRequest calls in flight (with when they started). Playwright's request
# events tell the same, but they travel separately from the probe's answer and can arrive after it: the
# page's own count cannot lag behind the text it is about to change. The end of a request counts as a change
# (a fetch() settles when its headers arrive; the page reads the body and shows it a moment later).
_OBSERVE_JS = """
(() => {
  if (window.__tosmonitorSettle) { return window.__tosmonitorSettle; }
  const state = {since: performance.now(), changed: new Map(), requests: new Map(), next: 0, ended: 0};
  Object.defineProperty(window, "__tosmonitorSettle", {value: state});
  new MutationObserver((records) => {
    const now = performance.now();
    for (const record of records) { state.changed.set(record.target, now); }
  }).observe(document, {childList: true, characterData: true, subtree: true});
  // Proxies, so the functions still look native to the page's own scripts.
  const started = () => { const id = ++state.next; state.requests.set(id, performance.now()); return id; };
  // A finished request counts as a change: its answer is usually read and shown a moment later.
  const ended = (id) => { state.requests.delete(id); state.ended = performance.now(); };
  if (typeof window.fetch === "function") {
    window.fetch = new Proxy(window.fetch, {apply(target, self, args) {
      const id = started();
      try {
        return Reflect.apply(target, self, args).finally(() => ended(id));
      } catch (error) { ended(id); throw error; }
    }});
  }
  if (window.XMLHttpRequest) {
    XMLHttpRequest.prototype.send = new Proxy(XMLHttpRequest.prototype.send, {apply(target, self, args) {
      const id = started();
      self.addEventListener("loadend", () => ended(id));
      try { return Reflect.apply(target, self, args); } catch (error) { ended(id); throw error; }
    }});
  }
  return state;
})()
"""

# Run in the page: wait up to maxWait seconds until the selectors are there, the text they select is not
# empty and nothing changed inside them (or around them: a parent whose children were replaced) for
# quietPeriod seconds; then return the serialised document (with wantHtml), else the state at maxWait.
_SETTLE_JS = (
    """
async ([selectors, quietPeriod, maxWait, wantHtml, patience]) => {
  const state = """
    + _OBSERVE_JS.strip()
    + """;
  const skip = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE"]);
  const probe = () => {
    const missing = [];
    const roots = [];
    if (selectors.length === 0) {
      if (document.body) { roots.push(document.body); }
    } else {
      for (const sel of selectors) {
        const found = document.querySelectorAll(sel);
        if (found.length === 0) { missing.push(sel); } else { roots.push(...found); }
      }
    }
    // Text nodes only (no layout, unlike innerText), leaving out script and style sources.
    let empty = true;
    for (const root of roots) {
      const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node && empty; node = walker.nextNode()) {
        if (!skip.has(node.parentNode.nodeName) && node.data.trim()) { empty = false; }
      }
      if (!empty) { break; }
    }
    let last = Math.max(state.since, state.ended);
    for (const [node, at] of state.changed) {
      if (!node.isConnected) { state.changed.delete(node); continue; }  // its parent's change counts
      if (at <= last) { continue; }
      if (roots.some((root) => root.contains(node) || node.contains(root))) { last = at; }
    }
    const now = performance.now();
    let requests = 0;
    for (const at of state.requests.values()) { if (now - at < patience * 1000) { requests += 1; } }
    return {missing: missing, empty: empty, requests: requests, quiet: (now - last) / 1000, html: null};
  };
  const began = performance.now();
  for (;;) {
    const result = probe();
    const ready = result.missing.length === 0 && !result.empty && result.requests === 0;
    if (ready && result.quiet >= quietPeriod) {
      if (wantHtml) {
        // What Playwright's page.content() returns, without another round trip.
        let html = document.doctype ? new XMLSerializer().serializeToString(document.doctype) : "";
        if (document.documentElement) { html += document.documentElement.outerHTML; }
        result.html = html;
      }
      return result;
    }
    const left = maxWait - (performance.now() - began) / 1000;
    if (left <= 0) { return result; }
    const pause = ready ? quietPeriod - result.quiet : Math.min(0.02, quietPeriod / 4);
    await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(pause, left) * 1000)));
  }
}
"""
)

# How long one in-page wait may last before Python looks at navigations, requests and the deadline again.
SETTLE_SLICE = 0.5


class BrowserUnavailable(FetchError):
    """The browser cannot be used at all: Playwright or Chromium is missing, or Playwright cannot start."""


def find_chromium(executable: str | None = None) -> str | None:
    """The Chromium executable to use: ``executable``, else ``$TOSMONITOR_CHROMIUM``, else one on ``PATH``.

    :param executable: an explicit path; returned as is when it is an executable file.
    :returns: an absolute path, or None when no Chromium is found.
    """
    explicit = executable or os.environ.get(ENV_EXECUTABLE)
    if explicit:
        path = shutil.which(explicit) or explicit
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def launch_flags(shm: str = "/dev/shm") -> list[str]:
    """The Chromium command-line flags: :data:`LAUNCH_FLAGS`, plus ``--disable-dev-shm-usage`` when ``shm``
    is missing or has less than ``SHM_MIN_FREE`` bytes free."""
    try:
        small = shutil.disk_usage(shm).free < SHM_MIN_FREE
    except OSError:
        small = True
    return [*LAUNCH_FLAGS, SMALL_SHM_FLAG] if small else list(LAUNCH_FLAGS)


def browser_available(executable: str | None = None) -> tuple[bool, str]:
    """Whether the browser fetcher can run here, without launching anything.

    :param executable: an explicit Chromium path to check instead of the usual places.
    :returns: ``(True, "<chromium path>")`` or ``(False, "<what is missing and how to enable it>")``.
    """
    if importlib.util.find_spec("playwright") is None:
        return False, f"the Python package playwright is not installed: {ENABLE_HINT}"
    explicit = executable or os.environ.get(ENV_EXECUTABLE)
    path = find_chromium(executable)
    if path is None:
        if explicit:
            return False, f"Chromium executable {explicit!r} not found or not executable: {ENABLE_HINT}"
        return False, f"no Chromium executable found: {ENABLE_HINT}"
    return True, path


def needs_browser(
    result: FetchResult,
    *,
    selected_text_empty: bool | None = None,
    has_scripts: bool | None = None,
) -> str | None:
    """Why a plain-HTTP result should be fetched again in the browser, or None when it should not.

    Pure: it reads the result only. Yes for a 403 or 406, a 429 without ``Retry-After`` (a wait is asked
    for otherwise), a 502, a network error (connection reset), a page classified as a bot check, and an OK
    page whose selected content is empty while it carries scripts.

    :param result: the plain-HTTP result.
    :param selected_text_empty: whether extraction found no text in the selected content (None: unknown).
    :param has_scripts: whether the page has ``<script>`` elements (None: look at the body).
    :returns: a short reason, or None.
    """
    if result.fetcher == "browser":
        return None
    status = result.status
    if status in (403, 406, 502):
        return f"HTTP {status} to a plain client"
    if status == 429 and result.retry_after is None:
        return "HTTP 429 without Retry-After"
    if result.outcome is FetchOutcome.BLOCKED:
        return "blocked: " + (result.error or "bot check or access wall")
    if result.outcome is FetchOutcome.NETWORK_ERROR:
        return "network error: " + (result.error or "connection failed")
    if result.outcome is FetchOutcome.OK and selected_text_empty:
        if has_scripts is None:
            has_scripts = bool(result.body and _SCRIPT_RE.search(result.body))
        if has_scripts:
            return "selected content is empty and the page has scripts"
    return None


# What a context is opened with: the User-Agent and the extra request headers (sorted).
_Identity = tuple[str | None, tuple[tuple[str, str], ...]]


@dataclass(eq=False)
class _Instance:
    """One browser process and the pages it has served."""

    browser: Any
    served: int = 0
    active: int = 0
    retired: bool = False
    dead: bool = False
    # Contexts with a blank page opened ahead of need, each with the User-Agent and headers it has.
    spares: list[tuple[asyncio.Task[tuple[Any, Any]], _Identity]] = field(default_factory=list)
    blocker: Any = None  # the browser-wide CDP session refusing images, fonts and media (None: route them)


class _Crash(Exception):
    """The browser or the page's renderer went away while rendering."""


class BrowserFetcher:
    """Fetch pages in the system Chromium, bounded in time, concurrency and failures.

    Use as an async context manager, or call :meth:`aclose` when done. :meth:`fetch` returns a
    :class:`~tosmonitor.models.FetchResult` with ``fetcher="browser"`` for every page problem;
    :class:`BrowserUnavailable` is raised only when the browser cannot be used at all.

    ``events`` collects health events (dicts with ``kind="browser"`` and a ``state``: ``launched``,
    ``launch_failed``, ``crashed``, ``restarted``, ``circuit_open``, ``circuit_closed``) for the pipeline.
    """

    def __init__(
        self,
        *,
        executable: str | None = None,
        concurrency: int = 2,
        restart_every: int = 50,
        quiet_period: float = 0.15,
        breaker_threshold: int = 3,
        breaker_cooldown: float = 300.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        if restart_every < 1:
            raise ValueError(f"restart_every must be at least 1, not {restart_every}")
        self.executable = executable
        self.concurrency = concurrency
        self.restart_every = restart_every
        self.quiet_period = quiet_period
        self.breaker_threshold = breaker_threshold
        self.breaker_cooldown = breaker_cooldown
        self.events: list[dict[str, Any]] = []
        self.launches = 0
        self._semaphore = asyncio.Semaphore(concurrency)
        self._lock = asyncio.Lock()
        self._playwright: Any = None
        self._current: _Instance | None = None
        self._retired: list[_Instance] = []
        self._failures = 0
        self._open_until = 0.0
        self._circuit_was_open = False
        self._closed = False
        self._closing: set[asyncio.Task[None]] = set()  # contexts and browsers being closed
        self._successor: asyncio.Task[_Instance] | None = None  # the next browser, launched ahead

    async def __aenter__(self) -> BrowserFetcher:
        await self._start_playwright()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def breaker_open(self) -> bool:
        """True while the circuit breaker keeps the browser unused after repeated crashes."""
        return time.monotonic() < self._open_until

    async def aclose(self) -> None:
        """Close the browser process(es) and Playwright. Safe to call twice."""
        self._closed = True
        async with self._lock:
            instances = [i for i in [self._current, *self._retired] if i is not None]
            self._current = None
            self._retired = []
            successor, self._successor = self._successor, None
            if successor is not None:
                with contextlib.suppress(Exception):  # a failed launch leaves nothing to close
                    instances.append(await asyncio.wait_for(successor, LAUNCH_TIMEOUT))
            if self._closing:
                await asyncio.gather(*self._closing, return_exceptions=True)
            await asyncio.gather(*(self._close_instance(inst) for inst in instances))
            if self._playwright is not None:
                playwright, self._playwright = self._playwright, None
                with contextlib.suppress(Exception):  # closing must not fail
                    await asyncio.wait_for(playwright.stop(), CLOSE_TIMEOUT)

    async def fetch(
        self,
        url: str,
        *,
        wait_for: Sequence[str] = (),
        timeout: float = 30.0,
        user_agent: str | None = None,
        headers: Mapping[str, str] = {},  # noqa: B006 - read only
    ) -> FetchResult:
        """Render ``url`` in a fresh browser context and return the settled DOM as HTML.

        The page is done when every ``wait_for`` selector matches (without selectors: when the body has
        text), the selected text is not empty, no document, script, XHR or fetch request is pending (for
        up to ``REQUEST_PATIENCE`` seconds each), and a ``MutationObserver`` saw no change inside the
        selected elements for ``quiet_period`` seconds.

        :param url: the page to render.
        :param wait_for: CSS selectors that must all match before the page counts as rendered.
        :param timeout: hard deadline in seconds for this page, from the moment a browser slot is free.
        :param user_agent: the User-Agent header (None: Chromium's own).
        :param headers: extra request headers.
        :returns: a result with outcome ok, timeout, http_error or network_error and ``fetcher="browser"``.
        :raises BrowserUnavailable: Playwright or Chromium is missing.
        """
        fetched_at = datetime.now(UTC)
        started = time.monotonic()
        if self._closed:
            raise BrowserUnavailable(f"{url}: the browser fetcher is closed")
        if self.breaker_open:
            return self._circuit_result(url, fetched_at, started)
        async with self._semaphore:
            if self.breaker_open:
                return self._circuit_result(url, fetched_at, started)
            fetched_at = datetime.now(UTC)
            started = time.monotonic()  # time queued for a slot is not the page's
            deadline = started + timeout
            try:
                inst = await self._acquire()
            except BrowserUnavailable:
                raise
            except Exception as exc:  # any launch failure counts against the breaker
                self._failure("launch_failed", f"{type(exc).__name__}: {_first_line(exc)}")
                return _error(
                    url,
                    FetchOutcome.NETWORK_ERROR,
                    fetched_at,
                    started,
                    f"could not launch the browser: {_first_line(exc)}",
                )
            try:
                result = await self._render(
                    inst, url, wait_for, deadline, timeout, user_agent, headers, fetched_at, started
                )
            except _Crash as exc:
                inst.dead = True
                self._failure("crashed", str(exc))
                return _error(url, FetchOutcome.NETWORK_ERROR, fetched_at, started, f"browser crashed: {exc}")
            finally:
                await self._release(inst)
            self._success()
            return result

    # -- the browser process -------------------------------------------------------------------------

    async def _start_playwright(self) -> Any:
        if self._playwright is not None:
            return self._playwright
        ok, reason = browser_available(self.executable)
        if not ok:
            raise BrowserUnavailable(f"the headless browser cannot be used: {reason}")
        self.executable = reason
        from playwright.async_api import async_playwright

        try:
            self._playwright = await async_playwright().start()
        except Exception as exc:  # the driver itself cannot start
            raise BrowserUnavailable(
                f"Playwright could not start: {_first_line(exc)}; {ENABLE_HINT}"
            ) from exc
        return self._playwright

    async def _acquire(self) -> _Instance:
        async with self._lock:
            playwright = await self._start_playwright()
            current = self._current
            if current is not None and (current.dead or not current.browser.is_connected()):
                self._retire(current)
                current = None
            if current is not None and current.served >= self.restart_every:
                self._event("restarted", served=current.served)
                self._retire(current)
                current = None
            if current is None:
                current = await self._adopt_successor()
                if current is None:
                    current = await self._launch(playwright)
                self.launches += 1
                self._current = current
                self._event("launched", version=current.browser.version)
            for old in [i for i in self._retired if i.active == 0]:
                self._retired.remove(old)
                self._close_later(old)
            current.served += 1
            current.active += 1
            # Launch the next browser while the last pages of this one render, so that a restart does not
            # hold up every slot for a launch.
            left = self.restart_every - current.served
            if left <= 2 * self.concurrency and self._successor is None:
                self._successor = asyncio.ensure_future(self._launch(playwright))
            return current

    async def _launch(self, playwright: Any) -> _Instance:
        browser = await playwright.chromium.launch(
            executable_path=self.executable,
            args=launch_flags(),
            headless=True,
            timeout=LAUNCH_TIMEOUT * 1000,
            handle_sigint=False,
            handle_sigterm=False,
            handle_sighup=False,
        )
        return _Instance(browser, blocker=await _block_resources(browser))

    async def _adopt_successor(self) -> _Instance | None:
        """The browser launched ahead, once it is up; None when there is none or it failed or died."""
        successor, self._successor = self._successor, None
        if successor is None:
            return None
        try:
            inst = await asyncio.wait_for(successor, LAUNCH_TIMEOUT)
        except Exception:  # launched again in the open, where a failure counts against the breaker
            return None
        if not inst.browser.is_connected():
            self._close_later(inst)
            return None
        return inst

    def _close_later(self, inst: _Instance) -> None:
        """Close a browser no page uses any more, without holding up the caller."""
        closing = asyncio.ensure_future(self._close_instance(inst))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    def _retire(self, inst: _Instance) -> None:
        inst.retired = True
        spares, inst.spares = inst.spares, []
        for spare, _agent in spares:
            _discard(spare)
        self._retired.append(inst)
        if self._current is inst:
            self._current = None

    async def _release(self, inst: _Instance) -> None:
        inst.active -= 1
        if inst.dead and self._current is inst:
            self._retire(inst)
        if inst.retired and inst.active == 0 and inst in self._retired:
            self._retired.remove(inst)
            self._close_later(inst)

    @staticmethod
    async def _close_instance(inst: _Instance) -> None:
        spares, inst.spares = inst.spares, []
        for spare, _agent in spares:
            with contextlib.suppress(Exception):  # closed with its browser below anyway
                context, _page = await asyncio.wait_for(spare, CLOSE_TIMEOUT)
                await asyncio.wait_for(context.close(), CLOSE_TIMEOUT)
        with contextlib.suppress(Exception):  # a dead browser may refuse to close
            await asyncio.wait_for(inst.browser.close(), CLOSE_TIMEOUT)

    # -- health ----------------------------------------------------------------------------------------

    def _event(self, state: str, **details: Any) -> None:
        self.events.append(
            {"kind": "browser", "state": state, "at": datetime.now(UTC).isoformat(), **details}
        )

    def _failure(self, state: str, error: str) -> None:
        self._failures += 1
        self._event(state, error=error, consecutive=self._failures)
        if self._failures >= self.breaker_threshold and not self.breaker_open:
            self._open_until = time.monotonic() + self.breaker_cooldown
            self._circuit_was_open = True
            self._event("circuit_open", failures=self._failures, cooldown=self.breaker_cooldown, error=error)

    def _success(self) -> None:
        self._failures = 0
        if self._circuit_was_open:
            self._circuit_was_open = False
            self._event("circuit_closed")

    def _circuit_result(self, url: str, fetched_at: datetime, started: float) -> FetchResult:
        remaining = max(0.0, self._open_until - time.monotonic())
        return _error(
            url,
            FetchOutcome.NETWORK_ERROR,
            fetched_at,
            started,
            f"browser circuit open after {self._failures} consecutive browser failures; "
            f"retrying the browser in {remaining:.0f}s",
        )

    # -- one page --------------------------------------------------------------------------------------

    async def _render(
        self,
        inst: _Instance,
        url: str,
        wait_for: Sequence[str],
        deadline: float,
        timeout: float,
        user_agent: str | None,
        headers: Mapping[str, str],
        fetched_at: datetime,
        started: float,
    ) -> FetchResult:
        from playwright.async_api import Error as PlaywrightError

        identity: _Identity = (user_agent, tuple(sorted(headers.items())))
        try:
            context, page = await self._take_page(inst, identity, deadline)
        except (PlaywrightError, TimeoutError) as exc:
            raise _Crash(f"could not open a browser page: {_first_line(exc)}") from exc
        try:
            return await self._render_in(
                page, inst, url, list(wait_for), deadline, timeout, fetched_at, started
            )
        finally:
            # Closed while the slot serves the next page: the result no longer depends on it.
            closing = asyncio.ensure_future(_close_context(context))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    async def _take_page(self, inst: _Instance, identity: _Identity, deadline: float) -> tuple[Any, Any]:
        """A fresh context and page: one opened ahead with this User-Agent and headers, or a new one.

        Opening a page starts a renderer process, the largest fixed cost of a fetch. Each slot's next page
        is therefore opened while the current ones render: up to ``concurrency`` pages wait ready, never
        more than the browser has pages left to serve before its restart.
        """
        pair = None
        for index, (spare, opened_as) in enumerate(inst.spares):
            if opened_as == identity:
                del inst.spares[index]
                try:
                    pair = await asyncio.wait_for(asyncio.shield(spare), _remaining(deadline))
                except Exception:  # a failed or slow spare is replaced by a new page below
                    _discard(spare)
                break
        if pair is None:
            pair = await asyncio.wait_for(
                _open_page(inst.browser, identity, route=inst.blocker is None), _remaining(deadline)
            )
        if not inst.retired and not inst.dead:
            wanted = min(self.concurrency, self.restart_every - inst.served)
            while len(inst.spares) >= max(1, wanted) and any(i != identity for _s, i in inst.spares):
                index = next(n for n, (_s, i) in enumerate(inst.spares) if i != identity)
                _discard(inst.spares.pop(index)[0])  # the oldest page opened for other requests
            while len(inst.spares) < wanted:
                opening = _open_page(inst.browser, identity, route=inst.blocker is None)
                inst.spares.append((asyncio.ensure_future(opening), identity))
        return pair

    async def _render_in(
        self,
        page: Any,
        inst: _Instance,
        url: str,
        selectors: list[str],
        deadline: float,
        timeout: float,
        fetched_at: datetime,
        started: float,
    ) -> FetchResult:
        from playwright.async_api import Error as PlaywrightError

        crashed: list[str] = []
        navigations: list[Any] = []  # main-frame document responses, in order

        def lost() -> bool:
            return bool(crashed) or not inst.browser.is_connected()

        page.on("crash", lambda _page: crashed.append("the page's renderer crashed"))
        pending: dict[Any, float] = {}  # tracked requests in flight, with when they started

        def request_started(request: Any) -> None:
            if request.resource_type in TRACKED_RESOURCE_TYPES:
                pending[request] = time.monotonic()

        page.on("request", request_started)
        page.on("requestfinished", lambda request: pending.pop(request, None))
        page.on("requestfailed", lambda request: pending.pop(request, None))
        page.on(
            "response",
            lambda r: (
                navigations.append(r)
                if r.request.is_navigation_request() and r.frame == page.main_frame
                else None
            ),
        )

        def timed_out(what: str) -> FetchResult:
            return _error(
                url,
                FetchOutcome.TIMEOUT,
                fetched_at,
                started,
                f"page not rendered within {timeout:g}s: {what}",
            )

        try:
            await page.goto(url, wait_until="commit", timeout=max(1.0, _remaining(deadline) * 1000))
        except PlaywrightError as exc:
            if lost():
                raise _Crash(crashed[0] if crashed else _first_line(exc)) from exc
            if "Timeout" in type(exc).__name__ or time.monotonic() >= deadline:
                return timed_out("no response")
            return _error(url, FetchOutcome.NETWORK_ERROR, fetched_at, started, _first_line(exc))

        poll = max(0.01, min(0.05, self.quiet_period / 4))
        last_navigation = time.monotonic()
        first_navigations = seen_navigations = len(navigations)
        probe: dict[str, Any] | None = None
        loading = False
        while True:
            now = time.monotonic()
            if len(navigations) != seen_navigations:
                seen_navigations = len(navigations)
                last_navigation = now
            status = navigations[-1].status if navigations else None
            error_status = status is not None and status >= 400
            if now >= deadline:
                if error_status:
                    return _http_error(url, status, page.url, fetched_at, started)
                return timed_out(_unsettled(probe, selectors, loading))
            # An error page is only looked at (it may replace itself); a good one is waited for in the page.
            slice_ = 0.0 if error_status else max(0.0, min(SETTLE_SLICE, deadline - now))
            try:
                probe = await asyncio.wait_for(
                    page.evaluate(
                        _SETTLE_JS, [selectors, self.quiet_period, slice_, not error_status, REQUEST_PATIENCE]
                    ),
                    _remaining(deadline) + 1.0,  # the in-page wait itself ends at the deadline
                )
            except TimeoutError:
                return timed_out("the page stopped responding")
            except PlaywrightError as exc:
                if lost():
                    raise _Crash(crashed[0] if crashed else _first_line(exc)) from exc
                probe = None  # a navigation replaced the document: keep polling
            if probe is None:
                await asyncio.sleep(max(0.0, min(poll, deadline - time.monotonic())))
                continue
            now = time.monotonic()
            if len(navigations) != seen_navigations:
                continue  # a navigation answered meanwhile: its document may not be the one probed
            # Quiet: no change in the selected content, nor a navigation response since goto's (a
            # reloading document may not have replaced the old one yet).
            quiet = probe["quiet"]
            if seen_navigations != first_navigations:
                quiet = min(quiet, now - last_navigation)
            loading = any(now - since < REQUEST_PATIENCE for since in pending.values())
            if error_status and quiet >= self.quiet_period and now - last_navigation >= ERROR_GRACE:
                return _http_error(url, status, page.url, fetched_at, started)
            if probe["html"] is not None and not loading and quiet >= self.quiet_period:
                html = probe["html"]
                break
            wait = poll
            if probe["html"] is not None and not loading:
                wait = self.quiet_period - quiet  # quiet in the page, not yet since the navigation
            if not error_status and probe["html"] is None:
                wait = 0.0  # the in-page wait used up its slice: wait again at once
            await asyncio.sleep(max(0.0, min(wait, deadline - time.monotonic())))

        return FetchResult(
            url=url,
            outcome=FetchOutcome.OK,
            fetched_at=fetched_at,
            final_url=page.url,
            status=navigations[-1].status if navigations else None,
            body=html.encode("utf-8"),
            content_type="text/html",
            charset="utf-8",
            elapsed=time.monotonic() - started,
            fetcher="browser",
        )


async def _block_resources(browser: Any) -> Any:
    """Refuse images, fonts and media in the whole browser, in Chromium itself; None when it cannot.

    Chromium pauses only requests of those types and this fails them, so documents, scripts and XHR never
    wait for Python, unlike a Playwright route on every request (which costs about 0.1 s a page).
    """
    try:
        session = await asyncio.wait_for(browser.new_browser_cdp_session(), CLOSE_TIMEOUT)

        def refuse(event: dict[str, Any]) -> None:
            failing = asyncio.ensure_future(
                session.send(
                    "Fetch.failRequest", {"requestId": event["requestId"], "errorReason": "BlockedByClient"}
                )
            )
            failing.add_done_callback(lambda t: t.cancelled() or t.exception())

        session.on("Fetch.requestPaused", refuse)
        patterns = [
            {"urlPattern": "*", "resourceType": kind, "requestStage": "Request"}
            for kind in ("Image", "Font", "Media")
        ]
        await asyncio.wait_for(session.send("Fetch.enable", {"patterns": patterns}), CLOSE_TIMEOUT)
    except Exception:  # an older or different browser: fall back to routes per context
        return None
    return session


async def _open_page(browser: Any, identity: _Identity, *, route: bool) -> tuple[Any, Any]:
    """A new browser context (no cookies, no storage, no service workers) with one blank page.

    :param identity: the User-Agent (None: Chromium's own) and the extra headers of every request.
    :param route: refuse images, fonts and media with a Playwright route (when the browser does not).
    """
    user_agent, headers = identity
    context = await browser.new_context(
        user_agent=user_agent, extra_http_headers=dict(headers) or None, service_workers="block"
    )
    try:
        await context.add_init_script(_OBSERVE_JS)
        if route:
            await context.route("**/*", _route_request)
        page = await context.new_page()
    except BaseException:
        with contextlib.suppress(Exception):
            await context.close()
        raise
    return context, page


async def _close_context(context: Any) -> None:
    with contextlib.suppress(Exception):  # the context may be gone with a crashed browser
        await asyncio.wait_for(context.close(), CLOSE_TIMEOUT)


def _discard(spare: asyncio.Task[tuple[Any, Any]]) -> None:
    """Close a page opened ahead that will not be used (or cancel its opening)."""

    def close(task: asyncio.Task[tuple[Any, Any]]) -> None:
        if task.cancelled() or task.exception() is not None:
            return
        context, _page = task.result()
        closing = asyncio.ensure_future(context.close())
        closing.add_done_callback(lambda t: t.cancelled() or t.exception())

    spare.add_done_callback(close)


async def _route_request(route: Any) -> None:
    """Skip images, fonts and media; let documents, scripts, styles and XHR through."""
    if route.request.resource_type in BLOCKED_RESOURCE_TYPES:
        await route.abort("blockedbyclient")
    else:
        await route.continue_()


def _unsettled(probe: dict[str, Any] | None, selectors: Sequence[str], loading: bool) -> str:
    """Why a page was not done at the deadline, for the error text."""
    if probe is None:
        return "no document"
    if probe["missing"]:
        return "selector(s) never matched: " + ", ".join(probe["missing"])
    if probe["empty"]:
        return "the selected content stayed empty" if selectors else "the page body stayed empty"
    if loading or probe.get("requests"):
        return "scripts or requests kept loading"
    return "the content kept changing"


def _remaining(deadline: float) -> float:
    return max(0.001, deadline - time.monotonic())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _http_error(url: str, status: int, final_url: str, fetched_at: datetime, started: float) -> FetchResult:
    return _error(
        url,
        FetchOutcome.HTTP_ERROR,
        fetched_at,
        started,
        f"HTTP {status} in the browser",
        status=status,
        final_url=final_url,
    )


def _error(
    url: str,
    outcome: FetchOutcome,
    fetched_at: datetime,
    started: float,
    error: str,
    *,
    status: int | None = None,
    final_url: str | None = None,
) -> FetchResult:
    return FetchResult(
        url=url,
        outcome=outcome,
        fetched_at=fetched_at,
        final_url=final_url,
        status=status,
        elapsed=time.monotonic() - started,
        error=error,
        fetcher="browser",
    )
