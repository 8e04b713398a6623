"""Dataset loaders for the three benchmarks, in their official on-disk layouts.

Each dataset module declares its label space as data (classes, palette, label mapping) and converts the
ground truth once, on read, to the shared contract (DESIGN.md, "Label space")::

    ds = get_dataset("voc", "/data/VOCdevkit", "val")
    image, label, sample_id = ds[0]   # uint8 HxWx3 RGB, int64 HxW in 0..C-1 or 255 (ignore)

Layout problems (missing folders, missing split lists) raise :class:`DatasetError` at construction; problems
with one sample (missing mask, size mismatch, values outside the label space, unreadable file) raise it when
that sample is read, naming the file. :func:`check` scans a whole split and reports every problem at once.

Importing this package needs numpy and Pillow only (no torch).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from zoo.errors import DatasetError

IGNORE_INDEX = 255


def _open_image(path: Path, what: str):
    """Open and fully decode an image with Pillow, turning any decoding failure into a DatasetError."""
    from PIL import Image

    if not path.is_file():
        raise DatasetError(f"{path}: {what} not found")
    try:
        img = Image.open(path)
        img.load()
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError... for corrupt files
        raise DatasetError(
            f"{path}: cannot read {what} ({type(exc).__name__}: {exc}); corrupt or truncated file?"
        ) from exc
    return img


def locate_root(
    root: str | Path, candidates: Sequence[Path], required: Sequence[str], dataset: str, expected: str
) -> Path:
    """The first of ``candidates`` holding every folder in ``required``; else a DatasetError saying where it looked.

    ``required`` entries may be alternatives joined by ``|`` (any one of them is enough).
    """
    root = Path(root)
    for candidate in candidates:
        if all(any((candidate / option).is_dir() for option in need.split("|")) for need in required):
            return candidate
    if not root.exists():
        raise DatasetError(f"{root}: {dataset} root does not exist")
    wanted = " and ".join(need.replace("|", " or ") for need in required)
    looked = ", ".join(str(c) for c in candidates)
    raise DatasetError(
        f"{root}: no {dataset} layout found; looked for {wanted} in {looked} (expected {expected})"
    )


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 HxWx3 RGB (grayscale, CMYK and palette images are converted)."""
    path = Path(path)
    img = _open_image(path, "image")
    if img.mode != "RGB":
        try:
            img = img.convert("RGB")
        except Exception as exc:
            raise DatasetError(f"{path}: cannot convert image of mode {img.mode!r} to RGB ({exc})") from exc
    return np.asarray(img, dtype=np.uint8)


def read_index_mask(path: str | Path) -> np.ndarray:
    """Read a single-channel label PNG as its raw index values (mode P indices as is, never via RGB)."""
    path = Path(path)
    img = _open_image(path, "mask")
    if img.mode in ("P", "L"):
        return np.asarray(img, dtype=np.uint8)
    if img.mode in ("I;16", "I"):
        return np.asarray(img).astype(np.int64)
    if img.mode in ("RGB", "RGBA"):
        raise DatasetError(
            f"{path}: mask is a colour ({img.mode}) image; expected a single-channel index PNG (mode P or L) "
            "holding label values; colour-coded masks are not decoded"
        )
    raise DatasetError(
        f"{path}: mask has unsupported mode {img.mode!r}; expected a single-channel PNG (mode P or L)"
    )


def describe_invalid(values: np.ndarray, valid: np.ndarray, path: Path, space: str) -> str:
    """The message for a mask holding values outside its label space (``valid`` is a bool lookup table)."""
    uniq = np.unique(values)
    bad = [int(v) for v in uniq if v < 0 or v >= len(valid) or not valid[v]]
    shown = ", ".join(map(str, bad[:10])) + (", ..." if len(bad) > 10 else "")
    msg = f"{path}: label values outside the label space ({space}): {shown}"
    if set(uniq.tolist()) <= {0, 255} and 255 in bad:
        msg += "; this looks like a binary 0/255 mask, not a label map of this dataset"
    return msg


@dataclass
class CheckReport:
    """What :func:`check` found: counts, per-class pixel counts and every problem (not only the first)."""

    dataset: str
    root: str
    split: str
    num_samples: int = 0
    num_ok: int = 0
    class_pixels: list[int] = field(default_factory=list)
    ignore_pixels: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)  # (sample id or "<layout>", message)

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        lines = [
            f"{self.dataset} {self.split} at {self.root}: {self.num_samples} samples, "
            f"{self.num_ok} ok, {len(self.problems)} problem(s)"
        ]
        lines += [f"  {sid}: {msg}" for sid, msg in self.problems]
        return "\n".join(lines)


