# SPDX-License-Identifier: Apache-2.0
"""Fetched page (HTML, PDF or plain text) -> deterministic, normalised Markdown-like text.

This module owns the step between a raw snapshot and a version: selecting the content (``Rules.select`` /
``Rules.remove``, Open Terms Archive range selectors, or a main-content heuristic), removing what a reader
does not see as the document (scripts, styles, chrome, cookie banners, hidden elements, language menus),
rendering it as stable Markdown-like text, and the named noise filters (:data:`KNOWN_FILTERS`). Everything
is a pure function of its arguments; nothing here does I/O.

Parser choice: ``lxml`` (libxml2's HTML parser, plain ``etree`` elements) with CSS compiled to XPath by
``cssselect``, cached per selector. On a 100 KB policy page BeautifulSoup needs about 60 ms of CPU only to
build its tree; libxml2 parses the same page in about 1 ms and the whole extraction here takes about
10-15 ms (4 ms median on the real snapshots of ``bench/extract_speed.py``). ``cssselect`` covers the
selector syntax Open Terms Archive declarations use (``>``, ``+``, ``~``, attribute selectors with
``*=``/``^=``, ``:not()``, ``:nth-child()``). The renderer is our own single tree walk, so the output
does not depend on another library's Markdown conventions.

Rendering: headings ``#``..``######``; paragraphs separated by a blank line; ``<br>`` is a line break; list
items ``-`` / ``1.`` with nested lists indented; a table row is one line ``| a | b |``; links
``[text](absolute url)`` (fragment-only and ``javascript:`` targets dropped, tracking and session
parameters removed, Cloudflare-obfuscated addresses decoded); emphasis and images dropped; ``<pre>`` kept
verbatim; ``<details>`` content kept. The text then goes through :func:`normalise_text`.

:func:`extract_pages_digest` also returns a digest of what the text is rendered from (the selected markup, the
rules, the base URL, the extractor version): a check whose page gives the digest of the latest version skips
rendering, the costly step, for dynamic pages whose nonce or timestamp lies outside the selection.

Selection follows Open Terms Archive so that its declarations give the same text: ``remove`` applies
first, every match of every ``select`` is kept in document order (an element inside another selected one
only once), and only when *no* selector matches is it an error. With explicit ``select`` the content is
kept as the DOM holds it (hidden tab panels and collapsed sections included; only scripts, styles,
templates, ``noscript`` and embedded objects go) except language menus, which blink with the served
language. Without ``select`` the heuristic takes ``main``, ``[role=main]`` or ``article`` (when they
hold a fair share of the text), else the smallest block holding 85% of the words, and also drops
navigation, page headers and footers, forms and buttons, cookie banners and elements hidden by
``hidden``, ``aria-hidden`` or an inline ``display:none``, except sections a disclosure button opens.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import sys
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from lxml import etree

from .errors import ExtractError
from .models import RangeSelector, Rules, Selector, Source, codec_keeps_ascii

__all__ = [
    "EXTRACTOR_VERSION",
    "KNOWN_FILTERS",
    "extract",
    "extract_pages",
    "extract_pages_digest",
    "extract_pdf",
    "normalise_text",
    "page_has_scripts",
]

# Raised when a change to the extractor can change a stored text: each document's latest version is then
# derived again from its own snapshots at its next check, and a different text is recorded as a technical
# change, never alerted. 2: text that stands in a table outside its cells, pages without a <body> tag, NUL
# characters, ``</br>``, the text after an inline element that holds a block, line breaks in ``<pre>``, and
# range selectors whose ends are nested. 3: the text after ``<wbr>``, ``<source>``, ``<track>``, ``<embed>`` or
# ``<keygen>``, table cells outside any ``<tr>``, zero-width joiners kept in the scripts they shape, selectors
# that name elements or attributes in capitals or use :lang(), and bodies that read as UTF-8 but declare
# another encoding.
EXTRACTOR_VERSION = "3"
KNOWN_FILTERS: frozenset[str] = frozenset(
    {"remove_query_params", "decode_emails", "remove_dates", "remove_session_tokens", "normalise_whitespace"}
)
PAGE_SEPARATOR = "- - -"
_NO_RULES = Rules()

# ---------------------------------------------------------------------------------------------------------
# Text normalisation

_ZERO_WIDTH = "\u200b\u2060\ufeff\u00ad"
# Zero-width (non-)joiners shape the letters around them in Indic and Arabic scripts and join emoji, so they are kept
# between two non-ASCII characters; elsewhere (beside ASCII, a space or an end of line) they show nothing.
_JOINERS = ("\u200c", "\u200d")
_STRAY_JOINERS = re.compile(
    r"(?<=[\x00-\x7f])[\u200c\u200d]+|^[\u200c\u200d]+|[\u200c\u200d]+(?=[\x00-\x7f]|$)", re.M
)
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")
# The characters _CONTROL matches, one by one: testing each with ``in`` finds whether a page has any 3 to 13 times
# quicker than the pattern's search (0.04 against 0.6 ms on a 90 KB text), and most pages have none.
_CONTROL_CHARS = tuple(chr(code) for code in (*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F))
_ODD_SPACES = "\u00a0\u2007\u202f\u2002\u2003\u2009\u200a\u3000\t\f\v"
_ASCII_ODD_SPACES = "\t\f\v"


def normalise_text(text: str) -> str:
    """Unicode NFC, no-break and odd spaces as plain spaces, zero-width and control characters dropped
    (curly quotes are kept, and so are zero-width joiners between two non-ASCII characters), line endings
    ``\\n``, no trailing spaces, no leading/trailing blank lines, at most one blank line in a row, and a single
    final newline (``""`` stays ``""``)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    ascii_only = text.isascii()  # then already NFC, and without zero-width or non-ASCII spaces
    if not ascii_only and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if any(ch in text for ch in _CONTROL_CHARS):
        text = _CONTROL.sub("", text)
    if not ascii_only:
        for ch in _ZERO_WIDTH:
            if ch in text:
                text = text.replace(ch, "")
    for ch in _ASCII_ODD_SPACES if ascii_only else _ODD_SPACES:
        if ch in text:
            text = text.replace(ch, " ")
    if not ascii_only and any(ch in text for ch in _JOINERS):
        text = _STRAY_JOINERS.sub("", text)
    if " \n" in text or text.endswith(" "):  # a line ends with a space
        text = "\n".join([line.rstrip(" ") for line in text.split("\n")])
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    text = text.strip("\n")
    return text + "\n" if text else ""


# ---------------------------------------------------------------------------------------------------------
# URL and e-mail filters

_TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "ttclid",
        "igshid", "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi", "_openstat", "ref_src", "ref_url",
        "si", "mkt_tok", "vero_id", "oly_anon_id", "oly_enc_id", "rb_clickid", "s_cid", "trk", "trkinfo",
        "li_fat_id", "epik", "spm", "scm", "_branch_match_id", "wt.mc_id", "cmpid", "hsctatracking",
    }
)  # fmt: skip
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "matomo_", "hsa_", "__hs", "_hs")
_SESSION_PARAMS = frozenset(
    {
        "sid", "sessionid", "session_id", "session", "jsessionid", "phpsessid", "aspsessionid", "cfid",
        "cftoken", "csrf", "csrf_token", "csrftoken", "_csrf", "xsrf", "token", "nonce", "state", "sig",
        "signature", "_hsfp", "rnd", "cachebuster", "cb", "_", "ts", "timestamp",
    }
)  # fmt: skip
_PATH_SESSION = re.compile(r";(jsessionid|phpsessid|sid)=[^/?#]*", re.IGNORECASE)
_TOKEN_VALUE = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_\-+/=%.]{20,}$")
_LANG_PARAMS = frozenset(
    {"hl", "lang", "language", "locale", "_l", "lc", "ln", "override_hl", "setlang", "gl"}
)


