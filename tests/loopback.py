"""A real HTTP server on 127.0.0.1 serving bytes a test made: the tests' stand-in for download hosts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Route:
    body: bytes = b""
    mode: str = "ok"  # ok | wrong | truncate | redirect (body is the target URL or path)


@dataclass
class Server:
    """What the handler serves, and what it was asked for."""

    url: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.requests)

    def paths(self) -> list[str]:
        with self.lock:
            return [path for path, _ in self.requests]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        state: Server = self.server.state  # type: ignore[attr-defined]
        with state.lock:
            state.requests.append((self.path, dict(self.headers)))
        route = state.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        if route.mode == "redirect":
            self.send_response(302)
            self.send_header("Location", route.body.decode())
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = route.body
        if route.mode == "wrong":
            # Same length, different bytes: only the checksum can tell.
            body = bytes(b ^ 0xFF for b in body)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        if route.mode == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
        else:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(handler: type[BaseHTTPRequestHandler] = Handler, state_type: type = Server) -> Iterator:
    """Run ``handler`` on 127.0.0.1 (a free port) in a thread; yield its ``state_type`` state, then stop.

    The handler reads and records through ``self.server.state``; the state needs a ``url`` field.
    """
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    state = state_type(url=f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def server() -> Iterator[Server]:
    yield from serve()


@pytest.fixture
def other_server() -> Iterator[Server]:
    yield from serve()
