# SPDX-License-Identifier: Apache-2.0
"""The ASGI application: dashboard pages, the JSON API, Atom feeds and raw snapshots, read-only.

:func:`create_app` builds a Starlette app over one archive file. A guard in front of it (:class:`Guard`)
answers 405 to anything but GET/HEAD, checks the optional access token (constant-time), answers conditional
GETs from the archive's state (ETag / 304) and adds the security headers (strict Content-Security-Policy with
no script at all, ``nosniff``, no framing, no referrer).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import __version__
from ..errors import ArchiveError, InputError
from ..models import SEVERITIES
from . import data, render
from .openapi import openapi_spec

TOKEN_ENV = "TOSMONITOR_WEB_TOKEN"
COOKIE = "tosmonitor_token"
HERE = Path(__file__).parent
PAGE_CSP = (
    "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
RAW_CSP = "default-src 'none'; sandbox"
FEED_LIMIT = 50

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# ---------------------------------------------------------------------------------------------------------
# Helpers shared by the views


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda value: (value or "")[:16].replace("T", " ") or "—"
    env.filters["stance"] = lambda value: value if value in data.STANCES else "unknown"
    env.filters["severity"] = lambda value: value if value in SEVERITIES else "info"
    env.filters["doc"] = lambda doc_id: "/documents/" + quote(doc_id, safe="/")
    env.filters["web_url"] = lambda url: (
        url if isinstance(url, str) and url.startswith(("https://", "http://")) else None
    )
    env.filters["kb"] = lambda size: f"{(size or 0) / 1024:.1f} KB"
    return env


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _query(request: Request, **changes: Any) -> str:
    """The request's query string with some parameters replaced (None removes them)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    return urlencode(params)


def _absolute(request: Request, path: str, query: str = "") -> str:
    base = str(request.base_url).rstrip("/")
    return f"{base}{path}" + (f"?{query}" if query else "")


