"""Shared fixtures: loopback HTTP servers and an isolated, online, empty weights cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from loopback import other_server, server  # noqa: F401  (fixtures)


@pytest.fixture
def isolated_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty cache, no token, online, and no proxy between the client and the loopback server."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("ZOO_CACHE", str(cache))
    for name in ("ZOO_OFFLINE", "HF_TOKEN", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    return cache
