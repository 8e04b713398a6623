"""Download, cache, verify and safely read pretrained checkpoints.

A weight is fetched once into the cache (``$ZOO_CACHE``, else the platform's user cache folder) and read from
there afterwards without touching the network. Downloads are streamed into a hidden ``.part`` file next to
their destination, hashed while they are written, and moved into place atomically only after every check
passed, so the cache never holds a partial or unverified file under its final name.

Checkpoints are read as tensors only: safetensors, or ``torch.load(..., weights_only=True)``. A pickle that
would build arbitrary Python objects (and so could run code) is refused, never executed.

Nothing here imports torch at module level: ``import zoo.hub`` stays cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import pickle
import re
import secrets
import ssl
import sys
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import platformdirs

from zoo.errors import (
    ChecksumError,
    DownloadError,
    OfflineError,
    UnsafeCheckpointError,
    UnverifiedWeightsWarning,
    ZooError,
)
from zoo.weights import WeightRecord

if TYPE_CHECKING:
    import torch

__all__ = [
    "ChecksumError",
    "DownloadError",
    "OfflineError",
    "UnsafeCheckpointError",
    "UnverifiedWeightsWarning",
    "cache_dir",
    "cache_path",
    "download",
    "fetch",
    "hf_url",
    "is_offline",
    "read_state_dict",
]

DEFAULT_HF_ENDPOINT = "https://huggingface.co"

_CHUNK = 1 << 20
# Below this, a bar would flash for a fraction of a second and only clutter logs.
_PROGRESS_MIN_BYTES = 10 << 20
# Generous, because it bounds each socket operation (connect, one read), not the whole transfer.
_TIMEOUT_S = 60.0
_TRUTHY = {"1", "true", "yes", "on"}
_SHA256_ARG = re.compile(r"^[0-9a-fA-F]{8,64}$")


class _HostUnreachableError(OfflineError):
    """The server could not be reached at all; :func:`fetch` turns this into a message about the cache."""

    def __init__(self, url: str, reason: object) -> None:
        self.url = url
        self.host = urlsplit(url).netloc or url
        self.reason = reason
        super().__init__(f"could not reach {self.host} ({reason}) to download {url}")


def cache_dir() -> Path:
    """The root of zoo's cache: ``$ZOO_CACHE`` if set (read at each call), else ``user_cache_dir("zoo")``."""
    configured = os.environ.get("ZOO_CACHE")
    return Path(configured).expanduser() if configured else Path(platformdirs.user_cache_dir("zoo"))


def cache_path(record: WeightRecord) -> Path:
    """Where ``record``'s file lives in the cache, whether or not it is there yet.

    URL weights: ``cache_dir()/weights/<filename>``. Hugging Face Hub weights:
    ``cache_dir()/hf/<org>--<repo>/<revision>/<hf_filename>`` (``hf_filename`` may contain folders).

    Raises:
        ZooError: the record has no source, or a name that would escape the cache folder.
    """
    if record.url:
        parts = ["weights", record.filename]
    elif record.hf_repo and record.hf_revision and record.hf_filename:
        parts = ["hf", record.hf_repo.replace("/", "--"), record.hf_revision, *record.hf_filename.split("/")]
    else:
        raise ZooError(f"weight {record.tag!r} has neither a url nor hf_repo + hf_revision + hf_filename")
    # Names come from registry records and plugins; refuse anything that could point outside the cache.
    for part in parts:
        if part in ("", ".", "..") or "\\" in part or Path(part).is_absolute():
            raise ZooError(f"weight {record.source!r} has an unusable file name {part!r} for the cache")
    return cache_dir().joinpath(*parts)


def is_offline() -> bool:
    """Whether ``$ZOO_OFFLINE`` is one of ``1``, ``true``, ``yes``, ``on`` (any case), read at each call."""
    return os.environ.get("ZOO_OFFLINE", "").strip().lower() in _TRUTHY


def _hf_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_HF_ENDPOINT).rstrip("/")


def hf_url(record: WeightRecord) -> str:
    """The download URL of a Hub weight: ``{endpoint}/{repo}/resolve/{revision}/{filename}``.

    ``endpoint`` is ``$HF_ENDPOINT`` (read at each call, trailing ``/`` removed) or ``https://huggingface.co``.
    The revision and filename are percent-encoded as the Hub expects (a no-op for commit hashes and plain
    file names); the filename keeps its ``/`` separators.

    Raises:
        ZooError: the record is not a Hub weight.
    """
    if not (record.hf_repo and record.hf_revision and record.hf_filename):
        raise ZooError(f"weight {record.source!r} is not a Hugging Face Hub weight")
    revision = quote(record.hf_revision, safe="")
    return f"{_hf_endpoint()}/{record.hf_repo}/resolve/{revision}/{quote(record.hf_filename)}"


