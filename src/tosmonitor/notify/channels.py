# SPDX-License-Identifier: Apache-2.0
"""Alert channels: email, webhook, apprise, feed and log, built from a ``ChannelSpec``.

Each channel is a small class with a ``type``, documented options and one method,
``send(message, event, idempotency_key)``, which raises :class:`~tosmonitor.errors.AlertError` with the
real reason on any failure. Channels are registered in :data:`CHANNEL_TYPES`; :func:`build_channel` makes
one, reading secrets from the environment variables named by its ``*_env`` options.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import smtplib
import socket
import ssl
import sys
import tempfile
import time
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, ClassVar, Protocol, TextIO
from urllib.parse import quote, urlsplit
from xml.sax.saxutils import escape as xml_escape

import httpx

from ..clock import iso_seconds, utcnow
from ..errors import AlertError, ConfigError
from ..models import ChannelSpec
from .render import Message, render

__all__ = [
    "APPRISE_BUDGETS",
    "CHANNEL_TYPES",
    "AppriseChannel",
    "Channel",
    "EmailChannel",
    "FeedChannel",
    "LogChannel",
    "WebhookChannel",
    "build_channel",
    "sign",
    "webhook_body",
]


class Channel(Protocol):
    """What the outbox needs from a channel."""

    name: str
    spec: ChannelSpec
    budget: int | None

    def send(self, message: Message, event: dict[str, Any], idempotency_key: str) -> None: ...


def _secret(spec: ChannelSpec, option: str, environ: Mapping[str, str]) -> str | None:
    variable = spec.options.get(option)
    if not variable:
        return None
    value = environ.get(str(variable))
    if not value:
        raise ConfigError(
            f"channel {spec.name!r}: environment variable {variable} (named by {option}) is not set",
            field=f"channels.{spec.name}.{option}",
        )
    return value


def _require(spec: ChannelSpec, option: str) -> Any:
    value = spec.options.get(option)
    if value in (None, "", [], ()):
        raise ConfigError(
            f"channel {spec.name!r}: missing option {option!r} (required for a {spec.type} channel)",
            field=f"channels.{spec.name}.{option}",
        )
    return value


def _timeout(spec: ChannelSpec) -> float:
    return float(spec.options.get("timeout") or 30.0)  # type: ignore[arg-type]


# -- email ---------------------------------------------------------------------------------------------------


class EmailChannel:
    """Send each alert as a multipart (plain text + HTML) e-mail over SMTP.

    Options: ``to`` (list of addresses), ``from``, ``host``, ``port`` (default 25, 587 with starttls, 465
    with tls), ``starttls`` (upgrade a plain connection), ``tls`` (implicit TLS), ``username_env`` and
    ``password_env`` (environment variables holding the credentials), ``timeout`` (seconds, default 30),
    ``ca_file`` (a PEM file of the certificate authorities to trust instead of the system's, for a private relay).
    """

    type: ClassVar[str] = "email"

    def __init__(self, spec: ChannelSpec, environ: Mapping[str, str] = os.environ) -> None:
        self.name = spec.name
        self.spec = spec
        self.budget: int | None = None
        to = _require(spec, "to")
        self.to = [to] if isinstance(to, str) else [str(a) for a in to]  # type: ignore[union-attr]
        self.sender = str(_require(spec, "from"))
        self.host = str(_require(spec, "host"))
        self.starttls = bool(spec.options.get("starttls"))
        self.tls = bool(spec.options.get("tls"))
        default_port = 465 if self.tls else 587 if self.starttls else 25
        self.port = int(spec.options.get("port") or default_port)  # type: ignore[call-overload]
        self.timeout = _timeout(spec)
        self.username = _secret(spec, "username_env", environ)
        self.password = _secret(spec, "password_env", environ)
        ca_file = spec.options.get("ca_file")
        self.ssl_context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)

    def build(self, message: Message, idempotency_key: str) -> EmailMessage:
        """The e-mail for ``message`` (exposed for tests and previews)."""
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.to)
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        domain = self.sender.rsplit("@", 1)[-1]
        mail["Message-ID"] = make_msgid(hashlib.sha256(idempotency_key.encode()).hexdigest()[:24], domain)
        mail["X-Tosmonitor-Idempotency-Key"] = idempotency_key
        mail.set_content(message.text)
        if message.html:
            mail.add_alternative(
                f"<!DOCTYPE html>\n<html><body>\n{message.html}\n</body></html>", subtype="html"
            )
        return mail

    def send(self, message: Message, event: dict[str, Any], idempotency_key: str) -> None:
        mail = self.build(message, idempotency_key)
        where = f"{self.host}:{self.port}"
        try:
            smtp: smtplib.SMTP
            if self.tls:
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.ssl_context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.starttls:
                    smtp.starttls(context=self.ssl_context)
                if self.username and self.password:
                    self._login(smtp, where)
                refused = smtp.send_message(mail, from_addr=self.sender, to_addrs=self.to)
        except smtplib.SMTPException as exc:
            raise AlertError(f"email channel {self.name!r}: SMTP error from {where}: {exc}") from exc
        except (OSError, ssl.SSLError) as exc:
            raise AlertError(f"email channel {self.name!r}: cannot reach {where}: {exc}") from exc
        if refused:
            raise AlertError(f"email channel {self.name!r}: recipients refused by {where}: {refused}")

    def _login(self, smtp: smtplib.SMTP, where: str) -> None:
        try:
            smtp.login(self.username or "", self.password or "")
        except smtplib.SMTPNotSupportedError as exc:
            hint = ""
            if not (self.starttls or self.tls) and smtp.has_extn("starttls"):
                hint = " (it offers STARTTLS: set starttls: true, as servers offer login only once encrypted)"
            raise AlertError(
                f"email channel {self.name!r}: {where} does not accept a login{hint}: {exc}"
            ) from exc

    def close(self) -> None:
        pass


# -- webhook -------------------------------------------------------------------------------------------------


def webhook_body(event: dict[str, Any], idempotency_key: str) -> bytes:
    """The raw JSON body a webhook receives: the event plus its ``idempotency_key``."""
    return json.dumps(
        dict(event, idempotency_key=idempotency_key), ensure_ascii=False, sort_keys=True
    ).encode("utf-8")


def sign(body: bytes, secret: str) -> str:
    """The ``X-Tosmonitor-Signature`` value: ``sha256=<hex HMAC-SHA256 of the raw body>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookChannel:
    """POST the JSON event to a URL, signed with HMAC-SHA256 when a secret is configured.

    Options: ``url``, ``secret_env`` (environment variable holding the signing secret), ``headers``
    (extra request headers), ``timeout`` (seconds, default 30). Any non-2xx answer is a failure.
    """

    type: ClassVar[str] = "webhook"

    def __init__(
        self,
        spec: ChannelSpec,
        environ: Mapping[str, str] = os.environ,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = spec.name
        self.spec = spec
        self.budget: int | None = None
        self.url = str(_require(spec, "url"))
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise ConfigError(
                f"channel {spec.name!r}: webhook url must be http(s), got {self.url!r}",
                field=f"channels.{spec.name}.url",
            )
        self.secret = _secret(spec, "secret_env", environ)
        extra = spec.options.get("headers") or {}
        self.headers = {str(k): str(v) for k, v in dict(extra).items()}  # type: ignore[call-overload]
        if transport is None:  # headers and body leave in two writes: don't let Nagle delay the second
            transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        self.client = httpx.Client(
            timeout=_timeout(spec),
            transport=transport,
            headers={"User-Agent": "tosmonitor-webhook/0.1"},
        )

    def send(self, message: Message, event: dict[str, Any], idempotency_key: str) -> None:
        body = webhook_body(event, idempotency_key)
        headers = dict(self.headers)
        headers.update(
            {
                "Content-Type": "application/json",
                "Idempotency-Key": idempotency_key,
                "X-Tosmonitor-Timestamp": str(int(time.time())),
                "X-Tosmonitor-Event": str(event.get("kind")),
            }
        )
        if self.secret:
            headers["X-Tosmonitor-Signature"] = sign(body, self.secret)
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise AlertError(
                f"webhook channel {self.name!r}: POST {self.url} failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not response.is_success:
            snippet = " ".join(response.text[:200].split())
            raise AlertError(
                f"webhook channel {self.name!r}: POST {self.url} answered HTTP {response.status_code}"
                + (f": {snippet}" if snippet else "")
            )

    def close(self) -> None:
        self.client.close()


# -- apprise -------------------------------------------------------------------------------------------------

APPRISE_BUDGETS: dict[str, int] = {
    "discord": 2000,
    "telegram": 4096,
    "tgram": 4096,
    "slack": 3000,
    "mastodon": 500,
    "toot": 500,
    "ntfy": 4000,
    "ntfys": 4000,
}


class AppriseChannel:
    """Send through any Apprise URL (Slack, Discord, Telegram, Matrix, ntfy, Mastodon...).

    Options: ``url`` (an Apprise URL; secrets may come from the environment by writing ``{ENV_NAME}``
    in it). Messages are cut to the service's length budget (Discord 2,000 characters, Telegram 4,096,
    Slack 3,000, Mastodon 500, ntfy 4,000).
    """

    type: ClassVar[str] = "apprise"

    def __init__(self, spec: ChannelSpec, environ: Mapping[str, str] = os.environ) -> None:
        import apprise

        self.name = spec.name
        self.spec = spec
        url = str(_require(spec, "url"))
        for variable in re.findall(r"\{([A-Z_][A-Z0-9_]*)\}", url):
            if not environ.get(variable):
                raise ConfigError(
                    f"channel {spec.name!r}: environment variable {variable} (used in url) is not set",
                    field=f"channels.{spec.name}.url",
                )
            url = url.replace("{" + variable + "}", environ[variable])
        self.scheme = urlsplit(url).scheme.lower()
        self.budget = APPRISE_BUDGETS.get(self.scheme)
        self.apprise = apprise.Apprise()
        if not self.apprise.add(url):
            raise ConfigError(
                f"channel {spec.name!r}: Apprise does not accept the URL (scheme {self.scheme!r})",
                field=f"channels.{spec.name}.url",
            )

    def send(self, message: Message, event: dict[str, Any], idempotency_key: str) -> None:
        import apprise

        if self.budget is not None:  # the text starts with the subject: one field, within the budget
            title, body = "", message.text
        else:
            title, body = message.subject, message.text.split("\n", 1)[-1].strip() or message.text
        with apprise.LogCapture(level=apprise.logging.WARNING) as captured:
            ok = self.apprise.notify(title=title, body=body)
        if not ok:
            log = captured.getvalue().strip().splitlines()
            reason = " ".join(line.split(" - ", 2)[-1] for line in log[-3:]) or "no reason logged"
            raise AlertError(f"apprise channel {self.name!r} ({self.scheme}://): delivery failed: {reason}")

    def close(self) -> None:
        pass


# -- feed ----------------------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


class FeedChannel:
    """Write Atom feeds: ``all.atom`` and one ``<service-slug>.atom`` per service, in a directory.

    Options: ``path`` (the directory), ``title`` (feed title, default "tosmonitor"), ``base_url`` (where the
    directory is served, for the feeds' self links). The newest 200 entries per feed are kept (in
    ``entries.json`` beside the feeds); files are replaced atomically. Re-sending an event replaces its
    entry instead of adding a second one.
    """

    type: ClassVar[str] = "feed"
    keep: ClassVar[int] = 200

    def __init__(self, spec: ChannelSpec, environ: Mapping[str, str] = os.environ) -> None:
        self.name = spec.name
        self.spec = spec
        self.budget: int | None = None
        self.directory = Path(str(_require(spec, "path")))
        self.title = str(spec.options.get("title") or "tosmonitor")
        base = spec.options.get("base_url")
        self.base_url = str(base).rstrip("/") + "/" if base else None

    def send(self, message: Message, event: dict[str, Any], idempotency_key: str) -> None:
        events = event.get("events") if event.get("kind") == "digest" else None
        new = [self._entry(render(e), e) for e in events] if events else [self._entry(message, event)]
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            entries = self._load()
            ids = {e["id"] for e in new}
            entries = [e for e in entries if e["id"] not in ids] + new
            entries = self._trim(entries)
            self._write(self.directory / "entries.json", json.dumps(entries, ensure_ascii=False, indent=1))
            self._write(self.directory / "all.atom", self._atom(entries, "all", self.title))
            for service in {e["service"] for e in new if e["service"]}:
                own = [e for e in entries if e["service"] == service]
                self._write(
                    self.directory / f"{_slug(service)}.atom",
                    self._atom(own, _slug(service), f"{self.title}: {service}"),
                )
        except OSError as exc:
            raise AlertError(f"feed channel {self.name!r}: cannot write {self.directory}: {exc}") from exc

    def _entry(self, message: Message, event: dict[str, Any]) -> dict[str, Any]:
        links = event.get("links") or {}
        return {
            "id": "urn:tosmonitor:" + quote(str(event.get("event_id") or ""), safe=":/"),
            "service": event.get("service"),
            "title": message.subject,
            "updated": str(event.get("detected_at") or _now_iso()),
            "link": links.get("web") or event.get("url"),
            "html": message.html or xml_escape(message.text),
            "text": message.text,
        }

    def _load(self) -> list[dict[str, Any]]:
        path = self.directory / "entries.json"
        if not path.exists():
            return []
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise AlertError(f"feed channel {self.name!r}: {path} is not valid JSON: {exc}") from exc
        return list(data)

    def _trim(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        keep: set[int] = set(range(max(0, len(entries) - self.keep), len(entries)))
        per_service: dict[str, int] = {}
        for index in range(len(entries) - 1, -1, -1):
            service = entries[index]["service"] or ""
            per_service[service] = per_service.get(service, 0) + 1
            if per_service[service] <= self.keep:
                keep.add(index)
        return [e for i, e in enumerate(entries) if i in keep]

    def _atom(self, entries: list[dict[str, Any]], slug: str, title: str) -> str:
        shown = entries[-self.keep :][::-1]
        updated = max((e["updated"] for e in shown), default=_now_iso())
        lines = [
            '<?xml version="1.0" encoding="utf-8"?>',
            '<feed xmlns="http://www.w3.org/2005/Atom">',
            f"  <id>urn:tosmonitor:feed:{xml_escape(slug)}</id>",
            f"  <title>{xml_escape(title)}</title>",
            f"  <updated>{xml_escape(updated)}</updated>",
            "  <author><name>tosmonitor</name></author>",
            '  <generator uri="https://github.com/tosmonitor/tosmonitor">tosmonitor</generator>',
        ]
        if self.base_url:
            href = xml_escape(f"{self.base_url}{slug}.atom", {'"': "&quot;"})
            lines.append(f'  <link rel="self" href="{href}"/>')
        for e in shown:
            lines += [
                "  <entry>",
                f"    <id>{xml_escape(e['id'])}</id>",
                f"    <title>{xml_escape(e['title'])}</title>",
                f"    <updated>{xml_escape(e['updated'])}</updated>",
            ]
            if e.get("link"):
                lines.append(
                    f'    <link rel="alternate" href="{xml_escape(e["link"], {chr(34): "&quot;"})}"/>'
                )
            lines.append(f"    <summary>{xml_escape(e['title'])}</summary>")
            lines.append(f'    <content type="html">{xml_escape(e["html"])}</content>')
            lines.append("  </entry>")
        lines.append("</feed>")
        return "\n".join(lines) + "\n"

    def _write(self, path: Path, text: str) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def close(self) -> None:
        pass


def _now_iso() -> str:
    return iso_seconds(utcnow())


# -- log -----------------------------------------------------------------------------------------------------


class LogChannel:
    """Write one line per alert to stdout or stderr.

    Options: ``stream`` (``stdout`` or ``stderr``, default stdout), ``format`` (``text``: the subject and
    URL on one line; ``json``: the event with its ``idempotency_key``, one JSON object per line).
    """

    type: ClassVar[str] = "log"

    def __init__(self, spec: ChannelSpec, environ: Mapping[str, str] = os.environ) -> None:
        self.name = spec.name
        self.spec = spec
        self.budget: int | None = None
        self.stream_name = str(spec.options.get("stream") or "stdout")
        self.format = str(spec.options.get("format") or "text")
        if self.stream_name not in ("stdout", "stderr"):
            raise ConfigError(
                f"channel {spec.name!r}: stream must be stdout or stderr, got {self.stream_name!r}",
                field=f"channels.{spec.name}.stream",
            )
        if self.format not in ("text", "json"):
            raise ConfigError(
                f"channel {spec.name!r}: format must be text or json, got {self.format!r}",
                field=f"channels.{spec.name}.format",
            )

    def _stream(self) -> TextIO:
        return sys.stdout if self.stream_name == "stdout" else sys.stderr

    def send(self, message: Message, event: dict[str, Any], idempotency_key: str) -> None:
        if self.format == "json":
            line = json.dumps(
                dict(event, idempotency_key=idempotency_key), ensure_ascii=False, sort_keys=True
            )
        else:
            url = event.get("url")
            line = f"{_now_iso()} tosmonitor alert {message.subject}" + (f" <{url}>" if url else "")
        stream = self._stream()
        try:
            stream.write(line.replace("\n", " ") + "\n")
            stream.flush()
        except (OSError, ValueError) as exc:
            raise AlertError(f"log channel {self.name!r}: cannot write to {self.stream_name}: {exc}") from exc

    def close(self) -> None:
        pass


# -- registry ------------------------------------------------------------------------------------------------

CHANNEL_TYPES: dict[str, type[Any]] = {
    "email": EmailChannel,
    "webhook": WebhookChannel,
    "apprise": AppriseChannel,
    "feed": FeedChannel,
    "log": LogChannel,
}


def build_channel(spec: ChannelSpec, environ: Mapping[str, str] = os.environ) -> Channel:
    """The channel for ``spec``, with its secrets read from ``environ``.

    :raises ConfigError: for an unknown type, a missing option or a missing environment variable, naming
        the channel and the field.
    """
    cls = CHANNEL_TYPES.get(spec.type)
    if cls is None:
        raise ConfigError(
            f"channel {spec.name!r}: unknown type {spec.type!r} (use one of {', '.join(CHANNEL_TYPES)})",
            field=f"channels.{spec.name}.type",
        )
    channel: Channel = cls(spec, environ)
    return channel
