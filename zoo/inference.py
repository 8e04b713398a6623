"""Inference driven by a weight's :class:`~zoo.weights.EvalProtocol`, with flip and multi-scale testing.

One entry point, :func:`predict_scores`, turns images into per-class scores at the ground truth's size under a
protocol and a test-time augmentation (``"none"``, ``"flip"``, ``"ms"``, ``"ms+flip"``); :func:`predict` is
its argmax for one image; :func:`predict_labels` takes the labels of a batch. A model with **one output
channel** is a binary (background/foreground) model: its scores are the sigmoid probabilities ``[1 - p, p]``
and its labels ``p > threshold`` (0.5 by default, smp's convention). The steps it chains are usable alone:

* :func:`network_input_size` says what size an image is resized to (at a multi-scale ratio too);
* :func:`preprocess` turns a ``uint8`` ``HxWx3`` RGB image into the ``(1, 3, h, w)`` float tensor the network
  expects (channel order, value scale, mean/std, resize rule);
* :func:`predict_logits` runs the network on it, whole or by sliding windows, and returns logits at the
  network-input size ``(h, w)``;
* :func:`upsample_logits` takes the logits out of whatever a model returns and resizes them.

Scores are resized to the *original* image size (or the size asked for) before the argmax, so a prediction
can be scored against the ground truth as is: the ground truth is never resized (``DESIGN.md``, Contracts).
Multi-scale testing follows mmsegmentation 0.x's ``MultiScaleFlipAug`` (the one NVlabs SegFormer used): each
ratio multiplies the resize rule's target scale and the *original* image is resized to it, never an
already-resized tensor; every view's logits are resized to the output size, turned into probabilities,
mirrored back where flipped and averaged (mmseg's ``aug_test``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from zoo.errors import InferenceError
from zoo.options import DTYPES, TTA_MODES
from zoo.resize import cv2_bilinear, cv2_cubic, pil_bilinear
from zoo.weights import REFERENCE_PIPELINES, EvalProtocol

__all__ = [
    "TORCH_DTYPES",
    "TTA_MODES",
    "InferenceError",
    "network_input_size",
    "network_input_sizes",
    "predict",
    "predict_labels",
    "predict_logits",
    "predict_scores",
    "preprocess",
    "slide_windows",
    "tta_views",
    "upsample_logits",
]

#: The torch dtype of each compute dtype of :data:`zoo.options.DTYPES` (fp32, or autocast to bf16 / fp16).
TORCH_DTYPES: dict[str, torch.dtype] = dict(
    zip(DTYPES, (torch.float32, torch.bfloat16, torch.float16), strict=True)
)


# ------------------------------------------------------------------------------------------- sizes


def network_input_size(
    height: int, width: int, protocol: EvalProtocol, ratio: float = 1.0
) -> tuple[int, int]:
    """The ``(h, w)`` an image of ``height x width`` is resized to by ``protocol`` before inference.

    Rules (``protocol.resize``), at ``ratio`` 1:

    * ``"shorter_side"``: the shorter side becomes ``resize_size[0]``, the longer one
      ``int(size * long / short)`` (truncated, as torchvision's ``Resize(int)`` computes it);
    * ``"fit"``: with ``resize_size = (long_max, short_max)``, scale by
      ``min(long_max / long, short_max / short)`` and round each side as ``int(side * scale + 0.5)``
      (mmcv's ``rescale_size``, i.e. mmseg's ``Resize(keep_ratio=True)``);
    * ``"fixed"``: ``resize_size = (height, width)``, the aspect ratio is not kept;
    * ``"minimal"``: with ``resize_size = (height_target, width_target)``, both sides scaled by whichever of
      ``height_target / height`` and ``width_target / width`` is closer to 1, each side then rounded to the
      *nearest* multiple of ``resize_multiple_of`` (1 when ``None``) with Python's ``round`` (half to even,
      as DPT's ``np.round``), at least one multiple (isl-org/DPT's ``Resize(keep_aspect_ratio=True,
      resize_method="minimal")``, which fails where a side would round to 0);
    * ``"none"``: the original size.

    A multi-scale ``ratio`` multiplies the rule's target scale, truncated as mmseg's ``MultiScaleFlipAug``
    does (``int(scale * ratio)``): ``"shorter_side"`` targets ``int(size * ratio)``, ``"fit"``
    ``(int(long_max * ratio), int(short_max * ratio))``, ``"fixed"`` and ``"minimal"``
    ``(int(h * ratio), int(w * ratio))`` (DPT itself has no multi-scale testing), and ``"none"`` fits the
    image into ``(int(long * ratio), int(short * ratio))`` keeping its aspect ratio
    (``MultiScaleFlipAug(img_scale=None)`` followed by ``Resize(keep_ratio=True)``). No side goes below 1.

    Then, for every rule but ``"minimal"`` (which rounds to the nearest multiple itself), if
    ``protocol.resize_multiple_of`` is set, each side is rounded *up* to a multiple of it (the image is
    resized to that size, not padded: NVlabs SegFormer's ``AlignedResize``).

    Raises:
        InferenceError: for an unknown rule, a ``resize_size`` of the wrong length or a ratio that is not
            positive.
    """
    if not ratio > 0:
        raise InferenceError(f"a multi-scale ratio must be positive, got {ratio!r}")
    rule, size = protocol.resize, protocol.resize_size
    if rule == "none" and ratio != 1.0:
        # mmseg's MultiScaleFlipAug without img_scale targets the image's own size times the ratio and
        # Resize(keep_ratio=True) fits the image into it: the "fit" arithmetic on that target.
        rule, size, ratio = "fit", (max(height, width) * ratio, min(height, width) * ratio), 1.0
    if rule == "shorter_side":
        if not size or len(size) != 1:
            raise InferenceError(f"resize 'shorter_side' needs one resize_size value, got {size!r}")
        short, long = min(height, width), max(height, width)
        new_short = int(size[0] * ratio)
        new_long = int(new_short * long / short)
        h, w = (new_short, new_long) if height <= width else (new_long, new_short)
    elif rule == "fit":
        if not size or len(size) != 2:
            raise InferenceError(f"resize 'fit' needs resize_size=(long_max, short_max), got {size!r}")
        long_max, short_max = int(max(size) * ratio), int(min(size) * ratio)
        scale = min(long_max / max(height, width), short_max / min(height, width))
        h, w = int(height * scale + 0.5), int(width * scale + 0.5)
    elif rule == "fixed":
        if not size or len(size) != 2:
            raise InferenceError(f"resize 'fixed' needs resize_size=(height, width), got {size!r}")
        h, w = int(size[0] * ratio), int(size[1] * ratio)
    elif rule == "minimal":
        if not size or len(size) != 2:
            raise InferenceError(f"resize 'minimal' needs resize_size=(height, width), got {size!r}")
        # DPT's Resize.get_size, operation for operation, so that float rounding agrees too
        scale_height, scale_width = int(size[0] * ratio) / height, int(size[1] * ratio) / width
        scale = scale_width if abs(1 - scale_width) < abs(1 - scale_height) else scale_height
        step = protocol.resize_multiple_of or 1
        h, w = (max(round(scale * side / step), 1) * step for side in (height, width))
    elif rule == "none":
        h, w = height, width
    else:
        raise InferenceError(
            f"unknown resize rule {rule!r}: expected shorter_side, fit, fixed, minimal or none"
        )
    h, w = max(h, 1), max(w, 1)
    multiple = protocol.resize_multiple_of
    if multiple and rule != "minimal":
        h, w = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    return h, w


def tta_views(protocol: EvalProtocol, tta: str) -> tuple[tuple[float, ...], bool]:
    """The ratios a test-time augmentation predicts at and whether it adds the mirror image of each.

    ``"none"`` and ``"flip"`` predict at ratio 1 only; ``"ms"`` and ``"ms+flip"`` at ``protocol.ms_ratios``.

    Raises:
        InferenceError: for a ``tta`` not in :data:`TTA_MODES`.
    """
    if tta not in TTA_MODES:
        raise InferenceError(
            f"unknown test-time augmentation {tta!r}: expected one of {', '.join(TTA_MODES)}"
        )
    return (protocol.ms_ratios if tta.startswith("ms") else (1.0,)), tta.endswith("flip")


def network_input_sizes(
    height: int, width: int, protocol: EvalProtocol, tta: str = "none"
) -> tuple[tuple[int, int], ...]:
    """The network-input size of every scale ``tta`` predicts an image of ``height x width`` at.

    Images with equal sizes here can share a batch in :func:`predict_scores` without any padding.
    """
    ratios, _ = tta_views(protocol, tta)
    return tuple(network_input_size(height, width, protocol, ratio) for ratio in ratios)


# ------------------------------------------------------------------------------------ preprocessing


def _image_tensor(image: torch.Tensor | np.ndarray) -> torch.Tensor:
    """``image`` as a ``uint8`` ``HxWx3`` tensor (a NumPy array is wrapped, a tensor kept where it is)."""
    if isinstance(image, np.ndarray):
        # an image Pillow decoded is read-only, and torch warns about wrapping one: copy it (an HxWx3 uint8
        # copy is small beside a forward) rather than show users a warning about undefined behaviour
        image = np.ascontiguousarray(image) if image.flags.writeable else np.array(image, order="C")
        tensor = torch.from_numpy(image)
    else:
        tensor = image
    is_image = isinstance(tensor, torch.Tensor) and tensor.dtype == torch.uint8 and tensor.ndim == 3
    if not is_image or tensor.shape[2] != 3:
        raise InferenceError(
            f"expected a uint8 HxWx3 RGB image, got dtype {getattr(tensor, 'dtype', type(tensor).__name__)} "
            f"and shape {tuple(getattr(tensor, 'shape', ()))}"
        )
    return tensor


def preprocess(image: torch.Tensor | np.ndarray, protocol: EvalProtocol, ratio: float = 1.0) -> torch.Tensor:
    """Turn one RGB image into the network input that ``protocol`` describes.

    Args:
        image: ``uint8`` array or tensor of shape ``(H, W, 3)``, channels in RGB order (the dataset
            contract of ``DESIGN.md``).
        protocol: the weight's evaluation protocol.
        ratio: a multi-scale ratio of the resize rule's target scale (see :func:`network_input_size`).

    Returns:
        A ``float32`` tensor ``(1, 3, h, w)`` with ``(h, w) = network_input_size(H, W, protocol, ratio)``,
        on the device of ``image``: channels reordered to ``protocol.channel_order``, pixels scaled to
        ``[0, 1]`` when ``value_scale == 1.0`` (kept in ``[0, 255]`` when ``255.0``), normalised as
        ``(x - mean) / std``. The resize follows the protocol's reference pipeline
        (``protocol.pipeline.image_resize``): a bilinear resize of a ``"pil-bilinear"`` or ``"cv2-linear"``
        reference is done on the uint8 image with that library's kernel (:mod:`zoo.resize`; twice for
        ``resize_multiple_of``, as NVlabs' ``AlignedResize``), before normalising; a bicubic resize of a
        ``"cv2-cubic-float"`` reference (isl-org/DPT) is OpenCV's float cubic kernel (:func:`zoo.resize.cv2_cubic`)
        on the float64 image scaled to ``value_scale``, normalised after it in float64 and only then cast
        to float32, as DPT's numpy pipeline computes it (bit-exact); otherwise the normalised float image
        is resized once with ``protocol.interpolation`` (``align_corners=False``, no antialiasing). Padding to
        ``size_divisor`` is *not* done here: it belongs to :func:`predict_logits`,
        which crops it off again.

    Raises:
        InferenceError: if the image is not ``uint8`` ``HxWx3`` or the protocol's values are unusable
            (a subclass of ``ValueError``).
    """
    tensor = _image_tensor(image)
    height, width = int(tensor.shape[0]), int(tensor.shape[1])
    size = network_input_size(height, width, protocol, ratio)
    mode = protocol.interpolation
    if mode not in ("bilinear", "bicubic", "nearest"):
        raise InferenceError(f"unknown interpolation {mode!r}: expected bilinear, bicubic or nearest")
    if protocol.reference not in REFERENCE_PIPELINES:
        raise InferenceError(
            f"unknown reference pipeline {protocol.reference!r}: expected one of {sorted(REFERENCE_PIPELINES)}"
        )
    kernel = protocol.pipeline.image_resize
    uint8_kernel = kernel in ("pil-bilinear", "cv2-linear") and mode == "bilinear"
    # at the image's own size too: DPT's float64 arithmetic decides the last bit of the normalised value
    float64_cubic = kernel == "cv2-cubic-float" and mode == "bicubic"
    if size != (height, width) and uint8_kernel:
        # The reference resizes the uint8 image with its library's kernel: reproduce it, rounding included.
        resize_uint8 = pil_bilinear if kernel == "pil-bilinear" else cv2_bilinear
        if protocol.resize_multiple_of:
            # AlignedResize: rescale keeping the ratio, then stretch to the multiples (two uint8 resizes)
            unaligned = network_input_size(height, width, replace(protocol, resize_multiple_of=None), ratio)
            if unaligned != (height, width):
                tensor = resize_uint8(tensor, unaligned)
        if tuple(tensor.shape[:2]) != size:
            tensor = resize_uint8(tensor, size)
    # DPT computes in float64 (numpy) and casts to float32 last; MPS has no float64, so that runs on the CPU
    on_mps = float64_cubic and tensor.device.type == "mps"
    work = tensor.cpu() if on_mps else tensor
    x = work.permute(2, 0, 1).unsqueeze(0).to(torch.float64 if float64_cubic else torch.float32)
    if protocol.channel_order == "BGR":
        # mean/std of BGR weights are listed in BGR order too, so flip before normalising.
        x = x.flip(1)
    elif protocol.channel_order != "RGB":
        raise InferenceError(f"unknown channel_order {protocol.channel_order!r}: expected RGB or BGR")
    if protocol.value_scale == 1.0:
        x = x / 255.0
    elif protocol.value_scale != 255.0:
        raise InferenceError(f"value_scale must be 1.0 or 255.0, got {protocol.value_scale!r}")
    if float64_cubic:
        x = cv2_cubic(x, size)  # DPT resizes first and normalises the resized image
    mean = torch.tensor(protocol.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(protocol.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    x = (x - mean) / std
    if float64_cubic:
        x = x.to(device=tensor.device, dtype=torch.float32)
    if tuple(x.shape[-2:]) != size:
        # Resizing is linear, so normalising first gives the same values as normalising after, and keeps
        # the border behaviour independent of the value scale.
        corners = None if mode == "nearest" else False
        x = F.interpolate(x, size=size, mode=mode, align_corners=corners, antialias=False)
    return x.contiguous()


# ---------------------------------------------------------------------------------- model outputs


def upsample_logits(
    output: Any,
    size: tuple[int, int] | torch.Size,
    *,
    align_corners: bool = False,
    dtype: torch.dtype | None = None,
    mode: str = "bilinear",
) -> torch.Tensor:
    """The logits ``(N, C, h, w)`` in a model's output, resized to ``size`` where they differ.

    Args:
        output: what the model returned: a tensor, a mapping with an ``"out"`` entry (torchvision's
            ``OrderedDict``), or a tuple or list whose first element is the logits (auxiliary outputs after).
        size: the ``(height, width)`` wanted.
        align_corners: of the resize (the weight's protocol says which).
        dtype: cast to this before resizing (``None`` keeps the model's dtype, e.g. under autocast).
        mode: ``"bilinear"`` or ``"bicubic"`` (isl-org/DPT's; the reference pipeline's ``logits_resize``).

    Returns:
        The logits at ``size``; the very tensor the model returned when no cast or resize was needed.

    Raises:
        InferenceError: an output of another kind, or not ``(N, C, h, w)``, or an unknown ``mode``.
    """
    if mode not in ("bilinear", "bicubic"):
        raise InferenceError(f"unknown logits resize mode {mode!r}: expected bilinear or bicubic")
    logits = output
    if isinstance(logits, Mapping):
        if "out" not in logits:
            raise InferenceError(
                f"the model returned a mapping with keys {sorted(map(str, logits))}; expected the logits "
                "under 'out' (torchvision's convention)"
            )
        logits = logits["out"]
    elif isinstance(logits, (tuple, list)) and logits:
        logits = logits[0]
    if not isinstance(logits, torch.Tensor) or logits.ndim != 4:
        raise InferenceError(
            f"expected the model to return logits (N, C, h, w), got {type(output).__name__} "
            f"{tuple(getattr(logits, 'shape', ()))}"
        )
    if dtype is not None:
        logits = logits.to(dtype)
    size = (int(size[0]), int(size[1]))
    if tuple(logits.shape[-2:]) != size:
        logits = F.interpolate(logits, size=size, mode=mode, align_corners=align_corners)
    return logits


def _pad_bottom_right(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``x`` padded with zeros at the bottom and right up to ``height x width`` (never cropped)."""
    pad_h, pad_w = max(height - x.shape[-2], 0), max(width - x.shape[-1], 0)
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), value=0.0)
    return x


def _forward(model: torch.nn.Module, x: torch.Tensor, protocol: EvalProtocol) -> torch.Tensor:
    """Logits of ``model`` on ``x`` (one network input: a whole image or a window), at the size of ``x``.

    With ``protocol.size_divisor`` the input is zero-padded at the bottom and right to a multiple of it and
    the padding cropped off the logits. A network whose logits come out at a lower resolution (an output
    stride) is upsampled to the (padded) input size first, as mmseg's ``encode_decode`` does, so padding and
    windows are cut in input pixels.
    """
    height, width = int(x.shape[-2]), int(x.shape[-1])
    divisor = protocol.size_divisor
    if divisor:
        x = _pad_bottom_right(x, -(-height // divisor) * divisor, -(-width // divisor) * divisor)
    logits = upsample_logits(model(x), x.shape[-2:], align_corners=protocol.align_corners)
    return logits[..., :height, :width]


# -------------------------------------------------------------------------------------- inference


def slide_windows(
    height: int, width: int, crop_size: tuple[int, int], stride: tuple[int, int]
) -> list[tuple[int, int, int, int]]:
    """The ``(y1, y2, x1, x2)`` windows of mmseg's ``slide_inference`` over a ``height x width`` image.

    ``h_grids = max(height - crop_h + stride_h - 1, 0) // stride_h + 1`` rows (likewise columns); window
    ``row`` starts at ``min(row * stride_h, height - crop_h)`` clipped at 0, so the last window is aligned
    to the border and every pixel is covered. A window is smaller than the crop only where the image is:
    it is then clipped to the image, never padded (mmseg decodes "the small patch without padding").
    """
    (crop_h, crop_w), (stride_h, stride_w) = crop_size, stride
    h_grids = max(height - crop_h + stride_h - 1, 0) // stride_h + 1
    w_grids = max(width - crop_w + stride_w - 1, 0) // stride_w + 1
    windows = []
    for row in range(h_grids):
        for col in range(w_grids):
            y1 = max(min(row * stride_h, height - crop_h), 0)
            x1 = max(min(col * stride_w, width - crop_w), 0)
            windows.append((y1, min(y1 + crop_h, height), x1, min(x1 + crop_w, width)))
    return windows


def predict_logits(model: torch.nn.Module, image: torch.Tensor, protocol: EvalProtocol) -> torch.Tensor:
    """Logits ``(N, C, h, w)`` of ``model`` on preprocessed images ``(N, 3, h, w)`` of one size, at that size.

    * ``protocol.inference == "whole"``: one forward pass.
    * ``"slide"``: windows of ``protocol.crop_size`` every ``protocol.stride`` (see :func:`slide_windows`),
      exactly as mmseg's ``slide_inference``: a window is clipped to the image, so where the image is smaller
      than the crop the network sees the smaller patch, unpadded; overlapping logits are summed and divided
      by how many windows covered each pixel.

    Either way, with ``protocol.size_divisor`` each network input (the image, or each window) is zero-padded
    at the bottom and right to a multiple of it (networks with an output stride need it) and the padding is
    cropped off its logits, so no padded pixel ever reaches the prediction.

    Runs under :func:`torch.inference_mode` on the device of ``image``; the model is not switched to eval
    mode here (the caller owns it).

    Raises:
        InferenceError: an input that is not 4-D, an unknown inference mode, slide without crop or stride.
    """
    if image.ndim != 4:
        raise InferenceError(f"expected an (N, 3, h, w) tensor, got shape {tuple(image.shape)}")
    height, width = int(image.shape[-2]), int(image.shape[-1])
    with torch.inference_mode():
        if protocol.inference == "whole":
            return _forward(model, image, protocol)
        if protocol.inference != "slide":
            raise InferenceError(f"unknown inference mode {protocol.inference!r}: expected whole or slide")
        if not (protocol.crop_size and protocol.stride):
            raise InferenceError("slide inference needs crop_size and stride in the protocol")
        logits: torch.Tensor | None = None
        count = torch.zeros((1, 1, height, width), dtype=torch.float32, device=image.device)
        for y1, y2, x1, x2 in slide_windows(height, width, protocol.crop_size, protocol.stride):
            out = _forward(model, image[..., y1:y2, x1:x2], protocol)
            if logits is None:
                logits = torch.zeros(
                    (out.shape[0], out.shape[1], height, width), dtype=out.dtype, device=image.device
                )
            logits[..., y1:y2, x1:x2] += out
            count[..., y1:y2, x1:x2] += 1
        # slide_windows covers every pixel, so count >= 1 everywhere and the division is safe.
        return logits / count


def _model_device(model: torch.nn.Module) -> torch.device | None:
    param = next(iter(model.parameters()), None)
    return None if param is None else param.device


def predict_scores(
    model: torch.nn.Module,
    images: Sequence[torch.Tensor | np.ndarray],
    protocol: EvalProtocol,
    *,
    tta: str = "none",
    sizes: Sequence[tuple[int, int]] | None = None,
) -> list[torch.Tensor]:
    """Per-class scores of each image under ``protocol`` and test-time augmentation ``tta``, at its label size.

    The one entry point from images to scores: each image is preprocessed from the original at every ratio
    of ``tta`` (:func:`network_input_size`), predicted whole or by windows (:func:`predict_logits`), mirrored
    where ``tta`` flips, and brought to its output size.

    Args:
        model: maps ``(N, 3, h, w)`` floats to logits (see :func:`upsample_logits` for the outputs accepted);
            already in eval mode and on the wanted device. Runs under any autocast the caller set.
        images: ``uint8`` ``(H, W, 3)`` RGB arrays or tensors (or one ``(N, H, W, 3)`` tensor, or one image)
            that :func:`network_input_sizes` gives equal sizes, so that they are predicted as one batch. A
            tensor stays on its device; an array goes to the device of the model's first parameter.
        protocol: the weight's evaluation protocol (``ms_ratios`` gives the scales of ``"ms"``).
        tta: one of :data:`TTA_MODES`.
        sizes: the ``(height, width)`` of each image's ground truth; by default the image's own size.

    Returns:
        One ``float32`` tensor ``(C, height, width)`` per image. Without augmentation these are the logits,
        resized from the network-input size as the reference pipeline resizes them (bilinearly with
        ``align_corners=protocol.align_corners``; bicubically for isl-org/DPT); with
        ``"flip"`` or ``"ms"`` they are softmax probabilities, each view's logits resized to the output size
        before the softmax and the views averaged (mmseg's ``aug_test``). Either way the argmax over ``C`` is
        the prediction. A model with one output channel gets ``(2, height, width)``: ``[1 - p, p]`` with
        ``p`` the sigmoid of its resized logit (averaged over the views), whose argmax is ``p > 0.5`` exactly;
        for another threshold take labels with :func:`predict_labels`.

    Raises:
        InferenceError: an invalid protocol, an unknown ``tta``, an image that is not ``uint8`` ``HxWx3``,
            images whose network-input sizes differ, or ``sizes`` of the wrong length.
    """
    scores, binary = _predict(model, images, protocol, tta, sizes)
    # 1 - p is exact for p in [0.5, 1] (Sterbenz), so the argmax of [1 - p, p] is p > 0.5 to the bit
    return [torch.cat([1.0 - p, p]) for p in scores] if binary else scores


def predict_labels(
    model: torch.nn.Module,
    images: Sequence[torch.Tensor | np.ndarray],
    protocol: EvalProtocol,
    *,
    tta: str = "none",
    sizes: Sequence[tuple[int, int]] | None = None,
    threshold: float = 0.5,
    inputs: Sequence[Sequence[torch.Tensor]] | None = None,
) -> tuple[list[torch.Tensor], bool]:
    """The label of every pixel of each image, and whether the model is binary (one output channel).

    Args:
        model, images, protocol, tta, sizes: as :func:`predict_scores` takes them.
        threshold: a one-channel model's foreground threshold on the sigmoid probability, in ``(0, 1)``:
            a pixel is foreground (1) where ``p > threshold``, background (0) elsewhere. Unused for a
            model with several output channels (the argmax of their scores).
        inputs: optional, per image, its network inputs already made by :func:`preprocess` at each ratio
            of ``tta`` (in :func:`tta_views` order), e.g. in a data-loader worker; each is moved to its
            image's device. Without them each image is preprocessed here.

    Returns:
        ``(labels, binary)``: one ``int64`` tensor ``(height, width)`` per image, and ``True`` when the model
        has one output channel (labels 0/1 by the threshold).

    Raises:
        InferenceError: as :func:`predict_scores`, or a threshold outside ``(0, 1)``.
    """
    if not 0.0 < threshold < 1.0:
        raise InferenceError(f"threshold must be between 0 and 1 (exclusive), got {threshold!r}")
    scores, binary = _predict(model, images, protocol, tta, sizes, inputs)
    if binary:
        return [(p[0] > threshold).to(torch.int64) for p in scores], True
    return [s.argmax(0) for s in scores], False


def _predict(
    model: torch.nn.Module,
    images: Sequence[torch.Tensor | np.ndarray],
    protocol: EvalProtocol,
    tta: str,
    sizes: Sequence[tuple[int, int]] | None,
    inputs: Sequence[Sequence[torch.Tensor]] | None = None,
) -> tuple[list[torch.Tensor], bool]:
    """The scores of :func:`predict_scores`, except that a one-channel model's are its foreground
    probabilities ``(1, H, W)``; and whether the model has one channel."""
    ratios, flip = tta_views(protocol, tta)
    is_one_image = isinstance(images, (np.ndarray, torch.Tensor)) and images.ndim == 3
    images = [images] if is_one_image else list(images)
    problems = protocol.problems()
    if problems:
        raise InferenceError(f"unusable evaluation protocol: {'; '.join(problems)}")
    tensors = [_image_tensor(image) for image in images]
    if not tensors:
        return [], False
    device = _model_device(model)
    tensors = [
        t.to(device) if device is not None and isinstance(image, np.ndarray) else t
        for t, image in zip(tensors, images, strict=True)
    ]
    out_sizes = [tuple(t.shape[:2]) for t in tensors] if sizes is None else [tuple(s) for s in sizes]
    if len(out_sizes) != len(tensors):
        raise InferenceError(f"got {len(tensors)} images but {len(out_sizes)} output sizes")
    views = {network_input_sizes(int(t.shape[0]), int(t.shape[1]), protocol, tta) for t in tensors}
    if len(views) != 1:
        raise InferenceError(
            f"images of one call must share their network-input sizes, got {sorted(views)}: "
            "predict them in separate calls"
        )
    align = protocol.align_corners
    # the reference's resize of the logits to the image (bicubic for isl-org/DPT); the reference is valid here
    mode = protocol.pipeline.logits_resize
    if inputs is not None and (len(inputs) != len(tensors) or any(len(i) != len(ratios) for i in inputs)):
        raise InferenceError(f"inputs must hold one tensor per ratio of {tta!r} ({len(ratios)}) per image")

    def network_input(i: int, k: int, ratio: float) -> torch.Tensor:
        if inputs is None:
            return preprocess(tensors[i], protocol, ratio)
        return inputs[i][k].to(tensors[i].device, non_blocking=True)

    with torch.inference_mode():
        if tta == "none":
            x = torch.cat([network_input(i, 0, 1.0) for i in range(len(tensors))])
            logits = predict_logits(model, x, protocol).float()
            binary = logits.shape[1] == 1
            resized = [
                upsample_logits(logits[i : i + 1], out_sizes[i], align_corners=align, mode=mode)[0]
                for i in range(len(tensors))
            ]
            return ([r.sigmoid() for r in resized] if binary else resized), binary
        totals: list[torch.Tensor | None] = [None] * len(tensors)
        binary = False
        for k, ratio in enumerate(ratios):
            x = torch.cat([network_input(i, k, ratio) for i in range(len(tensors))])
            for mirrored in (False, True) if flip else (False,):
                logits = predict_logits(model, x.flip(-1) if mirrored else x, protocol).float()
                binary = logits.shape[1] == 1  # a softmax over one channel would be 1 everywhere
                if mirrored:
                    logits = logits.flip(-1)
                for i, total in enumerate(totals):
                    probabilities = upsample_logits(
                        logits[i : i + 1], out_sizes[i], align_corners=align, mode=mode
                    )[0]
                    probabilities = probabilities.sigmoid() if binary else probabilities.softmax(0)
                    totals[i] = probabilities if total is None else total + probabilities
        count = len(ratios) * (2 if flip else 1)
        return [total / count for total in totals], binary


def predict(
    model: torch.nn.Module,
    image: torch.Tensor | np.ndarray,
    protocol: EvalProtocol,
    *,
    tta: str = "none",
    flip: bool | None = None,
    threshold: float = 0.5,
) -> torch.Tensor:
    """Class index per pixel of one RGB image, at the image's original size.

    Args:
        model: as :func:`predict_scores` takes it.
        image: ``uint8`` ``(H, W, 3)`` RGB array or tensor; a tensor stays on its device, an array goes to
            the device of the model's first parameter (CPU for a parameterless model).
        protocol: the weight's evaluation protocol.
        tta: one of :data:`TTA_MODES` (see :func:`predict_scores`).
        flip: deprecated: ``flip=True`` is ``tta="flip"``.
        threshold: a one-channel (binary) model's foreground threshold (see :func:`predict_labels`).

    Returns:
        An ``int64`` tensor ``(H, W)``: the argmax of :func:`predict_scores`; for a one-channel model
        1 where the sigmoid exceeds ``threshold``, else 0.

    Raises:
        InferenceError: as :func:`predict_scores`.
    """
    if flip is not None:
        import warnings

        from zoo.errors import ZooDeprecationWarning

        warnings.warn(
            "predict(flip=...) is deprecated: pass tta='flip' (or 'none'); flip= goes in zoo 0.3",
            ZooDeprecationWarning,
            stacklevel=2,
        )
        if flip:
            if tta not in ("none", "flip"):
                raise InferenceError(f"predict got flip=True and tta={tta!r}: pass tta alone")
            tta = "flip"
    labels, _ = predict_labels(model, [image], protocol, tta=tta, threshold=threshold)
    return labels[0].to(torch.int64)
