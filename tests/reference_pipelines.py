"""The publishers' evaluation pipelines, rebuilt independently of zoo from their documented rules.

Used by ``tests/test_parity.py`` and ``scripts/parity_table.py``. Each function is written from the
reference's own code (named in its docstring), with the library the reference uses for the step (Pillow,
OpenCV), and never calls zoo: a comparison with zoo can then fail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def calibrated(model: torch.nn.Module, inputs: Sequence[torch.Tensor]) -> torch.nn.Module:
    """``model`` with BatchNorm statistics re-estimated on ``inputs`` (train mode), back in eval mode.

    Random weights predict one class almost everywhere, which would make any comparison pass; calibrated
    ones predict several, with margins small enough that a pipeline difference shows.
    """
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # a cumulative average over the inputs
    model.train()
    with torch.no_grad():
        for x in inputs:
            model(x)
    return model.eval()


def normalized(
    image: np.ndarray, mean: Sequence[float], std: Sequence[float], value_scale: float
) -> torch.Tensor:
    """``(1, 3, H, W)`` float32 of a uint8 RGB ``image``: scaled to ``value_scale``, then ``(x - mean) / std``."""
    x = torch.from_numpy(np.array(image, dtype=np.float32)).permute(
        2, 0, 1
    )  # a copy: PIL arrays are read-only
    x = x / 255.0 if value_scale == 1.0 else x
    return ((x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)).unsqueeze(0)


def torchvision_input(
    image: np.ndarray, short: int, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """torchvision ``references/segmentation`` ``SegmentationPresetEval``: PIL resize of the shorter side to
    ``short`` (bilinear, antialiased), ``ToTensor``, ``Normalize``."""
    pil = Image.fromarray(image)
    w, h = pil.size
    size = (short, int(short * w / h)) if h <= w else (int(short * h / w), short)
    resized = np.asarray(pil.resize(size[::-1], Image.BILINEAR))
    return normalized(resized, mean, std, 1.0)


def mmcv_rescale(image: np.ndarray, scale: tuple[int, int]) -> np.ndarray:
    """``mmcv.imrescale(image, scale)`` with the cv2 backend: keep the ratio, fit into ``(long, short)``."""
    import cv2

    h, w = image.shape[:2]
    factor = min(max(scale) / max(h, w), min(scale) / min(h, w))
    size = (int(w * factor + 0.5), int(h * factor + 0.5))
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)


def mmseg_input(
    image: np.ndarray,
    scale: tuple[int, int],
    mean: Sequence[float],
    std: Sequence[float],
    aligned_to: int | None = None,
) -> torch.Tensor:
    """mmseg's ``Resize(scale, keep_ratio=True)`` (one ``mmcv.imrescale``), then ``Normalize``; with
    ``aligned_to``, NVlabs SegFormer's ``AlignedResize``: a second ``mmcv.imresize`` of each side up to a
    multiple of it."""
    import cv2

    resized = mmcv_rescale(image, scale)
    if aligned_to:
        h, w = resized.shape[:2]
        size = (-(-w // aligned_to) * aligned_to, -(-h // aligned_to) * aligned_to)
        if size != (w, h):
            resized = cv2.resize(resized, size, interpolation=cv2.INTER_LINEAR)
    return normalized(resized, mean, std, 255.0)


def dpt_size(
    height: int, width: int, net: tuple[int, int] = (480, 480), multiple_of: int = 32
) -> tuple[int, int]:
    """``(h, w)`` of isl-org/DPT ``dpt/transforms.py`` ``Resize(net_w, net_h, keep_aspect_ratio=True,
    ensure_multiple_of=multiple_of, resize_method="minimal").get_size``, as written there: the scale closer to
    1 of ``net_h / height`` and ``net_w / width`` is kept for both sides, each rounded with ``np.round`` (half
    to even) to a multiple (``constrain_to_multiple_of`` without bounds)."""
    net_h, net_w = net
    scale_height, scale_width = net_h / height, net_w / width
    if abs(1 - scale_width) < abs(1 - scale_height):
        scale_height = scale_width  # fit width
    else:
        scale_width = scale_height  # fit height

    def constrain(x: float) -> int:
        return int((np.round(x / multiple_of) * multiple_of).astype(int))

    return constrain(scale_height * height), constrain(scale_width * width)


def dpt_input(image: np.ndarray, net: tuple[int, int] = (480, 480)) -> torch.Tensor:
    """isl-org/DPT ``run_segmentation.py``'s network input of a uint8 RGB ``image``: ``util/io.py``
    ``read_image`` (``cv2.cvtColor(BGR2RGB) / 255.0``, float64), ``Resize(480, 480, keep_aspect_ratio=True,
    ensure_multiple_of=32, resize_method="minimal", image_interpolation_method=cv2.INTER_CUBIC)`` (one
    ``cv2.resize`` of the float64 image), ``NormalizeImage(mean=[0.5] * 3, std=[0.5] * 3)``,
    ``PrepareForNet`` (CHW, float32), then ``torch.from_numpy(...).unsqueeze(0)``."""
    import cv2

    img = np.asarray(image) / 255.0
    height, width = dpt_size(*img.shape[:2], net)
    resized = cv2.resize(img, (width, height), interpolation=cv2.INTER_CUBIC)
    normalized = (resized - [0.5, 0.5, 0.5]) / [0.5, 0.5, 0.5]
    chw = np.ascontiguousarray(np.transpose(normalized, (2, 0, 1))).astype(np.float32)
    return torch.from_numpy(chw).unsqueeze(0)


def dpt_logits(out: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(C, H, W)``: ``run_segmentation.py``'s resize of the network's output to the image's size
    (``F.interpolate(out, size=img.shape[:2], mode="bicubic", align_corners=False)``)."""
    return F.interpolate(out, size=size, mode="bicubic", align_corners=False)[0]


