"""Dataset sources: data-root locations, Hugging Face ``datasets`` sources and official archive downloads.

Downloads run against a loopback HTTP server (127.0.0.1) with Range support, defined here; ``hf:`` sources
are tested by monkeypatching ``datasets.load_dataset`` (emulating the Hub's API endpoints is out of scope).
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import numpy as np
import pytest
from layouts import (
    ade_annotation,
    cityscapes_label_ids,
    voc_label,
    write_ade20k,
    write_png_header,
    write_voc,
)
from loopback import serve

from zoo.datasets import get_dataset
from zoo.datasets.ade20k import REDUCE_ZERO_LABEL
from zoo.datasets.cityscapes import label_ids_to_train_ids
from zoo.datasets.download import (
    ARCHIVES,
    archive_url,
    cityscapes_instructions,
    download_archive,
    extract_archive,
)
from zoo.datasets.locations import dataset_root, default_data_root
from zoo.errors import ChecksumError, DatasetError, DownloadError, UnsafeArchiveError

# ----------------------------------------------------------------------------------------------------------
# locations


def test_default_data_root_env_and_platform(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "d"))
    assert default_data_root() == tmp_path / "d"
    monkeypatch.delenv("ZOO_DATA")
    import platformdirs

    assert default_data_root() == Path(platformdirs.user_data_dir("zoo")) / "data"


def test_dataset_root_names_official_folders(tmp_path):
    assert dataset_root("voc", tmp_path) == tmp_path / "VOCdevkit"
    assert dataset_root("VOC2012", tmp_path) == tmp_path / "VOCdevkit"
    assert dataset_root("ade", tmp_path) == tmp_path / "ADEChallengeData2016"
    assert dataset_root("cityscapes", tmp_path) == tmp_path / "cityscapes"
    with pytest.raises(DatasetError, match="unknown dataset 'coco'"):
        dataset_root("coco", tmp_path)


# ----------------------------------------------------------------------------------------------------------
# Hugging Face datasets sources


def _write_parquet(path: Path, images, masks, ids=None, mask_as_image=True) -> Path:
    import datasets
    from PIL import Image

    data = {"image": [Image.fromarray(a) for a in images]}
    data["label"] = [Image.fromarray(m.astype(np.uint8), mode="L") for m in masks] if mask_as_image else masks
    if ids is not None:
        data["id"] = ids
    ds = datasets.Dataset.from_dict(data).cast_column("image", datasets.Image())
    if mask_as_image:
        ds = ds.cast_column("label", datasets.Image())
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(path))
    return path


def _images(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (12, 16, 3), dtype=np.uint8) for _ in range(n)]


def _hub(source, dataset, tmp_path, **kwargs):
    from zoo.datasets.hf import HubSegmentation

    return HubSegmentation(str(source), dataset, "val", cache_dir=tmp_path / "hf-cache", **kwargs)


def test_hub_ade20k_raw_is_reduced_like_the_files(tmp_path):
    masks = [ade_annotation(0), ade_annotation(1)]
    path = _write_parquet(tmp_path / "ade" / "val.parquet", _images(2), masks, ids=["a", "b"])
    ds = _hub(path, "ade20k", tmp_path)
    assert len(ds) == 2 and ds.num_classes == 150
    image, label, sid = ds[1]
    assert image.dtype == np.uint8 and image.shape == (12, 16, 3)
    assert sid == "b" and label.dtype == np.int64
    np.testing.assert_array_equal(label, REDUCE_ZERO_LABEL[masks[1]])
    np.testing.assert_array_equal(image, _images(2)[1])  # PNG-encoded by datasets: lossless


def test_hub_ade20k_already_reduced(tmp_path):
    reduced = REDUCE_ZERO_LABEL[ade_annotation(0)]
    path = _write_parquet(tmp_path / "r.parquet", _images(1), [reduced])
    ds = _hub(path, "ade20k", tmp_path, label_convention="reduced")
    _, label, sid = ds[0]
    assert sid == "0"  # no id/name column: the row index
    np.testing.assert_array_equal(label, reduced)


def test_hub_cityscapes_label_ids_and_train_ids(tmp_path):
    ids = cityscapes_label_ids(0)
    folder = tmp_path / "cs"
    _write_parquet(folder / "val-00000-of-00001.parquet", _images(1), [ids])
    _write_parquet(folder / "train-00000-of-00001.parquet", _images(2), [ids, ids])  # not picked for val
    ds = _hub(folder, "cityscapes", tmp_path)
    assert len(ds) == 1
    np.testing.assert_array_equal(ds[0][1], label_ids_to_train_ids(ids))
    path = _write_parquet(tmp_path / "t.parquet", _images(1), [label_ids_to_train_ids(ids)])
    ds = _hub(path, "cityscapes", tmp_path, label_convention="train_ids")
    np.testing.assert_array_equal(ds[0][1], label_ids_to_train_ids(ids))


def test_hub_voc_indices_as_is_and_array_masks(tmp_path):
    lab = voc_label(3)
    path = _write_parquet(
        tmp_path / "v.parquet", _images(1), [lab.astype(np.int64).tolist()], mask_as_image=False
    )
    ds = _hub(path, "voc", tmp_path)
    np.testing.assert_array_equal(ds[0][1], lab)


def test_hub_bad_values_name_source_row_and_values(tmp_path):
    good = ade_annotation(0)
    bad = good.copy()
    bad[0, :3] = 200
    path = _write_parquet(tmp_path / "bad.parquet", _images(2), [good, bad], ids=["ok", "broken"])
    ds = _hub(path, "ade20k", tmp_path)
    with pytest.raises(DatasetError) as info:
        ds[1]
    message = str(info.value)
    assert str(path) in message and "row 1" in message and "broken" in message and "200" in message
    report = ds.check()
    assert report.num_samples == 2 and report.num_ok == 1
    assert [sid for sid, _ in report.problems] == ["broken"]
    # reduced convention: 150 is out of range (0..149 and 255 only)
    path = _write_parquet(tmp_path / "bad_reduced.parquet", _images(1), [good])
    with pytest.raises(DatasetError, match="150"):
        _hub(path, "ade20k", tmp_path, label_convention="reduced")[0]


def test_hub_argument_errors(tmp_path):
    path = _write_parquet(tmp_path / "x.parquet", _images(1), [ade_annotation(0)])
    with pytest.raises(DatasetError, match="label_convention"):
        _hub(path, "voc", tmp_path, label_convention="reduced")
    with pytest.raises(DatasetError, match="unknown dataset"):
        _hub(path, "coco", tmp_path)
    with pytest.raises(DatasetError, match="no label column 'mask'"):
        _hub(path, "ade20k", tmp_path, label_column="mask")
    with pytest.raises(DatasetError, match="source not found"):
        _hub(tmp_path / "missing", "ade20k", tmp_path)


def test_hub_empty_split_and_oversized_image(tmp_path, monkeypatch):
    import datasets

    # (empty parquet files and saved datasets already fail to load in datasets itself)
    empty = datasets.Dataset.from_dict({"image": [], "label": []})
    with monkeypatch.context() as patch:
        patch.setattr(datasets, "load_dataset", lambda *args, **kwargs: empty)
        with pytest.raises(DatasetError, match=r"^hf:org/empty: split 'val' has no rows"):
            _hub("hf:org/empty", "ade20k", tmp_path)
    from PIL import Image

    header = tmp_path / "big.png"
    write_png_header(header, 10_000, 10_000)  # declares 100 MP, holds a few bytes
    small = io.BytesIO()
    Image.fromarray(_images(1)[0]).save(small, format="PNG")
    mask = Image.fromarray(ade_annotation(0), mode="L")
    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.Image(), "id": datasets.Value("string")}
    )
    cells = [{"bytes": small.getvalue(), "path": None}, {"bytes": header.read_bytes(), "path": None}]
    table = datasets.Dataset.from_dict(
        {"image": cells, "label": [mask, mask], "id": ["a", "b"]}, features=features
    )
    table.to_parquet(str(tmp_path / "bomb.parquet"))
    ds = _hub(tmp_path / "bomb.parquet", "ade20k", tmp_path)
    assert ds[0][2] == "a"
    with pytest.raises(
        DatasetError, match=r"row 1 \(b\) column 'image': image is 10000x10000 = 100 MP, over"
    ):
        ds[1]
    assert [sid for sid, _ in ds.check().problems] == ["b"]


def test_hub_hf_source_calls_load_dataset_with_repo_config_split(tmp_path, monkeypatch):
    import datasets

    masks = [ade_annotation(0)]
    path = _write_parquet(tmp_path / "x.parquet", _images(1), masks)
    local = datasets.load_dataset(
        "parquet", data_files=[str(path)], split="train", cache_dir=str(tmp_path / "c")
    )
    calls = []

    def fake_load_dataset(repo, config=None, *, split=None, **kwargs):
        calls.append((repo, config, split))
        return local

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    from zoo.datasets.hf import HubSegmentation

    ds = HubSegmentation("hf:org/ade-mirror:scene_parsing", "ade20k", "validation")
    assert calls == [("org/ade-mirror", "scene_parsing", "validation")]
    np.testing.assert_array_equal(ds[0][1], REDUCE_ZERO_LABEL[masks[0]])
    HubSegmentation("hf:org/plain", "ade20k", "train")
    assert calls[-1] == ("org/plain", None, "train")


# ----------------------------------------------------------------------------------------------------------
# archive downloads against a loopback server with Range support


@dataclass
class RangeServer:
    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    truncate_next: set[str] = field(default_factory=set)  # paths whose next answer stops halfway
    ignore_range: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)


class RangeHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        state: RangeServer = self.server.state  # type: ignore[attr-defined]
        state.requests.append((self.path, self.headers.get("Range")))
        body = state.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        header = self.headers.get("Range")
        if header and not state.ignore_range:
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
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.path in state.truncate_next:
            state.truncate_next.discard(self.path)
            self.wfile.write(payload[: len(payload) // 2])
            self.close_connection = True
        else:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def range_server(monkeypatch) -> Iterator[RangeServer]:
    for state in serve(RangeHandler, RangeServer):
        monkeypatch.setenv("ZOO_DATA_MIRROR", state.url + "/mirror/")
        monkeypatch.setenv("no_proxy", "*")
        monkeypatch.setenv("NO_PROXY", "*")
        yield state


def _voc_tar(tmp_path: Path) -> bytes:
    src = tmp_path / "src-voc"
    write_voc(src)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(src / "VOCdevkit", arcname="VOCdevkit")
    return buffer.getvalue()


def _ade_zip(tmp_path: Path) -> bytes:
    src = tmp_path / "src-ade"
    write_ade20k(src)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in sorted((src / "ADEChallengeData2016").rglob("*")):
            zf.write(path, path.relative_to(src).as_posix())
    return buffer.getvalue()


def _serve_voc(range_server: RangeServer, tmp_path: Path, monkeypatch) -> bytes:
    body = _voc_tar(tmp_path)
    range_server.files["/mirror/VOCtrainval_11-May-2012.tar"] = body
    # Point the published md5 at the test archive (the real one is 2 GB).
    voc = ARCHIVES["voc"]
    monkeypatch.setitem(
        ARCHIVES, "voc", type(voc)(voc.dataset, voc.url, "md5", hashlib.md5(body).hexdigest(), voc.kind)
    )
    return body


def test_archive_url_official_and_mirror(monkeypatch):
    monkeypatch.delenv("ZOO_DATA_MIRROR", raising=False)
    assert archive_url("voc") == "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar"
    assert archive_url("ade20k") == "http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip"
    monkeypatch.setenv("ZOO_DATA_MIRROR", "http://m.example/data/")
    assert archive_url("ade20k") == "http://m.example/data/ADEChallengeData2016.zip"
    assert ARCHIVES["voc"].checksum == "6cd6e144f989b92b3379bac3b3de84fd"
    assert ARCHIVES["ade20k"].checksum is None and ARCHIVES["ade20k"].checksum_algorithm is None


def test_voc_download_verifies_and_extracts_a_loadable_layout(range_server, tmp_path, monkeypatch):
    _serve_voc(range_server, tmp_path, monkeypatch)
    root = tmp_path / "data"
    target = download_archive("voc", root, progress=False)
    assert target == root / "VOCdevkit"
    assert not (root / "VOCtrainval_11-May-2012.tar").exists()  # removed after unpacking
    assert not (root / "VOCtrainval_11-May-2012.tar.part").exists()
    ds = get_dataset("voc", root, "val")
    assert len(ds) == 2 and ds.check().ok
    assert range_server.requests == [("/mirror/VOCtrainval_11-May-2012.tar", None)]


def test_resume_after_truncated_transfer(range_server, tmp_path, monkeypatch):
    body = _serve_voc(range_server, tmp_path, monkeypatch)
    path = "/mirror/VOCtrainval_11-May-2012.tar"
    range_server.truncate_next.add(path)
    root = tmp_path / "data"
    with pytest.raises(DownloadError, match="truncated transfer.*run the download again to resume"):
        download_archive("voc", root, progress=False)
    part = root / "VOCtrainval_11-May-2012.tar.part"
    kept = part.stat().st_size
    assert kept == len(body) // 2
    target = download_archive("voc", root, progress=False, keep_archive=True)
    assert range_server.requests[-1] == (path, f"bytes={kept}-")
    assert (root / "VOCtrainval_11-May-2012.tar").read_bytes() == body and not part.exists()
    assert get_dataset("voc", target.parent, "train").check().ok


def test_server_ignoring_range_restarts_from_zero(range_server, tmp_path, monkeypatch):
    body = _serve_voc(range_server, tmp_path, monkeypatch)
    root = tmp_path / "data"
    root.mkdir()
    (root / "VOCtrainval_11-May-2012.tar.part").write_bytes(b"garbage that is not the start")
    range_server.ignore_range = True
    download_archive("voc", root, progress=False, keep_archive=True)
    assert (root / "VOCtrainval_11-May-2012.tar").read_bytes() == body


def test_checksum_mismatch_deletes_partial_and_names_digests(range_server, tmp_path, monkeypatch):
    body = _serve_voc(range_server, tmp_path, monkeypatch)
    other = body[:-1] + b"!"  # the host serves another file than the one published: every download fails
    range_server.files["/mirror/VOCtrainval_11-May-2012.tar"] = other
    root = tmp_path / "data"
    root.mkdir()
    part = root / "VOCtrainval_11-May-2012.tar.part"
    part.write_bytes(b"X" * 100)  # wrong first bytes: the resumed file fails, then one from the start
    with pytest.raises(ChecksumError) as info:
        download_archive("voc", root, progress=False)
    message = str(info.value)
    wrong = hashlib.md5(other).hexdigest()
    assert f"expected md5 {hashlib.md5(body).hexdigest()}" in message and f"got      md5 {wrong}" in message
    assert not part.exists() and not (root / "VOCdevkit").exists()


def test_ade_download_unverified_says_so_and_extracts_zip(range_server, tmp_path, capsys):
    range_server.files["/mirror/ADEChallengeData2016.zip"] = _ade_zip(tmp_path)
    root = tmp_path / "data"
    target = download_archive("ade20k", root, progress=True)
    assert target == root / "ADEChallengeData2016"
    assert "cannot be verified" in capsys.readouterr().err
    ds = get_dataset("ade20k", root, "val")
    assert len(ds) == 3 and ds.check().ok


def test_http_error_is_a_download_error(range_server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_archive("ade20k", tmp_path / "data", progress=False)


def test_cityscapes_is_not_downloadable(tmp_path):
    with pytest.raises(ValueError, match="login"):
        download_archive("cityscapes", tmp_path)
    text = cityscapes_instructions(tmp_path)
    for needle in (
        "cityscapes-dataset.com",
        "leftImg8bit_trainvaltest.zip",
        "gtFine_trainvaltest.zip",
        str(tmp_path / "cityscapes"),
        "createTrainIdLabelImgs",
        "Optional",
    ):
        assert needle in text


@pytest.mark.parametrize("evil", ["../escape.txt", "/tmp/zoo-abs-escape.txt", "a/../../escape.txt"])
def test_zip_path_traversal_refused(tmp_path, evil):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ADEChallengeData2016/ok.txt", "fine")
        zf.writestr(evil, "pwned")
    target = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError, match="refusing"):
        extract_archive(archive, target, "zip")
    assert not (target / "ADEChallengeData2016").exists()  # nothing written
    assert not (tmp_path / "escape.txt").exists()


def test_tar_traversal_and_escaping_links_refused(tmp_path):
    def make(name: str, member: tarfile.TarInfo, data: bytes = b"") -> Path:
        path = tmp_path / name
        with tarfile.open(path, "w") as tar:
            tar.addfile(member, io.BytesIO(data) if data else None)
        return path

    evil = tarfile.TarInfo("../escape.txt")
    evil.size = 5
    link = tarfile.TarInfo("VOCdevkit/link")
    link.type, link.linkname = tarfile.SYMTYPE, "../../../etc/passwd"
    for archive in (make("a.tar", evil, b"pwned"), make("b.tar", link)):
        with pytest.raises(UnsafeArchiveError, match="refusing"):
            extract_archive(archive, tmp_path / "out", "tar")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out" / "VOCdevkit").exists()


def test_traversal_in_a_downloaded_archive_is_refused(range_server, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("../../outside.txt", "pwned")
    range_server.files["/mirror/ADEChallengeData2016.zip"] = buffer.getvalue()
    with pytest.raises(UnsafeArchiveError):
        download_archive("ade20k", tmp_path / "data", progress=False)
    assert not (tmp_path / "outside.txt").exists()
