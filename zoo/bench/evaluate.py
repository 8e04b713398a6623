"""Evaluate one model on one dataset split: one confusion matrix, accumulated on the model's device.

This module batches, times and counts; every pixel of a prediction comes from :func:`zoo.inference.predict_labels`
(protocol, whole / slide, flip and multi-scale testing, a one-channel model's threshold), so a protocol is
applied in one place.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from zoo.inference import (
    TORCH_DTYPES,
    InferenceError,
    network_input_sizes,
    predict_labels,
    preprocess,
    tta_views,
)
from zoo.metrics import ConfusionMatrix
from zoo.weights import IMAGENET_MEAN, IMAGENET_STD, EvalProtocol

# For a model evaluated without trained weights (--allow-untrained): ImageNet statistics, original size,
# padded to a multiple of 32 (the largest output stride of the registered encoders), whole image.
UNTRAINED_PROTOCOL = EvalProtocol(
    mean=IMAGENET_MEAN, std=IMAGENET_STD, value_scale=1.0, resize="none", size_divisor=32
)


@dataclass
class EvalResult:
    """What one evaluation produced. ``matrix`` is the int64 confusion matrix (rows: ground truth).

    ``threshold`` is the foreground threshold a one-channel (binary) model was scored with (sigmoid >
    threshold), ``None`` for a model with one channel per class (argmax); ``notes`` then says so too.
    """

    matrix: torch.Tensor
    num_images: int
    wall_s: float
    batch_size: int
    notes: list[str] = field(default_factory=list)
    threshold: float | None = None

    @property
    def images_per_s(self) -> float:
        return self.num_images / self.wall_s if self.wall_s > 0 else float("nan")


@dataclass
class _Pending:
    image: torch.Tensor  # (H, W, 3) uint8 on the device: every scale is resized from the original
    label: torch.Tensor  # (H, W) int64 on the device
    sample_id: str
    inputs: tuple[torch.Tensor, ...] | None = None  # network inputs made in a loader worker, one per ratio


@dataclass
class PreparedSample:
    """One sample as a data-loader worker hands it over: decoded into tensors and, where asked, preprocessed.

    Attributes:
        image: ``(H, W, 3)`` uint8.
        label: ``(H, W)`` int64.
        sample_id: the dataset's id of the sample.
        inputs: the network inputs at each ratio of the test-time augmentation (:func:`zoo.inference.preprocess`),
            or ``None`` where they are made on the model's device.
    """

    image: torch.Tensor
    label: torch.Tensor
    sample_id: str
    inputs: tuple[torch.Tensor, ...] | None = None

    def pin_memory(self) -> PreparedSample:
        """Page-locked copies, so that copies to the GPU are asynchronous (called by a pinning DataLoader)."""
        inputs = None if self.inputs is None else tuple(x.pin_memory() for x in self.inputs)
        return PreparedSample(self.image.pin_memory(), self.label.pin_memory(), self.sample_id, inputs)


class PreparedDataset(torch.utils.data.Dataset):
    """The samples ``indices`` of a zoo dataset, decoded and (optionally) preprocessed where they are read.

    Wrapped in a DataLoader with workers, this moves decoding, the array-to-tensor copies and, with
    ``preprocess=True``, normalising and resizing at every ratio of ``tta`` out of the loop that runs the model,
    so that they overlap the forward. Preprocessing here runs on the CPU: :func:`make_loader` asks for it only
    when the model runs on the CPU too, so that predictions are the same with and without workers (on a GPU
    the resize runs there, asynchronously, from pinned uint8 images).
    """

    def __init__(
        self, dataset: Any, indices: Sequence[int], protocol: EvalProtocol, tta: str, preprocess: bool
    ):
        self.dataset = dataset
        self.indices = list(indices)
        self.protocol = protocol
        self.ratios = tta_views(protocol, tta)[0]
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> PreparedSample:
        image, label, sample_id = self.dataset[self.indices[index]]
        image, label = _as_tensors(image, label)
        inputs = None
        if self.preprocess:
            with torch.inference_mode():
                inputs = tuple(preprocess(image, self.protocol, ratio) for ratio in self.ratios)
        return PreparedSample(image, label, str(sample_id), inputs)


def make_loader(
    dataset: Any,
    indices: Sequence[int],
    protocol: EvalProtocol,
    *,
    tta: str = "none",
    workers: int = 0,
    device: str | torch.device = "cpu",
    prefetch_factor: int = 4,
) -> Iterable[Any]:
    """The samples ``indices`` of ``dataset`` for :func:`evaluate`, read so that loading overlaps the forward.

    Args:
        dataset: a zoo dataset (``dataset[i]`` is ``(image, label, sample_id)``).
        indices: which samples, in order.
        protocol, tta: what the network inputs are (preprocessed in the workers when the model is on the CPU).
        workers: DataLoader worker processes; 0 reads each sample in the loop, when it is needed.
        device: where the model runs: on CUDA the loader pins memory and the resize stays on the GPU.
        prefetch_factor: samples each worker reads ahead.

    Returns:
        ``(image, label, sample_id)`` triples without workers; with workers a DataLoader of
        :class:`PreparedSample`.
    """
    if not workers:
        return (dataset[i] for i in indices)
    device = torch.device(device)
    prepared = PreparedDataset(dataset, indices, protocol, tta, preprocess=device.type == "cpu")
    return torch.utils.data.DataLoader(
        prepared, batch_size=None, num_workers=workers, pin_memory=device.type == "cuda",
        prefetch_factor=prefetch_factor,
    )  # fmt: skip


def _as_tensors(image: Any, label: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(H, W, 3)`` uint8 and ``(H, W)`` int64 tensors of a sample (copies: decoded images may be read-only
    arrays, which torch refuses to wrap)."""
    return torch.tensor(np.asarray(image)), torch.tensor(np.asarray(label)).to(torch.int64)