_MAYBE_NOISY = re.compile(
    r"[?&;](?:"
    + "|".join(re.escape(p) for p in sorted(_TRACKING_PARAMS | _SESSION_PARAMS | set(_TRACKING_PREFIXES)))
    + r")",
    re.IGNORECASE,
)


def _is_tracking(name: str) -> bool:
    low = name.lower()
    return low in _TRACKING_PARAMS or low.startswith(_TRACKING_PREFIXES)


@lru_cache(maxsize=4096)
def clean_url(url: str, *, strip_tokens: bool = False) -> str:
    """``url`` without tracking parameters (utm_*, fbclid, gclid, _ga...) or session identifiers; with
    ``strip_tokens`` also without parameters whose value looks like a random token."""
    if not _MAYBE_NOISY.search(url) and not (strip_tokens and "?" in url):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    path = _PATH_SESSION.sub("", parts.path)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [
            (k, v)
            for k, v in pairs
            if not _is_tracking(k)
            and k.lower() not in _SESSION_PARAMS
            and not (strip_tokens and _TOKEN_VALUE.match(v))
        ]
        if len(kept) != len(pairs):
            query = urlencode(kept, doseq=True)
    if path == parts.path and query == parts.query:
        return url
    return urlunsplit((parts.scheme, parts.netloc, path, query, parts.fragment))


def decode_cfemail(hexstr: str) -> str | None:
    """The address hidden by Cloudflare's e-mail obfuscation (first byte is the XOR key), or None (also when
    what it hides holds a control character: no address does)."""
    try:
        data = bytes.fromhex(hexstr.strip())
    except ValueError:
        return None
    if len(data) < 2:
        return None
    key = data[0]
    try:
        address = bytes(b ^ key for b in data[1:]).decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if _NOT_XML.search(address) else address


_DATE_WORDS = (
    r"(?:last\s+(?:updated|modified|revised|changed|reviewed)|updated|effective(?:\s+date)?|"
    r"date\s+of\s+last\s+(?:update|revision)|revised|version\s+date|derni[eè]re\s+mise\s+[àa]\s+jour|"
    r"mis\s+[àa]\s+jour|en\s+vigueur|stand|zuletzt\s+aktualisiert|[uú]ltima\s+actualizaci[oó]n)"
)
_MONTHS = (
    r"(?:jan(?:uary|vier)?|feb(?:ruary)?|f[ée]v(?:rier)?|mar(?:ch|s)?|apr(?:il)?|avr(?:il)?|may|mai|"
    r"june?|juin|july?|juil(?:let)?|aug(?:ust)?|ao[uû]t|sep(?:t(?:ember)?)?|sept(?:embre)?|oct(?:ober|obre)?|"
    r"nov(?:ember|embre)?|dec(?:ember)?|d[ée]c(?:embre)?)\.?"
)
_DATE = (
    rf"(?:\d{{1,2}}(?:st|nd|rd|th|er)?\s+{_MONTHS},?\s+\d{{4}}|{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|"
    rf"\d{{4}}-\d{{1,2}}-\d{{1,2}}|\d{{1,2}}[./]\d{{1,2}}[./]\d{{2,4}}|{_MONTHS}\s+\d{{4}})"
)
_DATE_LINE = re.compile(rf"(?im)^(.{{0,40}}?\b{_DATE_WORDS}\b\W{{0,5}}(?:on\s+|le\s+|:\s*)?){_DATE}")


def remove_dates(text: str) -> str:
    """Replace the date of "Last updated <date>"-style lines by ``<date>`` (idempotent)."""
    return _DATE_LINE.sub(lambda m: m.group(1) + "<date>", text)


# ---------------------------------------------------------------------------------------------------------
# Parsing

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.IGNORECASE)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*>")


def _decode(body: bytes | str, charset: str | None) -> str:
    return _decode_with(body, charset)[0]


def _decode_with(body: bytes | str, charset: str | None) -> tuple[str, str | None]:
    """The page's text, and the codec that decoded it strictly (None: a string already, or a decoding that
    replaced what it could not read). Tried in order: a byte-order mark, ``charset`` (from the HTTP headers),
    the page's ``<meta charset>``, UTF-8.

    Except that a body that reads as UTF-8 is UTF-8 when what it declares is another encoding that keeps ASCII
    as it is (Latin-1, Windows-1252, GBK...): text in those is never valid UTF-8 beyond ASCII, but a page
    saved again as UTF-8 by an archive, or sent by a server that names the wrong encoding, is. Read as
    declared, its accented letters would become two characters each."""
    if isinstance(body, str):
        return body, None
    if body.startswith(b"\xef\xbb\xbf"):
        return body[3:].decode("utf-8", errors="replace"), None
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return body.decode("utf-16", errors="replace"), None
    candidates = [charset] if charset else []
    match = _META_CHARSET.search(body[:4096])
    if match:
        declared = match.group(1).decode("ascii", "replace")
        # A <meta> could be read in ASCII, so the page is not in UTF-16 whatever it says: HTML reads it as UTF-8.
        candidates.append(declared if codec_keeps_ascii(declared) or not _is_codec(declared) else "utf-8")
    if candidates and not _is_utf8(candidates[0]) and codec_keeps_ascii(candidates[0]):
        candidates.insert(0, "utf-8")
    for name in [*candidates, "utf-8"]:
        try:
            return body.decode(name), name
        except (LookupError, UnicodeDecodeError):
            continue
    known = [name for name in candidates if _is_codec(name)]  # not "utf8mb4", "none" or a typo
    return body.decode(known[0] if known else "cp1252", errors="replace"), None


def _markup(body: bytes | str, charset: str | None) -> bytes | str:
    """What to parse: the body itself when it is UTF-8 (lxml then reads it as it is, a fifth quicker than a
    decoded copy, which it would convert back), else its text as :func:`_decode` gives it."""
    text, codec = _decode_with(body, charset)
    if codec is not None and _is_utf8(codec) and text.strip():
        return body
    return text


