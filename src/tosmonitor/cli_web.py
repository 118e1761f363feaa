# SPDX-License-Identifier: Apache-2.0
"""The ``tosmonitor serve`` command: the read-only dashboard, JSON API and feeds over uvicorn."""

from __future__ import annotations

import click

from .cli import EXIT_USAGE, CommandError, _wrap_errors, cli, db_option


@cli.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--root-path",
    default="",
    metavar="/PREFIX",
    help="Path prefix when served behind a reverse proxy that strips it (e.g. /tosmonitor).",
)
@_wrap_errors
def serve(db_path: str, host: str, port: int, root_path: str) -> None:
    """Serve the read-only dashboard, JSON API (/api/) and Atom feeds (/feeds/) of the archive.

    Set TOSMONITOR_WEB_TOKEN to require an access token (open the dashboard once with ?token=..., or send
    'Authorization: Bearer ...').
    """
    try:
        import uvicorn

        from .web import create_app, token_from_env
    except ImportError as exc:
        raise CommandError(
            f"the web dashboard needs the 'web' extra: pip install 'tosmonitor[web]' ({exc})", EXIT_USAGE
        ) from exc
    if root_path and not root_path.startswith("/"):
        raise CommandError(f"--root-path {root_path!r}: must start with '/'", EXIT_USAGE)
    token = token_from_env()
    app = create_app(db_path, token=token)
    where = f"http://{host}:{port}{root_path.rstrip('/')}/"
    click.echo(f"Serving {db_path} read-only on {where}" + (" (token required)" if token else ""), err=True)
    uvicorn.run(
        app,
        host=host,
        port=port,
        root_path=root_path.rstrip("/"),
        log_level="warning",
        proxy_headers=True,
        server_header=False,
    )
