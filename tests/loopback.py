"""A real HTTP server on 127.0.0.1 serving bytes a test made: the tests' stand-in for download hosts.

It stands in for a plain file host (torch.hub's ``download.pytorch.org``) and for the Hugging Face Hub that
``huggingface_hub`` itself talks to: a route under ``/{org}/{repo}/resolve/{revision}/{file}`` is answered, to
``HEAD`` and ``GET``, with the headers ``hf_hub_download`` needs (``X-Repo-Commit``, ``ETag``,
``Content-Length``), and ``/api/models/{org}/{repo}/revision/{revision}`` with the repository's JSON.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple
from urllib.parse import quote, unquote

import pytest

_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<file>.+)$")
_API = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/revision/(?P<revision>[^/]+)$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def commit_of(revision: str) -> str:
    """The commit the stand-in Hub resolves ``revision`` to: itself for a commit hash, else a fixed hash."""
    return revision if _COMMIT.match(revision) else hashlib.sha1(revision.encode()).hexdigest()


def resolve_path(repo: str, revision: str, filename: str) -> str:
    """The request path of a Hub file, encoded the way ``huggingface_hub.hf_hub_url`` encodes it."""
    return f"/{repo}/resolve/{quote(revision, safe='')}/{quote(filename)}"


def hub_headers(data: bytes, revision: str) -> dict[str, str]:
    """What the Hub sends about a file on a redirect to its CDN (the LFS case): commit, etag and size."""
    return {
        "X-Repo-Commit": commit_of(revision),
        "X-Linked-Etag": f'"{hashlib.sha256(data).hexdigest()}"',
        "X-Linked-Size": str(len(data)),
    }


@dataclass
class Route:
    body: bytes = b""
    # ok | wrong (same length, other bytes) | truncate (full Content-Length, half the body)
    # | unsized (no Content-Length: the body ends when the connection closes) | redirect (body is the target)
    mode: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    # When set, a GET sends its headers and then waits for this event before the body: a download in progress.
    hold: threading.Event | None = None


class Request(NamedTuple):
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Server:
    """What the handler serves, and what it was asked for."""

    url: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.requests)

    def paths(self, method: str | None = "GET") -> list[str]:
        """The paths requested with ``method`` (every method: ``None``), in order."""
        with self.lock:
            return [r.path for r in self.requests if method is None or r.method == method]

    def add_hub_file(self, repo: str, revision: str, filename: str, data: bytes, mode: str = "ok") -> str:
        """Serve ``data`` as ``filename`` of ``repo`` at ``revision``; returns the request path."""
        path = resolve_path(repo, revision, filename)
        self.routes[path] = Route(data, mode)
        return path


class Handler(BaseHTTPRequestHandler):
    def do_HEAD(self) -> None:  # noqa: N802 - the name http.server dispatches to
        self._answer(send_body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(send_body=True)

    def _answer(self, *, send_body: bool) -> None:
        state: Server = self.server.state  # type: ignore[attr-defined]
        with state.lock:
            state.requests.append(Request(self.command, self.path, dict(self.headers)))
        api = _API.match(self.path)
        if api:
            self._api(state, api, send_body)
            return
        route = state.routes.get(self.path)
        resolve = _RESOLVE.match(self.path)
        if route is None:
            self.send_response(404)
            if resolve:  # what the Hub says about a file, or a repository, it does not have
                with state.lock:
                    known_repo = any(path.startswith(f"/{resolve['repo']}/") for path in state.routes)
                self.send_header("X-Error-Code", "EntryNotFound" if known_repo else "RepoNotFound")
                if known_repo:
                    self.send_header("X-Repo-Commit", commit_of(unquote(resolve["revision"])))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if route.mode == "redirect":
            self.send_response(302)
            self.send_header("Location", route.body.decode())
            self.send_header("Content-Length", "0")
            for name, value in route.headers.items():
                self.send_header(name, value)
            self.end_headers()
            return
        body = route.body
        if route.mode == "wrong":
            body = bytes(b ^ 0xFF for b in body)  # same length, different bytes: only the checksum can tell
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if route.mode != "unsized":
            self.send_header("Content-Length", str(len(route.body)))
        if resolve:
            self.send_header("X-Repo-Commit", commit_of(unquote(resolve["revision"])))
            self.send_header("ETag", f'"{hashlib.sha256(route.body).hexdigest()}"')
        for name, value in route.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if not send_body:
            return
        if route.hold is not None:
            route.hold.wait(timeout=30)
        if route.mode == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
        else:
            self.wfile.write(body)

    def _api(self, state: Server, api: re.Match[str], send_body: bool) -> None:
        repo, revision = api["repo"], unquote(api["revision"])
        prefix = f"/{repo}/resolve/{api['revision']}/"
        with state.lock:
            files = [unquote(path[len(prefix) :]) for path in state.routes if path.startswith(prefix)]
        if not files:
            self.send_response(404)
            self.send_header("X-Error-Code", "RevisionNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps(
            {"id": repo, "sha": commit_of(revision), "siblings": [{"rfilename": f} for f in files]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
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
