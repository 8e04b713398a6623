"""Bit-level reproductions of the uint8 image resizers that reference pipelines use, in torch.

Publishers resize the *uint8* image before normalising, each with its own library's fixed-point kernel;
resizing floats once (as zoo did) differs by up to one uint8 step. These functions reproduce the kernels so
zoo's network input is the publisher's:

* :func:`pil_bilinear` is Pillow's ``Image.resize(..., BILINEAR)`` (torchvision's reference evaluation
  resizes the PIL image): a triangle filter widened by the scale when downscaling (antialiasing),
  coefficients in 22-bit fixed point, horizontal pass first, each pass rounded to uint8. Bit-exact
  (``tests/test_parity.py`` compares it with Pillow).
* :func:`cv2_bilinear` is OpenCV's ``cv2.resize(..., INTER_LINEAR)`` (``mmcv.imresize`` / ``imrescale``, used
  by mmsegmentation and NVlabs SegFormer): half-pixel centres, 11-bit coefficients, a 32-bit horizontal
  buffer and OpenCV's vectorised vertical rounding. Within one uint8 step of OpenCV, equal on all but about
  0.05% of values (OpenCV's scalar tail of each row rounds differently, and where the tail starts depends
  on the CPU's vector width).

Both take and return ``uint8`` ``(H, W, C)`` tensors on any device.

* :func:`cv2_cubic` is OpenCV's ``cv2.resize(..., INTER_CUBIC)`` of a *float* image (isl-org/DPT resizes the
  float64 image ``read_image`` returns): cubic convolution with ``A = -0.75``, half-pixel centres, borders
  replicated, no antialiasing, coefficients computed in float32 as OpenCV computes them and the horizontal
  then vertical sums taken in the image's dtype, in OpenCV's order. torch's own bicubic has the same kernel but
  float64 coefficients, which differ from OpenCV's float32 ones by up to 3e-5 of the value range; this
  reproduces OpenCV to the bit on a float64 image (``tests/test_parity.py``). It takes a float tensor
  ``(..., H, W)``.
"""

from __future__ import annotations

import math

import torch

__all__ = ["cv2_bilinear", "cv2_cubic", "pil_bilinear"]

_PIL_PRECISION_BITS = 22  # Pillow's Resample.c: 32 - 8 (pixel) - 2 (headroom)
_CV2_COEF_SCALE = 2048  # OpenCV's INTER_RESIZE_COEF_SCALE (11 bits)


