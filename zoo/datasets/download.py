"""Download, verify and unpack the official dataset archives into the data root.

:func:`download_archive` fetches VOC2012 (``VOCtrainval_11-May-2012.tar``) or ADE20K SceneParsing
(``ADEChallengeData2016.zip``) from their official hosts (or ``$ZOO_DATA_MIRROR``), resuming an interrupted
download, verifying the archive and unpacking it so that the dataset loaders find it under the data root.

* Resume: bytes are streamed into ``<data root>/<archive>.part``. When that file exists, its bytes are hashed
  first and the download continues with ``Range: bytes=N-``; a server that ignores the range (answers 200) is
  read from the start again. A cut transfer keeps the ``.part`` file for the next attempt.
* Verification: VOC against the md5 published with the devkit (the one torchvision checks); ADE20K has no
  published checksum, so its archive is *not* verified (a message says so). The verifier supports ``md5``,
  ``sha256`` or no checksum. On a mismatch the ``.part`` file is deleted and :class:`ChecksumError` names the
  expected and received digests.
* Extraction refuses, before writing anything, an archive with a member that would land outside the data
  root (absolute paths, ``..``, links pointing outside, device files).

Cityscapes needs a login and is not downloaded: :func:`cityscapes_instructions` says what to fetch and where.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

from zoo.datasets.locations import dataset_root, default_data_root
from zoo.datasets.spec import DATASETS, Archive
from zoo.errors import ChecksumError, DownloadError, UnsafeArchiveError

__all__ = [
    "ARCHIVES",
    "Archive",
    "ChecksumError",
    "DownloadError",
    "UnsafeArchiveError",
    "archive_url",
    "cityscapes_instructions",
    "download_archive",
    "extract_archive",
]

_CHUNK = 1 << 20
_TIMEOUT_S = 60.0


#: Canonical dataset name -> its official archive, for the datasets that can be downloaded automatically
#: (the facts are in :data:`zoo.datasets.spec.DATASETS`).
ARCHIVES: dict[str, Archive] = {
    name: spec.archive for name, spec in DATASETS.items() if spec.archive is not None
}


def archive_url(name: str) -> str:
    """The URL ``name``'s archive is fetched from: ``$ZOO_DATA_MIRROR/<filename>`` if that is set, else official."""
    archive = ARCHIVES[name]
    mirror = os.environ.get("ZOO_DATA_MIRROR")
    return f"{mirror.rstrip('/')}/{archive.filename}" if mirror else archive.url


def cityscapes_instructions(data_root: str | os.PathLike[str] | None = None) -> str:
    """How to get Cityscapes by hand (it needs an account), ending with where to unpack it."""
    target = dataset_root("cityscapes", data_root)
    return (
        "Cityscapes cannot be downloaded automatically: its licence requires an account.\n"
        "  1. Register and log in at https://www.cityscapes-dataset.com/ (Login, then Download).\n"
        "  2. Download these two archives:\n"
        "       leftImg8bit_trainvaltest.zip  (images, about 11 GB)\n"
        "       gtFine_trainvaltest.zip       (fine annotations, about 241 MB)\n"
        f"  3. Unzip both into {target}, giving\n"
        f"       {target / 'leftImg8bit'}/{{train,val,test}}/<city>/*_leftImg8bit.png\n"
        f"       {target / 'gtFine'}/{{train,val,test}}/<city>/*_gtFine_labelIds.png\n"
        "     (e.g. `unzip leftImg8bit_trainvaltest.zip -d <that folder>`; the archives' own license/README\n"
        "     files may be overwritten by each other, which is harmless).\n"
        "  4. Optional: *_gtFine_labelTrainIds.png files are not needed (zoo maps labelIds to trainIds itself,\n"
        "     as the official scorer does); if you create them with cityscapesscripts' createTrainIdLabelImgs\n"
        "     (CITYSCAPES_DATASET=<that folder> csCreateTrainIdLabelImgs) zoo reads them only when asked\n"
        "     (Cityscapes(..., label_file='labelTrainIds')).\n"
        f"  Then check the layout with: zoo data check cityscapes --data-root {target.parent}"
    )


