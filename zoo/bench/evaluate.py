"""Evaluate one model on one dataset split: one confusion matrix, accumulated on the model's device."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from zoo.inference import predict_logits, preprocess
from zoo.metrics import ConfusionMatrix
from zoo.weights import IMAGENET_MEAN, IMAGENET_STD, EvalProtocol

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}

# mmsegmentation's multi-scale test ratios (its configs' img_ratios), applied to the network-input size.
MULTI_SCALE_RATIOS = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)

# For a model evaluated without trained weights (--allow-untrained): ImageNet statistics, original size,
# padded to a multiple of 32 (the largest output stride of the registered encoders), whole image.
UNTRAINED_PROTOCOL = EvalProtocol(
    mean=IMAGENET_MEAN, std=IMAGENET_STD, value_scale=1.0, resize="none", size_divisor=32
)


@dataclass
class EvalResult:
    """What one evaluation produced. ``matrix`` is the int64 confusion matrix (rows: ground truth)."""

    matrix: torch.Tensor
    num_images: int
    wall_s: float
    batch_size: int
    notes: list[str] = field(default_factory=list)

    @property
    def images_per_s(self) -> float:
        return self.num_images / self.wall_s if self.wall_s > 0 else float("nan")


@dataclass
class _Pending:
    x: torch.Tensor  # (1, 3, h, w), preprocessed
    label: torch.Tensor  # (H, W) int64 on the device
    sample_id: str


def evaluate(
    model: torch.nn.Module,
    samples: Iterable[tuple[Any, Any, str]],
    protocol: EvalProtocol,
    num_classes: int,
    *,
    device: str | torch.device = "cpu",
    dtype: str = "fp32",
    batch_size: int = 1,
    flip: bool = False,
    scales: tuple[float, ...] = (1.0,),
    on_image: Callable[[int], None] | None = None,
    on_prediction: Callable[[str, np.ndarray], None] | None = None,
) -> EvalResult:
    """Predict every sample with ``protocol`` and accumulate one confusion matrix over all of them.

    Args:
        model: in eval mode; moved to ``device`` here.
        samples: ``(image uint8 HxWx3 RGB, label HxW in 0..C-1 or 255, sample_id)`` triples (a zoo dataset,
            or a DataLoader over one with ``batch_size=None``).
        protocol: how to preprocess and predict (the weight's own protocol, unless overridden).
        num_classes: the label space's size.
        device: where the model runs and the matrix accumulates.
        dtype: ``"fp32"``, ``"bf16"`` or ``"fp16"`` (autocast; the matrix stays integer).
        batch_size: images per forward pass. Only images whose network-input size is equal share a batch,
            so batching never pads an image and never changes a prediction; the order in which images are
            predicted changes, which a confusion matrix does not see.
        flip: horizontal-flip test-time augmentation (softmax probabilities averaged).
        scales: ratios of the network-input size to predict at (:data:`MULTI_SCALE_RATIOS` for multi-scale
            testing); the probabilities of every scale (and flip) are resized back and averaged.
        on_image: called with the number of images just finished (progress bars).
        on_prediction: called with ``(sample_id, prediction HxW int64 numpy)``; costs a device-to-host copy.

    Returns:
        An :class:`EvalResult`. Out of memory at a batch size above 1 halves the batch and goes on, and
        says so in ``notes``; at batch size 1 it raises.
    """
    device = torch.device(device)
    model = model.to(device)
    matrix = ConfusionMatrix(num_classes, device=device)
    autocast_dtype = DTYPES[dtype]
    state = {"batch_size": batch_size, "notes": []}
    buckets: dict[tuple[int, int], list[_Pending]] = {}
    count = 0

    def run(batch: list[_Pending]) -> None:
        size = state["batch_size"]
        for start in range(0, len(batch), size):
            chunk = batch[start : start + size]
            try:
                _predict_chunk(
                    model, chunk, protocol, device, autocast_dtype, flip, scales, matrix, on_prediction
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
            if on_image:
                on_image(len(chunk))

    started = time.perf_counter()
    with torch.inference_mode():
        for image, label, sample_id in samples:
            # a copy: decoded images may be read-only arrays, which torch refuses to wrap
            image = torch.tensor(np.asarray(image)).to(device, non_blocking=True)
            label = torch.tensor(np.asarray(label)).to(device, non_blocking=True).to(torch.int64)
            x = preprocess(image, protocol)
            bucket = buckets.setdefault(tuple(x.shape[-2:]), [])
            bucket.append(_Pending(x, label, str(sample_id)))
            count += 1
            if len(bucket) >= state["batch_size"]:
                run(buckets.pop(tuple(x.shape[-2:])))
        for bucket in buckets.values():
            run(bucket)
        result = matrix.compute().cpu()  # the one host sync of the run
    return EvalResult(result, count, time.perf_counter() - started, state["batch_size"], state["notes"])


def _predict_chunk(
    model: torch.nn.Module,
    chunk: list[_Pending],
    protocol: EvalProtocol,
    device: torch.device,
    autocast_dtype: torch.dtype,
    flip: bool,
    scales: tuple[float, ...],
    matrix: ConfusionMatrix,
    on_prediction: Callable[[str, np.ndarray], None] | None,
) -> None:
    x = torch.cat([item.x for item in chunk])
    enabled = autocast_dtype != torch.float32
    with torch.autocast(device.type, dtype=autocast_dtype, enabled=enabled):
        if not flip and scales == (1.0,):
            scores = predict_logits(model, x, protocol).float()
        else:
            scores = _augmented_probabilities(model, x, protocol, flip, scales)
    for index, item in enumerate(chunk):
        # resize the scores to the ground truth's size, never the ground truth to the scores'
        item_scores = scores[index : index + 1]
        if item_scores.shape[-2:] != item.label.shape:
            item_scores = F.interpolate(
                item_scores, size=item.label.shape, mode="bilinear", align_corners=protocol.align_corners
            )
        prediction = item_scores.argmax(1)[0]
        matrix.update(prediction, item.label)
        if on_prediction is not None:
            on_prediction(item.sample_id, prediction.cpu().numpy())


def _augmented_probabilities(
    model: torch.nn.Module, x: torch.Tensor, protocol: EvalProtocol, flip: bool, scales: tuple[float, ...]
) -> torch.Tensor:
    """Softmax probabilities averaged over ``scales`` (and their mirror images), at the size of ``x``."""
    height, width = x.shape[-2:]
    total = None
    views = 0
    for scale in scales:
        scaled = x
        if scale != 1.0:
            size = (max(int(height * scale + 0.5), 1), max(int(width * scale + 0.5), 1))
            scaled = F.interpolate(x, size=size, mode="bilinear", align_corners=protocol.align_corners)
        for mirrored in (False, True) if flip else (False,):
            logits = predict_logits(model, scaled.flip(-1) if mirrored else scaled, protocol).float()
            logits = logits.flip(-1) if mirrored else logits
            if logits.shape[-2:] != (height, width):
                logits = F.interpolate(
                    logits, size=(height, width), mode="bilinear", align_corners=protocol.align_corners
                )
            probabilities = logits.softmax(1)
            total = probabilities if total is None else total + probabilities
            views += 1
    return total / views
