# SPDX-License-Identifier: Apache-2.0
"""The polite, bounded HTTP fetcher: one URL in, one classified ``FetchResult`` out.

This module owns everything between a URL and its raw bytes:

- one ``aiohttp`` client session per host (HTTP/1.1, keep-alive, cookies, redirects followed up to 10 hops);
- politeness: a global concurrency limit, a per-host limit (1 by default), a minimum spacing between the
  starts of two requests to one host, and a per-host pause when the host answered 429/503 with
  ``Retry-After`` (kept across calls, capped);
- bounds: a total deadline per attempt (headers *and* body) and a maximum body size enforced while streaming;
- retries with exponential backoff and full jitter, for transient failures only (connection errors,
  timeouts, 5xx, 408, 429);
- conditional GET (``If-None-Match`` / ``If-Modified-Since``);
- classification of what came back: ok, not modified, HTTP error, timeout, too large, empty, blocked
  (captcha, bot check, "access denied", cookie wall), network error;
- charset detection for text bodies.

``Fetcher.fetch`` never raises for network or HTTP problems: the outcome and a human-readable ``error`` (what
happened, what to try) are in the result. The pure helpers ``classify_block``, ``detect_charset`` and
``parse_retry_after`` are usable on their own.
"""

from __future__ import annotations

import asyncio
import codecs
import email.utils
import html
import random
import re
import ssl
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import certifi

from .models import FetchOutcome, FetchResult, codec_keeps_ascii

__all__ = [
    "DEFAULT_USER_AGENT",
    "Fetcher",
    "classify_block",
    "detect_charset",
    "is_text_type",
    "parse_retry_after",
]

DEFAULT_USER_AGENT = "tosmonitor/0.1 (+https://github.com/tosmonitor/tosmonitor)"
MAX_REDIRECTS = 10
# Longest header line accepted: sites send content-security policies and cookies of 10 KB and more.
MAX_HEADER_LINE = 64 * 2**10

_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504}) | frozenset(range(505, 600))
_CLASSIFY_STATUSES = frozenset({200, 403, 503})
_BODY_STATUSES = frozenset({200, 203, 403, 429, 503})


# -- pure helpers -------------------------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header value.

    :param value: the header value: delay-seconds (``"120"``) or an HTTP-date.
    :param now: the current time (an aware datetime; a naive one is taken as UTC).
    :returns: seconds, never negative, or None when the value is missing or unparseable.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


_TEXT_TYPES = frozenset(
    {
        "application/xhtml+xml",
        "application/xml",
        "application/json",
        "application/javascript",
        "application/ld+json",
        "application/rss+xml",
        "application/atom+xml",
    }
)


def is_text_type(media_type: str | None) -> bool:
    """True for media types whose body is text (HTML, XML, JSON, plain text...); None counts as text."""
    if media_type is None:
        return True
    return (
        media_type.startswith("text/")
        or media_type in _TEXT_TYPES
        or media_type.endswith("+xml")
        or media_type.endswith("+json")
    )


_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Labels that browsers decode as windows-1252 (WHATWG Encoding Standard): pages labelled latin-1 routinely
# contain curly quotes and dashes in the 0x80-0x9F range.
_AS_CP1252 = frozenset({"latin-1", "iso8859-1", "ascii", "cp1252"})
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9._:\-]+)""", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:\-]+)""", re.IGNORECASE)


