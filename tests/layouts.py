"""Writers of tiny datasets in the exact official on-disk layouts, for loader and harness tests.

Each writer returns the raw label arrays it wrote (keyed by sample id) so that tests can compute what the
loader must yield. Masks are real PNGs: VOC as mode P with the VOC palette, Cityscapes labelIds / ADE20K
annotations as mode L.

:data:`REAL_DATA` is the folder of real samples in the official layouts (``shared/data/real``), or ``None``
where this checkout has none (tests using it are skipped).
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.datasets.voc import voc_colormap

H, W = 12, 16


def _real_data() -> Path | None:
    """``$ZOO_REAL_DATA``, else ``shared/data/real`` beside the checkout (``<repo>/../shared``) or beside
    the folder of worktrees (``<repo>/../../shared``); None when none exists."""
    repo = Path(__file__).resolve().parents[1]
    configured = os.environ.get("ZOO_REAL_DATA")
    candidates = [Path(configured)] if configured else []
    candidates += [repo.parent / "shared" / "data" / "real", repo.parent.parent / "shared" / "data" / "real"]
    return next((c for c in candidates if c.is_dir()), None)


REAL_DATA = _real_data()


def write_png_header(path: Path, width: int, height: int) -> None:
    """A PNG that *declares* ``width x height`` (8-bit grayscale) but holds almost no pixel data.

    Opening it reads the size without allocating the pixels, so an oversized image (a decompression bomb)
    costs the test a few bytes; decoding it fails (truncated data).
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def _image(seed: int, h: int = H, w: int = W) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def save_palette_png(path: Path, index: np.ndarray) -> None:
    """Save a VOC-style palette PNG: index values as is, VOC colormap as palette."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(index.astype(np.uint8), mode="P")
    img.putpalette(voc_colormap(256).ravel().tolist())
    img.save(path)


def save_l_png(path: Path, values: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(values.astype(np.uint8), mode="L").save(path)


def save_image(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)  # .jpg -> JPEG, .png -> PNG


def voc_label(seed: int) -> np.ndarray:
    """Known VOC indices: background, classes 1/15/20 and a 255 boundary line."""
    lab = np.zeros((H, W), np.uint8)
    lab[2:6, 2:8] = 15
    lab[7:11, 9:15] = (seed % 20) + 1
    lab[0, :] = 20
    lab[6, :] = 255
    return lab


def write_voc(root: Path, splits: dict[str, list[str]] | None = None) -> dict[str, np.ndarray]:
    """Write ``root/VOCdevkit/VOC2012`` with the given split lists; returns id -> index mask."""
    splits = splits or {"train": ["2007_000001", "2007_000002"], "val": ["2007_000003", "2007_000004"]}
    voc = Path(root) / "VOCdevkit" / "VOC2012"
    (voc / "ImageSets" / "Segmentation").mkdir(parents=True, exist_ok=True)
    labels: dict[str, np.ndarray] = {}
    for split, ids in splits.items():
        (voc / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
        for n, sid in enumerate(ids):
            save_image(voc / "JPEGImages" / f"{sid}.jpg", _image(n))
            labels[sid] = voc_label(n)
            save_palette_png(voc / "SegmentationClass" / f"{sid}.png", labels[sid])
    return labels


# Cityscapes labelIds used by the generated frames and their trainIds: road, car, unlabeled, person, sky, static.
CITYSCAPES_KNOWN = {7: 0, 26: 13, 0: 255, 24: 11, 23: 10, 4: 255}


def cityscapes_label_ids(seed: int) -> np.ndarray:
    lab = np.full((H, W), 7, np.uint8)  # road
    lab[:3, :] = 23  # sky
    lab[3:6, 2:10] = 26  # car
    lab[6:10, 11:14] = 24  # person
    lab[-1, :] = 0  # unlabeled
    lab[5, 0] = 4  # static
    return lab


def write_cityscapes(
    root: Path, split: str = "val", frames: dict[str, list[str]] | None = None, train_ids: bool = False
) -> dict[str, np.ndarray]:
    """Write ``root/{leftImg8bit,gtFine}/{split}/{city}/...``; returns "city/stem" -> labelIds."""
    frames = frames or {
        "frankfurt": ["frankfurt_000000_000001", "frankfurt_000000_000002"],
        "lindau": ["lindau_000000_000019"],
    }
    from zoo.datasets.cityscapes import label_ids_to_train_ids

    root = Path(root)
    labels: dict[str, np.ndarray] = {}
    for city, stems in frames.items():
        for n, stem in enumerate(stems):
            save_image(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", _image(n))
            lab = cityscapes_label_ids(n)
            gt = root / "gtFine" / split / city
            save_l_png(gt / f"{stem}_gtFine_labelIds.png", lab)
            if train_ids:
                save_l_png(gt / f"{stem}_gtFine_labelTrainIds.png", label_ids_to_train_ids(lab))
            labels[f"{city}/{stem}"] = lab
    return labels


def ade_annotation(seed: int) -> np.ndarray:
    """Annotation values 0 (other), 1 (wall), 13 (person), 150 (flag)."""
    lab = np.zeros((H, W), np.uint8)
    lab[:4] = 1
    lab[4:8, :8] = 13
    lab[8:, 8:] = 150
    lab[0, 0] = (seed % 150) + 1
    return lab


def write_ade20k(root: Path, counts: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """Write ``root/ADEChallengeData2016/{images,annotations}/{training,validation}``; returns id -> annotation."""
    counts = counts or {"training": 2, "validation": 3}
    ade = Path(root) / "ADEChallengeData2016"
    labels: dict[str, np.ndarray] = {}
    for folder, count in counts.items():
        prefix = "ADE_train" if folder == "training" else "ADE_val"
        (ade / "images" / folder).mkdir(parents=True, exist_ok=True)
        (ade / "annotations" / folder).mkdir(parents=True, exist_ok=True)
        for n in range(count):
            sid = f"{prefix}_{n + 1:08d}"
            save_image(ade / "images" / folder / f"{sid}.jpg", _image(n))
            labels[sid] = ade_annotation(n)
            save_l_png(ade / "annotations" / folder / f"{sid}.png", labels[sid])
    return labels
