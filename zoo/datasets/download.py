"""Download, check and unpack the official dataset archives into the data root, never keeping or unpacking
something wrong.

:func:`download_archive` fetches VOC2012 (``VOCtrainval_11-May-2012.tar``) or ADE20K SceneParsing
(``ADEChallengeData2016.zip``) from their official hosts (or ``$ZOO_DATA_MIRROR``), resuming an interrupted
download, checking the archive and unpacking it so that the dataset loaders find it under the data root.

* Resume: bytes are streamed into ``<data root>/<archive>.part``. When that file exists, its bytes are hashed
  first and the download continues with ``Range: bytes=N-``. A server that ignores the range (answers 200), or
  answers another range, is read from the start again; ``416`` (nothing past N) means the ``.part`` file is
  the whole file if the server's size is N (it is then checked like any download), else it is thrown away and
  the file downloaded from the start. A transfer cut short of its ``Content-Length`` keeps the ``.part`` file
  for the next run.
* Checks, before the archive is kept under its final name: VOC against the md5 published with the devkit (the
  one torchvision checks). ADE20K has no published checksum (a message says so), so its structure is checked
  instead (:func:`check_archive`: the zip's central directory and every member's CRC; for tars every header
  to the end-of-archive marker). A file failing its check is deleted and downloaded once more *from the start*
  (a resumed file that fails was spliced from two different files); failing again raises
  :class:`ChecksumError` / :class:`CorruptArchiveError` naming the URL and the file. An HTML page (a login or
  "moved" page answered with 200) is refused at once. An archive kept from an earlier run is checked the same
  way, and downloaded again if it fails.
* Extraction (:func:`extract_archive`) reads every member first and refuses, before writing anything: names
  that would land outside the data root (absolute paths, ``..``), every symbolic or hard link (the official
  archives hold none, and links are how archives write through to elsewhere), device files, members adding up
  to more than the dataset can be (:attr:`~zoo.datasets.spec.Archive.max_unpacked_bytes`: a zip bomb), and
  more than the free space of the target folder.

Cityscapes needs a login and is not downloaded: :func:`cityscapes_instructions` says what to fetch and where.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import re
import shutil
import stat
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import IO

from zoo.datasets.locations import dataset_root, default_data_root
from zoo.datasets.spec import DATASETS, Archive
from zoo.errors import ChecksumError, CorruptArchiveError, DownloadError, UnsafeArchiveError

__all__ = [
    "ARCHIVES",
    "Archive",
    "ChecksumError",
    "CorruptArchiveError",
    "DownloadError",
    "UnsafeArchiveError",
    "archive_url",
    "check_archive",
    "cityscapes_instructions",
    "download_archive",
    "extract_archive",
]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
_TIMEOUT_S = 60.0
#: What reading a damaged archive raises, besides the modules' own errors: zlib on a bad deflate stream, EOF on
#: data cut short, RuntimeError on an encrypted zip member, NotImplementedError on an unknown compression.
_READ_ERRORS = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    RuntimeError,
    NotImplementedError,
    ValueError,
)
_HTML_START = (b"<!doctype html", b"<html")


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
    """``warning: message`` on stderr, verbatim (the message is never read as rich markup)."""
    from rich.console import Console
    from rich.text import Text

    Console(stderr=True).print(Text.assemble(("warning:", "yellow"), " ", message), highlight=False)


def download_archive(
    name: str,
    data_root: str | os.PathLike[str] | None = None,
    *,
    progress: bool = True,
    keep_archive: bool = False,
) -> Path:
    """Download, check and unpack ``name``'s official archive under ``data_root``; returns the dataset folder.

    Args:
        name: ``"voc"`` or ``"ade20k"`` (``cityscapes`` needs a login: see :func:`cityscapes_instructions`).
        data_root: where to unpack (default :func:`~zoo.datasets.locations.default_data_root`); created if
            needed. The archive is downloaded there as ``<archive>.part`` and renamed to ``<archive>`` once
            complete and checked.
        progress: show a transient progress bar on stderr.
        keep_archive: keep the archive after unpacking (default: delete it, it is as large as the data).

    An archive already present under its final name (kept from an earlier run) is checked and unpacked
    without downloading; one failing its check is deleted and downloaded again. The URL is
    :func:`archive_url` (``$ZOO_DATA_MIRROR`` overrides the host).

    Returns:
        :func:`~zoo.datasets.locations.dataset_root` of ``name`` (``<root>/VOCdevkit`` or
        ``<root>/ADEChallengeData2016``).

    Raises:
        ValueError: ``name`` has no downloadable archive.
        DownloadError: the host cannot be reached or answered with an HTTP error or an HTML page, the
            transfer was cut short of its ``Content-Length`` (the ``.part`` file is kept: run again to resume
            it), the disk has not enough free space, or the archive does not hold the expected folder.
        ChecksumError: the archive's digest was not the published one, twice (the download was deleted).
        CorruptArchiveError: the archive was not whole, twice, or cannot be unpacked (it was deleted).
        UnsafeArchiveError: a member is a link, would be written outside ``data_root``, or the members add
            up to more than :attr:`~zoo.datasets.spec.Archive.max_unpacked_bytes` (the archive was deleted,
            nothing was extracted).
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
    again = f"run `zoo data download {key}` again"
    if archive.checksum is None:
        _say(f"{archive.note}; its structure is checked instead (every member readable, zip CRCs matching)")
    if final.is_file():
        try:
            _check_download(archive, final, _digest_file(archive, final))
        except (ChecksumError, CorruptArchiveError) as error:
            logger.warning(
                "%s, kept from an earlier run, is not the archive (%s): downloading it again", final, error
            )
            final.unlink()
        except UnsafeArchiveError as error:
            final.unlink()
            raise UnsafeArchiveError(f"{error}; it was deleted") from None
    if not final.is_file():
        _download(url, root / f"{archive.filename}.part", final, archive, progress, again)
    try:
        extract_archive(final, root, archive.kind, max_unpacked_bytes=archive.max_unpacked_bytes)
    except CorruptArchiveError as error:
        final.unlink(missing_ok=True)
        advice = f"It was deleted: {again} (if this repeats, the file at {url} is damaged)"
        raise CorruptArchiveError(final, error.reason, advice, error.kind) from None
    except UnsafeArchiveError as error:
        final.unlink(missing_ok=True)
        raise UnsafeArchiveError(f"{error}; the archive was deleted") from None
    target = dataset_root(key, root)
    if not target.is_dir():
        final.unlink()  # not the dataset's archive: reusing it on the next run would fail the same way
        raise DownloadError(
            f"{final}: unpacked into {root}, but it held no {target.name}/ folder; it was deleted: check the URL "
            f"{url} (or $ZOO_DATA_MIRROR), then {again}"
        )
    if not keep_archive:
        final.unlink()
    return target


