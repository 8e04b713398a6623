"""Datasets of your own: a folder of images and a folder of masks, paired by file stem.

::

    ds = zoo.datasets.folder("~/data/people", classes=["background", "person"])
    ds = zoo.datasets.get_dataset("folder:~/data/people")          # the same, by name
    image, label, sample_id = ds[0]                                # the contract of every zoo dataset

Layout (every name below can be changed by an argument)::

    people/
      images/x.jpg  images/y.png ...        any of .jpg .jpeg .png .bmp .tif .tiff .webp, sub-folders allowed
      masks/x.png   masks/y.png ...         lossless: .png .bmp .tif .tiff .gif (the same stem as the image)
      classes.txt                           optional: one class name per line, in label order
      palette.txt                           optional: one "R G B" line per class (colour masks need it)
      splits/val.txt  (or val.txt)          optional: one id (file stem, or file name) per line
      train/{images,masks}, val/{...}       optional, instead of split lists

A split is a list file (``splits/<split>.txt`` or ``<split>.txt``) or a sub-folder ``<split>/`` holding
``images`` and ``masks``. A folder that defines no split at all is one split, ``all``; asking it for ``val``
(the harness's default) reads it all and the dataset says ``split == "all"``.

Mask encodings (:data:`MASK_ENCODINGS`, ``mask_encoding=``), stated or detected:

* ``index``: single-channel masks whose values are the labels, ``0..C-1``, and 255 = ignore (VOC's rule);
* ``binary``: 0/255 or 0/1 masks (single-channel, or black-and-white RGB): two classes, background and
  foreground, **no ignore** (a 255 is foreground, never "ignore");
* ``rgb``: colour masks, one colour per class as ``palette.txt`` (or ``palette=``) lists them.

Detection (``mask_encoding="auto"``), a stated rule: colour masks with a palette are ``rgb``; single-channel
masks with a number of classes other than two are ``index`` (no scan); otherwise every mask's values are
read once: only 0 and 1, or only 0 and 255, is ``binary``; 0, 1 and 255 together is ambiguous (index with
ignore, or binary masks of both kinds) and refused, saying how to state it; other values need the classes.
State the encoding to skip the scan.

Every bad input is a :class:`~zoo.errors.DatasetError` naming the file: images and masks without a partner
(listed by name), two files with one stem, an empty split, a list naming a missing sample (listed), a
repeated or escaping id (:func:`~zoo.datasets.base.read_split_list`); when a sample is read: a mask of
another size than its image, values outside the encoding's, an unknown colour.

Result rows call the dataset ``folder:<folder name>@<digest>`` (:attr:`DatasetSpec.result_name`): the digest
covers the file list (relative paths and byte sizes), the classes, the encoding and the palette, so results
on other contents never share a key.

This module needs numpy and Pillow only (no torch).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.datasets.base import (
    SegmentationDataset,
    image_to_index,
    image_to_rgb,
    no_samples_error,
    open_image,
    read_rgb,
    read_split_list,
)
from zoo.datasets.labels import IGNORE_INDEX, LabelConvention, voc_colormap
from zoo.datasets.spec import FOLDER_PREFIX, DatasetSpec, PredictionFormat
from zoo.errors import DatasetError

__all__ = [
    "BINARY_CLASSES",
    "IMAGE_EXTENSIONS",
    "MASK_ENCODINGS",
    "MASK_EXTENSIONS",
    "FolderDataset",
    "folder",
]

logger = logging.getLogger(__name__)

#: The ways masks are stored; ``"auto"`` detects one of them (see the module docstring).
MASK_ENCODINGS: tuple[str, ...] = ("index", "binary", "rgb")
#: The classes of a binary dataset whose names are not given.
BINARY_CLASSES: tuple[str, str] = ("background", "foreground")
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
#: Lossless formats only: a JPEG mask holds compression noise that no encoding can read back exactly.
MASK_EXTENSIONS: tuple[str, ...] = (".png", ".bmp", ".tif", ".tiff", ".gif")
#: The split a folder without split lists or split sub-folders has.
ALL_SPLIT = "all"
_SHOWN = 10  # names listed in one message
_BLACK_WHITE = np.array([[0, 0, 0], [255, 255, 255]], np.uint8)


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f", ... ({len(names)} in all)" if len(names) > _SHOWN else "")


def _files_by_id(folder: Path, extensions: Sequence[str], what: str) -> dict[str, Path]:
    """Sample id (path below ``folder`` without suffix, ``/``-separated) -> file, for the wanted extensions.

    Raises:
        DatasetError: two files share an id (``x.jpg`` and ``x.png``): which one is the sample is unclear.
    """
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or path.suffix.lower() not in extensions:
            continue
        if not path.is_file():
            continue
        sample_id = relative.with_suffix("").as_posix()
        if sample_id in found:
            raise DatasetError(
                f"{path}: two {what} files share the stem {sample_id!r} ({found[sample_id].name} and "
                f"{path.name}); keep one per sample"
            )
        found[sample_id] = path
    return found


def _read_lines(path: Path, what: str) -> list[tuple[int, str]]:
    """The non-blank lines of a UTF-8 text file, stripped, with their line numbers."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read {what} ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: {what} is not UTF-8 text (offset {exc.start})") from exc
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def _check_classes(classes: Sequence[str], where: str) -> tuple[str, ...]:
    names = tuple(str(name).strip() for name in classes)
    if any(not name for name in names):
        raise DatasetError(f"{where}: an empty class name; expected one name per class")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DatasetError(f"{where}: class name(s) listed twice: {', '.join(repeated)}")
    if not 2 <= len(names) <= IGNORE_INDEX:
        raise DatasetError(
            f"{where}: {len(names)} class(es); expected 2 to {IGNORE_INDEX} (255 is ignore), "
            "background included"
        )
    return names