def fetch(record: WeightRecord, *, progress: bool | None = None) -> Path:
    """The local path of ``record``'s checkpoint, downloading and verifying it first if it is not cached.

    A cached file is returned as is, without any network access (it was verified when it was downloaded,
    or placed there by hand). Otherwise the file is downloaded with :func:`download` to :func:`cache_path`,
    checked against ``record.sha256`` (full digest or published prefix) and ``record.file_size``.

    Args:
        record: the weight to fetch.
        progress: show a progress bar (``True``), never (``False``), or only for large downloads to a
            terminal (``None``).

    Raises:
        OfflineError: the file is not cached and ``ZOO_OFFLINE`` is set, or the server cannot be reached.
        DownloadError: the server answered with an error or the transfer was cut short.
        ChecksumError: the downloaded file is not the published one.

    Warns:
        UnverifiedWeightsWarning: the record has no sha256, so the download cannot be verified.
    """
    dest = cache_path(record)
    if dest.is_file():
        return dest
    if is_offline():
        raise OfflineError(
            f"{record.source} is not in the cache and ZOO_OFFLINE is set, so it will not be downloaded.\n"
            f"  expected at: {dest}\n"
            f"  copy the file to that path, or unset ZOO_OFFLINE to download it"
        )
    url = record.url or hf_url(record)
    if record.sha256 is None:
        warnings.warn(
            f"{record.source} has no published sha256: the download cannot be verified",
            UnverifiedWeightsWarning,
            stacklevel=2,
        )
    try:
        return download(url, dest, sha256=record.sha256, size=record.file_size, progress=progress)
    except _HostUnreachableError as error:
        raise OfflineError(
            f"could not reach {error.host} ({error.reason}) to download {record.source}, "
            f"and the file is not in the cache at {dest}.\n"
            f"  connect to the network and retry, or copy the file to that path"
        ) from error


def _user_agent() -> str:
    version = getattr(sys.modules.get("zoo"), "__version__", None)
    if version is None:
        from importlib import metadata

        try:
            version = metadata.version("zoo")
        except metadata.PackageNotFoundError:
            version = "unknown"
    return f"zoo/{version}"


