# SPDX-License-Identifier: Apache-2.0
"""Tests of extract: golden pages in tests/pages/ and specific behaviours."""

from __future__ import annotations

import io
import json
import random
import re
from pathlib import Path

import pytest
from lxml import etree

from tosmonitor import extract as extract_module
from tosmonitor.errors import ExtractError
from tosmonitor.extract import (
    EXTRACTOR_VERSION,
    KNOWN_FILTERS,
    extract,
    extract_pages,
    extract_pages_digest,
    extract_pdf,
    normalise_text,
    page_has_scripts,
    remove_dates,
    selector_problem,
)
from tosmonitor.models import RangeSelector, Rules, Source

PAGES = Path(__file__).parent / "pages"
CASES = json.loads((PAGES / "cases.json").read_text(encoding="utf-8"))


def _rules(case: dict) -> Rules:
    select = tuple(RangeSelector(**s) if isinstance(s, dict) else s for s in case.get("select", []))
    return Rules(select=select, remove=tuple(case.get("remove", [])), filters=tuple(case.get("filters", [])))


@pytest.mark.parametrize("name", sorted(CASES), ids=sorted(CASES))
def test_golden_page(name: str) -> None:
    case = CASES[name]
    body = (PAGES / f"{name}.html").read_bytes()
    expected = (PAGES / f"{name}.expected.md").read_text(encoding="utf-8")
    assert extract(body, rules=_rules(case), base_url=case.get("base_url")) == expected


def heuristic_text() -> str:
    return extract(
        (PAGES / "heuristic_policy.html").read_bytes(), base_url="https://notes.example.org/privacy"
    )


def test_heuristic_drops_chrome_hidden_and_scripts() -> None:
    text = heuristic_text()
    for noise in (
        "Home",
        "Blog",
        "cookies",
        "Accept all",
        "Draft paragraph",
        "invisible",
        "window.track",
        "©",
    ):
        assert noise not in text
    assert text.startswith("# Harbour Notes Privacy Notice\n")


def test_a_page_kept_invisible_until_its_scripts_run_keeps_its_text() -> None:
    # Many pages hide their body with ``visibility: hidden`` until a script has loaded (against a flash of
    # unstyled content); a reader sees the text, so only ``display: none`` and the hidden attributes hide.
    page = (
        "<html><body style='visibility: hidden'><main><h1>Privacy</h1>"
        "<p>We do not train models on your messages.</p><p style='display:none'>Old draft.</p></main></body></html>"
    )
    assert extract(page) == "# Privacy\n\nWe do not train models on your messages.\n"


def test_rendering_of_lists_tables_br_and_links() -> None:
    text = heuristic_text()
    assert "- Account details\n  - your name\n  - your e-mail address\n- Notes" in text
    assert "| Logs | 90 days then erased |" in text
    assert "models.\nAggregated usage" in text
    assert "3. Third item\n4. Fourth item" in text
    assert "[privacy settings](https://notes.example.org/settings/privacy?tab=data)" in text
    assert "utm_" not in text
    assert "[privacy@harbour.org](mailto:privacy@harbour.org)" in text
    assert "code   block\n  kept" in text
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert all(line == line.rstrip() for line in text.splitlines())


def test_deterministic_and_insensitive_to_cosmetic_markup() -> None:
    plain = "<main><h2>Sharing</h2><p>We share <b>nothing</b> with <a href='/ads'>advertisers</a>.</p></main>"
    fancy = (
        "<main class='x'>\n <div><div class='wrap'><h2 class='title'>  Sharing </h2></div>\n"
        "<p id='p1'>We   share\n <b>nothing</b> with <a class='l' href='/ads?fbclid=abc'>advertisers</a>.</p></div></main>"
    )
    first = extract(plain, base_url="https://e.example/")
    assert first == extract(plain, base_url="https://e.example/")
    assert first == extract(fancy, base_url="https://e.example/")
    assert first == "## Sharing\n\nWe share nothing with [advertisers](https://e.example/ads).\n"


def test_select_keeps_document_order_and_deduplicates_nested() -> None:
    page = "<div id='a'><p>one</p><div class='b'><p>two</p></div></div><p class='b'>three</p>"
    text = extract(page, rules=Rules(select=(".b", "#a")))
    assert text == "one\n\ntwo\n\nthree\n"


