"""Dataset archive downloads that never keep, splice or unpack something wrong (zoo.datasets.download).

Everything runs against a loopback HTTP host (127.0.0.1, ``$ZOO_DATA_MIRROR``) whose answers a test scripts one
request at a time: cut transfers with or without ``Content-Length``, HTML pages, ``416``, servers that ignore
``Range``. Archives are small ones made here in the official layouts (tests/layouts.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import shutil
import stat
import struct
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from layouts import write_ade20k, write_voc
from loopback import serve

from zoo.cli import main
from zoo.datasets import get_dataset
from zoo.datasets.download import ARCHIVES, check_archive, download_archive, extract_archive
from zoo.datasets.spec import DATASETS
from zoo.errors import ChecksumError, CorruptArchiveError, DownloadError, UnsafeArchiveError, ZooError

ADE = "/mirror/ADEChallengeData2016.zip"
VOC = "/mirror/VOCtrainval_11-May-2012.tar"

# ----------------------------------------------------------------------------------------------------------
# the scripted host


@dataclass
class Answer:
    """How the host answers one request; the defaults serve the file well, honouring ``Range``."""

    body: bytes | None = None  # None: the file's own bytes
    content_type: str = "application/octet-stream"
    sized: bool = True  # send Content-Length (False: the body ends when the connection closes)
    cut: int | None = None  # send only this many bytes of the payload, then close
    ignore_range: bool = False  # answer 200 with the whole file to a Range request


@dataclass
class Host:
    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    script: dict[str, list[Answer]] = field(default_factory=dict)  # the next answers per path, in order
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)


class HostHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        host: Host = self.server.state  # type: ignore[attr-defined]
        host.requests.append((self.path, self.headers.get("Range")))
        if self.path not in host.files:
            self.send_error(404)
            return
        script = host.script.get(self.path)
        answer = script.pop(0) if script else Answer()
        body = host.files[self.path] if answer.body is None else answer.body
        start, header = 0, self.headers.get("Range")
        if header and not answer.ignore_range:
            start = int(header.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Type", answer.content_type)
        if answer.sized:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload if answer.cut is None else payload[: answer.cut])
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def host(monkeypatch) -> Iterator[Host]:
    for state in serve(HostHandler, Host):
        monkeypatch.setenv("ZOO_DATA_MIRROR", state.url + "/mirror/")
        monkeypatch.setenv("no_proxy", "*")
        monkeypatch.setenv("NO_PROXY", "*")
        yield state


# ----------------------------------------------------------------------------------------------------------
# archives


def ade_zip(tmp_path: Path) -> bytes:
    src = tmp_path / "src-ade"
    write_ade20k(src)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted((src / "ADEChallengeData2016").rglob("*")):
            zf.write(path, path.relative_to(src).as_posix())
    return buffer.getvalue()


def voc_tar(tmp_path: Path) -> bytes:
    src = tmp_path / "src-voc"
    write_voc(src)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(src / "VOCdevkit", arcname="VOCdevkit")
    return buffer.getvalue()


def pin_voc(monkeypatch, **changes) -> None:
    """Replace the VOC archive facts (the published md5 is that of the real 2 GB archive)."""
    monkeypatch.setitem(ARCHIVES, "voc", dataclasses.replace(ARCHIVES["voc"], **changes))


def serve_voc_unverified(host: Host, tmp_path: Path, monkeypatch) -> bytes:
    """Serve a VOC tar as an archive without published checksum: only its structure can be checked."""
    body = voc_tar(tmp_path)
    host.files[VOC] = body
    pin_voc(monkeypatch, checksum_algorithm=None, checksum=None)
    return body


def tar_of(path: Path, *members: tuple[tarfile.TarInfo, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for member, data in members:
            tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


def tar_file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def tar_link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, b""


def claim_size(archive: bytes, member: str, size: int) -> bytes:
    """``archive`` (a zip) with ``member``'s uncompressed size set to ``size`` in its local and central headers:
    what a zip bomb declares, without the gigabytes."""
    data = bytearray(archive)
    name = member.encode()
    local = data.index(b"PK\x03\x04" + b"")
    while data[local + 30 : local + 30 + len(name)] != name:
        local = data.index(b"PK\x03\x04", local + 4)
    struct.pack_into("<I", data, local + 22, size)
    central = data.index(b"PK\x01\x02")
    while data[central + 46 : central + 46 + len(name)] != name:
        central = data.index(b"PK\x01\x02", central + 4)
    struct.pack_into("<I", data, central + 24, size)
    return bytes(data)


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def flat(text: str) -> str:
    return " ".join(text.split())


# ----------------------------------------------------------------------------------------------------------
# 1. an archive without a published checksum is checked structurally before it is kept


def test_the_official_archives_state_an_unpacked_size_bound():
    assert ARCHIVES["voc"].max_unpacked_bytes == 4_000_000_000  # the uncompressed tar is about 2.0 GB
    assert ARCHIVES["ade20k"].max_unpacked_bytes == 2_500_000_000  # JPEGs and PNGs: about 1 GB unpacked
    assert all(spec.archive is None or spec.archive.max_unpacked_bytes for spec in DATASETS.values())


def test_an_unsized_cut_transfer_is_checked_deleted_and_downloaded_again(host, tmp_path):
    body = ade_zip(tmp_path)
    host.files[ADE] = body
    host.script[ADE] = [
        Answer(sized=False, cut=len(body) // 2)
    ]  # no Content-Length: nothing tells it was cut
    root = tmp_path / "data"
    target = download_archive("ade20k", root, progress=False, keep_archive=True)
    assert host.requests == [(ADE, None), (ADE, None)]
    assert (root / "ADEChallengeData2016.zip").read_bytes() == body
    assert not (root / "ADEChallengeData2016.zip.part").exists()
    assert get_dataset("ade20k", target.parent, "val").check().ok


def test_a_member_failing_its_crc_is_refused_twice_then_a_download_error(host, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("ADEChallengeData2016/images/validation/a.jpg", b"A" * 1000)
    damaged = bytearray(buffer.getvalue())
    damaged[damaged.index(b"A" * 1000) + 500] = ord("B")  # central directory intact, data not
    host.files[ADE] = bytes(damaged)
    root = tmp_path / "data"
    with pytest.raises(CorruptArchiveError) as info:
        download_archive("ade20k", root, progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert f"{host.url}{ADE}" in message and str(root / "ADEChallengeData2016.zip") in message
    assert "a.jpg" in message and "CRC" in message and "twice" in message
    assert host.requests == [(ADE, None), (ADE, None)]  # downloaded again once, from the start
    assert sorted(p.name for p in root.iterdir()) == []  # nothing kept, nothing unpacked


def test_garbage_served_twice_is_one_download_error_through_the_cli(host, tmp_path, capsys):
    host.files[ADE] = os.urandom(4096)
    root = tmp_path / "data"
    code, out, err = run_cli(capsys, "data", "download", "ade20k", "--data-root", str(root), "--no-progress")
    assert code == 2 and "Traceback" not in out + err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1
    assert str(root / "ADEChallengeData2016.zip") in flat(err) and "download" in errors[0]
    assert not any(root.iterdir())


@pytest.mark.parametrize(
    "answer",
    [
        Answer(b"<html><body>Moved</body></html>", content_type="text/html; charset=utf-8"),
        Answer(b"\n  <!DOCTYPE html>\n<html><title>Login</title></html>"),  # labelled as binary
        Answer(b"<HTML><HEAD></HEAD></HTML>", content_type="application/zip"),
    ],
    ids=["content-type", "doctype", "html-tag"],
)
def test_an_html_page_is_refused_at_once(host, tmp_path, answer):
    host.files[ADE] = ade_zip(tmp_path)
    host.script[ADE] = [answer]
    root = tmp_path / "data"
    with pytest.raises(DownloadError, match="HTML page") as info:
        download_archive("ade20k", root, progress=False)
    assert f"{host.url}{ADE}" in str(info.value)
    assert host.requests == [(ADE, None)]  # refused at once, not downloaded again
    assert not any(root.iterdir())


def test_a_kept_archive_that_is_not_whole_is_deleted_and_downloaded_again(host, tmp_path):
    body = ade_zip(tmp_path)
    host.files[ADE] = body
    root = tmp_path / "data"
    root.mkdir()
    (root / "ADEChallengeData2016.zip").write_bytes(body[: len(body) // 2])  # an earlier run's cut transfer
    download_archive("ade20k", root, progress=False, keep_archive=True)
    assert host.requests == [(ADE, None)]
    assert (root / "ADEChallengeData2016.zip").read_bytes() == body


def test_a_whole_kept_archive_is_used_without_downloading(host, tmp_path):
    body = ade_zip(tmp_path)
    root = tmp_path / "data"
    root.mkdir()
    (root / "ADEChallengeData2016.zip").write_bytes(body)
    assert download_archive("ade20k", root, progress=False) == root / "ADEChallengeData2016"
    assert host.requests == []


def test_an_unverified_tar_cut_without_content_length_is_downloaded_again(host, tmp_path, monkeypatch):
    body = serve_voc_unverified(host, tmp_path, monkeypatch)
    host.script[VOC] = [Answer(sized=False, cut=len(body) // 2)]
    root = tmp_path / "data"
    download_archive("voc", root, progress=False, keep_archive=True)
    assert host.requests == [(VOC, None), (VOC, None)]
    assert (root / "VOCtrainval_11-May-2012.tar").read_bytes() == body


def _tar_bytes(tmp_path: Path) -> bytes:
    return tar_of(
        tmp_path / "t.tar", tar_file("d/a.txt", b"a" * 600), tar_file("d/b.txt", b"b" * 10)
    ).read_bytes()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda tar: tar[:512], "end of data"),  # cut inside the first member's data
        (lambda tar: tar[: 512 + 1024], "end-of-archive"),  # cut exactly at a member boundary
        (
            lambda tar: tar[: 512 + 1024] + b"\x07" * 4096,
            "end-of-archive",
        ),  # garbage where a header should be
        (lambda tar: b"\x07" * 2048, "tar"),  # no tar at all
        (lambda tar: b"", "empty"),
    ],
    ids=["cut-in-data", "cut-at-boundary", "garbage-header", "garbage", "empty"],
)
def test_check_archive_reads_tar_headers_to_the_end(tmp_path, damage, reason):
    good = tmp_path / "good.tar"
    good.write_bytes(_tar_bytes(tmp_path))
    check_archive(good, "tar")
    bad = tmp_path / "bad.tar"
    bad.write_bytes(damage(good.read_bytes()))
    with pytest.raises(CorruptArchiveError, match=reason) as info:
        check_archive(bad, "tar")
    assert str(bad) in str(info.value) and "\n" not in str(info.value)


def test_check_archive_reads_the_zip_directory_and_every_crc(tmp_path):
    good = tmp_path / "good.zip"
    good.write_bytes(ade_zip(tmp_path))
    check_archive(good, "zip")
    for name, data in {
        "cut.zip": good.read_bytes()[:-30],
        "prefix.zip": b"X" * 40 + good.read_bytes()[40:],
        "empty.zip": b"",
    }.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CorruptArchiveError, match="not a whole zip archive") as info:
            check_archive(tmp_path / name, "zip")
        assert str(tmp_path / name) in str(info.value)


def test_a_whole_archive_of_something_else_is_not_kept(host, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("SomethingElse/readme.txt", "not ADE20K")
    host.files[ADE] = buffer.getvalue()
    root = tmp_path / "data"
    with pytest.raises(DownloadError, match="held no ADEChallengeData2016/ folder; it was deleted"):
        download_archive("ade20k", root, progress=False, keep_archive=True)
    assert not (root / "ADEChallengeData2016.zip").exists()  # the next run downloads again, not reuses it


# ----------------------------------------------------------------------------------------------------------
# 2. resuming never splices: 416, garbage .part files, servers that ignore Range


def test_a_part_longer_than_the_file_416_restarts_from_zero(host, tmp_path):
    body = ade_zip(tmp_path)
    host.files[ADE] = body
    root = tmp_path / "data"
    root.mkdir()
    (root / "ADEChallengeData2016.zip.part").write_bytes(body + b"trailing junk from another file")
    download_archive("ade20k", root, progress=False, keep_archive=True)
    assert host.requests == [(ADE, f"bytes={len(body) + 31}-"), (ADE, None)]
    assert (root / "ADEChallengeData2016.zip").read_bytes() == body


def test_a_complete_part_answered_416_is_checked_and_kept(host, tmp_path):
    body = ade_zip(tmp_path)
    host.files[ADE] = body
    root = tmp_path / "data"
    root.mkdir()
    (root / "ADEChallengeData2016.zip.part").write_bytes(body)
    download_archive("ade20k", root, progress=False, keep_archive=True)
    assert host.requests == [(ADE, f"bytes={len(body)}-")]
    assert (root / "ADEChallengeData2016.zip").read_bytes() == body


def test_a_garbage_part_of_the_full_size_answered_416_restarts_from_zero(host, tmp_path):
    body = ade_zip(tmp_path)
    host.files[ADE] = body
    root = tmp_path / "data"
    root.mkdir()
    (root / "ADEChallengeData2016.zip.part").write_bytes(b"\x00" * len(body))
    download_archive("ade20k", root, progress=False, keep_archive=True)
    assert host.requests == [(ADE, f"bytes={len(body)}-"), (ADE, None)]
    assert (root / "ADEChallengeData2016.zip").read_bytes() == body


def test_resuming_over_a_garbage_part_is_not_spliced_unverified_zip(host, tmp_path):
    body = ade_zip(tmp_path)
    host.files[ADE] = body
    root = tmp_path / "data"
    root.mkdir()
    (root / "ADEChallengeData2016.zip.part").write_bytes(b"G" * 100)
    target = download_archive("ade20k", root, progress=False, keep_archive=True)
    assert host.requests == [(ADE, "bytes=100-"), (ADE, None)]
    assert (root / "ADEChallengeData2016.zip").read_bytes() == body
    assert get_dataset("ade20k", target.parent, "val").check().ok


def test_resuming_over_a_garbage_part_is_not_spliced_verified_tar(host, tmp_path, monkeypatch):
    body = voc_tar(tmp_path)
    host.files[VOC] = body
    pin_voc(monkeypatch, checksum=hashlib.md5(body).hexdigest())
    root = tmp_path / "data"
    root.mkdir()
    (root / "VOCtrainval_11-May-2012.tar.part").write_bytes(b"X" * 100)
    download_archive("voc", root, progress=False, keep_archive=True)
    assert host.requests == [(VOC, "bytes=100-"), (VOC, None)]
    assert (root / "VOCtrainval_11-May-2012.tar").read_bytes() == body


def test_resuming_over_a_garbage_part_of_an_unverified_tar_is_not_spliced(host, tmp_path, monkeypatch):
    body = serve_voc_unverified(host, tmp_path, monkeypatch)
    root = tmp_path / "data"
    root.mkdir()
    (root / "VOCtrainval_11-May-2012.tar.part").write_bytes(b"X" * 1024)
    download_archive("voc", root, progress=False, keep_archive=True)
    assert host.requests == [(VOC, "bytes=1024-"), (VOC, None)]
    assert (root / "VOCtrainval_11-May-2012.tar").read_bytes() == body


def test_a_good_part_is_resumed_once(host, tmp_path):
    body = ade_zip(tmp_path)
    host.files[ADE] = body
    root = tmp_path / "data"
    root.mkdir()
    (root / "ADEChallengeData2016.zip.part").write_bytes(body[:1000])
    download_archive("ade20k", root, progress=False, keep_archive=True)
    assert host.requests == [(ADE, "bytes=1000-")]
    assert (root / "ADEChallengeData2016.zip").read_bytes() == body


def test_a_server_ignoring_range_restarts_from_zero(host, tmp_path):
    body = ade_zip(tmp_path)
    host.files[ADE] = body
    host.script[ADE] = [Answer(ignore_range=True)]
    root = tmp_path / "data"
    root.mkdir()
    (root / "ADEChallengeData2016.zip.part").write_bytes(body[:1000])
    download_archive("ade20k", root, progress=False, keep_archive=True)
    assert host.requests == [(ADE, "bytes=1000-")]
    assert (root / "ADEChallengeData2016.zip").read_bytes() == body


def test_a_checksum_mismatch_twice_is_a_checksum_error(host, tmp_path, monkeypatch):
    body = voc_tar(tmp_path)
    host.files[VOC] = body
    pin_voc(monkeypatch, checksum="0" * 32)
    root = tmp_path / "data"
    with pytest.raises(ChecksumError, match=f"got      md5 {hashlib.md5(body).hexdigest()}"):
        download_archive("voc", root, progress=False)
    assert host.requests == [(VOC, None), (VOC, None)]
    assert not any(root.iterdir())


# ----------------------------------------------------------------------------------------------------------
# 3. a stated bound on the unpacked size, and free space checked first


def test_a_zip_bomb_is_refused_before_anything_is_written(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(3):
            zf.writestr(f"ADEChallengeData2016/z{i}.bin", bytes(8 << 20))  # 24 MB of zeros, ~25 KB zipped
    assert bomb.stat().st_size < 100_000
    target = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError) as info:
        extract_archive(bomb, target, "zip", max_unpacked_bytes=16 << 20)
    message = str(info.value)
    assert str(bomb) in message and f"{3 * (8 << 20):,}" in message and f"{16 << 20:,}" in message
    assert not any(target.iterdir())


def test_a_downloaded_zip_claiming_more_than_ade20k_can_be_is_refused_and_deleted(host, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ADEChallengeData2016/huge.bin", bytes(1000))
    host.files[ADE] = claim_size(buffer.getvalue(), "ADEChallengeData2016/huge.bin", 0xFFFF_FFF0)
    root = tmp_path / "data"
    with pytest.raises(UnsafeArchiveError, match="2,500,000,000") as info:
        download_archive("ade20k", root, progress=False)
    assert "ADEChallengeData2016" in str(info.value) and f"{0xFFFF_FFF0:,}" in str(info.value)
    assert host.requests == [(ADE, None)]  # a bomb is not downloaded again
    assert not any(root.iterdir())


def test_a_tar_over_the_bound_is_refused(tmp_path):
    archive = tar_of(
        tmp_path / "big.tar", tar_file("VOCdevkit/a", b"a" * 3000), tar_file("VOCdevkit/b", b"b" * 3000)
    )
    with pytest.raises(UnsafeArchiveError, match="6,000 bytes"):
        extract_archive(archive, tmp_path / "out", "tar", max_unpacked_bytes=5000)
    assert not (tmp_path / "out" / "VOCdevkit").exists()


def test_free_space_is_checked_before_unpacking(tmp_path, monkeypatch):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ADEChallengeData2016/a.bin", bytes(50_000))
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=10_000))
    target = tmp_path / "out"
    with pytest.raises(DownloadError) as info:
        extract_archive(archive, target, "zip")
    message = str(info.value)
    assert str(target) in message and "50,000 bytes" in message and "10,000 bytes free" in message
    assert not any(target.iterdir())


def test_free_space_is_checked_before_downloading(host, tmp_path, monkeypatch):
    body = ade_zip(tmp_path)
    host.files[ADE] = body
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=100))
    root = tmp_path / "data"
    with pytest.raises(DownloadError, match=f"needs {len(body):,} bytes, 100 bytes free") as info:
        download_archive("ade20k", root, progress=False)
    assert str(root) in str(info.value)
    assert not any(root.iterdir())


# ----------------------------------------------------------------------------------------------------------
# 4. links and path traversal, refused by zoo's own check before anything is written


@pytest.mark.parametrize(
    "members",
    [
        [tar_file("VOCdevkit/a.txt", b"a"), tar_link("VOCdevkit/b.txt", "a.txt")],  # inside, still refused
        [tar_file("VOCdevkit/a.txt", b"a"), tar_link("VOCdevkit/b.txt", "VOCdevkit/a.txt", tarfile.LNKTYPE)],
        [  # a chain: each link points at the next, the last one out of the folder
            tar_link("VOCdevkit/l1", "l2"),
            tar_link("VOCdevkit/l2", "l3"),
            tar_link("VOCdevkit/l3", "../../../etc"),
            tar_file("VOCdevkit/l1/passwd", b"pwned"),
        ],
    ],
    ids=["symlink", "hardlink", "chain"],
)
def test_tar_links_are_refused_before_anything_is_written(tmp_path, members):
    archive = tar_of(tmp_path / "links.tar", *members)
    target = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError, match="is a (symbolic|hard) link") as info:
        extract_archive(archive, target, "tar")
    first_link = next(m for m, _ in members if m.issym() or m.islnk())
    assert repr(first_link.name) in str(info.value) and str(archive) in str(info.value)
    assert not any(target.iterdir())


def test_a_zip_symlink_member_is_refused(tmp_path):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("ADEChallengeData2016/link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "../../etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        extract_archive(archive, tmp_path / "out", "zip")
    assert not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("evil", ["../escape.txt", "/tmp/zoo-abs-escape.txt", "VOCdevkit/../../escape.txt"])
def test_tar_path_traversal_stays_refused(tmp_path, evil):
    archive = tar_of(tmp_path / "evil.tar", tar_file("VOCdevkit/ok.txt", b"ok"), tar_file(evil, b"pwned"))
    with pytest.raises(UnsafeArchiveError, match="outside"):
        extract_archive(archive, tmp_path / "out", "tar")
    assert not any((tmp_path / "out").iterdir()) and not (tmp_path / "escape.txt").exists()


def test_an_unsafe_downloaded_archive_is_not_kept(host, tmp_path, monkeypatch):
    host.files[VOC] = tar_of(tmp_path / "l.tar", tar_link("VOCdevkit/x", "/etc/passwd")).read_bytes()
    pin_voc(monkeypatch, checksum_algorithm=None, checksum=None)
    root = tmp_path / "data"
    with pytest.raises(UnsafeArchiveError, match="deleted"):
        download_archive("voc", root, progress=False, keep_archive=True)
    assert not any(root.iterdir())


# ----------------------------------------------------------------------------------------------------------
# 5. corrupt or truncated archives: one line naming the archive, never a raw tarfile/zipfile traceback


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_extracting_a_truncated_archive_names_it(tmp_path, kind):
    good = ade_zip(tmp_path) if kind == "zip" else voc_tar(tmp_path)
    archive = tmp_path / f"cut.{kind}"
    archive.write_bytes(good[: len(good) // 2])
    with pytest.raises(CorruptArchiveError) as info:
        extract_archive(archive, tmp_path / "out", kind)
    message = str(info.value)
    assert str(archive) in message and "Delete it and download it again" in message and "\n" not in message
    assert isinstance(info.value, DownloadError) and isinstance(info.value, ZooError)


def test_a_verified_archive_that_cannot_be_read_exits_2_naming_it(host, tmp_path, monkeypatch, capsys):
    body = voc_tar(tmp_path)
    cut = body[: len(body) // 2]
    host.files[VOC] = cut
    pin_voc(monkeypatch, checksum=hashlib.md5(cut).hexdigest())  # a published digest of a broken file
    root = tmp_path / "data"
    code, out, err = run_cli(capsys, "data", "download", "voc", "--data-root", str(root), "--no-progress")
    assert code == 2 and "Traceback" not in out + err
    assert "ReadError" not in err and str(root / "VOCtrainval_11-May-2012.tar") in flat(err)
    assert len([line for line in err.splitlines() if "error:" in line]) == 1
    assert not (root / "VOCdevkit").exists()


def test_an_html_page_through_the_cli_exits_2(host, tmp_path, capsys):
    host.files[ADE] = b"<!DOCTYPE html><html>Not here</html>"
    code, out, err = run_cli(
        capsys, "data", "download", "ade20k", "--data-root", str(tmp_path), "--no-progress"
    )
    assert code == 2 and "HTML page" in err and "Traceback" not in out + err
