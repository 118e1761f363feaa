# SPDX-License-Identifier: Apache-2.0
"""Reading local files for ``extract`` and ``compare``: HTML, PDF, Markdown or plain text, by content."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .errors import InputError
from .extract import extract, extract_pages
from .models import Rules, Source

_HTML_MARKERS = (b"<html", b"<!doctype html", b"<body", b"<div", b"<p>", b"<p ", b"<main", b"<article")


_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
BINARY = "application/octet-stream"


def sniff_content_type(path: Path, data: bytes) -> str:
    """The media type of a local file, from its start and its suffix: ``BINARY`` for a file that is none of
    HTML, PDF or text (a NUL byte near its start, in a file without a byte-order mark)."""
    head = data[:2048].lstrip().lower()
    if head.startswith(b"%pdf"):
        return "application/pdf"
    if path.suffix.lower() in (".html", ".htm", ".xhtml") or any(m in head for m in _HTML_MARKERS):
        return "text/html"
    if b"\x00" in data[:8192] and not data.startswith(_BOMS):
        return BINARY
    return "text/plain"


def _readable(path: str | Path, data: bytes, *, selectors: bool) -> str:
    """The content type of a local file that can be read, or an ``InputError`` naming it."""
    content_type = sniff_content_type(Path(path), data)
    if content_type == BINARY:
        raise InputError(f"{path}: not an HTML page, a PDF or a text file (it holds binary data)")
    if selectors and content_type != "text/html":
        kind = "a PDF" if content_type == "application/pdf" else "plain text"
        raise InputError(f"{path}: --select and --remove apply to HTML pages, and this file reads as {kind}")
    return content_type


def read_bytes(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def read_text_file(path: str | Path, *, select: Sequence[str] = (), remove: Sequence[str] = ()) -> str:
    """The normalised text of one local file (HTML goes through the pipeline's extraction)."""
    data = read_bytes(path)
    content_type = _readable(path, data, selectors=bool(select or remove))
    rules = Rules(select=tuple(select), remove=tuple(remove))
    try:
        return extract(data, content_type=content_type, rules=rules)
    except Exception as exc:
        raise InputError(f"{path}: {exc}") from exc


def extract_files(
    files: Sequence[str],
    *,
    select: Sequence[str] = (),
    remove: Sequence[str] = (),
    filters: Sequence[str] = (),
    rules: str | None = None,
    base_url: str | None = None,
) -> str:
    """The text of local pages joined in order, with command-line selectors or a rules.json."""
    if rules:
        from .config import load_rules_json

        sources = list(load_rules_json(rules))
        if len(sources) == 1 and len(files) > 1:
            sources = sources * len(files)
        if len(sources) != len(files):
            raise InputError(f"{rules} describes {len(sources)} page(s) but {len(files)} file(s) were given")
    else:
        page_rules = Rules(select=tuple(select), remove=tuple(remove), filters=tuple(filters))
        sources = [Source(url=base_url or "", rules=page_rules) for _ in files]
    pages = []
    for path, source in zip(files, sources, strict=True):
        data = read_bytes(path)
        if base_url and not source.url:
            source = Source(url=base_url, rules=source.rules)
        pages.append((data, _readable(path, data, selectors=bool(select or remove)), None, source))
    try:
        return extract_pages(pages)
    except Exception as exc:
        raise InputError(f"{', '.join(files)}: {exc}") from exc