def _download(url: str, part: Path, final: Path, archive: Archive, progress: bool, again: str) -> None:
    """Download ``url`` to ``final`` through ``part``, checked; a download failing its check is deleted and
    downloaded once more from the start (a resumed one may have been spliced from two different files)."""
    for attempt in (1, 2):
        resumed = part.is_file() and part.stat().st_size > 0
        digest = _fetch_resuming(url, part, archive, progress)
        try:
            _check_download(archive, part, digest)
        except UnsafeArchiveError as error:  # a bomb is a bomb again: not downloaded twice
            part.unlink(missing_ok=True)
            raise UnsafeArchiveError(f"{url}: {error}; the download was deleted") from None
        except ChecksumError as error:
            part.unlink(missing_ok=True)
            if attempt == 2:
                raise ChecksumError(
                    f"checksum mismatch for {archive.filename} downloaded twice from {url}:\n"
                    f"  expected {archive.checksum_algorithm} {archive.checksum.lower()}\n"  # type: ignore[union-attr]
                    f"  got      {archive.checksum_algorithm} {digest}\n"
                    f"  the downloaded file {part} was deleted (the server may hold another file than the one "
                    "published)"
                ) from None
            logger.warning("%s (from %s); downloading it again from the start", error, url)
        except CorruptArchiveError as error:
            part.unlink(missing_ok=True)
            if attempt == 2:
                advice = (
                    f"It was downloaded twice from {url} and deleted: check the URL (or $ZOO_DATA_MIRROR), "
                    f"then {again}"
                )
                raise CorruptArchiveError(final, error.reason, advice, error.kind) from None
            how = "resumed over an earlier partial file" if resumed else "downloaded"
            logger.warning(
                "%s, %s from %s, is not a whole %s archive (%s): downloading it again from the start",
                final,
                how,
                url,
                error.kind,
                error.reason,
            )
        else:
            os.replace(part, final)
            return


