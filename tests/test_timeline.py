# SPDX-License-Identifier: Apache-2.0
"""The stance timeline: periods, transitions with their evidence, and each output format."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

import tosmonitor.cli_research  # noqa: F401 - registers the commands on the group
from tosmonitor.archive import Archive, CheckRecord, NewChange, NewVersion
from tosmonitor.cli import cli
from tosmonitor.timeline import build_timelines, render_csv, render_json, render_table

T0 = datetime(2023, 1, 10, tzinfo=UTC)


def _add(archive: Archive, doc_id: str, day: int, training: str, evidence: list[str], **flags: bool) -> None:
    first = archive.latest_version(doc_id) is None
    stance = {"training": training, "evidence": evidence}
    archive.record_check(
        CheckRecord(
            document_id=doc_id,
            checked_at=T0 + timedelta(days=day),
            outcome="changed",
            versions=[
                NewVersion(
                    text=f"{doc_id} on day {day}",
                    extractor_version="t",
                    training=training,
                    stance=stance,
                    technical=flags.get("technical", False),
                )
            ],
            changes=[] if first else [NewChange(headline=f"day {day}", stance_after=stance)],
        )
    )


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    archive = Archive(tmp_path / "t.db")
    archive.ensure_document("pier/privacy", "Pier", "Privacy Policy")
    archive.ensure_document("quay/terms", "Quay", "Terms")
    _add(archive, "pier/privacy", 0, "none", [])
    _add(archive, "pier/privacy", 30, "none", [])
    _add(archive, "pier/privacy", 100, "opt-in", ["With your consent we may train models on your photos."])
    _add(archive, "pier/privacy", 200, "opt-in", [], technical=True)
    _add(archive, "pier/privacy", 400, "opt-out", ["We train models on your photos unless you object."])
    _add(archive, "quay/terms", 50, "never", ["We never train on your files."])
    yield archive
    archive.close()


def test_periods_and_transitions_with_evidence(archive: Archive) -> None:
    pier, quay = build_timelines(archive)
    assert [(p.stance, p.start[:10], (p.end or "")[:10], p.versions) for p in pier.periods] == [
        ("none", "2023-01-10", "2023-04-20", 2),
        ("opt-in", "2023-04-20", "2024-02-14", 2),
        ("opt-out", "2024-02-14", "", 1),
    ]
    assert [(t.before, t.after, t.date[:10]) for t in pier.transitions] == [
        ("none", "opt-in", "2023-04-20"),
        ("opt-in", "opt-out", "2024-02-14"),
    ]
    assert pier.transitions[1].evidence == "We train models on your photos unless you object."
    assert pier.transitions[1].headline == "day 400"
    assert pier.current == "opt-out"
    assert quay.current == "never" and quay.transitions == ()


def test_filters(archive: Archive) -> None:
    assert [t.document_id for t in build_timelines(archive, services=["QUAY"])] == ["quay/terms"]
    assert [t.document_id for t in build_timelines(archive, documents=["pier/privacy"])] == ["pier/privacy"]


def test_renderers(archive: Archive) -> None:
    timelines = build_timelines(archive)
    table = render_table(timelines)
    assert "changed 2024-02-14: opt-in → opt-out" in table
    assert "“We train models on your photos unless you object.”" in table
    rows = list(csv.DictReader(io.StringIO(render_csv(timelines))))
    assert [(r["document_id"], r["stance"], r["changed_from"]) for r in rows] == [
        ("pier/privacy", "none", ""),
        ("pier/privacy", "opt-in", "none"),
        ("pier/privacy", "opt-out", "opt-in"),
        ("quay/terms", "never", ""),
    ]
    data = json.loads(render_json(timelines))
    assert data[0]["current"] == "opt-out" and len(data[0]["transitions"]) == 2


def test_cli_table_and_png(archive: Archive, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["timeline", "--db", str(archive.path), "--service", "Pier"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Pier / Privacy Policy  (pier/privacy)")
    result = runner.invoke(cli, ["timeline", "--db", str(archive.path), "--format", "png"])
    assert result.exit_code == 2 and "--format png needs --out" in result.output
    pytest.importorskip("matplotlib")
    out = tmp_path / "stances.png"
    result = runner.invoke(cli, ["timeline", "--db", str(archive.path), "--format", "png", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
