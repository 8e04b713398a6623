"""zoo.hub against a real HTTP server on 127.0.0.1: caching, verification, offline mode, safe loading."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from loopback import Route, Server
from safetensors.torch import save as safetensors_save

from zoo.errors import (
    ChecksumError,
    DownloadError,
    OfflineError,
    UnsafeCheckpointError,
    UnverifiedWeightsWarning,
    ZooError,
)
from zoo.hub import cache_dir, cache_path, download, fetch, hf_url, is_offline, read_state_dict
from zoo.weights import IMAGENET_MEAN, IMAGENET_STD, EvalProtocol, WeightRecord

REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def env(isolated_cache: Path) -> Path:
    return isolated_cache


STATE = {"conv.weight": torch.arange(24, dtype=torch.float32).reshape(2, 3, 2, 2), "conv.bias": torch.ones(2)}


@pytest.fixture(scope="module")
def pth_bytes() -> bytes:
    buffer = io.BytesIO()
    torch.save(STATE, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def safetensors_bytes() -> bytes:
    return safetensors_save(STATE)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record(**source: object) -> WeightRecord:
    protocol = EvalProtocol(mean=IMAGENET_MEAN, std=IMAGENET_STD, value_scale=1.0, resize="none")
    return WeightRecord(
        tag="test",
        dataset="voc",
        trained_on="nothing",
        class_names=("background", "thing"),
        protocol=protocol,
        license="MIT",
        **source,  # type: ignore[arg-type]
    )


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def assert_same_tensors(loaded: dict[str, torch.Tensor]) -> None:
    assert loaded.keys() == STATE.keys()
    for key, tensor in STATE.items():
        assert torch.equal(loaded[key], tensor)


def closed_port_url() -> str:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/weights/model.pth"


# --- configuration read from the environment ------------------------------------------------------------


def test_cache_dir_and_paths_follow_the_environment(monkeypatch: pytest.MonkeyPatch, env: Path) -> None:
    assert cache_dir() == env
    url_record = record(url="https://example.org/a/b/model-1234abcd.pth")
    assert cache_path(url_record) == env / "weights" / "model-1234abcd.pth"
    hub_record = record(hf_repo="org/repo", hf_revision=REVISION, hf_filename="sub/model.safetensors")
    assert cache_path(hub_record) == env / "hf" / "org--repo" / REVISION / "sub" / "model.safetensors"
    monkeypatch.setenv("ZOO_CACHE", str(env / "elsewhere"))
    assert cache_path(url_record) == env / "elsewhere" / "weights" / "model-1234abcd.pth"


def test_cache_path_refuses_names_that_escape_the_cache() -> None:
    with pytest.raises(ZooError, match="unusable file name"):
        cache_path(record(hf_repo="org/repo", hf_revision=REVISION, hf_filename="../../evil.pth"))


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("TRUE", True), ("On", True), ("0", False), ("", False)]
)
def test_is_offline(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("ZOO_OFFLINE", value)
    assert is_offline() is expected


def test_hf_url_uses_endpoint_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    hub_record = record(hf_repo="org/repo", hf_revision=REVISION, hf_filename="model.safetensors")
    assert hf_url(hub_record) == f"https://huggingface.co/org/repo/resolve/{REVISION}/model.safetensors"
    monkeypatch.setenv("HF_ENDPOINT", "http://mirror.local:8080/")
    assert hf_url(hub_record) == f"http://mirror.local:8080/org/repo/resolve/{REVISION}/model.safetensors"


def test_importing_hub_does_not_import_torch() -> None:
    code = "import sys, zoo.hub; sys.exit('torch' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    assert subprocess.run([sys.executable, "-c", code], cwd=root, timeout=120).returncode == 0


# --- downloading and caching ----------------------------------------------------------------------------


@pytest.mark.parametrize("digest_length", [64, 8])
def test_first_fetch_downloads_and_verifies_then_hits_the_cache(
    server: Server, env: Path, pth_bytes: bytes, digest_length: int
) -> None:
    server.routes["/weights/model.pth"] = Route(pth_bytes)
    weight = record(url=f"{server.url}/weights/model.pth", sha256=sha(pth_bytes)[:digest_length])

    path = fetch(weight, progress=False)
    assert path == env / "weights" / "model.pth"
    assert path.read_bytes() == pth_bytes
    assert server.count == 1
    assert files_under(env) == [path]  # no leftover .part file
    user_agent = server.requests[0][1].get("User-Agent", "")
    assert user_agent.startswith("zoo/")

    assert fetch(weight) == path
    assert server.count == 1
    assert_same_tensors(read_state_dict(path))


def test_checksum_mismatch_deletes_the_download(server: Server, env: Path, pth_bytes: bytes) -> None:
    server.routes["/weights/model.pth"] = Route(pth_bytes, mode="wrong")
    url = f"{server.url}/weights/model.pth"
    weight = record(url=url, sha256=sha(pth_bytes))
    with pytest.raises(ChecksumError) as caught:
        fetch(weight, progress=False)
    message = str(caught.value)
    assert sha(pth_bytes) in message
    assert sha(bytes(b ^ 0xFF for b in pth_bytes)) in message
    assert url in message and "model.pth" in message and "deleted" in message
    assert files_under(env) == []


def test_size_mismatch_is_refused(server: Server, env: Path, pth_bytes: bytes) -> None:
    server.routes["/weights/model.pth"] = Route(pth_bytes)
    weight = record(
        url=f"{server.url}/weights/model.pth", sha256=sha(pth_bytes)[:8], file_size=len(pth_bytes) + 1
    )
    with pytest.raises(ChecksumError, match="size mismatch"):
        fetch(weight, progress=False)
    assert files_under(env) == []


def test_truncated_transfer_leaves_nothing(server: Server, env: Path, pth_bytes: bytes) -> None:
    server.routes["/weights/model.pth"] = Route(pth_bytes, mode="truncate")
    url = f"{server.url}/weights/model.pth"
    with pytest.raises(DownloadError, match="truncated transfer") as caught:
        fetch(record(url=url, sha256=sha(pth_bytes)), progress=False)
    assert not isinstance(caught.value, ChecksumError)
    assert f"of {len(pth_bytes)} bytes from {url}" in str(caught.value)
    assert files_under(env) == []


def test_http_404_names_the_url(server: Server, env: Path) -> None:
    url = f"{server.url}/weights/missing.pth"
    with pytest.raises(DownloadError, match="404") as caught:
        fetch(record(url=url, sha256="0" * 64), progress=False)
    assert url in str(caught.value)
    assert not isinstance(caught.value, OfflineError)
    assert files_under(env) == []


def test_download_shows_a_progress_bar_when_asked(server: Server, tmp_path: Path, pth_bytes: bytes) -> None:
    server.routes["/weights/model.pth"] = Route(pth_bytes)
    dest = tmp_path / "out" / "model.pth"
    assert download(f"{server.url}/weights/model.pth", dest, sha256=sha(pth_bytes), progress=True) == dest
    assert dest.read_bytes() == pth_bytes


def test_download_refuses_a_useless_checksum(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="8 to 64 hex"):
        download("http://127.0.0.1:9/x.pth", tmp_path / "x.pth", sha256="")


def test_unverified_weights_warn(server: Server, pth_bytes: bytes) -> None:
    server.routes["/weights/model.pth"] = Route(pth_bytes)
    with pytest.warns(UnverifiedWeightsWarning, match="cannot be verified"):
        path = fetch(record(url=f"{server.url}/weights/model.pth"), progress=False)
    assert path.read_bytes() == pth_bytes


# --- offline mode and unreachable networks --------------------------------------------------------------


def test_offline_uses_the_cache_without_requests(
    server: Server, monkeypatch: pytest.MonkeyPatch, pth_bytes: bytes
) -> None:
    server.routes["/weights/model.pth"] = Route(pth_bytes)
    weight = record(url=f"{server.url}/weights/model.pth", sha256=sha(pth_bytes))
    path = fetch(weight, progress=False)
    assert server.count == 1

    monkeypatch.setenv("ZOO_OFFLINE", "1")
    assert fetch(weight) == path
    assert server.count == 1


def test_offline_without_cache_says_where_the_file_should_be(
    server: Server, monkeypatch: pytest.MonkeyPatch, pth_bytes: bytes
) -> None:
    server.routes["/weights/model.pth"] = Route(pth_bytes)
    weight = record(url=f"{server.url}/weights/model.pth", sha256=sha(pth_bytes))
    monkeypatch.setenv("ZOO_OFFLINE", "yes")
    with pytest.raises(OfflineError) as caught:
        fetch(weight)
    message = str(caught.value)
    assert str(cache_path(weight)) in message
    assert weight.source in message and "ZOO_OFFLINE" in message
    assert server.count == 0


def test_unreachable_host_raises_offline_error(env: Path) -> None:
    weight = record(url=closed_port_url(), sha256="0" * 64)
    with pytest.raises(OfflineError, match="could not reach") as caught:
        fetch(weight, progress=False)
    assert str(cache_path(weight)) in str(caught.value)
    assert files_under(env) == []


def test_unreachable_host_is_fine_when_cached(pth_bytes: bytes) -> None:
    weight = record(url=closed_port_url(), sha256=sha(pth_bytes))
    path = cache_path(weight)
    path.parent.mkdir(parents=True)
    path.write_bytes(pth_bytes)
    assert fetch(weight) == path


# --- the Hugging Face Hub -------------------------------------------------------------------------------


def hub_record(data: bytes) -> WeightRecord:
    return record(hf_repo="org/repo", hf_revision=REVISION, hf_filename="model.safetensors", sha256=sha(data))


def test_hub_download_lands_in_the_hub_cache(
    server: Server, monkeypatch: pytest.MonkeyPatch, env: Path, safetensors_bytes: bytes
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    expected_path = f"/org/repo/resolve/{REVISION}/model.safetensors"
    server.routes[expected_path] = Route(safetensors_bytes)

    path = fetch(hub_record(safetensors_bytes), progress=False)
    assert server.paths() == [expected_path]
    assert "Authorization" not in server.requests[0][1]
    assert path == env / "hf" / "org--repo" / REVISION / "model.safetensors"
    assert_same_tensors(read_state_dict(path))


def test_hub_redirect_is_followed_with_the_token_on_the_same_host(
    server: Server, monkeypatch: pytest.MonkeyPatch, safetensors_bytes: bytes
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", server.url + "/")
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    resolve = f"/org/repo/resolve/{REVISION}/model.safetensors"
    server.routes[resolve] = Route(b"/lfs/blob-1", mode="redirect")
    server.routes["/lfs/blob-1"] = Route(safetensors_bytes)

    path = fetch(hub_record(safetensors_bytes), progress=False)
    assert server.paths() == [resolve, "/lfs/blob-1"]
    assert [headers.get("Authorization") for _, headers in server.requests] == ["Bearer hf_secret"] * 2
    assert path.read_bytes() == safetensors_bytes


def test_hub_token_is_not_sent_to_another_host(
    server: Server, other_server: Server, monkeypatch: pytest.MonkeyPatch, safetensors_bytes: bytes
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    resolve = f"/org/repo/resolve/{REVISION}/model.safetensors"
    server.routes[resolve] = Route(f"{other_server.url}/cdn/blob".encode(), mode="redirect")
    other_server.routes["/cdn/blob"] = Route(safetensors_bytes)

    fetch(hub_record(safetensors_bytes), progress=False)
    assert server.requests[0][1].get("Authorization") == "Bearer hf_secret"
    assert other_server.paths() == ["/cdn/blob"]
    assert "Authorization" not in other_server.requests[0][1]


def test_token_is_not_sent_to_non_hub_urls(
    server: Server, monkeypatch: pytest.MonkeyPatch, pth_bytes: bytes
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    server.routes["/weights/model.pth"] = Route(pth_bytes)
    fetch(record(url=f"{server.url}/weights/model.pth", sha256=sha(pth_bytes)), progress=False)
    assert "Authorization" not in server.requests[0][1]


# --- reading checkpoints --------------------------------------------------------------------------------


def test_read_state_dict_round_trips(tmp_path: Path, pth_bytes: bytes, safetensors_bytes: bytes) -> None:
    (tmp_path / "a.pth").write_bytes(pth_bytes)
    (tmp_path / "a.safetensors").write_bytes(safetensors_bytes)
    assert_same_tensors(read_state_dict(tmp_path / "a.pth"))
    assert_same_tensors(read_state_dict(str(tmp_path / "a.safetensors")))


@pytest.mark.parametrize("wrapper", ["state_dict", "model"])
def test_read_state_dict_unwraps_training_checkpoints(tmp_path: Path, wrapper: str) -> None:
    path = tmp_path / "ckpt.pth"
    torch.save({wrapper: STATE, "meta": {"epoch": 3, "name": "run"}}, path)
    assert_same_tensors(read_state_dict(path))


class Evil:
    """Unpickling this creates a marker file: proof that the pickle ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_read_state_dict_refuses_code_in_pickles(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pth"
    torch.save({"x": Evil(marker)}, path)

    with pytest.raises(UnsafeCheckpointError) as caught:
        read_state_dict(path)
    assert str(path) in str(caught.value) and "weights_only" in str(caught.value)
    assert not marker.exists()

    # The payload is real: an unsafe load does run it.
    loaded = torch.load(path, weights_only=False)
    loaded["x"].close()
    assert marker.exists()


def test_read_state_dict_names_a_non_tensor_key(tmp_path: Path) -> None:
    path = tmp_path / "mixed.pth"
    torch.save({"conv.weight": torch.zeros(1), "epoch": 7}, path)
    with pytest.raises(ZooError, match="'epoch'") as caught:
        read_state_dict(path)
    assert str(path) in str(caught.value)
    assert not isinstance(caught.value, UnsafeCheckpointError)


def test_read_state_dict_refuses_a_non_dict(tmp_path: Path) -> None:
    path = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), path)
    with pytest.raises(ZooError, match="not a dict"):
        read_state_dict(path)


def test_no_part_files_survive_a_failed_write(
    server: Server, tmp_path: Path, pth_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/weights/model.pth"] = Route(pth_bytes)
    dest = tmp_path / "dl" / "model.pth"

    def fail_replace(src: object, dst: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", fail_replace)
    with pytest.raises(OSError, match="disk gone"):
        download(f"{server.url}/weights/model.pth", dest, sha256=sha(pth_bytes))
    assert files_under(tmp_path / "dl") == []
