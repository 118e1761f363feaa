# SPDX-License-Identifier: Apache-2.0
"""The pipeline with the headless-browser fetcher: automatic fallback and ``javascript: true``."""

from __future__ import annotations

import asyncio

import pytest

from tosmonitor.archive import Archive
from tosmonitor.browser import BrowserFetcher, browser_available
from tosmonitor.fetch import Fetcher
from tosmonitor.models import Config, DocumentSpec, Rules, Settings, Source
from tosmonitor.monitor import Monitor

pytestmark = pytest.mark.browser

try:
    import playwright  # noqa: F401

    AVAILABLE, REASON = browser_available()
except ImportError:
    AVAILABLE, REASON = False, "Playwright is not installed (pip install 'tosmonitor[browser]')"
if not AVAILABLE:
    pytest.skip(f"no browser: {REASON}", allow_module_level=True)

SCRIPTED = b"""<html><body><main id="policy"></main>
<script>setTimeout(function () {
  document.getElementById('policy').innerHTML =
    '<h1>Help: generative AI</h1><p>We use your public posts to train our AI models unless you opt out.</p>';
}, 150);</script></body></html>"""

CHALLENGE = b"""<html><head><title>Just a moment...</title></head><body>
<h1>Checking your browser before accessing the site</h1><p>Please verify you are human.</p>
<script>window.challenge = true;</script></body></html>"""


def config_for(url: str, *, javascript: bool | None) -> Config:
    doc = DocumentSpec(
        id="acme/ai-help",
        service="Acme",
        name="AI help",
        sources=(Source(url=url, rules=Rules(select=("#policy",))),),
        timeout=10.0,
        javascript=javascript,
    )
    return Config(
        path="test", documents=(doc,), settings=Settings(host_spacing=0.0, retries=0, confirm_delay=0.0)
    )


def run(config: Config, archive: Archive):
    async def go():
        async with (
            Fetcher(host_spacing=0.0, retries=0) as fetcher,
            BrowserFetcher(quiet_period=0.2) as browser,
            Monitor(config, archive, fetcher=fetcher, browser=browser) as monitor,
        ):
            return await monitor.check_all()

    return asyncio.run(go())


@pytest.mark.parametrize("javascript", [None, True], ids=["automatic-fallback", "always-browser"])
def test_script_rendered_policy_is_recorded_from_the_browser(tmp_path, local_server, javascript):
    local_server.set("/help", SCRIPTED)
    with Archive(tmp_path / "a.db") as archive:
        [summary] = run(config_for(local_server.url("/help"), javascript=javascript), archive)
        assert summary.outcome == "first", summary
        assert "train our AI models" in archive.latest_version("acme/ai-help").text
        assert archive.fetches("acme/ai-help")[0]["fetcher"] == "browser"
        assert archive.latest_version("acme/ai-help").training == "opt-out"


def test_a_bot_check_rendered_by_the_browser_is_still_blocked(tmp_path, local_server):
    local_server.set("/help", CHALLENGE, status=403)
    with Archive(tmp_path / "a.db") as archive:
        [summary] = run(config_for(local_server.url("/help"), javascript=None), archive)
        assert summary.outcome == "error"
        assert archive.db["versions"].count == 0