@lru_cache(maxsize=64)
def _is_codec(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


@lru_cache(maxsize=64)
def _is_utf8(codec: str) -> bool:
    """Whether ``codec`` decodes as UTF-8 does (ASCII is a part of it)."""
    try:
        return codecs.lookup(codec).name in ("utf-8", "ascii")
    except LookupError:
        return False


_PARSER = etree.HTMLParser(
    remove_comments=True, remove_pis=True, recover=True, default_doctype=False, huge_tree=True
)
# For bodies that are UTF-8: an encoding given to the parser outranks a ``<meta charset>`` in the page, as the
# order of ``_decode_with`` wants.
_UTF8_PARSER = etree.HTMLParser(
    remove_comments=True,
    remove_pis=True,
    recover=True,
    default_doctype=False,
    huge_tree=True,
    encoding="utf-8",
)


# ``</br>`` is a line break in HTML (libxml2 drops it, and the words on each side run together).
_END_BR = re.compile(r"</br\s*>", re.IGNORECASE)
_END_BR_BYTES = re.compile(rb"</br\s*>", re.IGNORECASE)


def _as_html_reads(markup: str | bytes) -> str | bytes:
    """Two things HTML's parser does that libxml2 does not: it ignores NUL characters in text (libxml2 makes
    them U+FFFD), and it reads an end tag ``</br>`` as ``<br>``. The markup is copied only when it has one."""
    # One search for ``</br>`` in any case: four plain searches for its spellings cost three times as much.
    if isinstance(markup, bytes):
        if b"\x00" in markup:
            markup = markup.replace(b"\x00", b"")
        if _END_BR_BYTES.search(markup):
            markup = _END_BR_BYTES.sub(b"<br>", markup)
        return markup
    if "\x00" in markup:
        markup = markup.replace("\x00", "")
    if _END_BR.search(markup):
        markup = _END_BR.sub("<br>", markup)
    return markup


def _parse(markup: str | bytes) -> etree._Element:
    markup = _as_html_reads(markup)
    if isinstance(markup, bytes):  # UTF-8, not blank (see _markup)
        parser = _UTF8_PARSER
    else:
        markup = _XML_DECL.sub("", markup, count=1)
        if not markup.strip():
            raise ExtractError("the page is empty")
        parser = _PARSER
    try:
        root = etree.fromstring(markup, parser=parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as exc:
        raise ExtractError(f"the page cannot be parsed as HTML ({exc})") from exc
    if root is None:
        raise ExtractError("the page holds no HTML elements")
    _end_head_at_content(root)
    _unnest_html5_voids(root)
    return root


# Elements without content in HTML5 that libxml2 does not know: it reads ``a<wbr>b</p>`` as ``a<wbr>b</wbr></p>``.
_HTML5_VOIDS = ("wbr", "source", "track", "embed", "keygen")


def _unnest_html5_voids(root: etree._Element) -> None:
    """Put back after each HTML5 void element what libxml2 placed inside it (the rest of its parent): a
    ``<wbr>`` in a long word would otherwise hide the end of its paragraph, as skipped elements are."""
    for el in list(root.iter(_HTML5_VOIDS)):  # document order: one nested in another's content comes later
        children = list(el)
        if el.text is None and not children:
            continue
        parent = el.getparent()
        if parent is None:
            continue
        text, tail = el.text or "", el.tail or ""
        el.text = None
        if not children:
            el.tail = (text + tail) or None
            continue
        el.tail = text or None
        place = parent.index(el)
        for offset, child in enumerate(children, start=1):
            parent.insert(place + offset, child)  # moves it out of ``el``
        children[-1].tail = ((children[-1].tail or "") + tail) or None


# What may stand in <head>; any other element starts the body (HTML's rule when a page leaves out <body>).
_HEAD_TAGS = frozenset({"title", "meta", "link", "style", "script", "base", "noscript", "template"})


def _end_head_at_content(root: etree._Element) -> None:
    """Move to the start of <body> what the parser left in <head> from the first element that cannot stand
    there. libxml2 does not know HTML5's elements: on a page without a <body> tag it keeps ``<main>``,
    ``<section>`` or a custom element (and all in it) in <head>, which is not shown."""
    head = root.find("head")
    if head is None:
        return
    place = next(
        (n for n, child in enumerate(head) if isinstance(child.tag, str) and child.tag not in _HEAD_TAGS),
        None,
    )
    if place is None:
        return
    body = root.find("body")
    if body is None:
        body = etree.SubElement(root, "body")
    for offset, el in enumerate(head[place:]):
        body.insert(offset, el)


# ---------------------------------------------------------------------------------------------------------
# Selectors


def _outside_strings(selector: str) -> tuple[list[tuple[int, str]], str | None]:
    """The characters of ``selector`` that stand outside its strings (escaped ones left out), with their
    indexes, and the quote of a string still open at its end (None when there is none)."""
    marks: list[tuple[int, str]] = []
    quote = None
    i = 0
    while i < len(selector):
        char = selector[i]
        if char == "\\":
            i += 2
            continue
        if quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        else:
            marks.append((i, char))
        i += 1
    return marks, quote


def _closed_at_end(selector: str) -> str:
    """``selector`` with the string, ``[`` or ``(`` it leaves open at its end closed.

    The end of a selector closes them in CSS (a parse error that browsers recover from), so a page's rules
    can say ``img[src^='data:image/svg+xml`` and mean ``img[src^='data:image/svg+xml']``.
    """
    if (len(selector) - len(selector.rstrip("\\"))) % 2:  # an escape of nothing at the end is dropped
        selector = selector[:-1]
    marks, quote = _outside_strings(selector)
    closers: list[str] = []
    for _, char in marks:
        if char in "[(":
            closers.append("]" if char == "[" else ")")
        elif closers and char == closers[-1]:
            closers.pop()
    return selector + (quote or "") + "".join(reversed(closers))


def _top_level_split(text: str) -> list[str]:
    """``text`` cut at its commas that stand outside brackets, parentheses and strings."""
    parts, depth, start = [], 0, 0
    for index, char in _outside_strings(text)[0]:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and not depth:
            parts.append(text[start:index])
            start = index + 1
    return [*parts, text[start:]]


def _not_lists(selector: str) -> str:
    """``:not(a, b)`` (a list, as browsers read it) as ``:not(a):not(b)``, which the CSS translator knows."""
    marks, _ = _outside_strings(selector)
    out, done = [], 0
    for n, (index, _) in enumerate(marks):
        if index < done or selector[index : index + 5].lower() != ":not(":
            continue
        depth, closed = 0, len(selector)
        for later, char in marks[n + 4 :]:  # from its "("
            depth += (char == "(") - (char == ")")
            if not depth:
                closed = later
                break
        parts = _top_level_split(selector[index + 5 : closed])
        out.append(selector[done:index] + "".join(f":not({_not_lists(part.strip())})" for part in parts))
        done = closed + 1
    return "".join(out) + selector[done:]


@lru_cache(maxsize=512)
def _compile(selector: str) -> etree.XPath:
    from cssselect import HTMLTranslator, SelectorError

    try:
        xpath = HTMLTranslator().css_to_xpath(_not_lists(_closed_at_end(selector)))
    except SelectorError as exc:
        raise ExtractError(f"invalid CSS selector '{selector}': {exc}") from None
    return etree.XPath(xpath)


def selector_problem(selector: str) -> str | None:
    """Why the extractor cannot use this CSS selector, or None when it can (for validating configurations)."""
    try:
        _compile(selector)
    except ExtractError as exc:
        return str(exc)
    except etree.XPathError as exc:
        return f"invalid CSS selector '{selector}': {exc}"
    return None


def _select_all(root: etree._Element, selector: str) -> list[etree._Element]:
    return [el for el in _compile(selector.strip())(root) if isinstance(el.tag, str)]


def _first(root: etree._Element, selector: str, role: str) -> etree._Element:
    found = _select_all(root, selector)
    if not found:
        raise ExtractError(f"range selector {role} '{selector}' matched nothing")
    return found[0]


def _positions(root: etree._Element) -> tuple[dict[etree._Element, int], dict[etree._Element, int]]:
    """Where each element opens and closes in document order (``<a><b/></a>`` opens a at 0, b at 1, closes b
    at 2 and a at 3). An element's text sits just after its opening, its tail just after its closing."""
    opens: dict[etree._Element, int] = {}
    closes: dict[etree._Element, int] = {}
    for n, (event, el) in enumerate(etree.iterwalk(root, events=("start", "end"))):
        (opens if event == "start" else closes)[el] = n
    return opens, closes


def _range_bounds(root: etree._Element, rng: RangeSelector) -> tuple[float, float]:
    opens, closes = _positions(root)
    if rng.start_before:
        s = float(opens[_first(root, rng.start_before, "startBefore")])
    elif rng.start_after:
        s = closes[_first(root, rng.start_after, "startAfter")] + 0.25
    else:
        raise ExtractError("range selector needs startBefore or startAfter")
    if rng.end_before:
        e = float(opens[_first(root, rng.end_before, "endBefore")])
    elif rng.end_after:
        e = closes[_first(root, rng.end_after, "endAfter")] + 0.25
    else:
        raise ExtractError("range selector needs endBefore or endAfter")
    return s, e


def _prune_range(root: etree._Element, s: float, e: float, *, keep_inside: bool) -> None:
    """Keep (``keep_inside``) or drop the content between positions ``s`` (inclusive) and ``e`` (exclusive).

    An element spans from its opening to its closing (see ``_positions``); its text sits at its opening
    + 0.5 and its tail at its closing + 0.5, so the tail of an element's last child lies inside it, and its
    own tail after it (DOM range boundary semantics)."""
    opens, closes = _positions(root)

    def kept(pos: float) -> bool:
        return (s <= pos < e) == keep_inside

    for el in list(root.iter()):
        if el is root:
            continue
        first, final = opens[el], closes[el]
        if not kept(final + 0.5):
            el.tail = None
        within = s <= first and final < e
        outside = final < s or first >= e
        if (within and keep_inside) or (outside and not keep_inside):
            continue  # wholly kept: its descendants are too
        if (outside and keep_inside) or (within and not keep_inside):
            _drop(el)  # its tail, when kept, goes to its previous sibling or its parent
            continue
        if not kept(first + 0.5):
            el.text = None
    if not kept(opens[root] + 0.5):
        root.text = None


# Control characters that lxml's HTML parser lets through into a text but refuses when a text is set: the
# ones ``str.split`` takes for spaces become spaces (as the renderer would make them), the others go (as
# ``normalise_text`` would drop them).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xml_safe(text: str) -> str:
    return _NOT_XML.sub(lambda m: " " if m.group() in "\x0b\x0c\x1c\x1d\x1e\x1f" else "", text)


def _set_text(el: etree._Element, text: str) -> None:
    try:
        el.text = text
    except ValueError:  # a control character from the page
        el.text = _xml_safe(text)


def _set_tail(el: etree._Element, tail: str | None) -> None:
    try:
        el.tail = tail
    except ValueError:  # a control character from the page
        el.tail = _xml_safe(tail or "")


def _remove_keep_tail(el: etree._Element, tail: str | None) -> None:
    parent = el.getparent()
    if parent is None:
        return
    if tail:
        prev = el.getprevious()
        if prev is not None:
            _set_tail(prev, (prev.tail or "") + tail)
        else:
            _set_text(parent, (parent.text or "") + tail)
    parent.remove(el)


def _drop(el: etree._Element) -> None:
    _remove_keep_tail(el, el.tail)


def _apply_remove(root: etree._Element, selectors: Sequence[Selector]) -> None:
    for sel in selectors:
        if isinstance(sel, RangeSelector):
            try:
                s, e = _range_bounds(root, sel)
            except ExtractError:
                continue
            _prune_range(root, s, e, keep_inside=False)
            continue
        for el in _select_all(root, sel):
            if el.getparent() is not None:
                _drop(el)


def _apply_select(root: etree._Element, selectors: Sequence[Selector]) -> list[etree._Element]:
    """The selected elements in document order, those inside another selected element left out."""
    picked: list[etree._Element] = []
    unmatched: list[str] = []
    for sel in selectors:
        if isinstance(sel, RangeSelector):
            copy = _copy_document(root)
            s, e = _range_bounds(copy, sel)
            _prune_range(copy, s, e, keep_inside=True)
            body = copy.find("body")
            picked.append(body if body is not None else copy)
            continue
        found = _select_all(root, sel)
        if not found:
            unmatched.append(sel)
        picked.extend(found)
    if not picked:
        names = ", ".join(f"'{sel}'" for sel in unmatched)
        plural = "s" if len(unmatched) > 1 else ""
        raise ExtractError(f"selector{plural} {names} matched nothing (the page layout may have changed)")
    if len(picked) <= 1:
        return picked
    chosen = set(picked)
    order = {el: i for i, el in enumerate(root.iter())}
    result = []
    for el in picked:
        if el not in order:  # a range copy: keep in selector order
            result.append(el)
            continue
        if any(anc in chosen for anc in el.iterancestors()):
            continue
        result.append(el)
    seen: set[int] = set()
    unique = []
    for el in result:
        if id(el) not in seen:
            seen.add(id(el))
            unique.append(el)
    return sorted(unique, key=lambda el: order.get(el, len(order)))


def _copy_document(root: etree._Element) -> etree._Element:
    import copy

    return copy.deepcopy(root)


# ---------------------------------------------------------------------------------------------------------
# Cleaning

_ALWAYS_DROP = ("script", "style", "template", "noscript", "svg", "iframe", "object", "embed", "canvas",
                "head", "link", "meta", "audio", "video", "map", "dialog[aria-modal='true']")  # fmt: skip
_DISPLAY_NONE = re.compile(r"display\s*:\s*none", re.IGNORECASE)
_CHROME_TAGS = frozenset({"nav", "header", "footer", "aside", "form", "select", "button"})
_CHROME_ROLES = frozenset({"navigation", "banner", "contentinfo", "search", "dialog", "alertdialog", "menu"})
_BANNER_TOPIC = re.compile(r"cookie|consent|gdpr|privacy", re.IGNORECASE)
_BANNER_KIND = re.compile(
    r"banner|bar\b|notice|popup|pop-up|modal|dialog|overlay|prompt|consent|notification"
)
_BANNER_VENDOR = re.compile(
    r"onetrust|didomi|cookiebot|cookieyes|truste[-_]|trustarc|osano|usercentrics|qc-cmp", re.IGNORECASE
)
# The two patterns' words, for ASCII text (see _is_chrome)
_BANNER_TOPICS = ("cookie", "consent", "gdpr", "privacy")
_BANNER_VENDORS = (
    "onetrust",
    "didomi",
    "cookiebot",
    "cookieyes",
    "truste-",  # TrustArc's ids and classes; a bare "truste" is also in "trusted"
    "truste_",
    "trustarc",
    "osano",
    "usercentrics",
    "qc-cmp",
)
_BANNER_MAX_CHARS = 1500  # a cookie banner is short; a cookie *policy* section is not


def _drop_invisible(root: etree._Element, *, hidden: bool) -> None:
    """Scripts, styles, embedded objects and, with ``hidden``, elements hidden by a ``hidden`` or
    ``aria-hidden`` attribute or an inline ``display:none``.

    One pass in Python over the elements: libxml2's XPath with predicates is several times slower here."""
    doomed = list(root.iter(*_DROP_TAGS))
    if hidden:
        candidates = []
        controlled: set[str] = set()
        for el in root.iter(etree.Element):
            get = el.get
            controls = get("aria-controls")
            if controls:
                controlled.update(controls.split())
            if get("hidden") is not None:
                if el.tag != "input":
                    candidates.append(el)
            elif get("aria-hidden") == "true":
                candidates.append(el)
            else:
                style = get("style")
                if style and _DISPLAY_NONE.search(style):
                    candidates.append(el)
        # collapsed sections and tab panels that a button opens are content a reader can expand
        doomed.extend(el for el in candidates if not (controlled and el.get("id") in controlled))
    _drop_outermost(doomed)


_DROP_TAGS = tuple(t for t in _ALWAYS_DROP if t.isalpha())


def _drop_outermost(doomed: list[etree._Element]) -> None:
    marked = set(doomed)
    for el in doomed:
        if not any(anc in marked for anc in el.iterancestors()):
            _drop(el)


def _is_chrome(el: etree._Element) -> bool:
    tag = el.tag
    if tag in _CHROME_TAGS:
        # a disclosure button (accordion trigger) holds the heading of a collapsed section
        return not (tag == "button" and (el.get("aria-expanded") is not None or el.get("aria-controls")))
    role = el.get("role")
    if role and role.lower() in _CHROME_ROLES:
        return True
    ident = (el.get("id") or "") + " " + (el.get("class") or "")
    if ident == " " or tag in ("body", "html", "main", "article"):
        return False
    if ident.isascii():  # most: substring tests, quicker than the patterns on long class lists
        low = ident.lower()
        banner = _has_any(low, _BANNER_VENDORS) or (
            _has_any(low, _BANNER_TOPICS) and bool(_BANNER_KIND.search(low))
        )
    else:
        banner = bool(
            _BANNER_VENDOR.search(ident)
            or (_BANNER_TOPIC.search(ident) and _BANNER_KIND.search(ident.lower()))
        )
    return banner and _text_len(el) < _BANNER_MAX_CHARS


def _has_any(text: str, words: tuple[str, ...]) -> bool:
    """Whether ``text`` holds one of ``words`` (a plain loop: twice as quick as ``any`` over a generator)."""
    for word in words:  # noqa: SIM110 - see the docstring
        if word in text:
            return True
    return False


def _drop_chrome(root: etree._Element, keep: etree._Element | None) -> None:
    """Navigation, headers, footers, forms and cookie banners; a ``header`` inside ``keep`` stays."""
    keep_ancestors = set(keep.iterancestors()) if keep is not None else set()
    doomed = []
    for el in root.iter(etree.Element):
        if not (el.tag in _CHROME_TAGS or el.get("role") or el.get("class") or el.get("id")):
            continue
        if el in keep_ancestors or el is keep or not _is_chrome(el):
            continue
        if el.tag == "header" and keep is not None and any(a is keep for a in el.iterancestors()):
            continue
        doomed.append(el)
    _drop_outermost(doomed)


def _decode_emails(root: etree._Element) -> None:
    for el in root.iter("a", "span"):  # where Cloudflare puts obfuscated addresses
        if el.get("data-cfemail") is None and "/cdn-cgi/l/email-protection" not in (el.get("href") or ""):
            continue
        cf = el.get("data-cfemail")
        if cf is not None:
            address = decode_cfemail(cf)
            if address is not None:
                for child in list(el):
                    el.remove(child)
                el.text = address
                del el.attrib["data-cfemail"]
        href = el.get("href")
        if href and "/cdn-cgi/l/email-protection" in href and "#" in href:
            address = decode_cfemail(href.rsplit("#", 1)[1])
            if address is not None:
                el.set("href", "mailto:" + address)


_LANG_HINT = re.compile(r"[?&](?:" + "|".join(sorted(_LANG_PARAMS)) + r")=", re.IGNORECASE)


def _lang_key(href: str) -> tuple[str, str] | None:
    """(the URL without its language parameter, the language) for a language-switch link."""
    try:
        parts = urlsplit(href)
    except ValueError:
        return None
    if not parts.query:
        return None
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    lang = [v for k, v in pairs if k.lower() in _LANG_PARAMS and v and not v.isdigit()]
    if not lang:
        return None
    rest = [(k, v) for k, v in pairs if k.lower() not in _LANG_PARAMS]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest), "")), lang[0]


