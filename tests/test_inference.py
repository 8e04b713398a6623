"""zoo.inference: preprocessing, whole/slide inference and prediction at the original size.

Every model here is a tiny toy whose correct output is known, so each test pins one pitfall of DESIGN.md
(RGB vs BGR, 0-1 vs 0-255 mean/std, keep-ratio resize, padding cropped off, slide == whole, no GT resize).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from zoo.inference import network_input_size, predict, predict_logits, preprocess, slide_windows
from zoo.weights import IMAGENET_MEAN, IMAGENET_STD, EvalProtocol

# Identity normalisation on raw pixels: the network sees exactly the RGB values.
RAW = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "value_scale": 255.0}


def proto(**kwargs) -> EvalProtocol:
    fields = {**RAW, "resize": "none", **kwargs}
    return EvalProtocol(**fields)


class ColourModel(nn.Module):
    """Per-pixel: the logits are the input channels, so the class is the dominant colour (0=R, 1=G, 2=B).

    With ``divisor`` set it refuses inputs that are not a multiple of it, like a network with an output
    stride whose skip connections would not line up.
    """

    def __init__(self, divisor: int | None = None) -> None:
        super().__init__()
        self.divisor = divisor
        self.calls: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((x.shape[-2], x.shape[-1]))
        if self.divisor:
            assert x.shape[-2] % self.divisor == 0 and x.shape[-1] % self.divisor == 0, x.shape
        return x.clone()


def conv1x1(classes: int = 4, seed: int = 0) -> nn.Module:
    """A per-pixel (translation- and flip-equivariant) model with fixed random weights and bias."""
    torch.manual_seed(seed)
    return nn.Conv2d(3, classes, kernel_size=1).eval()


def colour_blocks(height: int, width: int) -> tuple[np.ndarray, torch.Tensor]:
    """An image of pure red, green and blue vertical bands, and its ground truth (the band's class)."""
    labels = torch.zeros((height, width), dtype=torch.int64)
    labels[:, width // 3 : 2 * width // 3] = 1
    labels[:, 2 * width // 3 :] = 2
    image = np.zeros((height, width, 3), dtype=np.uint8)
    for cls in range(3):
        image[labels.numpy() == cls, cls] = 200
    return image, labels


# --- normalisation ---------------------------------------------------------------------------------------


def test_preprocess_rgb_value_scale_255_exact() -> None:
    image = np.array([[[10, 20, 30]]], dtype=np.uint8)
    p = proto(mean=(1.0, 2.0, 3.0), std=(2.0, 4.0, 8.0))
    out = preprocess(image, p)
    assert out.shape == (1, 3, 1, 1) and out.dtype == torch.float32
    # Values chosen to be exact in float32: (10-1)/2, (20-2)/4, (30-3)/8.
    assert out.flatten().tolist() == [4.5, 4.5, 3.375]


def test_preprocess_bgr_flips_channels_before_normalising() -> None:
    image = np.array([[[10, 20, 30]]], dtype=np.uint8)
    p = proto(mean=(1.0, 2.0, 3.0), std=(2.0, 4.0, 5.0), channel_order="BGR")
    # The network sees (B, G, R) = (30, 20, 10), normalised by mean/std given in BGR order.
    assert preprocess(image, p).flatten().tolist() == pytest.approx([14.5, 4.5, 1.4])


def test_preprocess_value_scale_1_divides_by_255() -> None:
    image = torch.tensor([[[51, 102, 204]]], dtype=torch.uint8)
    p = EvalProtocol(mean=IMAGENET_MEAN, std=IMAGENET_STD, value_scale=1.0, resize="none")
    expected = [
        (v / 255 - m) / s for v, m, s in zip((51, 102, 204), IMAGENET_MEAN, IMAGENET_STD, strict=True)
    ]
    assert preprocess(image, p).flatten().tolist() == pytest.approx(expected, abs=1e-6)


def test_preprocess_accepts_numpy_and_tensor_alike_and_rejects_non_uint8() -> None:
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    p = EvalProtocol(
        mean=IMAGENET_MEAN, std=IMAGENET_STD, value_scale=1.0, resize="fixed", resize_size=(8, 8)
    )
    assert torch.equal(preprocess(image, p), preprocess(torch.from_numpy(image), p))
    with pytest.raises(ValueError, match="uint8"):
        preprocess(image.astype(np.float32), p)
    with pytest.raises(ValueError, match="HxWx3"):
        preprocess(image[..., :2], p)


# --- resize rules ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hw", "kwargs", "expected"),
    [
        # torchvision Resize(520): shorter side 520, longer int(520 * 500 / 375) = 693, both orientations.
        ((375, 500), {"resize": "shorter_side", "resize_size": (520,)}, (520, 693)),
        ((500, 375), {"resize": "shorter_side", "resize_size": (520,)}, (693, 520)),
        ((520, 520), {"resize": "shorter_side", "resize_size": (520,)}, (520, 520)),
        # mmseg Resize(scale=(2048, 512), keep_ratio=True): scale min(2048/683, 512/512) = 1.
        ((512, 683), {"resize": "fit", "resize_size": (2048, 512)}, (512, 683)),
        ((1024, 2048), {"resize": "fit", "resize_size": (2048, 1024)}, (1024, 2048)),
        ((1024, 2048), {"resize": "fit", "resize_size": (2048, 512)}, (512, 1024)),
        # scale 512/333: int(333 * s + 0.5) = 512, int(500 * s + 0.5) = 769 (mmcv rounds half up).
        ((333, 500), {"resize": "fit", "resize_size": (2048, 512)}, (512, 769)),
        ((375, 500), {"resize": "fixed", "resize_size": (512, 1024)}, (512, 1024)),
        ((375, 500), {"resize": "none"}, (375, 500)),
        # SegFormer AlignedResize: 512x683 -> 512x704 (rounded up, by resizing).
        ((512, 683), {"resize": "fit", "resize_size": (2048, 512), "resize_multiple_of": 32}, (512, 704)),
        ((375, 500), {"resize": "none", "resize_multiple_of": 32}, (384, 512)),
        ((384, 512), {"resize": "none", "resize_multiple_of": 32}, (384, 512)),
    ],
)
def test_network_input_size(hw: tuple[int, int], kwargs: dict, expected: tuple[int, int]) -> None:
    assert network_input_size(*hw, proto(**kwargs)) == expected


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"resize": "shorter_side", "resize_size": (12,)}, (12, 16)),
        ({"resize": "fit", "resize_size": (30, 12)}, (12, 16)),
        ({"resize": "fixed", "resize_size": (7, 5)}, (7, 5)),
        ({"resize": "none", "resize_multiple_of": 8}, (16, 16)),
    ],
)
def test_preprocess_output_has_network_input_size(kwargs: dict, expected: tuple[int, int]) -> None:
    image = np.full((9, 12, 3), 100, dtype=np.uint8)
    out = preprocess(image, proto(**kwargs))
    assert out.shape == (1, 3, *expected)
    # A constant image stays constant under a bilinear resize (no antialias or border artefact).
    assert torch.allclose(out, torch.full_like(out, 100.0))


