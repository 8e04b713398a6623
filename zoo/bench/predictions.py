"""Write predictions in each dataset's official result format (``zoo-bench --save-predictions DIR``).

The format of each dataset is data, :attr:`zoo.datasets.spec.DatasetSpec.prediction_format`. One PNG per
sample, written atomically (a temporary file in the target folder, then ``os.replace``), so an interrupted
run never leaves a truncated PNG that an official scorer would read:

* ``voc``: ``DIR/<id>.png``, a palette (mode ``P``) PNG whose *indices* are the class indices 0..20,
  with the standard 256-entry VOC colormap, as ``VOC2012/SegmentationClass`` and the devkit's results.
* ``cityscapes``: ``DIR/<city>/<city>_<seq>_<frame>_pred_labelIds.png``, a mode ``L`` PNG of **labelIds**
  (trainIds mapped back by the official table, :data:`zoo.datasets.labels.TRAIN_ID_TO_LABEL_ID`).
  ``cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling`` walks ``CITYSCAPES_RESULTS``
  recursively and matches each ground truth ``<city>_<seq>_<frame>_gtFine_labelIds.png`` to the one
  ``<city>_<seq>_<frame>*.png`` it finds, so the file name must start with the frame stem.
* ``ade20k``: ``DIR/<id>.png``, a mode ``L`` PNG of annotation values ``pred + 1`` (1..150); 0 ("other")
  is never written, as in the SceneParsing benchmark's submission format.

``pred`` is always an ``(H, W)`` integer array of train ids ``0..C-1``; anything else (another shape, a
floating array, a value outside ``0..C-1``, including the ignore index 255) raises, naming the sample.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np

from zoo.datasets.spec import dataset_spec

__all__ = ["prediction_path", "save_prediction"]


def _check_component(part: str, sample_id: str) -> None:
    if not part or part in (".", "..") or "\\" in part or "/" in part:
        raise ValueError(f"sample {sample_id!r}: not a valid sample id for a file name")


def prediction_path(dataset_name: str, sample_id: str, out_dir: str | Path) -> Path:
    """Where :func:`save_prediction` writes ``sample_id``'s prediction for ``dataset_name`` under ``out_dir``.

    Cityscapes ids are zoo's ``<city>/<city>_<seq>_<frame>`` (a bare ``<city>_<seq>_<frame>``, or one
    ending in ``_leftImg8bit``, is accepted too); VOC and ADE20K ids are file stems without folders.
    """
    fmt = dataset_spec(dataset_name).prediction_format
    out_dir = Path(out_dir)
    if fmt.city_folders:
        city, _, stem = sample_id.rpartition("/")
        stem = stem.removesuffix(".png").removesuffix("_leftImg8bit")
        _check_component(stem, sample_id)
        if city:
            _check_component(city, sample_id)
        else:
            city = stem.split("_")[0]
        if not stem.startswith(f"{city}_"):
            raise ValueError(
                f"sample {sample_id!r}: a Cityscapes id is <city>/<city>_<seq>_<frame> "
                "(e.g. frankfurt/frankfurt_000000_000294)"
            )
        return out_dir / city / f"{stem}{fmt.suffix}.png"
    _check_component(sample_id, sample_id)
    return out_dir / f"{sample_id}{fmt.suffix}.png"


def _validate(pred: np.ndarray, num_classes: int, dataset: str, sample_id: str) -> np.ndarray:
    a = np.asarray(pred)
    if a.ndim != 2:
        raise ValueError(f"sample {sample_id!r}: prediction must be a 2-D (H, W) array, got shape {a.shape}")
    if a.dtype == bool or not np.issubdtype(a.dtype, np.integer):
        raise TypeError(
            f"sample {sample_id!r}: prediction must be an integer array of train ids, got dtype {a.dtype} "
            "(take argmax of the logits first)"
        )
    if a.size:
        bad = (a < 0) | (a >= num_classes)
        if bad.any():
            values = np.unique(a[bad])
            shown = ", ".join(str(int(v)) for v in values[:10]) + (", ..." if values.size > 10 else "")
            raise ValueError(
                f"sample {sample_id!r}: {int(bad.sum())} prediction pixel(s) outside the {dataset} train ids "
                f"0..{num_classes - 1}: {shown}"
            )
    return a.astype(np.uint8)


def _atomic_save(img, path: Path) -> None:
    """Write ``img`` as PNG to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary name does not end in .png, so a scorer walking the folder never picks it up.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            img.save(fh, format="PNG")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_prediction(dataset_name: str, pred: np.ndarray, sample_id: str, out_dir: str | Path) -> Path:
    """Write ``pred`` (``(H, W)`` train ids ``0..C-1``) in ``dataset_name``'s official format; return its path.

    See the module docstring for each format.

    Raises:
        DatasetError: (a ``ValueError``) ``dataset_name`` is unknown.
        ValueError: naming the sample: a value outside ``0..C-1``, a wrong shape or an unusable id.
        TypeError: naming the sample: a non-integer array.
    """
    from PIL import Image

    spec = dataset_spec(dataset_name)
    fmt = spec.prediction_format
    path = prediction_path(spec.name, sample_id, out_dir)
    labels = _validate(pred, spec.num_classes, spec.name, sample_id)
    img = Image.fromarray(np.ascontiguousarray(fmt.encode(labels), dtype=np.uint8))  # mode L ...
    if fmt.palette is not None:
        img.putpalette(fmt.palette.tobytes())  # ... or mode P with the format's palette
    _atomic_save(img, path)
    return path
