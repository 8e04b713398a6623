"""Streaming confusion matrix and the segmentation metrics derived from it.

One confusion matrix is accumulated over a whole split, and every metric is computed from that one matrix
(dataset-level, as mmsegmentation does), never averaged per image. The metric functions are small and
pure: they take a confusion matrix (a ``torch.Tensor`` or anything NumPy accepts) and return float64
NumPy arrays or Python floats, as fractions in 0..1; :func:`percent` and :func:`summarize` multiply by 100.

Conventions (see ``DESIGN.md``, "Contracts" -> Metrics):

* ``cm[i, j]`` counts pixels whose ground truth is class ``i`` and whose prediction is class ``j``
  (rows = ground truth, columns = prediction). For class ``c``: ``TP = cm[c, c]``,
  ``FN = cm[c, :].sum() - TP`` and ``FP = cm[:, c].sum() - TP``.
* A per-class value whose denominator is 0 is NaN, not 0; means are NaN-means, so a class absent from both
  prediction and ground truth is left out of mIoU (mmsegmentation's convention). A mean over nothing but
  NaN is NaN, without a warning.
* Pixels whose target equals ``ignore_index`` are skipped. Any other target outside ``0..C-1``, or a
  prediction outside ``0..C-1`` (on any pixel, ignored or not: a model never predicts an invalid class),
  is an error (``ValueError`` naming the values), never silently counted.

>>> import torch
>>> cm = confusion_matrix(torch.tensor([0, 1, 1, 0]), torch.tensor([0, 1, 0, 255]), num_classes=2)
>>> cm.tolist()
[[1, 1], [0, 1]]
>>> float(mean_iou(cm))
0.5

Importing this module imports torch and NumPy, but neither timm nor segmentation_models_pytorch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "ConfusionMatrix",
    "accuracy_per_class",
    "confusion_matrix",
    "dice_per_class",
    "frequency_weighted_iou",
    "iou_per_class",
    "mean_accuracy",
    "mean_dice",
    "mean_iou",
    "percent",
    "pixel_accuracy",
    "summarize",
]

_MAX_NAMED = 10  # how many offending values an error message lists


# --------------------------------------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------------------------------------


def _check_num_classes(num_classes: int) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    return num_classes


def _as_labels(x: Any, what: str) -> torch.Tensor:
    """``x`` as a flat integer tensor of its own dtype (bool as uint8); floating or complex input is a
    TypeError (labels, not logits). No conversion to int64: a uint8 label map stays one byte per pixel."""
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x))
    if x.is_floating_point() or x.is_complex():
        hint = (
            " Predictions must be class indices: take logits.argmax(dim=1) first." if what == "pred" else ""
        )
        raise TypeError(
            f"{what} must be an integer (or bool) tensor of class indices, got dtype {x.dtype}.{hint}"
        )
    x = x.reshape(-1)
    return x.view(torch.uint8) if x.dtype == torch.bool else x


#: Most bins the CPU path's histogram over (target, prediction) value pairs may have (8 MiB of int64);
#: label values spread wider than that (a stray 65535) take the general path.
_MAX_PAIR_BINS = 1 << 20


def _value_range(x: torch.Tensor) -> tuple[int, int]:
    """Bounds of the values of ``x``: its dtype's for a large one-byte label map (no pass over the data, and
    a 256-wide range is cheap to histogram next to the data), the actual smallest and largest value else."""
    if x.element_size() == 1 and x.numel() >= 1 << 16:
        info = torch.iinfo(x.dtype)
        return info.min, info.max
    if x.numel() == 0:
        return 0, 0
    low, high = torch.aminmax(x)
    return int(low), int(high)


def _bin_counts(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Counts over ``C*C + 2`` bins, and the extremes seen (see :meth:`ConfusionMatrix.update`).

    Bin ``t*C + p`` for a valid pixel, bin ``C*C`` for an ignored pixel (target == ignore_index, prediction
    in range), bin ``C*C + 1`` for an invalid one (target outside ``0..C-1`` and not ignore_index, or a
    prediction outside ``0..C-1``, on any pixel). Invalid pixels never reach a matrix cell.

    On CPU the (value-pair) histogram is taken first and split into valid, ignored and invalid afterwards, so
    that checking the labels costs no mask and no pass of its own; on other devices :func:`_bin_counts_masked`
    counts without reading anything back to the host. The second item is ``[min target, max target, min
    pred, max pred]`` over the non-ignored targets and all predictions, 0 included (ignored targets count as
    0), on the same device: what :meth:`ConfusionMatrix.compute` names when a value was out of range.
    """
    if pred.device.type == "cpu" and target.device.type == "cpu":
        pair = _pair_histogram(pred, target)
        if pair is not None:
            return _fold_pairs(*pair, num_classes, ignore_index, pred.numel())
    return _bin_counts_masked(pred, target, num_classes, ignore_index)


