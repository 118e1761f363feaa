# SPDX-License-Identifier: Apache-2.0
"""The ``tosmonitor`` command: a thin shell over the library.

Commands parse options, call library functions and format the result; every command that reports data
takes ``--json``. Errors from the library (``TosMonitorError``) become messages and exit codes here, in one
place (:func:`main`):

====  ==========================================================================
0     success (``check``: every document was checked)
1     runtime failure (``check``: some documents failed; a file or document not found)
2     usage error or invalid configuration / input
75    ``check``: another run holds the archive's lock (try again later, or pass ``--wait``)
====  ==========================================================================
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import ArchiveLocked, ConfigError, InputError, TosMonitorError

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 75


class CommandError(click.ClickException):
    """A failure reported as ``Error: ...`` with a chosen exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _wrap_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ArchiveLocked as exc:
            raise CommandError(str(exc), EXIT_LOCKED) from exc
        except (ConfigError, InputError) as exc:
            raise CommandError(str(exc), EXIT_USAGE) from exc
        except TosMonitorError as exc:
            raise CommandError(str(exc), EXIT_FAILED) from exc

    return wrapper


def default_db() -> str:
    return os.environ.get("TOSMONITOR_DB", "tosmonitor.db")


def db_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        "db_path",
        default=default_db,
        show_default="./tosmonitor.db or $TOSMONITOR_DB",
        type=click.Path(dir_okay=False),
        help="The SQLite archive.",
    )(func)


def config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--config",
        "config_path",
        default=lambda: os.environ.get("TOSMONITOR_CONFIG", "targets.yaml"),
        show_default="./targets.yaml",
        type=click.Path(dir_okay=False),
        help="The targets file.",
    )(func)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(func)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def load_config_or_exit(path: str, *, channels: bool = False) -> Any:
    """The validated configuration; with ``channels``, also every channel built once (secrets present, URLs
    valid), so a bad channel stops ``check`` and ``daemon`` at start-up rather than at the first alert."""
    from .config import check_channel_environment, load_config

    if not Path(path).exists():
        raise CommandError(f"{path}: no such configuration file (pass --config)", EXIT_USAGE)
    config = load_config(path)
    if channels:
        from .notify.channels import build_channel

        check_channel_environment(config)
        for spec in config.channels:
            channel = build_channel(spec)
            close = getattr(channel, "close", None)
            if callable(close):
                close()
    return config


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="tosmonitor")
def cli() -> None:
    """Watch terms of service and privacy policies, archive every version, and explain what changed
    about training AI on users' data."""


# -- check ---------------------------------------------------------------------------------------------------


@cli.command()
@config_option
@db_option
@click.option("--only", multiple=True, metavar="SERVICE[/DOC]", help="Check only these (repeatable).")
@click.option("--wait", is_flag=True, help="Wait for another run's lock instead of exiting at once.")
@click.option("--browser/--no-browser", default=None, help="Enable the headless-browser fetcher.")
@click.option(
    "--deliver/--no-deliver", default=True, show_default=True, help="Send queued alerts after the pass."
)
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Processes for extraction and analysis (default: 1 from 16 documents on, else 0).",
)
@json_option
@_wrap_errors
def check(
    config_path: str,
    db_path: str,
    only: Sequence[str],
    wait: bool,
    browser: bool | None,
    deliver: bool,
    progress: bool | None,
    workers: int | None,
    as_json: bool,
) -> None:
    """Check the documents once and record what changed (for cron).

    Exit 0 when every document was checked, 1 when some failed, 2 on a bad configuration, 75 when another
    run holds the archive's lock.
    """
    from .archive import Archive
    from .commands import run_check_command

    config = load_config_or_exit(config_path, channels=True)
    from .monitor import select_documents

    try:
        documents = select_documents(config, only)
    except KeyError as exc:
        raise CommandError(
            f"--only {exc.args[0]!r} matches no document in {config_path}", EXIT_USAGE
        ) from exc
    archive = Archive(db_path)
    try:
        archive.acquire_lock(wait=wait)
        show_progress = sys.stderr.isatty() if progress is None else progress
        summaries, report = run_check_command(
            config,
            archive,
            documents,
            progress=show_progress,
            browser=browser,
            deliver=deliver,
            workers=workers,
        )
    finally:
        archive.close()
    if as_json:
        echo_json({"results": [s.to_dict() for s in summaries], "deliveries": report})
    else:
        from .commands import format_summary_table

        click.echo(format_summary_table(summaries))
    if any(s.failed for s in summaries):
        sys.exit(EXIT_FAILED)