def test_unknown_or_malformed_resize_rule_raises() -> None:
    with pytest.raises(ValueError, match="shorter_side"):
        network_input_size(10, 10, proto(resize="shorter_side", resize_size=(1, 2)))
    with pytest.raises(ValueError, match="unknown resize"):
        network_input_size(10, 10, proto(resize="warp"))


# --- whole inference with size_divisor -------------------------------------------------------------------


def test_size_divisor_padding_is_cropped_off() -> None:
    image, truth = colour_blocks(45, 70)
    model = ColourModel(divisor=32)
    pred = predict(model, image, proto(size_divisor=32))
    assert model.calls == [(64, 96)]
    assert pred.dtype == torch.int64 and pred.shape == (45, 70)
    assert torch.equal(pred, truth)


def test_whole_logits_have_network_input_size() -> None:
    x = torch.randn(1, 3, 13, 21)
    logits = predict_logits(conv1x1(), x, proto(size_divisor=8))
    assert logits.shape == (1, 4, 13, 21)
    assert torch.allclose(logits, predict_logits(conv1x1(), x, proto()), atol=1e-6)


# --- slide inference -------------------------------------------------------------------------------------


@pytest.mark.parametrize("hw", [(5, 7), (16, 16), (17, 23), (30, 9), (33, 40)])
def test_slide_windows_cover_every_pixel_inside_the_image(hw: tuple[int, int]) -> None:
    height, width = hw
    count = torch.zeros(hw)
    for y1, y2, x1, x2 in slide_windows(height, width, crop_size=(16, 12), stride=(10, 8)):
        assert 0 <= y1 < y2 <= height and 0 <= x1 < x2 <= width
        assert y2 - y1 == min(16, height) and x2 - x1 == min(12, width)
        count[y1:y2, x1:x2] += 1
    assert bool((count >= 1).all())


