# SPDX-License-Identifier: Apache-2.0
"""Imports: dataset trees, Open Terms Archive versions repositories and declarations, the Wayback Machine."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

import tosmonitor.cli_research  # noqa: F401 - registers the commands on the group
from localserver import LocalServer, RecordedRequest, Response
from tosmonitor import imports as imports_module
from tosmonitor.archive import Archive
from tosmonitor.cli import cli
from tosmonitor.config import parse_config
from tosmonitor.errors import ConfigError, FetchError, InputError, TosMonitorError
from tosmonitor.imports import declarations_to_yaml, import_dataset, import_ota_versions, import_wayback
from tosmonitor.models import Rules

NO_TRAINING = (
    "# Harbour Privacy Policy\n\nWe store the messages you send so that we can deliver them.\n\n"
    "We do not use your content to train artificial intelligence models."
)
SAME_WITH_CONTACT = NO_TRAINING + "\n\nWrite to privacy@harbour.test with any question."
OPT_OUT = (
    "# Harbour Privacy Policy\n\nWe store the messages you send so that we can deliver them.\n\n"
    "We may use your public posts to train our AI models. You can opt out in your settings."
)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))


def _counts(archive: Archive) -> tuple[int, int, int, int]:
    return tuple(  # type: ignore[return-value]
        archive.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        for table in ("documents", "versions", "changes", "deliveries")
    )


# -- dataset -----------------------------------------------------------------------------------------------


def _dataset(root: Path) -> Path:
    docs = root / "Harbour" / "Privacy Policy"
    _write(docs / "2023-02-01T10-00-00Z.md", NO_TRAINING)
    _write(docs / "2023-06-01T10-00-00Z.md", SAME_WITH_CONTACT)
    _write(docs / "2023-06-02T10-00-00Z.md", SAME_WITH_CONTACT)  # identical: not a new version
    _write(docs / "2024-01-15T08-30-00Z.md", OPT_OUT)
    _write(docs / "alt-eu-versions" / "2024-01-16T00-00-00Z.md", NO_TRAINING)
    _write(root / "Harbour" / "Terms of Use" / "2023-03-03T03-03-03Z.md", "# Terms\n\nPlay fair.")
    return root


def test_dataset_import_analyses_history_and_sends_nothing(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "data")
    archive = Archive(tmp_path / "a.db")
    report = import_dataset(archive, root)
    assert (report.documents, report.versions, report.changes, report.skipped) == (3, 5, 2, 1)
    versions = archive.versions("harbour/privacy-policy")
    assert [v["first_seen_at"] for v in versions] == [
        "2023-02-01T10:00:00Z",
        "2023-06-01T10:00:00Z",
        "2024-01-15T08:30:00Z",
    ]
    assert all(v["imported"] and not v["technical"] for v in versions)
    assert [v["training"] for v in versions] == ["never", "never", "opt-out"]
    changes = archive.changes("harbour/privacy-policy")
    assert [c["ai_training_change"] for c in changes] == [False, True]
    assert changes[1]["imported"] and changes[1]["detected_at"] == "2024-01-15T08:30:00Z"
    assert changes[1]["findings"]
    alt = archive.document("harbour/privacy-policy-alt-eu-versions")
    assert alt is not None and alt["name"] == "Privacy Policy (eu-versions)"
    assert _counts(archive)[3] == 0  # imported history queues no alerts
    again = import_dataset(archive, root)
    assert again.versions == 0 and _counts(archive)[1] == 5
    archive.close()


def _stop_the_worker(*_args: object) -> None:
    os._exit(9)  # as the out-of-memory killer would stop it


def test_a_worker_that_stops_during_an_import_leaves_it_to_resume(tmp_path: Path, monkeypatch) -> None:
    root = _dataset(tmp_path / "data")
    archive = Archive(tmp_path / "a.db")
    monkeypatch.setattr(imports_module, "derive_chain", _stop_the_worker)
    with pytest.raises(
        TosMonitorError, match=r"a worker process stopped while reading the history of harbour/"
    ):
        import_dataset(archive, root, workers=2)
    monkeypatch.undo()
    report = import_dataset(archive, root, workers=2)
    assert (report.documents, report.versions) == (3, 5), "the same command goes on"
    archive.close()


def test_dataset_import_can_skip_alternates(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "data")
    archive = Archive(tmp_path / "a.db")
    report = import_dataset(archive, root, alternates=False)
    assert archive.document("harbour/privacy-policy-alt-eu-versions") is None
    assert any("alt-eu-versions: alternate collection skipped" in note for note in report.notes)
    archive.close()


def test_dataset_bad_input_names_the_file_and_writes_nothing(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "data")
    _write(root / "Harbour" / "Terms of Use" / "last-tuesday.md", "text")
    archive = Archive(tmp_path / "a.db")
    with pytest.raises(InputError, match=r"Terms of Use/last-tuesday\.md: not a dataset version file"):
        import_dataset(archive, root)
    assert _counts(archive) == (0, 0, 0, 0)
    with pytest.raises(InputError, match="nowhere: no such directory"):
        import_dataset(archive, tmp_path / "nowhere")
    archive.close()
    result = CliRunner().invoke(
        cli, ["import", "dataset", str(tmp_path / "nowhere"), "--db", str(tmp_path / "cli.db")]
    )
    assert result.exit_code == 2 and "no such directory" in result.output
    assert not (tmp_path / "cli.db").exists()


# -- Open Terms Archive versions repository ------------------------------------------------------------------


def _git(repo: Path, *args: str, date: str | None = None) -> None:
    env = dict(os.environ, GIT_AUTHOR_NAME="Archivist", GIT_AUTHOR_EMAIL="a@example.test")
    env.update(GIT_COMMITTER_NAME="Archivist", GIT_COMMITTER_EMAIL="a@example.test")
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE="2026-01-01T00:00:00Z")
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def _versions_repo(repo: Path) -> Path:
    repo.mkdir()
    _git(repo, "init", "-q")
    steps = [
        (
            "2022-05-01T12:00:00Z",
            "Harbour/Privacy Policy.md",
            NO_TRAINING,
            "First record of Harbour Privacy Policy",
        ),
        (
            "2022-05-01T12:00:05Z",
            "Harbour/Terms of Use.md",
            "# Terms\n\nPlay fair.",
            "First record of Harbour Terms",
        ),
        ("2023-09-09T09:09:09+02:00", "Harbour/Privacy Policy.md", OPT_OUT, "Record new changes of Harbour"),
    ]
    for date, path, text, message in steps:
        _write(repo / path, text)
        _write(repo / "README.md", f"Versions, last: {date}")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", message, date=date)
    return repo


def test_ota_versions_repository_import(tmp_path: Path) -> None:
    repo = _versions_repo(tmp_path / "versions")
    archive = Archive(tmp_path / "a.db")
    result = CliRunner().invoke(
        cli, ["import", "ota-versions", str(repo), "--db", str(archive.path), "--workers", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["versions"] == 3
    versions = archive.versions("harbour/privacy-policy")
    assert [(v["first_seen_at"], v["training"]) for v in versions] == [
        ("2022-05-01T12:00:00Z", "never"),
        ("2023-09-09T07:09:09Z", "opt-out"),
    ]
    assert archive.text(versions[1]["id"]) == OPT_OUT
    assert archive.document("harbour/terms-of-use") is not None
    assert archive.changes("harbour/privacy-policy")[0]["ai_training_change"] is True
    assert _counts(archive)[3] == 0
    archive.close()


def test_ota_versions_rejects_a_folder_that_is_not_a_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    _write(plain / "Harbour" / "Privacy Policy.md", NO_TRAINING)
    archive = Archive(tmp_path / "a.db")
    with pytest.raises(InputError, match="plain: not a git repository"):
        import_ota_versions(archive, plain)
    assert _counts(archive) == (0, 0, 0, 0)
    archive.close()


# -- declarations --------------------------------------------------------------------------------------------


def _declarations(folder: Path) -> Path:
    folder.mkdir()
    harbour = {
        "name": "Harbour",
        "terms": {
            "Privacy Policy": {
                "fetch": "https://harbour.test/privacy",
                "select": ["main", {"startBefore": "#scope", "endBefore": "#footer"}],
                "remove": [".banner"],
                "filter": ["removeTrackingIDs", "highlightHarbourLogo"],
                "executeClientScripts": True,
            },
            "Terms of Use": {
                "combine": [
                    {"fetch": "https://harbour.test/terms/1", "select": ["article"]},
                    {"fetch": "https://harbour.test/terms/2", "executeClientScripts": True},
                ],
                "remove": ["nav"],
            },
            "Broken Page": {"fetch": "https://harbour.test/broken", "select": ["div >> p"]},
        },
    }
    (folder / "Harbour.json").write_text(json.dumps(harbour), encoding="utf-8")
    older = {
        "name": "Harbour",
        "terms": {"Privacy Policy": [{"fetch": "https://old.test", "validUntil": "2020"}]},
    }
    (folder / "Harbour.history.json").write_text(json.dumps(older), encoding="utf-8")
    return folder


def test_declarations_become_a_loadable_targets_file(tmp_path: Path) -> None:
    folder = _declarations(tmp_path / "declarations")
    text, report, count = declarations_to_yaml(folder)
    config = parse_config(text, filename="targets.yaml")
    assert count == 2 and len(config.documents) == 2
    privacy = config.document("harbour/privacy-policy")
    assert privacy.javascript is True and privacy.url == "https://harbour.test/privacy"
    assert privacy.sources[0].rules.select[0] == "main"
    assert privacy.sources[0].rules.select[1].start_before == "#scope"
    assert privacy.sources[0].rules.filters == ("remove_query_params",)
    terms = config.document("harbour/terms-of-use")
    assert [s.url for s in terms.sources] == ["https://harbour.test/terms/1", "https://harbour.test/terms/2"]
    assert terms.sources[0].rules.select == ("article",) and terms.sources[1].rules.remove == ("nav",)
    assert terms.javascript is True
    assert any("'highlightHarbourLogo' has no equivalent" in line for line in report)
    assert any("Broken Page" in line and "left out" in line for line in report)


def test_declarations_cli_writes_the_file_and_reports(tmp_path: Path) -> None:
    folder = _declarations(tmp_path / "declarations")
    out = tmp_path / "targets.yaml"
    result = CliRunner().invoke(cli, ["import", "ota-declarations", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 2 documents" in result.output and "highlightHarbourLogo" in result.output
    assert len(parse_config(out.read_text(), filename=str(out)).documents) == 2


def test_malformed_declaration_names_the_file_and_writes_nothing(tmp_path: Path) -> None:
    folder = _declarations(tmp_path / "declarations")
    (folder / "Zed.json").write_text('{"name": "Zed", "terms": {"Privacy": {"select": ["main"]}}}')
    with pytest.raises(ConfigError, match=r"Zed\.json: terms\.Privacy: missing fetch"):
        declarations_to_yaml(folder)
    (folder / "Zed.json").write_text('{"name": "Zed",\n "terms": {')
    out = tmp_path / "targets.yaml"
    result = CliRunner().invoke(cli, ["import", "ota-declarations", str(folder), "--out", str(out)])
    assert result.exit_code == 2 and "Zed.json:2: invalid JSON" in result.output
    assert not out.exists()


# -- Wayback Machine ----------------------------------------------------------------------------------------

PAGE = "<html><body><nav>Menu</nav><main><h1>Harbour Privacy</h1><p>{}</p></main></body></html>"
CAPTURES = {
    "20210105101010": "We do not use your content to train artificial intelligence models.",
    "20210707070707": "We do not use your content to train artificial intelligence models.",
    "20220202020202": "We may use your public posts to train our AI models. You can opt out in your settings.",
    "20230303030303": "We may use your public posts to train AI models and we offer no way to refuse.",
}
ORIGINAL = "https://harbour.test/privacy"


def _wayback(server: LocalServer, *, failing: set[str]) -> None:
    rows = [["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"]]
    rows += [["test,harbour)/privacy", ts, ORIGINAL, "text/html", "200", f"D{ts}", "100"] for ts in CAPTURES]

    def cdx(request: RecordedRequest) -> Response:
        assert "output=json" in request.path and "collapse=digest" in request.path
        return Response(body=json.dumps(rows).encode(), content_type="application/json")

    server.set_handler("/cdx", cdx)
    for ts, sentence in CAPTURES.items():
        path = f"/web/{ts}id_/{ORIGINAL}"
        if ts in failing:
            server.set(path, status=503, body=b"busy")
        else:
            server.set(path, PAGE.format(sentence))


def test_wayback_import_resumes_after_an_interruption(local_server: LocalServer, tmp_path: Path) -> None:
    _wayback(local_server, failing={"20220202020202"})
    archive = Archive(tmp_path / "a.db")
    options = {
        "start": "2021",
        "end": "2023",
        "document_id": "harbour/privacy",
        "rules": Rules(select=("main",)),
        "cdx_url": local_server.url("/cdx"),
        "wayback_url": local_server.url("/web"),
        "interval": 0.0,
        "retries": 1,
    }
    with pytest.raises(FetchError, match="20220202020202id_/https://harbour.test/privacy: HTTP 503"):
        import_wayback(archive, ORIGINAL, **options)  # type: ignore[arg-type]
    assert len(archive.versions("harbour/privacy")) == 1
    assert local_server.hits(f"/web/20220202020202id_/{ORIGINAL}") == 2  # one retry

    _wayback(local_server, failing=set())
    report = import_wayback(archive, ORIGINAL, **options)  # type: ignore[arg-type]
    assert (report.fetched, report.versions, report.skipped) == (2, 2, 2)
    for ts in ("20210105101010", "20210707070707"):
        assert local_server.hits(f"/web/{ts}id_/{ORIGINAL}") == 1  # not fetched again
    versions = archive.versions("harbour/privacy")
    assert [v["first_seen_at"] for v in versions] == [
        "2021-01-05T10:10:10Z",
        "2022-02-02T02:02:02Z",
        "2023-03-03T03:03:03Z",
    ]
    assert [v["training"] for v in versions] == ["never", "opt-out", "no-choice"]
    assert "Menu" not in archive.text(versions[0]["id"])
    body, content_type, _ = archive.snapshot(versions[1]["snapshot_sha256"])
    assert content_type == "text/html" and b"opt out" in body
    fetches = archive.db.execute("SELECT COUNT(*) FROM fetches WHERE fetcher = 'wayback'").fetchone()[0]
    assert fetches == 4 and _counts(archive)[3] == 0
    archive.close()


def test_wayback_cli_with_env_override(local_server: LocalServer, tmp_path: Path) -> None:
    _wayback(local_server, failing=set())
    result = CliRunner().invoke(
        cli,
        [
            "import",
            "wayback",
            ORIGINAL,
            "--from",
            "2021-01-01",
            "--to",
            "2023-12-31",
            "--interval",
            "0",
            "--db",
            str(tmp_path / "a.db"),
            "--json",
        ],
        env={
            "TOSMONITOR_CDX_URL": local_server.url("/cdx"),
            "TOSMONITOR_WAYBACK_URL": local_server.url("/web"),
        },
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["document_ids"] == ["harbour-test/privacy"] and data["versions"] == 3
    cdx = local_server.requests_to("/cdx")[0].path
    assert "from=20210101" in cdx and "to=20231231" in cdx and "filter=statuscode%3A200" in cdx


def test_declarations_skip_collection_metadata_and_name_ids_from_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "declarations"
    _write(folder / "_collection" / "production.json", json.dumps({"github": "settings"}))
    _write(
        folder / "Gangkou.json",
        json.dumps({"name": "港口", "terms": {"Privacy Policy": {"fetch": "https://gangkou.test/p"}}}),
    )
    text, report, count = declarations_to_yaml(folder)
    assert count == 1 and report == []
    assert parse_config(text).documents[0].id == "gangkou/privacy-policy"