class Web:
    """The views, bound to one archive and one template environment."""

    def __init__(self, source: data.ArchiveSource) -> None:
        self.source = source
        self.env = _environment()

    def page(self, request: Request, template: str, http_status: int = 200, **context: Any) -> Response:
        html = self.env.get_template(template).render(
            root=_root(request), request=request, app_version=__version__, **context
        )
        return Response(html, status_code=http_status, media_type="text/html; charset=utf-8")

    # -- pages -------------------------------------------------------------------------------------------

    def overview(self, request: Request) -> Response:
        archive = self.source.get()
        params = request.query_params
        ai_only = data.parse_flag("ai", params.get("ai"))
        severity = data.parse_severity(params.get("severity"))
        service = params.get("service") or None
        rows = data.overview(archive, ai_only=ai_only, severity=severity, service=service)
        recent = data.changes_page(archive, ai_only=True, limit=8, newest_first=True)
        return self.page(
            request,
            "overview.html",
            rows=rows,
            recent=recent,
            services=data.services(archive),
            ai_only=ai_only,
            severity=severity,
            service=service,
            severities=SEVERITIES,
        )

    def document(self, request: Request) -> Response:
        archive = self.source.get()
        doc_id = request.path_params["doc_id"]
        doc = data.document(archive, doc_id)
        if doc is None:
            raise HTTPException(404, f"no document {doc_id!r} in the archive")
        versions = data.document_versions(archive, doc_id)
        steps = data.stance_steps(versions)
        current = versions[-1] if versions else None
        return self.page(
            request,
            "document.html",
            doc=doc,
            versions=list(reversed(versions)),
            steps=steps,
            chart=render.stance_chart(steps),
            current=current,
            fetches=data.document_fetches(archive, doc_id),
            slug=doc_id.split("/", 1)[0],
        )

    def version(self, request: Request) -> Response:
        archive = self.source.get()
        version_id = request.path_params["version_id"]
        version = archive.version(version_id)
        doc = data.document(archive, version.document_id)
        snapshots = archive.db.execute("SELECT snapshots FROM versions WHERE id = ?", [version_id]).fetchone()
        return self.page(
            request,
            "version.html",
            version=version,
            doc=doc,
            snapshots=data.json.loads(snapshots[0] or "[]") if snapshots else [],
        )

    def change(self, request: Request) -> Response:
        archive = self.source.get()
        change = data.change(archive, request.path_params["change_id"])
        if change is None:
            raise HTTPException(404, f"no change {request.path_params['change_id']} in the archive")
        mode = request.query_params.get("view", "side")
        if mode not in ("side", "inline"):
            raise InputError(f"view={mode!r}: expected side or inline")
        findings = change["findings"] or []
        view = render.diff_view(
            archive.text(change["from_version_id"]),
            archive.text(change["to_version_id"]),
            old_quotes=[f.get("old") for f in findings],
            new_quotes=[f.get("new") for f in findings],
        )
        return self.page(
            request,
            "change.html",
            change=change,
            findings=findings,
            view=view,
            mode=mode,
            slug=change["document_id"].split("/", 1)[0],
        )

    def search(self, request: Request) -> Response:
        archive = self.source.get()
        text = request.query_params.get("q", "").strip()
        limit = 20
        offset = data.parse_int("offset", request.query_params.get("offset"), 0)
        results = data.search(archive, text, limit=limit + 1, offset=offset) if text else []
        more = len(results) > limit
        for row in results:
            row["html"] = render.snippet_html(row["snippet"], data.MARK_START, data.MARK_END)
        return self.page(
            request,
            "search.html",
            q=text,
            results=results[:limit],
            offset=offset,
            next_query=_query(request, offset=offset + limit) if more else None,
            previous_query=_query(request, offset=max(offset - limit, 0)) if offset else None,
        )

    def health(self, request: Request) -> Response:
        archive = self.source.get()
        status = request.query_params.get("status") or None
        if status not in (None, "pending", "sent", "failed"):
            raise InputError(f"status={status!r}: expected pending, sent or failed")
        limit = 100
        offset = data.parse_int("offset", request.query_params.get("offset"), 0)
        rows = data.deliveries(archive, status=status, limit=limit + 1, offset=offset)
        return self.page(
            request,
            "health.html",
            failing=data.failing_documents(archive),
            counts=data.delivery_counts(archive),
            deliveries=rows[:limit],
            status=status,
            next_query=_query(request, offset=offset + limit) if len(rows) > limit else None,
        )

    def snapshot(self, request: Request) -> Response:
        sha = request.path_params["sha"]
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise HTTPException(404, "not a snapshot id")
        text, content_type = data.snapshot_text(self.source.get(), sha)
        headers = {
            "Content-Disposition": f'inline; filename="{sha[:16]}.txt"',
            "Content-Security-Policy": RAW_CSP,
            "X-Original-Content-Type": (content_type or "unknown").encode("ascii", "replace").decode()[:100],
        }
        return PlainTextResponse(text, headers=headers, media_type="text/plain; charset=utf-8")

    # -- feeds -------------------------------------------------------------------------------------------

    def feed(self, request: Request) -> Response:
        archive = self.source.get()
        name = request.path_params["name"]
        if name == "all":
            rows, title = data.changes_page(archive, limit=FEED_LIMIT, newest_first=True), "All changes"
        elif name == "ai":
            rows = data.changes_page(archive, ai_only=True, limit=FEED_LIMIT, newest_first=True)
            title = "AI-training changes"
        else:
            known = {s["slug"]: s["service"] for s in data.services(archive)}
            if name not in known:
                raise HTTPException(404, f"no service {name!r} in the archive")
            rows = data.changes_page(archive, service_slug=name, limit=FEED_LIMIT, newest_first=True)
            title = f"{known[name]}: changes"
        entries = [
            {
                "id": _absolute(request, f"/changes/{row['id']}"),
                "url": _absolute(request, f"/changes/{row['id']}"),
                "title": f"{row['service']} {row['name']}: {row['headline'] or 'changed'}",
                "updated": row["detected_at"],
                "category": [row["severity"]] + (["ai-training"] if row["ai_training_change"] else []),
                "summary": _feed_summary(row),
            }
            for row in rows
        ]
        body = render.atom_feed(
            title=f"tosmonitor: {title}",
            feed_url=_absolute(request, f"/feeds/{name}.atom"),
            site_url=_absolute(request, "/"),
            entries=entries,
            updated=rows[0]["detected_at"] if rows else None,
        )
        return Response(body, media_type="application/atom+xml; charset=utf-8")

    # -- API ---------------------------------------------------------------------------------------------

    def api_documents(self, request: Request) -> Response:
        limit = data.parse_int("limit", request.query_params.get("limit"), 100, low=1, high=1000)
        offset = data.parse_int("offset", request.query_params.get("offset"), 0)
        rows = data.documents_page(self.source.get(), limit=limit, offset=offset)
        items = [_document_json(request, row) for row in rows]
        return _listing(request, items, limit, _query(request, offset=offset + limit))

    def api_document(self, request: Request) -> Response:
        archive = self.source.get()
        doc_id = request.path_params["doc_id"]
        found = data.documents_page(archive, limit=1, offset=0, only=doc_id)
        if not found:
            raise HTTPException(404, f"no document {doc_id!r} in the archive")
        return JSONResponse(_document_json(request, found[0]))

    def api_versions(self, request: Request) -> Response:
        archive = self.source.get()
        doc_id = request.path_params["doc_id"]
        if data.document(archive, doc_id) is None:
            raise HTTPException(404, f"no document {doc_id!r} in the archive")
        limit = data.parse_int("limit", request.query_params.get("limit"), 100, low=1, high=1000)
        offset = data.parse_int("offset", request.query_params.get("offset"), 0)
        versions = data.document_versions(archive, doc_id)[offset : offset + limit]
        items = [
            {
                "id": v["id"],
                "document_id": doc_id,
                "sha256": v["sha256"],
                "first_seen_at": v["first_seen_at"],
                "size": v["size"],
                "training": v["training"],
                "technical": bool(v["technical"]),
                "imported": bool(v["imported"]),
                "previous_version_id": v["previous_version_id"],
                "change_id": v["change_id"],
                "snapshots": [
                    _absolute(request, f"/snapshots/{sha}") for sha in data.json.loads(v["snapshots"] or "[]")
                ],
                "links": {"html": _absolute(request, f"/versions/{v['id']}")},
            }
            for v in versions
        ]
        return _listing(request, items, limit, _query(request, offset=offset + limit))

    def api_changes(self, request: Request) -> Response:
        params = request.query_params
        limit = data.parse_int("limit", params.get("limit"), 100, low=1, high=1000)
        cursor = data.parse_int("cursor", params.get("cursor"), 0)
        rows = data.changes_page(
            self.source.get(),
            since=data.parse_since(params.get("since")),
            ai_only=data.parse_flag("ai", params.get("ai")),
            severity=data.parse_severity(params.get("severity")),
            document_id=params.get("document") or None,
            service_slug=params.get("service") or None,
            after=cursor or None,
            limit=limit,
        )
        items = [_change_json(request, row) for row in rows]
        next_query = _query(request, cursor=rows[-1]["id"], offset=None) if rows else ""
        return _listing(request, items, limit, next_query)

    def api_change(self, request: Request) -> Response:
        row = data.change(self.source.get(), request.path_params["change_id"])
        if row is None:
            raise HTTPException(404, f"no change {request.path_params['change_id']} in the archive")
        item = _change_json(request, row)
        item.update(stance_before=row["stance_before"], stance_after=row["stance_after"], diff=row["diff"])
        return JSONResponse(item)

    def api_versions_text(self, request: Request) -> Response:
        version = self.source.get().version(request.path_params["version_id"])
        return JSONResponse(
            {
                "id": version.id,
                "document_id": version.document_id,
                "sha256": version.sha256,
                "first_seen_at": version.first_seen_at,
                "training": version.training,
                "technical": version.technical,
                "previous_version_id": version.previous_version_id,
                "text": version.text,
            }
        )

    def api_search(self, request: Request) -> Response:
        text = request.query_params.get("q", "").strip()
        if not text:
            raise InputError("q: the search needs some words")
        limit = data.parse_int("limit", request.query_params.get("limit"), 20, low=1, high=200)
        offset = data.parse_int("offset", request.query_params.get("offset"), 0)
        rows = data.search(self.source.get(), text, limit=limit, offset=offset)
        items = [
            {
                "version_id": row["version_id"],
                "document_id": row["document_id"],
                "service": row["service"],
                "document": row["name"],
                "first_seen_at": row["first_seen_at"],
                "training": row["training"],
                "current": bool(row["current"]),
                "snippet": row["snippet"].replace(data.MARK_START, "[").replace(data.MARK_END, "]"),
                "links": {"html": _absolute(request, f"/versions/{row['version_id']}")},
            }
            for row in rows
        ]
        return _listing(request, items, limit, _query(request, offset=offset + limit))

    def api_deliveries(self, request: Request) -> Response:
        status = request.query_params.get("status") or None
        if status not in (None, "pending", "sent", "failed"):
            raise InputError(f"status={status!r}: expected pending, sent or failed")
        limit = data.parse_int("limit", request.query_params.get("limit"), 100, low=1, high=1000)
        offset = data.parse_int("offset", request.query_params.get("offset"), 0)
        rows = data.deliveries(self.source.get(), status=status, limit=limit, offset=offset)
        return _listing(request, rows, limit, _query(request, offset=offset + limit))

    def api_openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_spec(__version__, _root(request)))