def test_remove_with_range_selector() -> None:
    page = "<main><p>keep 1</p><h3 id='s'>Ad</h3><p>buy now</p><p id='e'>keep 2</p></main>"
    rules = Rules(remove=(RangeSelector(start_before="#s", end_before="#e"),))
    assert extract(page, rules=rules) == "keep 1\n\nkeep 2\n"


def test_range_start_after_end_after() -> None:
    page = "<div><h2 id='s'>Title</h2><p>inside</p><p id='e'>last inside</p><p>outside</p></div>"
    rules = Rules(select=(RangeSelector(start_after="#s", end_after="#e"),))
    assert extract(page, rules=rules) == "inside\n\nlast inside\n"


def test_selector_matching_nothing_is_an_error() -> None:
    with pytest.raises(ExtractError, match="selector '#x' matched nothing"):
        extract("<p>text</p>", rules=Rules(select=("#x",)))


def test_invalid_selector_and_unknown_filter_are_errors() -> None:
    with pytest.raises(ExtractError, match="invalid CSS selector"):
        extract("<p>text</p>", rules=Rules(select=("p[",)))
    with pytest.raises(ExtractError, match="unknown filter"):
        extract("<p>text</p>", rules=Rules(filters=("shout",)))


def test_a_selector_left_open_at_its_end_is_closed_as_in_css() -> None:
    # Rules in the wild end inside a string, an attribute selector or a function; the end closes them.
    page = (
        "<main><p>Your data, explained.</p><img src='data:image/svg+xml;base64,PHN2Zz4=' alt='chevron'>"
        "<img src='https://example.com/legal/icon_privacy.png' alt='privacy icon'>"
        "<p class='note (old)'>Old note.</p><p class='keep'>We do not train models on your messages.</p></main>"
    )
    rules = Rules(
        select=("main",),
        remove=(
            "img[src^='data:image/svg+xml",
            'img[src="https://example.com/legal/icon_privacy.png"',
            "p:not(.keep",
        ),
    )
    assert extract(page, rules=rules) == "We do not train models on your messages.\n"
    assert extract(page, rules=Rules(select=("p[class='note (old)'",))) == "Old note.\n"
    for selector in rules.remove:
        assert selector_problem(selector) is None, selector
    # what is broken before the end stays an error, named as written
    assert selector_problem("p[") is not None
    assert selector_problem("a]b") is not None
    assert "'a[title=\\'" in (selector_problem("a[title=\\") or "")


def test_not_with_a_list_of_selectors_is_read_as_browsers_read_it() -> None:
    page = (
        "<main><p class='a'>Kept A.</p><p class='b'>Kept B.</p><p>Dropped.</p><p class='c'>Gone.</p></main>"
    )
    rules = Rules(select=("main",), remove=("p:not(.a, .b)",))
    assert extract(page, rules=rules) == "Kept A.\n\nKept B.\n"
    nested = Rules(select=("main",), remove=("p:not(:is(.a, .c), [class='b'])",))
    assert extract(page, rules=nested) == "Kept A.\n\nKept B.\n\nGone.\n"
    quoted = Rules(select=("main",), remove=("p:not([title=')'], .a, .b)",))  # a parenthesis in a string
    assert extract(page, rules=quoted) == "Kept A.\n\nKept B.\n"


def test_selectors_read_element_names_attributes_and_lang_as_html_does() -> None:
    # HTML's element and attribute names have no case, and :lang() reads the lang attribute of the element or
    # its nearest ancestor that has one.
    page = (
        "<main lang='en'><div id='policy'><p data-Kind='x'>Kept.</p><p lang='fr-FR'>Texte retiré.</p></div>"
        "<DIV class='Note'>Note.</DIV></main>"
    )
    assert extract(page, rules=Rules(select=("DIV#policy",), remove=(":lang(fr)",))) == "Kept.\n"
    assert extract(page, rules=Rules(select=("[DATA-KIND]", "div.Note"))) == "Kept.\n\nNote.\n"
    with pytest.raises(ExtractError, match="matched nothing"):
        extract(page, rules=Rules(select=("div.note",)))  # class names keep their case


def test_empty_result_is_an_error() -> None:
    with pytest.raises(ExtractError, match="empty"):
        extract("<html><body><script>x()</script><div> </div></body></html>")
    with pytest.raises(ExtractError):
        extract(b"")