def test_slide_windows_match_mmseg_grid() -> None:
    # h=33, crop 16, stride 10: h_grids = (33-16+9)//10 + 1 = 3, rows at 0, 10 and min(20, 17) = 17.
    windows = slide_windows(33, 12, crop_size=(16, 12), stride=(10, 8))
    assert [w[0] for w in windows] == [0, 10, 17]
    assert {(w[2], w[3]) for w in windows} == {(0, 12)}


@pytest.mark.parametrize("hw", [(5, 7), (16, 12), (17, 23), (33, 40)])
def test_slide_equals_whole_for_a_per_pixel_model(hw: tuple[int, int]) -> None:
    # (5, 7) is smaller than the crop; (17, 23) and (33, 40) are not multiples of the stride.
    model = conv1x1()
    x = torch.randn(1, 3, *hw)
    whole = predict_logits(model, x, proto())
    slide = predict_logits(model, x, proto(inference="slide", crop_size=(16, 12), stride=(10, 8)))
    assert slide.shape == whole.shape == (1, 4, *hw)
    assert torch.allclose(slide, whole, atol=1e-5)


def test_slide_pads_windows_smaller_than_the_crop() -> None:
    model = ColourModel(divisor=8)
    image, truth = colour_blocks(5, 7)
    pred = predict(model, image, proto(inference="slide", crop_size=(8, 8), stride=(4, 4)))
    assert model.calls == [(8, 8)]
    assert torch.equal(pred, truth)


# --- predict ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"resize": "shorter_side", "resize_size": (20,)},
        {"resize": "fit", "resize_size": (40, 16)},
        {"resize": "fixed", "resize_size": (24, 32)},
        {"resize": "none", "size_divisor": 8},
        {"resize": "none", "resize_multiple_of": 8},
        {
            "resize": "shorter_side",
            "resize_size": (20,),
            "inference": "slide",
            "crop_size": (8, 8),
            "stride": (6, 6),
        },
    ],
)
@pytest.mark.parametrize("align_corners", [False, True])
def test_prediction_has_the_original_size(kwargs: dict, align_corners: bool) -> None:
    image = np.zeros((13, 17, 3), dtype=np.uint8)
    image[..., 1] = 180  # all green: class 1 everywhere, whatever the resize
    pred = predict(ColourModel(), image, proto(align_corners=align_corners, **kwargs))
    assert pred.shape == (13, 17) and pred.dtype == torch.int64
    assert bool((pred == 1).all())


def test_prediction_at_original_size_recovers_colour_bands_after_resize() -> None:
    image, truth = colour_blocks(12, 18)
    pred = predict(ColourModel(), image, proto(resize="fixed", resize_size=(24, 36)))
    assert torch.equal(pred, truth)


def test_flip_tta_with_a_symmetric_model_changes_nothing() -> None:
    image = np.random.default_rng(1).integers(0, 256, (11, 14, 3), dtype=np.uint8)
    p = EvalProtocol(
        mean=IMAGENET_MEAN, std=IMAGENET_STD, value_scale=1.0, resize="shorter_side", resize_size=(16,)
    )
    model = conv1x1(classes=5)
    assert torch.equal(predict(model, image, p, flip=True), predict(model, image, p))


class RampModel(nn.Module):
    """Not flip-symmetric: class 0's logit grows to the right, class 1's is a constant (0.4, no ties)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        width = x.shape[-1]
        ramp = torch.linspace(-1.0, 3.0, width).expand(x.shape[0], 1, x.shape[-2], width)
        return torch.cat([ramp, torch.full_like(ramp, 0.4)], dim=1)


def test_flip_tta_averages_probabilities_of_the_mirrored_prediction() -> None:
    image = np.zeros((2, 9, 3), dtype=np.uint8)
    plain = predict(RampModel(), image, proto())
    flipped = predict(RampModel(), image, proto(), flip=True)
    ramp = torch.linspace(-1.0, 3.0, 9)
    assert plain[0].tolist() == (ramp <= 0.4).long().tolist()
    logits = torch.stack([ramp, torch.full_like(ramp, 0.4)])
    probs = (logits.softmax(0) + logits.flip(-1).softmax(0)) / 2
    assert flipped[0].tolist() == probs.argmax(0).tolist()
    assert not torch.equal(plain, flipped)


class HalfResolution(nn.Module):
    """Logits at half the input resolution inside a torchvision-style ``{"out": ...}`` mapping."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": nn.functional.avg_pool2d(x, 2)}


def test_low_resolution_or_mapping_output_is_brought_to_the_input_size() -> None:
    x = torch.ones(1, 3, 8, 12)
    logits = predict_logits(HalfResolution(), x, proto())
    assert logits.shape == (1, 3, 8, 12)
    assert torch.allclose(logits, x)