def _is_hub_url(url: str) -> bool:
    return url.startswith(_hf_endpoint() + "/")


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows redirects, keeping the Hub token only while they stay on the same scheme and host.

    The token is added as an *unredirected* header so that urllib never copies it on its own: the Hub
    answers LFS files with a redirect to a CDN on another host, which must not receive the user's token.
    Same-host redirects (renamed repositories, resolve-cache paths) still need it for private repositories.
    """

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[override]
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        token = req.unredirected_hdrs.get("Authorization")
        if new is not None and token is not None:
            old, target = urlsplit(req.full_url), urlsplit(new.full_url)
            if (old.scheme, old.netloc.lower()) == (target.scheme, target.netloc.lower()):
                new.add_unredirected_header("Authorization", token)
        return new


def _open(url: str) -> http.client.HTTPResponse:
    request = urllib.request.Request(url, headers={"User-Agent": _user_agent()})
    token = os.environ.get("HF_TOKEN")
    if token and _is_hub_url(url):
        request.add_unredirected_header("Authorization", f"Bearer {token}")
    # A fresh opener per call, so that proxy variables are read when the download happens.
    opener = urllib.request.build_opener(_RedirectHandler)
    try:
        return opener.open(request, timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as error:
        error.close()
        hint = ""
        if error.code in (401, 403) and _is_hub_url(url):
            hint = " (a gated or private repository needs an access token in $HF_TOKEN)"
        if error.url and error.url != url:
            hint += f" (redirected to {error.url})"
        raise DownloadError(f"HTTP {error.code} {error.reason} for {url}{hint}") from None
    except urllib.error.URLError as error:
        # A certificate problem is not "offline": saying so would send the user looking in the wrong place.
        if isinstance(error.reason, ssl.SSLError):
            raise DownloadError(f"TLS error talking to {urlsplit(url).netloc}: {error.reason}") from error
        if isinstance(error.reason, OSError):
            raise _HostUnreachableError(url, error.reason) from error
        raise DownloadError(f"cannot download {url}: {error.reason}") from error
    except (TimeoutError, ConnectionError) as error:
        # urllib lets these through unwrapped when they happen while waiting for the response headers.
        raise _HostUnreachableError(url, error) from error


def _progress_bar(label: str, total: int | None) -> tuple[Any, Any]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    return bar, bar.add_task(label, total=total)


def _copy(response: IO[bytes], out: IO[bytes], bar: Any, task: Any) -> tuple[int, str, bool]:
    """Copy ``response`` to ``out``; returns (bytes received, sha256 hex, whether the stream ended early)."""
    digest = hashlib.sha256()
    received = 0
    while True:
        try:
            chunk = response.read(_CHUNK)
        except http.client.IncompleteRead as error:
            chunk, cut = error.partial, True
        else:
            cut = False
        out.write(chunk)
        digest.update(chunk)
        received += len(chunk)
        if bar is not None:
            bar.update(task, advance=len(chunk))
        if cut or not chunk:
            return received, digest.hexdigest(), cut


def download(
    url: str,
    dest: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    size: int | None = None,
    progress: bool | None = None,
) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying it on the way; returns ``dest`` as a Path.

    The body is streamed in 1 MiB chunks into a hidden temporary file in ``dest``'s folder
    (``.<name>.<pid>.<random>.part``) and hashed while it is written. Only after every check passed is the
    temporary file renamed onto ``dest`` with :func:`os.replace`, so ``dest`` either does not exist or is
    complete and verified; the temporary file is removed on every failure. Redirects are followed. Requests
    send ``User-Agent: zoo/<version>``, and ``Authorization: Bearer $HF_TOKEN`` when ``url`` is on the
    ``$HF_ENDPOINT`` Hub and ``HF_TOKEN`` is set (never forwarded to a redirect on another host).

    Args:
        url: what to download.
        dest: the final path; its folder is created if needed.
        sha256: the expected digest, full (64 hex digits) or a prefix of at least 8; ``None`` skips the check.
        size: the expected size in bytes, or ``None``.
        progress: show a transient rich progress bar on stderr (``True``), never (``False``), or when the
            size is known, above 10 MiB, and stderr is a terminal (``None``).

    Raises:
        ValueError: ``sha256`` is not 8 to 64 hex digits.
        OfflineError: the host cannot be reached (DNS failure, connection refused, timeout).
        DownloadError: an HTTP error status, a transfer shorter than its Content-Length, a connection lost
            mid-transfer, or a size other than ``size``.
        ChecksumError: the sha256 of the received bytes does not start with ``sha256``.
    """
    dest = Path(dest)
    if sha256 is not None and not _SHA256_ARG.match(sha256):
        # An empty or very short prefix would make every file "match": refuse it rather than verify nothing.
        raise ValueError(f"sha256 {sha256!r} is not 8 to 64 hex digits")
    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = dest.parent / f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.part"
    try:
        with contextlib.closing(_open(url)) as response:
            header = response.headers.get("Content-Length", "")
            length = int(header) if header.strip().isdigit() else None
            total = length if length is not None else size
            show = progress
            if show is None:
                show = total is not None and total > _PROGRESS_MIN_BYTES and sys.stderr.isatty()
            bar, task = _progress_bar(dest.name, total) if show else (None, None)
            # "xb": the name is meant to be unique, so an existing file means something else owns it.
            with bar if bar is not None else contextlib.nullcontext(), open(temp, "xb") as out:
                try:
                    received, digest, cut = _copy(response, out, bar, task)
                except (TimeoutError, ConnectionError) as error:
                    raise DownloadError(f"connection lost while downloading {url}: {error}") from error
        if cut or (length is not None and received != length):
            expected = f"{length}" if length is not None else "an unknown number of"
            raise DownloadError(f"truncated transfer: got {received} of {expected} bytes from {url}")
        if sha256 is not None and not digest.startswith(sha256.lower()):
            kind = "sha256" if len(sha256) == 64 else "sha256 starting with"
            raise ChecksumError(
                f"checksum mismatch for {dest.name} downloaded from {url}:\n"
                f"  expected {kind} {sha256.lower()}\n"
                f"  got      sha256 {digest}\n"
                f"  the downloaded file was deleted (the server may hold another file than the one published)"
            )
        if size is not None and received != size:
            raise ChecksumError(
                f"size mismatch for {dest.name} downloaded from {url}: expected {size} bytes, "
                f"got {received}; the downloaded file was deleted"
            )
        os.replace(temp, dest)
    finally:
        # After a successful os.replace the temp name no longer exists, so this only cleans up failures.
        temp.unlink(missing_ok=True)
    return dest


def _unsafe_detail(error: BaseException) -> str:
    found = re.search(r"GLOBAL ([\w.]+)", str(error))
    return f" (it refers to {found.group(1)})" if found else ""


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a checkpoint file into a ``{name: tensor}`` dict on the CPU, without ever running pickled code.

    ``.safetensors`` files are read with :func:`safetensors.torch.load_file`; anything else with
    ``torch.load(path, map_location="cpu", weights_only=True)``. A checkpoint wrapped as
    ``{"state_dict": {...}, ...}`` or ``{"model": {...}, ...}`` (exactly one of those two keys holding a dict,
    next to optional metadata such as ``meta`` or ``epoch``) is unwrapped.

    Raises:
        UnsafeCheckpointError: the file holds Python objects other than tensors and plain containers, which
            unpickling would construct by running code; nothing from it is executed.
        ZooError: the file does not hold a dict of tensors (the message names the offending key).
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        loaded: Any = load_file(str(path), device="cpu")
    else:
        import torch

        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            if not isinstance(error, pickle.UnpicklingError) and "weights_only" not in str(error):
                raise
            raise UnsafeCheckpointError(
                f"{path} holds Python objects that would run code when unpickled{_unsafe_detail(error)}; "
                f"zoo only loads tensors (torch.load with weights_only=True) or safetensors files. "
                f"If you trust its source, re-save just its tensors: "
                f"torch.save(torch.load(path, weights_only=False)['state_dict'], 'clean.pth')"
            ) from error
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
