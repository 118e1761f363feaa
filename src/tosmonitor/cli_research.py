# SPDX-License-Identifier: Apache-2.0
"""The researchers' commands: ``export``, ``import …`` and ``timeline``, registered on the main click group.

Thin shells over :mod:`tosmonitor.export`, :mod:`tosmonitor.imports` and :mod:`tosmonitor.timeline`.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from . import clock
from .cli import EXIT_USAGE, CommandError, _wrap_errors, cli, db_option, echo_json, json_option


def _parse_date(value: str | None, option: str, *, end: bool = False) -> datetime | None:
    """An ISO date or date-time (UTC when no zone); a bare date as ``--until`` means the end of that day."""
    if not value:
        return None
    try:
        return clock.parse_date(value, end_of_day=end)
    except ValueError:
        raise CommandError(f"{option}: bad date {value!r} (use ISO, e.g. 2024-05-01)", EXIT_USAGE) from None


workers_option = click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=lambda: os.cpu_count() or 1,
    show_default="the number of CPUs",
    help="Processes analysing documents in parallel.",
)


def _open(db_path: str, *, readonly: bool) -> Any:
    from .archive import Archive

    return Archive(db_path, readonly=readonly)


def _resolve(archive: Any, refs: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(archive.resolve_document(ref) for ref in refs)


# -- export ----------------------------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--format",
    "fmt",
    required=True,
    type=click.Choice(["jsonl", "csv", "dataset", "git", "warc"]),
    help="jsonl/csv: one file per table; dataset: Open Terms Archive layout; git: one commit per version; "
    "warc: the raw snapshots.",
)
@click.option("--out", required=True, type=click.Path(), help="Output directory (warc: a .warc.gz file).")
@click.option("--service", "services", multiple=True, help="Only this service (repeatable).")
@click.option("--document", "documents", multiple=True, help="Only this document id (repeatable).")
@click.option("--since", help="Only what was first seen at or after this date (ISO).")
@click.option(
    "--until", help="Only what was first seen at or before this date (ISO; a date includes the day)."
)
@db_option
@json_option
@_wrap_errors
def export(
    fmt: str,
    out: str,
    services: tuple[str, ...],
    documents: tuple[str, ...],
    since: str | None,
    until: str | None,
    db_path: str,
    as_json: bool,
) -> None:
    """Export the archive for research: versions, changes and fetches, raw pages, or a git history."""
    from .export import ExportFilter
    from .export import export as run_export

    with _open(db_path, readonly=True) as archive:
        flt = ExportFilter(
            services=services,
            documents=_resolve(archive, documents),
            since=_parse_date(since, "--since"),
            until=_parse_date(until, "--until", end=True),
        )
        result = run_export(archive, fmt, Path(out), flt)
    if as_json:
        echo_json(result.to_dict())
        return
    counts = ", ".join(f"{value} {key}" for key, value in result.counts.items())
    click.echo(f"exported {counts} to {result.path} ({fmt})")


# -- import ----------------------------------------------------------------------------------------------------


@cli.group(name="import")
def import_group() -> None:
    """Import history from before the monitor started, or rules from Open Terms Archive."""


def _print_report(report: Any, as_json: bool, what: str) -> None:
    if as_json:
        echo_json(report.to_dict())
        return
    click.echo(
        f"imported {report.versions} versions ({report.changes} changes) of {report.documents} documents "
        f"from {what}; {report.skipped} skipped"
    )
    for note in report.notes:
        click.echo(f"  {note}", err=True)


@import_group.command("ota-declarations")
@click.argument("folder", type=click.Path())
@click.option("--out", type=click.Path(dir_okay=False), help="Write targets.yaml here (default: print it).")
@_wrap_errors
def import_ota_declarations(folder: str, out: str | None) -> None:
    """Convert Open Terms Archive declarations (FOLDER/*.json) into targets.yaml entries.

    Prints what could not be mapped (unknown filters, unusable selectors) on stderr.
    """
    from .imports import declarations_to_yaml

    text, report, count = declarations_to_yaml(folder)
    if out:
        target = Path(out)
        if target.exists():
            raise CommandError(f"{out}: already exists (choose another --out)", EXIT_USAGE)
        target.write_text(text, encoding="utf-8")
        click.echo(f"wrote {count} documents to {out}")
    else:
        click.echo(text, nl=False)
    if report:
        click.echo(f"{len(report)} items could not be mapped:", err=True)
        for line in report:
            click.echo(f"  {line}", err=True)


@import_group.command("ota-versions")
@click.argument("repo", type=click.Path())
@workers_option
@db_option
@json_option
@_wrap_errors
def import_ota_versions(repo: str, workers: int, db_path: str, as_json: bool) -> None:
    """Import an Open Terms Archive versions git repository (one commit per version)."""
    from .imports import import_ota_versions as run

    if not Path(repo).is_dir():
        raise CommandError(f"{repo}: no such directory", EXIT_USAGE)
    with _open(db_path, readonly=False) as archive:
        report = run(archive, repo, workers=workers)
    _print_report(report, as_json, repo)


@import_group.command("dataset")
@click.argument("folder", type=click.Path())
@click.option(
    "--alternates/--no-alternates",
    default=True,
    show_default=True,
    help="Import alt-<collection> subfolders as separate documents <type>-alt-<collection>.",
)
@workers_option
@db_option
@json_option
@_wrap_errors
def import_dataset(folder: str, alternates: bool, workers: int, db_path: str, as_json: bool) -> None:
    """Import a <service>/<document type>/<YYYY-MM-DDTHH-MM-SSZ>.md tree."""
    from .imports import _dataset_plan
    from .imports import import_dataset as run

    _dataset_plan(Path(folder), alternates=alternates)  # bad input fails before the archive is created
    with _open(db_path, readonly=False) as archive:
        report = run(archive, folder, alternates=alternates, workers=workers)
    _print_report(report, as_json, folder)


def _cdx_date(value: str, option: str) -> str:
    digits = re.sub(r"[-:T ]", "", value)
    if not re.fullmatch(r"\d{4,14}", digits):
        raise CommandError(f"{option}: bad date {value!r} (use 2019-01-01 or 20190101)", EXIT_USAGE)
    return digits


@import_group.command("wayback")
@click.argument("url")
@click.option("--from", "start", required=True, help="First capture date (2019-01-01 or 20190101).")
@click.option("--to", "end", required=True, help="Last capture date.")
@click.option("--document", "document_id", help="Document id (default: from the URL, or an archived one).")
@click.option(
    "--rules", type=click.Path(dir_okay=False), help="rules.json with select/remove for extraction."
)
@click.option("--cdx-url", envvar="TOSMONITOR_CDX_URL", help="CDX API base (default: web.archive.org).")
@click.option("--wayback-url", envvar="TOSMONITOR_WAYBACK_URL", help="Capture base URL (…/web).")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between two requests.")
@click.option("--retries", default=3, show_default=True, help="Extra attempts for transient failures.")
@db_option
@json_option
@_wrap_errors
def import_wayback(
    url: str,
    start: str,
    end: str,
    document_id: str | None,
    rules: str | None,
    cdx_url: str | None,
    wayback_url: str | None,
    interval: float,
    retries: int,
    db_path: str,
    as_json: bool,
) -> None:
    """Import the Wayback Machine's captures of URL; a rerun resumes where an interrupted one stopped."""
    from .config import load_rules_json
    from .imports import import_wayback as run

    page_rules = load_rules_json(rules)[0].rules if rules else None
    with _open(db_path, readonly=False) as archive:
        report = run(
            archive,
            url,
            start=_cdx_date(start, "--from"),
            end=_cdx_date(end, "--to"),
            document_id=document_id,
            rules=page_rules,
            cdx_url=cdx_url,
            wayback_url=wayback_url,
            interval=interval,
            retries=retries,
        )
    _print_report(report, as_json, url)


# -- timeline --------------------------------------------------------------------------------------------------


@cli.command()
@click.option("--service", "services", multiple=True, help="Only this service (repeatable).")
@click.option("--document", "documents", multiple=True, help="Only this document (repeatable).")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json", "png"]), default="table", show_default=True
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file (required for png).")
@db_option
@_wrap_errors
def timeline(
    services: tuple[str, ...], documents: tuple[str, ...], fmt: str, out: str | None, db_path: str
) -> None:
    """The AI-training stance of each document over time, with the dates and clauses of each change."""
    from .timeline import build_timelines, render_csv, render_json, render_png, render_table

    with _open(db_path, readonly=True) as archive:
        timelines = build_timelines(archive, services=services, documents=_resolve(archive, documents))
    if fmt == "png":
        if not out:
            raise CommandError("--format png needs --out FILE.png", EXIT_USAGE)
        render_png(timelines, out)
        click.echo(f"wrote {out} ({len(timelines)} documents)")
        return
    text = {"table": render_table, "csv": render_csv, "json": render_json}[fmt](timelines)
    if out:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"wrote {out} ({len(timelines)} documents)")
    else:
        click.echo(text, nl=False)