# -- reading the archive ------------------------------------------------------------------------------------


def _open_archive(db_path: str) -> Any:
    from .archive import Archive

    return Archive(db_path, readonly=True)


@cli.command()
@click.argument("document", required=False)
@db_option
@click.option("--list", "list_documents", is_flag=True, help="List the archive's documents.")
@json_option
@_wrap_errors
def history(document: str | None, db_path: str, list_documents: bool, as_json: bool) -> None:
    """The versions and changes of DOCUMENT, with its AI-training stance over time."""
    from .views import document_history, documents_listing, format_documents, format_history

    archive = _open_archive(db_path)
    try:
        if list_documents or not document:
            rows = documents_listing(archive)
            echo_json(rows) if as_json else click.echo(format_documents(rows))
            return
        data = document_history(archive, archive.resolve_document(document))
    finally:
        archive.close()
    echo_json(data) if as_json else click.echo(format_history(data))


@cli.command()
@click.argument("document")
@db_option
@click.option("--at", "at", metavar="DATE", help="The version in force at this date (ISO, e.g. 2025-01-31).")
@click.option("--version", "version_id", type=int, help="A version id.")
@json_option
@_wrap_errors
def show(document: str, db_path: str, at: str | None, version_id: int | None, as_json: bool) -> None:
    """Print the text of a version of DOCUMENT (the latest by default)."""
    from .views import parse_date

    archive = _open_archive(db_path)
    try:
        doc_id = archive.resolve_document(document)
        if version_id is not None:
            version = archive.version(version_id)
            if version.document_id != doc_id:
                raise CommandError(f"version {version_id} is not a version of {doc_id}")
        elif at:
            version = archive.version_at(doc_id, parse_date(at))
            if version is None:
                raise CommandError(f"{doc_id} has no version at or before {at}")
        else:
            version = archive.latest_version(doc_id)
            if version is None:
                raise CommandError(f"{doc_id} has no version yet")
    finally:
        archive.close()
    if as_json:
        echo_json(
            {
                "document_id": doc_id,
                "version_id": version.id,
                "sha256": version.sha256,
                "first_seen_at": version.first_seen_at,
                "training": version.training,
                "text": version.text,
            }
        )
    else:
        click.echo(version.text, nl=not version.text.endswith("\n"))


@cli.command()
@click.argument("document")
@click.argument("old", required=False, type=int)
@click.argument("new", required=False, type=int)
@db_option
@click.option("--unified", is_flag=True, help="A unified line diff instead of the sentence/word diff.")
@click.option("--color/--no-color", default=None, help="Colour the word highlights (default: on a terminal).")
@json_option
@_wrap_errors
def diff(
    document: str,
    old: int | None,
    new: int | None,
    db_path: str,
    unified: bool,
    color: bool | None,
    as_json: bool,
) -> None:
    """Diff two versions of DOCUMENT (by default the latest change), with its AI findings."""
    from .views import version_diff

    archive = _open_archive(db_path)
    try:
        doc_id = archive.resolve_document(document)
        data = version_diff(archive, doc_id, old, new)
    finally:
        archive.close()
    if as_json:
        echo_json({k: v for k, v in data.items() if not k.startswith("_")})
        return
    from . import diff as diffing

    if unified:
        click.echo(data["_unified"], nl=False)
        return
    use_color = sys.stdout.isatty() if color is None else color
    click.echo(f"{doc_id}: version {data['from_version']} → {data['to_version']}")
    if data.get("headline"):
        click.echo(f"[{data.get('severity')}] {data['headline']}")
    for finding in data.get("findings") or []:
        click.echo(f"  - {finding['rule']} ({finding['severity']}): {finding['summary']}")
    click.echo("")
    click.echo(diffing.render_inline(data["_diff"], color=use_color))


