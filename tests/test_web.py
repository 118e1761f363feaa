# SPDX-License-Identifier: Apache-2.0
"""The web dashboard, JSON API and feeds against a real archive file, through httpx's ASGI transport."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

pytest.importorskip("starlette", reason="the web extra (starlette, jinja2, uvicorn) is not installed")

from tosmonitor.archive import Archive, CheckRecord, NewChange, NewVersion, PageFetch, sha256_hex  # noqa: E402
from tosmonitor.models import FetchOutcome, FetchResult  # noqa: E402
from tosmonitor.web import create_app  # noqa: E402
from tosmonitor.web.app import COOKIE, cookie_value  # noqa: E402
from tosmonitor.web.render import diff_view, quote_ranges, stance_chart  # noqa: E402

T0 = datetime(2025, 3, 1, 9, tzinfo=UTC)
PAYLOADS = (
    "<script>window.pwned = 'script'</script>",
    '<img src="x" onerror="window.pwned = \'img\'">',
    "<a href=\"javascript:window.pwned = 'link'\">javascript link</a>",
)

PLAIN = """# Brightside Privacy Policy

We collect the information you give us when you create an account.

We use it to run the service and to keep accounts secure.

You can download or delete your data at any time from the settings page.
"""
OPT_OUT_QUOTE = (
    "We may use your posts and profile to train the generative models behind our writing assistant "
    "unless you switch off Data for Model Improvement."
)
OPT_OUT = PLAIN.replace(
    "We use it to run the service and to keep accounts secure.\n",
    "We use it to run the service and to keep accounts secure.\n\n" + OPT_OUT_QUOTE + "\n",
)
NEVER_QUOTE = "We do not use your private messages to train any model."


def _fetch(url: str, body: bytes, when: datetime) -> PageFetch:
    return PageFetch(
        FetchResult(
            url=url,
            outcome=FetchOutcome.OK,
            fetched_at=when,
            body=body,
            content_type="text/html",
            charset="utf-8",
            status=200,
        )
    )


def record(
    archive: Archive,
    doc_id: str,
    text: str,
    when: datetime,
    *,
    training: str | None,
    change: NewChange | None = None,
    html: bytes | None = None,
    deliveries: list[dict] | None = None,
) -> None:
    url = archive.document(doc_id)["url"]
    body = html or f"<html><body>{text}</body></html>".encode()
    archive.record_check(
        CheckRecord(
            document_id=doc_id,
            checked_at=when,
            outcome="changed",
            pages=[_fetch(url, body, when)],
            versions=[
                NewVersion(
                    text=text, extractor_version="t1", training=training, snapshots=(sha256_hex(body),)
                )
            ],
            changes=[change] if change else [],
            deliveries=(
                (lambda versions, changes: [dict(row, change_id=changes[0]) for row in deliveries])
                if deliveries
                else None
            ),
        )
    )


def build_archive(path: Path) -> Path:
    """A small archive: an opt-out AI-training change, a hostile page, a failing document, deliveries."""
    with Archive(path) as archive:
        archive.ensure_document(
            "brightside/privacy-policy", "Brightside", "Privacy Policy", "https://brightside.example/privacy"
        )
        archive.ensure_document(
            "brightside/terms", "Brightside", "Terms of Service", "https://brightside.example/terms"
        )
        archive.ensure_document(
            "hostile/terms", "Hostile <b>Corp</b>", "Terms <script>x</script>", "javascript:alert(1)"
        )
        record(archive, "brightside/privacy-policy", PLAIN, T0, training="none")
        record(
            archive,
            "brightside/privacy-policy",
            OPT_OUT,
            T0 + timedelta(days=30),
            training="opt-out",
            change=NewChange(
                severity="critical",
                ai_training_change=True,
                training_before="none",
                training_after="opt-out",
                headline="AI training: none → opt-out for posts and profile",
                findings=[
                    {
                        "rule": "training_added_opt_out",
                        "severity": "critical",
                        "summary": "AI training on user data added, on by default with opt-out",
                        "old": None,
                        "new": OPT_OUT_QUOTE,
                    }
                ],
            ),
            deliveries=[
                {
                    "idempotency_key": "k1",
                    "event_kind": "change",
                    "event_id": "change-1",
                    "document_id": "brightside/privacy-policy",
                    "channel": "newsroom-mail",
                    "severity": "critical",
                    "payload": {},
                    "status": "failed",
                }
            ],
        )
        terms = "# Terms\n\nBe kind to other members.\n"
        record(archive, "brightside/terms", terms, T0, training="none")
        record(
            archive,
            "brightside/terms",
            terms + "\n" + NEVER_QUOTE + "\n",
            T0 + timedelta(days=3),
            training="never",
            change=NewChange(severity="low", headline="No-training promise for private messages"),
        )
        hostile = "# Terms\n\n" + "\n\n".join(PAYLOADS) + "\n"
        record(
            archive,
            "hostile/terms",
            "# Terms\n\nNothing here.\n",
            T0,
            training=None,
            html=("<html><body>" + "".join(PAYLOADS) + "</body></html>").encode(),
        )
        record(
            archive,
            "hostile/terms",
            hostile,
            T0 + timedelta(days=1),
            training="no-choice",
            html=("<html><body>" + "".join(PAYLOADS) + "</body></html>").encode(),
            change=NewChange(
                severity="high",
                ai_training_change=True,
                training_before="none",
                training_after="no-choice",
                headline="<script>window.pwned = 'headline'</script>",
                findings=[
                    {
                        "rule": "<b>rule</b>",
                        "severity": "high",
                        "summary": PAYLOADS[1],
                        "old": None,
                        "new": PAYLOADS[0],
                    }
                ],
            ),
        )
        archive.record_check(
            CheckRecord(
                document_id="hostile/terms",
                checked_at=T0 + timedelta(days=2),
                outcome="error",
                error_class="blocked",
                error="HTTP 403 <i>denied</i>",
            )
        )
    return path


@pytest.fixture(scope="module")
def db_path(tmp_path_factory) -> Path:
    return build_archive(tmp_path_factory.mktemp("web") / "archive.db")


def get(app, url: str, **kwargs) -> httpx.Response:
    return asyncio.run(_request(app, "GET", url, **kwargs))


async def _request(app, method: str, url: str, *, root_path: str = "", **kwargs) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.request(method, url, **kwargs)


@pytest.fixture(scope="module")
def app(db_path):
    return create_app(db_path)


# -- pages --------------------------------------------------------------------------------------------------


def test_overview_lists_documents_with_stance_health_and_latest_change(app):
    response = get(app, "/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    html = response.text
    row = html[html.index("brightside/privacy-policy") :]
    row = row[: row.index("</tr>")]
    assert "stance-opt-out" in row and "sev-critical" in row and "/changes/1" in row
    assert "health-bad" in html  # the hostile document is failing
    assert 'href="/feeds/all.atom"' in html and 'href="/feeds/ai.atom"' in html


def test_overview_filters_by_ai_severity_and_service(app):
    ai = get(app, "/?ai=1").text
    assert "/documents/brightside/privacy-policy" in ai and "/documents/brightside/terms" not in ai
    critical = get(app, "/?severity=critical").text
    assert "/documents/brightside/privacy-policy" in critical and "/documents/hostile/terms" not in critical
    service = get(app, "/?service=Brightside").text
    assert "/documents/brightside/terms" in service and "/documents/hostile/terms" not in service
    bad = get(app, "/?severity=apocalyptic")
    assert bad.status_code == 400 and "severity=&#39;apocalyptic&#39;" in bad.text


def test_document_page_has_the_timeline_chart_versions_and_snapshots(app):
    response = get(app, "/documents/brightside/privacy-policy")
    assert response.status_code == 200
    html = response.text
    assert '<svg class="chart"' in html and html.count("<circle") == 2  # none, then opt-out
    assert "/changes/1" in html and "/versions/2" in html and "/snapshots/" in html
    assert get(app, "/documents/nobody/nothing").status_code == 404


def test_change_page_shows_findings_and_marks_the_quote_inside_the_diff(app):
    for mode in ("side", "inline"):
        html = get(app, f"/changes/1?view={mode}").text
        assert "AI training on user data added" in html
        diff = html[html.index('class="diff') :]
        inserted = re.search(r"<ins>(.*?)</ins>", diff, re.S)
        assert inserted and '<mark class="quote">' in inserted.group(1)
        assert "switch off Data for Model Improvement" in inserted.group(1)
    assert get(app, "/changes/999").status_code == 404
    assert get(app, "/changes/1?view=sideways").status_code == 400


def test_search_highlights_matches(app):
    html = get(app, "/search?q=generative models").text
    assert "<mark>generative</mark>" in html and "/versions/2" in html
    assert get(app, '/search?q="unbalanced').status_code == 200  # FTS syntax never leaks as a 500
    assert "No version contains" in get(app, "/search?q=zebra").text


def test_health_page_lists_failing_documents_and_deliveries(app):
    html = get(app, "/health").text
    assert "hostile/terms" in html and "HTTP 403 &lt;i&gt;denied&lt;/i&gt;" in html
    assert "newsroom-mail" in html and "delivery-failed" in html
    assert "newsroom-mail" not in get(app, "/health?status=sent").text.split("Recent deliveries")[1]


# -- security -----------------------------------------------------------------------------------------------


def test_untrusted_text_is_escaped_everywhere(app):
    pages = [
        "/",
        "/documents/hostile/terms",
        "/changes/3",
        "/changes/3?view=inline",
        "/versions/6",
        "/health",
    ]
    for url in pages:
        response = get(app, url)
        assert response.status_code == 200, url
        body = response.text
        assert "<script>" not in body, url
        assert "<img" not in body and 'href="javascript:' not in body, url
        assert "script-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "&lt;script&gt;window.pwned" in get(app, "/changes/3").text


def test_raw_snapshots_are_served_as_inert_plain_text(app, db_path):
    sha = (
        sqlite3.connect(db_path)
        .execute("SELECT snapshot_sha256 FROM versions WHERE document_id = 'hostile/terms' ORDER BY id DESC")
        .fetchone()[0]
    )
    response = get(app, f"/snapshots/{sha}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"].startswith("inline")
    assert "sandbox" in response.headers["content-security-policy"]
    assert "<script>window.pwned" in response.text  # the raw bytes, verbatim, as text
    assert get(app, "/snapshots/" + "0" * 64).status_code == 404
    assert get(app, "/snapshots/../../etc").status_code == 404


def test_no_write_methods(app):
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        for url in ("/", "/api/changes", "/static/style.css", "/nowhere"):
            response = asyncio.run(_request(app, method, url))
            assert response.status_code == 405, (method, url)
            assert response.headers["allow"] == "GET, HEAD"


def test_archive_is_opened_read_only(db_path):
    from tosmonitor.web.data import ArchiveSource

    archive = ArchiveSource(db_path).get()  # what the web app reads through
    with pytest.raises(sqlite3.OperationalError):
        archive.db.execute("DELETE FROM changes")
    archive.close()


def test_token_is_required_when_set(db_path):
    app = create_app(db_path, token="s3cret-token")
    assert get(app, "/").status_code == 401
    assert get(app, "/api/changes").status_code == 401
    assert get(app, "/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert get(app, "/", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert get(app, "/?token=wrong").status_code == 401
    first = get(app, "/search?q=train&token=s3cret-token")
    assert first.status_code == 303 and first.headers["location"] == "/search?q=train"
    cookie = first.cookies[COOKIE]
    assert cookie == cookie_value("s3cret-token") and "s3cret-token" not in cookie
    assert "httponly" in first.headers["set-cookie"].lower()
    assert get(app, "/search?q=train", headers={"Cookie": f"{COOKIE}={cookie}"}).status_code == 200
    assert get(app, "/", headers={"Cookie": f"{COOKIE}=forged"}).status_code == 401


# -- API ----------------------------------------------------------------------------------------------------


def test_api_documents_paginate_with_next_links(app):
    first = get(app, "/api/documents?limit=2").json()
    assert [d["id"] for d in first["items"]] == ["brightside/privacy-policy", "brightside/terms"]
    assert first["items"][0]["training"] == "opt-out" and first["items"][0]["latest_change_id"] == 1
    second = get(app, first["next"]).json()
    assert [d["id"] for d in second["items"]] == ["hostile/terms"] and second["next"] is None
    one = get(app, "/api/documents/brightside/terms").json()
    assert one["id"] == "brightside/terms" and one["training"] == "never"
    assert get(app, "/api/documents/none/such").status_code == 404


def test_api_versions_of_a_document_with_a_slash_in_its_id(app):
    data = get(app, "/api/documents/brightside/privacy-policy/versions").json()
    assert [v["id"] for v in data["items"]] == [1, 2]
    assert [v["training"] for v in data["items"]] == ["none", "opt-out"]
    assert data["items"][1]["change_id"] == 1 and data["items"][1]["snapshots"][0].startswith("http://")
    text = get(app, "/api/versions/2").json()["text"]
    assert OPT_OUT_QUOTE in text


def test_api_changes_filters_and_cursor(app):
    every = get(app, "/api/changes").json()["items"]
    assert [c["id"] for c in every] == [1, 2, 3]
    ai = get(app, "/api/changes?ai=1").json()["items"]
    assert [c["id"] for c in ai] == [1, 3]
    assert [c["id"] for c in get(app, "/api/changes?severity=high").json()["items"]] == [1, 3]
    since = get(app, "/api/changes?since=2025-03-03").json()["items"]
    assert [c["id"] for c in since] == [1, 2]
    assert [c["id"] for c in get(app, "/api/changes?service=brightside").json()["items"]] == [1, 2]
    page = get(app, "/api/changes?limit=2").json()
    assert [c["id"] for c in page["items"]] == [1, 2] and "cursor=2" in page["next"]
    rest = get(app, page["next"]).json()
    assert [c["id"] for c in rest["items"]] == [3]
    error = get(app, "/api/changes?since=yesterday")
    assert error.status_code == 400 and "since" in error.json()["error"]["message"]


def test_api_change_and_search(app):
    change = get(app, "/api/changes/1").json()
    assert change["training_before"] == "none" and change["training_after"] == "opt-out"
    assert change["findings"][0]["new"] == OPT_OUT_QUOTE
    assert change["links"]["html"].endswith("/changes/1")
    hits = get(app, "/api/search?q=private messages").json()["items"]
    assert hits and hits[0]["document_id"] == "brightside/terms" and "[private]" in hits[0]["snippet"]
    assert get(app, "/api/search").status_code == 400


def test_openapi_describes_every_api_route(app):
    spec = get(app, "/api/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    for path in (
        "/api/documents",
        "/api/documents/{doc_id}/versions",
        "/api/changes",
        "/api/changes/{change_id}",
        "/api/search",
    ):
        assert "get" in spec["paths"][path], path


def test_conditional_get_answers_304_until_the_archive_changes(tmp_path):
    path = build_archive(tmp_path / "a.db")
    app = create_app(path)
    first = get(app, "/api/changes")
    etag = first.headers["etag"]
    assert get(app, "/api/changes", headers={"If-None-Match": etag}).status_code == 304
    assert get(app, "/api/changes?ai=1", headers={"If-None-Match": etag}).status_code == 200
    with Archive(path) as archive:
        record(
            archive,
            "brightside/terms",
            "# Terms\n\nBe nice.\n",
            T0 + timedelta(days=60),
            training="none",
            change=NewChange(severity="low"),
        )
    again = get(app, "/api/changes", headers={"If-None-Match": etag})
    assert again.status_code == 200 and len(again.json()["items"]) == 4


def test_feeds_are_valid_atom(app):
    ns = {"a": "http://www.w3.org/2005/Atom"}
    every = ET.fromstring(get(app, "/feeds/all.atom").content)
    assert len(every.findall("a:entry", ns)) == 3
    ai = get(app, "/feeds/ai.atom")
    assert ai.headers["content-type"].startswith("application/atom+xml")
    entries = ET.fromstring(ai.content).findall("a:entry", ns)
    assert [e.find("a:link", ns).get("href") for e in entries] == [
        "http://testserver/changes/3",
        "http://testserver/changes/1",
    ]
    service = ET.fromstring(get(app, "/feeds/brightside.atom").content)
    assert len(service.findall("a:entry", ns)) == 2
    assert get(app, "/feeds/nobody.atom").status_code == 404


def test_root_path_prefixes_every_link(db_path):
    app = create_app(db_path, root_path="/tos")
    html = asyncio.run(_request(app, "GET", "/", root_path="")).text
    assert 'href="/tos/static/style.css"' in html and 'href="/tos/changes/1"' in html
    assert 'href="/changes/' not in html
    data = asyncio.run(_request(app, "GET", "/api/documents?limit=1")).json()
    assert data["next"].startswith("http://testserver/tos/api/documents?")


# -- rendering units ----------------------------------------------------------------------------------------


def test_diff_view_folds_unchanged_runs_but_keeps_quoted_lines():
    old = "\n".join(f"line {i}" for i in range(40)) + "\n"
    new = old.replace("line 30\n", "line thirty\n")
    view = diff_view(old, new, new_quotes=["line 5"])
    kinds = [row.kind for row in view.rows]
    assert kinds.count("change") == 1 and "fold" in kinds
    shown = "".join(seg.text for row in view.rows for seg in row.segments)
    assert "line 5\n" in shown and "line 15\n" not in shown
    assert view.added_words == 1 and view.removed_words == 1


def test_quote_ranges_tolerate_whitespace_differences():
    text = "We may   use your\ndata to train models."
    assert quote_ranges(text, ["use your data to train"]) == [(9, 31)]
    assert quote_ranges(text, ["not there", None]) == []


def test_stance_chart_escapes_and_plots_each_step():
    steps = [
        {"from": "2025-01-01T00:00:00Z", "training": "none", "version_id": 1},
        {"from": "2025-02-01T00:00:00Z", "training": "<script>", "version_id": 2},
    ]
    svg = str(stance_chart(steps, now=datetime(2025, 3, 1, tzinfo=UTC)))
    assert svg.count("<circle") == 2 and "<script>" not in svg and "style=" not in svg


def test_cli_serve_is_registered():
    from click.testing import CliRunner

    from tosmonitor import cli_web  # noqa: F401 - registers the command
    from tosmonitor.cli import cli

    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0, result.output
    assert "--root-path" in result.output and "TOSMONITOR_WEB_TOKEN" in result.output
    missing = CliRunner().invoke(cli, ["serve", "--db", "/nonexistent/archive.db"])
    assert missing.exit_code == 1 and "no archive here" in missing.output


def test_json_is_utf8(app):
    body = get(app, "/api/changes/1").content
    assert "→".encode() in body and json.loads(body)["id"] == 1