def _drop_language_menus(root: etree._Element) -> None:
    """Blocks made of links to the same page in other languages (they blink with the served language)."""
    groups: dict[tuple[str, str], list[etree._Element]] = {}
    for a in root.iter("a"):
        href = a.get("href")
        key = _lang_key(href) if href and _LANG_HINT.search(href) else None
        if key is None and a.get("hreflang"):
            key = ("hreflang", a.get("hreflang", ""))
            groups.setdefault(("hreflang", ""), []).append(a)
            continue
        if key is not None:
            groups.setdefault((key[0], ""), []).append(a)
    doomed = []
    for links in groups.values():
        if len(links) < 3:
            continue
        block = _common_ancestor(links)
        while block is not None and block.tag not in _BLOCK_TAGS:
            block = block.getparent()
        if block is None or block.tag in ("body", "html", "main", "article"):
            continue
        link_text = sum(len("".join(a.itertext())) for a in links)
        total = len("".join(block.itertext()))
        if total - link_text <= max(120, link_text):
            doomed.append(block)
    _drop_outermost(doomed)


def _common_ancestor(els: list[etree._Element]) -> etree._Element | None:
    path = [els[0], *els[0].iterancestors()]
    common = set(path)
    for el in els[1:]:
        common &= {el, *el.iterancestors()}
    for el in path:
        if el in common:
            return el
    return None