# -- local files ----------------------------------------------------------------------------------------------


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--select", multiple=True, metavar="CSS", help="CSS selector of the content to keep (repeatable)."
)
@click.option("--remove", multiple=True, metavar="CSS", help="CSS selector of content to drop (repeatable).")
@click.option("--filter", "filters", multiple=True, metavar="NAME", help="A named filter (repeatable).")
@click.option(
    "--rules", type=click.Path(exists=True, dir_okay=False), help="rules.json (Open Terms Archive shape)."
)
@click.option("--base-url", help="Resolve relative links against this URL.")
@_wrap_errors
def extract(
    files: Sequence[str],
    select: Sequence[str],
    remove: Sequence[str],
    filters: Sequence[str],
    rules: str | None,
    base_url: str | None,
) -> None:
    """Print the normalised text of local page(s) (HTML, PDF or text), joined in order."""
    from .localfiles import extract_files

    click.echo(
        extract_files(files, select=select, remove=remove, filters=filters, rules=rules, base_url=base_url),
        nl=False,
    )


@cli.command()
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@click.option("--service", help="The service's name (helps recognise first-party clauses).")
@click.option("--select", multiple=True, metavar="CSS", help="CSS selector for HTML inputs (repeatable).")
@click.option(
    "--remove", multiple=True, metavar="CSS", help="CSS selector to drop for HTML inputs (repeatable)."
)
@json_option
@_wrap_errors
def compare(
    old: str, new: str, service: str | None, select: Sequence[str], remove: Sequence[str], as_json: bool
) -> None:
    """Analyse two local versions (HTML or text) of a policy: AI-training stance before → after, findings.

    Exits 0 whether or not there are findings, 2 on unreadable input.
    """
    from . import analysis
    from .localfiles import read_text_file

    old_text = read_text_file(old, select=select, remove=remove)
    new_text = read_text_file(new, select=select, remove=remove)
    result = analysis.compare(old_text, new_text, service=service)
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(analysis.render_report(result, title=f"{old} → {new}"))


# -- daemon, status, alerts ------------------------------------------------------------------------------------


@cli.command()
@config_option
@db_option
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One log line per check, as text or JSON (on stderr).",
)
@click.option("--metrics-port", type=int, help="Serve /healthz and /metrics on this port (0: any free port).")
@click.option(
    "--metrics-host", default="127.0.0.1", show_default=True, help="Address for /healthz and /metrics."
)
@click.option(
    "--stop-deadline", default=30.0, show_default=True, help="Seconds in-flight checks get on SIGTERM."
)
@click.option(
    "--check-deadline", default=300.0, show_default=True, help="Hard limit for one document's check."
)
@click.option(
    "--startup-spread",
    default=600.0,
    show_default=True,
    help="Overdue documents' first checks are spread over this many seconds (at most their interval).",
)
@click.option(
    "--workers", default=1, show_default=True, help="Processes for extraction and analysis (0: inline)."
)
@click.option("--browser/--no-browser", default=None, help="Enable the headless-browser fetcher.")
@_wrap_errors
def daemon(
    config_path: str,
    db_path: str,
    log_format: str,
    metrics_port: int | None,
    metrics_host: str,
    stop_deadline: float,
    check_deadline: float,
    startup_spread: float,
    workers: int,
    browser: bool | None,
) -> None:
    """Run every document on its schedule until SIGTERM (SIGHUP reloads the configuration)."""
    from .commands import make_browser
    from .scheduler import CheckLog, Daemon

    config = load_config_or_exit(config_path, channels=True)
    service = Daemon(
        config_path,
        db_path,
        log=CheckLog(sys.stderr, log_format),
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        stop_deadline=stop_deadline,
        check_deadline=check_deadline,
        browser=make_browser(config.documents, browser),
        startup_spread=startup_spread,
        workers=workers,
    )
    sys.exit(asyncio.run(service.run()))