def evaluate(
    model: torch.nn.Module,
    samples: Iterable[tuple[Any, Any, str]],
    protocol: EvalProtocol,
    num_classes: int,
    *,
    device: str | torch.device = "cpu",
    dtype: str = "fp32",
    batch_size: int = 1,
    tta: str = "none",
    on_image: Callable[[int], None] | None = None,
    on_prediction: Callable[[str, np.ndarray], None] | None = None,
    threshold: float = 0.5,
) -> EvalResult:
    """Predict every sample with ``protocol`` and accumulate one confusion matrix over all of them.

    Args:
        model: in eval mode; moved to ``device`` here.
        samples: ``(image uint8 HxWx3 RGB, label HxW in 0..C-1 or 255, sample_id)`` triples (a zoo dataset,
            or a DataLoader over one with ``batch_size=None``), or :class:`PreparedSample` objects
            (:func:`make_loader` with workers: decoded, and preprocessed where the model runs on the CPU).
        protocol: how to preprocess and predict (the weight's own protocol, unless overridden).
        num_classes: the label space's size.
        device: where the model runs and the matrix accumulates.
        dtype: ``"fp32"``, ``"bf16"`` or ``"fp16"`` (autocast; the matrix stays integer).
        batch_size: images per forward pass. Only images whose network-input sizes are equal (at every scale
            of ``tta``) share a batch, so batching never pads an image and never changes a prediction; the
            order in which images are predicted changes, which a confusion matrix does not see.
        tta: test-time augmentation, one of :data:`zoo.inference.TTA_MODES` (``"ms"`` predicts at
            ``protocol.ms_ratios``); see :func:`zoo.inference.predict_scores`.
        on_image: called with the number of images just finished (progress bars).
        on_prediction: called with ``(sample_id, prediction HxW int64 numpy)``; costs a device-to-host copy.
        threshold: a model with one output channel is binary: a pixel is foreground (1) where its sigmoid
            exceeds ``threshold``, else background (0); the label space must then have two classes.

    Returns:
        An :class:`EvalResult`. Out of memory at a batch size above 1 halves the batch and goes on, and
        says so in ``notes``; at batch size 1 it raises.

    Raises:
        zoo.inference.InferenceError: an unknown ``tta``, a threshold outside ``(0, 1)``, a one-channel
            model on a label space of other than two classes, or a sample that is not a ``uint8`` RGB image.
    """
    tta_views(protocol, tta)  # an unknown mode fails before the first image is read
    if not 0.0 < threshold < 1.0:
        raise InferenceError(f"threshold must be between 0 and 1 (exclusive), got {threshold!r}")
    device = torch.device(device)
    model = model.to(device)
    matrix = ConfusionMatrix(num_classes, device=device)
    autocast_dtype = TORCH_DTYPES[dtype]
    state: dict[str, Any] = {"batch_size": batch_size, "notes": [], "binary": False}
    buckets: dict[tuple[tuple[int, int], ...], list[_Pending]] = {}
    count = 0

    def run(batch: list[_Pending]) -> None:
        size = state["batch_size"]
        for start in range(0, len(batch), size):
            chunk = batch[start : start + size]
            try:
                binary = _predict_chunk(
                    model, chunk, protocol, device, autocast_dtype, tta, matrix, on_prediction, threshold
                )
            except torch.OutOfMemoryError:
                if size == 1:
                    raise
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                state["batch_size"] = max(size // 2, 1)
                state["notes"].append(
                    f"out of memory at batch size {size}; continued at {state['batch_size']}"
                )
                run(batch[start:])
                return
            if binary and not state["binary"]:
                state["binary"] = True
                state["notes"].append(
                    f"one output channel: scored as sigmoid > {threshold:g} (background/foreground)"
                )
            if on_image:
                on_image(len(chunk))

    started = time.perf_counter()
    with torch.inference_mode():
        for sample in samples:
            if isinstance(sample, PreparedSample):
                image, label, sample_id, inputs = sample.image, sample.label, sample.sample_id, sample.inputs
            else:
                (image, label), sample_id, inputs = _as_tensors(sample[0], sample[1]), sample[2], None
            image = image.to(device, non_blocking=True)
            label = label.to(device, non_blocking=True)
            key = network_input_sizes(int(image.shape[0]), int(image.shape[1]), protocol, tta)
            bucket = buckets.setdefault(key, [])
            bucket.append(_Pending(image, label, str(sample_id), inputs))
            count += 1
            if len(bucket) >= state["batch_size"]:
                run(buckets.pop(key))
        for bucket in buckets.values():
            run(bucket)
        result = matrix.compute().cpu()  # the one host sync of the run
    wall_s = time.perf_counter() - started
    threshold_used = threshold if state["binary"] else None
    return EvalResult(result, count, wall_s, state["batch_size"], state["notes"], threshold_used)


def _predict_chunk(
    model: torch.nn.Module,
    chunk: list[_Pending],
    protocol: EvalProtocol,
    device: torch.device,
    autocast_dtype: torch.dtype,
    tta: str,
    matrix: ConfusionMatrix,
    on_prediction: Callable[[str, np.ndarray], None] | None,
    threshold: float,
) -> bool:
    """Predict one chunk into ``matrix``; returns whether the model is binary (one output channel)."""
    enabled = autocast_dtype != torch.float32
    with torch.autocast(device.type, dtype=autocast_dtype, enabled=enabled):
        # labels at the ground truth's size: the ground truth is never resized
        labels, binary = predict_labels(
            model,
            [item.image for item in chunk],
            protocol,
            tta=tta,
            sizes=[tuple(item.label.shape) for item in chunk],
            threshold=threshold,
            inputs=None if chunk[0].inputs is None else [item.inputs for item in chunk],
        )
    if binary and matrix.num_classes != 2:
        raise InferenceError(
            f"the model has one output channel (binary: sigmoid > {threshold:g} is foreground) but the "
            f"dataset has {matrix.num_classes} classes; a binary model is scored on two (background, foreground)"
        )
    for item, prediction in zip(chunk, labels, strict=True):
        matrix.update(prediction, item.label)
        if on_prediction is not None:
            on_prediction(item.sample_id, prediction.cpu().numpy())
    return binary


def headline_metrics(summary: dict[str, Any], classes: Sequence[str]) -> dict[str, float]:
    """The figures to show first for a result, in order, from :func:`zoo.metrics.summarize`'s ``summary``.

    For a two-class (binary) label space, the Dice and IoU of the foreground class (the second) come first,
    as the binary-segmentation community reports them (``"Dice(person)"``, ``"IoU(person)"``), then pixel
    accuracy; for more classes: mIoU, aAcc, mAcc, fwIoU, mDice. Percent, as in ``summary``.
    """
    overall = {k: summary[k] for k in ("mIoU", "aAcc", "mAcc", "fwIoU", "mDice")}
    if len(classes) != 2:
        return overall
    foreground = summary["per_class"][str(classes[1])]
    first = {f"Dice({classes[1]})": foreground["Dice"], f"IoU({classes[1]})": foreground["IoU"]}
    return {**first, "aAcc": overall.pop("aAcc"), **overall}