# ---------------------------------------------------------------------------------------------------------
# Main-content heuristic

_MAIN_SELECTORS = ("main", "[role=main]", "article")


def _main_content(root: etree._Element) -> list[etree._Element]:
    body = root.find("body")
    if body is None:
        body = root
    for sel in _MAIN_SELECTORS:
        found = _select_all(root, sel)
        chosen = set(found)
        found = [el for el in found if not any(a in chosen for a in el.iterancestors())]
        if found and sum(_text_len(el) for el in found) >= 0.3 * max(_text_len(body), 1):
            return found
    return [_densest(body)]


_STRING_LENGTH = etree.XPath("string-length(normalize-space())")


def _text_len(el: etree._Element) -> int:
    return int(_STRING_LENGTH(el))


def _densest(body: etree._Element) -> etree._Element:
    """The smallest element that still holds 85% of the page's words."""
    total = _text_len(body)
    node = body
    while True:
        best = None
        for child in node:
            if isinstance(child.tag, str) and _text_len(child) >= 0.85 * total:
                best = child
                break
        if best is None:
            return node
        node = best


# ---------------------------------------------------------------------------------------------------------
# Rendering

_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "center", "dd", "details", "dialog", "dir",
        "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4",
        "h5", "h6", "header", "hgroup", "hr", "html", "li", "main", "menu", "nav", "ol", "p", "pre",
        "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul", "caption",
        "legend", "option", "optgroup", "select", "textarea", "search",
    }
)  # fmt: skip
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# blocks rendered as their content's text (the others: headings, lists, tables, ``pre``, ``hr``, quotes)
_PLAIN_BLOCKS = _BLOCK_TAGS - set(_HEADINGS) - {"ul", "ol", "menu", "dir", "table", "pre", "hr", "blockquote"}
_TABLE_PARTS = frozenset({"thead", "tbody", "tfoot", "tr"})
_TABLE_CELLS = frozenset({"td", "th", "caption"})  # rendered as the table's own
_SKIP_RENDER = frozenset({"img", "input", "picture", "source", "track", "area", "wbr", "col", "colgroup"})
_WS = re.compile(r"[ \t\n\r\f\v]+")
_BR = "\ue000"
_BR_SPACES = re.compile(r" ?\ue000 ?")
_MD_LINK_TEXT = str.maketrans({"[": "\\[", "]": "\\]"})


