"""zoo.hub against real HTTP servers on 127.0.0.1: huggingface_hub and torch.hub do the transfers into their own
caches, zoo verifies what they return at every load, offline modes, the cache listing."""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from loopback import Route, Server, commit_of, hub_headers, resolve_path
from safetensors.torch import save as safetensors_save

import zoo
from zoo import ModelEntry
from zoo.checkpoint import CorruptCheckpointError
from zoo.errors import ChecksumError, DownloadError, OfflineError, UnverifiedWeightsWarning, ZooError
from zoo.hub import (
    WeightsFile,
    cache_entries,
    clear_cached,
    fetch,
    file_sha256,
    is_offline,
    torch_hub_path,
    verify_cached,
)
from zoo.weights import IMAGENET_MEAN, IMAGENET_STD, EvalProtocol, WeightRecord

REVISION = "0123456789abcdef0123456789abcdef01234567"
STATE = {"conv.weight": torch.arange(24, dtype=torch.float32).reshape(2, 3, 2, 2), "conv.bias": torch.ones(2)}


@pytest.fixture(autouse=True)
def env(isolated_cache: Path) -> Path:
    return isolated_cache


@pytest.fixture
def caches(isolated_cache: Path) -> dict[str, Path]:
    root = isolated_cache.parent
    return {"zoo": isolated_cache, "hf": root / "hf" / "hub", "torch": root / "torch" / "hub" / "checkpoints"}


def torch_bytes(state: dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def pth_bytes() -> bytes:
    return torch_bytes(STATE)


@pytest.fixture(scope="module")
def other_pth_bytes() -> bytes:
    """Another valid checkpoint of the same keys and shapes: only a digest tells it from ``pth_bytes``."""
    return torch_bytes({k: v + 1 for k, v in STATE.items()})


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


def hub_record(
    data: bytes | None, revision: str = REVISION, filename: str = "model.safetensors"
) -> WeightRecord:
    return record(
        hf_repo="org/repo", hf_revision=revision, hf_filename=filename, sha256=sha(data) if data else None
    )


def files_under(folder: Path) -> list[Path]:
    """Every file under ``folder``, hidden temporary files included; the libraries' lock files excluded."""
    found = folder.rglob("*") if folder.exists() else []
    return sorted(p for p in found if p.is_file() and ".locks" not in p.parts)


def closed_port_url(path: str = "/weights/model.pth") -> str:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}{path}"