def _codec_name(label: str | None) -> str | None:
    """Python's canonical codec name for a charset label, or None when Python does not know it."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except LookupError:
        return None
    return "cp1252" if name in _AS_CP1252 else name


def detect_charset(content_type_header: str | None, body: bytes) -> str:
    """The encoding of a text body, as a Python codec name.

    Order: a byte-order mark (it wins, as in browsers), the ``charset`` of the Content-Type header, a
    ``<meta charset>`` or ``http-equiv`` declaration in the first 4 KB, UTF-8 when the bytes decode as
    UTF-8, else windows-1252. Unknown labels are skipped; latin-1 and ASCII labels map to windows-1252.
    A declared encoding that keeps ASCII as it is (windows-1252, GBK...) gives way to UTF-8 when the bytes
    decode as UTF-8: text in it is never valid UTF-8 beyond ASCII, and servers misname encodings (the
    extractor reads bodies the same way).
    """
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    declared = None
    if content_type_header:
        match = _CHARSET_PARAM.search(content_type_header)
        declared = _codec_name(match.group(1)) if match else None
    if declared is None:
        match = _META_CHARSET.search(body[:4096])
        name = _codec_name(match.group(1).decode("ascii", "replace")) if match else None
        # A page whose bytes we could read the declaration from is not UTF-16 (WHATWG rule).
        declared = "utf-8" if name and name.startswith("utf-16") else name
    if declared is not None and (declared == "utf-8" or not codec_keeps_ascii(declared) or body.isascii()):
        return declared
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return declared or "cp1252"
    return "utf-8"


# Classification of pages that are not the document: challenges, blocks, cookie walls.

# Sizes in visible characters. Block pages say little (a Cloudflare challenge about 300 characters, an
# Akamai denial 200); policies say a lot. Cookie walls can be longer, hence two limits.
_WALL_PAGE = 2500  # nothing longer is ever flagged
_SHORT_PAGE = 1500  # titles, phrases and challenge markers are only looked for on pages this short
_LEAD = 200  # ... phrases only in the title, the headings or the first characters (where block pages say it)
_TINY_PAGE = 600  # captcha widgets and the bare words "captcha" / "access denied" only on pages this short
_WALL_LEFTOVER = 300  # visible characters left once consent sentences are removed

# Technical markers found on challenge pages only (not the scripts some sites embed on every page, such as
# Cloudflare's /cdn-cgi/challenge-platform/ detections or Incapsula's resource script).
_CHALLENGE_MARKERS = (
    ("_cf_chl_opt", "Cloudflare challenge"),
    ("cf-browser-verification", "Cloudflare challenge"),
    ("cf_captcha_kind", "Cloudflare challenge"),
    ("px-captcha", "PerimeterX (HUMAN) challenge"),
    ("captcha-delivery.com", "DataDome challenge"),
)
# Captcha widgets: some sites load them on every page (invisible reCAPTCHA), so only a tiny page counts.
_WIDGET_MARKERS = (
    ("challenges.cloudflare.com/turnstile", "Cloudflare Turnstile challenge"),
    ('class="h-captcha"', "hCaptcha challenge"),
    ("class='h-captcha'", "hCaptcha challenge"),
    ("hcaptcha.com/1/api.js", "hCaptcha challenge"),
    ('class="g-recaptcha"', "reCAPTCHA challenge"),
    ("class='g-recaptcha'", "reCAPTCHA challenge"),
    ("google.com/recaptcha/api", "reCAPTCHA challenge"),
)
_STRONG_PHRASES = (  # looked for where a block page puts them (title, headings, first lines), not in prose
    ("just a moment...", 'bot check ("Just a moment...")'),
    ("checking your browser", 'bot check ("Checking your browser")'),
    ("checking if the site connection is secure", "bot check (connection security check)"),
    ("verify you are human", 'bot check ("verify you are human")'),
    ("verifying you are human", 'bot check ("verifying you are human")'),
    ("verify that you are human", 'bot check ("verify that you are human")'),
    ("are you a robot", 'bot check ("Are you a robot?")'),
    ("not a robot", 'captcha ("not a robot")'),
    ("press & hold", 'bot check ("Press & Hold")'),
    ("press and hold", 'bot check ("Press and hold")'),
    ("pardon our interruption", 'bot check ("Pardon Our Interruption")'),
    ("unusual traffic from your computer network", "bot check (unusual traffic)"),
    ("sorry, you have been blocked", 'blocked ("you have been blocked")'),
    ("request blocked", 'blocked ("Request blocked")'),
    ("request could not be satisfied", 'blocked ("The request could not be satisfied")'),
    ("incapsula incident id", "blocked (Incapsula incident)"),
    ("access to this page has been denied", "access denied"),
    ("enable javascript and cookies to continue", "bot check (JavaScript and cookies required)"),
)
_BLOCK_TITLES = (
    (re.compile(r"^just a moment"), 'bot check ("Just a moment...")'),
    (re.compile(r"^attention required"), 'Cloudflare block ("Attention Required!")'),
    (
        re.compile(r"^access denied|^access to this page has been denied|^403 forbidden|^forbidden$"),
        "access denied",
    ),
    (re.compile(r"^(request )?blocked"), 'blocked ("Request blocked")'),
    (re.compile(r"captcha|robot check|are you a robot|human verification|bot verification"), "captcha page"),
    (
        re.compile(r"^security (check|verification)|^one more step|^please wait"),
        "bot check (security check page)",
    ),
    (re.compile(r"^pardon our interruption"), 'bot check ("Pardon Our Interruption")'),
)
_ACCESS_DENIED = re.compile(r"access denied|you don't have permission to access|you do not have permission")
_CAPTCHA_WORD = re.compile(r"captcha")
_CONSENT_WORDS = re.compile(r"cookie|consent|privacy choices|your choices|partners|tracking|preferences")
_CONSENT_ACTIONS = re.compile(
    r"accept all|accept cookies|allow all|reject all|decline all|agree and continue|i agree|"
    r"manage (cookie )?(settings|preferences|options)|before you continue|we value your privacy|"
    r"customi[sz]e (cookie )?(settings|choices)"
)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")

_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_INVISIBLE = re.compile(
    r"<(script|style|template|svg)\b[^>]*>.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL
)
_BLOCK_TAG = re.compile(
    r"</?(p|div|li|h[1-6]|br|tr|section|article|button|title|header|footer)\b[^>]*>", re.I
)
_TAG = re.compile(r"<[^>]+>")
_HEADING = re.compile(r"<h[1-3]\b[^>]*>(.*?)</h[1-3]\s*>", re.IGNORECASE | re.DOTALL)
_SPACES = re.compile(r"[ \t\r\f\v\xa0]+")
_ODD_SPACES = "\t\r\f\v\xa0"  # the characters of _SPACES other than the plain space


def _visible_text(markup: str) -> str:
    """Rough visible text of an HTML (or plain text) page: scripts, styles and tags dropped, lines kept.

    Runs of spaces become one space, and lines are stripped with the blank ones dropped.
    """
    text = _INVISIBLE.sub(" ", markup)
    text = _BLOCK_TAG.sub("\n", text)
    text = _collapse_space_runs(html.unescape(_TAG.sub(" ", text)))
    return "\n".join([line for line in (part.strip() for part in text.split("\n")) if line])


def _collapse_space_runs(text: str) -> str:
    """``_SPACES.sub(" ", text)``, with ``replace`` passes: a quarter of the time of any pattern tried (the
    pattern stops at every space between two words)."""
    for ch in _ODD_SPACES:
        if ch in text:
            text = text.replace(ch, " ")
    while "  " in text:
        text = text.replace("  ", " ")
    return text


def _long_visible_prefix(markup: str, prefixes: tuple[int, ...] = (4096, 12288)) -> bool:
    """Cheap exit for long pages: a prefix of the page alone already holds more visible text than a block page
    ever does (used only when no script or style is left open at the cut). The shorter prefix is tried
    first: on most policy pages it settles the question for a third of the work."""
    for prefix in prefixes:
        if len(markup) <= prefix * 2:
            return False
        head = markup[:prefix]
        head = head[: head.rfind(">") + 1]
        lower = head.lower()
        if any(
            lower.rfind("<" + tag) > lower.rfind("</" + tag) for tag in ("script", "style", "template", "svg")
        ):
            continue
        if len(_visible_text(head)) > _WALL_PAGE:
            return True
    return False


def _title(markup: str) -> str:
    match = _TITLE.search(markup[:65536])
    if not match:
        return ""
    return _SPACES.sub(" ", html.unescape(_TAG.sub("", match.group(1)))).strip().lower()


def _headings(markup: str) -> list[str]:
    return [_visible_text(h).lower() for h in _HEADING.findall(markup[:65536])]


def _is_cookie_wall(visible: str) -> bool:
    """Short page made of consent prose and buttons, with almost nothing else on it."""
    lower = visible.lower()
    if not _CONSENT_ACTIONS.search(lower) or not _CONSENT_WORDS.search(lower):
        return False
    leftover = [
        part
        for part in _SENTENCE_SPLIT.split(visible)
        if not _CONSENT_WORDS.search(part.lower()) and not _CONSENT_ACTIONS.search(part.lower())
    ]
    return sum(len(part) for part in leftover) < _WALL_LEFTOVER


def classify_block(status: int, content_type: str | None, text: str) -> str | None:
    """Why a response is a block page rather than the document, or None when it looks like a real page.

    Only 200, 403 and 503 responses of text types are examined. Pages long enough to be a policy are never
    flagged, whatever words they contain: a policy may well *mention* cookies, captchas or access.

    :param status: the HTTP status.
    :param content_type: the media type without parameters (None when the server sent none).
    :param text: the decoded body.
    :returns: a short reason ("Cloudflare challenge", "cookie wall", "access denied"...) or None.
    """
    if status not in _CLASSIFY_STATUSES or not is_text_type(content_type):
        return None
    if _long_visible_prefix(text):
        return None
    head = text[:200_000]
    visible = _visible_text(head)
    size = len(visible)
    if size > _WALL_PAGE:
        return None
    if size <= _SHORT_PAGE:
        reason = _block_reason(head, visible)
        if reason:
            return reason
    if _is_cookie_wall(visible):
        return "cookie wall"
    return None


def _block_reason(markup: str, visible: str) -> str | None:
    """The block-page rules for a short page."""
    lower_markup = markup.lower()
    lower = visible.lower()
    tiny = len(visible) <= _TINY_PAGE
    title = _title(markup)
    for pattern, reason in _BLOCK_TITLES:
        if title and pattern.search(title):
            return reason
    for marker, reason in _CHALLENGE_MARKERS:
        if marker in lower_markup:
            return reason
    prominent = "\n".join([title, *_headings(markup), lower[:_LEAD]])
    for phrase, reason in _STRONG_PHRASES:
        if phrase in prominent:
            return reason
    if not tiny:
        return None
    for marker, reason in _WIDGET_MARKERS:
        if marker in lower_markup:
            return reason
    if _ACCESS_DENIED.search(lower):
        return "access denied"
    if _CAPTCHA_WORD.search(lower):
        return "captcha page"
    return None


# -- the fetcher --------------------------------------------------------------------------------------------


@dataclass
class _Host:
    """Politeness state of one host."""

    slots: asyncio.Semaphore
    next_start: float = 0.0  # monotonic time before which no request may start
    paused_until: float = 0.0  # monotonic time set by Retry-After
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True)
class _Attempt:
    """What one attempt produced, before retry decisions."""

    outcome: FetchOutcome
    error: str | None = None
    status: int | None = None
    final_url: str | None = None
    body: bytes | None = None
    content_type: str | None = None
    charset: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    retry_after: float | None = None
    transient: bool = False


def _media_type(header: str | None, body: bytes | None) -> str | None:
    media = header.split(";", 1)[0].strip().lower() if header else ""
    if body is not None and body.startswith(b"%PDF-") and media in ("", "application/octet-stream"):
        return "application/pdf"
    return media or None


def _reason(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _status_hint(status: int) -> str:
    if status in (401, 403):
        return "the site refuses this client; check the URL in a browser, or try another user_agent or javascript: true"
    if status in (404, 410):
        return "the page moved or was removed; find its new address and update the url"
    if status == 429:
        return "the site rate-limits this client; check less often or lower per_host/concurrency"
    if status >= 500:
        return "the site is failing; it is usually temporary, the next check will try again"
    return "check the URL in a browser"


def _size(n: int) -> str:
    if n >= 2**20:
        return f"{n / 2**20:.1f} MiB"
    return f"{n / 2**10:.1f} KiB" if n >= 2**10 else f"{n} bytes"


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """The certificate authorities (Mozilla's, from ``certifi``), loaded once per process (0.05 to 0.1 s each
    time) and shared by the sessions of every fetcher the process makes (a test run, a bench that makes one per
    cycle)."""
    return ssl.create_default_context(cafile=certifi.where())


class Fetcher:
    """Fetches URLs politely and within bounds. Use as ``async with Fetcher() as f: await f.fetch(url)``.

    :param session: an ``aiohttp.ClientSession`` to use for every host (not closed by the fetcher); by default
        the fetcher makes one per host.
    :param concurrency: requests in flight at once, all hosts together.
    :param per_host: requests in flight at once to one host.
    :param host_spacing: minimum seconds between the starts of two requests to one host.
    :param retries: extra attempts after a transient failure (connection error, timeout, 5xx, 408, 429).
    :param backoff_base: first backoff in seconds; it doubles at each retry (full jitter: a random wait
        between 0 and the backoff).
    :param backoff_max: the largest backoff.
    :param max_retry_after: the longest ``Retry-After`` honoured; a longer one ends the fetch at once
        (http_error with ``retry_after`` set) and pauses the host for this long.
    """

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None = None,
        concurrency: int = 8,
        per_host: int = 1,
        host_spacing: float = 1.0,
        retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float = 120.0,
    ) -> None:
        if concurrency < 1 or per_host < 1:
            raise ValueError("concurrency and per_host must be at least 1")
        if retries < 0 or host_spacing < 0 or backoff_base < 0 or max_retry_after < 0:
            raise ValueError("retries, host_spacing, backoff_base and max_retry_after must not be negative")
        self._session = session  # one for every host when given; else one per host (see _session_for)
        # per host: its session, and the proxy options of its requests
        self._sessions: dict[str, tuple[aiohttp.ClientSession, dict[str, Any]]] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self._per_host = per_host
        self._spacing = host_spacing
        self._retries = retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._max_retry_after = max_retry_after
        self._hosts: dict[str, _Host] = {}

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP sessions this fetcher created (not one it was given)."""
        sessions, self._sessions = list(self._sessions.values()), {}
        for session, _proxy in sessions:
            await session.close()

    def _session_for(self, url: str) -> tuple[aiohttp.ClientSession, dict[str, Any]]:
        """The session for ``url``'s host, and the proxy options of its requests.

        A session per host: its own small connection pool (``per_host`` connections, one more for a redirect to
        another host) and its own cookies, which is all a host is ever asked for at once. ``unsafe`` cookies:
        a site reached by its IP address keeps its cookies too (a consent cookie). The proxy the environment
        names for the host (``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``) is read once, here: aiohttp's
        ``trust_env`` would read it, and ``~/.netrc``, in a thread at every request. A given session is used
        as it is.
        """
        if self._session is not None:
            return self._session, {}
        netloc = urlsplit(url).netloc.lower()
        known = self._sessions.get(netloc)
        if known is None:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._per_host * 2, ssl=_ssl_context()),
                cookie_jar=aiohttp.CookieJar(unsafe=True),
                max_line_size=MAX_HEADER_LINE,
                max_field_size=MAX_HEADER_LINE,
            )
            known = self._sessions[netloc] = (session, _env_proxy(url))
        return known

    def host_backoff(self, host: str) -> float:
        """Seconds until ``host`` may be asked again (after a 429/503 with Retry-After); 0 when it may now.

        :param host: the URL's host name without port, e.g. ``"www.example.com"`` (case does not matter).
        """
        state = self._hosts.get(host.lower())
        if state is None:
            return 0.0
        return max(0.0, state.paused_until - time.monotonic())

    async def fetch(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
        user_agent: str = DEFAULT_USER_AGENT,
        timeout: float = 30.0,
        max_bytes: int = 10 * 2**20,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> FetchResult:
        """Fetch ``url`` once (with retries for transient failures) and classify the result.

        Never raises for network or HTTP problems: see ``FetchResult.outcome`` and ``FetchResult.error``.

        :param headers: extra request headers (e.g. Accept-Language), merged over the defaults.
        :param user_agent: the identifying User-Agent, always sent.
        :param timeout: total seconds allowed for one attempt, headers and body included.
        :param max_bytes: the largest body accepted (decoded bytes).
        :param etag: the ETag of the last full response: sends If-None-Match.
        :param last_modified: its Last-Modified: sends If-Modified-Since.
        """
        started = time.monotonic()
        fetched_at = datetime.now(UTC)
        host = (urlsplit(url).hostname or "").lower()
        if not host or urlsplit(url).scheme not in ("http", "https"):
            return FetchResult(
                url=url,
                outcome=FetchOutcome.NETWORK_ERROR,
                fetched_at=fetched_at,
                error=f"{url!r} is not an http(s) URL; check the url field",
            )
        request_headers = self._headers(headers, user_agent, etag, last_modified)
        attempts = 0
        while True:
            attempts += 1
            async with self._host_slot(host):
                fetched_at = datetime.now(UTC)
                async with self._slots:
                    attempt = await self._attempt(url, request_headers, timeout, max_bytes)
                if attempt.retry_after is not None:
                    self._pause(host, attempt.retry_after)
            give_up = (
                not attempt.transient
                or attempts > self._retries
                or (attempt.retry_after is not None and attempt.retry_after > self._max_retry_after)
            )
            if give_up:
                return _result(url, attempt, fetched_at, started, attempts)
            if attempt.retry_after is None:  # with Retry-After the host pause does the waiting
                ceiling = min(self._backoff_max, self._backoff_base * 2 ** (attempts - 1))
                await asyncio.sleep(random.uniform(0, ceiling))

    # -- internals -----------------------------------------------------------------------------------------

    @staticmethod
    def _headers(
        extra: Mapping[str, str] | Sequence[tuple[str, str]],
        user_agent: str,
        etag: str | None,
        last_modified: str | None,
    ) -> dict[str, str]:
        merged = {
            "User-Agent": user_agent or DEFAULT_USER_AGENT,
            "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,application/pdf;q=0.8,*/*;q=0.5",
        }
        items = extra.items() if isinstance(extra, Mapping) else extra
        lower = {key.lower(): key for key in merged}
        for key, value in items:
            existing = lower.get(key.lower())
            if existing is not None and existing != key:
                del merged[existing]
            merged[key] = value
            lower[key.lower()] = key
        if user_agent and "user-agent" in lower:  # the explicit user_agent always wins
            merged[lower["user-agent"]] = user_agent
        if etag:
            merged["If-None-Match"] = etag
        if last_modified:
            merged["If-Modified-Since"] = last_modified
        return merged

    def _host(self, host: str) -> _Host:
        state = self._hosts.get(host)
        if state is None:
            state = self._hosts[host] = _Host(slots=asyncio.Semaphore(self._per_host))
        return state

    def _pause(self, host: str, seconds: float) -> None:
        state = self._host(host)
        until = time.monotonic() + min(seconds, self._max_retry_after)
        state.paused_until = max(state.paused_until, until)

    def _host_slot(self, host: str) -> _HostSlot:
        return _HostSlot(self._host(host), self._spacing)

    async def _attempt(self, url: str, headers: dict[str, str], timeout: float, max_bytes: int) -> _Attempt:
        try:
            async with asyncio.timeout(timeout):
                return await self._request(url, headers, timeout, max_bytes)
        except TimeoutError as exc:  # aiohttp's own timeouts are TimeoutErrors too
            phase = (
                "to connect" if isinstance(exc, aiohttp.ConnectionTimeoutError) else "for a complete response"
            )
            return _Attempt(
                FetchOutcome.TIMEOUT,
                f"waited {timeout:g} s {phase}; the site may be slow or dropping this client: "
                "raise this document's timeout or try later",
                transient=True,
            )
        except aiohttp.TooManyRedirects:
            return _Attempt(
                FetchOutcome.NETWORK_ERROR,
                f"more than {MAX_REDIRECTS} redirects (a redirect loop, often a login or consent redirect); "
                "open the URL in a browser and use the final address",
            )
        # Before InvalidURL, which it also is: the address is a redirect's target, not the url field.
        except aiohttp.RedirectClientError as exc:
            return _Attempt(
                FetchOutcome.NETWORK_ERROR,
                f"the site redirected to an address this client cannot follow ({exc}); open the URL in a "
                "browser and use the final address",
            )
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as exc:
            return _Attempt(
                FetchOutcome.NETWORK_ERROR, f"cannot request this URL ({exc}); check the url field"
            )
        except aiohttp.ClientConnectorError as exc:
            return _Attempt(
                FetchOutcome.NETWORK_ERROR,
                f"could not connect ({exc or type(exc).__name__}); check the host name and that the site is up",
                transient=True,
            )
        except aiohttp.ClientError as exc:
            return _Attempt(
                FetchOutcome.NETWORK_ERROR,
                f"the connection failed during the exchange ({type(exc).__name__}: {exc}); usually temporary",
                transient=True,
            )

    async def _request(self, url: str, headers: dict[str, str], timeout: float, max_bytes: int) -> _Attempt:
        session, proxy = self._session_for(url)
        async with session.get(
            url,
            headers=headers,
            **proxy,
            max_redirects=MAX_REDIRECTS + 1,  # aiohttp counts the redirect it refuses to follow
            # the total deadline is _attempt's; this only names a slow connection as such
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout),
        ) as response:
            status = response.status
            response_headers = response.headers
            ctype_header = response_headers.get("content-type")
            common: dict[str, Any] = {
                "status": status,
                "final_url": str(response.url),
                "etag": response_headers.get("etag"),
                "last_modified": response_headers.get("last-modified"),
            }
            retry_after = None
            if status in (429, 503):
                retry_after = parse_retry_after(response_headers.get("retry-after"), datetime.now(UTC))
            if status == 304:
                return _Attempt(FetchOutcome.NOT_MODIFIED, **common)
            body: bytes | None = None
            if status in _BODY_STATUSES:
                declared = response_headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    return _Attempt(
                        FetchOutcome.TOO_LARGE,
                        f"the server announced {_size(int(declared))}, over the {_size(max_bytes)} limit; "
                        "raise max_bytes for this document if the page really is that large",
                        **common,
                    )
                body = await _read_limited(response, max_bytes)
                if body is None:
                    return _Attempt(
                        FetchOutcome.TOO_LARGE,
                        f"the body grew past the {_size(max_bytes)} limit and was not kept; "
                        "raise max_bytes for this document if the page really is that large",
                        **common,
                    )
        return _classify(status, ctype_header, body, retry_after, common)