class SegmentationDataset(Sequence):
    """Base of the dataset loaders: ``ds[i] -> (image uint8 HxWx3 RGB, label int64 HxW, sample_id)``.

    Subclasses declare ``name``, ``classes`` and ``palette`` and implement ``_pairs`` (the image and mask
    paths of sample ``i``) and ``encode_label`` (raw mask values -> 0..C-1 / 255, raising DatasetError on
    values outside the label space).
    """

    name: ClassVar[str] = ""
    classes: ClassVar[tuple[str, ...]] = ()
    palette: ClassVar[np.ndarray] = np.zeros((0, 3), np.uint8)
    ignore_index: ClassVar[int] = IGNORE_INDEX

    root: Path
    split: str
    ids: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.ids)

    def paths(self, index: int) -> tuple[Path, Path]:
        """(image path, mask path) of sample ``index``."""
        raise NotImplementedError

    def encode_label(self, raw: np.ndarray, path: Path) -> np.ndarray:
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, str]:  # type: ignore[override]
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.name} {self.split}: index {index} out of range for {len(self)} samples")
        index %= len(self)
        image_path, mask_path = self.paths(index)
        if not image_path.is_file():
            raise DatasetError(f"{image_path}: image of sample {self.ids[index]!r} not found")
        if not mask_path.is_file():
            raise DatasetError(f"{image_path}: image has no mask (expected {mask_path})")
        image = read_rgb(image_path)
        label = self.encode_label(read_index_mask(mask_path), mask_path)
        if label.shape != image.shape[:2]:
            raise DatasetError(
                f"{mask_path}: mask is {label.shape[1]}x{label.shape[0]} (WxH) but its image {image_path} is "
                f"{image.shape[1]}x{image.shape[0]}; the ground truth must have the image's size"
            )
        return image, label, self.ids[index]

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray, str]]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, samples={len(self)})"

    def check(self) -> CheckReport:
        """Read every sample; return the counts and every problem found (never stops at the first)."""
        report = CheckReport(self.name, str(self.root), self.split, num_samples=len(self))
        counts = np.zeros(self.num_classes, np.int64)
        for i, sid in enumerate(self.ids):
            try:
                _, label, _ = self[i]
            except DatasetError as exc:
                report.problems.append((sid, str(exc)))
                continue
            report.num_ok += 1
            hist = np.bincount(label.ravel(), minlength=256)
            counts += hist[: self.num_classes]
            report.ignore_pixels += int(hist[IGNORE_INDEX])
        report.class_pixels = counts.tolist()
        return report


def _registry() -> dict[str, type[SegmentationDataset]]:
    from zoo.datasets.ade20k import ADE20K
    from zoo.datasets.cityscapes import Cityscapes
    from zoo.datasets.voc import VOCSegmentation

    return {"voc": VOCSegmentation, "cityscapes": Cityscapes, "ade20k": ADE20K}


ALIASES = {"voc2012": "voc", "pascal_voc": "voc", "ade": "ade20k", "ade20k_sceneparsing": "ade20k"}
DATASET_NAMES = ("voc", "cityscapes", "ade20k")


def get_dataset(name: str, root: str | Path, split: str = "val", **kwargs) -> SegmentationDataset:
    """The loader for ``name`` (``voc``, ``cityscapes``, ``ade20k``) over ``root``'s ``split``."""
    key = ALIASES.get(name.lower(), name.lower())
    registry = _registry()
    if key not in registry:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASET_NAMES)}")
    return registry[key](root, split, **kwargs)


def check(name: str, root: str | Path, split: str = "val", **kwargs) -> CheckReport:
    """Scan every sample of a split; layout errors become a problem of the report instead of raising."""
    try:
        ds = get_dataset(name, root, split, **kwargs)
    except DatasetError as exc:
        key = ALIASES.get(name.lower(), name.lower())
        return CheckReport(key, str(root), split, problems=[("<layout>", str(exc))])
    return ds.check()


from zoo.datasets.ade20k import ADE20K  # noqa: E402
from zoo.datasets.cityscapes import Cityscapes  # noqa: E402
from zoo.datasets.voc import VOCSegmentation  # noqa: E402

__all__ = [
    "ADE20K",
    "DATASET_NAMES",
    "IGNORE_INDEX",
    "CheckReport",
    "Cityscapes",
    "DatasetError",
    "SegmentationDataset",
    "VOCSegmentation",
    "check",
    "get_dataset",
    "read_index_mask",
    "read_rgb",
]
