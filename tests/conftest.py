"""Shared fixtures: loopback HTTP servers and isolated, online, empty weight caches."""

from __future__ import annotations

from pathlib import Path

import pytest
from loopback import other_server, server  # noqa: F401  (fixtures)


@pytest.fixture
def isolated_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Empty caches (zoo's, huggingface_hub's, torch.hub's), no token, online, no proxy to the loopback server.

    Returns zoo's cache folder; huggingface_hub's is ``tmp_path / "hf" / "hub"``, torch.hub's
    ``tmp_path / "torch" / "hub"``.
    """
    from huggingface_hub import constants

    cache = tmp_path / "cache"
    monkeypatch.setenv("ZOO_CACHE", str(cache))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # torch.hub reads it at each call
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # for subprocesses; this one read it at import:
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "hf" / "stored_tokens"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for name in (
        "ZOO_OFFLINE",
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_ENDPOINT",
        "HF_HUB_OFFLINE",
        "HF_HUB_CACHE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    return cache