@cli.command()
@config_option
@db_option
@json_option
@_wrap_errors
def status(config_path: str, db_path: str, as_json: bool) -> None:
    """Each document's health: last success, last error, consecutive failures, next due."""
    from .views import documents_status, format_status

    config = load_config_or_exit(config_path)
    archive = _open_archive(db_path)
    try:
        rows = documents_status(config, archive)
    finally:
        archive.close()
    echo_json(rows) if as_json else click.echo(format_status(rows))


@cli.group(invoke_without_command=True)
@config_option
@db_option
@click.option(
    "--status", "status_filter", type=click.Choice(["pending", "sent", "failed"]), help="Only these."
)
@json_option
@click.pass_context
@_wrap_errors
def alerts(
    ctx: click.Context, config_path: str, db_path: str, status_filter: str | None, as_json: bool
) -> None:
    """List alert deliveries and their status (subcommands: retry, test)."""
    ctx.ensure_object(dict)
    ctx.obj.update(config_path=config_path, db_path=db_path)
    if ctx.invoked_subcommand is not None:
        return
    from .notify.outbox import list_deliveries

    archive = _open_archive(db_path)
    try:
        rows = list_deliveries(archive.db, status=status_filter)
    finally:
        archive.close()
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("No deliveries.")
    for row in rows:
        error = f"  {row['last_error']}" if row.get("last_error") else ""
        click.echo(
            f"#{row['id']:<5} {row['status']:<8} {row['channel']:<12} {row['severity']:<8} "
            f"{row['event_id']:<30} attempts={row['attempts']}{error}"
        )


@alerts.command("retry")
@click.argument("delivery_id", required=False, type=int)
@click.pass_context
@_wrap_errors
def alerts_retry(ctx: click.Context, delivery_id: int | None) -> None:
    """Re-queue failed deliveries (all, or the one with DELIVERY_ID)."""
    from .archive import Archive
    from .notify.outbox import retry_failed

    archive = Archive(ctx.obj["db_path"])
    try:
        count = retry_failed(archive.db, delivery_id)
    finally:
        archive.close()
    click.echo(f"{count} deliver{'y' if count == 1 else 'ies'} re-queued.")


@alerts.command("test")
@click.argument("channel")
@click.pass_context
@_wrap_errors
def alerts_test(ctx: click.Context, channel: str) -> None:
    """Send a test message through CHANNEL (its name in targets.yaml) and report the real result."""
    from .notify.channels import build_channel
    from .notify.outbox import send_test

    config = load_config_or_exit(ctx.obj["config_path"])
    specs = {spec.name: spec for spec in config.channels}
    if channel not in specs:
        known = ", ".join(sorted(specs)) or "none configured"
        raise CommandError(f"no channel named {channel!r} (channels: {known})", EXIT_USAGE)
    send_test(build_channel(specs[channel]))
    click.echo(f"Test message sent through {channel}.")


# -- demo -----------------------------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--db",
    "db_path",
    default=lambda: os.environ.get("TOSMONITOR_DB", "tosmonitor-demo.db"),
    show_default="./tosmonitor-demo.db or $TOSMONITOR_DB",
    type=click.Path(dir_okay=False),
    help="The archive the demo writes (emptied first unless --keep).",
)
@click.option(
    "--fixtures", type=click.Path(file_okay=False), help="The recorded story (default: fixtures/demo)."
)
@click.option("--fresh/--keep", default=True, show_default=True, help="Start from an empty archive.")
@_wrap_errors
def demo(db_path: str, fixtures: str | None, fresh: bool) -> None:
    """Replay a recorded history of policy pages offline, end to end, and show what changed."""
    from .demo import run_demo

    run_demo(db_path, fixtures_dir=fixtures, fresh=fresh, echo=click.echo)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``tosmonitor`` console script."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="tosmonitor", standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        sys.exit(130)


# The researchers' and the web commands live in their own modules and register themselves on ``cli``.
from . import cli_research, cli_web  # noqa: E402, F401

if __name__ == "__main__":  # pragma: no cover
    main()