def segformer_head_logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits at ``x``'s size as mmseg's ``SegformerHead`` computes them, from smp's SegFormer modules.

    Every MiT stage is resized to the first stage's own size (``ceil(H / 4)``: the stride-4 patch embedding
    pads by 3), fused, classified, then resized to the input (``align_corners=False``).
    """
    with torch.no_grad():
        stages = model.encoder(x)[2:]  # MiT's features: the input, an empty stride-2 slot, then 4 stages
        first = stages[0].shape[-2:]
        resized = [
            F.interpolate(mlp(feature), size=first, mode="bilinear", align_corners=False)
            for mlp, feature in zip(model.decoder.mlp_stage, stages[::-1], strict=True)
        ]
        logits = model.segmentation_head[0](model.decoder.fuse_stage(torch.cat(resized, dim=1)))
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


def real_pairs(real: Path, dataset: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``(image, label)`` pairs of the real samples under ``real`` (``shared/data/real``), in name order,
    read with Pillow and labelled by each dataset's official rule: VOC's palette indices as they are, ADE20K's
    ``reduce_zero_label`` (0 -> 255, k -> k - 1), Cityscapes' ``labelIds`` through cityscapesScripts' table."""
    if dataset == "voc":
        root = real / "VOCdevkit" / "VOC2012"
        names = sorted(p.stem for p in (root / "SegmentationClass").glob("*.png"))
        return [
            (_rgb(root / "JPEGImages" / f"{n}.jpg"), _index(root / "SegmentationClass" / f"{n}.png"))
            for n in names
        ]
    if dataset == "ade20k":
        root = real / "ADEChallengeData2016"
        pairs = []
        for path in sorted((root / "images" / "validation").glob("*.jpg")):
            raw = _index(root / "annotations" / "validation" / f"{path.stem}.png")
            pairs.append((_rgb(path), np.where(raw == 0, 255, raw - 1)))
        return pairs
    if dataset == "cityscapes":
        return [(_rgb(image), official_cityscapes_label(gt)) for image, gt in cityscapes_files(real)]
    raise ValueError(f"no real samples of {dataset!r}")


def cityscapes_files(real: Path) -> list[tuple[Path, Path]]:
    """``(leftImg8bit image, gtFine labelIds)`` paths of the real Cityscapes val samples."""
    root = real / "cityscapes"
    images = sorted((root / "leftImg8bit" / "val").glob("*/*_leftImg8bit.png"))
    return [
        (p, root / "gtFine" / "val" / p.parent.name / p.name.replace("_leftImg8bit", "_gtFine_labelIds"))
        for p in images
    ]