def _hasher(archive: Archive):
    return hashlib.new(archive.checksum_algorithm or "sha256")


def _digest_file(archive: Archive, path: Path) -> str:
    hasher = _hasher(archive)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def _check_download(archive: Archive, path: Path, digest: str) -> None:
    """Check a downloaded ``path``: against the published checksum, or (none published) its structure.

    Raises:
        ChecksumError: ``digest`` is not the published one (the message names both).
        CorruptArchiveError, UnsafeArchiveError: from :func:`check_archive`.
    """
    if archive.checksum is not None:
        if digest != archive.checksum.lower():
            raise ChecksumError(
                f"checksum mismatch for {path}: expected {archive.checksum_algorithm} "
                f"{archive.checksum.lower()}, got {digest}"
            )
        return
    check_archive(path, archive.kind, max_unpacked_bytes=archive.max_unpacked_bytes)
    logger.info("%s: sha256 %s (no published checksum to compare it with)", path, digest)


class _RangeNotSatisfiable:
    """The server's 416 answer to ``Range: bytes=N-``: nothing past N; ``total`` is its size when it says so."""

    def __init__(self, total: int | None) -> None:
        self.total = total


def _open(url: str, offset: int):
    """The response to a GET of ``url`` from ``offset`` on; a :class:`_RangeNotSatisfiable` for a 416."""
    headers = {"User-Agent": "zoo"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as error:
        content_range = error.headers.get("Content-Range", "") if error.headers else ""
        error.close()
        if error.code == 416 and offset:
            size = re.fullmatch(r"bytes \*/(\d+)", content_range.strip())
            return _RangeNotSatisfiable(int(size[1]) if size else None)
        raise DownloadError(f"HTTP {error.code} {error.reason} for {url}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(f"cannot download {url}: {reason}") from error


def _open_from(url: str, part: Path, offset: int):
    """The response to continue ``part`` (``offset`` bytes) with, and the offset it continues from.

    Never splices: a server that answers the whole file (200) or another range than asked is read from the
    start (offset 0); a 416 with the server's size equal to ``offset`` means ``part`` holds the whole file
    (``None`` is returned, ``part`` is then checked like any download); any other 416 (``part`` longer than
    the file) discards ``part`` and reads from the start.
    """
    response = _open(url, offset)
    if isinstance(response, _RangeNotSatisfiable):
        if response.total is None or response.total == offset:
            return None, offset
        logger.warning(
            "%s holds %d bytes, more than the %d bytes of %s: it is not a part of that file; downloading it "
            "from the start",
            part,
            offset,
            response.total,
            url,
        )
        return _open(url, 0), 0
    if offset:
        content_range = response.headers.get("Content-Range", "")
        if response.status == 206 and not content_range.startswith(f"bytes {offset}-"):
            response.close()  # a range other than the one asked for cannot be appended
            return _open(url, 0), 0
        if response.status != 206:
            return response, 0  # the whole file: the server ignores ranges
    return response, offset


def _refuse_html(url: str, archive: Archive, why: str) -> DownloadError:
    return DownloadError(
        f"{url} answered with an HTML page ({why}), not the {archive.kind} archive {archive.filename}: the host "
        "may have moved it or want a login; nothing was kept. Check the URL (or $ZOO_DATA_MIRROR), or download "
        "the archive by hand into the data root"
    )


def _looks_like_html(chunk: bytes) -> bool:
    return chunk.lstrip(b"\xef\xbb\xbf \t\r\n")[:16].lower().startswith(_HTML_START)


def _fetch_resuming(url: str, part: Path, archive: Archive, progress: bool) -> str:
    """Download ``url`` into ``part``, continuing an existing ``part``; returns the digest of the whole file.

    The digest covers the bytes already on disk (hashed first) and the appended ones. A transfer cut short of
    its ``Content-Length`` raises DownloadError and keeps ``part``; an HTML page raises DownloadError at once.
    """
    offset = part.stat().st_size if part.is_file() else 0
    response, offset = _open_from(url, part, offset)
    if response is None:
        return _digest_file(archive, part)
    with contextlib.closing(response):
        content_type = response.headers.get_content_type()
        if content_type == "text/html":
            raise _refuse_html(url, archive, f"Content-Type {response.headers.get('Content-Type')}")
        hasher = _hasher(archive)
        if offset:
            with open(part, "rb") as f:
                for chunk in iter(lambda: f.read(_CHUNK), b""):
                    hasher.update(chunk)
        header = response.headers.get("Content-Length", "")
        length = int(header) if header.strip().isdigit() else None
        total = offset + length if length is not None else None
        if length is not None:
            _require_free_space(part.parent, length, f"to download {url}")
        first = None if offset else _looks_like_html
        try:
            with (
                open(part, "ab" if offset else "wb") as out,
                _bar(archive.filename, total, offset, progress) as advance,
            ):
                received = _copy(response, out, hasher, advance, first)
        except _HtmlPage:
            part.unlink(missing_ok=True)
            raise _refuse_html(url, archive, "it starts with <!DOCTYPE html> or <html>") from None
    if length is not None and received != length:
        raise DownloadError(
            f"truncated transfer: got {offset + received} of {total} bytes of {url}; the partial file {part} "
            f"was kept, run the download again to resume it"
        )
    return hasher.hexdigest()


class _HtmlPage(Exception):
    """The first bytes of a download are an HTML page's."""


def _copy(
    response: IO[bytes], out: IO[bytes], hasher, advance, first: Callable[[bytes], bool] | None = None
) -> int:
    """Copy ``response`` to ``out``; raise :class:`_HtmlPage` if ``first(first chunk)`` is true."""
    received = 0
    while True:
        try:
            chunk = response.read(_CHUNK)
        except http.client.IncompleteRead as error:
            chunk = error.partial
            if first is not None and received == 0 and first(chunk):
                raise _HtmlPage from None
            out.write(chunk)
            hasher.update(chunk)
            return received + len(chunk)
        except (TimeoutError, ConnectionError):
            return received  # keep what arrived; the caller reports the short transfer
        if not chunk:
            return received
        if first is not None and received == 0 and first(chunk):
            raise _HtmlPage
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


def _require_free_space(folder: Path, needed: int, what: str) -> None:
    """Raise DownloadError unless ``folder``'s file system has ``needed`` bytes free."""
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise DownloadError(
            f"{folder}: not enough free space {what}: needs {needed:,} bytes, {free:,} bytes free; free some "
            "space there or choose another folder (--data-root / $ZOO_DATA)"
        )


# ----------------------------------------------------------------------------------------------------------
# reading archives: members, structure, bounds


class _Member:
    """What zoo needs to know of one archive member, tar or zip alike."""

    __slots__ = ("kind", "link", "name", "size")

    def __init__(self, name: str, kind: str, size: int = 0, link: str = "") -> None:
        self.name, self.kind, self.size, self.link = name, kind, size, link


def _tar_member(info: tarfile.TarInfo) -> _Member:
    if info.issym():
        return _Member(info.name, "symbolic link", 0, info.linkname)
    if info.islnk():
        return _Member(info.name, "hard link", 0, info.linkname)
    if info.issparse():
        return _Member(info.name, "sparse file", info.size)
    if info.isreg():
        return _Member(info.name, "file", info.size)
    if info.isdir():
        return _Member(info.name, "folder")
    return _Member(info.name, "device, FIFO or other special file")


def _zip_member(info: zipfile.ZipInfo) -> _Member:
    if info.is_dir():
        return _Member(info.filename, "folder")
    if info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16):  # 3: made on Unix
        return _Member(info.filename, "symbolic link", info.file_size)
    return _Member(info.filename, "file", info.file_size)


def _reason(error: BaseException) -> str:
    """``error``'s message on one line (tarfile's can span several)."""
    return " ".join(str(error).split()) or type(error).__name__


@contextlib.contextmanager
def _read_archive(path: Path, kind: str):
    """Open ``path`` and list its members: yields ``(handle, members)``.

    A tar is read header by header to its end-of-archive marker (tarfile stops silently at a header that is
    cut short or garbage, so the marker is what tells a whole tar from a cut or spliced one); a zip's central
    directory is read. Raises :class:`CorruptArchiveError` when that fails.
    """
    if kind not in ("tar", "zip"):
        raise ValueError(f"unknown archive kind {kind!r}; expected 'tar' or 'zip'")
    if path.stat().st_size == 0:
        raise CorruptArchiveError(path, "it is empty (0 bytes)", kind=kind)
    with contextlib.ExitStack() as opened:
        try:
            if kind == "tar":
                handle = opened.enter_context(tarfile.open(path))
                members = [_tar_member(info) for info in handle.getmembers()]
                handle.fileobj.seek(handle.offset)
                if handle.fileobj.read(tarfile.BLOCKSIZE) != tarfile.NUL * tarfile.BLOCKSIZE:
                    last = f" ({members[-1].name!r})" if members else ""
                    reason = (
                        f"no end-of-archive marker after its last member{last} at byte {handle.offset:,}: it "
                        "was cut short, or holds garbage where a header should be"
                    )
                    raise CorruptArchiveError(path, reason, kind=kind)
            else:
                handle = opened.enter_context(zipfile.ZipFile(path))
                members = [_zip_member(info) for info in handle.infolist()]
        except _READ_ERRORS as error:
            what = (
                "its headers cannot be read to the end"
                if kind == "tar"
                else "its central directory cannot be read"
            )
            reason = f"{what} ({_reason(error)}): it was cut short, or is damaged or not an archive"
            raise CorruptArchiveError(path, reason, kind=kind) from None
        yield handle, members


def _check_size(members: Iterable[_Member], path: Path, bound: int | None) -> int:
    """The members' total unpacked size; UnsafeArchiveError if it exceeds ``bound``."""
    total = sum(member.size for member in members)
    if bound is not None and total > bound:
        raise UnsafeArchiveError(
            f"{path}: its members add up to {total:,} bytes unpacked, more than the {bound:,} bytes the "
            "dataset can be (a zip bomb, or another file than the official archive); refusing to unpack it"
        )
    return total


def check_archive(path: str | os.PathLike[str], kind: str, *, max_unpacked_bytes: int | None = None) -> None:
    """Check that ``path`` is a whole ``"tar"`` or ``"zip"`` archive, without unpacking it.

    What a download without a published checksum is checked with before it is kept: for a tar every header
    is read, up to the end-of-archive marker; for a zip the central directory is read and every member is
    decompressed and compared with its CRC (as :meth:`zipfile.ZipFile.testzip` does, naming the member and the
    error).

    Args:
        path: the archive.
        kind: ``"tar"`` or ``"zip"``.
        max_unpacked_bytes: refuse an archive whose members add up to more (checked before any member is read).

    Raises:
        CorruptArchiveError: the archive is not whole (cut, spliced, not an archive, a member failing its CRC).
        UnsafeArchiveError: its members add up to more than ``max_unpacked_bytes``.
    """
    path = Path(path)
    with _read_archive(path, kind) as (handle, members):
        _check_size(members, path, max_unpacked_bytes)
        if kind == "zip":
            for info in handle.infolist():  # folders too: their local headers may be the damaged ones
                try:
                    with handle.open(info) as member:
                        while member.read(_CHUNK):
                            pass
                except _READ_ERRORS as error:
                    reason = (
                        f"member {info.filename!r} is damaged (CRC or header check failed: {_reason(error)})"
                    )
                    raise CorruptArchiveError(path, reason, kind=kind) from None


def _check_member(member: _Member, target: Path, archive: Path) -> None:
    """Raise UnsafeArchiveError if ``member`` would be written outside ``target``, or is anything but a file or
    a folder (a link could make later members, or later users, write elsewhere)."""
    name = member.name
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} would be written outside {target}; refusing to extract the archive"
        )
    if not (target / pure).resolve().is_relative_to(target.resolve()):
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} resolves outside {target}; refusing to extract the archive"
        )
    if member.kind not in ("file", "folder"):
        to = f" (to {member.link!r})" if member.link else ""
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} is a {member.kind}{to}; the official archives hold only files and "
            "folders: refusing to extract the archive"
        )