def _collapse_spaces(text: str) -> str:
    """``" ".join(text.split())``: runs of whitespace become one space, none at the ends. Text that is already
    so (ASCII without a character ``split`` splits at but single spaces, and no space at an end: the
    paragraphs of a page written on few lines) is returned as it is, without the split into words, which is
    most of the cost. (Each test for one character is a ``memchr``; ``isprintable`` would cost more than the
    split.)"""
    if (
        text.isascii()
        and "\n" not in text
        and "  " not in text
        and text[:1] != " "
        and text[-1:] != " "
        and "\t" not in text
        and "\r" not in text
        and "\x0b" not in text
        and "\x0c" not in text
        and "\x1c" not in text
        and "\x1d" not in text
        and "\x1e" not in text
        and "\x1f" not in text
    ):
        return text
    return " ".join(text.split())


class _Renderer:
    """One walk over a tree, collecting blocks of text with list/quote prefixes."""

    def __init__(self, base_url: str | None, strip_tokens: bool) -> None:
        self.base_url = base_url
        self.strip_tokens = strip_tokens
        self.blocks: list[tuple[str, bool]] = []
        self.buf: list[str] = []
        self.prefix: list[str] = []  # indentation per open list item / quote
        self.marker: str | None = None  # the pending list marker of the current item
        self.in_list = 0

    # -- blocks
    def flush(self) -> None:
        if not self.buf:
            return
        text = "".join(self.buf)
        self.buf.clear()  # in place: an inline element around a block holds this list for its tail
        self.emit_inline(text)

    def emit_inline(self, text: str) -> None:
        """Emit a block of inline text: spaces collapsed, line breaks kept."""
        text = _collapse_spaces(text)
        if _BR in text:
            text = _BR_SPACES.sub(_BR, text).strip(" " + _BR)
        if not text:
            return
        self.emit(text.replace(_BR, "\n"))

    def emit(self, text: str, *, raw: bool = False) -> None:
        if not self.prefix and self.marker is None:  # most blocks: no list or quote around them
            self.blocks.append((text, self.in_list > 0))
            return
        indent = "".join(self.prefix)
        marker = self.marker
        if "\n" not in text:  # one line: most list items
            if marker is not None:
                line = indent[: len(indent) - len(marker)] + marker + text
            else:
                line = indent + text if (text or raw) else ""
            self.marker = None
            self.blocks.append((line, self.in_list > 0))
            return
        lines = text.split("\n")
        out = []
        for n, line in enumerate(lines):
            if n == 0 and self.marker is not None:
                out.append(indent[: len(indent) - len(self.marker)] + self.marker + line)
            else:
                out.append(indent + line if (line or raw) else "")
        self.marker = None
        self.blocks.append(("\n".join(out), self.in_list > 0))

    def text(self) -> str:
        parts: list[str] = []
        prev_tight = False
        for text, tight in self.blocks:
            if parts:
                parts.append("\n" if (tight and prev_tight) else "\n\n")
            parts.append(text)
            prev_tight = tight
        return "".join(parts)

    # -- walk
    def block(self, el: etree._Element) -> None:
        tag = el.tag
        if tag not in _BLOCK_TAGS:
            buf = self.buf
            if tag == "a" and (not len(el) or not _has_block(el)):
                buf.append(self.link(el))
            elif tag == "br":
                buf.append(_BR)
            elif isinstance(tag, str) and tag not in _SKIP_RENDER:
                if el.text:
                    buf.append(el.text)
                for child in el:
                    self.block(child)
            if el.tail:
                buf.append(el.tail)
            return
        # a block element
        if self.buf:
            self.flush()
        if not len(el) and tag in _PLAIN_BLOCKS:  # a paragraph of text alone: most blocks of a policy
            if el.text:
                self.emit_inline(el.text)
        elif tag in _HEADINGS:
            text = self.inline(el)
            if text:
                self.emit("#" * _HEADINGS[tag] + " " + text)
        elif tag in ("ul", "ol", "menu", "dir"):
            self.list_items(el, ordered=tag == "ol")
        elif tag == "table":
            self.table(el)
        elif tag == "pre":
            text = _pre_text(el).strip("\n")
            if text.strip():
                self.emit("\n".join(line.rstrip() for line in text.split("\n")), raw=True)
        elif tag == "hr":
            pass
        elif tag == "blockquote":
            self.prefix.append("> ")
            self.children(el)
            self.flush()
            self.prefix.pop()
        else:
            self.children(el)
            self.flush()
        tail = el.tail
        if tail and not tail.isspace():  # spaces after a block would only start the next, empty, line
            self.buf.append(tail)

    def children(self, el: etree._Element) -> None:
        if el.text:
            self.buf.append(el.text)
        for child in el:
            self.block(child)

    def list_items(self, el: etree._Element, *, ordered: bool) -> None:
        start = el.get("start")
        number = int(start) if start and start.strip().lstrip("-").isdigit() else 1
        self.in_list += 1
        if el.text and el.text.strip():
            self.buf.append(el.text)
        for child in el:
            if not isinstance(child.tag, str):
                continue
            if child.tag != "li":
                self.block(child)
                continue
            if self.buf:
                self.flush()
            marker = f"{number}. " if ordered else "- "
            number += 1
            self.prefix.append(" " * len(marker))
            self.marker = marker
            if not len(child):  # an item of text alone
                if child.text:
                    self.emit_inline(child.text)
            else:
                self.children(child)
                self.flush()
            self.marker = None
            self.prefix.pop()
            if child.tail and child.tail.strip():
                self.buf.append(child.tail)
        self.flush()
        self.in_list -= 1

    def table(self, el: etree._Element) -> None:
        self.fostered(el, el)
        self.flush()
        rows = _table_rows(el)
        caption = el.find("caption")
        if caption is not None:
            text = self.inline(caption)
            if text:
                self.emit(text)
        lines = []
        for n, cells in enumerate(rows):
            if not cells:
                continue
            texts = [self.inline(c).replace("|", "\\|") for c in cells]
            if not any(texts):
                continue
            lines.append("| " + " | ".join(texts) + " |")
            if n == 0 and all(c.tag == "th" for c in cells):
                lines.append("|" + " --- |" * len(cells))
        if lines:
            self.emit("\n".join(lines))

    def fostered(self, table: etree._Element, part: etree._Element) -> None:
        """What stands in ``table`` (in ``part`` of it) outside its cells and caption: text and elements that a
        browser shows before the table (HTML moves them there), so they are rendered first rather than lost."""
        if part.text and not part.text.isspace():
            self.buf.append(part.text)
        for child in part:
            tag = child.tag
            if isinstance(tag, str) and tag not in _TABLE_CELLS:
                if _holds_rows_of(table, child):
                    self.fostered(table, child)
                elif tag not in _SKIP_RENDER:
                    self.block(child)  # with its tail
                    continue
            if child.tail and not child.tail.isspace():
                self.buf.append(child.tail)

    def inline(self, el: etree._Element) -> str:
        """The element's content on one line (blocks, line breaks and nested tables become spaces)."""
        parts: list[str] = []
        self._inline_into(el, parts, top=True)
        return _collapse_spaces("".join(parts))

    def _inline_into(self, el: etree._Element, parts: list[str], *, top: bool = False) -> None:
        tag = el.tag
        if isinstance(tag, str) and not top:
            if tag in _SKIP_RENDER:
                pass
            elif tag == "br":
                parts.append(" ")
            elif tag == "a" and not _has_block(el):
                parts.append(self.link(el))
            else:
                block = tag in _BLOCK_TAGS
                if block:
                    parts.append(" ")
                if el.text:
                    parts.append(el.text)
                for child in el:
                    self._inline_into(child, parts)
                if block:
                    parts.append(" ")
            if el.tail:
                parts.append(el.tail)
            return
        if el.text:
            parts.append(el.text)
        for child in el:
            self._inline_into(child, parts)

    def link(self, a: etree._Element) -> str:
        text = self.inline(a) if len(a) else _collapse_spaces(a.text or "")
        if not text:
            return " " if _starts_or_ends_space(a) else ""
        href = (a.get("href") or "").strip()
        lead = " " if a.text and a.text[:1].isspace() else ""
        if not href or href.startswith("#") or href.lower().startswith(("javascript:", "data:")):
            return lead + text
        url = _absolute(self.base_url, href) if self.base_url else href
        url = clean_url(url, strip_tokens=self.strip_tokens).replace(" ", "%20").replace(")", "%29")
        return f"{lead}[{text.translate(_MD_LINK_TEXT)}]({url})"


