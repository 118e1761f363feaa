# SPDX-License-Identifier: Apache-2.0
"""The researchers' export: each format read back with a real reader, filters, and round trips."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

import tosmonitor.cli_research  # noqa: F401 - registers the commands on the group
from tosmonitor.archive import Archive, CheckRecord, NewChange, NewVersion, PageFetch
from tosmonitor.cli import cli
from tosmonitor.errors import InputError
from tosmonitor.export import (
    CHANGE_COLUMNS,
    VERSION_COLUMNS,
    ExportFilter,
    export,
)
from tosmonitor.imports import import_dataset, import_ota_versions
from tosmonitor.models import FetchOutcome, FetchResult

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)

GADGET_TEXTS = [
    "# Gadget Privacy Notice\n\nWe keep your account details while your account is open.",
    "# Gadget Privacy Notice\n\nWe keep your account details while your account is open.\n\n"
    "We never use the things you write to train artificial intelligence models.",
    "# Gadget Privacy Notice\n\nWe keep your account details while your account is open.\n\n"
    "We may use your public posts to train our AI models. You can opt out in your settings.",
]
WIDGET_TEXTS = [
    "# Widget Terms\n\nBe kind to other members.\n",
    "# Widget Terms\n\nBe kind to other members.\nDo not scrape the service — ever.\n",
]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _record(
    archive: Archive,
    doc_id: str,
    moment: datetime,
    text: str,
    *,
    url: str,
    training: str,
    first: bool,
    technical: bool = False,
    headline: str | None = None,
) -> None:
    body = f"<html><body><main>{text}</main></body></html>".encode()
    page = FetchResult(
        url=url,
        outcome=FetchOutcome.OK,
        fetched_at=moment,
        status=200,
        body=body,
        content_type="text/html",
        charset="utf-8",
    )
    change = None
    if not first:
        change = NewChange(
            severity="critical" if headline else "low",
            technical=technical,
            ai_training_change=bool(headline),
            training_before="never",
            training_after=training,
            headline=headline,
            stats={"added": 1},
            findings=[{"rule": "training_added_opt_out", "severity": "critical"}] if headline else [],
            stance_after={"training": training, "evidence": ["evidence clause"]},
        )
    archive.record_check(
        CheckRecord(
            document_id=doc_id,
            checked_at=moment,
            outcome="changed",
            pages=[PageFetch(page)],
            versions=[
                NewVersion(
                    text=text,
                    extractor_version="test-1",
                    snapshots=(hashlib.sha256(body).hexdigest(),),
                    technical=technical,
                    training=training,
                )
            ],
            changes=[change] if change else [],
        )
    )


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    archive = Archive(tmp_path / "archive.db")
    archive.ensure_document("gadget/privacy-notice", "Gadget", "Privacy Notice", "http://gadget.test/privacy")
    archive.ensure_document("widget/terms", "Widget", "Terms of Service", "http://widget.test/terms")
    trainings = ["none", "never", "opt-out"]
    for index, text in enumerate(GADGET_TEXTS):
        _record(
            archive,
            "gadget/privacy-notice",
            T0 + timedelta(days=40 * index),
            text,
            url="http://gadget.test/privacy",
            training=trainings[index],
            first=index == 0,
            headline="AI training now on by default (opt-out)" if index == 2 else None,
        )
    for index, text in enumerate(WIDGET_TEXTS):
        _record(
            archive,
            "widget/terms",
            T0 + timedelta(days=15 + 50 * index, seconds=7),
            text,
            url="http://widget.test/terms",
            training="none",
            first=index == 0,
            technical=index == 1,
        )
    yield archive
    archive.close()


def _all_hashes(archive: Archive) -> list[tuple[str, str]]:
    rows = archive.db.execute("SELECT first_seen_at, sha256 FROM versions ORDER BY sha256").fetchall()
    return sorted(sha for _, sha in rows)


def test_jsonl_has_every_version_change_and_fetch(archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "jsonl"
    result = export(archive, "jsonl", out)
    versions = [json.loads(line) for line in (out / "versions.jsonl").read_text().splitlines()]
    changes = [json.loads(line) for line in (out / "changes.jsonl").read_text().splitlines()]
    fetches = [json.loads(line) for line in (out / "fetches.jsonl").read_text().splitlines()]
    assert result.counts == {"versions": 5, "changes": 3, "fetches": 5}
    assert [tuple(v) for v in versions] == [VERSION_COLUMNS] * 5
    for version in versions:
        assert _sha(version["text"]) == version["sha256"]
    assert {v["text"] for v in versions} == set(GADGET_TEXTS + WIDGET_TEXTS)
    ai = [c for c in changes if c["ai_training_change"]]
    assert len(ai) == 1 and ai[0]["findings"][0]["rule"] == "training_added_opt_out"
    assert ai[0]["stance_after"]["training"] == "opt-out" and ai[0]["stats"] == {"added": 1}
    assert tuple(changes[0]) == CHANGE_COLUMNS
    assert [c["technical"] for c in changes].count(True) == 1
    assert {f["snapshot_sha256"] for f in fetches} == {v["snapshot_sha256"] for v in versions}


def test_csv_reads_back_with_the_csv_module(archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "csv"
    export(archive, "csv", out)
    with open(out / "versions.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5
    assert all(_sha(row["text"]) == row["sha256"] for row in rows)
    with open(out / "changes.csv", newline="", encoding="utf-8") as handle:
        changes = list(csv.DictReader(handle))
    assert tuple(changes[0]) == CHANGE_COLUMNS
    flagged = [c for c in changes if c["ai_training_change"] == "1"]
    assert json.loads(flagged[0]["findings"])[0]["severity"] == "critical"
    with open(out / "fetches.csv", newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 5


def test_filters_select_service_document_and_dates(archive: Archive, tmp_path: Path) -> None:
    by_service = export(archive, "jsonl", tmp_path / "a", ExportFilter(services=("widget",)))
    assert by_service.counts == {"versions": 2, "changes": 1, "fetches": 2}
    window = ExportFilter(since=T0 + timedelta(days=10), until=T0 + timedelta(days=60))
    windowed = export(archive, "jsonl", tmp_path / "b", window)
    lines = (tmp_path / "b" / "versions.jsonl").read_text().splitlines()
    assert windowed.counts["versions"] == 2
    assert {json.loads(line)["document_id"] for line in lines} == {"gadget/privacy-notice", "widget/terms"}
    one = export(archive, "csv", tmp_path / "c", ExportFilter(documents=("gadget/privacy-notice",)))
    assert one.counts["versions"] == 3


def test_dataset_layout_metadata_and_round_trip(archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "dataset"
    export(archive, "dataset", out)
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*.md"))
    assert "Gadget/Privacy Notice/2024-03-01T09-30-00Z.md" in files
    assert "Widget/Terms of Service/2024-03-16T09-30-07Z.md" in files
    assert "README.md" in files and len(files) == 6
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["counts"] == {"documents": 2, "versions": 5}
    listed = sorted(v["sha256"] for d in metadata["documents"] for v in d["versions"])
    assert listed == _all_hashes(archive)
    fresh = Archive(tmp_path / "fresh.db")
    report = import_dataset(fresh, out)
    assert report.versions == 5
    assert _all_hashes(fresh) == _all_hashes(archive)
    assert fresh.versions("gadget/privacy-notice")[0]["first_seen_at"] == "2024-03-01T09:30:00Z"
    fresh.close()


def test_dataset_refuses_a_non_empty_directory(archive: Archive, tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="busy: directory is not empty"):
        export(archive, "dataset", tmp_path / "busy")
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["keep.txt"]


def test_git_export_has_one_dated_commit_per_version_and_round_trips(
    archive: Archive, tmp_path: Path
) -> None:
    out = tmp_path / "git"
    result = export(archive, "git", out)
    assert result.counts == {"documents": 2, "commits": 5}
    log = subprocess.run(
        ["git", "log", "--reverse", "--format=%aI|%cI|%s"],
        cwd=out,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert log == [
        "2024-03-01T09:30:00+00:00|2024-03-01T09:30:00+00:00|First record of Gadget Privacy Notice",
        "2024-03-16T09:30:07+00:00|2024-03-16T09:30:07+00:00|First record of Widget Terms of Service",
        "2024-04-10T09:30:00+00:00|2024-04-10T09:30:00+00:00|Record new changes of Gadget Privacy Notice",
        "2024-05-05T09:30:07+00:00|2024-05-05T09:30:07+00:00|Apply technical change to Widget Terms of Service",
        "2024-05-20T09:30:00+00:00|2024-05-20T09:30:00+00:00|Record new changes of Gadget Privacy Notice",
    ]
    patch = subprocess.run(
        ["git", "log", "-p", "-1"], cwd=out, capture_output=True, text=True, check=True
    ).stdout
    assert "AI training now on by default (opt-out)" in patch
    assert "+We may use your public posts to train our AI models." in patch
    assert (out / "Widget" / "Terms of Service.md").read_text(encoding="utf-8") == WIDGET_TEXTS[-1]
    fresh = Archive(tmp_path / "fresh.db")
    import_ota_versions(fresh, out)
    assert _all_hashes(fresh) == _all_hashes(archive)
    assert {d["id"] for d in fresh.documents()} == {"gadget/privacy-notice", "widget/terms-of-service"}
    fresh.close()


def test_warc_records_read_back_with_warcio(archive: Archive, tmp_path: Path) -> None:
    warcio = pytest.importorskip("warcio.archiveiterator")
    out = tmp_path / "pages.warc.gz"
    result = export(archive, "warc", out)
    assert result.counts == {"records": 5}
    responses = []
    with open(out, "rb") as handle:
        for record in warcio.ArchiveIterator(handle):
            if record.rec_type == "response":
                body = record.content_stream().read()
                responses.append(
                    (
                        record.rec_headers.get_header("WARC-Target-URI"),
                        record.rec_headers.get_header("WARC-Date"),
                        record.http_headers.get_header("Content-Type"),
                        body,
                    )
                )
    assert len(responses) == 5
    uri, date, content_type, body = responses[0]
    assert (uri, date, content_type) == (
        "http://gadget.test/privacy",
        "2024-03-01T09:30:00Z",
        "text/html; charset=utf-8",
    )
    assert body == f"<html><body><main>{GADGET_TEXTS[0]}</main></body></html>".encode()
    assert {r[0] for r in responses} == {"http://gadget.test/privacy", "http://widget.test/terms"}


def test_export_streams_without_loading_all_texts(archive: Archive, tmp_path: Path) -> None:
    # Decoding goes through the archive's bounded cache one version at a time: the cache never holds more
    # than its bound, whatever the number of versions exported.
    for index in range(80):
        _record(
            archive,
            "widget/terms",
            T0 + timedelta(days=200 + index),
            f"# Widget Terms\n\nRule number {index}.\n",
            url="http://widget.test/terms",
            training="none",
            first=False,
        )
    archive.clear_caches()  # filled by the writes above
    result = export(archive, "jsonl", tmp_path / "many")
    assert result.counts["versions"] == 85
    assert len(archive._text_cache) <= 65


def test_cli_export_and_errors(archive: Archive, tmp_path: Path) -> None:
    db = str(archive.path)
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "export",
            "--db",
            db,
            "--format",
            "jsonl",
            "--out",
            str(tmp_path / "o"),
            "--service",
            "Gadget",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["counts"] == {"versions": 3, "changes": 2, "fetches": 3}
    result = runner.invoke(cli, ["export", "--db", db, "--format", "xml", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "xml" in result.output
    result = runner.invoke(
        cli, ["export", "--db", db, "--format", "csv", "--out", str(tmp_path / "y"), "--since", "May"]
    )
    assert result.exit_code == 2 and "--since: bad date 'May'" in result.output
    missing = tmp_path / "none.db"
    result = runner.invoke(
        cli, ["export", "--db", str(missing), "--format", "csv", "--out", str(tmp_path / "z")]
    )
    assert result.exit_code == 1 and "no archive here" in result.output
    assert not missing.exists() and not (tmp_path / "z").exists()
