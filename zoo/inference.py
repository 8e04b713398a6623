"""Single-scale inference driven by a weight's :class:`~zoo.weights.EvalProtocol`.

Three steps, each usable alone:

* :func:`preprocess` turns a ``uint8`` ``HxWx3`` RGB image into the ``(1, 3, h, w)`` float tensor the network
  expects (channel order, value scale, mean/std, resize rule);
* :func:`predict_logits` runs the network on it, whole or by sliding windows, and returns logits at the
  network-input size ``(h, w)``;
* :func:`predict` chains both, optionally with horizontal-flip test-time augmentation, and resizes the
  result to the *original* image size before the argmax, so the prediction can be scored against the
  ground truth as is (the ground truth is never resized: see ``DESIGN.md``, Contracts -> EvalProtocol).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from zoo.weights import EvalProtocol

__all__ = ["network_input_size", "predict", "predict_logits", "preprocess", "slide_windows"]


def network_input_size(height: int, width: int, protocol: EvalProtocol) -> tuple[int, int]:
    """The ``(h, w)`` an image of ``height x width`` is resized to by ``protocol`` before inference.

    Rules (``protocol.resize``):

    * ``"shorter_side"``: the shorter side becomes ``resize_size[0]``, the longer one
      ``int(size * long / short)`` (truncated, as torchvision's ``Resize(int)`` computes it);
    * ``"fit"``: with ``resize_size = (long_max, short_max)``, scale by
      ``min(long_max / long, short_max / short)`` and round each side as ``int(side * scale + 0.5)``
      (mmcv's ``rescale_size``, i.e. mmseg's ``Resize(keep_ratio=True)``);
    * ``"fixed"``: ``resize_size = (height, width)``, the aspect ratio is not kept;
    * ``"none"``: the original size.

    Then, if ``protocol.resize_multiple_of`` is set, each side is rounded *up* to a multiple of it (the image
    is resized to that size, not padded: NVlabs SegFormer's ``AlignedResize``).

    Raises:
        ValueError: for an unknown rule or a ``resize_size`` of the wrong length.
    """
    rule, size = protocol.resize, protocol.resize_size
    if rule == "shorter_side":
        if not size or len(size) != 1:
            raise ValueError(f"resize 'shorter_side' needs one resize_size value, got {size!r}")
        short, long = min(height, width), max(height, width)
        new_short, new_long = size[0], int(size[0] * long / short)
        h, w = (new_short, new_long) if height <= width else (new_long, new_short)
    elif rule == "fit":
        if not size or len(size) != 2:
            raise ValueError(f"resize 'fit' needs resize_size=(long_max, short_max), got {size!r}")
        long_max, short_max = max(size), min(size)
        scale = min(long_max / max(height, width), short_max / min(height, width))
        h, w = int(height * scale + 0.5), int(width * scale + 0.5)
    elif rule == "fixed":
        if not size or len(size) != 2:
            raise ValueError(f"resize 'fixed' needs resize_size=(height, width), got {size!r}")
        h, w = int(size[0]), int(size[1])
    elif rule == "none":
        h, w = height, width
    else:
        raise ValueError(f"unknown resize rule {rule!r}")
    multiple = protocol.resize_multiple_of
    if multiple:
        h, w = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    return h, w


def preprocess(image: torch.Tensor | np.ndarray, protocol: EvalProtocol) -> torch.Tensor:
    """Turn one RGB image into the network input that ``protocol`` describes.

    Args:
        image: ``uint8`` array or tensor of shape ``(H, W, 3)``, channels in RGB order (the dataset
            contract of ``DESIGN.md``).
        protocol: the weight's evaluation protocol.

    Returns:
        A ``float32`` tensor ``(1, 3, h, w)`` with ``(h, w) = network_input_size(H, W, protocol)``: channels
        reordered to ``protocol.channel_order``, pixels scaled to ``[0, 1]`` when ``value_scale == 1.0``
        (kept in ``[0, 255]`` when ``255.0``), normalised as ``(x - mean) / std``, then resized bilinearly
        (``align_corners=False``, no antialiasing). Padding to ``size_divisor`` is *not* done here: it
        belongs to :func:`predict_logits`, which crops it off again.

    Raises:
        ValueError: if the image is not ``uint8`` ``HxWx3``.
    """
    tensor = torch.from_numpy(np.ascontiguousarray(image)) if isinstance(image, np.ndarray) else image
    if tensor.dtype != torch.uint8 or tensor.ndim != 3 or tensor.shape[2] != 3:
        raise ValueError(
            f"expected a uint8 HxWx3 RGB image, got dtype {tensor.dtype} and shape {tuple(tensor.shape)}"
        )
    height, width = int(tensor.shape[0]), int(tensor.shape[1])
    x = tensor.permute(2, 0, 1).unsqueeze(0).to(torch.float32)
    if protocol.channel_order == "BGR":
        # mean/std of BGR weights are listed in BGR order too, so flip before normalising.
        x = x.flip(1)
    elif protocol.channel_order != "RGB":
        raise ValueError(f"unknown channel_order {protocol.channel_order!r}")
    if protocol.value_scale == 1.0:
        x = x / 255.0
    elif protocol.value_scale != 255.0:
        raise ValueError(f"value_scale must be 1.0 or 255.0, got {protocol.value_scale!r}")
    mean = torch.tensor(protocol.mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(protocol.std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    x = (x - mean) / std
    size = network_input_size(height, width, protocol)
    if size != (height, width):
        # Bilinear resizing is linear, so normalising first gives the same values as normalising after,
        # and keeps the border behaviour independent of the value scale.
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=False)
    return x.contiguous()


def _forward(model: torch.nn.Module, x: torch.Tensor, align_corners: bool) -> torch.Tensor:
    """Logits of ``model`` on ``x``, at the spatial size of ``x``.

    Accepts a tensor output or a mapping with an ``"out"`` entry (torchvision's segmentation models). A
    network whose logits come out at a lower resolution (an output stride) is upsampled to the input size,
    as mmseg's ``encode_decode`` does, so windows and padding can be cut in input pixels.
    """
    out = model(x)
    if isinstance(out, Mapping):
        out = out["out"]
    if out.shape[-2:] != x.shape[-2:]:
        out = F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=align_corners)
    return out


def _pad_bottom_right(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``x`` padded with zeros at the bottom and right up to ``height x width`` (never cropped)."""
    pad_h, pad_w = max(height - x.shape[-2], 0), max(width - x.shape[-1], 0)
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), value=0.0)
    return x


def slide_windows(
    height: int, width: int, crop_size: tuple[int, int], stride: tuple[int, int]
) -> list[tuple[int, int, int, int]]:
    """The ``(y1, y2, x1, x2)`` windows of mmseg's ``slide_inference`` over a ``height x width`` image.

    ``h_grids = max(height - crop_h + stride_h - 1, 0) // stride_h + 1`` rows (likewise columns); window
    ``row`` starts at ``min(row * stride_h, height - crop_h)`` clipped at 0, so the last window is aligned
    to the border and every pixel is covered. A window is smaller than the crop only where the image is.
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

    * ``protocol.inference == "whole"``: one forward pass. If ``protocol.size_divisor`` is set the input is
      zero-padded at the bottom and right to a multiple of it (networks with an output stride need it) and
      the padding is cropped off the logits, so no padded pixel ever reaches the prediction.
    * ``"slide"``: windows of ``protocol.crop_size`` every ``protocol.stride`` (see :func:`slide_windows`);
      a window smaller than the crop (image smaller than the crop) is zero-padded to the crop and cropped
      back; overlapping logits are summed and divided by how many windows covered each pixel.

    Runs under :func:`torch.inference_mode` on the device of ``image``; the model is not switched to eval
    mode here (the caller owns it).
    """
    if image.ndim != 4:
        raise ValueError(f"expected an (N, 3, h, w) tensor, got shape {tuple(image.shape)}")
    height, width = int(image.shape[-2]), int(image.shape[-1])
    align = protocol.align_corners
    with torch.inference_mode():
        if protocol.inference == "whole":
            divisor = protocol.size_divisor
            x = image
            if divisor:
                x = _pad_bottom_right(x, -(-height // divisor) * divisor, -(-width // divisor) * divisor)
            return _forward(model, x, align)[..., :height, :width]
        if protocol.inference != "slide":
            raise ValueError(f"unknown inference mode {protocol.inference!r}")
        if not (protocol.crop_size and protocol.stride):
            raise ValueError("slide inference needs crop_size and stride")
        crop_h, crop_w = protocol.crop_size
        logits: torch.Tensor | None = None
        count = torch.zeros((1, 1, height, width), dtype=torch.float32, device=image.device)
        for y1, y2, x1, x2 in slide_windows(height, width, protocol.crop_size, protocol.stride):
            window = _pad_bottom_right(image[..., y1:y2, x1:x2], crop_h, crop_w)
            out = _forward(model, window, align)[..., : y2 - y1, : x2 - x1]
            if logits is None:
                logits = torch.zeros(
                    (out.shape[0], out.shape[1], height, width), dtype=out.dtype, device=image.device
                )
            logits[..., y1:y2, x1:x2] += out
            count[..., y1:y2, x1:x2] += 1
        # slide_windows covers every pixel, so count >= 1 everywhere and the division is safe.
        return logits / count


def predict(
    model: torch.nn.Module,
    image: torch.Tensor | np.ndarray,
    protocol: EvalProtocol,
    *,
    flip: bool = False,
) -> torch.Tensor:
    """Class index per pixel of one RGB image, at the image's original size.

    Args:
        model: maps ``(N, 3, h, w)`` floats to ``(N, C, h, w)`` logits (or a lower-resolution output, which
            is upsampled); it should already be in eval mode and on the wanted device.
        image: ``uint8`` ``(H, W, 3)`` RGB array or tensor; a tensor stays on its device, an array goes to
            the device of the model's first parameter (CPU for a parameterless model).
        protocol: the weight's evaluation protocol (:func:`preprocess`, :func:`predict_logits`).
        flip: horizontal-flip test-time augmentation: the softmax probabilities of the image and of its
            mirror (mirrored back) are averaged before the argmax.

    Returns:
        An ``int64`` tensor ``(H, W)`` on the model's side of the computation. Logits (or probabilities with
        ``flip``) are resized bilinearly from the network-input size to ``(H, W)`` with
        ``align_corners=protocol.align_corners`` *before* the argmax; the ground truth is never resized.
    """
    height, width = int(image.shape[0]), int(image.shape[1])
    x = preprocess(image, protocol)
    if isinstance(image, np.ndarray):
        param = next(iter(model.parameters()), None)
        if param is not None:
            x = x.to(param.device)
    with torch.inference_mode():
        scores = predict_logits(model, x, protocol)
        if flip:
            mirrored = predict_logits(model, x.flip(-1), protocol).flip(-1)
            scores = (scores.float().softmax(1) + mirrored.float().softmax(1)) / 2
        if scores.shape[-2:] != (height, width):
            scores = F.interpolate(
                scores.float(),
                size=(height, width),
                mode="bilinear",
                align_corners=protocol.align_corners,
            )
        return scores.argmax(1)[0].to(torch.int64)