def _pil_coefficients(in_size: int, out_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Source indices and fixed-point weights ``(out_size, taps)`` of Pillow's bilinear filter."""
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    support = filter_scale  # the bilinear (triangle) filter's support is 1, widened when downscaling
    taps = int(math.ceil(support)) * 2 + 1
    index = torch.zeros((out_size, taps), dtype=torch.int64)
    weight = torch.zeros((out_size, taps), dtype=torch.int64)
    for out_x in range(out_size):
        center = (out_x + 0.5) * scale
        x_min = max(int(center - support + 0.5), 0)
        count = min(int(center + support + 0.5), in_size) - x_min
        values = [max(0.0, 1.0 - abs((x + x_min - center + 0.5) / filter_scale)) for x in range(count)]
        total = sum(values)
        for x, value in enumerate(values):
            value = value / total if total else value
            fixed = value * (1 << _PIL_PRECISION_BITS)
            index[out_x, x] = x_min + x
            weight[out_x, x] = int(fixed - 0.5) if value < 0 else int(fixed + 0.5)
    return index, weight


def _pil_pass(image: torch.Tensor, dim: int, out_size: int) -> torch.Tensor:
    index, weight = _pil_coefficients(int(image.shape[dim]), out_size)
    index, weight = index.to(image.device), weight.to(image.device)
    gathered = image.index_select(dim, index.reshape(-1))
    shape = list(image.shape)
    shape[dim : dim + 1] = [out_size, index.shape[1]]
    gathered = gathered.reshape(shape)
    weight = weight.reshape([out_size, index.shape[1]] + [1] * (image.ndim - dim - 1))
    total = (gathered * weight).sum(dim + 1) + (1 << (_PIL_PRECISION_BITS - 1))
    return (total >> _PIL_PRECISION_BITS).clamp(0, 255)


def pil_bilinear(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``image`` (uint8 ``HxWxC``) resized to ``size = (h, w)`` exactly as Pillow's bilinear resize does."""
    height, width = size
    x = image.to(torch.int64)
    if width != x.shape[1]:
        x = _pil_pass(x, 1, width)
    if height != x.shape[0]:
        x = _pil_pass(x, 0, height)
    return x.to(torch.uint8)


def _cv2_coefficients(in_size: int, out_size: int) -> tuple[torch.Tensor, ...]:
    """First/second source index and their 11-bit weights per output pixel, as OpenCV computes them."""
    scale = 1.0 / (out_size / in_size)  # OpenCV stores the inverse scale and inverts it back
    position = ((torch.arange(out_size, dtype=torch.float64) + 0.5) * scale - 0.5).to(torch.float32)
    first = position.floor()
    fraction = position - first
    first = first.to(torch.int64)
    low, high = first < 0, first >= in_size - 1
    fraction[low | high] = 0.0
    first[low] = 0
    first[high] = in_size - 1
    w1 = (fraction * _CV2_COEF_SCALE).round().to(torch.int64)
    w0 = ((1.0 - fraction) * _CV2_COEF_SCALE).round().to(torch.int64)
    return first, (first + 1).clamp(max=in_size - 1), w0, w1


def cv2_bilinear(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``image`` (uint8 ``HxWxC``) resized to ``size = (h, w)`` as ``cv2.resize(INTER_LINEAR)`` does
    (within one uint8 step; see the module docstring)."""
    height, width = size
    if (height, width) == tuple(image.shape[:2]):
        return image.clone()
    device = image.device
    x = image.to(torch.int64)
    x0, x1, a0, a1 = (t.to(device) for t in _cv2_coefficients(int(x.shape[1]), width))
    rows = x[:, x0] * a0[None, :, None] + x[:, x1] * a1[None, :, None]
    y0, y1, b0, b1 = (t.to(device) for t in _cv2_coefficients(int(x.shape[0]), height))
    b0, b1 = b0[:, None, None], b1[:, None, None]
    # OpenCV's VResizeLinearVec_32s8u: drop 4 bits, 16-bit multiply-high, then round off the last 2 bits
    out = ((((rows[y0] >> 4) * b0) >> 16) + (((rows[y1] >> 4) * b1) >> 16) + 2) >> 2
    return out.clamp(0, 255).to(torch.uint8)


def _cv2_cubic_coefficients(in_size: int, out_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Source indices ``(out_size, 4)`` (borders replicated) and float32 weights ``(out_size, 4)`` of
    OpenCV's ``INTER_CUBIC`` (``resize.cpp``: ``fx = (float)((dx + 0.5) * scale - 0.5)``, ``interpolateCubic``)."""
    scale = 1.0 / (out_size / in_size)  # OpenCV stores the inverse scale and inverts it back
    fx = ((torch.arange(out_size, dtype=torch.float64) + 0.5) * scale - 0.5).to(torch.float32)
    first = fx.floor()
    x = fx - first  # float32 throughout, as OpenCV's float coefficient buffer
    a = torch.tensor(-0.75, dtype=torch.float32)
    # interpolateCubic, operation for operation (float32 rounding after each one)
    c0 = ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a
    c1 = ((a + 2) * x - (a + 3)) * x * x + 1
    c2 = ((a + 2) * (1 - x) - (a + 3)) * (1 - x) * (1 - x) + 1
    c3 = 1 - c0 - c1 - c2
    index = first.to(torch.int64)[:, None] + torch.arange(-1, 3)[None, :]
    return index.clamp(0, in_size - 1), torch.stack([c0, c1, c2, c3], dim=1)


def _cv2_cubic_pass(x: torch.Tensor, dim: int, out_size: int) -> torch.Tensor:
    """One separable pass of :func:`cv2_cubic` along ``dim`` (``-1``: horizontal, ``-2``: vertical)."""
    index, weight = _cv2_cubic_coefficients(int(x.shape[dim]), out_size)
    index, weight = index.to(x.device), weight.to(device=x.device, dtype=x.dtype)
    taps = x.index_select(dim, index.reshape(-1))
    if dim == -1:
        taps = taps.unflatten(-1, (out_size, 4))
        tap = [taps[..., k] for k in range(4)]
        w = [weight[:, k] for k in range(4)]
    else:
        taps = taps.unflatten(-2, (out_size, 4))
        tap = [taps[..., k, :] for k in range(4)]
        w = [weight[:, k, None] for k in range(4)]
    # summed left to right, each product and sum rounded as OpenCV's S0*b0 + S1*b1 + S2*b2 + S3*b3
    return tap[0] * w[0] + tap[1] * w[1] + tap[2] * w[2] + tap[3] * w[3]


def cv2_cubic(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``image`` (float ``(..., H, W)``) resized to ``size = (h, w)`` as ``cv2.resize(INTER_CUBIC)`` resizes a
    float image: horizontal pass, then vertical, in ``image``'s dtype (bit-exact with OpenCV on float64)."""
    height, width = size
    x = image
    # a side kept as it is has weights (0, 1, 0, 0) in OpenCV: the pass would give the same values
    if width != x.shape[-1]:
        x = _cv2_cubic_pass(x, -1, width)
    if height != x.shape[-2]:
        x = _cv2_cubic_pass(x, -2, height)
    return x
