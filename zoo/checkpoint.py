"""Reading checkpoint files: tensors only, and one clear error for every way a file can be unusable.

Three kinds of file are read: safetensors, ``torch.save``'s zip format and its legacy pickle format. The kind
is told from the file's first bytes, not from its name. torch files are read with
``torch.load(weights_only=True)``, so a pickle that would construct arbitrary objects is refused, never run.

Two errors, for two different situations:

- :class:`CorruptCheckpointError`: the file is not a whole checkpoint (empty, an HTML error page saved under a
  checkpoint's name, cut short by a lost connection, damaged). Deleting it and downloading it again fixes it.
- :class:`~zoo.errors.UnsafeCheckpointError`: a well-formed pickle that refers to code-running globals.

Nothing here imports torch at module level.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from zoo.errors import CheckpointNotFoundError, CorruptCheckpointError, UnsafeCheckpointError, ZooError

if TYPE_CHECKING:
    import torch

__all__ = [
    "CheckpointNotFoundError",
    "CorruptCheckpointError",
    "checkpoint_kind",
    "checkpoint_problem",
    "read_state_dict",
]

CheckpointKind = Literal["safetensors", "torch-zip", "torch-legacy"]

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = 0x80
# torch's unpickler names the offending global in its message ("... GLOBAL builtins.exec was not ...").
_GLOBAL_IN_MESSAGE = re.compile(r"GLOBAL ([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)")
# ...and what it could not read after this marker; the rest of its message is advice zoo must not repeat.
_UNPICKLER_REASON = re.compile(r"WeightsUnpickler error:\s*([^\n]+)")


def _describe_unknown(head: bytes) -> str:
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")):
        return "it is an HTML/XML page, not a checkpoint (a server's error page saved by a failed download?)"
    if text.startswith((b"{", b"[")):
        return "it is a JSON document, not a checkpoint"
    if all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        return f"it is a text file, not a checkpoint (it starts with {head[:32]!r})"
    return f"it is in no checkpoint format zoo knows (it starts with {head[:16]!r})"


def checkpoint_kind(path: str | os.PathLike[str]) -> CheckpointKind:
    """What kind of checkpoint ``path`` is, from its first bytes (its name is not trusted).

    Raises:
        CheckpointNotFoundError: there is no file at ``path``.
        CorruptCheckpointError: the file is empty or in no checkpoint format (an HTML page, text, noise).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as stream:
            head = stream.read(64)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as error:
        raise CheckpointNotFoundError(f"checkpoint {path} does not exist (or is not a file)") from error
    if not head:
        raise CorruptCheckpointError(path, "it is empty (0 bytes)")
    if head.startswith(_ZIP_MAGIC):
        return "torch-zip"
    if head[0] == _PICKLE_PROTO:
        return "torch-legacy"
    # safetensors: an 8-byte little-endian header length, then the JSON header.
    header_length = int.from_bytes(head[:8], "little")
    if len(head) > 8 and head[8:9] == b"{" and 2 <= header_length <= size - 8:
        return "safetensors"
    raise CorruptCheckpointError(path, _describe_unknown(head))


def checkpoint_problem(path: str | os.PathLike[str]) -> str | None:
    """What makes ``path`` unusable as a checkpoint, or ``None`` when it is a whole one.

    Cheap where the format allows it: a safetensors header is checked against the file's size, and every
    member of a torch zip file against its CRC, without loading a tensor or running the pickle. The legacy
    torch format has no such structure, so it is read (tensors only).

    Raises:
        CheckpointNotFoundError: there is no file at ``path``.
    """
    try:
        kind = checkpoint_kind(path)
        if kind == "safetensors":
            from safetensors import safe_open

            try:
                with safe_open(str(path), framework="pt"):
                    pass
            except Exception as error:
                return f"it is a damaged or truncated safetensors file ({error})"
        elif kind == "torch-zip":
            try:
                with zipfile.ZipFile(path) as archive:
                    damaged = archive.testzip()
                    names = archive.namelist()
            except Exception as error:  # BadZipFile, zlib.error, EOFError, OSError...
                return f"it is a truncated or damaged torch zip file ({error})"
            if damaged is not None:
                return f"its member {damaged!r} fails its CRC check (damaged)"
            if not any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
                return "it is a zip archive but not a torch checkpoint (it has no data.pkl)"
        else:
            read_state_dict(path)
    except CorruptCheckpointError as error:
        return error.reason
    return None