def _feed_summary(row: dict[str, Any]) -> str:
    lines = [f"Severity: {row['severity']}."]
    if row["ai_training_change"]:
        lines.append(
            f"AI training: {row['training_before'] or 'unknown'} → {row['training_after'] or 'unknown'}."
        )
    for finding in row["findings"] or []:
        lines.append(f"- {finding.get('summary', '')}")
    return "\n".join(lines)


def _document_json(request: Request, row: dict[str, Any]) -> dict[str, Any]:
    path = quote(row["id"], safe="/")
    return {
        "id": row["id"],
        "service": row["service"],
        "name": row["name"],
        "url": row["url"],
        "health": row["health"],
        "consecutive_failures": row["consecutive_failures"],
        "last_error": row["last_error"],
        "first_seen_at": row["first_seen_at"],
        "last_checked_at": row["last_checked_at"],
        "last_success_at": row["last_success_at"],
        "latest_version_id": row["latest_version_id"],
        "training": row["training"],
        "latest_change_id": row["latest_change_id"],
        "links": {
            "html": _absolute(request, f"/documents/{path}"),
            "versions": _absolute(request, f"/api/documents/{path}/versions"),
        },
    }


def _change_json(request: Request, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "document_id": row["document_id"],
        "service": row["service"],
        "document": row["name"],
        "from_version": row["from_version_id"],
        "to_version": row["to_version_id"],
        "detected_at": row["detected_at"],
        "severity": row["severity"],
        "ai_training_change": row["ai_training_change"],
        "technical": row["technical"],
        "cosmetic": row["cosmetic"],
        "training_before": row["training_before"],
        "training_after": row["training_after"],
        "headline": row["headline"],
        "findings": row["findings"],
        "stats": row["stats"],
        "links": {
            "html": _absolute(request, f"/changes/{row['id']}"),
            "api": _absolute(request, f"/api/changes/{row['id']}"),
            "from_version": _absolute(request, f"/api/versions/{row['from_version_id']}"),
            "to_version": _absolute(request, f"/api/versions/{row['to_version_id']}"),
        },
    }