def _pair_histogram(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, int, int] | None:
    """How often each (target, prediction) value pair occurs, as a ``(rows, cols)`` tensor whose row ``r``
    is target ``t_low + r`` and column ``c`` prediction ``p_low + c``; with ``t_low`` and ``p_low``.
    ``None`` when the values spread over more than :data:`_MAX_PAIR_BINS` pairs."""
    t_low, t_high = _value_range(target)
    p_low, p_high = _value_range(pred)
    t_low, p_low = min(t_low, 0), min(p_low, 0)  # counting from 0 saves a pass unless a value is negative
    rows, cols = t_high - t_low + 1, p_high - p_low + 1
    if rows * cols > _MAX_PAIR_BINS:
        return None
    # A negative value (rare: an error, or ignore_index=-1) costs a pass: shift to count from the smallest.
    if t_low:
        target = target.long() - t_low
    if p_low:
        pred = pred.long() - p_low
    if target.element_size() < 4 and pred.element_size() < 4:
        target = target.to(torch.int32)  # t * cols must not overflow a one- or two-byte type
    # 0 <= t < rows and 0 <= p < cols now, so t * cols + p < rows * cols < 2^31: the index is written as
    # int32 (computed in the inputs' dtype), half the bytes for bincount to read than int64.
    index = torch.add(pred, target, alpha=cols, out=torch.empty(pred.shape, dtype=torch.int32))
    counts = torch.bincount(index, minlength=rows * cols)
    return counts.view(rows, cols), t_low, p_low


def _fold_pairs(
    pairs: torch.Tensor, t_low: int, p_low: int, num_classes: int, ignore_index: int | None, total: int
) -> tuple[torch.Tensor, torch.Tensor]:
    c = num_classes
    rows, cols = pairs.shape
    out = torch.zeros(c * c + 2, dtype=torch.int64)
    matrix = out[: c * c].view(c, c)
    t0, t1 = max(0, t_low), min(c, t_low + rows)  # the valid targets (and predictions) the pairs cover
    p0, p1 = max(0, p_low), min(c, p_low + cols)
    if t0 < t1 and p0 < p1:
        matrix[t0:t1, p0:p1] = pairs[t0 - t_low : t1 - t_low, p0 - p_low : p1 - p_low]
    ignored_row = None
    if ignore_index is not None and t_low <= ignore_index < t_low + rows:
        ignored_row = ignore_index - t_low
        if p0 < p1:
            out[-2] = pairs[ignored_row, p0 - p_low : p1 - p_low].sum()  # an invalid prediction is invalid
        if 0 <= ignore_index < c:
            matrix[ignore_index] = 0
    out[-1] = total - out[:-1].sum()
    # The extremes of the values seen, for the message of compute(): ignored targets count as 0.
    t_seen = (pairs.sum(1) > 0).nonzero().flatten()
    if ignored_row is not None:
        t_seen = t_seen[t_seen != ignored_row]
    t_values = [0, *(t_seen[[0, -1]] + t_low).tolist()] if t_seen.numel() else [0]
    p_seen = (pairs.sum(0) > 0).nonzero().flatten()
    p_values = [0, *(p_seen[[0, -1]] + p_low).tolist()] if p_seen.numel() else [0]
    extremes = torch.tensor([min(t_values), max(t_values), min(p_values), max(p_values)], dtype=torch.int64)
    return out, extremes


