# SPDX-License-Identifier: Apache-2.0
"""Plain data passed between modules: what to watch, how to extract it, what a fetch returned.

These dataclasses are the contracts between ``config``, ``fetch``, ``extract``, ``archive`` and
``monitor``. They hold data only; behaviour lives in the module that owns each step, but for two small
helpers that fetching and extraction both need: :func:`sha256_hex` and :func:`codec_keeps_ascii`.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache


@lru_cache(maxsize=64)
def codec_keeps_ascii(codec: str) -> bool:
    """Whether the codec ``codec`` writes ASCII as ASCII (not UTF-16, UTF-32 or EBCDIC; False when unknown)."""
    try:
        return "<p>Az09".encode(codec) == b"<p>Az09"
    except (LookupError, UnicodeError):
        return False


@dataclass(frozen=True)
class RangeSelector:
    """A slice of the page between two CSS-selected elements (Open Terms Archive's range selector).

    Exactly one of ``start_before`` / ``start_after`` and one of ``end_before`` / ``end_after`` is set.
    "before" includes the matched element in the range, "after" excludes it.
    """

    start_before: str | None = None
    start_after: str | None = None
    end_before: str | None = None
    end_after: str | None = None


Selector = str | RangeSelector


@dataclass(frozen=True)
class Rules:
    """How to turn one fetched page into text: CSS selectors kept and removed, named filters."""

    select: tuple[Selector, ...] = ()
    remove: tuple[Selector, ...] = ()
    filters: tuple[str, ...] = ()


@dataclass(frozen=True)
class Source:
    """One page of a document. Most documents have one; some combine several pages in order."""

    url: str
    rules: Rules = field(default_factory=Rules)


@dataclass(frozen=True)
class DocumentSpec:
    """One watched document, fully resolved from targets.yaml (defaults applied)."""

    id: str  # stable slug, e.g. "linkedin/privacy-policy"
    service: str  # e.g. "LinkedIn"
    name: str  # document type, e.g. "Privacy Policy"
    sources: tuple[Source, ...]
    interval: float | None = 12 * 3600.0  # seconds between checks (None when ``cron`` is set)
    cron: str | None = None
    timeout: float = 30.0
    headers: tuple[tuple[str, str], ...] = ()
    user_agent: str = "tosmonitor/0.1 (+https://github.com/tosmonitor/tosmonitor)"
    javascript: bool | None = None  # True: always browser, False: never, None: automatic fallback
    max_bytes: int = 10 * 1024 * 1024

    @property
    def url(self) -> str:
        return self.sources[0].url


class FetchOutcome(enum.StrEnum):
    """The single classified result of one fetch attempt."""

    OK = "ok"
    NOT_MODIFIED = "not_modified"
    HTTP_ERROR = "http_error"
    TIMEOUT = "timeout"
    TOO_LARGE = "too_large"
    BLOCKED = "blocked"  # captcha, access denied, cookie wall served as a page
    EMPTY = "empty"
    NETWORK_ERROR = "network_error"

    @property
    def is_error(self) -> bool:
        return self not in (FetchOutcome.OK, FetchOutcome.NOT_MODIFIED)


def sha256_hex(data: bytes | str) -> str:
    """The sha256 of bytes, or of text as UTF-8: the key of snapshots and versions."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class FetchResult:
    """What one fetch of one URL produced, after retries."""

    url: str
    outcome: FetchOutcome
    fetched_at: datetime  # UTC, when the final attempt started
    final_url: str | None = None
    status: int | None = None
    body: bytes | None = None  # raw body, only for OK
    content_type: str | None = None  # media type without parameters, e.g. "text/html"
    charset: str | None = None  # detected encoding of ``body`` for text types
    etag: str | None = None
    last_modified: str | None = None
    elapsed: float = 0.0  # seconds, all attempts included
    attempts: int = 1
    error: str | None = None  # human-readable reason for an error outcome
    retry_after: float | None = None  # seconds the server asked us to wait (429/503)
    fetcher: str = "http"  # "http" or "browser"

    @cached_property
    def body_sha256(self) -> str:
        """The sha256 of the body (of no bytes when there is none): the snapshot's key, computed once."""
        return sha256_hex(self.body or b"")

    def text(self) -> str:
        """The body decoded with the detected charset (replacement characters on bad bytes)."""
        if self.body is None:
            return ""
        return self.body.decode(self.charset or "utf-8", errors="replace")


SEVERITIES = ("info", "low", "medium", "high", "critical")


def severity_rank(severity: str) -> int:
    """Order of a severity name: info 0 < low 1 < medium 2 < high 3 < critical 4."""
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class ChannelSpec:
    """One alert channel from the ``channels:`` list of targets.yaml.

    ``options`` holds the type-specific keys (``to``, ``host``, ``url``, ``secret_env``, ``path``...);
    routing keys are fields of their own.
    """

    name: str  # unique; from ``name:`` or "<type>" / "<type>-<n>" when several share a type
    type: str  # email | webhook | apprise | feed | log
    options: dict[str, object] = field(default_factory=dict)
    min_severity: str = "info"
    only: str | None = None  # "ai_training": only changes with AI-training findings
    services: tuple[str, ...] = ()  # empty: all services
    exclude_services: tuple[str, ...] = ()
    digest: str | None = None  # None (one message per change) | "run" | "daily"
    max_attempts: int = 6


@dataclass(frozen=True)
class Settings:
    """Run-wide settings (``settings:`` in targets.yaml)."""

    concurrency: int = 8  # fetches in flight at once, all hosts together
    per_host: int = 1  # fetches in flight at once per host
    host_spacing: float = 1.0  # seconds between the starts of two requests to one host
    retries: int = 3  # extra attempts for transient failures
    full_fetch_every: float = 86400.0  # send no validators if the last full fetch is older than this
    health_after: int = 3  # consecutive failed checks before a health alert
    watchdog_after: float = 3 * 86400.0  # alert when no successful check for this long
    suspect_shrink: float = 0.5  # a new text shorter than this fraction of the old one is suspect
    jitter: float = 0.1  # fraction of the interval added at random to each schedule
    confirm_changes: bool = True  # a changed text is recorded only once a second fetch yields it again
    confirm_delay: float = 30.0  # seconds before that confirming fetch
    web_base_url: str | None = None  # for links in alerts


@dataclass(frozen=True)
class Config:
    """A loaded, validated targets.yaml."""

    path: str
    documents: tuple[DocumentSpec, ...]
    channels: tuple[ChannelSpec, ...] = ()
    settings: Settings = field(default_factory=Settings)

    def document(self, doc_id: str) -> DocumentSpec:
        for doc in self.documents:
            if doc.id == doc_id:
                return doc
        raise KeyError(doc_id)
