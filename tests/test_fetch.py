# SPDX-License-Identifier: Apache-2.0
"""The fetcher against a real local HTTP server, and its pure helpers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import ssl
import time
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import TypeVar

import aiohttp
import pytest

from localserver import LocalServer, RecordedRequest, Response, unused_port
from tosmonitor import fetch as fetch_module
from tosmonitor.fetch import DEFAULT_USER_AGENT, Fetcher, classify_block, detect_charset, parse_retry_after
from tosmonitor.models import FetchOutcome, FetchResult

T = TypeVar("T")

POLICY_PARAGRAPHS = [
    "<h1>Privacy Policy</h1><p>Last updated: 3 March 2025. This policy explains what information Larkspur "
    "Labs collects when you use our apps and website, why we collect it, and the choices you have.</p>",
    "<h2>Information you give us</h2><p>When you create an account we ask for your name, email address and "
    "a password. If you subscribe, our payment processor handles your card details; we only keep the last "
    "four digits and the expiry date so you can recognise the card in your settings.</p>",
    "<h2>Cookies and similar technologies</h2><p>We use cookies to keep you signed in, remember your "
    "language, and measure which pages are read. You can accept all cookies, reject all non-essential "
    "cookies or manage preferences from the cookie settings link in the footer at any time.</p>",
    "<h2>Security checks</h2><p>To protect sign-in and sign-up forms from automated abuse we may show a "
    "CAPTCHA. The CAPTCHA provider receives your IP address and browser information and is asked to verify "
    "you are human before an account is created. Access to our systems is restricted to staff who need it; "
    "access denied events are logged and reviewed.</p>",
    "<h2>How we use information</h2><p>We use your information to provide and improve the service, to answer "
    "support requests, to keep accounts secure, and to meet our legal obligations. We do not sell personal "
    "information. We do not use the content of your notes to train machine learning models.</p>",
    "<h2>Sharing</h2><p>We share information with service providers that host our infrastructure, send "
    "email on our behalf and process payments, under contracts that limit their use of it to those "
    "purposes. We may disclose information when required by law or to protect the rights of others.</p>",
    "<h2>Retention</h2><p>We keep account data while your account is open and delete it within 30 days of "
    "closure, except where we must keep records for tax or legal reasons. Backups are overwritten within "
    "90 days.</p>",
    "<h2>Your rights</h2><p>Depending on where you live you may ask for a copy of your data, correct it, "
    "delete it, or object to some uses. Write to privacy@larkspur.example and we will reply within a month. "
    "You may also complain to your local data protection authority.</p>",
    "<h2>Children</h2><p>Larkspur is not directed at children under 13 and we do not knowingly collect their "
    "information. If you believe a child has given us personal information, contact us and we will delete "
    "it.</p>",
    "<h2>International transfers</h2><p>We are based in Canada and our hosting provider stores data in Canada "
    "and the European Union. Where information leaves the country where it was collected, we rely on "
    "adequacy decisions or standard contractual clauses, and a copy of those safeguards is available on "
    "request.</p>",
    "<h2>Changes to this policy</h2><p>When we change this policy we update the date at the top. If a change "
    "is significant we tell you by email or in the app at least 30 days before it takes effect, so that you "
    "can review it, export your notes or close your account.</p>",
]
POLICY = (
    "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Privacy Policy | Larkspur</title>"
    "<script src='https://www.google.com/recaptcha/api.js?render=site-key'></script></head><body>"
    "<div class='cookie-banner'>We use cookies. <button>Accept all</button><button>Reject all</button></div>"
    "<main>" + "".join(POLICY_PARAGRAPHS) + "</main></body></html>"
)
HELP_PAGE = (
    "<html><head><title>Turning off writing suggestions</title></head><body>"
    "<div id='consent'>This site uses cookies. <button>Accept all</button> <button>Manage</button></div>"
    "<main><h1>Turning off writing suggestions</h1><p>Writing suggestions are generated on our servers "
    "from the text you are typing. Open Settings, choose Editor, and switch off Suggestions. The change "
    "applies to every device where you are signed in.</p><p>Turning suggestions off does not delete notes "
    "you already wrote. Your notes are never used to train the models that produce suggestions.</p></main>"
    "</body></html>"
)
# A help article of middling length that talks about the very things block pages say.
SIGN_IN_HELP = (
    "<html><head><title>Trouble signing in | Larkspur Help</title></head><body><main><h1>Trouble signing in"
    "</h1><p>If you forgot your password, choose Reset password on the sign-in screen and follow the link we "
    "email you. Links expire after one hour; ask for a new one if yours no longer works.</p><p>After several "
    "failed attempts we may ask you to complete a CAPTCHA to verify you are human. This protects your account "
    "from password-guessing bots. If the puzzle does not load, allow cookies for larkspur.example and disable "
    "extensions that block scripts, then reload the page.</p><p>Seeing an access denied message? Your "
    "organisation may restrict sign-in to its own network or to approved devices. Ask your administrator, "
    "and mention the request ID shown on the error screen so they can find it in the audit log.</p><p>Still "
    "stuck? Contact support from the Help menu and tell us which device and browser you use.</p></main>"
    "</body></html>"
)


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


def fetch_one(url: str, fetcher_options: dict | None = None, **fetch_options: object) -> FetchResult:
    options = {"host_spacing": 0.0, "backoff_base": 0.01, **(fetcher_options or {})}

    async def go() -> FetchResult:
        async with Fetcher(**options) as fetcher:
            return await fetcher.fetch(url, **fetch_options)  # type: ignore[arg-type]

    return asyncio.run(go())


def overlap(a: RecordedRequest, b: RecordedRequest) -> bool:
    assert a.finished is not None and b.finished is not None
    return a.started < b.finished and b.started < a.finished


# -- the fetcher against a real server ------------------------------------------------------------------------


def test_ok_after_redirect_records_final_url_and_metadata(local_server: LocalServer) -> None:
    local_server.set("/legal/privacy", POLICY, content_type="Text/HTML; Charset=UTF-8")
    local_server.redirect("/privacy", "/legal/privacy", status=301)
    result = fetch_one(local_server.url("/privacy"))
    assert result.outcome is FetchOutcome.OK, result.error
    assert result.url == local_server.url("/privacy")
    assert result.final_url == local_server.url("/legal/privacy")
    assert result.status == 200
    assert result.body == POLICY.encode()
    assert result.content_type == "text/html"
    assert result.charset == "utf-8"
    assert result.attempts == 1 and result.error is None
    assert result.elapsed > 0
    assert result.fetched_at.tzinfo is not None
    assert local_server.hits("/privacy") == 1 and local_server.hits("/legal/privacy") == 1


def test_user_agent_always_sent_and_headers_merged(local_server: LocalServer) -> None:
    local_server.set("/p", HELP_PAGE)
    fetch_one(local_server.url("/p"))
    fetch_one(
        local_server.url("/p"),
        user_agent="watchdog-bot/2.0 (+mailto:ops@example.org)",
        headers=[("Accept-Language", "fr-FR,fr;q=0.9"), ("user-agent", "ignored")],
    )
    first, second = local_server.requests_to("/p")
    assert first.header("user-agent") == DEFAULT_USER_AGENT
    assert first.header("accept-language") is None
    assert second.header("user-agent") == "watchdog-bot/2.0 (+mailto:ops@example.org)"
    assert second.header("accept-language") == "fr-FR,fr;q=0.9"
    assert first.header("if-none-match") is None and first.header("if-modified-since") is None


def test_etag_conditional_get_gives_not_modified(local_server: LocalServer) -> None:
    local_server.set("/p", POLICY, etag=True)
    first = fetch_one(local_server.url("/p"))
    assert first.outcome is FetchOutcome.OK and first.etag
    second = fetch_one(local_server.url("/p"), etag=first.etag)
    assert second.outcome is FetchOutcome.NOT_MODIFIED
    assert second.status == 304 and second.body is None and second.error is None
    assert local_server.requests_to("/p")[1].header("if-none-match") == first.etag
    local_server.set("/p", POLICY + "<p>new clause</p>", etag=True)
    third = fetch_one(local_server.url("/p"), etag=first.etag)
    assert third.outcome is FetchOutcome.OK and third.etag != first.etag


def test_connections_are_kept_alive_across_ok_and_not_modified_answers(local_server: LocalServer) -> None:
    local_server.set("/p", POLICY, etag=True)

    async def go() -> list[FetchResult]:
        async with Fetcher(host_spacing=0.0) as fetcher:
            first = await fetcher.fetch(local_server.url("/p"))
            rest = [await fetcher.fetch(local_server.url("/p"), etag=first.etag) for _ in range(3)]
            return [first, *rest]

    results = asyncio.run(go())
    assert [r.outcome for r in results] == [FetchOutcome.OK] + [FetchOutcome.NOT_MODIFIED] * 3
    ports = {r.client_port for r in local_server.requests_to("/p")}
    assert len(ports) == 1, "one connection serves all four requests"


def test_each_host_keeps_its_own_connection_alive(local_server: LocalServer) -> None:
    local_server.set("/p", POLICY, etag=True)
    port = local_server.url("/p").split(":")[2].split("/")[0]
    hosts = [f"http://127.0.0.1:{port}/p", f"http://127.0.0.1:{port}/p?copy", f"http://localhost:{port}/p"]

    async def go() -> list[FetchResult]:
        async with Fetcher(host_spacing=0.0, per_host=1) as fetcher:
            batches = [await asyncio.gather(*(fetcher.fetch(url) for url in hosts)) for _ in range(3)]
        return [r for batch in batches for r in batch]

    results = asyncio.run(go())
    assert all(r.outcome is FetchOutcome.OK for r in results), [r.error for r in results]
    ports = {r.client_port for r in local_server.requests_to("/p")}
    assert len(local_server.requests_to("/p")) == 9
    assert len(ports) == 2, "one kept-alive connection per host, for all its requests"


def test_last_modified_conditional_get(local_server: LocalServer) -> None:
    local_server.set("/p", POLICY, last_modified="Wed, 05 Feb 2025 08:30:00 GMT")
    first = fetch_one(local_server.url("/p"))
    assert first.last_modified == "Wed, 05 Feb 2025 08:30:00 GMT" and first.etag is None
    second = fetch_one(local_server.url("/p"), last_modified=first.last_modified)
    assert second.outcome is FetchOutcome.NOT_MODIFIED
    assert local_server.requests_to("/p")[1].header("if-modified-since") == first.last_modified
    older = fetch_one(local_server.url("/p"), last_modified="Mon, 01 Jan 2024 00:00:00 GMT")
    assert older.outcome is FetchOutcome.OK


def test_server_error_then_success_is_retried(local_server: LocalServer) -> None:
    local_server.set_sequence("/p", [Response(status=500, body=b"oops"), Response(body=POLICY.encode())])
    result = fetch_one(local_server.url("/p"))
    assert result.outcome is FetchOutcome.OK
    assert result.attempts == 2 and local_server.hits("/p") == 2


@pytest.mark.parametrize(
    "first",
    [Response(status=408), Response(status=503, headers={"Retry-After": "0"}), Response(status=504)],
    ids=["408", "503-retry-after", "504"],
)
def test_transient_statuses_are_retried(local_server: LocalServer, first: Response) -> None:
    local_server.set_sequence("/p", [first, Response(body=POLICY.encode())])
    result = fetch_one(local_server.url("/p"))
    assert result.outcome is FetchOutcome.OK and result.attempts == 2


@pytest.mark.parametrize("status", [400, 401, 410, 451])
def test_other_client_errors_are_not_retried(local_server: LocalServer, status: int) -> None:
    local_server.set("/p", b"no", status=status)
    result = fetch_one(local_server.url("/p"))
    assert result.outcome is FetchOutcome.HTTP_ERROR and result.status == status
    assert local_server.hits("/p") == 1


def test_persistent_server_error_gives_up_after_retries(local_server: LocalServer) -> None:
    local_server.set("/p", b"down", status=502)
    result = fetch_one(local_server.url("/p"), {"retries": 2})
    assert result.outcome is FetchOutcome.HTTP_ERROR and result.status == 502
    assert result.attempts == 3 and local_server.hits("/p") == 3
    assert "502" in (result.error or "") and "3 attempts" in (result.error or "")
    assert result.body is None


def test_dropped_connection_is_retried(local_server: LocalServer) -> None:
    # Once at once, on a new connection (a kept-alive connection the server closed is the common case) ...
    local_server.set_sequence("/once", [Response(drop=True), Response(body=POLICY.encode())])
    result = fetch_one(local_server.url("/once"))
    assert result.outcome is FetchOutcome.OK and result.attempts == 1 and local_server.hits("/once") == 2
    # ... and again after a backoff, as a new attempt, when the new connection is dropped too.
    local_server.set_sequence(
        "/twice", [Response(drop=True), Response(drop=True), Response(body=POLICY.encode())]
    )
    result = fetch_one(local_server.url("/twice"))
    assert result.outcome is FetchOutcome.OK and result.attempts == 2 and local_server.hits("/twice") == 3


def test_not_found_is_not_retried(local_server: LocalServer) -> None:
    result = fetch_one(local_server.url("/missing"), {"retries": 3})
    assert result.outcome is FetchOutcome.HTTP_ERROR and result.status == 404
    assert result.attempts == 1 and local_server.hits("/missing") == 1
    assert "404" in (result.error or "") and "url" in (result.error or "")


def test_too_many_requests_honours_retry_after(local_server: LocalServer) -> None:
    local_server.set_sequence(
        "/p", [Response(status=429, headers={"Retry-After": "1"}), Response(body=POLICY.encode())]
    )
    result = fetch_one(local_server.url("/p"))
    assert result.outcome is FetchOutcome.OK and result.attempts == 2
    first, second = local_server.requests_to("/p")
    assert second.started - first.started >= 0.95
    assert result.elapsed >= 0.95


def test_retry_after_too_long_gives_up_and_pauses_the_host(local_server: LocalServer) -> None:
    local_server.set("/p", b"slow down", status=429, headers={"Retry-After": "3600"})
    local_server.set("/q", POLICY)

    async def go() -> tuple[FetchResult, float, FetchResult, float]:
        async with Fetcher(host_spacing=0, backoff_base=0.01, max_retry_after=0.6) as fetcher:
            refused = await fetcher.fetch(local_server.url("/p"))
            backoff = fetcher.host_backoff("127.0.0.1")
            began = time.monotonic()
            later = await fetcher.fetch(local_server.url("/q"))
            return refused, backoff, later, time.monotonic() - began

    refused, backoff, later, waited = run(go())
    assert refused.outcome is FetchOutcome.HTTP_ERROR and refused.status == 429
    assert refused.retry_after == 3600 and refused.attempts == 1
    assert "Retry-After" in (refused.error or "")
    assert 0.3 < backoff <= 0.6
    # The host is not asked again before the (capped) pause is over, even by a later call for another page.
    assert later.outcome is FetchOutcome.OK and waited >= 0.3
    assert local_server.hits("/p") == 1


def test_host_backoff_of_unknown_host_is_zero() -> None:
    async def go() -> float:
        async with Fetcher() as fetcher:
            return fetcher.host_backoff("never.example")

    assert run(go()) == 0.0


def test_timeout_when_server_is_slow_to_answer(local_server: LocalServer) -> None:
    local_server.set("/p", POLICY, delay=3.0)
    began = time.monotonic()
    result = fetch_one(local_server.url("/p"), {"retries": 1}, timeout=0.3)
    assert result.outcome is FetchOutcome.TIMEOUT
    assert result.attempts == 2 and time.monotonic() - began < 2.0
    assert "0.3 s" in (result.error or "") and result.body is None


def test_timeout_is_a_total_deadline_for_a_trickling_body(local_server: LocalServer) -> None:
    # Every read succeeds quickly, but the body never ends: only a total deadline stops it.
    local_server.set("/p", chunks=[b"<p>still loading</p>"], chunk_delay=0.05, endless=True)
    began = time.monotonic()
    result = fetch_one(local_server.url("/p"), {"retries": 0}, timeout=0.5)
    assert result.outcome is FetchOutcome.TIMEOUT
    assert time.monotonic() - began < 2.0


def test_too_large_with_content_length_is_rejected_early(local_server: LocalServer) -> None:
    local_server.set("/p", b"<p>" + b"x" * 5000 + b"</p>")
    result = fetch_one(local_server.url("/p"), max_bytes=1000)
    assert result.outcome is FetchOutcome.TOO_LARGE
    assert result.body is None and result.attempts == 1
    assert "announced" in (result.error or "") and "max_bytes" in (result.error or "")


def test_too_large_without_content_length_stops_reading(local_server: LocalServer) -> None:
    local_server.set("/chunked", b"<p>" + b"y" * 5000 + b"</p>", content_length=False)
    result = fetch_one(local_server.url("/chunked"), max_bytes=1000)
    assert result.outcome is FetchOutcome.TOO_LARGE and result.body is None
    assert "grew past" in (result.error or "")
    local_server.set("/endless", chunks=[b"z" * 4096], endless=True)
    endless = fetch_one(local_server.url("/endless"), max_bytes=64_000, timeout=5)
    assert endless.outcome is FetchOutcome.TOO_LARGE and endless.body is None


def test_body_at_the_limit_is_kept(local_server: LocalServer) -> None:
    body = b"<p>" + b"k" * 993 + b"</p>"
    local_server.set("/p", body, content_length=False)
    result = fetch_one(local_server.url("/p"), max_bytes=len(body))
    assert result.outcome is FetchOutcome.OK and result.body == body


@pytest.mark.parametrize(
    ("status", "page", "reason"),
    [
        (
            200,
            "<html><head><title>One moment, please</title></head><body><p>Please complete the check below "
            "so we know you are not a robot.</p><div class='h-captcha' data-sitekey='k'></div></body></html>",
            "robot",
        ),
        (
            403,
            "<html><head><title>Access Denied</title></head><body><h1>Access Denied</h1>You don't have "
            "permission to access this page on this server.<p>Reference #18.4f2a1b.1712345678.9c0d</p>"
            "</body></html>",
            "access denied",
        ),
        (
            503,
            "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body><noscript>Enable "
            "JavaScript and cookies to continue</noscript><script>window._cf_chl_opt={cType:'managed'};"
            "</script></body></html>",
            "moment",
        ),
    ],
    ids=["captcha-200", "akamai-403", "challenge-503"],
)
def test_block_pages_are_blocked_not_retried(
    local_server: LocalServer, status: int, page: str, reason: str
) -> None:
    local_server.set("/p", page, status=status)
    result = fetch_one(local_server.url("/p"), {"retries": 2})
    assert result.outcome is FetchOutcome.BLOCKED, result
    assert result.status == status and result.body is None
    assert reason in (result.error or "").lower()
    assert local_server.hits("/p") == 1


def test_real_pages_with_consent_banners_are_ok(local_server: LocalServer) -> None:
    local_server.set("/policy", POLICY)
    local_server.set("/help", HELP_PAGE)
    assert fetch_one(local_server.url("/policy")).outcome is FetchOutcome.OK
    assert fetch_one(local_server.url("/help")).outcome is FetchOutcome.OK


def test_forbidden_page_that_is_not_a_block_page_is_an_http_error(local_server: LocalServer) -> None:
    local_server.set("/p", POLICY, status=403)
    result = fetch_one(local_server.url("/p"))
    assert result.outcome is FetchOutcome.HTTP_ERROR and result.status == 403 and result.attempts == 1


@pytest.mark.parametrize("body", [b"", b"  \r\n\t \n"], ids=["nothing", "whitespace"])
def test_empty_body_is_empty(local_server: LocalServer, body: bytes) -> None:
    local_server.set("/p", body)
    result = fetch_one(local_server.url("/p"))
    assert result.outcome is FetchOutcome.EMPTY and result.body is None
    assert "empty" in (result.error or "")


def test_connection_refused_is_a_network_error() -> None:
    url = f"http://127.0.0.1:{unused_port()}/privacy"
    result = fetch_one(url, {"retries": 1})
    assert result.outcome is FetchOutcome.NETWORK_ERROR
    assert result.attempts == 2 and result.status is None
    assert "connect" in (result.error or "")


def test_redirect_loop_is_a_network_error(local_server: LocalServer) -> None:
    local_server.redirect("/a", "/b")
    local_server.redirect("/b", "/a")
    result = fetch_one(local_server.url("/a"))
    assert result.outcome is FetchOutcome.NETWORK_ERROR and "redirect" in (result.error or "")
    assert local_server.hits("/a") + local_server.hits("/b") == 11


def test_a_redirect_to_an_address_that_cannot_be_followed_names_the_redirect(
    local_server: LocalServer,
) -> None:
    local_server.redirect("/ftp", "ftp://files.example/policy.txt")
    local_server.redirect("/broken", "http://[::1")
    for path in ("/ftp", "/broken"):
        result = fetch_one(local_server.url(path))
        assert result.outcome is FetchOutcome.NETWORK_ERROR
        assert (result.error or "").startswith("the site redirected to an address this client cannot follow")
        assert local_server.hits(path) == 1, "not retried: the next attempt would be redirected the same way"


def test_non_http_url_is_refused_without_a_request() -> None:
    result = fetch_one("ftp://files.example/policy.txt")
    assert result.outcome is FetchOutcome.NETWORK_ERROR and "http" in (result.error or "")


CP1252_TEXT = "\u201cYour data\u201d \u2013 caf\u00e9 d\u00e9j\u00e0 vu \u20ac5 \u2122"
LATIN1_TEXT = "Donn\u00e9es personnelles : \u00e0 qui s'adresser, o\u00f9 et pourquoi \u00bb \u00a7 3"


def test_windows_1252_page_via_header(local_server: LocalServer) -> None:
    body = f"<html><body><p>{CP1252_TEXT}</p></body></html>".encode("cp1252")
    local_server.set("/p", body, content_type="text/html; charset=windows-1252")
    result = fetch_one(local_server.url("/p"))
    assert result.charset == "cp1252"
    assert CP1252_TEXT in result.text()


def test_iso_8859_1_page_via_header_and_via_meta(local_server: LocalServer) -> None:
    inner = f"<body><p>{LATIN1_TEXT}</p></body></html>"
    local_server.set(
        "/header", ("<html>" + inner).encode("iso-8859-1"), content_type="text/html; charset=ISO-8859-1"
    )
    meta = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"></head>'
    local_server.set("/meta", (meta + inner).encode("iso-8859-1"), content_type="text/html")
    local_server.set("/cp", ("<html><head><meta charset=windows-1252></head>" + inner).encode("cp1252"))
    for path in ("/header", "/meta"):
        result = fetch_one(local_server.url(path))
        assert result.outcome is FetchOutcome.OK
        assert LATIN1_TEXT in result.text(), path
    # A header charset wins over a wrong <meta>: /cp is served with the default "charset=utf-8" header,
    # and its bytes are not UTF-8, so the text has replacement characters; without the header, meta is used.
    local_server.set(
        "/cp",
        ("<html><head><meta charset=windows-1252></head>" + inner).encode("cp1252"),
        content_type="text/html",
    )
    assert LATIN1_TEXT in fetch_one(local_server.url("/cp")).text()


def test_pdf_is_kept_intact_without_charset(local_server: LocalServer) -> None:
    pdf = (
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
        + bytes(range(256))
        + b"\n%%EOF\n"
    )
    local_server.set("/terms.pdf", pdf, content_type="application/pdf")
    local_server.set("/download", pdf, content_type="application/octet-stream")
    result = fetch_one(local_server.url("/terms.pdf"))
    assert result.outcome is FetchOutcome.OK
    assert result.content_type == "application/pdf" and result.charset is None and result.body == pdf
    sniffed = fetch_one(local_server.url("/download"))
    assert sniffed.content_type == "application/pdf" and sniffed.body == pdf


def test_per_host_limit_serialises_one_host_but_not_two(local_server: LocalServer) -> None:
    local_server.add_host("127.0.0.2")
    local_server.set("/slow", POLICY, delay=0.2)

    async def go(urls: list[str], **options: object) -> list[FetchResult]:
        async with Fetcher(host_spacing=0, **options) as fetcher:  # type: ignore[arg-type]
            return await asyncio.gather(*(fetcher.fetch(url) for url in urls))

    same = run(go([local_server.url("/slow"), local_server.url("/slow")]))
    assert all(r.outcome is FetchOutcome.OK for r in same)
    a, b = local_server.finished_requests("/slow", 2)
    assert not overlap(a, b)

    local_server.reset()
    local_server.set("/slow", POLICY, delay=0.2)
    two = run(go([local_server.url("/slow"), local_server.url("/slow", host="127.0.0.2")]))
    assert all(r.outcome is FetchOutcome.OK for r in two)
    a, b = local_server.finished_requests("/slow", 2)
    assert {a.host, b.host} == {"127.0.0.1", "127.0.0.2"}
    assert overlap(a, b)

    # The global limit applies across hosts.
    local_server.reset()
    local_server.set("/slow", POLICY, delay=0.2)
    run(go([local_server.url("/slow"), local_server.url("/slow", host="127.0.0.2")], concurrency=1))
    a, b = local_server.finished_requests("/slow", 2)
    assert not overlap(a, b)


def test_host_spacing_between_request_starts(local_server: LocalServer) -> None:
    async def go(spacing: float) -> float:
        local_server.reset()
        local_server.set("/a", POLICY)
        local_server.set("/b", POLICY)
        async with Fetcher(host_spacing=spacing) as fetcher:
            await fetcher.fetch(local_server.url("/a"))  # opens the connection: later arrivals are prompt
            await asyncio.gather(fetcher.fetch(local_server.url("/a")), fetcher.fetch(local_server.url("/b")))
        _, second, third = sorted(local_server.requests, key=lambda r: r.started)
        return third.started - second.started

    assert run(go(0.4)) >= 0.3
    assert run(go(0.0)) < 0.2


def test_compressed_page_is_decoded(local_server: LocalServer) -> None:
    local_server.set("/z", body=gzip.compress(POLICY.encode()), headers={"Content-Encoding": "gzip"})
    result = fetch_one(local_server.url("/z"))
    assert result.outcome is FetchOutcome.OK and result.body == POLICY.encode()
    assert "gzip" in (local_server.requests[-1].header("accept-encoding") or "")


def test_a_page_with_a_long_header_is_fetched(local_server: LocalServer) -> None:
    policy = "default-src 'self'; " + " ".join(f"https://cdn{i}.larkspur.example" for i in range(800))
    assert len(policy) > 20_000
    local_server.set("/p", POLICY, headers={"Content-Security-Policy": policy})
    result = fetch_one(local_server.url("/p"))
    assert result.outcome is FetchOutcome.OK and result.body == POLICY.encode()


def test_a_cookie_a_site_sets_goes_back_to_that_site_only(local_server: LocalServer) -> None:
    # A consent cookie set on one page is what the next page's consent wall looks for.
    local_server.add_host("127.0.0.2")
    local_server.set("/consent", HELP_PAGE, headers={"Set-Cookie": "consent=all; Path=/"})
    local_server.set("/p", POLICY)

    async def go() -> None:
        async with Fetcher(host_spacing=0) as fetcher:
            await fetcher.fetch(local_server.url("/consent"))
            await fetcher.fetch(local_server.url("/p"))
            await fetcher.fetch(local_server.url("/p", host="127.0.0.2"))

    run(go())
    first, same_site, other_site = local_server.requests
    assert first.header("cookie") is None
    assert same_site.header("cookie") == "consent=all"
    assert other_site.header("cookie") is None


def test_the_proxy_named_by_the_environment_is_used_unless_the_host_is_excluded(
    local_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    local_server.set("/p", POLICY)
    proxy = local_server.url("/").rstrip("/").replace("http://", "http://watch:s3cret@")
    monkeypatch.setenv("http_proxy", proxy)
    nobody_there = f"http://127.0.0.1:{unused_port()}/p"
    through_proxy = fetch_one(nobody_there)
    assert through_proxy.outcome is FetchOutcome.OK, through_proxy.error
    asked = local_server.requests[-1]
    assert asked.path == nobody_there, "the proxy was asked for the whole URL"
    assert asked.header("proxy-authorization") == "Basic " + base64.b64encode(b"watch:s3cret").decode()
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    direct = fetch_one(nobody_there, {"retries": 0})
    assert direct.outcome is FetchOutcome.NETWORK_ERROR and "could not connect" in (direct.error or "")
    assert len(local_server.requests) == 1


def test_injected_session_is_used_and_left_open(local_server: LocalServer) -> None:
    local_server.set("/p", POLICY)

    async def go() -> bool:
        async with aiohttp.ClientSession(headers={"X-Session": "given"}) as session:
            async with Fetcher(session=session, host_spacing=0) as fetcher:
                result = await fetcher.fetch(local_server.url("/p"))
            assert result.outcome is FetchOutcome.OK
            assert local_server.requests[-1].headers.get("x-session") == "given", "the given session sent it"
            return session.closed

    assert run(go()) is False


# -- pure helpers ---------------------------------------------------------------------------------------------

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (format_datetime(NOW - timedelta(hours=1), usegmt=True), 0.0),
        ("Sun, 01 Jun 2025 12:05:00 GMT", 300.0),
        ("-5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_parse_retry_after_with_naive_now() -> None:
    assert parse_retry_after("Sun, 01 Jun 2025 12:00:30 GMT", NOW.replace(tzinfo=None)) == 30.0


@pytest.mark.parametrize(
    ("header", "body", "expected"),
    [
        ("text/html; charset=UTF-8", b"<p>x</p>", "utf-8"),
        ('text/html; charset="Shift_JIS"', b"<p>x</p>", "shift_jis"),
        ("text/html; charset=iso-8859-1", b"<p>caf\xe9</p>", "cp1252"),
        ("text/html; charset=no-such-thing", b"<p>caf\xc3\xa9</p>", "utf-8"),
        ("text/html; charset=no-such-thing", b"<p>caf\xe9</p>", "cp1252"),
        ("text/html; charset=iso-8859-1", b"\xef\xbb\xbf<p>caf\xc3\xa9</p>", "utf-8"),
        (None, b"\xff\xfe<\x00p\x00>\x00", "utf-16"),
        (None, b'<html><head><meta charset="koi8-r"></head>', "koi8-r"),
        ("text/html", b"<meta http-equiv='content-type' content='text/html; charset=euc-jp'>", "euc_jp"),
        (None, b"<meta charset=utf-16><p>x</p>", "utf-8"),
        (None, b"<p>" + b" " * 5000 + b'<meta charset="koi8-r"> caf\xc3\xa9', "utf-8"),
        (None, b"<p>plain ascii</p>", "utf-8"),
        (None, "<p>\u201cquoted\u201d</p>".encode("cp1252"), "cp1252"),
        ("text/html; charset=iso-8859-1", "<p>caf\u00e9 \u2014 ok</p>".encode(), "utf-8"),
        (None, "<meta charset='gbk'><p>caf\u00e9</p>".encode(), "utf-8"),
        (None, b"", "utf-8"),
    ],
    ids=[
        "header",
        "quoted-header",
        "latin1-as-cp1252",
        "unknown-label-utf8",
        "unknown-label-cp1252",
        "bom-wins",
        "utf16-bom",
        "meta-charset",
        "http-equiv",
        "meta-utf16-means-utf8",
        "meta-beyond-4k-ignored",
        "ascii",
        "fallback-cp1252",
        "utf8-bytes-outrank-a-wrong-header",
        "utf8-bytes-outrank-a-wrong-meta",
        "empty",
    ],
)
def test_detect_charset(header: str | None, body: bytes, expected: str) -> None:
    assert detect_charset(header, body) == expected


BLOCK_PAGES = {
    "cloudflare": (
        "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body><div>Checking your browser "
        "before accessing the site.</div><script>(function(){window._cf_chl_opt={cvId:'3'};})();</script>"
        "</body></html>"
    ),
    "turnstile": (
        "<html><head><title>Welcome</title></head><body><p>One last step.</p><script "
        "src='https://challenges.cloudflare.com/turnstile/v0/api.js'></script></body></html>"
    ),
    "verify-human": "<html><body><h2>Please verify you are human</h2><p>Hold the button below.</p></body></html>",
    "akamai": (
        "<HTML><HEAD><TITLE>Access Denied</TITLE></HEAD><BODY><H1>Access Denied</H1>You don't have permission "
        'to access "http://www.example.com/legal" on this server.<P>Reference #18.2c3d.1700000000.1a2b3c'
        "</BODY></HTML>"
    ),
    "request-blocked": "<html><body><h1>Request blocked.</h1><p>We can't connect to the server.</p></body></html>",
    "recaptcha": (
        '<html><head><title>Verification</title></head><body><form><div class="g-recaptcha" '
        'data-sitekey="abc"></div><button>Continue</button></form></body></html>'
    ),
    "plain-denied": "Access denied",
    "cookie-wall": (
        "<html><head><title>Before you continue</title></head><body><h1>We value your privacy</h1><p>We and "
        "our 212 partners use cookies and similar technologies to store and access information on your "
        "device.</p><p>With your consent we and our partners process data for personalised ads and content, "
        "ad and content measurement, and audience insights.</p><button>Accept all</button><button>Reject all"
        "</button><a href='#'>Manage preferences</a></body></html>"
    ),
}


@pytest.mark.parametrize("name", sorted(BLOCK_PAGES))
def test_classify_block_flags_block_pages(name: str) -> None:
    content_type = "text/plain" if name == "plain-denied" else "text/html"
    reason = classify_block(200, content_type, BLOCK_PAGES[name])
    assert reason, name
    assert classify_block(403, content_type, BLOCK_PAGES[name]) == reason
    if name == "cookie-wall":
        assert reason == "cookie wall"


def test_classify_block_leaves_real_pages_alone() -> None:
    assert len(POLICY) > 3000
    assert classify_block(200, "text/html", POLICY) is None
    assert classify_block(200, "text/html", HELP_PAGE) is None
    assert 800 < len(SIGN_IN_HELP) < 2000
    assert classify_block(200, "text/html", SIGN_IN_HELP) is None
    assert classify_block(200, "text/plain", SIGN_IN_HELP) is None
    assert classify_block(200, None, POLICY) is None
    # A long policy even with a block-like title and challenge script is the document, not a block page.
    assert (
        classify_block(200, "text/html", POLICY.replace("Privacy Policy | Larkspur", "Access denied")) is None
    )


def test_classify_block_only_looks_at_some_statuses_and_text_types() -> None:
    page = BLOCK_PAGES["cloudflare"]
    assert classify_block(404, "text/html", page) is None
    assert classify_block(500, "text/html", page) is None
    assert classify_block(503, "text/html", page)
    assert classify_block(200, "application/pdf", page) is None


def test_visible_text_collapses_spaces_and_drops_blank_lines():
    from tosmonitor.fetch import _visible_text

    markup = (
        "<html><head><title>Just a moment</title><script>var a = '<p>no</p>';</script></head>\n"
        "<body>  <div>\u00a0Checking\t\tyour   browser&hellip; </div>\n\n \n"
        "<p>Ray ID:\u3000 <b>7f00</b></p><!-- hidden --><br>\x0bdone </body></html>"
    )
    assert _visible_text(markup) == "Just a moment\nChecking your browser…\nRay ID:\u3000 7f00\ndone"


# -- TLS ------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def https_server(certificate: tuple[Path, Path]) -> Iterator[str]:
    """A policy page over HTTPS on 127.0.0.1, with a self-signed certificate no authority vouches for."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    with LocalServer(tls=context) as server:
        server.set("/privacy", "<html><body><main><p>Our privacy policy.</p></main></body></html>")
        yield server.url("/privacy")


def test_every_fetcher_checks_https_certificates_with_authorities_loaded_once(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[int] = []
    real = ssl.create_default_context
    fetch_module._ssl_context.cache_clear()
    try:
        with https_server(certificate) as url:
            monkeypatch.setattr(
                ssl, "create_default_context", lambda *a, **k: loads.append(1) or real(*a, **k)
            )
            # two fetchers, as two passes make them
            results = [fetch_one(url, {"retries": 0}) for _ in range(2)]
    finally:
        fetch_module._ssl_context.cache_clear()
    assert len(loads) == 1, "the authorities are loaded once per process"
    for result in results:  # and both fetchers check the certificate against them
        assert result.outcome is FetchOutcome.NETWORK_ERROR and result.body is None
        assert "certificate" in (result.error or "").lower(), result.error


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "a  b",
        "a \t\xa0 b",
        "\v\f\r",
        "one space each",
        "lines\n  stay \n\nlines",
        "a" + " " * 37 + "b",
    ],
)
def test_space_runs_become_one_space_and_line_breaks_stay(text: str) -> None:
    assert fetch_module._collapse_space_runs(text) == fetch_module._SPACES.sub(" ", text)