def _parse_classes(classes: str | Sequence[str] | None, classes_file: Path) -> tuple[str, ...] | None:
    """The classes given (a sequence, or ``"a,b,c"``), else those of ``classes.txt``, else ``None``."""
    if isinstance(classes, str):
        return _check_classes(classes.split(","), f"classes {classes!r}")
    if classes is not None:
        return _check_classes(list(classes), "classes")
    if classes_file.is_file():
        return _check_classes(
            [line for _, line in _read_lines(classes_file, "class list")], str(classes_file)
        )
    return None


def _parse_palette(palette, palette_file: Path) -> np.ndarray | None:
    """The palette given (``C x 3``), else that of ``palette.txt`` (``R G B`` or ``R,G,B`` per line), else None."""
    where = "palette"
    if palette is None:
        if not palette_file.is_file():
            return None
        where = str(palette_file)
        rows = []
        for number, line in _read_lines(palette_file, "palette"):
            parts = line.replace(",", " ").split()
            if len(parts) != 3 or not all(p.isdigit() for p in parts):
                raise DatasetError(f"{palette_file}: line {number}: {line!r}; expected 'R G B' (0..255 each)")
            rows.append([int(p) for p in parts])
        palette = rows
    array = np.asarray(palette)
    if array.ndim != 2 or array.shape[1] != 3 or not np.issubdtype(array.dtype, np.integer):
        raise DatasetError(
            f"{where}: expected one (R, G, B) triple of integers per class, got shape {array.shape}"
        )
    if array.size and (array.min() < 0 or array.max() > 255):
        raise DatasetError(f"{where}: colour values must be 0..255")
    keys = _colour_keys(array.astype(np.uint8))
    if len(set(keys.tolist())) != len(keys):
        raise DatasetError(f"{where}: two classes share a colour; each class needs its own")
    return array.astype(np.uint8)


