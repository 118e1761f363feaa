# SPDX-License-Identifier: Apache-2.0
"""A scriptable HTTP/1.1 server on loopback addresses, for tests that need a real socket.

    server = LocalServer(); server.start()
    server.set("/p", body=b"<p>hi</p>", etag=True)          # fixed answer (304 to a matching If-None-Match)
    server.set_sequence("/p", [Response(status=500), Response(body=b"ok")])   # one per request, last repeats
    server.set_handler("/p", lambda request: Response(body=request.path.encode()))
    server.redirect("/old", "/p")
    server.url("/p"); server.url("/p", host="127.0.0.2")    # after server.add_host("127.0.0.2")
    server.requests; server.hits("/p"); server.stop()

Every listener (one per loopback address, each on a random port) shares the routes and the request log.
Responses can wait before their headers (``delay``), trickle their body (``chunks`` with ``chunk_delay``),
never end (``endless``), omit Content-Length (chunked encoding) or drop the connection (``drop``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

__all__ = ["LocalServer", "RecordedRequest", "Response", "unused_port"]


@dataclass(frozen=True)
class Response:
    """One scripted answer.

    :param etag: True computes a strong ETag from the body, a string is sent as is; a request whose
        If-None-Match matches gets 304.
    :param last_modified: sent as Last-Modified; a request whose If-Modified-Since equals it gets 304
        (True uses a fixed date in the past).
    :param delay: seconds to wait before sending anything.
    :param chunks: send the body as these pieces (instead of ``body``), ``chunk_delay`` apart.
    :param endless: after ``body``/``chunks``, keep sending ``chunks[-1]`` (or 1 KiB) until the client leaves.
    :param content_length: False sends the body with chunked transfer encoding.
    :param drop: close the connection without answering.
    """

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = "text/html; charset=utf-8"
    delay: float = 0.0
    etag: bool | str = False
    last_modified: bool | str | None = None
    chunks: Sequence[bytes] | None = None
    chunk_delay: float = 0.0
    endless: bool = False
    content_length: bool = True
    drop: bool = False


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server saw it. ``headers`` keys are lower-case."""

    method: str
    path: str  # with the query string
    headers: dict[str, str]
    host: str  # the loopback address it arrived on
    started: float  # time.monotonic() when the request line was read
    finished: float | None = None  # when the response was fully written (None if it never was)
    client_port: int = 0  # the client's side of the connection: equal ports, the same (kept-alive) connection

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


Handler = Callable[[RecordedRequest], Response]
_FIXED_DATE = "Tue, 02 Jan 2024 10:00:00 GMT"
NOT_FOUND = Response(status=404, body=b"<h1>Not found</h1>")


