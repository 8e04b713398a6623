"""Pretrained weights through the libraries made for them, verified by zoo at every load.

- Hugging Face Hub records are fetched with :func:`huggingface_hub.hf_hub_download` (the record's revision,
  ``library_name="zoo"``): the Hugging Face cache (``$HF_HOME``, ``$HF_HUB_CACHE``), ``$HF_ENDPOINT``,
  ``$HF_HUB_OFFLINE``, the token of ``hf auth login`` or ``$HF_TOKEN``, resumed transfers and cross-process
  locks all come from huggingface_hub, and a file another library already fetched is not fetched again.
- URL records are fetched with :func:`torch.hub.download_url_to_file` into ``torch.hub.get_dir()/checkpoints``
  (``$TORCH_HOME/hub/checkpoints``), the folder torchvision uses, under a file lock so that the ranks of a
  ``torchrun`` job download a file once.
- ``ZOO_OFFLINE=1`` downloads nothing: Hub files are looked up with ``local_files_only=True``, URL files only
  in torch.hub's folder.

What zoo adds: every file is checked against its record's sha256 (full, or the prefix its publisher made known)
and size *at every load*, not only when it is downloaded, so a file swapped or damaged in a cache is refused.
Hashing is paid once per file version: the digest of a file is remembered in zoo's digest index
(``$ZOO_CACHE/digests``), with the file's size, mtime, ctime and inode, and recomputed only when one of those
changed. A record without a digest is loaded with an :class:`~zoo.errors.UnverifiedWeightsWarning` naming the
file's actual sha256, which is what :class:`WeightsFile` (``model.zoo_weights_file``) records, once the file is
found to be a whole checkpoint (not a cut transfer or an error page).

Nothing here imports torch or huggingface_hub at module level: ``import zoo.hub`` stays cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import secrets
import ssl
import sys
import urllib.error
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import platformdirs

from zoo.checkpoint import CorruptCheckpointError, checkpoint_problem
from zoo.errors import (
    ChecksumError,
    DownloadError,
    OfflineError,
    UnverifiedWeightsWarning,
    ZooError,
)
from zoo.weights import WeightRecord, is_safe_relative_path

__all__ = [
    "CachedWeights",
    "WeightsFile",
    "cache_dir",
    "cache_entries",
    "clear_cached",
    "fetch",
    "file_sha256",
    "is_offline",
    "torch_hub_path",
    "verify_cached",
]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
_TRUTHY = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class WeightsFile:
    """The file a model's weights were read from, as it was when read.

    Attributes:
        path: the file (for Hub files, the snapshot path huggingface_hub returned).
        sha256: the full sha256 of its bytes, whatever its record published.
        commit: the Hub commit the file was resolved to; ``None`` for URL records and local checkpoints.
        source: the record's source (URL or ``hf://repo@revision/file``), or the checkpoint path as given.
    """

    path: Path
    sha256: str
    commit: str | None
    source: str


def cache_dir() -> Path:
    """zoo's own cache folder: ``$ZOO_CACHE`` if set (read at each call), else ``user_cache_dir("zoo")``.

    It holds only the digest index: the weights themselves live in huggingface_hub's and torch.hub's caches.
    """
    configured = os.environ.get("ZOO_CACHE")
    return Path(configured).expanduser() if configured else Path(platformdirs.user_cache_dir("zoo"))


def is_offline() -> bool:
    """Whether ``$ZOO_OFFLINE`` is one of ``1``, ``true``, ``yes``, ``on`` (any case), read at each call."""
    return os.environ.get("ZOO_OFFLINE", "").strip().lower() in _TRUTHY


# --- digests, remembered per file version -------------------------------------------------------------------


def _stamp(stat: os.stat_result) -> list[int]:
    # ctime cannot be set by a user (unlike mtime, which cp -p and shutil.copy2 preserve): together with the
    # inode it changes whenever the file is rewritten or replaced.
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


def _index_path(real: Path) -> Path:
    return cache_dir() / "digests" / f"{hashlib.sha256(str(real).encode()).hexdigest()[:32]}.json"


def _remember(real: Path, digest: str, stat: os.stat_result) -> None:
    entry = _index_path(real)
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        temp = entry.with_name(f".{entry.name}.{secrets.token_hex(4)}.tmp")
        temp.write_text(json.dumps({"path": str(real), "stamp": _stamp(stat), "sha256": digest}))
        os.replace(temp, entry)
    except OSError as error:  # a read-only cache only costs hashing again next time
        logger.debug("could not remember the digest of %s in %s: %s", real, entry, error)


def _remembered(real: Path, stat: os.stat_result) -> str | None:
    try:
        entry = json.loads(_index_path(real).read_text())
    except (OSError, ValueError):
        return None
    if entry.get("path") == str(real) and entry.get("stamp") == _stamp(stat):
        return entry.get("sha256")
    return None


def file_sha256(path: str | os.PathLike[str], *, rehash: bool = False) -> str:
    """The full sha256 of the file at ``path`` (symbolic links followed), hashed only if it changed.

    The digest is remembered with the file's size, mtime, ctime and inode, and returned without reading the
    file while all four are unchanged.

    Args:
        path: the file.
        rehash: read and hash the file even if its digest is remembered.
    """
    real = Path(path).resolve()
    before = real.stat()
    if not rehash:
        known = _remembered(real, before)
        if known is not None:
            return known
    digest = _hash(real)
    if _stamp(real.stat()) == _stamp(before):  # not written to while it was read
        _remember(real, digest, before)
    return digest


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- where files live ---------------------------------------------------------------------------------------


def _check_names(record: WeightRecord) -> None:
    """Refuse a record whose names would put a file outside the caches (revision ``../..``, odd file names)."""
    if record.url:
        if record.filename in ("", ".", "..") or "\\" in record.filename:
            raise ZooError(f"weights {record.tag!r}: URL {record.url!r} does not end in a usable file name")
        return
    if not (record.hf_repo and record.hf_revision and record.hf_filename):
        raise ZooError(f"weights {record.tag!r} have neither a url nor hf_repo + hf_revision + hf_filename")
    for label, value in (("revision", record.hf_revision), ("file name", record.hf_filename)):
        if not is_safe_relative_path(value):
            raise ZooError(
                f"weights {record.source!r}: Hub {label} {value!r} would point outside the cache "
                f"(absolute, '..', '\\' or empty part); fix the record"
            )


def torch_hub_path(record: WeightRecord) -> Path:
    """Where a URL record's file lives in torch.hub's cache, whether or not it is there yet.

    torch.hub names a cached file after the URL's last part, so two URLs ending in the same name would share
    one file. That is sound only when the name identifies the content, which is torch.hub's own convention
    (``name-<sha256 prefix>.ext``, as in torchvision's ``deeplabv3_resnet101_coco-586e9e4e.pth``): a record
    whose file name carries a prefix of its sha256 uses ``get_dir()/checkpoints/<name>``, shared with
    torchvision. Any other file goes to ``get_dir()/checkpoints/zoo/<first 16 hex of sha256(url)>/<name>``.

    Raises:
        ZooError: the record is not a URL record, or its URL does not end in a usable file name.
    """
    import torch.hub

    if not record.url:
        raise ZooError(f"weights {record.source!r} are not fetched from a URL")
    _check_names(record)
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    named = torch.hub.HASH_REGEX.search(record.filename)
    prefix = named.group(1) if named else ""
    if (
        len(prefix) >= 8
        and record.sha256
        and (record.sha256.startswith(prefix) or prefix.startswith(record.sha256))
    ):
        return checkpoints / record.filename
    return checkpoints / "zoo" / hashlib.sha256(record.url.encode()).hexdigest()[:16] / record.filename


def _library_version() -> str:
    return getattr(sys.modules.get("zoo"), "__version__", "unknown")


# --- fetching -----------------------------------------------------------------------------------------------


def fetch(record: WeightRecord, *, progress: bool | None = None) -> WeightsFile:
    """The verified local file of ``record``, downloaded through huggingface_hub or torch.hub if needed.

    A cached file is used without a download; either way it is checked against ``record.sha256`` and
    ``record.file_size`` before it is returned (its digest is computed once per file version, see
    :func:`file_sha256`).

    Args:
        record: the weights to fetch.
        progress: torch.hub's download bar: shown (``True``), never (``False``) or when stderr is a terminal
            (``None``). Hub downloads follow huggingface_hub's own setting (``HF_HUB_DISABLE_PROGRESS_BARS``).

    Returns:
        The file, its full sha256, and for Hub files the commit it was resolved to.

    Raises:
        OfflineError: the file is not cached and ``ZOO_OFFLINE``/``HF_HUB_OFFLINE`` is set, or the server
            cannot be reached.
        DownloadError: the server answered with an error (missing file, gated or private repository), or
            what it sent is not a whole checkpoint (a truncated transfer, an HTML page); nothing is cached.
        ChecksumError: the file (downloaded now or cached before) is not the one the record names: the
            message names it, the expected and the actual digest.

    Warns:
        UnverifiedWeightsWarning: the record has no sha256; the message gives the file's actual one.
    """
    _check_names(record)
    if record.url:
        path, commit = _fetch_url(record, progress), None
    else:
        path, commit = _fetch_hub(record)
    return _verified(record, path, commit)


def _verified(record: WeightRecord, path: Path, commit: str | None) -> WeightsFile:
    actual = file_sha256(path)
    if record.sha256 is not None and not actual.startswith(record.sha256):
        kind = "sha256" if len(record.sha256) == 64 else "sha256 starting with"
        raise ChecksumError(
            f"{path} is not the file {record.source} names: expected {kind} {record.sha256}, got {actual}; "
            f"zoo refuses it. {_removal_hint(record)}"
        )
    size = path.stat().st_size
    if record.file_size is not None and size != record.file_size:
        raise ChecksumError(
            f"{path} has {size} bytes but {record.source} has {record.file_size}; zoo refuses it. "
            f"{_removal_hint(record)}"
        )
    if record.sha256 is None:
        # Nothing says what the file should be: at least it must be a whole checkpoint, not a cut transfer or
        # an error page that a mirror served with the right headers (cheap for safetensors: a header check).
        problem = checkpoint_problem(path)
        if problem:
            raise CorruptCheckpointError(
                path, f"{problem} ({record.source} has no digest)", _removal_hint(record)
            )
        warnings.warn(
            f"{record.source} has no published sha256, so nothing verifies it: loaded {path} whose sha256 is "
            f"{actual}",
            UnverifiedWeightsWarning,
            stacklevel=3,
        )
    return WeightsFile(path=path, sha256=actual, commit=commit, source=record.source)


def _removal_hint(record: WeightRecord) -> str:
    if record.url:
        return "Delete the file and it is downloaded again"
    # The snapshot entry is a link to a blob named by its etag: deleting the link alone, huggingface_hub
    # would link the same blob again.
    return (
        "Remove it with `zoo cache clear` (zoo.hub.clear_cached), which deletes the blob too, to download it "
        "again"
    )


def _fetch_url(record: WeightRecord, progress: bool | None) -> Path:
    import torch.hub
    from filelock import FileLock

    dest = torch_hub_path(record)
    if dest.is_file():
        return dest
    if is_offline():
        raise OfflineError(
            f"{record.source} is not in torch.hub's cache and ZOO_OFFLINE is set, so it is not downloaded: "
            f"copy the file to {dest}, or unset ZOO_OFFLINE"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    # One download per file across processes (torchrun ranks, parallel jobs on a shared $TORCH_HOME); the
    # locks live apart from the checkpoints, as huggingface_hub's do in its cache's .locks folder.
    locks = Path(torch.hub.get_dir()) / "checkpoints" / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with FileLock(str(locks / f"{hashlib.sha256(str(dest).encode()).hexdigest()[:16]}.lock")):
        if dest.is_file():
            return dest
        temp = dest.parent / f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.download"
        try:
            _download_url(record, temp, dest, progress)
            digest = _hash(temp)
            _accept_download(record, temp, digest)
            os.replace(temp, dest)
            _remember(dest.resolve(), digest, dest.stat())
        finally:
            temp.unlink(missing_ok=True)  # after os.replace the name is gone: this only cleans up failures
    return dest


def _download_url(record: WeightRecord, temp: Path, dest: Path, progress: bool | None) -> None:
    import torch.hub

    url = record.url or ""
    show = sys.stderr.isatty() if progress is None else progress
    logger.info("downloading %s to %s", url, dest)
    try:
        torch.hub.download_url_to_file(url, str(temp), hash_prefix=None, progress=show)
    except urllib.error.HTTPError as error:
        error.close()
        raise DownloadError(f"HTTP {error.code} {error.reason} for {url}; nothing was cached") from None
    except urllib.error.URLError as error:
        # A certificate problem is not "offline": saying so would send the user looking in the wrong place.
        if isinstance(error.reason, ssl.SSLError):
            raise DownloadError(f"TLS error talking to {urlsplit(url).netloc}: {error.reason}") from error
        raise OfflineError(
            f"could not reach {urlsplit(url).netloc} ({error.reason}) to download {url}, and the file is not "
            f"in torch.hub's cache at {dest}: connect and retry, or copy the file there"
        ) from error
    except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
        raise DownloadError(
            f"connection lost while downloading {url} ({error}); nothing was cached"
        ) from error
    except OSError as error:  # a full disk, a read-only $TORCH_HOME
        raise DownloadError(f"could not write {url} next to {dest}: {error}") from error


def _accept_download(record: WeightRecord, temp: Path, digest: str) -> None:
    """Refuse what torch.hub received unless it is the record's file, or (no digest) a whole checkpoint.

    torch.hub compares neither the received length with Content-Length nor the content with anything but an
    optional prefix, so a cut transfer or an HTML error page would otherwise be cached under the final name.
    """
    url = record.url
    size = temp.stat().st_size
    if record.sha256 is not None and not digest.startswith(record.sha256):
        problem = checkpoint_problem(temp)
        what = f"not a whole checkpoint ({problem})" if problem else "another file than the one published"
        kind = "sha256" if len(record.sha256) == 64 else "sha256 starting with"
        raise ChecksumError(
            f"checksum mismatch for {record.filename} downloaded from {url}: expected {kind} {record.sha256}, "
            f"got {digest} ({size} bytes): the server sent {what}; it was deleted, nothing was cached"
        )
    if record.file_size is not None and size != record.file_size:
        raise ChecksumError(
            f"size mismatch for {record.filename} downloaded from {url}: expected {record.file_size} bytes, "
            f"got {size} (a cut transfer?); it was deleted, nothing was cached"
        )
    if record.sha256 is None:
        problem = checkpoint_problem(temp)
        if problem:
            raise DownloadError(
                f"what {url} sent ({size} bytes) is not a whole checkpoint: {problem}; it was deleted, "
                f"nothing was cached"
            )


def _hf_offline_reason() -> str | None:
    from huggingface_hub import constants

    if is_offline():
        return "ZOO_OFFLINE is set"
    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    return None


def _fetch_hub(record: WeightRecord) -> tuple[Path, str]:
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub import errors as hf_errors

    repo, revision, filename = record.hf_repo or "", record.hf_revision or "", record.hf_filename or ""
    # huggingface_hub reads HF_ENDPOINT once, at import; zoo reads it at each call (like ZOO_OFFLINE), so a
    # process that sets it later (a notebook, a test) reaches the endpoint it asked for.
    endpoint = os.environ.get("HF_ENDPOINT", "").rstrip("/") or None
    where = f"the Hugging Face cache ({constants.HF_HUB_CACHE})"
    get_it = (
        f"`hf download {repo} {filename} --revision {revision}` on a networked machine, then copy {where}"
    )
    try:
        path = hf_hub_download(
            repo,
            filename,
            revision=revision,
            library_name="zoo",
            library_version=_library_version(),
            endpoint=endpoint,
            local_files_only=is_offline(),
        )
    except hf_errors.LocalEntryNotFoundError as error:
        reason = _hf_offline_reason()
        if reason is None:  # huggingface_hub keeps what went wrong (refused, timed out, 5xx) as the cause
            cause = error.__cause__ or error
            detail = (str(cause).strip().splitlines() or [""])[0][:120]
            reason = f"the Hub at {endpoint or constants.ENDPOINT} could not be reached ({type(cause).__name__}: {detail})"
        raise OfflineError(
            f"{record.source} is not in {where} and {reason}: connect and retry, or {get_it}"
        ) from error
    except hf_errors.GatedRepoError as error:
        raise DownloadError(
            f"{repo} is gated: accept its conditions on the Hub, then log in (`hf auth login` or $HF_TOKEN) "
            f"to download {record.source}"
        ) from error
    except hf_errors.RepositoryNotFoundError as error:
        raise DownloadError(
            f"repository {repo} not found (or private: log in with `hf auth login` or $HF_TOKEN) "
            f"for {record.source}"
        ) from error
    except hf_errors.RevisionNotFoundError as error:
        raise DownloadError(f"{repo} has no revision {revision!r} (for {record.source})") from error
    except hf_errors.EntryNotFoundError as error:
        raise DownloadError(f"{repo}@{revision} has no file {filename!r} (for {record.source})") from error
    except hf_errors.HfHubHTTPError as error:
        raise DownloadError(f"the Hub refused {record.source}: {str(error).splitlines()[0]}") from error
    except OSError as error:  # a transfer that ended short of its announced size, a full disk...
        raise DownloadError(f"downloading {record.source} failed: {str(error).splitlines()[0]}") from error
    return Path(path), _snapshot_commit(Path(path), filename)


def _snapshot_commit(snapshot: Path, filename: str) -> str:
    """The commit of a Hub cache file: huggingface_hub's layout is ``.../snapshots/<commit>/<filename>``."""
    return snapshot.parents[len(filename.split("/")) - 1].name


# --- what zoo has in the caches ------------------------------------------------------------------------------

CacheStatus = Literal["missing", "verified", "mismatch", "unverified", "unchecked", "corrupt"]


@dataclass(frozen=True)
class CachedWeights:
    """One registered weight record and its file in huggingface_hub's or torch.hub's cache.

    Attributes:
        name: ``model.tag``.
        source: the record's source (URL or ``hf://repo@revision/file``).
        location: ``"huggingface"`` or ``"torch.hub"``: whose cache holds (or would hold) the file.
        path: the cached file, or ``None`` when it is not cached.
        size: its size in bytes, or ``None``.
        sha256: its full digest when known (computed by :func:`verify_cached`, or remembered from a load).
        expected_sha256: the record's digest (full or prefix), or ``None`` when unpublished.
        commit: for Hub files, the commit of the cached snapshot.
        status: ``missing`` (not cached), ``verified`` (its digest matches the record), ``mismatch`` (it does
            not, or its size differs: it is refused at load), ``unverified`` (the record has no digest),
            ``unchecked`` (not hashed since it last changed: :func:`verify_cached` tells), ``corrupt`` (no
            digest to compare, and not a whole checkpoint).
        detail: what is wrong, for ``mismatch`` and ``corrupt``; else empty.
    """

    name: str
    source: str
    location: Literal["huggingface", "torch.hub"]
    path: Path | None
    size: int | None
    sha256: str | None
    expected_sha256: str | None
    commit: str | None
    status: CacheStatus
    detail: str = ""


def _records(names: Sequence[str] | None) -> Iterator[tuple[str, WeightRecord]]:
    from zoo.registry import REGISTRY

    if names is None:
        for entry in REGISTRY.entries():
            for record in entry.weights:
                yield f"{entry.name}.{record.tag}", record
        return
    for name in names:
        entry, tagged = REGISTRY.resolve(name)
        for record in (tagged,) if tagged else entry.weights:
            yield f"{entry.name}.{record.tag}", record


def _cached_path(record: WeightRecord) -> tuple[Path | None, str | None]:
    """The record's cached file and Hub commit, looked up without any network access."""
    if record.url:
        path = torch_hub_path(record)
        return (path, None) if path.is_file() else (None, None)
    from huggingface_hub import try_to_load_from_cache

    _check_names(record)
    found = try_to_load_from_cache(
        record.hf_repo or "", record.hf_filename or "", revision=record.hf_revision
    )
    if not isinstance(found, str):
        return None, None
    return Path(found), _snapshot_commit(Path(found), record.hf_filename or "")


def _entry(name: str, record: WeightRecord, *, rehash: bool, check: bool) -> CachedWeights:
    location: Literal["huggingface", "torch.hub"] = "torch.hub" if record.url else "huggingface"
    path, commit = _cached_path(record)
    common = {"name": name, "source": record.source, "location": location, "expected_sha256": record.sha256}
    if path is None:
        return CachedWeights(**common, path=None, size=None, sha256=None, commit=None, status="missing")
    real = path.resolve()
    stat = real.stat()
    digest = file_sha256(real, rehash=True) if rehash else _remembered(real, stat)
    status: CacheStatus
    detail = ""
    if digest is not None and record.sha256 is not None and not digest.startswith(record.sha256):
        status, detail = "mismatch", f"expected sha256 {record.sha256}, got {digest}"
    elif record.file_size is not None and stat.st_size != record.file_size:
        status, detail = "mismatch", f"expected {record.file_size} bytes, got {stat.st_size}"
    elif record.sha256 is None:
        problem = checkpoint_problem(path) if check else None
        status, detail = ("corrupt", problem) if problem else ("unverified", "")
    else:
        status = "verified" if digest is not None else "unchecked"
    return CachedWeights(
        **common, path=path, size=stat.st_size, sha256=digest, commit=commit, status=status, detail=detail
    )


def cache_entries(names: Sequence[str] | None = None) -> list[CachedWeights]:
    """Every registered weight record (or those of ``names``) and where its file is cached; reads no file.

    Args:
        names: ``model.tag`` (one record) or ``model`` (all its records); ``None``: every registered record.

    Returns:
        One :class:`CachedWeights` per record, with status ``missing``, ``verified`` or ``mismatch`` (from a
        remembered digest), ``unverified`` or ``unchecked``.

    Raises:
        UnknownModelError, UnknownWeightsError: a name that is not registered.
    """
    return [_entry(name, record, rehash=False, check=False) for name, record in _records(names)]


def verify_cached(names: Sequence[str] | None = None) -> list[CachedWeights]:
    """Like :func:`cache_entries`, but every cached file is hashed again and compared with its record.

    Files of records without a digest are checked to be whole checkpoints (``corrupt`` otherwise).
    """
    return [_entry(name, record, rehash=True, check=True) for name, record in _records(names)]


def clear_cached(names: Sequence[str] | None = None, *, dry_run: bool = False) -> list[Path]:
    """Delete the cached files of registered weights (all, or those of ``names``); returns what was deleted.

    torch.hub files are deleted one by one. Hub files are deleted through huggingface_hub's own cache
    manager, a whole revision at a time (``scan_cache_dir().delete_revisions``): the other files of that
    snapshot (a ``config.json``, a README) go with it.

    Args:
        names: as for :func:`cache_entries`.
        dry_run: only say what would be deleted.
    """
    removed: list[Path] = []
    commits: set[str] = set()
    for name, record in _records(names):
        path, commit = _cached_path(record)
        if path is None:
            continue
        if commit is not None:
            commits.add(commit)
            continue
        removed.append(path)
        if not dry_run:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            logger.info("deleted %s (%s)", path, name)
    if commits:
        from huggingface_hub import scan_cache_dir

        strategy = scan_cache_dir().delete_revisions(*sorted(commits))
        removed += sorted(strategy.snapshots) + sorted(strategy.blobs)
        if not dry_run:
            strategy.execute()
    return removed
