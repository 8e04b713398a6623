"""What the dataset loaders share: safe image reading, split lists, the base class and :class:`CheckReport`.

Every expected problem is a :class:`~zoo.errors.DatasetError` whose one-line message starts with the file
(or the glob pattern, or the Hugging Face row) at fault:

* images: missing, corrupt or truncated, of an unusable mode, or larger than :func:`max_image_pixels`
  (a decompression bomb, or a file that would exhaust memory);
* split lists (:func:`read_split_list`): not UTF-8, empty, listing an id twice, or an id that leaves the
  dataset folder;
* a split without samples (:func:`no_samples_error`): the glob pattern looked for, and what was found instead.

This module imports no other loader, so the loaders and the package ``__init__`` import it without a cycle.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import IO, ClassVar

import numpy as np
from PIL import Image

from zoo.datasets.labels import IGNORE_INDEX, LabelConvention
from zoo.datasets.spec import DatasetSpec
from zoo.errors import DatasetError

__all__ = [
    "DEFAULT_MAX_IMAGE_PIXELS",
    "IGNORE_INDEX",
    "CheckReport",
    "SegmentationDataset",
    "check_image_size",
    "check_split",
    "image_to_index",
    "image_to_rgb",
    "locate_root",
    "max_image_pixels",
    "no_samples_error",
    "open_image",
    "read_index_mask",
    "read_rgb",
    "read_split_list",
]

#: Images with more pixels than this are refused before they are decoded: 90 megapixels, 45x the largest
#: benchmark image (Cityscapes, 2048x1024) and just above Pillow's own warning threshold (89.5 MP). Raise it
#: with ``$ZOO_MAX_IMAGE_PIXELS`` or the loaders' ``max_image_pixels=``; Pillow itself still refuses images
#: over twice its threshold (about 179 MP).
DEFAULT_MAX_IMAGE_PIXELS = 90_000_000
_MAX_PIXELS_ENV = "ZOO_MAX_IMAGE_PIXELS"
_HOW_TO_RAISE = f"set ${_MAX_PIXELS_ENV} or pass max_image_pixels= to read larger images"


def max_image_pixels() -> int:
    """The pixel limit in force: ``$ZOO_MAX_IMAGE_PIXELS`` (read at each call) if set, else the default.

    Raises:
        DatasetError: the variable is set to something other than a positive integer.
    """
    configured = os.environ.get(_MAX_PIXELS_ENV, "").strip().replace("_", "")
    if not configured:
        return DEFAULT_MAX_IMAGE_PIXELS
    if not configured.isdigit() or int(configured) < 1:
        raise DatasetError(
            f"${_MAX_PIXELS_ENV}={os.environ[_MAX_PIXELS_ENV]!r}: expected a positive number of pixels "
            f"such as {DEFAULT_MAX_IMAGE_PIXELS}"
        )
    return int(configured)


def _pixels(pixels: int) -> str:
    """``100 MP``, ``1.5 MP`` or, below 0.1 MP, ``192 pixels``."""
    if pixels < 100_000:
        return f"{pixels} pixels"
    return f"{pixels / 1e6:.1f}".removesuffix(".0") + " MP"


def check_image_size(size: tuple[int, int], name: str, what: str, max_pixels: int | None = None) -> None:
    """Refuse an image of ``size`` (width, height) over the pixel limit.

    Raises:
        DatasetError: ``name``: the size, the limit (``max_pixels``, else :func:`max_image_pixels`) and how
            to raise it.
    """
    limit = max_image_pixels() if max_pixels is None else max_pixels
    width, height = size
    if width * height > limit:
        raise DatasetError(
            f"{name}: {what} is {width}x{height} = {_pixels(width * height)}, over the limit of "
            f"{_pixels(limit)} ({_HOW_TO_RAISE})"
        )


def open_image(
    source: str | Path | IO[bytes], what: str, name: str | None = None, max_pixels: int | None = None
) -> Image.Image:
    """Open and fully decode an image with Pillow, after checking its size against the pixel limit.

    Args:
        source: a file path, or an open binary file (a Hugging Face cell's bytes).
        what: what the image is, for messages (``"image"``, ``"mask"``).
        name: what messages start with; default: the path.
        max_pixels: the largest ``width x height`` accepted; ``None``: :func:`max_image_pixels`.

    Returns:
        The decoded image (any mode).

    Raises:
        DatasetError: the file is missing, corrupt or truncated, too large to decode, or over the limit;
            the message starts with ``name`` and, for a size problem, gives the size and the limit.
    """
    name = name or str(source)
    if isinstance(source, str | Path) and not Path(source).is_file():
        raise DatasetError(f"{name}: {what} not found")
    limit = max_image_pixels() if max_pixels is None else max_pixels
    img = None
    try:
        # zoo's limit decides below; Pillow's own warning (at 89.5 MP) would only repeat it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(source)
        check_image_size(img.size, name, what, limit)
        img.load()
    except DatasetError:
        if img is not None:
            img.close()
        raise
    except Image.DecompressionBombError as exc:
        raise DatasetError(
            f"{name}: {what} refused by Pillow as a decompression bomb ({exc}); zoo's limit is "
            f"{_pixels(limit)}"
        ) from exc
    except MemoryError as exc:
        size = "x".join(map(str, img.size)) if img is not None else "unknown size"
        raise DatasetError(
            f"{name}: not enough memory to decode the {what} ({size}); the limit is {_pixels(limit)} "
            f"({_HOW_TO_RAISE}, or lower it)"
        ) from exc
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError... for corrupt files
        raise DatasetError(
            f"{name}: cannot read {what} ({type(exc).__name__}: {exc}); corrupt or truncated file?"
        ) from exc
    return img


def image_to_rgb(img: Image.Image, name: str) -> np.ndarray:
    """A decoded image as uint8 HxWx3 RGB (grayscale, CMYK and palette images are converted)."""
    if img.mode != "RGB":
        try:
            img = img.convert("RGB")
        except Exception as exc:
            raise DatasetError(f"{name}: cannot convert image of mode {img.mode!r} to RGB ({exc})") from exc
    return np.asarray(img, dtype=np.uint8)


def image_to_index(img: Image.Image, name: str) -> np.ndarray:
    """A decoded single-channel mask as its raw index values (mode P indices as is, never via RGB).

    Raises:
        DatasetError: a colour (RGB/RGBA) mask or another unusable mode.
    """
    if img.mode in ("P", "L"):
        return np.asarray(img, dtype=np.uint8)
    if img.mode in ("I;16", "I"):
        return np.asarray(img).astype(np.int64)
    if img.mode in ("RGB", "RGBA"):
        raise DatasetError(
            f"{name}: mask is a colour ({img.mode}) image; expected a single-channel index PNG (mode P or L) "
            "holding label values; colour-coded masks are not decoded"
        )
    raise DatasetError(
        f"{name}: mask has unsupported mode {img.mode!r}; expected a single-channel PNG (mode P or L)"
    )


def read_rgb(path: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as uint8 HxWx3 RGB; DatasetError naming the file if it cannot be (see :func:`open_image`)."""
    with open_image(Path(path), "image", max_pixels=max_pixels) as img:
        return image_to_rgb(img, str(path))


def read_index_mask(path: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """Read a single-channel label PNG as its raw index values (mode P indices as is, never via RGB)."""
    with open_image(Path(path), "mask", max_pixels=max_pixels) as img:
        return image_to_index(img, str(path))


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


def _leaves_folder(sample_id: str) -> bool:
    """Whether ``sample_id``, joined to a dataset folder, would name a file outside it."""
    return (
        sample_id.startswith(("/", "\\"))
        or bool(PureWindowsPath(sample_id).drive)
        or ".." in re.split(r"[\\/]", sample_id)
    )


def read_split_list(list_file: Path) -> list[str]:
    """The sample ids of a split list (one per line, blank lines skipped, UTF-8 with or without BOM).

    Raises:
        DatasetError: naming ``list_file``: it cannot be read, is not UTF-8, lists no id, lists an id twice
            (the sample would count twice in the score), or holds an id that leaves the dataset folder
            (an absolute path or a ``..`` component).
    """
    try:
        data = list_file.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{list_file}: cannot read split list ({exc.strerror or exc})") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"{list_file}: split list is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "expected one image id per line"
        ) from exc
    first_line: dict[str, int] = {}
    duplicates: list[tuple[str, int, int]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        sample_id = line.strip()
        if not sample_id:
            continue
        if _leaves_folder(sample_id):
            raise DatasetError(
                f"{list_file}: line {number}: id {sample_id!r} would read a file outside the dataset folder "
                "(an absolute path or '..'); expected an image id such as 2007_000033"
            )
        if sample_id in first_line:
            duplicates.append((sample_id, first_line[sample_id], number))
        else:
            first_line[sample_id] = number
    if duplicates:
        sample_id, first, again = duplicates[0]
        more = f"; {len(duplicates)} repeated lines in all" if len(duplicates) > 1 else ""
        raise DatasetError(
            f"{list_file}: id {sample_id!r} is listed twice (lines {first} and {again}){more}; each sample "
            "must be listed once, or it counts twice in the score"
        )
    if not first_line:
        raise DatasetError(f"{list_file}: split list is empty; expected one image id per line")
    return list(first_line)


def no_samples_error(
    pattern: Path, folder: Path, consequence: str = "the split has no samples"
) -> DatasetError:
    """The error for an image glob ``pattern`` that matched nothing, saying what ``folder`` holds instead.

    Args:
        pattern: the glob pattern looked for; the message starts with it.
        folder: where to list what was found instead (file counts by extension).
        consequence: what the empty match means, after "no images found, so".
    """
    found: dict[str, int] = {}
    for path in folder.rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            kind = path.suffix or path.name
            found[kind] = found.get(kind, 0) + 1
    if found:
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(found.items()))
        seen = f"; {folder} holds other files ({kinds}): images must keep their official names and format"
    else:
        seen = f"; {folder} holds no files"
    return DatasetError(f"{pattern}: no images found, so {consequence}{seen}")


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

    A loader declares its :class:`~zoo.datasets.spec.DatasetSpec` as the class attribute ``spec`` (``name``,
    ``classes``, ``palette`` and the default ``convention`` are then taken from it) and implements
    ``paths`` (the image and mask paths of sample ``i``). Labels are encoded by ``convention``, a pure
    function of the stored values (:class:`~zoo.datasets.labels.LabelConvention`).

    Attributes:
        label_convention: the name of the convention the ground truth is read with (``label_ids``,
            ``train_ids``, ``raw``, ``reduced``): what a result row records about its ground truth.
        max_image_pixels: the pixel limit for this dataset's images; ``None``: :func:`max_image_pixels`.
    """

    spec: ClassVar[DatasetSpec]
    name: ClassVar[str] = ""
    classes: ClassVar[tuple[str, ...]] = ()
    palette: ClassVar[np.ndarray] = np.zeros((0, 3), np.uint8)
    ignore_index: ClassVar[int] = IGNORE_INDEX
    convention: LabelConvention
    max_image_pixels: int | None = None

    root: Path
    split: str
    ids: list[str]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("spec")
        if spec is not None:  # one definition: the loader's label space is its spec's
            cls.name, cls.classes, cls.palette = spec.name, spec.classes, spec.palette
            cls.convention = spec.default_convention

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def label_convention(self) -> str:
        return self.convention.name

    def __len__(self) -> int:
        return len(self.ids)

    def paths(self, index: int) -> tuple[Path, Path]:
        """(image path, mask path) of sample ``index``."""
        raise NotImplementedError

    def missing_mask_hint(self) -> str:
        """Appended to the message for an image whose mask file is missing (how to get the masks)."""
        return ""

    def encode_label(self, raw: np.ndarray, path: str | Path) -> np.ndarray:
        """Stored mask values -> 0..C-1 / 255 by :attr:`convention`; DatasetError names ``path`` and bad values."""
        return self.convention.encode(raw, path)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, str]:  # type: ignore[override]
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.name} {self.split}: index {index} out of range for {len(self)} samples")
        index %= len(self)
        image_path, mask_path = self.paths(index)
        if not image_path.is_file():
            raise DatasetError(f"{image_path}: image of sample {self.ids[index]!r} not found")
        if not mask_path.is_file():
            raise DatasetError(
                f"{image_path}: image has no mask (expected {mask_path}){self.missing_mask_hint()}"
            )
        image = read_rgb(image_path, self.max_image_pixels)
        label = self.encode_label(read_index_mask(mask_path, self.max_image_pixels), mask_path)
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


def check_split(
    loader: Callable[..., SegmentationDataset], name: str, root: str | Path, split: str, **kwargs
) -> CheckReport:
    """Build ``loader(root, split, **kwargs)`` and read every sample; a layout error becomes a ``<layout>`` problem.

    Args:
        loader: the loader class (or any callable returning a :class:`SegmentationDataset`).
        name: the dataset's canonical name, for the report when the loader cannot be built.

    Returns:
        The :class:`CheckReport`; never raises :class:`DatasetError`.
    """
    try:
        dataset = loader(root, split, **kwargs)
    except DatasetError as exc:
        return CheckReport(name, str(root), split, problems=[("<layout>", str(exc))])
    return dataset.check()