def _env_proxy(url: str) -> dict[str, Any]:
    """The ``proxy`` of requests to ``url``'s host, from the environment; {} for none. Credentials in the
    proxy's URL go to the proxy only (``Proxy-Authorization``, or the ``CONNECT`` of an HTTPS request)."""
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return {}
    return {"proxy": proxy}


class _HostSlot:
    """Holds one of a host's slots and waits for its spacing and any Retry-After pause before a request."""

    def __init__(self, host: _Host, spacing: float) -> None:
        self._host = host
        self._spacing = spacing

    async def __aenter__(self) -> None:
        await self._host.slots.acquire()
        try:
            async with self._host.lock:
                while True:
                    now = time.monotonic()
                    ready = max(self._host.next_start, self._host.paused_until)
                    if ready <= now:
                        break
                    await asyncio.sleep(ready - now)
                self._host.next_start = time.monotonic() + self._spacing
        except BaseException:
            self._host.slots.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._host.slots.release()


async def _read_limited(response: aiohttp.ClientResponse, max_bytes: int) -> bytes | None:
    """The (decoded) body, or None as soon as it exceeds ``max_bytes`` (reading stops there, and the
    connection is closed rather than kept)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _classify(
    status: int,
    ctype_header: str | None,
    body: bytes | None,
    retry_after: float | None,
    common: dict[str, Any],
) -> _Attempt:
    """Turn a complete response into an attempt outcome."""
    content_type = _media_type(ctype_header, body)
    text_type = is_text_type(content_type)
    charset = detect_charset(ctype_header, body) if body is not None and text_type else None
    if body is not None and status in _CLASSIFY_STATUSES and text_type:
        reason = classify_block(status, content_type, body.decode(charset or "utf-8", errors="replace"))
        if reason:
            return _Attempt(
                FetchOutcome.BLOCKED,
                f"{_reason(status)} but the page is a {reason}, not the document; try javascript: true "
                "(a real browser), a different user_agent, or check the URL by hand",
                content_type=content_type,
                retry_after=retry_after,
                **common,
            )
    if status == 200 or (200 <= status < 300 and body is not None):
        if body is None or not body.strip():
            return _Attempt(
                FetchOutcome.EMPTY,
                f"{_reason(status)} with an empty body; the site may be failing or need javascript: true",
                content_type=content_type,
                **common,
            )
        return _Attempt(
            FetchOutcome.OK, None, body=body, content_type=content_type, charset=charset, **common
        )
    if 200 <= status < 300:
        return _Attempt(
            FetchOutcome.EMPTY,
            f"{_reason(status)} without a body; check the URL in a browser",
            content_type=content_type,
            **common,
        )
    wait = f" (Retry-After: {retry_after:g} s)" if retry_after is not None else ""
    return _Attempt(
        FetchOutcome.HTTP_ERROR,
        f"{_reason(status)}{wait}; {_status_hint(status)}",
        content_type=content_type,
        retry_after=retry_after,
        transient=status in _RETRY_STATUSES,
        **common,
    )


def _elapsed_note(attempts: int) -> str:
    return "" if attempts == 1 else f" (after {attempts} attempts)"


def _result(url: str, attempt: _Attempt, fetched_at: datetime, started: float, attempts: int) -> FetchResult:
    error = attempt.error + _elapsed_note(attempts) if attempt.error else None
    return FetchResult(
        url=url,
        outcome=attempt.outcome,
        fetched_at=fetched_at,
        final_url=attempt.final_url,
        status=attempt.status,
        body=attempt.body if attempt.outcome is FetchOutcome.OK else None,
        content_type=attempt.content_type,
        charset=attempt.charset if attempt.outcome is FetchOutcome.OK else None,
        etag=attempt.etag,
        last_modified=attempt.last_modified,
        elapsed=time.monotonic() - started,
        attempts=attempts,
        error=error,
        retry_after=attempt.retry_after,
    )