def test_charset_of_non_utf8_input() -> None:
    body = "<p>Données personnelles – conservées</p>".encode("cp1252")
    assert extract(body, charset="windows-1252") == "Données personnelles – conservées\n"
    meta = b"<meta charset='iso-8859-1'><p>r\xe9sum\xe9</p>"
    assert extract(meta) == "résumé\n"
    # a charset no codec has, in the headers or the page, gives way to the next one that decodes
    bogus = b"<meta charset='utf8mb4'><p>r\xe9sum\xe9</p>"
    assert extract(bogus, charset="none") == "résumé\n", "read as Windows-1252, the web's default"
    assert extract(bogus, charset="latin-1") == "résumé\n"


@pytest.mark.parametrize("declared", ["iso-8859-1", "windows-1252", "gbk", "utf-16"])
def test_a_body_that_reads_as_utf8_is_utf8_whatever_it_declares(declared: str) -> None:
    # An archive that saved the page again in UTF-8 keeps its <meta charset>, and servers misname encodings:
    # read as declared, "é" became "Ã©". A <meta> naming UTF-16 is read as UTF-8, as HTML reads it.
    body = f"<meta charset='{declared}'><p>Données — café 日本語</p>".encode()
    assert extract(body) == "Données — café 日本語\n"
    if declared != "utf-16":
        assert extract(body, charset=declared) == "Données — café 日本語\n", "in the HTTP headers too"
    legacy = "<p>Données — café</p>".encode("cp1252")  # not UTF-8: read as declared
    assert extract(legacy, charset="windows-1252") == "Données — café\n"


def test_text_plain_and_unknown_content_type() -> None:
    assert extract("a\u00a0b  \r\n\r\n\r\nc\u200b", content_type="text/plain") == "a b\n\nc\n"
    with pytest.raises(ExtractError, match="content type 'image/png'"):
        extract(b"\x89PNG", content_type="image/png")


def test_normalise_text() -> None:
    text = "Cafe\u0301\u00a0“quoted”\u200b  \n\n\n\nend"
    assert normalise_text(text) == "Café “quoted”\n\nend\n"
    assert normalise_text(normalise_text(text)) == normalise_text(text)
    # Spaces at the ends of lines go, wherever the line is; spaces elsewhere stay.
    assert normalise_text("a \nb  c\t\n d ") == "a\nb  c\n d\n"
    assert normalise_text("one line, no space at its end") == "one line, no space at its end\n"


def test_zero_width_joiners_stay_where_they_shape_letters() -> None:
    # In Devanagari (and Arabic, and emoji) a joiner or non-joiner changes how the letters around it are drawn:
    # it is part of the text. Beside ASCII, a space or the end of a line it shows nothing, and goes.
    assert normalise_text("ऐक्\u200cसेस प्रो\u200dडक्ट") == "ऐक्\u200cसेस प्रो\u200dडक्ट\n"
    assert normalise_text("family 👨\u200d👩\u200d👧") == "family 👨\u200d👩\u200d👧\n"
    assert normalise_text("t\u200dhe data\u200c é\u200d\n\u200cब") == "the data é\nब\n"


def test_filters_dates_and_session_tokens() -> None:
    page = (
        "<main><p>Last updated: March 3, 2025</p><p>See <a href='https://x.example/a?sid=1&amp;q=2'>a</a> and "
        "<a href='https://x.example/b?t=9f8e7d6c5b4a39281706abcdef'>b</a>.</p></main>"
    )
    plain = extract(page)
    assert "March 3, 2025" in plain and "sid=" not in plain and "q=2" in plain
    filtered = extract(page, rules=Rules(filters=("remove_dates", "remove_session_tokens")))
    assert "Last updated: <date>" in filtered and "9f8e7d" not in filtered
    assert remove_dates(filtered) == filtered


def test_language_menu_is_dropped() -> None:
    links = " ".join(f"<a href='/terms?hl={code}'>{code}</a>" for code in ("en", "fr", "de", "hi"))
    page = f"<div id='c'><p>Read in: {links}</p><p>The terms themselves.</p></div>"
    assert extract(page, rules=Rules(select=("#c",))) == "The terms themselves.\n"


def test_javascript_links_lose_their_target() -> None:
    assert extract("<p><a href='javascript:void(0)'>Open settings</a></p>") == "Open settings\n"


