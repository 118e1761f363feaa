# SPDX-License-Identifier: Apache-2.0
"""Channels and the outbox sender of ``tosmonitor.notify`` against real local servers and SQLite files.

Mail goes to an aiosmtpd server on 127.0.0.1, webhooks and Apprise ``json://`` to a small HTTP receiver,
Atom feeds are parsed with feedparser, and the outbox runs on a real archive file.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import hashlib
import hmac
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import feedparser
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tosmonitor.archive import Archive
from tosmonitor.errors import AlertError, ConfigError
from tosmonitor.models import ChannelSpec
from tosmonitor.notify.channels import FeedChannel, build_channel
from tosmonitor.notify.outbox import deliver_pending, list_deliveries, retry_failed, send_test
from tosmonitor.notify.render import render
from tosmonitor.notify.routing import plan_deliveries

T0 = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)
SECRET = "hook-secret-for-tests"


def event(n: int = 1, **overrides: Any) -> dict[str, Any]:
    base = {
        "kind": "change",
        "event_id": f"change:{n}",
        "change_id": None,  # no changes row in these archives
        "document_id": f"service{n % 3}/terms",
        "service": f"Service{n % 3}",
        "document": "Terms of Service",
        "url": f"https://service{n % 3}.example/terms",
        "detected_at": "2026-11-23T19:00:00Z",
        "severity": "critical",
        "ai_training_change": True,
        "cosmetic": False,
        "technical": False,
        "headline": f"AI training now on by default (opt-out), change {n}",
        "stance_before": {"training": "none"},
        "stance_after": {"training": "opt-out"},
        "findings": [
            {
                "rule": "training_added_opt_out",
                "severity": "critical",
                "summary": "Training on user posts added, on by default",
                "old": None,
                "new": "We may train our models on what you post <unless you opt out>.",
            }
        ],
        "stats": {"sentences_added": 1},
        "diff_excerpt": "{+We may train our models+}",
        "links": {"cli": f"tosmonitor diff service{n % 3}/terms 1 2", "web": None},
    }
    base.update(overrides)
    return base


class Clock:
    """A settable clock for the outbox."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


# -- a local HTTP receiver ----------------------------------------------------------------------------------