def _bin_counts_masked(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_bin_counts` with masks and no host sync (no value of the data decides a size or a branch)."""
    pred, target = pred.long(), target.long()  # int64 before any arithmetic: uint8 would overflow t * C + p
    c = num_classes
    k = c * c
    if ignore_index is not None:
        ignored = target == ignore_index
        target = target.masked_fill(ignored, 0)  # 0 is always a valid label
    good = (target >= 0) & (target < c) & (pred >= 0) & (pred < c)
    idx = torch.add(pred, target, alpha=c)  # target * C + pred in one pass
    if ignore_index is not None:
        idx.masked_fill_(ignored, k)
    idx = torch.where(good, idx, k + 1)
    if idx.device.type == "cpu":
        counts = torch.bincount(idx, minlength=k + 2)
    else:
        # CUDA's bincount reads max() back to the host to size its output; a scatter into a fixed size does not.
        counts = torch.zeros(k + 2, dtype=torch.int64, device=idx.device)
        counts.index_add_(0, idx, torch.ones_like(idx))
    if not target.numel():
        return counts, torch.zeros(4, dtype=torch.int64, device=idx.device)
    tmin, tmax = torch.aminmax(target)  # ignored targets are 0 here
    pmin, pmax = torch.aminmax(pred)
    low = torch.stack([tmin, pmin]).clamp(max=0)  # 0 is always in range: neutral
    high = torch.stack([tmax, pmax]).clamp(min=0)
    return counts, torch.stack([low[0], high[0], low[1], high[1]])


def _check_shapes(pred: Any, target: Any) -> None:
    ps, ts = tuple(np.shape(pred)), tuple(np.shape(target))
    if ps != ts:
        raise ValueError(f"pred and target must have the same shape, got {ps} and {ts}")


def _invalid_values(values: torch.Tensor, keep: torch.Tensor, num_classes: int) -> list[int]:
    bad = keep & ((values < 0) | (values >= num_classes))
    return torch.unique(values[bad]).tolist()


def _describe(
    what: str, values: Sequence[int], num_classes: int, ignore_index: int | None, extra: str = ""
) -> str:
    shown = ", ".join(str(v) for v in values[:_MAX_NAMED])
    if len(values) > _MAX_NAMED:
        shown += f", ... ({len(values)} distinct values)"
    ignore = f" or ignore_index={ignore_index}" if ignore_index is not None and what == "target" else ""
    return f"{what} has values outside 0..{num_classes - 1}{ignore}: {shown}{extra}"


def confusion_matrix(
    pred: torch.Tensor,
    target: torch.Tensor,
    num_classes: int,
    ignore_index: int | None = 255,
    check: bool = True,
) -> torch.Tensor:
    """Confusion matrix of integer predictions against integer ground truth.

    Args:
        pred: predicted class indices, an integer (or bool) tensor of any shape on any device. A floating
            tensor (logits, probabilities) is a ``TypeError``: take ``argmax`` first.
        target: ground-truth class indices, same shape as ``pred`` (same device, or moved to ``pred``'s).
        num_classes: ``C``; valid labels are ``0..C-1``.
        ignore_index: pixels whose *target* equals this value are skipped. ``None`` ignores nothing.
        check: when True (the default), any target outside ``0..C-1`` that is not ``ignore_index``, or
            any prediction outside ``0..C-1`` (ignored pixel or not), raises ``ValueError`` naming the
            offending values and the expected range; this reads one number back to the host (a sync on
            CUDA), which is fine for one-off use. When False nothing is read back on CUDA: invalid pixels
            are left out of the matrix (never counted into a cell) and not reported. For a sync-free *and* checked stream use :class:`ConfusionMatrix`.

    Returns:
        int64 tensor ``(C, C)`` on ``pred``'s device: ``cm[i, j]`` = number of non-ignored pixels with
        target ``i`` and prediction ``j`` (rows = ground truth, columns = prediction). On CPU it is one
        ``torch.bincount`` of ``target * W + pred`` over all pixels, where ``W`` spans the predictions'
        values, so that ignored and out-of-range pixels land in bins of their own and need no mask; on
        other devices a fixed-size ``index_add_`` after masking, which needs no sync.
    """
    c = _check_num_classes(num_classes)
    _check_shapes(pred, target)
    p = _as_labels(pred, "pred")
    t = _as_labels(target, "target").to(p.device)
    counts, _ = _bin_counts(p, t, c, ignore_index)
    if check and int(counts[-1]) > 0:
        p, t = p.long(), t.long()
        keep = torch.ones_like(t, dtype=torch.bool) if ignore_index is None else t != ignore_index
        bad_t = _invalid_values(t, keep, c)
        bad_p = _invalid_values(p, torch.ones_like(keep), c)
        parts = []
        if bad_t:
            parts.append(_describe("target", bad_t, c, ignore_index))
        if bad_p:
            parts.append(_describe("pred", bad_p, c, ignore_index))
        raise ValueError(f"{int(counts[-1])} pixel(s) out of range; " + "; ".join(parts))
    return counts[: c * c].reshape(c, c)


class ConfusionMatrix:
    """A confusion matrix accumulated on the device, batch after batch, with no host sync per update.

    ``update`` never raises on values: out-of-range pixels are counted into a counter of invalid pixels
    (together with the extreme offending values seen), and :meth:`compute` / :attr:`matrix` raise
    ``ValueError`` when that counter is non-zero, so a wrong label is never silently counted. On CUDA (any
    device but the CPU) ``update`` reads nothing back to the host, and that check costs one sync, at the
    end. On the CPU, where reading a value costs no sync, ``update`` reads the smallest and largest label
    (for labels wider than one byte) to size the histogram that does the counting and the checking at once.

    Args:
        num_classes: ``C``; valid labels are ``0..C-1``.
        ignore_index: pixels whose target equals this value are skipped; ``None`` ignores nothing.
        device: where to accumulate. ``None``: on the device of the first batch. Batches on another
            device are moved to this one.

    >>> import torch
    >>> cm = ConfusionMatrix(num_classes=2)
    >>> cm.update(torch.tensor([[0, 1]]), torch.tensor([[0, 0]]))
    >>> cm.update(torch.tensor([[1, 1]]), torch.tensor([[1, 255]]))
    >>> cm.compute().tolist()
    [[1, 1], [0, 1]]
    """

    def __init__(
        self, num_classes: int, ignore_index: int | None = 255, device: torch.device | str | None = None
    ):
        self.num_classes = _check_num_classes(num_classes)
        self.ignore_index = ignore_index
        self.device = torch.device(device) if device is not None else None
        self._counts: torch.Tensor | None = None  # C*C + 2 bins, see _bin_counts
        self._extremes: torch.Tensor | None = None  # [min target, max target, min pred, max pred]
        if self.device is not None:
            self._allocate(self.device)

    def _allocate(self, device: torch.device) -> None:
        c = self.num_classes
        self.device = device
        self._counts = torch.zeros(c * c + 2, dtype=torch.int64, device=device)
        self._extremes = torch.zeros(4, dtype=torch.int64, device=device)  # 0 is in range: neutral

    def reset(self) -> None:
        """Forget everything accumulated (keeps the device)."""
        if self.device is not None:
            self._allocate(self.device)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch: ``pred`` and ``target`` integer tensors of the same (any) shape.

        ``pred`` must hold class indices (a floating tensor is a ``TypeError``: argmax the logits first).
        Labels keep their dtype (a uint8 label map is not widened to int64). On CUDA no value is read back
        to the host and no Python branch depends on tensor values.
        """
        _check_shapes(pred, target)
        p = _as_labels(pred, "pred")
        t = _as_labels(target, "target")
        if self.device is None:
            self._allocate(p.device)
        p = p.to(self.device, non_blocking=True)
        t = t.to(self.device, non_blocking=True)
        assert self._counts is not None and self._extremes is not None
        counts, extremes = _bin_counts(p, t, self.num_classes, self.ignore_index)
        self._counts += counts
        # Running extremes (ignored targets count as 0, which is always in range), so that compute() can
        # name an offending value without having kept the data.
        ext = self._extremes
        ext[0::2] = torch.minimum(ext[0::2], extremes[0::2])
        ext[1::2] = torch.maximum(ext[1::2], extremes[1::2])

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add ``other``'s counts into this one (in place; returns ``self``). Same ``C`` and ignore_index."""
        if not isinstance(other, ConfusionMatrix):
            raise TypeError(f"can only merge a ConfusionMatrix, got {type(other).__name__}")
        if (other.num_classes, other.ignore_index) != (self.num_classes, self.ignore_index):
            raise ValueError(
                "cannot merge confusion matrices with different (num_classes, ignore_index): "
                f"{(self.num_classes, self.ignore_index)} and {(other.num_classes, other.ignore_index)}"
            )
        if other._counts is None:
            return self
        assert other._extremes is not None
        if self.device is None:
            self._allocate(other._counts.device)
        assert self._counts is not None and self._extremes is not None
        counts = other._counts.to(self.device)
        ext = other._extremes.to(self.device)
        self._counts += counts
        self._extremes[0::2] = torch.minimum(self._extremes[0::2], ext[0::2])
        self._extremes[1::2] = torch.maximum(self._extremes[1::2], ext[1::2])
        return self

    def __add__(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """A new ConfusionMatrix holding both; neither operand changes."""
        if not isinstance(other, ConfusionMatrix):
            return NotImplemented
        out = ConfusionMatrix(self.num_classes, self.ignore_index, self.device)
        return out.merge(self).merge(other)

    @property
    def invalid_count(self) -> torch.Tensor:
        """On-device int64 scalar: pixels seen so far with an out-of-range target or prediction."""
        if self._counts is None:
            return torch.zeros((), dtype=torch.int64)
        return self._counts[-1]

    @property
    def ignored_count(self) -> torch.Tensor:
        """On-device int64 scalar: pixels skipped because their target equals ``ignore_index``."""
        if self._counts is None:
            return torch.zeros((), dtype=torch.int64)
        return self._counts[-2]

    def compute(self) -> torch.Tensor:
        """The accumulated int64 ``(C, C)`` matrix (rows = ground truth, columns = prediction), a copy.

        Raises ``ValueError`` naming the extreme offending values and the expected range if any update
        saw a target outside ``0..C-1`` that is not ``ignore_index``, or a prediction outside ``0..C-1``. Reads one value back (one sync).
        """
        c = self.num_classes
        if self._counts is None:
            return torch.zeros(c, c, dtype=torch.int64)
        assert self._extremes is not None
        invalid = int(self._counts[-1])
        if invalid:
            tmin, tmax, pmin, pmax = self._extremes.tolist()
            parts = []
            bad_t = [v for v in dict.fromkeys((tmin, tmax)) if not 0 <= v < c]
            bad_p = [v for v in dict.fromkeys((pmin, pmax)) if not 0 <= v < c]
            if bad_t:
                parts.append(_describe("target", bad_t, c, self.ignore_index, " (smallest/largest seen)"))
            if bad_p:
                parts.append(_describe("pred", bad_p, c, self.ignore_index, " (smallest/largest seen)"))
            raise ValueError(f"{invalid} pixel(s) out of range were passed to update(); " + "; ".join(parts))
        return self._counts[: c * c].reshape(c, c).clone()

    @property
    def matrix(self) -> torch.Tensor:
        """Same as :meth:`compute`."""
        return self.compute()

    def __repr__(self) -> str:
        return (
            f"ConfusionMatrix(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
            f"device={self.device})"
        )


# --------------------------------------------------------------------------------------------------------
# Metrics (pure functions over a confusion matrix)
# --------------------------------------------------------------------------------------------------------


def _as_cm(cm: Any) -> np.ndarray:
    if isinstance(cm, ConfusionMatrix):
        cm = cm.compute()
    if isinstance(cm, torch.Tensor):
        cm = cm.detach().cpu().numpy()
    a = np.asarray(cm, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"a confusion matrix must be square (C, C), got shape {a.shape}")
    return a


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _nanmean(x: np.ndarray) -> float:
    finite = x[~np.isnan(x)]
    return float(finite.mean()) if finite.size else float("nan")


def _parts(cm: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(TP, FP, FN) per class as float64."""
    a = _as_cm(cm)
    tp = np.diag(a).copy()
    return tp, a.sum(axis=0) - tp, a.sum(axis=1) - tp


def pixel_accuracy(cm: Any) -> float:
    """Overall pixel accuracy (aAcc) = trace(cm) / cm.sum(), a fraction; NaN when the matrix is empty."""
    a = _as_cm(cm)
    total = a.sum()
    return float(np.trace(a) / total) if total > 0 else float("nan")


def iou_per_class(cm: Any) -> np.ndarray:
    """Per-class intersection over union IoU_c = TP / (TP + FP + FN), float64 array of length C.

    NaN where TP + FP + FN == 0, i.e. the class is absent from both prediction and ground truth.
    """
    tp, fp, fn = _parts(cm)
    return _ratio(tp, tp + fp + fn)


def accuracy_per_class(cm: Any) -> np.ndarray:
    """Per-class accuracy (recall) Acc_c = TP / (TP + FN), float64 array of length C.

    NaN where TP + FN == 0, i.e. the class is absent from the ground truth.
    """
    tp, _, fn = _parts(cm)
    return _ratio(tp, tp + fn)


def dice_per_class(cm: Any) -> np.ndarray:
    """Per-class Dice (F1) Dice_c = 2 TP / (2 TP + FP + FN), float64 array of length C.

    NaN where 2 TP + FP + FN == 0, i.e. the class is absent from both prediction and ground truth.
    """
    tp, fp, fn = _parts(cm)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def mean_iou(cm: Any) -> float:
    """mIoU: the mean of :func:`iou_per_class` over the classes where it is not NaN; NaN if all are NaN."""
    return _nanmean(iou_per_class(cm))


def mean_accuracy(cm: Any) -> float:
    """mAcc: the mean of :func:`accuracy_per_class` over the classes where it is not NaN; NaN if none."""
    return _nanmean(accuracy_per_class(cm))


def mean_dice(cm: Any) -> float:
    """mDice: the mean of :func:`dice_per_class` over the classes where it is not NaN; NaN if none."""
    return _nanmean(dice_per_class(cm))


def frequency_weighted_iou(cm: Any) -> float:
    """fwIoU = sum over classes with freq_c > 0 of freq_c * IoU_c, where freq_c = (TP + FN) / total.

    freq_c is the class's share of the ground-truth pixels; a class with freq_c > 0 always has a defined
    IoU, so no NaN enters the sum. NaN when the matrix is empty (total == 0).
    """
    a = _as_cm(cm)
    total = a.sum()
    if total <= 0:
        return float("nan")
    freq = a.sum(axis=1) / total
    present = freq > 0
    return float(np.sum(freq[present] * iou_per_class(a)[present]))


def percent(x: Any) -> Any:
    """``x * 100`` (a float or an array; NaN stays NaN): metric fractions to the percent used in tables."""
    if isinstance(x, np.ndarray):
        return x * 100.0
    return float(x) * 100.0


def summarize(cm: Any, class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """All metrics of a confusion matrix, in percent.

    Returns ``{"aAcc", "mIoU", "mAcc", "fwIoU", "mDice"}`` as floats, plus ``"per_class"``: a dict
    ``name -> {"IoU", "Acc", "Dice"}`` (``class_names`` in order, default ``"0"``, ``"1"``, ...). NaN values
    (see the per-class functions) are kept as ``float('nan')``.
    """
    a = _as_cm(cm)
    c = a.shape[0]
    names = [str(i) for i in range(c)] if class_names is None else [str(n) for n in class_names]
    if len(names) != c:
        raise ValueError(f"class_names has {len(names)} names for a {c}-class confusion matrix")
    iou, acc, dice = iou_per_class(a), accuracy_per_class(a), dice_per_class(a)
    return {
        "aAcc": percent(pixel_accuracy(a)),
        "mIoU": percent(_nanmean(iou)),
        "mAcc": percent(_nanmean(acc)),
        "fwIoU": percent(frequency_weighted_iou(a)),
        "mDice": percent(_nanmean(dice)),
        "per_class": {
            name: {"IoU": float(iou[i]) * 100.0, "Acc": float(acc[i]) * 100.0, "Dice": float(dice[i]) * 100.0}
            for i, name in enumerate(names)
        },
    }
