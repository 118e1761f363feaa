# SPDX-License-Identifier: Apache-2.0
"""The dashboard end to end in headless Chromium, against uvicorn on 127.0.0.1: navigation, the highlighted
finding quote, hostile archived pages staying inert text, and the access token. Screenshots of the overview
and of a change page go to ``test-artifacts/``."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the web extra (starlette, jinja2, uvicorn) is not installed")
uvicorn = pytest.importorskip("uvicorn", reason="the web extra (uvicorn) is not installed")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)

from test_web import OPT_OUT_QUOTE, build_archive  # noqa: E402
from tosmonitor.web import create_app  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
TOKEN = "browser-test-token"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) or shutil.which("chromium")),
        reason=f"no system Chromium at {CHROMIUM} (apt-get install chromium)",
    ),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """The app served by uvicorn in a thread on 127.0.0.1."""

    def __init__(self, app) -> None:
        self.port = _free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def db_path(tmp_path_factory) -> Path:
    return build_archive(tmp_path_factory.mktemp("webbrowser") / "archive.db")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        except Exception as exc:  # the browser exists but cannot start here
            pytest.skip(f"headless Chromium did not start: {exc}")
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    opened = context.new_page()
    dialogs: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    opened.dialogs = dialogs
    try:
        yield opened
    finally:
        context.close()


def test_overview_to_change_shows_the_finding_and_its_highlighted_quote(db_path, page):
    ARTIFACTS.mkdir(exist_ok=True)
    with Served(create_app(db_path)) as base:
        page.goto(base + "/")
        assert page.title().startswith("Overview")
        page.screenshot(path=str(ARTIFACTS / "web-overview.png"), full_page=True)
        row = page.locator("tr", has_text="Privacy Policy").filter(has_text="Brightside")
        row.locator("a[href$='/changes/1']").click()
        page.wait_for_url("**/changes/1")
        assert page.get_by_text("AI training on user data added").is_visible()
        marked = page.locator(".diff ins mark.quote")
        assert marked.count() >= 1
        assert "switch off Data for Model Improvement" in " ".join(marked.all_inner_texts())
        assert OPT_OUT_QUOTE in page.locator(".finding blockquote.new").inner_text()
        # The stylesheet is the app's own and applies (no external assets).
        background = marked.first.evaluate("element => getComputedStyle(element).backgroundColor")
        assert background not in ("rgba(0, 0, 0, 0)", "transparent")
        page.screenshot(path=str(ARTIFACTS / "web-change.png"), full_page=True)


def test_hostile_archived_pages_stay_inert_text(db_path, page):
    with Served(create_app(db_path)) as base:
        for url in (
            "/",
            "/documents/hostile/terms",
            "/changes/3",
            "/changes/3?view=inline",
            "/versions/6",
            "/health",
        ):
            page.goto(base + url)
            assert page.evaluate("() => window.pwned === undefined"), url
            assert page.locator("main script, main img, main a[href^='javascript:']").count() == 0, url
        page.goto(base + "/changes/3")
        assert "window.pwned = 'headline'" in page.locator(".headline-big").inner_text()
        for link in page.locator(".diff a").all():
            raise AssertionError(f"an archived link became a real link: {link.get_attribute('href')}")
        page.goto(base + "/documents/hostile/terms")
        raw = page.locator("a", has_text="raw").first.get_attribute("href")
        page.goto(base + raw)
        assert "<script>window.pwned" in page.locator("body").inner_text()
        assert page.evaluate("() => window.pwned === undefined")
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_the_token_is_required_when_set(db_path, page):
    with Served(create_app(db_path, token=TOKEN)) as base:
        response = page.goto(base + "/")
        assert response is not None and response.status == 401
        assert "access token" in page.locator("body").inner_text()
        response = page.goto(base + f"/?token={TOKEN}")
        assert response is not None and response.status == 200 and page.url == base + "/"
        page.goto(base + "/changes/1")  # the cookie carries the session on
        assert page.get_by_text("AI training on user data added").is_visible()