def official_cityscapes_label(path: Path) -> np.ndarray:
    """trainIds of a ``labelIds`` file by cityscapesScripts' own table (255 where it ignores the label)."""
    from cityscapesscripts.helpers.labels import labels

    table = np.full(256, 255, dtype=np.int64)
    for label in labels:
        if 0 <= label.id < 256 and 0 <= label.trainId < 255:
            table[label.id] = label.trainId
    return table[_index(path)]


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _index(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(np.int64)


def mmseg_windows(
    height: int, width: int, crop_size: tuple[int, int], stride: tuple[int, int]
) -> list[tuple[int, int, int, int]]:
    """The ``(y1, y2, x1, x2)`` windows of mmseg 0.x ``EncoderDecoder.slide_inference``, as written there:
    ``crop_size`` every ``stride``, the last aligned to the border, clipped to the image (never padded)."""
    (h_crop, w_crop), (h_stride, w_stride) = crop_size, stride
    h_grids = max(height - h_crop + h_stride - 1, 0) // h_stride + 1
    w_grids = max(width - w_crop + w_stride - 1, 0) // w_stride + 1
    windows = []
    for h_idx in range(h_grids):
        for w_idx in range(w_grids):
            y1, x1 = h_idx * h_stride, w_idx * w_stride
            y2, x2 = min(y1 + h_crop, height), min(x1 + w_crop, width)
            windows.append((max(y2 - h_crop, 0), y2, max(x2 - w_crop, 0), x2))
    return windows


def window_batches(
    x: torch.Tensor, crop_size: tuple[int, int], stride: tuple[int, int]
) -> list[torch.Tensor]:
    """``x``'s :func:`mmseg_windows` as the network sees them, for :func:`calibrated`: one batch when they share
    a size (UPerNet's pooled 1x1 features need more than one value per channel in train mode), else one each."""
    crops = [x[..., y1:y2, x1:x2] for y1, y2, x1, x2 in mmseg_windows(*x.shape[-2:], crop_size, stride)]
    return [torch.cat(crops)] if len({c.shape for c in crops}) == 1 else crops


def mmseg_slide(
    decode: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    crop_size: tuple[int, int],
    stride: tuple[int, int],
) -> torch.Tensor:
    """mmseg 0.x ``EncoderDecoder.slide_inference``, as written there: windows of ``crop_size`` every
    ``stride``, the last aligned to the border, each decoded unpadded (``decode`` returns logits at the
    window's size), summed into a padded canvas, divided by the count of windows over each pixel."""
    _, _, h_img, w_img = x.shape
    preds, count = None, torch.zeros((1, 1, h_img, w_img))
    for y1, y2, x1, x2 in mmseg_windows(h_img, w_img, crop_size, stride):
        with torch.no_grad():
            logits = decode(x[:, :, y1:y2, x1:x2])
        preds = torch.zeros((1, logits.shape[1], h_img, w_img)) if preds is None else preds
        preds += F.pad(logits, (x1, w_img - x2, y1, h_img - y2))
        count[:, :, y1:y2, x1:x2] += 1
    return preds / count


def model_logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's logits on ``x``, resized to ``x``'s size (``align_corners=False``), as mmseg's
    ``encode_decode`` and torchvision's models do."""
    with torch.no_grad():
        out = model(x)
    out = out["out"] if isinstance(out, dict) else out
    return F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)


def to_label_size(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(C, H, W)`` logits at the ground truth's size: mmseg's final resize to ``ori_shape``."""
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)[0]


def confusion(pred: torch.Tensor, label: np.ndarray, num_classes: int) -> np.ndarray:
    """``num_classes x num_classes`` counts (row: ground truth, column: prediction); 255 ignored."""
    label = torch.from_numpy(np.asarray(label, dtype=np.int64))
    keep = label != 255
    index = label[keep] * num_classes + pred[keep]
    return torch.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes).numpy()


def miou(matrix: np.ndarray) -> float:
    """Mean IoU in percent over the classes present in prediction or ground truth (mmseg's nanmean)."""
    intersection = np.diag(matrix).astype(float)
    union = matrix.sum(0) + matrix.sum(1) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.nanmean(intersection / np.where(union > 0, union, np.nan)) * 100)
