# SPDX-License-Identifier: Apache-2.0
"""The command line, run as users run it: CliRunner for most commands, real subprocesses for the crash test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from tosmonitor.archive import Archive
from tosmonitor.cli import cli

PAGE = """<html><body><nav>Menu</nav><main><h1>{title}</h1>
<p>We collect the content you post and your profile.</p>
{extra}
<p>You can delete your account at any time.</p></main></body></html>"""


def write_targets(path: Path, urls: dict[str, str], extra: str = "") -> Path:
    lines = [
        "defaults:",
        "  timeout: 5s",
        "settings:",
        "  host_spacing: 0s",
        "  retries: 0",
        "services:",
        "  Acme:",
        "    documents:",
    ]
    for name, url in urls.items():
        lines += [f"      {name}:", f"        url: {url}", "        select: [main]"]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


@pytest.fixture
def site(local_server):
    local_server.set("/privacy", PAGE.format(title="Acme Privacy Policy", extra=""))
    local_server.set("/terms", PAGE.format(title="Acme Terms", extra=""))
    return local_server


@pytest.fixture
def env(tmp_path, site):
    targets = write_targets(
        tmp_path / "targets.yaml", {"Privacy Policy": site.url("/privacy"), "Terms": site.url("/terms")}
    )
    return {"targets": str(targets), "db": str(tmp_path / "archive.db")}


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_check_then_history_show_and_diff(env, site):
    result = invoke("check", "--config", env["targets"], "--db", env["db"])
    assert result.exit_code == 0, result.output
    assert "acme/privacy-policy" in result.output and "first" in result.output

    site.set(
        "/privacy",
        PAGE.format(
            title="Acme Privacy Policy",
            extra="<p>We may use your posts to train our generative AI models. You can opt out in your settings.</p>",
        ),
    )
    result = invoke("check", "--config", env["targets"], "--db", env["db"], "--json")
    assert result.exit_code == 0, result.output
    results = {r["document_id"]: r for r in json.loads(result.output)["results"]}
    assert results["acme/privacy-policy"]["outcome"] == "changed"
    assert results["acme/terms"]["outcome"] == "unchanged"

    history = json.loads(invoke("history", "acme/privacy-policy", "--db", env["db"], "--json").output)
    assert [v["training"] for v in history["versions"]] == ["none", "opt-out"]
    assert history["stance_timeline"][-1]["training"] == "opt-out"

    shown = invoke("show", "Acme/Privacy Policy", "--db", env["db"])
    assert "train our generative AI models" in shown.output

    diff = json.loads(invoke("diff", "acme/privacy-policy", "--db", env["db"], "--json").output)
    assert diff["findings"] and diff["diff"]["stats"]["sentences_added"] >= 1
    text = invoke("diff", "acme/privacy-policy", "--db", env["db"], "--no-color")
    assert "train our generative AI models" in text.output


def test_show_at_a_date_before_the_first_version_is_an_error(env):
    invoke("check", "--config", env["targets"], "--db", env["db"])
    result = CliRunner().invoke(cli, ["show", "acme/terms", "--at", "2001-01-01", "--db", env["db"]])
    assert result.exit_code == 1 and "no version at or before 2001-01-01" in result.output


def test_check_exits_1_when_a_document_fails(env, site):
    site.set("/terms", b"", status=503)
    result = invoke("check", "--config", env["targets"], "--db", env["db"])
    assert result.exit_code == 1
    assert "error" in result.output


def test_bad_config_exits_2_with_file_line_and_field(tmp_path):
    bad = tmp_path / "targets.yaml"
    bad.write_text(
        "services:\n  Acme:\n    documents:\n      Terms:\n        url: https://acme.example/terms\n"
        "        interval: 6x\n"
    )
    result = CliRunner().invoke(cli, ["check", "--config", str(bad), "--db", str(tmp_path / "a.db")])
    assert result.exit_code == 2
    assert "targets.yaml:6" in result.output and "interval" in result.output
    assert not (tmp_path / "a.db").exists(), "nothing is written on a bad configuration"


def test_only_selects_documents(env):
    result = invoke("check", "--config", env["targets"], "--db", env["db"], "--only", "acme/terms", "--json")
    assert [r["document_id"] for r in json.loads(result.output)["results"]] == ["acme/terms"]
    result = CliRunner().invoke(
        cli, ["check", "--config", env["targets"], "--db", env["db"], "--only", "nope"]
    )
    assert result.exit_code == 2 and "matches no document" in result.output


def test_extract_prints_normalised_text(tmp_path):
    html = tmp_path / "page.html"
    html.write_text(PAGE.format(title="Local page", extra="<p class='ad'>Buy now</p>"))
    result = invoke("extract", str(html), "--select", "main", "--remove", ".ad")
    assert result.exit_code == 0
    assert result.output.startswith("# Local page")
    assert "Buy now" not in result.output and "Menu" not in result.output


def test_extract_names_a_file_it_cannot_read_as_a_page(tmp_path):
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(range(256)) * 8)
    result = invoke("extract", str(binary))
    assert result.exit_code == 2
    assert f"Error: {binary}: not an HTML page, a PDF or a text file (it holds binary data)" in result.output
    notes = tmp_path / "notes.txt"
    notes.write_text("We keep your data for 30 days.\n")
    assert invoke("extract", str(notes)).output == "We keep your data for 30 days.\n"
    result = invoke("extract", str(notes), "--select", "main")
    assert result.exit_code == 2
    assert "--select and --remove apply to HTML pages, and this file reads as plain text" in result.output
    utf16 = tmp_path / "policy.txt"
    utf16.write_bytes("We keep your data for 30 days.\n".encode("utf-16"))  # NUL bytes, after a BOM
    assert invoke("extract", str(utf16)).output == "We keep your data for 30 days.\n"


def test_extract_with_rules_json_combines_pages(tmp_path):
    one, two = tmp_path / "one.html", tmp_path / "two.html"
    one.write_text(PAGE.format(title="Part one", extra=""))
    two.write_text(PAGE.format(title="Part two", extra=""))
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps(
            {
                "select": ["main"],
                "remove": [],
                "combine": [{"fetch": "https://acme.example/one"}, {"fetch": "https://acme.example/two"}],
            }
        )
    )
    result = invoke("extract", str(one), str(two), "--rules", str(rules))
    assert result.exit_code == 0, result.output
    assert result.output.index("Part one") < result.output.index("Part two")


def test_compare_json_contract(tmp_path):
    old, new = tmp_path / "old.md", tmp_path / "new.md"
    old.write_text("# Privacy\n\nWe do not use your messages to train our models.\n")
    new.write_text("# Privacy\n\nWe use your messages to train our models. You can opt out in Settings.\n")
    result = invoke("compare", str(old), str(new), "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert set(data) >= {
        "changed",
        "cosmetic",
        "ai_training_change",
        "severity",
        "before",
        "after",
        "findings",
    }
    assert data["before"]["training"] == "never" and data["after"]["training"] == "opt-out"
    assert data["ai_training_change"] is True


def test_compare_unreadable_input_exits_2(tmp_path):
    result = CliRunner().invoke(cli, ["compare", str(tmp_path / "missing.html"), str(tmp_path / "x.html")])
    assert result.exit_code == 2


def test_status_lists_health_and_next_due(env):
    invoke("check", "--config", env["targets"], "--db", env["db"])
    rows = json.loads(invoke("status", "--config", env["targets"], "--db", env["db"], "--json").output)
    assert {r["id"] for r in rows} == {"acme/privacy-policy", "acme/terms"}
    assert all(r["health"] == "ok" and r["last_success_at"] for r in rows)


def test_second_concurrent_check_exits_75_or_waits(env):
    holder = Archive(env["db"])
    holder.acquire_lock()
    try:
        result = CliRunner().invoke(cli, ["check", "--config", env["targets"], "--db", env["db"]])
        assert result.exit_code == 75
        assert "in use by another tosmonitor run" in result.output
    finally:
        holder.close()
    assert invoke("check", "--config", env["targets"], "--db", env["db"], "--wait").exit_code == 0


def test_demo_runs_end_to_end(tmp_path):
    db = tmp_path / "demo.db"
    result = invoke("demo", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert "AI training" in result.output or "opt-out" in result.output
    with Archive(db) as archive:
        assert archive.integrity_problems() == []
        assert (
            archive.db.execute("SELECT COUNT(*) FROM changes WHERE ai_training_change = 1").fetchone()[0] >= 3
        )


@pytest.mark.slow
def test_sigkill_mid_run_leaves_a_consistent_archive(tmp_path, local_server):
    urls = {}
    for i in range(30):
        local_server.set(f"/doc{i}", PAGE.format(title=f"Document {i}", extra=""), delay=0.05)
        urls[f"Document {i}"] = local_server.url(f"/doc{i}")
    targets = write_targets(tmp_path / "targets.yaml", urls)
    db = tmp_path / "archive.db"
    command = [sys.executable, "-m", "tosmonitor", "check", "--config", str(targets), "--db", str(db)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill it once it has written part of its work
        time.sleep(0.05)
        if db.exists():
            try:
                with Archive(db, readonly=True) as peek:  # a reader never holds the check's write lock
                    if peek.db["fetches"].count >= 5:
                        break
            except Exception:
                continue
    workers = [child.pid for child in psutil.Process(process.pid).children(recursive=True)]
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    deadline = time.monotonic() + 10
    while any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in workers
    ):
        assert time.monotonic() < deadline, "worker processes outlived the killed check"
        time.sleep(0.2)
    with Archive(db) as archive:
        assert archive.integrity_problems() == []
        done = archive.db["fetches"].count
        assert 0 < done < 30 or done == 30
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    with Archive(db) as archive:
        assert archive.integrity_problems() == []
        assert archive.db.execute("SELECT COUNT(DISTINCT document_id) FROM versions").fetchone()[0] == 30


def test_a_channel_missing_its_secret_stops_check_at_start_up(tmp_path, site):
    targets = write_targets(
        tmp_path / "targets.yaml",
        {"Terms": site.url("/terms")},
        extra="channels:\n  - {type: webhook, url: 'http://127.0.0.1:9/hook', secret_env: TOSMONITOR_TEST_NO_SUCH_VAR}\n",
    )
    result = CliRunner().invoke(cli, ["check", "--config", str(targets), "--db", str(tmp_path / "a.db")])
    assert result.exit_code == 2
    assert "TOSMONITOR_TEST_NO_SUCH_VAR" in result.output
    assert site.hits("/terms") == 0, "nothing is fetched"