def make_pdf(pages: list[str], stream_filter: str = "") -> bytes:
    """A minimal valid PDF with one text line per page, written by hand (``stream_filter``: a filter named in
    each content stream's dictionary)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]
    kids = []
    for text in pages:
        content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        page_no = len(objects) + 1
        kids.append(f"{page_no} 0 R")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {page_no + 1} 0 R "
            "/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>"
        )
        objects.append(f"<< /Length {len(content)}{stream_filter} >>\nstream\n{content.decode()}\nendstream")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{n} 0 obj\n{body}\nendobj\n".encode())
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def test_pdf_text_in_page_order() -> None:
    data = make_pdf(["First page: we keep your data.", "Second page: you may object."])
    text = extract_pdf(data)
    assert text.index("First page") < text.index("Second page")
    assert extract(data, content_type="application/pdf") == text


def test_unreadable_pdf_is_an_error() -> None:
    with pytest.raises(ExtractError, match="PDF"):
        extract_pdf(b"%PDF-1.4 this is not really a pdf")
    # whatever the PDF reader raises on a damaged file (here: a compression it does not know)
    with pytest.raises(ExtractError, match=r"unreadable PDF \(NotImplementedError: .*NoSuchDecode"):
        extract_pdf(make_pdf(["We keep your data."], stream_filter=" /Filter /NoSuchDecode"))


def test_combine_two_pages() -> None:
    pages = [
        ("<main><p>Terms page</p></main>", "text/html", None, Source(url="https://a.example/terms")),
        (
            b"<div id='x'><p>Annex page</p></div><p>no</p>",
            "text/html",
            "utf-8",
            Source(url="https://a.example/annex", rules=Rules(select=("#x",))),
        ),
    ]
    assert extract_pages(pages) == "Terms page\n\n- - -\n\nAnnex page\n"


def test_combine_names_the_failing_page() -> None:
    pages = [
        ("<p>ok</p>", "text/html", None, Source(url="https://a.example/1")),
        ("<p>ok</p>", "text/html", None, Source(url="https://a.example/2", rules=Rules(select=("#gone",)))),
    ]
    with pytest.raises(ExtractError, match="https://a.example/2"):
        extract_pages(pages)


def test_page_has_scripts_and_constants() -> None:
    assert page_has_scripts(b"<html><SCRIPT src=app.js></SCRIPT></html>")
    assert not page_has_scripts("<html><p>static</p></html>")
    assert EXTRACTOR_VERSION
    assert "remove_query_params" in KNOWN_FILTERS and "decode_emails" in KNOWN_FILTERS


def test_details_and_collapsed_sections_are_kept() -> None:
    page = (
        "<article><h1>Help</h1><details><summary>Can I opt out?</summary><p>Yes, in Settings.</p></details>"
        "<div><button aria-expanded='false' aria-controls='ans'>Is my data sold?</button>"
        "<div id='ans' hidden><p>No, never.</p></div></div><div hidden><p>stale draft</p></div></article>"
    )
    text = extract(page)
    assert text == "# Help\n\nCan I opt out?\n\nYes, in Settings.\n\nIs my data sold?\n\nNo, never.\n"


def test_explicit_select_keeps_what_the_dom_holds() -> None:
    page = "<div id='c'><p>Shown</p><div style='display:none'><p>Tab two</p></div></div>"
    assert extract(page, rules=Rules(select=("#c",))) == "Shown\n\nTab two\n"
    assert "Tab two" not in extract(page)


def test_article_header_is_kept_page_header_dropped() -> None:
    page = (
        "<body><header><p>Site name</p></header><article><header><h1>Terms</h1></header>"
        "<p>These terms apply to every account holder of the service.</p></article></body>"
    )
    assert extract(page) == "# Terms\n\nThese terms apply to every account holder of the service.\n"


def test_several_selectors_tolerate_one_missing() -> None:
    page = "<h1 class='title'>Cookie Policy</h1><p>body</p>"
    assert extract(page, rules=Rules(select=(".title", ".gone"))) == "# Cookie Policy\n"


def test_control_characters_and_deep_nesting() -> None:
    assert extract(b"<p>a\x01b\x7fc</p>") == "abc\n"
    # the quick test for control characters looks for exactly those the pattern drops
    matched = [chr(code) for code in range(0x800) if extract_module._CONTROL.match(chr(code))]
    assert sorted(extract_module._CONTROL_CHARS) == matched
    for ch in matched:
        assert normalise_text(f"a{ch}b\tc") == "ab c\n"
    deep = "<div>" * 200 + "<p>deep text</p>" + "</div>" * 200
    assert extract(deep) == "deep text\n"
    # Hundreds of unclosed tags nest as deep: rendered all the same, as deep as libxml2 nests
    unclosed = "<p>Terms</p>" + "<font>word " * 1500 + "end"
    assert extract(unclosed, rules=Rules(select=("body",))) == "Terms\n\n" + "word " * 1500 + "end\n"
    assert extract(unclosed).endswith("word word end\n"), "the heuristic, which walks the tree too"


def test_a_page_nested_deeper_than_the_renderer_goes_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract_module, "_RENDER_RECURSION_LIMIT", 200)
    monkeypatch.setattr(extract_module.sys, "getrecursionlimit", lambda: 200)
    with pytest.raises(ExtractError, match="too deeply"):
        extract("<div>" * 500 + "<p>x</p>" + "</div>" * 500, rules=Rules(select=("body",)))


@pytest.mark.parametrize("first", ["main", "section", "article", "c-consent-free-app"])
def test_a_page_without_a_body_tag_starts_its_body_at_its_first_content(first: str) -> None:
    # <html>, <head> and <body> tags may be left out; the body starts at the first element that is not
    # for the head, an HTML5 or custom one too.
    page = (
        f"<!doctype html><meta charset=utf-8><title>Terms</title><link rel=stylesheet href=a.css>"
        f"<{first}><h1>Terms</h1><p>We do not train models on your messages.</p></{first}><p>Last line.</p>"
    )
    expected = "# Terms\n\nWe do not train models on your messages.\n\nLast line.\n"
    assert extract(page).startswith("# Terms\n\nWe do not train models on your messages.\n")
    assert extract(page, rules=Rules(select=("h1", "p"))) == expected
    assert extract(page, rules=Rules(select=(first,))) == expected.replace("\n\nLast line.", "")


def test_text_after_an_inline_element_that_holds_a_block_is_kept() -> None:
    # a link around a card, an <em> around a paragraph: the text after them used to be lost
    page = (
        "<main><div>We use <em>data <p>from your posts</p></em> to train our models.</div>"
        "<p>See <a href='/ai'><div>AI and you</div></a> for the settings.</p></main>"
    )
    assert extract(page, rules=Rules(select=("main",))) == (
        "We use data\n\nfrom your posts\n\nto train our models.\n\nSee\n\nAI and you\n\nfor the settings.\n"
    )


def test_a_pre_keeps_its_line_breaks_and_starts_a_line_at_each_block_in_it() -> None:
    page = "<pre>line one\nline two<br>line three<div>in a block</div>after it</pre>"
    assert (
        extract(page, rules=Rules(select=("pre",)))
        == "line one\nline two\nline three\nin a block\nafter it\n"
    )


class RandomPage:
    """Random nestings of inline and block elements, lists, tables and line breaks, each word written once
    (``w1``, ``w2``...), for checking that the renderer keeps every word of the page once, apart."""

    INLINE = ("span", "a", "em", "strong", "b", "label", "small", "code", "sup", "q", "button", "font")
    BLOCK = (
        "div",
        "p",
        "section",
        "h2",
        "blockquote",
        "article",
        "aside",
        "pre",
        "dl",
        "dd",
        "li",
        "details",
    )

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.words = 0

    def text(self) -> str:
        first = self.words + 1
        self.words += self.rng.randint(1, 3)
        return " ".join(f"w{n}" for n in range(first, self.words + 1))

    def content(self, depth: int) -> str:
        return " ".join(self.node(depth) for _ in range(self.rng.randint(1, 4)))

    def node(self, depth: int) -> str:
        roll = self.rng.random()
        if depth > 4 or roll < 0.25:
            return self.text()
        if roll < 0.35:
            tag = self.rng.choice(("ul", "ol"))
            items = "".join(f"<li>{self.content(depth + 1)}</li>" for _ in range(self.rng.randint(1, 3)))
            return f"<{tag}>{items}</{tag}>"
        if roll < 0.42:
            cells = "".join(f"<td>{self.content(depth + 1)}</td>" for _ in range(self.rng.randint(1, 3)))
            return f"<table><tr>{cells}</tr><tr><td>{self.content(depth + 1)}</td></tr></table>"
        if roll < 0.47:
            return "<br>"
        tag = self.rng.choice(self.INLINE if self.rng.random() < 0.5 else self.BLOCK)
        return f"<{tag}{' href=/x' if tag == 'a' else ''}>{self.content(depth + 1)}</{tag}>"


def test_every_word_of_a_page_is_rendered_once_and_apart() -> None:
    for seed in range(300):
        page = RandomPage(seed)
        html = f"<html><body>{page.content(0)}</body></html>"
        if not page.words:  # only line breaks
            continue
        text = extract(html, rules=Rules(select=("body",)))
        words = re.findall(r"w\d+", text)
        assert sorted(words) == sorted(f"w{n}" for n in range(1, page.words + 1)), html
        assert not re.search(r"w\d+w", text), f"two words run together: {html}"


RANGES = {  # keyword arguments, and whether the start and the end element are in the range
    "startBefore/endAfter": ({"start_before": "#s", "end_after": "#e"}, True, True),
    "startAfter/endBefore": ({"start_after": "#s", "end_before": "#e"}, False, False),
}


@pytest.mark.parametrize("kind", sorted(RANGES))
def test_a_range_keeps_or_drops_exactly_the_words_between_its_ends(kind: str) -> None:
    # Random pages with two marked words: a range selector keeps what stands between them in document order,
    # however the two ends are nested (the tail of an end's last descendant included), and a range in
    # ``remove`` keeps the rest.
    arguments, with_start, with_end = RANGES[kind]
    tried = 0
    for seed in range(150):
        page = RandomPage(seed)
        body = page.content(0)
        if page.words < 6:
            continue
        first, last = sorted(random.Random(seed).sample(range(1, page.words + 1), 2))
        body = re.sub(rf"\bw{first}\b", f"<i id=s>START</i> w{first}", body, count=1)
        body = re.sub(rf"\bw{last}\b", f"w{last} <i id=e>END</i>", body, count=1)
        html = f"<html><body>{body}</body></html>"
        tokens = re.findall(
            r"START|END|w\d+", " ".join(etree.fromstring(html, etree.HTMLParser()).itertext())
        )
        if tokens.count("START") != 1 or tokens.count("END") != 1:
            continue
        start, end = tokens.index("START") + (not with_start), tokens.index("END") + with_end
        selected = extract(html, rules=Rules(select=(RangeSelector(**arguments),)))
        assert sorted(re.findall(r"START|END|w\d+", selected)) == sorted(tokens[start:end]), html
        rest = extract(html, rules=Rules(select=("body",), remove=(RangeSelector(**arguments),)))
        assert sorted(re.findall(r"START|END|w\d+", rest)) == sorted(tokens[:start] + tokens[end:]), html
        tried += 1
    assert tried > 100


@pytest.mark.parametrize("body", [True, False])
def test_nul_characters_and_end_br_tags_read_as_html_reads_them(body: bool) -> None:
    page = "<p>We keep\x00 your data</br>for 30 days.</BR >Then we delete it.</p>"
    expected = "We keep your data\nfor 30 days.\nThen we delete it.\n"
    assert extract(page.encode() if body else page) == expected


@pytest.mark.parametrize("body", [True, False])
def test_the_text_after_an_html5_void_element_is_kept(body: bool) -> None:
    # libxml2 does not know <wbr>, <source>, <track>, <embed> or <keygen> as empty: it put the rest of their
    # parent inside them, and that was lost with them.
    page = (
        "<main><h2>Data<wbr>sharing</h2><p>See https://example.com/<wbr>privacy/<wbr>ai for <b>how</b> we train"
        "<div>our models.</div> Then we delete it.</p><ul><li>one<wbr>item</li><li>two</li></ul>"
        "<p>Watch <embed src='a.swf'>then read <i>this</i>.</p><video><source src='v.mp4'>No video.</video>"
        "<p>After the video.</p></main>"
    )
    assert extract(page.encode() if body else page, rules=Rules(select=("main",))) == (
        "## Datasharing\n\nSee https://example.com/privacy/ai for how we train\n\nour models.\n\n"
        "Then we delete it.\n\n- oneitem\n- two\n\nWatch then read this.\n\nAfter the video.\n"
    )


def test_what_stands_in_a_table_outside_its_cells_comes_before_it() -> None:
    # Browsers show it before the table; it used to be lost.
    page = (
        "<main><table><caption>Retention</caption>Periods below are maximums.<tr><th>Data</th><th>Kept</th></tr>"
        "<tr><td>Posts</td><td>2 years</td></tr><p>Chats are kept for 30 days.</p>"
        "<tr><td>Logs</td><td>90 days</td></tr><br>Backups follow the same periods.</table></main>"
    )
    assert extract(page, rules=Rules(select=("main",))) == (
        "Periods below are maximums.\n\nChats are kept for 30 days.\n\nBackups follow the same periods.\n\n"
        "Retention\n\n| Data | Kept |\n| --- | --- |\n| Posts | 2 years |\n| Logs | 90 days |\n"
    )
    in_a_form = "<main><table><form><tr><td>Posts</td><td>2 years</td></tr></form></table></main>"
    assert extract(in_a_form, rules=Rules(select=("main",))) == "| Posts | 2 years |\n", "rows only once"


def test_table_cells_outside_any_row_make_a_row() -> None:
    # HTML wraps them in a row; libxml2 leaves them in the table, where they were lost.
    page = (
        "<main><table><th>Data</th><th>Kept</th><tr><td>Posts</td><td>2 years</td></tr>"
        "<tbody><td>Logs</td><td>90 days</td></tbody></table></main>"
    )
    assert extract(page, rules=Rules(select=("main",))) == (
        "| Data | Kept |\n| --- | --- |\n| Posts | 2 years |\n| Logs | 90 days |\n"
    )


def test_control_characters_next_to_what_extraction_drops_or_sets() -> None:
    # lxml's parser keeps a control character in a text, but refuses one when a text is set: around a
    # dropped script, after a selected element, or in an obfuscated address.
    page = b"<main><p>Before<script>x()</script>\x01after\x0bword\x1fend</p><div id='a'>kept</div>\x02tail</main>"
    assert extract(page) == "Beforeafter word end\n\nkept\n\ntail\n"
    assert extract(page, rules=Rules(select=("#a",))) == "kept\n"
    key = 0x42
    hidden = bytes([key, *(b ^ key for b in b"a\x01b@example.com")]).hex()
    obfuscated = f"<p>Write to <a href='/cdn-cgi/l/email-protection#{hidden}' data-cfemail='{hidden}'>[email protected]</a>.</p>"
    text = extract(obfuscated)
    assert text.startswith("Write to [\\[email protected\\]](/cdn-cgi/l/email-protection#"), "left as it was"


@pytest.mark.parametrize(
    ("ident", "banner"),
    [
        ("cookie-consent-banner", True),
        ("OneTrust-Consent-SDK", True),  # a vendor's: whatever the kind
        ("qc-cmp2-container", True),
        ("truste-consent-track", True),
        ("truste_box_overlay", True),
        ("trusted-partners", False),  # a vendor's name only as part of a word
        ("untrusted-notice", False),
        ("Privacy-Notice", True),
        ("gdpr bar", True),
        ("cookie-policy", False),  # a topic without a banner's kind
        ("barrier cookie", False),  # "bar" only as a word
        ("privacy-bar modal", True),
        ("main-content text-lg", False),
        ("cookie-b\u00e4nner notice", True),  # not ASCII: the patterns themselves
        ("\u00e9l\u00e9ment", False),
    ],
)
def test_a_banner_is_told_by_its_id_and_classes(ident: str, banner: bool) -> None:
    el = etree.fromstring(f"<div class='{ident}'><p>We use cookies.</p></div>")
    assert extract_module._is_chrome(el) is banner


def test_cookie_policy_sections_are_not_banners() -> None:
    page = (
        "<body><div class='cookie-consent-banner'>We use cookies. <a href='/ok'>OK</a></div>"
        "<div class='content'><h1>Cookie Policy</h1><section id='cookie-policy'><h2>What is a cookie?</h2>"
        "<p>A small file a site stores in your browser.</p></section>"
        "<div class='cookie-table'><p>Name: session, kept one day.</p></div></div></body>"
    )
    text = extract(page)
    assert "We use cookies" not in text
    assert "What is a cookie?" in text and "Name: session, kept one day." in text


# --- the digest that lets an unchanged dynamic page skip rendering -----------------------------------------

DYNAMIC = (
    "<html><head><script>var nonce = '{nonce}';</script></head><body><nav>Home</nav>"
    "<main><h1>Terms</h1><p>{para}</p><table><tr><td>Data</td><td>Purpose</td></tr></table></main>"
    "<footer>Served by node {nonce}</footer></body></html>"
)


def _dynamic(nonce: str = "a1", para: str = "You keep the rights to your content.") -> list:
    body = DYNAMIC.replace("{nonce}", nonce).replace("{para}", para).encode()
    return [
        (body, "text/html", "utf-8", Source(url="https://example.com/terms", rules=Rules(select=("main",))))
    ]


def test_digest_ignores_markup_outside_the_selection_and_skips_rendering():
    text, digest = extract_pages_digest(_dynamic("a1"))
    assert text == extract_pages(_dynamic("a1"))
    again, same_digest = extract_pages_digest(_dynamic("b2"), known=digest)
    assert again is None and same_digest == digest, "a nonce outside <main> changes nothing"
    changed, other = extract_pages_digest(_dynamic("b2", para="We may use your content."), known=digest)
    assert other != digest and changed is not None and "We may use your content." in changed


def test_digest_depends_on_the_rules_and_on_every_page():
    pages = _dynamic()
    _, digest = extract_pages_digest(pages)
    body, ctype, charset, source = pages[0]
    wider = [(body, ctype, charset, Source(url=source.url, rules=Rules(select=("body",))))]
    assert extract_pages_digest(wider)[1] != digest
    filtered = [
        (
            body,
            ctype,
            charset,
            Source(url=source.url, rules=Rules(select=("main",), filters=("remove_dates",))),
        )
    ]
    assert extract_pages_digest(filtered)[1] != digest
    two = pages + [(b"Plain text page.", "text/plain", "utf-8", Source(url="https://example.com/more"))]
    text, two_digest = extract_pages_digest(two)
    assert two_digest != digest and "Plain text page." in (text or "")
    plain_changed = pages + [
        (b"Another text.", "text/plain", "utf-8", Source(url="https://example.com/more"))
    ]
    assert extract_pages_digest(plain_changed, known=two_digest)[0] is not None


def test_digest_of_a_selected_table_row_covers_its_table():
    def row_page(header: str) -> list:
        body = (
            f"<table><tr><th>{header}</th></tr><tr class='r'><td>Kept for 30 days</td></tr></table>".encode()
        )
        return [(body, "text/html", "utf-8", Source(url="", rules=Rules(select=(".r",))))]

    assert extract_pages_digest(row_page("Retention"))[1] != extract_pages_digest(row_page("Storage"))[1]


@pytest.mark.parametrize(
    "text",
    [
        "Already one line of words.",
        "",
        " leading space",
        "trailing space ",
        "two  spaces",
        "a tab\there",
        "a line\nbreak",
        "no\u00a0break space",
        "em\u2003space",
        "unit\x1fseparator",
        "file\x1cseparator",
        "caf\u00e9 au lait",
        "\n\t  ",
    ],
)
def test_spaces_are_collapsed_as_a_split_and_join_would(text: str) -> None:
    assert extract_module._collapse_spaces(text) == " ".join(text.split())


def test_every_ascii_character_is_collapsed_as_a_split_and_join_would() -> None:
    # the shortcut tests for the ASCII characters ``split`` splits at one by one: none may be missing
    for code in range(128):
        for text in (f"a{chr(code)}b", f"{chr(code)}ab", f"ab{chr(code)}", f"a {chr(code)} b"):
            assert extract_module._collapse_spaces(text) == " ".join(text.split()), repr(text)


@pytest.mark.parametrize(
    "body",
    [
        "<html><body><main><p>Café, naïve – “quoted” 😀</p></main></body></html>".encode(),
        # the HTTP header's UTF-8 outranks the page's own declaration, parsed as bytes or as text
        '<html><head><meta charset="iso-8859-1"></head><body><p>Données — ok</p></body></html>'.encode(),
        '<?xml version="1.0" encoding="iso-8859-1"?><html><body><p>Ünïcödé</p></body></html>'.encode(),
        b"\xef\xbb\xbf<html><body><p>with a byte-order mark</p></body></html>",
        "<html><body><p>caf\u00e9</p></body></html>".encode("latin-1"),  # not UTF-8: decoded first
    ],
)
def test_a_utf8_body_parsed_as_bytes_gives_the_text_of_its_decoded_text(body: bytes) -> None:
    decoded = extract_module._decode(body, "utf-8")
    assert extract(body, charset="utf-8") == extract(decoded)
    source = Source(url="https://example.com/terms")
    as_bytes = extract_pages_digest([(body, "text/html", "utf-8", source)])
    assert as_bytes == extract_pages_digest([(decoded, "text/html", "utf-8", source)]), "same text and digest"