def _colour_keys(rgb: np.ndarray) -> np.ndarray:
    """``... x 3`` uint8 colours -> one int64 per colour (``R << 16 | G << 8 | B``)."""
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _convention(encoding: str, num_classes: int) -> LabelConvention:
    """The stored value -> label mapping of an index or binary mask (a colour mask is first mapped to indices)."""
    valid = np.zeros(256, bool)
    table = np.full(256, IGNORE_INDEX, np.int64)
    if encoding == "binary":
        valid[[0, 1, 255]] = True
        table[[0, 1, 255]] = [0, 1, 1]  # 255 is foreground here, never ignore
        space = "binary masks: 0 = background, 1 or 255 = foreground"
    else:
        valid[:num_classes] = True
        valid[IGNORE_INDEX] = True
        table[:num_classes] = np.arange(num_classes)
        space = f"index masks: 0..{num_classes - 1} and 255 = ignore"
        if encoding == "rgb":
            space = f"{num_classes} palette colours"
    valid.flags.writeable = table.flags.writeable = False
    return LabelConvention(encoding, space, valid, table)


def _mask_values(img: Image.Image, path: Path) -> np.ndarray:
    """The values of a single-channel mask, or of a colour mask whose channels are equal (black and white)."""
    if img.mode == "1":
        return np.asarray(img, dtype=np.uint8)
    if img.mode in ("RGB", "RGBA"):
        rgb = image_to_rgb(img, str(path))
        if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])):
            raise DatasetError(
                f"{path}: a colour mask with colours other than grey levels; binary masks are black and white "
                "(state mask_encoding='rgb' with a palette for colour masks)"
            )
        return rgb[..., 0]
    return image_to_index(img, str(path))


def _prediction_format(encoding: str, palette: np.ndarray) -> PredictionFormat:
    if encoding == "binary":
        return PredictionFormat(
            "mode L PNG, 0 = background, 255 = foreground (as the masks of binary datasets are stored)",
            encode=lambda train_ids: (train_ids * 255).astype(np.uint8),
        )
    full = np.zeros((256, 3), np.uint8)
    full[: len(palette)] = palette
    full.flags.writeable = False
    return PredictionFormat(
        "palette (mode P) PNG of class indices with the dataset's palette",
        encode=lambda ids: ids,
        palette=full,
    )