def _say(message: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(message, highlight=False)


def download_archive(
    name: str,
    data_root: str | os.PathLike[str] | None = None,
    *,
    progress: bool = True,
    keep_archive: bool = False,
) -> Path:
    """Download, verify and unpack ``name``'s official archive under ``data_root``; returns the dataset folder.

    Args:
        name: ``"voc"`` or ``"ade20k"`` (``cityscapes`` needs a login: see :func:`cityscapes_instructions`).
        data_root: where to unpack (default :func:`~zoo.datasets.locations.default_data_root`); created if
            needed. The archive is downloaded there as ``<archive>.part`` and renamed to ``<archive>`` once
            complete and verified.
        progress: show a transient progress bar on stderr.
        keep_archive: keep the archive after unpacking (default: delete it, it is as large as the data).

    An archive already present under its final name (kept from an earlier run) is verified and unpacked
    without downloading. The URL is :func:`archive_url` (``$ZOO_DATA_MIRROR`` overrides the host).

    Returns:
        :func:`~zoo.datasets.locations.dataset_root` of ``name`` (``<root>/VOCdevkit`` or
        ``<root>/ADEChallengeData2016``).

    Raises:
        ValueError: ``name`` has no downloadable archive.
        DownloadError: the host cannot be reached or answered with an HTTP error, the transfer was cut
            short (the ``.part`` file is kept: run again to resume), or the archive does not hold the
            expected folder.
        ChecksumError: the archive's digest is not the published one (the ``.part`` file was deleted).
        UnsafeArchiveError: a member would be written outside ``data_root`` (nothing was extracted).
    """
    key = name.lower()
    if key not in ARCHIVES:
        extra = " (cityscapes needs a login: see zoo data download cityscapes)" if key == "cityscapes" else ""
        raise ValueError(f"no downloadable archive for {name!r}; choose one of {', '.join(ARCHIVES)}{extra}")
    archive = ARCHIVES[key]
    root = Path(data_root).expanduser() if data_root is not None else default_data_root()
    root.mkdir(parents=True, exist_ok=True)
    final = root / archive.filename
    url = archive_url(key)
    if archive.checksum is None:
        _say(f"[yellow]warning:[/yellow] {archive.note}")
    if final.is_file():
        _verify(archive, final, _digest_file(archive, final), url)
    else:
        part = root / f"{archive.filename}.part"
        digest = _fetch_resuming(url, part, archive, progress)
        _verify(archive, part, digest, url)
        os.replace(part, final)
    extract_archive(final, root, archive.kind)
    target = dataset_root(key, root)
    if not target.is_dir():
        raise DownloadError(f"{final}: unpacked into {root}, but it held no {target.name}/ folder")
    if not keep_archive:
        final.unlink()
    return target


def _hasher(archive: Archive):
    return hashlib.new(archive.checksum_algorithm or "sha256")


def _digest_file(archive: Archive, path: Path) -> str:
    hasher = _hasher(archive)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def _verify(archive: Archive, path: Path, digest: str, url: str) -> None:
    """Compare ``digest`` with the published checksum; on a mismatch delete ``path`` and raise ChecksumError."""
    if archive.checksum is None:
        return
    if digest != archive.checksum.lower():
        path.unlink(missing_ok=True)
        raise ChecksumError(
            f"checksum mismatch for {archive.filename} downloaded from {url}:\n"
            f"  expected {archive.checksum_algorithm} {archive.checksum.lower()}\n"
            f"  got      {archive.checksum_algorithm} {digest}\n"
            f"  the downloaded file {path} was deleted (the server may hold another file than the one published)"
        )


def _open(url: str, offset: int):
    headers = {"User-Agent": "zoo"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416 and offset:
            return None  # nothing left past `offset`: the .part file is already complete
        raise DownloadError(f"HTTP {error.code} {error.reason} for {url}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(f"cannot download {url}: {reason}") from error


def _fetch_resuming(url: str, part: Path, archive: Archive, progress: bool) -> str:
    """Download ``url`` into ``part``, continuing an existing ``part``; returns the digest of the whole file.

    The digest covers the bytes already on disk (hashed first) and the appended ones. A cut transfer raises
    DownloadError and keeps ``part``.
    """
    hasher = _hasher(archive)
    offset = part.stat().st_size if part.is_file() else 0
    if offset:
        with open(part, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                hasher.update(chunk)
    response = _open(url, offset)
    if response is None:
        return hasher.hexdigest()
    with contextlib.closing(response):
        content_range = response.headers.get("Content-Range", "")
        resumed = offset > 0 and response.status == 206 and content_range.startswith(f"bytes {offset}-")
        if not resumed and offset:
            # The server sent the whole file (no range support): start over.
            hasher, offset = _hasher(archive), 0
        header = response.headers.get("Content-Length", "")
        length = int(header) if header.strip().isdigit() else None
        total = offset + length if length is not None else None
        with (
            open(part, "ab" if resumed else "wb") as out,
            _bar(archive.filename, total, offset, progress) as advance,
        ):
            received = _copy(response, out, hasher, advance)
    if length is not None and received != length:
        raise DownloadError(
            f"truncated transfer: got {offset + received} of {total} bytes of {url}; the partial file {part} "
            f"was kept, run the download again to resume it"
        )
    return hasher.hexdigest()


def _copy(response: IO[bytes], out: IO[bytes], hasher, advance) -> int:
    import http.client

    received = 0
    while True:
        try:
            chunk = response.read(_CHUNK)
        except http.client.IncompleteRead as error:
            chunk = error.partial
            out.write(chunk)
            hasher.update(chunk)
            return received + len(chunk)
        except (TimeoutError, ConnectionError):
            return received  # keep what arrived; the caller reports the short transfer
        if not chunk:
            return received
        out.write(chunk)
        hasher.update(chunk)
        received += len(chunk)
        advance(len(chunk))


@contextlib.contextmanager
def _bar(label: str, total: int | None, done: int, show: bool):
    if not show:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(label, total=total, completed=done)
    with bar:
        yield lambda n: bar.update(task, advance=n)


def _check_member(name: str, target: Path, archive: Path) -> None:
    """Raise UnsafeArchiveError if member ``name`` would be written outside ``target``."""
    pure = PurePosixPath(name.replace("\\", "/"))
    resolved = (target / pure).resolve()
    if pure.is_absolute() or ".." in pure.parts or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} would be written outside {target}; refusing to extract the archive"
        )
    if not resolved.is_relative_to(target.resolve()):
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} resolves outside {target}; refusing to extract the archive"
        )