# --- configuration ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("TRUE", True), ("On", True), ("0", False), ("", False)]
)
def test_is_offline(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("ZOO_OFFLINE", value)
    assert is_offline() is expected


def test_importing_hub_imports_neither_torch_nor_huggingface_hub() -> None:
    code = "import sys, zoo.hub; sys.exit('torch' in sys.modules or 'huggingface_hub' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    assert subprocess.run([sys.executable, "-c", code], cwd=root, timeout=120).returncode == 0


# --- URL records: torch.hub -------------------------------------------------------------------------------


def test_torchvision_named_files_share_torch_hubs_folder(caches: dict[str, Path]) -> None:
    """A name carrying the content's digest prefix (torch.hub's convention) is where torchvision puts it."""
    published = zoo.info("deeplabv3-resnet101").get_weights("coco_voc")
    assert torch_hub_path(published) == caches["torch"] / "deeplabv3_resnet101_coco-586e9e4e.pth"


@pytest.mark.parametrize("digest_length", [64, 8])
def test_url_download_goes_to_torch_hub_and_is_then_used_without_requests(
    server: Server, caches: dict[str, Path], pth_bytes: bytes, digest_length: int
) -> None:
    server.routes["/weights/model.pth"] = Route(pth_bytes)
    weight = record(url=f"{server.url}/weights/model.pth", sha256=sha(pth_bytes)[:digest_length])

    got = fetch(weight, progress=False)
    assert got == WeightsFile(torch_hub_path(weight), sha(pth_bytes), None, weight.source)
    assert got.path.is_relative_to(caches["torch"]) and got.path.read_bytes() == pth_bytes
    assert files_under(caches["torch"]) == [got.path]  # no temporary file left
    assert server.requests[0].headers["User-Agent"] == "torch.hub"

    assert fetch(weight) == got
    assert server.count == 1


def test_two_records_with_one_file_name_are_kept_apart(
    server: Server, pth_bytes: bytes, other_pth_bytes: bytes
) -> None:
    server.routes["/a/model.pth"] = Route(pth_bytes)
    server.routes["/b/model.pth"] = Route(other_pth_bytes)
    first = record(url=f"{server.url}/a/model.pth", sha256=sha(pth_bytes))
    second = record(url=f"{server.url}/b/model.pth", sha256=sha(other_pth_bytes))

    assert torch_hub_path(first) != torch_hub_path(second)
    assert fetch(first).path.read_bytes() == pth_bytes
    assert fetch(second).path.read_bytes() == other_pth_bytes
    assert fetch(first).sha256 == sha(pth_bytes)
    assert server.count == 2


def test_a_digest_named_file_shared_with_another_record_is_still_verified(
    server: Server, pth_bytes: bytes, other_pth_bytes: bytes
) -> None:
    """Two URLs ending in one digest-carrying name share torch.hub's file; a full digest still tells them apart."""
    prefix = sha(pth_bytes)[:8]
    server.routes[f"/a/net-{prefix}.pth"] = Route(pth_bytes)
    first = record(url=f"{server.url}/a/net-{prefix}.pth", sha256=sha(pth_bytes))
    impostor = record(url=f"{server.url}/b/net-{prefix}.pth", sha256=prefix + "0" * 56)
    path = fetch(first).path
    assert torch_hub_path(impostor) == path
    with pytest.raises(ChecksumError) as caught:
        fetch(impostor)
    assert str(path) in str(caught.value) and sha(pth_bytes) in str(caught.value)


def test_a_swapped_cached_file_is_refused_at_the_next_load(
    server: Server, pth_bytes: bytes, other_pth_bytes: bytes
) -> None:
    server.routes["/weights/model.pth"] = Route(pth_bytes)
    weight = record(url=f"{server.url}/weights/model.pth", sha256=sha(pth_bytes))
    path = fetch(weight).path

    path.write_bytes(other_pth_bytes)  # a valid checkpoint of the same size, under the published name
    with pytest.raises(ChecksumError) as caught:
        fetch(weight)
    message = str(caught.value)
    assert str(path) in message and sha(pth_bytes) in message and sha(other_pth_bytes) in message
    assert "\n" not in message
    assert server.count == 1, "a refused cached file is not silently downloaded again"


def test_a_swap_that_keeps_size_and_mtime_is_still_caught(
    server: Server, tmp_path: Path, pth_bytes: bytes, other_pth_bytes: bytes
) -> None:
    server.routes["/weights/model.pth"] = Route(pth_bytes)
    weight = record(url=f"{server.url}/weights/model.pth", sha256=sha(pth_bytes))
    path = fetch(weight).path
    impostor = tmp_path / "impostor.pth"
    impostor.write_bytes(other_pth_bytes)
    stat = path.stat()
    os.utime(impostor, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    shutil.copy2(impostor, path)  # same size, same mtime
    assert path.stat().st_mtime_ns == stat.st_mtime_ns and path.stat().st_size == stat.st_size
    with pytest.raises(ChecksumError):
        fetch(weight)


def test_an_unchanged_file_is_hashed_once(
    server: Server, pth_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/weights/model.pth"] = Route(pth_bytes)
    weight = record(url=f"{server.url}/weights/model.pth", sha256=sha(pth_bytes))
    fetch(weight)
    opened: list[str] = []
    real_open = open

    def spy(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spy)
    assert fetch(weight).sha256 == sha(pth_bytes)
    assert str(torch_hub_path(weight).resolve()) not in opened
    assert file_sha256(torch_hub_path(weight), rehash=True) == sha(pth_bytes)
    assert str(torch_hub_path(weight).resolve()) in opened


def test_concurrent_fetches_download_once(server: Server, pth_bytes: bytes) -> None:
    """What torchrun ranks do: the second waits for the first's download instead of making its own."""
    release = threading.Event()
    server.routes["/weights/model.pth"] = Route(pth_bytes, hold=release)
    weight = record(url=f"{server.url}/weights/model.pth", sha256=sha(pth_bytes))
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(fetch, weight)
        while server.count == 0:  # the first is downloading, holding the lock
            time.sleep(0.01)
        second = pool.submit(fetch, weight)
        time.sleep(0.5)  # the second reaches the lock and waits
        release.set()
        assert first.result(timeout=60) == second.result(timeout=60)
    assert server.paths() == ["/weights/model.pth"]


def test_checksum_mismatch_on_download_caches_nothing(
    server: Server, caches: dict[str, Path], pth_bytes: bytes
) -> None:
    server.routes["/weights/model.pth"] = Route(pth_bytes, mode="wrong")
    url = f"{server.url}/weights/model.pth"
    with pytest.raises(ChecksumError) as caught:
        fetch(record(url=url, sha256=sha(pth_bytes)))
    message = str(caught.value)
    assert sha(pth_bytes) in message and sha(bytes(b ^ 0xFF for b in pth_bytes)) in message
    assert url in message and "nothing was cached" in message
    assert files_under(caches["torch"]) == [] and files_under(caches["zoo"]) == []


@pytest.mark.parametrize("mode", ["truncate", "unsized"])
@pytest.mark.parametrize("digest", [True, False])
def test_a_cut_transfer_is_never_cached(
    server: Server, caches: dict[str, Path], pth_bytes: bytes, mode: str, digest: bool
) -> None:
    """torch.hub accepts a body shorter than its Content-Length, and cannot tell without one: zoo can."""
    body = pth_bytes if mode == "truncate" else pth_bytes[: len(pth_bytes) // 2]
    server.routes["/weights/model.pth"] = Route(body, mode=mode)
    weight = record(url=f"{server.url}/weights/model.pth", sha256=sha(pth_bytes) if digest else None)
    with pytest.raises(DownloadError, match="not a whole checkpoint") as caught:
        fetch(weight)
    assert "truncated" in str(caught.value)
    assert files_under(caches["torch"]) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"<!DOCTYPE html><html><body>Rate limited</body></html>", "HTML"), (b"", "empty")],
)
def test_an_error_page_or_nothing_is_never_cached(
    server: Server, caches: dict[str, Path], body: bytes, reason: str
) -> None:
    server.routes["/weights/model.pth"] = Route(body, headers={"Content-Type": "text/html"})
    with pytest.raises(DownloadError, match=reason):
        fetch(record(url=f"{server.url}/weights/model.pth"))
    assert files_under(caches["torch"]) == []


def test_size_mismatch_is_refused(server: Server, caches: dict[str, Path], pth_bytes: bytes) -> None:
    server.routes["/weights/model.pth"] = Route(pth_bytes)
    weight = record(
        url=f"{server.url}/weights/model.pth", sha256=sha(pth_bytes)[:8], file_size=len(pth_bytes) + 1
    )
    with pytest.raises(ChecksumError, match="size mismatch"):
        fetch(weight)
    assert files_under(caches["torch"]) == []


def test_http_404_names_the_url(server: Server, caches: dict[str, Path]) -> None:
    url = f"{server.url}/weights/missing.pth"
    with pytest.raises(DownloadError, match="404") as caught:
        fetch(record(url=url, sha256="0" * 64))
    assert url in str(caught.value)
    assert not isinstance(caught.value, OfflineError)
    assert files_under(caches["torch"]) == []


def test_unverified_url_weights_warn_with_their_actual_digest(server: Server, pth_bytes: bytes) -> None:
    server.routes["/weights/model.pth"] = Route(pth_bytes)
    with pytest.warns(UnverifiedWeightsWarning, match=sha(pth_bytes)):
        got = fetch(record(url=f"{server.url}/weights/model.pth"))
    assert got.sha256 == sha(pth_bytes)


def test_offline_uses_torch_hubs_cache_without_requests(
    server: Server, monkeypatch: pytest.MonkeyPatch, caches: dict[str, Path], pth_bytes: bytes
) -> None:
    """A file already in $TORCH_HOME/hub/checkpoints (put there by torchvision, say) is used as it is."""
    prefix = sha(pth_bytes)[:8]
    weight = record(url=f"{server.url}/models/net-{prefix}.pth", sha256=prefix)
    caches["torch"].mkdir(parents=True)
    (caches["torch"] / f"net-{prefix}.pth").write_bytes(pth_bytes)
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    assert fetch(weight).path == caches["torch"] / f"net-{prefix}.pth"
    assert server.count == 0


def test_offline_without_the_file_says_where_it_should_be(
    server: Server, monkeypatch: pytest.MonkeyPatch, pth_bytes: bytes
) -> None:
    weight = record(url=f"{server.url}/weights/model.pth", sha256=sha(pth_bytes))
    monkeypatch.setenv("ZOO_OFFLINE", "yes")
    with pytest.raises(OfflineError) as caught:
        fetch(weight)
    message = str(caught.value)
    assert str(torch_hub_path(weight)) in message and weight.source in message and "ZOO_OFFLINE" in message
    assert server.count == 0


def test_unreachable_host_raises_offline_error(caches: dict[str, Path]) -> None:
    weight = record(url=closed_port_url(), sha256="0" * 64)
    with pytest.raises(OfflineError, match="could not reach") as caught:
        fetch(weight)
    assert str(torch_hub_path(weight)) in str(caught.value)
    assert files_under(caches["torch"]) == []


# --- Hub records: huggingface_hub ---------------------------------------------------------------------------


@pytest.fixture
def hub(server: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    return server


def test_hub_download_goes_through_huggingface_hub_into_its_cache(
    hub: Server, caches: dict[str, Path], safetensors_bytes: bytes
) -> None:
    path = hub.add_hub_file("org/repo", REVISION, "model.safetensors", safetensors_bytes)
    got = fetch(hub_record(safetensors_bytes))
    assert got.path == caches["hf"] / "models--org--repo" / "snapshots" / REVISION / "model.safetensors"
    assert (got.sha256, got.commit) == (sha(safetensors_bytes), REVISION)
    assert hub.paths(None) == [path, path] and [r.method for r in hub.requests] == ["HEAD", "GET"]
    user_agent = hub.requests[0].headers["user-agent"]
    assert f"zoo/{zoo.__version__}" in user_agent
    assert "authorization" not in {k.lower() for k in hub.requests[0].headers}

    assert fetch(hub_record(safetensors_bytes)) == got  # a commit revision in the cache: no request at all
    assert hub.count == 2


def test_the_hub_stand_in_answers_huggingface_hubs_api(hub: Server, safetensors_bytes: bytes) -> None:
    """The stand-in is what huggingface_hub itself talks to: its repository API agrees with its files."""
    from huggingface_hub import HfApi

    hub.add_hub_file("org/repo", "main", "model.safetensors", safetensors_bytes)
    info = HfApi(endpoint=hub.url).model_info("org/repo", revision="main")
    assert info.sha == commit_of("main")
    assert [sibling.rfilename for sibling in info.siblings or []] == ["model.safetensors"]


def test_a_branch_revision_resolves_to_its_commit(hub: Server, safetensors_bytes: bytes) -> None:
    hub.add_hub_file("org/repo", "main", "model.safetensors", safetensors_bytes)
    got = fetch(hub_record(safetensors_bytes, revision="main"))
    assert got.commit == commit_of("main") and got.path.parent.name == commit_of("main")


def test_a_revision_with_a_slash_stays_inside_the_cache(
    hub: Server, caches: dict[str, Path], safetensors_bytes: bytes
) -> None:
    hub.add_hub_file("org/repo", "refs/pr/1", "model.safetensors", safetensors_bytes)
    got = fetch(hub_record(safetensors_bytes, revision="refs/pr/1"))
    assert got.path.is_relative_to(caches["hf"]) and got.commit == commit_of("refs/pr/1")
    root = caches["hf"].parent.parent
    assert all(p.is_relative_to(caches["hf"]) for p in files_under(root) if "hf" in p.parts)


@pytest.mark.parametrize("revision", ["../../../../escaped", "/abs", "a/../../b", "a\\b"])
def test_a_revision_that_would_escape_the_cache_is_refused_before_any_request(
    hub: Server, caches: dict[str, Path], safetensors_bytes: bytes, revision: str
) -> None:
    weight = hub_record(safetensors_bytes, revision=revision)
    assert any("outside the cache" in p for p in weight.problems())
    with pytest.raises(ZooError, match="outside the cache"):
        fetch(weight)
    assert hub.count == 0
    assert files_under(caches["hf"].parent.parent) == []


def test_the_hub_token_goes_to_the_hub_and_not_to_its_cdn(
    hub: Server, other_server: Server, monkeypatch: pytest.MonkeyPatch, safetensors_bytes: bytes
) -> None:
    """The LFS case: the Hub redirects to a CDN on another host, which must not receive the user's token."""
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    resolve = resolve_path("org/repo", REVISION, "model.safetensors")
    cdn = f"{other_server.url}/cdn/blob"
    hub.routes[resolve] = Route(cdn.encode(), "redirect", headers=hub_headers(safetensors_bytes, REVISION))
    other_server.routes["/cdn/blob"] = Route(safetensors_bytes)

    assert fetch(hub_record(safetensors_bytes)).path.read_bytes() == safetensors_bytes
    assert hub.requests[0].headers.get("authorization") == "Bearer hf_secret"
    assert other_server.paths() == ["/cdn/blob"]
    assert "authorization" not in {k.lower() for k in other_server.requests[0].headers}


def test_a_file_already_in_the_hf_cache_is_used_offline_with_no_request(
    hub: Server, monkeypatch: pytest.MonkeyPatch, safetensors_bytes: bytes
) -> None:
    """A file another library put in the HF cache (smp.from_pretrained, `hf download`) is not fetched again."""
    from huggingface_hub import hf_hub_download

    hub.add_hub_file("org/repo", "main", "model.safetensors", safetensors_bytes)
    theirs = hf_hub_download("org/repo", "model.safetensors", revision="main", endpoint=hub.url)
    before = hub.count
    for variable in ("ZOO_OFFLINE", "HF_HUB_OFFLINE"):
        with monkeypatch.context() as scoped:
            if variable == "HF_HUB_OFFLINE":
                from huggingface_hub import constants

                scoped.setattr(constants, "HF_HUB_OFFLINE", True)
            else:
                scoped.setenv(variable, "1")
            got = fetch(hub_record(safetensors_bytes, revision="main"))
            assert got.path == Path(theirs) and got.commit == commit_of("main")
    assert hub.count == before


def test_a_hub_file_missing_offline_says_so_and_how_to_get_it(
    hub: Server, monkeypatch: pytest.MonkeyPatch, safetensors_bytes: bytes
) -> None:
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(OfflineError) as caught:
        fetch(hub_record(safetensors_bytes))
    message = str(caught.value)
    assert "ZOO_OFFLINE" in message and "hf://org/repo" in message and "hf download org/repo" in message
    assert hub.count == 0


def test_an_unreachable_hub_without_the_file_is_an_offline_error(
    monkeypatch: pytest.MonkeyPatch, safetensors_bytes: bytes
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url("").rstrip("/"))
    monkeypatch.setattr(time, "sleep", lambda seconds: None)  # huggingface_hub's ~23 s of retry back-off
    with pytest.raises(OfflineError, match="could not be reached .*Connection refused"):
        fetch(hub_record(safetensors_bytes))


@pytest.mark.parametrize(
    ("what", "match"), [("file", "has no file 'missing.safetensors'"), ("repo", "not found")]
)
def test_hub_errors_name_what_is_missing(
    hub: Server, safetensors_bytes: bytes, what: str, match: str
) -> None:
    if what == "file":
        hub.add_hub_file("org/repo", REVISION, "model.safetensors", safetensors_bytes)
        weight = hub_record(safetensors_bytes, filename="missing.safetensors")
    else:
        weight = record(hf_repo="nobody/nothing", hf_revision=REVISION, hf_filename="model.safetensors")
    with pytest.raises(DownloadError, match=match):
        fetch(weight)


def test_a_swapped_hub_file_is_refused(hub: Server, safetensors_bytes: bytes) -> None:
    hub.add_hub_file("org/repo", REVISION, "model.safetensors", safetensors_bytes)
    got = fetch(hub_record(safetensors_bytes))
    other = safetensors_save({k: v + 1 for k, v in STATE.items()})
    got.path.resolve().write_bytes(other)  # the blob the snapshot links to
    with pytest.raises(ChecksumError) as caught:
        fetch(hub_record(safetensors_bytes))
    assert str(got.path) in str(caught.value) and sha(other) in str(caught.value)
    assert "zoo cache clear" in str(caught.value)


def test_hub_weights_without_a_digest_warn_with_their_actual_one(
    hub: Server, safetensors_bytes: bytes
) -> None:
    hub.add_hub_file("org/repo", REVISION, "model.safetensors", safetensors_bytes)
    with pytest.warns(UnverifiedWeightsWarning, match=sha(safetensors_bytes)):
        got = fetch(hub_record(None))
    assert got.sha256 == sha(safetensors_bytes) and got.commit == REVISION


def test_an_error_page_served_as_a_hub_file_without_digest_is_refused_at_load(
    hub: Server, safetensors_bytes: bytes
) -> None:
    """huggingface_hub caches what a mirror sends; without a digest, zoo checks it is a whole checkpoint."""
    hub.add_hub_file("org/repo", REVISION, "model.safetensors", b"<html><body>Quota exceeded</body></html>")
    with pytest.raises(CorruptCheckpointError, match="HTML") as caught:
        fetch(hub_record(None))
    assert "zoo cache clear" in str(caught.value) and "\n" not in str(caught.value)


# --- what zoo has in the caches ------------------------------------------------------------------------------


@pytest.fixture
def registered(hub: Server, pth_bytes: bytes, safetensors_bytes: bytes):
    """A plugin entry with one URL record and one Hub record, both served by the loopback server."""
    hub.routes["/weights/model.pth"] = Route(pth_bytes)
    hub.add_hub_file("org/repo", REVISION, "model.safetensors", safetensors_bytes)
    url_weights = replace(record(url=f"{hub.url}/weights/model.pth", sha256=sha(pth_bytes)), tag="pth")
    hub_weights = replace(hub_record(None), tag="hub")
    # Registered directly: register_model would (rightly) refuse the loopback's http:// URL.
    entry = ModelEntry("cachetest", "tiny", "test-cache", builder=lambda num_classes=2: None)
    zoo.REGISTRY.register(replace(entry, weights=(url_weights, hub_weights)))
    try:
        yield url_weights, hub_weights
    finally:
        zoo.REGISTRY.unregister("test-cache:cachetest-tiny")


def test_cache_list_verify_and_clear(
    registered, hub: Server, pth_bytes: bytes, safetensors_bytes: bytes
) -> None:
    url_weights, hub_weights = registered
    names = ["cachetest-tiny"]
    assert [(e.name, e.location, e.status) for e in cache_entries(names)] == [
        ("cachetest-tiny.pth", "torch.hub", "missing"),
        ("cachetest-tiny.hub", "huggingface", "missing"),
    ]
    fetch(url_weights)
    with pytest.warns(UnverifiedWeightsWarning):
        fetch(hub_weights)
    listed = {e.name: e for e in cache_entries(names)}
    assert listed["cachetest-tiny.pth"].status == "verified"
    assert listed["cachetest-tiny.pth"].sha256 == sha(pth_bytes)
    assert listed["cachetest-tiny.hub"].status == "unverified"
    assert listed["cachetest-tiny.hub"].commit == REVISION

    listed["cachetest-tiny.pth"].path.write_bytes(pth_bytes[:-1] + bytes([pth_bytes[-1] ^ 1]))
    checked = {e.name: e for e in verify_cached(names)}
    assert checked["cachetest-tiny.pth"].status == "mismatch"
    assert sha(pth_bytes) in checked["cachetest-tiny.pth"].detail
    assert checked["cachetest-tiny.hub"].status == "unverified"
    assert checked["cachetest-tiny.hub"].sha256 == sha(safetensors_bytes)

    assert set(clear_cached(["cachetest-tiny.pth"], dry_run=True)) == {checked["cachetest-tiny.pth"].path}
    assert checked["cachetest-tiny.pth"].path.exists()
    removed = clear_cached(names)
    assert checked["cachetest-tiny.pth"].path in removed
    assert {e.status for e in cache_entries(names)} == {"missing"}

    downloads = len(hub.paths())
    assert fetch(url_weights).sha256 == sha(pth_bytes)  # downloaded again, whole
    with pytest.warns(UnverifiedWeightsWarning):
        assert fetch(hub_weights).sha256 == sha(safetensors_bytes)
    assert len(hub.paths()) == downloads + 2


def test_verify_finds_a_corrupt_file_of_a_record_without_digest(registered) -> None:
    _, hub_weights = registered
    with pytest.warns(UnverifiedWeightsWarning):
        path = fetch(hub_weights).path
    path.resolve().write_bytes(b"<html>oops</html>")
    (entry,) = [e for e in verify_cached(["cachetest-tiny.hub"])]
    assert entry.status == "corrupt" and "HTML" in entry.detail