class FolderDataset(SegmentationDataset):
    """A folder of your own images and masks (see the module docstring for the layout and the rules).

    Args:
        root: the dataset folder (``~`` expanded).
        split: a split list's or split sub-folder's name; ``None``: ``val`` if the folder defines splits,
            else ``all``. ``val`` on a folder without splits reads it all (``split == "all"``).
        images: the images folder, below ``root`` (or below ``root/<split>``).
        masks: the masks folder, likewise.
        classes: class names in label order (a sequence, or ``"a,b,c"``); default: ``root/classes.txt``,
            else ``background, foreground`` for binary masks.
        palette: ``C x 3`` colours; default: ``root/palette.txt``. Colour masks are decoded with it.
        mask_encoding: ``"auto"`` or one of :data:`MASK_ENCODINGS`.
        name: the dataset's name in results (``folder:<name>``); default: the folder's name.
        max_image_pixels: refuse larger images (default :func:`~zoo.datasets.base.max_image_pixels`).

    Attributes:
        spec: this dataset's :class:`~zoo.datasets.spec.DatasetSpec`, made from its files (``spec.digest``).
        mask_encoding: the encoding the masks are read with (stated or detected).

    Raises:
        DatasetError: the layout, split, classes, palette or encoding cannot be used, naming the file.
    """

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        *,
        images: str = "images",
        masks: str = "masks",
        classes: str | Sequence[str] | None = None,
        palette=None,
        mask_encoding: str = "auto",
        name: str | None = None,
        max_image_pixels: int | None = None,
    ) -> None:
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise DatasetError(
                f"{self.root}: dataset folder {'not found' if not self.root.exists() else 'is a file'}"
            )
        if mask_encoding != "auto" and mask_encoding not in MASK_ENCODINGS:
            raise DatasetError(
                f"mask_encoding {mask_encoding!r}: expected auto or one of {', '.join(MASK_ENCODINGS)}"
            )
        self.max_image_pixels = max_image_pixels
        self.split, base, list_file = self._locate_split(split, images, masks)
        image_dir, mask_dir = base / images, base / masks
        for folder_path, what in ((image_dir, "images"), (mask_dir, "masks")):
            if not folder_path.is_dir():
                raise DatasetError(
                    f"{folder_path}: {what} folder missing (expected {what} paired by file stem)"
                )
        self._pairs = self._pair(image_dir, mask_dir, list_file)
        self.ids = list(self._pairs)
        stated_classes = _parse_classes(classes, self.root / "classes.txt")
        stated_palette = _parse_palette(palette, self.root / "palette.txt")
        self.mask_encoding = (
            mask_encoding
            if mask_encoding != "auto"
            else self._detect(stated_classes, stated_palette, mask_dir)
        )
        self.classes, self.palette = self._label_space(stated_classes, stated_palette)
        self.convention = _convention(self.mask_encoding, len(self.classes))
        self.name = FOLDER_PREFIX + (name or self.root.resolve().name or "folder")
        self.spec = DatasetSpec(
            name=self.name,
            title=f"{self.name[len(FOLDER_PREFIX) :]} (your folder)",
            classes=self.classes,
            palette=self.palette,
            eval_size=self._first_image_size(),
            folder=str(self.root),
            label_conventions=(self.convention,),
            prediction_format=_prediction_format(self.mask_encoding, self.palette),
            digest=self._digest(),
        )

    # ------------------------------------------------------------------------------------------ layout

    def _split_sources(self, images: str, masks: str) -> dict[str, tuple[Path, Path | None]]:
        """Every split the folder defines -> (the folder holding images/masks, the list file or None)."""
        found: dict[str, tuple[Path, Path | None]] = {}
        for sub in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if (sub / images).is_dir() and (sub / masks).is_dir():
                found[sub.name] = (sub, None)
        lists = sorted((self.root / "splits").glob("*.txt")) if (self.root / "splits").is_dir() else []
        lists += [p for p in sorted(self.root.glob("*.txt")) if p.name not in ("classes.txt", "palette.txt")]
        for list_file in lists:
            if list_file.stem in found:
                other = found[list_file.stem][1] or found[list_file.stem][0]
                raise DatasetError(
                    f"{list_file}: split {list_file.stem!r} is also defined by {other}; keep one definition"
                )
            found[list_file.stem] = (self.root, list_file)
        return found

    def _locate_split(self, split: str | None, images: str, masks: str) -> tuple[str, Path, Path | None]:
        sources = self._split_sources(images, masks)
        if split in sources:
            return split, *sources[split]
        if split == ALL_SPLIT or (not sources and split in (None, "val")):
            if sources:
                logger.info("%s: split 'all' reads %s/ and %s/ whole", self.root, images, masks)
            return ALL_SPLIT, self.root, None
        if split is None and "val" in sources:
            return "val", *sources["val"]
        have = ", ".join([*sources, ALL_SPLIT]) if sources else ALL_SPLIT
        wanted = "a split" if split is None else f"split {split!r}"
        raise DatasetError(
            f"{self.root}: no {wanted} here (splits: {have}); a split is splits/<name>.txt, <name>.txt or a "
            f"sub-folder <name>/ holding {images}/ and {masks}/"
        )

    def _pair(self, image_dir: Path, mask_dir: Path, list_file: Path | None) -> dict[str, tuple[Path, Path]]:
        """Sample id -> (image, mask): every pair, or those of the split list; unpaired files are an error."""
        image_files = _files_by_id(image_dir, IMAGE_EXTENSIONS, "image")
        mask_files = _files_by_id(mask_dir, MASK_EXTENSIONS, "mask")
        lossy = sorted(p.name for p in mask_dir.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
        lossy_hint = (
            f"; {mask_dir} holds JPEG files ({_listing(lossy)}): masks must be lossless (PNG)"
            if lossy
            else ""
        )
        if list_file is not None:
            listed = read_split_list(list_file)
            ids = [self._listed_id(sid, image_files) for sid in listed]
            no_image = [sid for sid in ids if sid not in image_files]
            no_mask = [sid for sid in ids if sid in image_files and sid not in mask_files]
            if no_image or no_mask:
                parts = [
                    f"{len(no_image)} id(s) without an image in {image_dir} ({_listing(no_image)})"
                ] * bool(no_image) + [
                    f"{len(no_mask)} id(s) without a mask in {mask_dir} ({_listing(no_mask)})"
                ] * bool(no_mask)
                raise DatasetError(f"{list_file}: {'; '.join(parts)}{lossy_hint}")
            return {sid: (image_files[sid], mask_files[sid]) for sid in ids}
        if not image_files:
            raise no_samples_error(image_dir / f"*{{{','.join(IMAGE_EXTENSIONS)}}}", image_dir)
        lonely_images = [image_files[sid].name for sid in image_files if sid not in mask_files]
        lonely_masks = [mask_files[sid].name for sid in mask_files if sid not in image_files]
        if lonely_images or lonely_masks:
            parts = [
                f"{image_dir}: {len(lonely_images)} image(s) without a mask ({_listing(lonely_images)})"
            ] * bool(lonely_images) + [
                f"{mask_dir}: {len(lonely_masks)} mask(s) without an image ({_listing(lonely_masks)})"
            ] * bool(lonely_masks)
            raise DatasetError(f"{'; '.join(parts)}; images and masks are paired by file stem{lossy_hint}")
        return {sid: (image_files[sid], mask_files[sid]) for sid in image_files}

    @staticmethod
    def _listed_id(sample_id: str, image_files: dict[str, Path]) -> str:
        """A listed id, or a listed file name (``x.jpg``) taken as its stem when only the stem names an image."""
        if sample_id not in image_files and Path(sample_id).suffix.lower() in IMAGE_EXTENSIONS:
            stem = sample_id[: -len(Path(sample_id).suffix)]
            if stem in image_files:
                return stem
        return sample_id

    # ----------------------------------------------------------------------------------- label space

    def _detect(self, classes: tuple[str, ...] | None, palette: np.ndarray | None, mask_dir: Path) -> str:
        """The encoding of the masks by the rule of the module docstring; DatasetError when it cannot decide."""
        modes: dict[str, Path] = {}
        for _, mask_path in self._pairs.values():
            try:
                with Image.open(mask_path) as img:  # the header only
                    modes.setdefault("colour" if img.mode in ("RGB", "RGBA") else "single", mask_path)
            except Exception:  # unreadable: reported when the sample is read
                continue
        if len(modes) == 2:
            raise DatasetError(
                f"{mask_dir}: colour masks ({modes['colour'].name}) and single-channel masks "
                f"({modes['single'].name}) together; store every mask one way"
            )
        how = "state mask_encoding= (--mask-encoding) as index, binary or rgb"
        if "colour" in modes and palette is not None:
            return "rgb"
        if "single" in modes and classes is not None and len(classes) != 2:
            return "index"
        seen, colour_values = self._scan_values()
        if "colour" in modes:
            if colour_values or not (seen <= {0, 255} or seen <= {0, 1}):
                raise DatasetError(
                    f"{mask_dir}: colour masks need a palette: write {self.root / 'palette.txt'} (one 'R G B' "
                    "line per class, in the classes' order) or pass palette=; or "
                    f"{how}"
                )
            return "binary"
        if seen <= {0, 1} or seen <= {0, 255}:
            return "binary"
        if seen <= {0, 1, 255}:
            raise DatasetError(
                f"{mask_dir}: the masks hold 0, 1 and 255: index masks (1 = the second class, 255 = ignore) or "
                f"binary masks of both kinds (1 and 255 = foreground) cannot be told apart; {how}"
            )
        if classes is None:
            shown = ", ".join(map(str, sorted(seen)[:_SHOWN]))
            raise DatasetError(
                f"{mask_dir}: the masks hold the values {shown}, so they are not binary; give the class names "
                f"({self.root / 'classes.txt'}, one per line in label order, or classes= / --classes a,b,c)"
            )
        return "index"  # two classes and other values: index, whose rule names the mask at fault

    def _scan_values(self) -> tuple[set[int], bool]:
        """Every value any mask holds (a grey colour mask: its grey levels), and whether a colour mask holds
        a colour that is not grey. Unreadable masks are skipped: they are reported when their sample is read."""
        seen: set[int] = set()
        colour = False
        for _, mask_path in self._pairs.values():
            try:
                with open_image(mask_path, "mask", max_pixels=self.max_image_pixels) as img:
                    if img.mode in ("RGB", "RGBA"):
                        rgb = image_to_rgb(img, str(mask_path))
                        if not (
                            np.array_equal(rgb[..., 0], rgb[..., 1])
                            and np.array_equal(rgb[..., 1], rgb[..., 2])
                        ):
                            colour = True
                            continue
                        values = rgb[..., 0]
                    else:
                        values = _mask_values(img, mask_path)
            except DatasetError:
                continue
            if values.dtype == np.uint8:
                seen.update(np.flatnonzero(np.bincount(values.ravel(), minlength=256)).tolist())
            else:
                seen.update(np.unique(values).tolist())
        return seen, colour

    def _label_space(
        self, classes: tuple[str, ...] | None, palette: np.ndarray | None
    ) -> tuple[tuple[str, ...], np.ndarray]:
        encoding = self.mask_encoding
        if encoding == "binary":
            if classes is not None and len(classes) != 2:
                raise DatasetError(
                    f"{self.root}: binary masks have 2 classes (background, foreground), {len(classes)} were "
                    "given; state mask_encoding='index' for index masks"
                )
            classes = classes or BINARY_CLASSES
        elif classes is None:
            raise DatasetError(
                f"{self.root}: {encoding} masks need the class names ({self.root / 'classes.txt'}, one per "
                "line in label order, or classes= / --classes a,b,c)"
            )
        if palette is not None and len(palette) != len(classes):
            raise DatasetError(
                f"{self.root}: the palette has {len(palette)} colours for {len(classes)} classes"
            )
        if palette is None:
            if encoding == "rgb":
                raise DatasetError(
                    f"{self.root}: colour masks need a palette ({self.root / 'palette.txt'}, one 'R G B' line "
                    "per class, or palette=)"
                )
            palette = _BLACK_WHITE.copy() if encoding == "binary" else voc_colormap(len(classes))
        palette.flags.writeable = False
        return classes, palette

    # ------------------------------------------------------------------------------------------ reading

    @property
    def label_convention(self) -> str:
        return self.mask_encoding

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def paths(self, index: int) -> tuple[Path, Path]:
        return self._pairs[self.ids[index]]

    def read_label(self, mask_path: Path) -> np.ndarray:
        """A mask file as int64 labels ``0..C-1`` (255 = ignore) by :attr:`mask_encoding`.

        Raises:
            DatasetError: naming ``mask_path``: unreadable, of the wrong kind for the encoding, or holding
                values (colours) the encoding does not define.
        """
        with open_image(mask_path, "mask", max_pixels=self.max_image_pixels) as img:
            if self.mask_encoding == "rgb":
                if img.mode not in ("RGB", "RGBA", "P"):
                    raise DatasetError(
                        f"{mask_path}: a single-channel ({img.mode}) mask, but the masks are read as colour "
                        "masks (mask_encoding='rgb')"
                    )
                return self._colours_to_labels(image_to_rgb(img, str(mask_path)), mask_path)
            if self.mask_encoding == "binary":
                values = _mask_values(img, mask_path)
                if values.size and (values == 1).any() and (values == 255).any():
                    raise DatasetError(
                        f"{mask_path}: a binary mask holding both 1 and 255; expected 0/1 or 0/255 "
                        "(state mask_encoding='index' if 255 means ignore)"
                    )
            elif img.mode in ("RGB", "RGBA"):
                raise DatasetError(
                    f"{mask_path}: a colour ({img.mode}) mask, but the masks are read as index masks; state "
                    "mask_encoding='rgb' with a palette"
                )
            else:
                values = _mask_values(img, mask_path)
        return self.convention.encode(values, mask_path)

    def _colours_to_labels(self, rgb: np.ndarray, mask_path: Path) -> np.ndarray:
        keys = _colour_keys(rgb)
        palette_keys = _colour_keys(self.palette)
        order = np.argsort(palette_keys)
        sorted_keys = palette_keys[order]
        position = np.clip(np.searchsorted(sorted_keys, keys), 0, len(sorted_keys) - 1)
        known = sorted_keys[position] == keys
        if not known.all():
            unknown = np.unique(keys[~known])
            shown = ", ".join(f"({k >> 16}, {(k >> 8) & 255}, {k & 255})" for k in unknown[:5].tolist())
            more = f", ... ({len(unknown)} in all)" if len(unknown) > 5 else ""
            raise DatasetError(
                f"{mask_path}: colour(s) not in the palette: {shown}{more}; every pixel must have a class colour"
            )
        return order[position].astype(np.int64)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, str]:  # type: ignore[override]
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.name} {self.split}: index {index} out of range for {len(self)} samples")
        index %= len(self)
        image_path, mask_path = self.paths(index)
        image = read_rgb(image_path, self.max_image_pixels)
        label = self.read_label(mask_path)
        if label.shape != image.shape[:2]:
            raise DatasetError(
                f"{mask_path}: mask is {label.shape[1]}x{label.shape[0]} (WxH) but its image {image_path} is "
                f"{image.shape[1]}x{image.shape[0]}; the ground truth must have the image's size"
            )
        return image, label, self.ids[index]

    # -------------------------------------------------------------------------------------- identity

    def _first_image_size(self) -> tuple[int, int]:
        """(height, width) of the first image: the size speed figures for this dataset are taken at."""
        image_path = self._pairs[self.ids[0]][0]
        try:
            with Image.open(image_path) as img:
                return img.height, img.width
        except Exception:
            return 512, 512  # unreadable: reported when the sample is read

    def _digest(self) -> str:
        """12 hex digits of SHA-256 over the pairs (relative paths, byte sizes) and the label space."""
        digest = hashlib.sha256()
        for sample_id, (image_path, mask_path) in self._pairs.items():
            sizes = [p.stat().st_size if p.is_file() else -1 for p in (image_path, mask_path)]
            digest.update(
                f"{sample_id}\t{image_path.name}\t{sizes[0]}\t{mask_path.name}\t{sizes[1]}\n".encode()
            )
        digest.update(f"{self.mask_encoding}\n{chr(31).join(self.classes)}\n".encode())
        if self.mask_encoding == "rgb":
            digest.update(self.palette.tobytes())
        return digest.hexdigest()[:12]

    def __repr__(self) -> str:
        return (
            f"FolderDataset(root={str(self.root)!r}, split={self.split!r}, samples={len(self)}, "
            f"classes={len(self.classes)}, mask_encoding={self.mask_encoding!r})"
        )


def folder(
    root: str | Path,
    split: str | None = None,
    *,
    images: str = "images",
    masks: str = "masks",
    classes: str | Sequence[str] | None = None,
    palette=None,
    mask_encoding: str = "auto",
    name: str | None = None,
    max_image_pixels: int | None = None,
) -> FolderDataset:
    """A folder of your own images and masks as a zoo dataset (see :class:`FolderDataset` for the arguments).

    >>> ds = folder("~/data/people", classes=["background", "person"])  # doctest: +SKIP
    >>> ds.mask_encoding, ds.spec.result_name  # doctest: +SKIP
    ('binary', 'folder:people@3fa9c2d1e0b4')
    """
    return FolderDataset(
        root, split, images=images, masks=masks, classes=classes, palette=palette,
        mask_encoding=mask_encoding, name=name, max_image_pixels=max_image_pixels,
    )  # fmt: skip