def _listing(request: Request, items: list[Any], limit: int, next_query: str) -> Response:
    next_url = (
        _absolute(request, request.url.path.removeprefix(_root(request)), next_query)
        if len(items) >= limit
        else None
    )
    return JSONResponse({"items": items, "count": len(items), "limit": limit, "next": next_url})


# ---------------------------------------------------------------------------------------------------------
# Errors


def _wants_json(request: Request) -> bool:
    path = request.url.path.removeprefix(_root(request))
    return path.startswith("/api/")


def _error(web: Web, request: Request, status: int, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": {"status": status, "message": message}}, status_code=status)
    return web.page(request, "error.html", http_status=status, status_code=status, message=message)


# ---------------------------------------------------------------------------------------------------------
# The guard: methods, token, conditional GET, security headers


def cookie_value(token: str) -> str:
    """What the session cookie holds: a MAC of the token (never the token itself)."""
    return hmac.new(token.encode(), b"tosmonitor-web-session", hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


class Guard:
    """ASGI middleware in front of the app. See the module docstring."""

    def __init__(self, app: ASGIApp, source: data.ArchiveSource, token: str | None) -> None:
        self.app = app
        self.source = source
        self.token = token or None
        self.cookie = cookie_value(token) if token else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if scope["method"] not in ("GET", "HEAD"):
            response: Response = PlainTextResponse(
                "Method Not Allowed: this server is read-only\n", 405, headers={"Allow": "GET, HEAD"}
            )
            await _send_with_headers(response, scope, receive, send, PAGE_CSP)
            return
        if self.token:
            denied = self._check_token(request)
            if denied is not None:
                await _send_with_headers(denied, scope, receive, send, PAGE_CSP)
                return
        path = request.url.path.removeprefix(_root(request))
        etag = None
        if not path.startswith("/static/"):
            key = f"{__version__}|{self.source.state()}|{path}|{request.url.query}"
            etag = 'W/"' + hashlib.sha256(key.encode()).hexdigest()[:24] + '"'
            if etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
                response = Response(status_code=304, headers={"ETag": etag, "Cache-Control": "no-cache"})
                await _send_with_headers(response, scope, receive, send, PAGE_CSP)
                return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                for name, value in _security_headers(PAGE_CSP).items():
                    if name.lower().encode() not in names:
                        headers.append((name.lower().encode(), value.encode()))
                if etag and message["status"] == 200:
                    headers.append((b"etag", etag.encode()))
                    headers.append((b"cache-control", b"private, no-cache" if self.token else b"no-cache"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapper)

    def _check_token(self, request: Request) -> Response | None:
        assert self.token is not None
        authorization = request.headers.get("authorization", "")
        if authorization.lower().startswith("bearer ") and _same(authorization[7:].strip(), self.token):
            return None
        cookie = request.cookies.get(COOKIE)
        if cookie and _same(cookie, self.cookie):
            return None
        given = request.query_params.get("token")
        if given is not None and _same(given, self.token):
            query = urlencode(
                [(k, v) for k, v in parse_qsl(request.url.query, keep_blank_values=True) if k != "token"]
            )
            target = (
                _root(request)
                + request.url.path.removeprefix(_root(request))
                + (f"?{query}" if query else "")
            )
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(
                COOKIE,
                self.cookie,
                httponly=True,
                samesite="strict",
                path=_root(request) or "/",
                secure=request.url.scheme == "https",
            )
            return response
        return PlainTextResponse(
            "Unauthorized: this dashboard needs its access token (open it once with ?token=..., "
            "or send 'Authorization: Bearer ...').\n",
            401,
            headers={"WWW-Authenticate": 'Bearer realm="tosmonitor"'},
        )


def _security_headers(csp: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


async def _send_with_headers(
    response: Response, scope: Scope, receive: Receive, send: Send, csp: str
) -> None:
    for name, value in _security_headers(csp).items():
        response.headers.setdefault(name, value)
    await response(scope, receive, send)


# ---------------------------------------------------------------------------------------------------------


def create_app(db_path: str | Path, *, token: str | None = None, root_path: str = "") -> ASGIApp:
    """The dashboard over the archive at ``db_path`` (opened read-only).

    :param token: when set, every request needs it (Bearer header, or ``?token=`` once, then a cookie).
    :param root_path: the path prefix when served behind a reverse proxy (e.g. ``/tosmonitor``).
    :raises ArchiveError: when the archive cannot be opened.
    """
    source = data.ArchiveSource(db_path)
    web = Web(source)
    get = ["GET"]
    routes = [
        Route("/", web.overview, methods=get, name="overview"),
        Route("/documents/{doc_id:path}", web.document, methods=get),
        Route("/versions/{version_id:int}", web.version, methods=get),
        Route("/changes/{change_id:int}", web.change, methods=get),
        Route("/search", web.search, methods=get),
        Route("/health", web.health, methods=get),
        Route("/snapshots/{sha}", web.snapshot, methods=get),
        Route("/feeds/{name}.atom", web.feed, methods=get),
        Route("/api/openapi.json", web.api_openapi, methods=get),
        Route("/api/documents", web.api_documents, methods=get),
        Route("/api/documents/{doc_id:path}/versions", web.api_versions, methods=get),
        Route("/api/documents/{doc_id:path}", web.api_document, methods=get),
        Route("/api/versions/{version_id:int}", web.api_versions_text, methods=get),
        Route("/api/changes", web.api_changes, methods=get),
        Route("/api/changes/{change_id:int}", web.api_change, methods=get),
        Route("/api/search", web.api_search, methods=get),
        Route("/api/deliveries", web.api_deliveries, methods=get),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _error(web, request, exc.status_code, str(exc.detail))

    async def input_error(request: Request, exc: Exception) -> Response:
        return _error(web, request, 400, str(exc))

    async def archive_error(request: Request, exc: Exception) -> Response:
        return _error(web, request, 404, str(exc))

    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, InputError: input_error, ArchiveError: archive_error},
    )
    guarded = Guard(app, source, token)
    if not root_path:
        return guarded

    async def with_root(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not scope.get("root_path"):
            scope = dict(scope, root_path=root_path.rstrip("/"))
        await guarded(scope, receive, send)

    return with_root


def token_from_env() -> str | None:
    """The access token from ``$TOSMONITOR_WEB_TOKEN`` (None when unset or empty)."""
    return os.environ.get(TOKEN_ENV) or None