def extract_archive(
    path: str | os.PathLike[str],
    target: str | os.PathLike[str],
    kind: str,
    *,
    max_unpacked_bytes: int | None = None,
) -> None:
    """Unpack a ``"tar"`` or ``"zip"`` archive into ``target`` after checking every member.

    All members are read and checked before anything is written: absolute names and ``..`` components,
    symbolic and hard links (any: the official archives hold none), device/FIFO/sparse members, a total
    unpacked size above ``max_unpacked_bytes`` and above the free space of ``target`` are refused. Tar archives
    are then unpacked with the ``"data"`` extraction filter where Python has it (3.11.4+), zip archives with
    :meth:`zipfile.ZipFile.extractall` (which writes no more of a member than its declared size).

    Args:
        path: the archive.
        target: the folder to unpack into (created if needed).
        kind: ``"tar"`` or ``"zip"``.
        max_unpacked_bytes: the most the members may add up to (``None``: no bound but the free space).

    Raises:
        UnsafeArchiveError: a member would be written outside ``target``, is a link or a special file, or the
            members add up to more than ``max_unpacked_bytes`` (nothing was written).
        CorruptArchiveError: the archive cannot be read; the message names it and says to delete it and
            download it again (when it fails while unpacking, what was unpacked so far stays).
        DownloadError: ``target``'s file system has less free space than the members need (nothing written).
        ValueError: ``kind`` is neither ``"tar"`` nor ``"zip"``.
    """
    path, target = Path(path), Path(target)
    if kind not in ("tar", "zip"):
        raise ValueError(f"unknown archive kind {kind!r}; expected 'tar' or 'zip'")
    target.mkdir(parents=True, exist_ok=True)
    with _read_archive(path, kind) as (handle, members):
        for member in members:
            _check_member(member, target, path)
        needed = _check_size(members, path, max_unpacked_bytes)
        _require_free_space(target, needed, f"to unpack {path}")
        try:
            if kind == "zip":
                handle.extractall(target)
            elif hasattr(tarfile, "data_filter"):
                handle.extractall(target, members=handle.getmembers(), filter="data")
            else:  # pragma: no cover - Python < 3.11.4; members were checked above
                handle.extractall(target, members=handle.getmembers())
        except tarfile.FilterError as error:
            raise UnsafeArchiveError(f"{path}: {_reason(error)}; refusing to extract the rest") from None
        except _READ_ERRORS as error:
            reason = f"{_reason(error)} (what was unpacked before this stays in {target})"
            raise CorruptArchiveError(path, reason, kind=kind) from None