def extract_archive(path: str | os.PathLike[str], target: str | os.PathLike[str], kind: str) -> None:
    """Unpack a ``"tar"`` or ``"zip"`` archive into ``target`` after checking every member.

    All members are checked before anything is written: absolute names, ``..`` components and (tar) links
    whose target leaves ``target``, or device/FIFO members, raise :class:`UnsafeArchiveError`. Tar archives are
    then unpacked with the ``"data"`` extraction filter where Python has it (3.11.4+), zip archives with
    :meth:`zipfile.ZipFile.extractall`.
    """
    path, target = Path(path), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    if kind == "tar":
        with tarfile.open(path) as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member.name, target, path)
                if member.issym() or member.islnk():
                    base = (target / member.name).parent if member.issym() else target
                    link = PurePosixPath(member.linkname)
                    if link.is_absolute() or not (base / link).resolve().is_relative_to(target.resolve()):
                        raise UnsafeArchiveError(
                            f"{path}: member {member.name!r} links to {member.linkname!r} outside {target}; "
                            "refusing to extract the archive"
                        )
                elif not (member.isfile() or member.isdir()):
                    raise UnsafeArchiveError(
                        f"{path}: member {member.name!r} is a device or FIFO; refusing to extract the archive"
                    )
            if hasattr(tarfile, "data_filter"):
                tar.extractall(target, members=members, filter="data")
            else:  # pragma: no cover - Python < 3.11.4; members were checked above
                tar.extractall(target, members=members)
    elif kind == "zip":
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                _check_member(info.filename, target, path)
            zf.extractall(target)
    else:
        raise ValueError(f"unknown archive kind {kind!r}; expected 'tar' or 'zip'")