def unused_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (for connection-refused tests)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class _Route:
    def __init__(self, responses: Sequence[Response] | None = None, handler: Handler | None = None) -> None:
        self.responses = list(responses or [])
        self.handler = handler
        self.count = 0

    def next_scripted(self) -> Response:
        self.count += 1
        return self.responses[min(self.count, len(self.responses)) - 1]


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 (and more loopback addresses on demand), scripted per path."""

    def __init__(self, host: str = "127.0.0.1", *, tls: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.tls = tls  # a server-side context: serve HTTPS instead of HTTP
        self._routes: dict[str, _Route] = {}
        self._log: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._servers: dict[str, ThreadingHTTPServer] = {}
        self._threads: list[threading.Thread] = []

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> LocalServer:
        self.add_host(self.host)
        return self

    def add_host(self, host: str) -> int:
        """Serve the same routes on another loopback address (e.g. "127.0.0.2"); returns its port."""
        if host in self._servers:
            return self._servers[host].server_address[1]
        server = _Server((host, 0), _make_handler(self, host))
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        self._servers[host] = server
        self._threads.append(thread)
        return server.server_address[1]

    def stop(self) -> None:
        self._stopping.set()
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget routes and recorded requests (for a server shared between tests)."""
        with self._lock:
            self._routes.clear()
            self._log.clear()

    # -- scripting -------------------------------------------------------------------------------------

    def port(self, host: str | None = None) -> int:
        return self._servers[host or self.host].server_address[1]

    def url(self, path: str = "/", host: str | None = None) -> str:
        host = host or self.host
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host}:{self.port(host)}{path}"

    def set(self, path: str, body: bytes | str = b"", **options: object) -> None:
        """Answer every request to ``path`` with one ``Response(body=..., **options)``."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.set_sequence(path, [Response(body=body, **options)])  # type: ignore[arg-type]

    def set_sequence(self, path: str, responses: Sequence[Response]) -> None:
        """Answer successive requests with these responses in order; the last one repeats."""
        if not responses:
            raise ValueError("set_sequence needs at least one response")
        with self._lock:
            self._routes[path] = _Route(responses=responses)

    def set_handler(self, path: str, handler: Handler) -> None:
        """Answer requests to ``path`` with ``handler(request)`` (called in the server's thread)."""
        with self._lock:
            self._routes[path] = _Route(handler=handler)

    def redirect(self, path: str, to: str, status: int = 302) -> None:
        """Redirect ``path`` to ``to`` (a path on this server or a full URL)."""
        self.set(path, status=status, headers={"Location": to}, content_type=None)

    # -- inspection ------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    def hits(self, path: str) -> int:
        """Requests received for ``path`` (query strings ignored unless ``path`` has one)."""
        return len(self.requests_to(path))

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with_query = "?" in path
        return [r for r in self.requests if (r.path if with_query else r.path.split("?", 1)[0]) == path]

    def finished_requests(self, path: str, count: int, timeout: float = 2.0) -> list[RecordedRequest]:
        """The requests to ``path`` once ``count`` of them have been fully answered (the server's thread may
        record the end of a response a moment after the client has read it)."""
        deadline = time.monotonic() + timeout
        while True:
            done = [r for r in self.requests_to(path) if r.finished is not None]
            if len(done) >= count or time.monotonic() > deadline:
                return done
            time.sleep(0.005)

    # -- used by the handler ---------------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> int:
        with self._lock:
            self._log.append(request)
            return len(self._log) - 1

    def _finish(self, index: int) -> None:
        with self._lock:
            request = self._log[index]
            self._log[index] = dataclasses.replace(request, finished=time.monotonic())

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops first; False when it is stopping."""
        return not self._stopping.wait(seconds) if seconds > 0 else not self._stopping.is_set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _etag_of(response: Response, body: bytes) -> str | None:
    if response.etag is True:
        return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    return response.etag or None


def _make_handler(owner: LocalServer, host: str) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # silence the default access log
            pass

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self._serve()

        def _serve(self, head: bool = False) -> None:
            headers = {key.lower(): value for key, value in self.headers.items()}
            request = RecordedRequest(
                self.command, self.path, headers, host, time.monotonic(), client_port=self.client_address[1]
            )
            index = owner._record(request)
            route_handler = None  # called outside the lock: it may inspect the server
            with owner._lock:
                route = owner._routes.get(request.path) or owner._routes.get(urlsplit(request.path).path)
                if route is not None and route.handler is not None:
                    route.count += 1
                    route_handler = route.handler
            if route_handler is not None:
                response = route_handler(request)
            elif route is None:
                response = NOT_FOUND
            else:
                with owner._lock:
                    response = route.next_scripted()
            try:
                self._write(response, request, head)
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                self.close_connection = True
                return
            owner._finish(index)

        def _write(self, response: Response, request: RecordedRequest, head: bool) -> None:
            if not owner._sleep(response.delay):
                self.close_connection = True
                return
            if response.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            body = b"".join(response.chunks) if response.chunks is not None else response.body
            etag = _etag_of(response, body)
            last_modified = _FIXED_DATE if response.last_modified is True else response.last_modified or None
            status = response.status
            if status == 200 and (
                (etag and request.header("if-none-match") == etag)
                or (last_modified and not etag and request.header("if-modified-since") == last_modified)
            ):
                status = 304
            self.send_response(status)
            self.send_header("Date", formatdate(usegmt=True))
            if response.content_type and status != 304:
                self.send_header("Content-Type", response.content_type)
            if etag:
                self.send_header("ETag", etag)
            if last_modified:
                self.send_header("Last-Modified", last_modified)
            for key, value in response.headers.items():
                self.send_header(key, value)
            if status == 304 or head:
                self.send_header("Content-Length", "0" if status == 304 else str(len(body)))
                self.end_headers()
                return
            streaming = response.chunks is not None or response.endless or not response.content_length
            if not streaming:
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self._stream(response, body)

        def _stream(self, response: Response, body: bytes) -> None:
            if response.content_length and not response.endless:
                self.send_header("Content-Length", str(len(body)))
                chunked = False
            else:
                self.send_header("Transfer-Encoding", "chunked")
                chunked = True
            self.end_headers()

            def send(piece: bytes) -> None:
                if not piece:
                    return
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                self.wfile.flush()

            pieces = list(response.chunks) if response.chunks is not None else [body]
            for number, piece in enumerate(pieces):
                if number and not owner._sleep(response.chunk_delay):
                    self.close_connection = True
                    return
                send(piece)
            if response.endless:
                filler = pieces[-1] if pieces and pieces[-1] else b"x" * 1024
                while owner._sleep(response.chunk_delay):
                    send(filler)
                self.close_connection = True
                return
            if chunked:
                self.wfile.write(b"0\r\n\r\n")

    return _Handler