def _pre_text(pre: etree._Element) -> str:
    """The text of a ``<pre>`` as shown: its own line breaks, and one where a ``<br>`` stands or a block inside
    it (a list item, a paragraph) starts or ends."""
    parts: list[str] = []

    def walk(el: etree._Element) -> None:
        if el.text:
            parts.append(el.text)
        for child in el:
            if child.tag == "br":
                parts.append("\n")
            elif isinstance(child.tag, str) and child.tag not in _SKIP_RENDER:
                block = child.tag in _BLOCK_TAGS
                parts.append("\n" if block else "")
                walk(child)
                parts.append("\n" if block else "")
            if child.tail:
                parts.append(child.tail)

    walk(pre)
    return "".join(parts)


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme
    except ValueError:
        return ""


def _absolute(base_url: str, href: str) -> str:
    """``href`` made absolute against ``base_url``; as written when it is not a URL (``http://[x``)."""
    try:
        return urljoin(base_url, href)
    except ValueError:
        return href


def _starts_or_ends_space(a: etree._Element) -> bool:
    return bool(a.text and a.text.isspace())


def _has_block(el: etree._Element) -> bool:
    return any(isinstance(d.tag, str) and d.tag in _BLOCK_TAGS for d in el.iterdescendants())


def _table_rows(table: etree._Element) -> list[list[etree._Element]]:
    """The cells of each row of ``table``, in order. Cells that stand in the table or one of its parts with no
    ``<tr>`` around them (which HTML wraps in one and libxml2 does not) make a row of their own."""
    rows: list[list[etree._Element]] = []
    loose: list[etree._Element] = []

    def walk(part: etree._Element) -> None:
        nonlocal loose
        for child in part:
            tag = child.tag
            if tag in ("td", "th"):
                loose.append(child)
                continue
            if loose:
                rows.append(loose)
                loose = []
            if tag == "tr":
                rows.append([cell for cell in child if cell.tag in ("td", "th")])
            elif isinstance(tag, str) and tag not in _TABLE_CELLS and _holds_rows_of(table, child):
                walk(child)

    walk(table)
    if loose:
        rows.append(loose)
    return rows


def _holds_rows_of(table: etree._Element, el: etree._Element) -> bool:
    """Whether ``el``, standing in ``table``, is part of its structure: a ``<thead>``, ``<tbody>``... or an
    element around some of its rows (a ``<form>``), not content the table fosters."""
    return el.tag in _TABLE_PARTS or any(_owning_table(row) is table for row in el.iter("tr"))


def _owning_table(row: etree._Element) -> etree._Element | None:
    for anc in row.iterancestors("table"):
        return anc
    return None


def _render(elements: Iterable[etree._Element], base_url: str | None, strip_tokens: bool) -> str:
    renderer = _Renderer(base_url, strip_tokens)
    for el in elements:
        tail = el.tail
        el.tail = None  # the tail is outside the selected element
        renderer.flush()
        if el.tag in ("html", "body") or el.tag not in _BLOCK_TAGS:
            renderer.children(el)
        else:
            renderer.block(el)
        renderer.flush()
        _set_tail(el, tail)
    return renderer.text()


# ---------------------------------------------------------------------------------------------------------
# Public API


_SCRIPT_TAG = re.compile(rb"<script", re.IGNORECASE)
_SCRIPT_TAG_STR = re.compile(r"<script", re.IGNORECASE)


def page_has_scripts(body: bytes | str) -> bool:
    """Whether the page runs scripts (cheap byte search, used to decide on a browser fallback)."""
    if isinstance(body, str):
        return _SCRIPT_TAG_STR.search(body) is not None
    return _SCRIPT_TAG.search(body) is not None


def _check_filters(filters: Sequence[str]) -> None:
    unknown = [f for f in filters if f not in KNOWN_FILTERS]
    if unknown:
        raise ExtractError(
            f"unknown filter(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_FILTERS))}"
        )


def _select_content(
    markup: str | bytes, rules: Rules, base_url: str | None
) -> tuple[list[etree._Element], str | None]:
    """Parse a page (see ``_markup``) and return the elements to render (with what is not the document
    removed) and the base URL for its links."""
    root = _parse(markup)
    if base_url is None:
        base = root.find(".//base[@href]")
        if base is not None and _scheme(base.get("href", "")):
            base_url = base.get("href")
    explicit = bool(rules.select)
    _drop_invisible(root, hidden=not explicit)
    _decode_emails(root)
    if rules.remove:
        _apply_remove(root, rules.remove)
    _drop_language_menus(root)
    if explicit:
        selected = _apply_select(root, rules.select)
    else:
        selected = _main_content(root)
        keep = selected[0] if len(selected) == 1 else None
        _drop_chrome(root, keep)
        selected = [el for el in selected if el.getparent() is not None or el is root]
        if not selected:
            selected = _main_content(root)
    return selected, base_url


# The renderer walks the tree recursively, a few calls per level; libxml2 stops nesting at about 2,000 levels,
# which pages with hundreds of unclosed <font> or <div> tags reach. Calls between Python functions do not
# grow the C stack (Python 3.11+), so a higher limit for the walk is safe.
_RENDER_RECURSION_LIMIT = 10_000


def _render_selected(selected: list[etree._Element], rules: Rules, base_url: str | None) -> str:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, _RENDER_RECURSION_LIMIT))
    try:
        return _render(selected, base_url, "remove_session_tokens" in rules.filters)
    except RecursionError:
        raise ExtractError("the page nests its elements too deeply to be rendered") from None
    finally:
        sys.setrecursionlimit(limit)


