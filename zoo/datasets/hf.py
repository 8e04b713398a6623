"""Segmentation data from Hugging Face ``datasets`` (the Hub or local parquet/arrow files), in zoo's label space.

:class:`HubSegmentation` wraps a ``datasets.Dataset`` holding an image column and a mask column and yields the
same contract as the file loaders: ``ds[i] -> (image uint8 HxWx3 RGB, label int64 HxW in 0..C-1 or 255,
sample_id)``. How the stored mask values map to that label space is declared per dataset (the *label
convention*, :attr:`zoo.datasets.spec.DatasetSpec.label_conventions`); the conversion is the same pure
function the file loaders use (same tables, same validation and error messages), so a Hub copy and the
official files give identical labels. Images are decoded by the file loaders' reader too (same pixel limit).

=========== ======================= ====================================================================
dataset     label_convention        stored values -> zoo labels
=========== ======================= ====================================================================
voc         ``None`` / ``"raw"``    palette indices 0..20 as is, 255 = boundary (ignore)
ade20k      ``None`` / ``"raw"``    annotations 0..150: 0 ("other") -> 255, k -> k-1
ade20k      ``"reduced"``           already reduced: 0..149 as is, 255 = ignore
cityscapes  ``None`` / ``"label_ids"`` labelIds 0..33 -> trainIds (official table), others -> 255
cityscapes  ``"train_ids"``         already trainIds: 0..18 as is, 255 = ignore
=========== ======================= ====================================================================

``datasets`` is imported only when a :class:`HubSegmentation` is built. (This module was
``zoo.datasets.hub``, a name that clashed with :mod:`zoo.hub`, the weights.)
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from zoo.datasets.base import (
    SegmentationDataset,
    check_image_size,
    image_to_index,
    image_to_rgb,
    open_image,
)
from zoo.datasets.spec import DATASETS, dataset_spec
from zoo.errors import DatasetError

__all__ = ["LABEL_COLUMNS", "LABEL_CONVENTIONS", "HubSegmentation", "load_source"]

#: dataset -> conventions it accepts; the first one is the default (the official files' raw values).
LABEL_CONVENTIONS: dict[str, tuple[str, ...]] = {
    name: tuple(convention.name for convention in spec.label_conventions) for name, spec in DATASETS.items()
}
# Tried in order when ``label_column`` is not given.
LABEL_COLUMNS = ("label", "annotation", "mask", "semantic_map", "segmentation", "gt", "labels")
_ID_COLUMNS = ("id", "name")


def load_source(source: str, split: str, cache_dir: str | Path | None = None) -> Any:
    """Load ``source`` as a ``datasets.Dataset``.

    ``source`` is either

    * ``hf:REPO`` or ``hf:REPO:CONFIG``: ``datasets.load_dataset(REPO, CONFIG, split=split)`` (CONFIG ``None``
      when absent); or
    * a local path: a ``.parquet`` / ``.arrow`` file, a folder saved with ``Dataset.save_to_disk`` (holding
      ``state.json``; read with ``datasets.load_from_disk``), or a folder of ``.parquet`` (else ``.arrow``)
      files, searched recursively. In a folder, files whose name starts with ``split`` (``val.parquet``,
      ``val-00000-of-00001.parquet``) or that lie in a ``split`` sub-folder are used when there are any,
      otherwise all of them. Files are read with ``datasets.load_dataset("parquet"|"arrow", data_files=...)``.

    Raises:
        DatasetError: the path does not exist, holds no parquet/arrow file, or loading failed.
    """
    import datasets

    if source.startswith("hf:"):
        repo, _, config = source[3:].partition(":")
        if not repo:
            raise DatasetError(f"{source}: expected hf:REPO or hf:REPO:CONFIG")
        try:
            return datasets.load_dataset(repo, config or None, split=split, cache_dir=_str(cache_dir))
        except Exception as exc:
            raise DatasetError(
                f"{source}: cannot load split {split!r} ({type(exc).__name__}: {exc})"
            ) from exc
    path = Path(source).expanduser()
    if not path.exists():
        raise DatasetError(f"{path}: source not found (expected hf:REPO[:CONFIG] or a parquet/arrow path)")
    try:
        if path.is_dir() and (path / "state.json").is_file():
            return datasets.load_from_disk(str(path))
        files, kind = _data_files(path, split)
        return datasets.load_dataset(
            kind, data_files=[str(f) for f in files], split="train", cache_dir=_str(cache_dir)
        )
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError(f"{path}: cannot load ({type(exc).__name__}: {exc})") from exc


def _str(path: str | Path | None) -> str | None:
    return None if path is None else str(path)


def _data_files(path: Path, split: str) -> tuple[list[Path], str]:
    if path.is_file():
        kinds = {".parquet": "parquet", ".arrow": "arrow"}
        if path.suffix not in kinds:
            raise DatasetError(f"{path}: not a .parquet or .arrow file")
        return [path], kinds[path.suffix]
    for kind in ("parquet", "arrow"):
        files = sorted(path.rglob(f"*.{kind}"))
        if files:
            chosen = [f for f in files if f.name.startswith(split) or split in f.relative_to(path).parts[:-1]]
            return chosen or files, kind
    raise DatasetError(f"{path}: no .parquet or .arrow files found")


class HubSegmentation(SegmentationDataset):
    """A Hugging Face ``datasets`` source read in the label space of ``dataset`` (voc, cityscapes, ade20k).

    Args:
        source: ``hf:REPO[:CONFIG]`` or a local parquet/arrow path (see :func:`load_source`).
        dataset: whose label space (classes, palette, conversion) the masks are in; aliases accepted.
        split: the split to load (for the Hub, passed to ``load_dataset``; for local folders, used to pick
            files, see :func:`load_source`).
        image_column: the column holding the images (``datasets.Image`` or encoded image bytes).
        label_column: the column holding the masks; ``None`` picks the first present of :data:`LABEL_COLUMNS`.
            Masks must be single-channel images (mode P indices are read as is, never via RGB) or 2-D arrays.
        label_convention: what the mask values mean, see the module's table; ``None`` is the dataset's raw
            official encoding.
        cache_dir: passed to ``datasets.load_dataset`` (``None``: the ``datasets`` default cache).
        max_image_pixels: refuse larger images (default :func:`~zoo.datasets.base.max_image_pixels`).

    ``sample_id`` is the row's ``id`` (else ``name``) column as a string when the dataset has one, else the
    row index. Problems with one row (unreadable image, colour mask, size mismatch, values outside the label
    space) raise :class:`DatasetError` naming the source, the row and the bad values when that row is read;
    :meth:`check` collects them all.

    Raises:
        DatasetError: unknown dataset or convention, the source cannot be loaded, a column is missing, or
            the split has no rows.
    """

    def __init__(
        self,
        source: str,
        dataset: str,
        split: str,
        image_column: str = "image",
        label_column: str | None = None,
        label_convention: str | None = None,
        cache_dir: str | Path | None = None,
        *,
        max_image_pixels: int | None = None,
    ) -> None:
        spec = dataset_spec(dataset)
        try:
            convention = spec.convention(label_convention)
        except DatasetError as exc:
            raise DatasetError(f"{source}: {exc}") from None
        self.spec = spec
        self.name = spec.name
        self.classes = spec.classes
        self.palette = spec.palette
        self.convention = convention
        self.max_image_pixels = max_image_pixels
        self.source = source
        self.root = source  # type: ignore[assignment]  # shown by repr() and check() reports
        self.split = split
        self._ds = load_source(source, split, cache_dir)
        columns = list(self._ds.column_names)
        if image_column not in columns:
            raise DatasetError(
                f"{source}: no image column {image_column!r}; columns: {', '.join(columns)} (pass image_column=)"
            )
        if label_column is None:
            label_column = next((c for c in LABEL_COLUMNS if c in columns), None)
            if label_column is None:
                raise DatasetError(
                    f"{source}: no label column found (tried {', '.join(LABEL_COLUMNS)}); columns: "
                    f"{', '.join(columns)} (pass label_column=)"
                )
        elif label_column not in columns:
            raise DatasetError(f"{source}: no label column {label_column!r}; columns: {', '.join(columns)}")
        self.image_column = image_column
        self.label_column = label_column
        if len(self._ds) == 0:
            raise DatasetError(f"{source}: split {split!r} has no rows, so there is nothing to evaluate")
        # Image cells are decoded here, by the file loaders' reader (pixel limit, one error per row), not
        # by ``datasets`` on access.
        import datasets

        for column in (image_column, label_column):
            if isinstance(self._ds.features.get(column), datasets.Image):
                self._ds = self._ds.cast_column(column, datasets.Image(decode=False))
        id_column = next((c for c in _ID_COLUMNS if c in columns), None)
        if id_column is not None:
            self.ids = [str(v) for v in self._ds[id_column]]
        else:
            self.ids = [str(i) for i in range(len(self._ds))]

    def _as_pil(self, value: Any, where: str, what: str) -> Any:
        """A decoded PIL image from an image cell (``{"bytes", "path"}``, bytes or a PIL image); else None."""
        from PIL import Image

        if isinstance(value, Image.Image):
            check_image_size(value.size, where, what, self.max_image_pixels)
            return value
        if isinstance(value, dict) and ("bytes" in value or "path" in value):
            if value.get("bytes") is not None:
                return open_image(io.BytesIO(value["bytes"]), what, where, self.max_image_pixels)
            path = value.get("path")
            if not path:
                raise DatasetError(f"{where}: empty image cell (neither bytes nor path)")
            if Path(path).is_file():
                return open_image(Path(path), what, where, self.max_image_pixels)
            # A path only ``datasets`` can open (inside an archive, remote): let it decode, then apply the limit.
            import datasets

            try:
                img = datasets.Image().decode_example(value)
            except Exception as exc:
                raise DatasetError(f"{where}: cannot read {what} ({type(exc).__name__}: {exc})") from exc
            check_image_size(img.size, where, what, self.max_image_pixels)
            return img
        if isinstance(value, bytes):
            return open_image(io.BytesIO(value), what, where, self.max_image_pixels)
        return None

    def _to_rgb(self, value: Any, where: str) -> np.ndarray:
        img = self._as_pil(value, where, "image")
        if img is None:
            array = np.asarray(value)
            if array.ndim == 3 and array.shape[2] == 3:
                return array.astype(np.uint8)
            raise DatasetError(
                f"{where}: expected an image, got {type(value).__name__} of shape {array.shape}"
            )
        return image_to_rgb(img, where)

    def _to_index(self, value: Any, where: str) -> np.ndarray:
        """A mask cell's raw index values (mode P indices as is, never via RGB), as in ``read_index_mask``."""
        img = self._as_pil(value, where, "mask")
        if img is None:
            array = np.asarray(value)
            if array.ndim != 2 or not np.issubdtype(array.dtype, np.integer):
                raise DatasetError(
                    f"{where}: expected a single-channel mask (image or 2-D integer array), got "
                    f"{type(value).__name__} of shape {array.shape} and dtype {array.dtype}"
                )
            return array.astype(np.int64)
        return image_to_index(img, where)

    def _where(self, index: int) -> str:
        return f"{self.source} [{self.split}] row {index} ({self.ids[index]})"

    def paths(self, index: int) -> tuple[Path, Path]:
        raise NotImplementedError("a Hub dataset has no files; read samples with ds[i]")

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, str]:  # type: ignore[override]
        if not -len(self) <= index < len(self):
            raise IndexError(
                f"{self.source} {self.split}: index {index} out of range for {len(self)} samples"
            )
        index %= len(self)
        where = self._where(index)
        try:
            row = self._ds[index]
        except Exception as exc:  # decoding a corrupt image cell fails here
            raise DatasetError(f"{where}: cannot read row ({type(exc).__name__}: {exc})") from exc
        image = self._to_rgb(row[self.image_column], f"{where} column {self.image_column!r}")
        label_where = f"{where} column {self.label_column!r}"
        raw = self._to_index(row[self.label_column], label_where)
        label = self.encode_label(raw, label_where)
        if label.shape != image.shape[:2]:
            raise DatasetError(
                f"{label_where}: mask is {label.shape[1]}x{label.shape[0]} (WxH) but the image is "
                f"{image.shape[1]}x{image.shape[0]}; the ground truth must have the image's size"
            )
        return image, label, self.ids[index]