def _unsafe_globals(path: Path, kind: CheckpointKind, error: BaseException) -> list[str]:
    """The code-running globals a pickle refers to; empty when it is simply not a valid pickle."""
    if kind == "torch-zip":
        import torch

        try:
            return list(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
        except Exception:
            return []
    return _GLOBAL_IN_MESSAGE.findall(str(error))


def _torch_reason(error: BaseException) -> str:
    """The informative part of a torch.load error, without torch's advice to unpickle untrusted files."""
    text = str(error).strip()
    found = _UNPICKLER_REASON.search(text)
    reason = found.group(1).strip() if found else (text.splitlines()[0] if text else type(error).__name__)
    return reason.split(". Please")[0][:120]


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a checkpoint file into a ``{name: tensor}`` dict on the CPU, without ever running pickled code.

    safetensors files are read with :func:`safetensors.torch.load_file`; torch files with
    ``torch.load(path, map_location="cpu", weights_only=True)``. A training checkpoint wrapped as
    ``{"state_dict": {...}, ...}`` or ``{"model": {...}, ...}`` (exactly one of those two keys holding a dict,
    next to optional metadata such as ``epoch``) is unwrapped.

    Raises:
        CheckpointNotFoundError: there is no file at ``path``.
        CorruptCheckpointError: the file is not a whole checkpoint (empty, HTML, truncated, damaged).
        UnsafeCheckpointError: a well-formed pickle that refers to code-running globals; nothing from it runs.
        ZooError: the file holds something other than a dict of tensors (the message names the key).
    """
    path = Path(path)
    kind = checkpoint_kind(path)
    if kind == "safetensors":
        from safetensors.torch import load_file

        try:
            loaded: Any = load_file(str(path), device="cpu")
        except Exception as error:
            raise CorruptCheckpointError(
                path, f"it is a damaged or truncated safetensors file ({error})"
            ) from None
        return _as_state_dict(loaded, path)

    import torch

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        unsafe = _unsafe_globals(path, kind, error)
        if unsafe:
            raise UnsafeCheckpointError(
                f"{path} holds Python objects that would run code when unpickled (it refers to "
                f"{', '.join(unsafe)}); zoo loads tensors only and ran none of it. If you made this file, "
                f"save the tensors alone: torch.save(model.state_dict(), 'weights.pth') or "
                f"safetensors.torch.save_file(model.state_dict(), 'weights.safetensors')"
            ) from None
        raise CorruptCheckpointError(path, f"its pickle is damaged ({_torch_reason(error)})") from None
    except Exception as error:  # miniz's RuntimeError for a truncated zip, EOFError, ...
        raise CorruptCheckpointError(path, f"torch cannot read it ({_torch_reason(error)})") from None
    return _as_state_dict(loaded, path)


def _as_state_dict(loaded: Any, path: Path) -> dict[str, torch.Tensor]:
    import torch

    if not isinstance(loaded, dict):
        raise ZooError(f"{path} holds a {type(loaded).__name__}, not a dict of tensors")
    wrappers = [key for key in ("state_dict", "model") if isinstance(loaded.get(key), dict)]
    if len(wrappers) == 1 and not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        loaded = loaded[wrappers[0]]
    for key, value in loaded.items():
        if not isinstance(key, str):
            raise ZooError(f"{path} has a non-string key {key!r}; expected a dict of name -> tensor")
        if not isinstance(value, torch.Tensor):
            raise ZooError(
                f"{path} holds a {type(value).__name__} at key {key!r}, not a tensor; "
                f"expected a dict of name -> tensor"
            )
    return dict(loaded)