class Receiver:
    """Records POSTs (path, headers, raw body) and answers with scripted statuses (the last one repeats)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.statuses: dict[str, list[int]] = {}
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with owner.lock:
                    owner.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    script = owner.statuses.get(self.path, [200])
                    status = script.pop(0) if len(script) > 1 else script[0]
                reply = b'{"ok": true}' if status < 300 else b"receiver says no"
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def to(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        with self.lock:
            return [(h, b) for p, h, b in self.requests if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Any]:
    archive = Archive(tmp_path / "archive.db")
    yield archive.db
    archive.close()


def webhook(receiver: Receiver, path: str = "/hook", **fields: Any) -> ChannelSpec:
    return ChannelSpec(
        name=fields.pop("name", "hook"),
        type="webhook",
        options={"url": receiver.url(path), "secret_env": "HOOK_SECRET", "timeout": 5.0},
        **fields,
    )


def queue(db: Any, events: list[dict[str, Any]], specs: list[ChannelSpec], now: datetime = T0) -> None:
    columns = (
        "idempotency_key, event_kind, event_id, change_id, document_id, channel, severity, payload, "
        "status, attempts, next_attempt_at, created_at"
    )
    with db.atomic():
        for e in events:
            for row in plan_deliveries(e, specs, now):
                db.execute(
                    f"INSERT INTO deliveries ({columns}) VALUES ({', '.join('?' * 12)})",
                    [row[c.strip()] for c in columns.split(",")],
                )


def statuses(db: Any) -> list[tuple[str, int]]:
    return [
        (r["status"], r["attempts"]) for r in db.query("SELECT status, attempts FROM deliveries ORDER BY id")
    ]


# -- email -------------------------------------------------------------------------------------------------


class Mailbox:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int, list[bytes]]]:
    mailbox, logins = Mailbox(), []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == b"s3cret"
        if ok:
            logins.append(data.login)
        return AuthResult(success=ok)

    port = free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False
    )
    controller.start()
    yield mailbox, port, logins
    controller.stop()


def email_spec(port: int, **options: Any) -> ChannelSpec:
    opts = {
        "to": ["watch@ngo.example", "desk@ngo.example"],
        "from": "tosmonitor@ngo.example",
        "host": "127.0.0.1",
        "port": port,
        "starttls": False,
        "tls": False,
        "username_env": "SMTP_USER",
        "password_env": "SMTP_PASSWORD",
        "timeout": 5.0,
    }
    opts.update(options)
    return ChannelSpec(name="mail", type="email", options=opts)


ENV = {"SMTP_USER": "monitor", "SMTP_PASSWORD": "s3cret", "HOOK_SECRET": SECRET}


def test_email_multipart_with_auth(smtp_server: tuple[Mailbox, int, list[bytes]]) -> None:
    mailbox, port, logins = smtp_server
    channel = build_channel(email_spec(port), ENV)
    e = event(5)
    channel.send(render(e), e, "change:5:mail")
    assert logins == [b"monitor"]
    (envelope,) = mailbox.envelopes
    assert envelope.mail_from == "tosmonitor@ngo.example"
    assert envelope.rcpt_tos == ["watch@ngo.example", "desk@ngo.example"]
    mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert (
        mail["Subject"]
        == "[critical] Service2 Terms of Service: AI training now on by default (opt-out), change 5"
    )
    plain = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert plain.startswith(mail["Subject"]) and "https://service2.example/terms" in plain
    assert "&lt;unless you opt out&gt;" in html and "<unless" not in html


def test_email_failures_name_the_server(smtp_server: tuple[Mailbox, int, list[bytes]]) -> None:
    _, port, _ = smtp_server
    wrong = build_channel(email_spec(port, timeout=1.0), dict(ENV, SMTP_PASSWORD="wrong"))
    with pytest.raises(AlertError, match=rf"email channel 'mail': SMTP error from 127.0.0.1:{port}"):
        send_test(wrong)
    closed = free_port()
    with pytest.raises(AlertError, match=rf"cannot reach 127.0.0.1:{closed}"):
        send_test(build_channel(email_spec(closed), ENV))


@contextlib.contextmanager
def tls_smtp_server(certificate: tuple[Path, Path], *, implicit: bool) -> Iterator[tuple[Mailbox, int]]:
    """An SMTP server on 127.0.0.1 that offers a login over TLS only: implicit TLS, or STARTTLS required."""
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    mailbox, port = Mailbox(), free_port()

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        return AuthResult(success=isinstance(data, LoginPassword) and data.password == b"s3cret")

    # aiosmtpd counts only STARTTLS as encryption when it decides whether to offer a login
    tls: dict[str, Any] = (
        {"ssl_context": context, "auth_require_tls": False}
        if implicit
        else {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
    )
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, authenticator=authenticator, **tls)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def _send_one(channel, mailbox, number: int):  # noqa: ANN001, ANN202
    """Send change ``number`` through ``channel``: the one envelope the server then holds."""
    e = event(number)
    channel.send(render(e), e, f"change:{number}:mail")
    (envelope,) = mailbox.envelopes
    return envelope


def test_email_over_starttls_checks_the_certificate(certificate: tuple[Path, Path]) -> None:
    with tls_smtp_server(certificate, implicit=False) as (mailbox, port):
        channel = build_channel(email_spec(port, starttls=True, ca_file=str(certificate[0])), ENV)
        envelope = _send_one(channel, mailbox, 6)
        assert envelope.rcpt_tos == ["watch@ngo.example", "desk@ngo.example"]
        with pytest.raises(
            AlertError, match="does not accept a login .it offers STARTTLS: set starttls: true"
        ):
            send_test(build_channel(email_spec(port), ENV))  # this server wants STARTTLS first
        with pytest.raises(AlertError, match="cannot reach 127.0.0.1.*CERTIFICATE_VERIFY_FAILED"):
            send_test(build_channel(email_spec(port, starttls=True), ENV))  # not signed by a system authority
        assert len(mailbox.envelopes) == 1


def test_email_over_implicit_tls(certificate: tuple[Path, Path]) -> None:
    with tls_smtp_server(certificate, implicit=True) as (mailbox, port):
        channel = build_channel(email_spec(port, tls=True, ca_file=str(certificate[0])), ENV)
        envelope = _send_one(channel, mailbox, 7)
        assert envelope.mail_from == "tosmonitor@ngo.example"


# -- webhook -----------------------------------------------------------------------------------------------


def test_webhook_signed_json_and_404_is_a_failure(receiver: Receiver) -> None:
    channel = build_channel(webhook(receiver), ENV)
    e = event(1)
    channel.send(render(e), e, "change:1:hook")
    ((headers, body),) = receiver.to("/hook")
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-tosmonitor-signature"] == expected
    assert headers["idempotency-key"] == "change:1:hook"
    assert headers["content-type"] == "application/json"
    assert int(headers["x-tosmonitor-timestamp"]) > 1_700_000_000
    payload = json.loads(body)
    assert payload == dict(e, idempotency_key="change:1:hook")

    receiver.statuses["/gone"] = [404]
    gone = build_channel(webhook(receiver, "/gone"), ENV)
    with pytest.raises(AlertError, match=r"answered HTTP 404: receiver says no"):
        gone.send(render(e), e, "change:1:hook")


def test_outbox_retries_500_then_delivers_exactly_once(db: Any, receiver: Receiver) -> None:
    receiver.statuses["/hook"] = [500, 200]
    spec = webhook(receiver)
    queue(db, [event(1)], [spec])
    channels = {"hook": build_channel(spec, ENV)}
    clock = Clock()

    first = deliver_pending(db, channels, now=clock)
    assert (first.sent, first.retrying, first.failed) == (0, 1, 0)
    row = list_deliveries(db)[0]
    assert row["status"] == "pending" and row["attempts"] == 1
    assert "HTTP 500" in row["last_error"]
    assert deliver_pending(db, channels, now=clock).sent == 0  # not due yet: backoff ~30 s

    clock.advance(40)
    second = deliver_pending(db, channels, now=clock)
    assert second.sent == 1
    clock.advance(3600)
    assert deliver_pending(db, channels, now=clock).sent == 0
    row = list_deliveries(db, status="sent")[0]
    assert row["attempts"] == 2 and row["sent_at"] is not None
    keys = [h["idempotency-key"] for h, _ in receiver.to("/hook")]
    assert keys == ["change:1:hook", "change:1:hook"]  # one failed try, one delivery, nothing after


def test_outbox_gives_up_after_max_attempts_and_retry_requeues(db: Any, receiver: Receiver) -> None:
    receiver.statuses["/down"] = [500]
    spec = webhook(receiver, "/down", max_attempts=3)
    queue(db, [event(1), event(2)], [spec])
    channels = {"hook": build_channel(spec, ENV)}
    clock = Clock()
    gaps = []
    for _ in range(3):
        deliver_pending(db, channels, now=clock)
        rows = list_deliveries(db)
        if rows[0]["status"] == "pending":
            due = datetime.fromisoformat(rows[0]["next_attempt_at"].replace("Z", "+00:00"))
            gaps.append((due - clock.now).total_seconds())
        clock.advance(7 * 3600)
    assert statuses(db) == [("failed", 3), ("failed", 3)]
    assert 27 <= gaps[0] <= 33 and 54 <= gaps[1] <= 66  # 30 s, then 60 s, with jitter
    failed = list_deliveries(db, status="failed")
    assert all("HTTP 500" in r["last_error"] for r in failed)
    assert len(receiver.to("/down")) == 6
    assert deliver_pending(db, channels, now=clock).sent == 0  # failed rows stay failed

    receiver.statuses["/down"] = [200]
    assert retry_failed(db, failed[0]["id"], now=clock.now) == 1
    assert deliver_pending(db, channels, now=clock).sent == 1
    assert retry_failed(db, now=clock.now) == 1
    assert deliver_pending(db, channels, now=clock).sent == 1
    assert statuses(db) == [("sent", 1), ("sent", 1)]


def test_killed_sender_delivers_after_restart_and_never_twice(tmp_path: Path, receiver: Receiver) -> None:
    spec = webhook(receiver)
    path = tmp_path / "archive.db"
    archive = Archive(path)
    queue(archive.db, [event(1), event(2), event(3)], [spec])
    archive.close()  # the process dies after committing the change and before sending

    archive = Archive(path)
    report = deliver_pending(archive.db, {"hook": build_channel(spec, ENV)}, limit=2)
    assert report.sent == 2
    archive.close()
    archive = Archive(path)
    channel = build_channel(spec, ENV)
    assert deliver_pending(archive.db, {"hook": channel}).sent == 1
    # a sent row whose next_attempt_at lies in the past is still never picked again
    assert deliver_pending(archive.db, {"hook": channel}, now=lambda: T0 + timedelta(days=30)).sent == 0
    archive.close()
    keys = [h["idempotency-key"] for h, _ in receiver.to("/hook")]
    assert sorted(keys) == ["change:1:hook", "change:2:hook", "change:3:hook"]


def test_rows_of_unconfigured_channels_stay_pending(db: Any, receiver: Receiver) -> None:
    spec = webhook(receiver)
    queue(db, [event(1)], [spec, ChannelSpec(name="old-log", type="log")])
    report = deliver_pending(db, {"hook": build_channel(spec, ENV)})
    assert (report.sent, report.skipped) == (1, 1)
    assert statuses(db) == [("sent", 1), ("pending", 0)]


def test_channel_bug_is_recorded_not_raised(db: Any) -> None:
    spec = ChannelSpec(name="broken", type="log", max_attempts=1)

    class Broken:
        name, budget = "broken", None

        def __init__(self) -> None:
            self.spec = spec

        def send(self, message: Any, event: Any, key: str) -> None:
            raise RuntimeError("boom")

    queue(db, [event(1)], [spec])
    report = deliver_pending(db, {"broken": Broken()})  # type: ignore[dict-item]
    assert report.failed == 1 and "RuntimeError: boom" in report.errors[0][2]


# -- digest ------------------------------------------------------------------------------------------------


def test_run_digest_sends_one_message_for_all_pending_events(db: Any, receiver: Receiver) -> None:
    spec = webhook(receiver, "/digest", name="digest", digest="run")
    queue(db, [event(i) for i in range(1, 6)], [spec])
    report = deliver_pending(db, {"digest": build_channel(spec, ENV)}, now=Clock())
    assert (report.sent, report.messages) == (5, 1)
    ((headers, body),) = receiver.to("/digest")
    payload = json.loads(body)
    assert payload["kind"] == "digest" and payload["count"] == 5
    assert [e["event_id"] for e in payload["events"]] == [f"change:{i}" for i in range(1, 6)]
    assert headers["idempotency-key"].startswith("digest:digest:")
    assert statuses(db) == [("sent", 1)] * 5


def test_daily_digest_waits_for_midnight(db: Any, receiver: Receiver) -> None:
    spec = webhook(receiver, "/daily", name="daily", digest="daily")
    queue(db, [event(1), event(2)], [spec], now=T0)
    channels = {"daily": build_channel(spec, ENV)}
    assert deliver_pending(db, channels, now=lambda: T0 + timedelta(hours=4)).sent == 0
    report = deliver_pending(db, channels, now=lambda: T0 + timedelta(hours=5, minutes=1))
    assert (report.sent, report.messages) == (2, 1)
    assert len(receiver.to("/daily")) == 1


# -- apprise -----------------------------------------------------------------------------------------------


def test_apprise_json_url_delivers_and_reports_failures(receiver: Receiver) -> None:
    port = receiver.server.server_address[1]
    spec = ChannelSpec(name="chat", type="apprise", options={"url": f"json://127.0.0.1:{port}/apprise"})
    channel = build_channel(spec, ENV)
    e = event(1)
    channel.send(render(e, budget=channel.budget), e, "change:1:chat")
    ((_, body),) = receiver.to("/apprise")
    payload = json.loads(body)
    assert payload["title"] == render(e).subject
    assert "https://service1.example/terms" in payload["message"]

    receiver.statuses["/apprise"] = [503]
    with pytest.raises(AlertError, match=r"apprise channel 'chat' \(json://\): delivery failed: .*503"):
        send_test(channel)


def test_apprise_budget_by_scheme() -> None:
    discord = build_channel(ChannelSpec("d", "apprise", {"url": "discord://1234567/abcdefgh"}), {})
    mastodon = build_channel(ChannelSpec("m", "apprise", {"url": "mastodon://token@mastodon.example"}), {})
    assert (discord.budget, mastodon.budget) == (2000, 500)


# -- feed --------------------------------------------------------------------------------------------------


def test_feed_writes_valid_atom_per_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    feeds = tmp_path / "feeds"
    channel = build_channel(ChannelSpec("feed", "feed", {"path": str(feeds), "title": "Watch"}), {})
    for n in range(1, 7):
        e = event(n)
        channel.send(render(e), e, f"change:{n}:feed")
    e = event(3)
    channel.send(render(e), e, "change:3:feed")  # a re-send replaces its entry
    all_feed = feedparser.parse(str(feeds / "all.atom"))
    assert not all_feed.bozo, all_feed.bozo_exception
    assert all_feed.feed.title == "Watch"
    assert len(all_feed.entries) == 6
    assert all_feed.entries[0].title == render(event(3)).subject
    assert "&lt;unless you opt out&gt;" in all_feed.entries[0].content[0].value
    one = feedparser.parse(str(feeds / "service1.atom"))
    assert not one.bozo and one.feed.title == "Watch: Service1"
    assert sorted(x.link for x in one.entries) == ["https://service1.example/terms"] * 2
    assert not list(feeds.glob(".*"))  # no temporary files left

    monkeypatch.setattr(FeedChannel, "keep", 2)
    for n in range(7, 12):
        e = event(n)
        channel.send(render(e), e, f"change:{n}:feed")
    assert [x.id for x in feedparser.parse(str(feeds / "all.atom")).entries] == [
        "urn:tosmonitor:change:11",
        "urn:tosmonitor:change:10",
    ]
    assert [x.id for x in feedparser.parse(str(feeds / "service1.atom")).entries] == [
        "urn:tosmonitor:change:10",
        "urn:tosmonitor:change:7",
    ]


# -- log ---------------------------------------------------------------------------------------------------


def test_log_channel_json_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    e = event(1)
    build_channel(ChannelSpec("log", "log", {"stream": "stderr", "format": "json"}), {}).send(
        render(e), e, "change:1:log"
    )
    build_channel(ChannelSpec("log2", "log", {}), {}).send(render(e), e, "change:1:log2")
    out, err = capsys.readouterr()
    assert json.loads(err)["idempotency_key"] == "change:1:log"
    assert out.count("\n") == 1 and render(e).subject in out and "<https://service1.example/terms>" in out


# -- configuration errors ----------------------------------------------------------------------------------


def test_bad_channel_configuration_is_named(receiver: Receiver) -> None:
    with pytest.raises(ConfigError, match=r"channel 'hook': environment variable HOOK_SECRET .*not set"):
        build_channel(webhook(receiver), {})
    with pytest.raises(ConfigError, match=r"channel 'mail': environment variable SMTP_PASSWORD"):
        build_channel(email_spec(25), {"SMTP_USER": "x"})
    with pytest.raises(ConfigError, match=r"channel 'pager': unknown type 'pager' \(use one of email, "):
        build_channel(ChannelSpec("pager", "pager"), {})
    with pytest.raises(ConfigError, match=r"channel 'chat': Apprise does not accept the URL"):
        build_channel(ChannelSpec("chat", "apprise", {"url": "nosuchscheme://x"}), {})
    with pytest.raises(ConfigError, match=r"channel 'feed': missing option 'path'"):
        build_channel(ChannelSpec("feed", "feed", {}), {})
