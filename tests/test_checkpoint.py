"""zoo.checkpoint: tensors only, and one clear error for each way a file can be unusable."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as safetensors_save

from zoo.checkpoint import (
    CheckpointNotFoundError,
    CorruptCheckpointError,
    checkpoint_kind,
    checkpoint_problem,
    read_state_dict,
)
from zoo.errors import UnsafeCheckpointError, ZooError

STATE = {"conv.weight": torch.arange(24, dtype=torch.float32).reshape(2, 3, 2, 2), "conv.bias": torch.ones(2)}


def torch_bytes(obj: object, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, **kwargs)
    return buffer.getvalue()


def assert_same_tensors(loaded: dict[str, torch.Tensor]) -> None:
    assert loaded.keys() == STATE.keys()
    for key, tensor in STATE.items():
        assert torch.equal(loaded[key], tensor)


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("a.pth", torch_bytes(STATE), "torch-zip"),
        ("a.safetensors", safetensors_save(STATE), "safetensors"),
        ("legacy.pth", torch_bytes(STATE, _use_new_zipfile_serialization=False), "torch-legacy"),
        ("misnamed.pth", safetensors_save(STATE), "safetensors"),  # the content decides, not the name
    ],
)
def test_every_checkpoint_kind_round_trips(tmp_path: Path, name: str, data: bytes, kind: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert checkpoint_kind(path) == kind
    assert checkpoint_problem(path) is None
    assert_same_tensors(read_state_dict(str(path)))


@pytest.mark.parametrize("wrapper", ["state_dict", "model"])
def test_training_checkpoints_are_unwrapped(tmp_path: Path, wrapper: str) -> None:
    path = tmp_path / "ckpt.pth"
    torch.save({wrapper: STATE, "meta": {"epoch": 3, "name": "run"}}, path)
    assert_same_tensors(read_state_dict(path))


def damaged_zip_member(data: bytes) -> bytes:
    """``data`` (a torch zip) with one byte of a stored tensor flipped: whole, but failing its CRC."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        member = next(info for info in archive.infolist() if "/data/" in info.filename)
    local = member.header_offset  # the local header's own name and extra lengths (torch pads the extra)
    start = local + 30 + int.from_bytes(data[local + 26 : local + 28], "little")
    start += int.from_bytes(data[local + 28 : local + 30], "little")
    return data[:start] + bytes([data[start] ^ 0xFF]) + data[start + 1 :]


CORRUPT = {
    "empty": (b"", "empty"),
    "html": (b"<!DOCTYPE html>\n<html><body>502 Bad Gateway</body></html>", "HTML"),
    "text": (b"Access denied\n", "text file"),
    "noise": (bytes(range(7, 256)), "no checkpoint format"),
    "truncated zip": (torch_bytes(STATE)[:600], "truncated"),
    "truncated safetensors": (safetensors_save(STATE)[:-8], "truncated"),
    "damaged zip": (damaged_zip_member(torch_bytes(STATE)), "CRC"),
    "truncated legacy": (torch_bytes(STATE, _use_new_zipfile_serialization=False)[:300], "damaged"),
}


@pytest.mark.parametrize("case", list(CORRUPT))
def test_a_file_that_is_not_a_whole_checkpoint_is_one_clear_error(tmp_path: Path, case: str) -> None:
    data, reason = CORRUPT[case]
    path = tmp_path / "model.pth"
    path.write_bytes(data)

    problem = checkpoint_problem(path)
    assert problem is not None and reason in problem
    if case != "damaged zip":  # only the CRC check sees that one: torch.load reads the flipped byte
        with pytest.raises(CorruptCheckpointError) as caught:
            read_state_dict(path)
        message = str(caught.value)
        assert str(path) in message and "Delete it and download it again" in message
        assert "weights_only" not in message and "\n" not in message
        assert not isinstance(caught.value, UnsafeCheckpointError)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CheckpointNotFoundError, match="missing.pth") as caught:
        read_state_dict(tmp_path / "missing.pth")
    assert isinstance(caught.value, FileNotFoundError) and isinstance(caught.value, ZooError)


class Evil:
    """Unpickling this creates a marker file: proof that the pickle ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("zip_format", [True, False])
def test_code_in_a_pickle_is_refused_and_never_run(tmp_path: Path, zip_format: bool) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pth"
    torch.save({"x": Evil(marker)}, path, _use_new_zipfile_serialization=zip_format)

    with pytest.raises(UnsafeCheckpointError) as caught:
        read_state_dict(path)
    message = str(caught.value)
    assert str(path) in message and "open" in message
    assert "weights_only=False" not in message, "never advise unpickling an untrusted file"
    assert not marker.exists()

    # The payload is real: an unsafe load does run it.
    loaded = torch.load(path, weights_only=False)
    loaded["x"].close()
    assert marker.exists()


def test_a_non_tensor_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "mixed.pth"
    torch.save({"conv.weight": torch.zeros(1), "epoch": 7}, path)
    with pytest.raises(ZooError, match="'epoch'") as caught:
        read_state_dict(path)
    assert str(path) in str(caught.value)
    assert not isinstance(caught.value, (UnsafeCheckpointError, CorruptCheckpointError))


def test_a_non_dict_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), path)
    with pytest.raises(ZooError, match="not a dict"):
        read_state_dict(path)


def test_importing_checkpoint_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, zoo.checkpoint; sys.exit('torch' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    assert subprocess.run([sys.executable, "-c", code], cwd=root, timeout=120).returncode == 0