def _html_to_text(markup: str | bytes, rules: Rules, base_url: str | None) -> str:
    selected, base_url = _select_content(markup, rules, base_url)
    return _render_selected(selected, rules, base_url)


def _selection_digest(selected: list[etree._Element], rules: Rules, base_url: str | None) -> str:
    """A digest of everything the rendered text depends on: the extractor, the rules, the base URL and the
    selected elements' markup (with their ancestors' tags, and the whole table around a selected table part,
    which the renderer looks at). Equal digests give equal texts."""
    digest = hashlib.sha256(f"{EXTRACTOR_VERSION}\0{rules!r}\0{base_url}\0".encode())
    for el in selected:
        digest.update("/".join(str(a.tag) for a in el.iterancestors()).encode() + b"\0")
        table = _owning_table(el)
        digest.update(
            etree.tostring(table if table is not None else el, with_tail=False, encoding="utf-8") + b"\0"
        )
    return digest.hexdigest()


def _content_kind(content_type: str | None) -> str:
    ctype = (content_type or "text/html").split(";", 1)[0].strip().lower()
    if ctype in ("text/html", "application/xhtml+xml", "application/xml", "text/xml", "") or ctype.endswith(
        "+xml"
    ):
        return "html"
    if ctype in ("application/pdf", "application/x-pdf"):
        return "pdf"
    if ctype in ("text/plain", "text/markdown", "text/x-markdown"):
        return "text"
    raise ExtractError(f"cannot extract text from content type '{ctype}' (expected HTML, PDF or plain text)")


def extract(
    body: bytes | str,
    *,
    content_type: str | None = "text/html",
    charset: str | None = None,
    rules: Rules = _NO_RULES,
    base_url: str | None = None,
) -> str:
    """The normalised text of one fetched page.

    :param body: the raw body (bytes, decoded with ``charset``, a ``<meta charset>``, then UTF-8) or text.
    :param content_type: ``text/html`` (default), ``application/pdf`` or ``text/plain``.
    :param rules: ``select`` / ``remove`` selectors and named ``filters``.
    :param base_url: to make link targets absolute.
    :raises ExtractError: on an unknown content type or filter, an invalid selector, a selector that
        matches nothing, an unreadable PDF, or an empty result.
    """
    _check_filters(rules.filters)
    kind = _content_kind(content_type)
    if kind == "pdf":
        if isinstance(body, str):
            raise ExtractError("a PDF body must be bytes")
        text = extract_pdf(body)
    elif kind == "text":
        text = normalise_text(_decode(body, charset))
    else:
        text = normalise_text(_html_to_text(_markup(body, charset), rules, base_url))
    return _finish(text, rules, base_url)


def _finish(text: str, rules: Rules, url: str | None) -> str:
    """The named text filters, and the check that something is left."""
    if "remove_dates" in rules.filters:
        text = remove_dates(text)
    if not text.strip():
        where = f" at {url}" if url else ""
        raise ExtractError(f"the extracted text{where} is empty (check the select/remove rules)")
    return text


Page = tuple[bytes | str, str | None, str | None, Source]  # body, content type, charset, source


def extract_pages(pages: Sequence[Page]) -> str:
    """The text of a multi-page document: each page extracted with its source's rules, joined in order
    with a line ``- - -`` between pages.

    :raises ExtractError: naming the page's URL when one page gives no text.
    """
    text, _ = extract_pages_digest(pages)
    assert text is not None
    return text


def extract_pages_digest(pages: Sequence[Page], known: str | None = None) -> tuple[str | None, str]:
    """Like :func:`extract_pages`, with a digest of what the text is rendered from (see ``_selection_digest``;
    for PDF and plain-text pages, of the body). When the digest equals ``known`` (that of an earlier text),
    the text is not rendered again and ``None`` stands for "the same text as then": rendering is most of the
    cost of an extraction, and a dynamic page's markup outside the selection (a nonce, a timestamp) changes
    at every fetch.

    :raises ExtractError: naming the page's URL when one page gives no text.
    """
    if not pages:
        raise ExtractError("no page to extract")
    selections: list[tuple[list[etree._Element], str | None] | None] = []  # None: not an HTML page
    digest = hashlib.sha256()
    for body, content_type, charset, source in pages:
        with _naming_page(source, len(pages)):
            _check_filters(source.rules.filters)
            kind = _content_kind(content_type)
            if kind == "html":
                selected, base_url = _select_content(_markup(body, charset), source.rules, source.url or None)
                digest.update(_selection_digest(selected, source.rules, base_url).encode())
                selections.append((selected, base_url))
            else:
                raw = body.encode() if isinstance(body, str) else body
                digest.update(f"{EXTRACTOR_VERSION}\0{kind}\0{source.rules!r}\0".encode())
                digest.update(hashlib.sha256(raw).digest())
                selections.append(None)
    page_digest = digest.hexdigest()
    if known is not None and page_digest == known:
        return None, page_digest
    texts = []
    for (body, content_type, charset, source), selection in zip(pages, selections, strict=True):
        with _naming_page(source, len(pages)):
            if selection is not None:
                html = _render_selected(selection[0], source.rules, selection[1])
                text = _finish(normalise_text(html), source.rules, source.url or None)
            else:
                text = extract(
                    body,
                    content_type=content_type,
                    charset=charset,
                    rules=source.rules,
                    base_url=source.url or None,
                )
        texts.append(text.rstrip("\n"))
    return ("\n\n" + PAGE_SEPARATOR + "\n\n").join(texts) + "\n", page_digest


@contextmanager
def _naming_page(source: Source, pages: int) -> Iterator[None]:
    """In a document of several pages, an extraction error names the page's URL."""
    try:
        yield
    except ExtractError as exc:
        if pages > 1 and source.url:
            raise ExtractError(f"{source.url}: {exc}") from exc
        raise


_PDF_HYPHEN = re.compile(r"(\w)-\n(\w)")


def extract_pdf(data: bytes) -> str:
    """The text of a PDF, page by page in order, lines within a paragraph joined.

    :raises ExtractError: when the PDF cannot be read or holds no text.
    """
    import io
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    # A damaged file can raise anything from deep in the reader (NotImplementedError for an unknown filter...).
    except Exception as exc:
        raise ExtractError(f"unreadable PDF ({exc.__class__.__name__}: {exc})") from exc
    paragraphs = []
    for page in pages:
        page = page.replace("\r\n", "\n").replace("\r", "\n")
        for para in re.split(r"\n\s*\n", page):
            para = _PDF_HYPHEN.sub(r"\1\2", para.strip())
            lines = [ln.strip() for ln in para.split("\n") if ln.strip()]
            if lines:
                paragraphs.append(_join_pdf_lines(lines))
    text = normalise_text("\n\n".join(paragraphs))
    if not text:
        raise ExtractError("the PDF holds no extractable text (a scanned document?)")
    return text


_LIST_START = re.compile(r"^(?:[-•▪◦*]|\d{1,3}[.)]|[a-z][.)]|\([a-z0-9]{1,3}\))\s")


def _join_pdf_lines(lines: list[str]) -> str:
    """Join a paragraph's lines with spaces, keeping bullet/numbered lines on lines of their own."""
    out: list[str] = []
    for line in lines:
        if out and not _LIST_START.match(line):
            out[-1] = out[-1] + " " + line
        else:
            out.append(line)
    return "\n".join(" ".join(line.split()) for line in out)
