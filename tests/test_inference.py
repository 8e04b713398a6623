"""zoo.inference: preprocessing, whole/slide inference, flip and multi-scale testing, scores at the label size.

Every model here is a tiny toy whose correct output is known, so each test pins one pitfall of DESIGN.md
(RGB vs BGR, 0-1 vs 0-255 mean/std, keep-ratio resize, padding cropped off, slide == whole, no GT resize).
The mmseg parity tests compute what mmseg would do with code written apart from zoo's, from mmseg's source.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import ZooDeprecationWarning, ZooError
from zoo.inference import (
    TTA_MODES,
    InferenceError,
    network_input_size,
    network_input_sizes,
    predict,
    predict_logits,
    predict_scores,
    preprocess,
    slide_windows,
    tta_views,
    upsample_logits,
)
from zoo.weights import IMAGENET_MEAN, IMAGENET_STD, MMSEG_MS_RATIOS, EvalProtocol

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


def test_slide_pads_windows_to_the_size_divisor_when_the_protocol_asks() -> None:
    model = ColourModel(divisor=8)
    image, truth = colour_blocks(5, 7)
    pred = predict(model, image, proto(inference="slide", crop_size=(8, 8), stride=(4, 4), size_divisor=8))
    assert model.calls == [(8, 8)]
    assert torch.equal(pred, truth)


def test_slide_decodes_a_window_smaller_than_the_crop_unpadded() -> None:
    """mmseg: "If h_crop > h_img or w_crop > w_img, the small patch will be used to decode without padding"."""
    model = ColourModel()
    image, truth = colour_blocks(5, 7)
    pred = predict(model, image, proto(inference="slide", crop_size=(8, 8), stride=(4, 4)))
    assert model.calls == [(5, 7)]
    assert torch.equal(pred, truth)


def mmseg_slide_inference(encode_decode, inputs, crop_size, stride, out_channels):
    """mmseg 1.x ``EncoderDecoder.slide_inference``, transcribed from its source (variable names kept)."""
    h_stride, w_stride = stride
    h_crop, w_crop = crop_size
    batch_size, _, h_img, w_img = inputs.size()
    h_grids = max(h_img - h_crop + h_stride - 1, 0) // h_stride + 1
    w_grids = max(w_img - w_crop + w_stride - 1, 0) // w_stride + 1
    preds = inputs.new_zeros((batch_size, out_channels, h_img, w_img))
    count_mat = inputs.new_zeros((batch_size, 1, h_img, w_img))
    for h_idx in range(h_grids):
        for w_idx in range(w_grids):
            y1 = h_idx * h_stride
            x1 = w_idx * w_stride
            y2 = min(y1 + h_crop, h_img)
            x2 = min(x1 + w_crop, w_img)
            y1 = max(y2 - h_crop, 0)
            x1 = max(x2 - w_crop, 0)
            crop_img = inputs[:, :, y1:y2, x1:x2]
            crop_seg_logit = encode_decode(crop_img)
            preds += F.pad(
                crop_seg_logit, (int(x1), int(preds.shape[3] - x2), int(y1), int(preds.shape[2] - y2))
            )
            count_mat[:, :, y1:y2, x1:x2] += 1
    assert (count_mat == 0).sum() == 0
    return preds / count_mat


class WindowContextModel(nn.Module):
    """Logits at half resolution plus each window's mean colour: a padded window would change every logit."""

    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, classes, kernel_size=3, stride=2, padding=1)
        self.context = nn.Linear(3, classes)
        self.calls: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((x.shape[-2], x.shape[-1]))
        return self.conv(x) + self.context(x.mean((2, 3)))[..., None, None]


def test_slide_matches_mmseg_slide_inference_exactly_where_the_image_is_smaller_than_the_crop() -> None:
    """A 680x2048 input (shorter than the 1024 crop), crop 1024 every 768: three unpadded 680x1024 windows."""
    model = WindowContextModel().eval()
    x = torch.randn(1, 3, 680, 2048, generator=torch.Generator().manual_seed(0))
    protocol = proto(inference="slide", crop_size=(1024, 1024), stride=(768, 768))
    with torch.inference_mode():
        ours = predict_logits(model, x, protocol)
        assert model.calls == [(680, 1024)] * 3

        def encode_decode(crop: torch.Tensor) -> torch.Tensor:  # mmseg: logits resized to img_shape
            return F.interpolate(model(crop), size=crop.shape[2:], mode="bilinear", align_corners=False)

        reference = mmseg_slide_inference(encode_decode, x, (1024, 1024), (768, 768), out_channels=5)
    assert torch.equal(ours, reference)


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
    assert torch.equal(predict(model, image, p, tta="flip"), predict(model, image, p))


class RampModel(nn.Module):
    """Not flip-symmetric: class 0's logit grows to the right, class 1's is a constant (0.4, no ties)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        width = x.shape[-1]
        ramp = torch.linspace(-1.0, 3.0, width).expand(x.shape[0], 1, x.shape[-2], width)
        return torch.cat([ramp, torch.full_like(ramp, 0.4)], dim=1)


def test_flip_tta_averages_probabilities_of_the_mirrored_prediction() -> None:
    image = np.zeros((2, 9, 3), dtype=np.uint8)
    plain = predict(RampModel(), image, proto())
    flipped = predict(RampModel(), image, proto(), tta="flip")
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


def test_predict_flip_keyword_still_works_with_a_deprecation_warning() -> None:
    image = np.zeros((2, 9, 3), dtype=np.uint8)
    with pytest.warns(ZooDeprecationWarning, match="tta='flip'"):
        old = predict(RampModel(), image, proto(), flip=True)
    assert torch.equal(old, predict(RampModel(), image, proto(), tta="flip"))


# --- model outputs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "wrap",
    [
        lambda t: t,
        lambda t: {"out": t, "aux": t * 0},
        lambda t: OrderedDict(out=t, aux=t * 0),  # torchvision's segmentation models
        lambda t: (t, t * 0),  # main output first, auxiliary after
        lambda t: [t],
    ],
)
def test_upsample_logits_takes_every_output_kind_to_the_size(wrap) -> None:
    low = torch.randn(2, 4, 3, 5)
    expected = F.interpolate(low, size=(6, 10), mode="bilinear", align_corners=True)
    assert torch.equal(upsample_logits(wrap(low), (6, 10), align_corners=True), expected)
    assert upsample_logits(wrap(low), (3, 5)) is low  # nothing to do: the model's own tensor
    assert upsample_logits(wrap(low.bfloat16()), (6, 10), dtype=torch.float32).dtype == torch.float32


@pytest.mark.parametrize(
    ("output", "match"),
    [({"logits": torch.zeros(1, 2, 3, 3)}, "'out'"), ("labels", "logits"), (torch.zeros(3, 3), "logits")],
)
def test_upsample_logits_refuses_other_outputs(output, match) -> None:
    with pytest.raises(InferenceError, match=match):
        upsample_logits(output, (3, 3))


# --- the protocol's multi-scale ratios -------------------------------------------------------------------


def test_ms_ratios_default_to_mmseg_and_travel_in_the_protocol_json() -> None:
    protocol = proto()
    assert protocol.ms_ratios == MMSEG_MS_RATIOS == (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
    assert json.loads(json.dumps(dataclasses.asdict(protocol)))["ms_ratios"] == list(MMSEG_MS_RATIOS)
    assert protocol.problems() == []


@pytest.mark.parametrize(
    ("ratios", "match"),
    [((), "non-empty tuple"), ([0.5, 1.0], "non-empty tuple"), ((0.5, 0.0), "positive"),
     ((1.0, math.nan), "positive"), ((1.0, "2"), "positive"), ((1.0, 1.0), "repeats")],
)  # fmt: skip
def test_unusable_ms_ratios_are_problems_and_refused_by_inference(ratios, match) -> None:
    protocol = proto(ms_ratios=ratios)
    assert any(match in problem for problem in protocol.problems())
    with pytest.raises(InferenceError, match=match):
        predict_scores(conv1x1(), [np.zeros((4, 4, 3), np.uint8)], protocol, tta="ms")


def test_tta_views_and_unknown_modes() -> None:
    protocol = proto(ms_ratios=(0.5, 1.0))
    assert TTA_MODES == ("none", "flip", "ms", "ms+flip")
    assert [tta_views(protocol, t) for t in TTA_MODES] == [
        ((1.0,), False), ((1.0,), True), ((0.5, 1.0), False), ((0.5, 1.0), True)
    ]  # fmt: skip
    with pytest.raises(InferenceError, match="ms\\+flip") as error:
        predict(conv1x1(), np.zeros((4, 4, 3), np.uint8), protocol, tta="multiscale")
    assert isinstance(error.value, ZooError)


# --- multi-scale: every scale resized from the original image with the record's rule ---------------------


def mmcv_rescale_size(w: int, h: int, scale: tuple[int, int]) -> tuple[int, int]:
    """mmcv's ``rescale_size(old_size=(w, h), scale)`` for a tuple scale: ``(new_w, new_h)``."""
    max_long_edge, max_short_edge = max(scale), min(scale)
    scale_factor = min(max_long_edge / max(h, w), max_short_edge / min(h, w))
    return int(w * float(scale_factor) + 0.5), int(h * float(scale_factor) + 0.5)


def mmseg_ms_input_size(h: int, w: int, img_scale: tuple[int, int] | None, ratio: float, divisor=None):
    """The network input of mmseg 0.x ``MultiScaleFlipAug(img_scale, img_ratios)`` -> ``Resize(keep_ratio)``
    (``AlignedResize(size_divisor)`` in NVlabs SegFormer): ``(h, w)``."""
    if img_scale is None:  # mode 1: the image's own size times the ratio
        scale = (int(w * ratio), int(h * ratio))
    else:
        scale = (int(img_scale[0] * ratio), int(img_scale[1] * ratio))
    new_w, new_h = mmcv_rescale_size(w, h, scale)
    if divisor:  # AlignedResize._align
        new_h, new_w = int(np.ceil(new_h / divisor)) * divisor, int(np.ceil(new_w / divisor)) * divisor
    return new_h, new_w


SEGFORMER_ADE_LIKE = EvalProtocol(
    mean=(123.675, 116.28, 103.53),
    std=(58.395, 57.12, 57.375),
    value_scale=255.0,
    resize="fit",
    resize_size=(2048, 512),
    resize_multiple_of=32,
)


class Stride32Model(nn.Module):
    """Refuses inputs that are not multiples of 32 (as SegFormer's stages do) and predicts at 1/4 resolution."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.head = nn.Conv2d(3, 6, kernel_size=1)
        self.calls: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((x.shape[-2], x.shape[-1]))
        assert x.shape[-2] % 32 == 0 and x.shape[-1] % 32 == 0, f"{tuple(x.shape)} is not a multiple of 32"
        return self.head(F.avg_pool2d(x, 4))


@pytest.mark.parametrize("hw", [(512, 683), (512, 704)])
def test_multi_scale_on_a_segformer_ade_record_resizes_the_original_as_mmseg(hw: tuple[int, int]) -> None:
    """Issue 12 item 6: 0.75 x 512x704 is not a multiple of 32; every scale must come from the original image
    through the record's own fit + align rule, at the size mmseg (NVlabs' MultiScaleFlipAug) produces."""
    height, width = hw
    expected = [mmseg_ms_input_size(height, width, (2048, 512), r, divisor=32) for r in MMSEG_MS_RATIOS]
    assert network_input_sizes(height, width, SEGFORMER_ADE_LIKE, "ms") == tuple(expected)
    model = Stride32Model().eval()
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    (scores,) = predict_scores(model, [image], SEGFORMER_ADE_LIKE, tta="ms+flip")
    assert model.calls == [size for size in expected for _ in range(2)]  # each scale, then its mirror
    assert scores.shape == (6, height, width)
    assert torch.allclose(scores.sum(0), torch.ones(height, width), atol=1e-5)  # averaged probabilities


@pytest.mark.parametrize("hw", [(13, 17), (17, 13), (40, 40)])
@pytest.mark.parametrize("ratio", MMSEG_MS_RATIOS)
def test_multi_scale_without_a_resize_rule_is_mmseg_mode_one(hw: tuple[int, int], ratio: float) -> None:
    assert network_input_size(*hw, proto(), ratio) == mmseg_ms_input_size(*hw, None, ratio)


@pytest.mark.parametrize(
    ("hw", "kwargs", "ratio", "expected"),
    [
        # torchvision rule: the target short side int(520 * 0.5) = 260, the long int(260 * 500 / 375) = 346.
        ((375, 500), {"resize": "shorter_side", "resize_size": (520,)}, 0.5, (260, 346)),
        ((375, 500), {"resize": "fixed", "resize_size": (512, 1024)}, 0.75, (384, 768)),
        # fit (2048, 512) x 1.75 = (3584, 896): scale 1.75, 683 -> 1195, aligned up to 1216.
        (
            (512, 683),
            {"resize": "fit", "resize_size": (2048, 512), "resize_multiple_of": 32},
            1.75,
            (896, 1216),
        ),
        ((2, 2), {"resize": "none"}, 0.25, (1, 1)),  # never a zero side
    ],
)
def test_network_input_size_at_a_ratio(hw, kwargs, ratio, expected) -> None:
    assert network_input_size(*hw, proto(**kwargs), ratio) == expected
    assert network_input_size(*hw, proto(**kwargs), 1.0) == network_input_size(*hw, proto(**kwargs))


def test_multi_scale_with_slide_decodes_small_windows_unpadded() -> None:
    """A Cityscapes-like slide record at ratio 0.5: the image becomes shorter than the crop (one window)."""
    protocol = proto(
        resize="fit",
        resize_size=(64, 32),
        inference="slide",
        crop_size=(32, 32),
        stride=(24, 24),
        ms_ratios=(0.5, 1.0),
    )
    model = ColourModel()
    image, truth = colour_blocks(32, 64)
    pred = predict(model, image, protocol, tta="ms")
    assert model.calls == [(16, 32), (32, 32), (32, 32), (32, 32)]
    assert torch.equal(pred, truth)


def mmseg_aug_test(model, image: np.ndarray, protocol: EvalProtocol, ratios, flip: bool) -> torch.Tensor:
    """mmseg 0.x ``aug_test``: per view, logits resized to the original size, softmax, mirrored back; mean."""
    height, width = image.shape[:2]
    x = (
        torch.from_numpy(image).permute(2, 0, 1)[None].float() - torch.tensor(protocol.mean)[:, None, None]
    ) / (torch.tensor(protocol.std)[:, None, None])
    total, views = 0, 0
    for ratio in ratios:
        size = mmseg_ms_input_size(height, width, None, ratio)
        scaled = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        for mirrored in (False, True) if flip else (False,):
            logits = model(scaled.flip(-1) if mirrored else scaled)
            logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
            probabilities = logits.softmax(1)
            total = total + (probabilities.flip(-1) if mirrored else probabilities)
            views += 1
    return (total / views)[0]


def test_multi_scale_flip_scores_are_mmseg_aug_test() -> None:
    model = nn.Conv2d(3, 4, kernel_size=3, padding=1).eval()  # zero padding: not flip- or scale-invariant
    image = np.random.default_rng(2).integers(0, 256, (18, 26, 3), dtype=np.uint8)
    protocol = proto(mean=(120.0, 110.0, 100.0), std=(60.0, 60.0, 60.0), ms_ratios=(0.5, 1.0, 1.75))
    (scores,) = predict_scores(model, [image], protocol, tta="ms+flip")
    with torch.inference_mode():
        expected = mmseg_aug_test(model, image, protocol, (0.5, 1.0, 1.75), flip=True)
    assert torch.allclose(scores, expected, atol=1e-6)


# --- predict_scores: batches and label sizes -------------------------------------------------------------


def test_scores_batched_equal_scores_one_by_one_at_the_label_size() -> None:
    model = nn.Conv2d(3, 4, kernel_size=3, padding=1).eval()
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (12, 16, 3), dtype=np.uint8) for _ in range(3)]
    protocol = proto(resize="fixed", resize_size=(8, 8), ms_ratios=(0.5, 1.0))
    for tta in TTA_MODES:
        batched = predict_scores(model, images, protocol, tta=tta, sizes=[(6, 8)] * 3)
        for image, scores in zip(images, batched, strict=True):
            (alone,) = predict_scores(model, [image], protocol, tta=tta, sizes=[(6, 8)])
            assert scores.shape == (4, 6, 8) and torch.allclose(scores, alone, atol=1e-6)


def test_images_of_one_call_must_share_network_input_sizes() -> None:
    images = [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8)]
    with pytest.raises(InferenceError, match="separate calls"):
        predict_scores(conv1x1(), images, proto())
    # a fixed resize gives both the same network input: one batch, each scored at its own size
    scores = predict_scores(conv1x1(), images, proto(resize="fixed", resize_size=(8, 8)))
    assert [tuple(s.shape) for s in scores] == [(4, 8, 8), (4, 8, 9)]
    (one,) = predict_scores(conv1x1(), images[0], proto())  # one image alone is a batch of one
    assert torch.equal(one, predict_scores(conv1x1(), torch.from_numpy(images[0])[None], proto())[0])
    with pytest.raises(InferenceError, match="2 images but 1 output sizes"):
        predict_scores(conv1x1(), images, proto(resize="fixed", resize_size=(8, 8)), sizes=[(8, 8)])


# --- flip and multi-scale test-time augmentation (moved from test_evaluate.py) ---------------------------


def test_multi_scale_and_flip_average_probabilities_and_keep_a_per_pixel_model_exact() -> None:
    """A 1x1 conv predicts each pixel from its colour alone: on uniform images every scale and mirror
    agrees, so multi-scale + flip must reproduce the single-scale prediction exactly."""
    protocol = EvalProtocol(
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.25, 0.25),
        value_scale=1.0,
        resize="none",
        ms_ratios=(0.5, 1.0, 1.75),
    )
    for colour in [(10, 200, 30), (250, 0, 120)]:
        image = np.broadcast_to(np.array(colour, np.uint8), (24, 32, 3)).copy()
        single = predict(conv1x1(), image, protocol)
        augmented = predict(conv1x1(), image, protocol, tta="ms+flip")
        assert np.array_equal(single.numpy(), augmented.numpy())


def test_flip_averages_the_mirrored_view() -> None:
    """A model whose logits depend on the column: flip TTA averages column x with column W-1-x."""

    class ColumnModel(torch.nn.Module):
        def forward(self, x):
            columns = torch.arange(x.shape[-1], dtype=torch.float32).expand(x.shape[0], 1, x.shape[-2], -1)
            return torch.cat([columns, x.shape[-1] - 1 - columns - 0.5], 1)  # class 1 wins on the left

    image = np.zeros((4, 8, 3), np.uint8)
    plain = predict(ColumnModel(), image, proto())
    flipped = predict(ColumnModel(), image, proto(), tta="flip")
    assert plain[0].tolist() == [1, 1, 1, 1, 0, 0, 0, 0]
    # averaged with its mirror, p0 = (sigmoid(2x - 6.5) + sigmoid(7.5 - 2x)) / 2 > 1/2 in every column
    assert flipped[0].tolist() == [0] * 8


def test_interpolation_of_the_protocol_is_used() -> None:
    image = np.random.default_rng(4).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    nearest = preprocess(image, proto(resize="fixed", resize_size=(10, 14), interpolation="nearest"))
    expected = F.interpolate(
        torch.from_numpy(image).permute(2, 0, 1)[None].float(), size=(10, 14), mode="nearest"
    )
    assert torch.equal(nearest, expected)


def test_a_read_only_image_is_copied_before_torch_wraps_it(monkeypatch):
    # torch warns (once per process, so a warning filter cannot be relied on) when it wraps a read-only array,
    # as numpy.asarray gives for an image Pillow decoded: every array zoo hands to torch.from_numpy is writable
    wrapped = []
    real = torch.from_numpy
    monkeypatch.setattr(
        torch, "from_numpy", lambda array: (wrapped.append(array.flags.writeable), real(array))[1]
    )
    image = np.zeros((8, 8, 3), np.uint8)
    image.flags.writeable = False
    protocol = EvalProtocol(mean=IMAGENET_MEAN, std=IMAGENET_STD, value_scale=1.0, resize="none")
    assert preprocess(image, protocol).shape[-2:] == (8, 8)
    assert wrapped and all(wrapped)


# --- isl-org/DPT: the 'minimal' resize rule, OpenCV's float cubic kernel, bicubic logits ------------------

DPT = {"resize": "minimal", "resize_size": (480, 480), "resize_multiple_of": 32}


@pytest.mark.parametrize(
    ("hw", "kwargs", "ratio", "expected"),
    [
        # both sides above 480: the shorter side needs the smaller change (0.9375): 683 * 0.9375 = 640.3 -> 640
        ((512, 683), DPT, 1.0, (480, 640)),
        # both below: the longer side does (500 -> 480, x0.96): 364 * 0.96 = 349.4 -> 352 (nearest, not up)
        ((364, 500), DPT, 1.0, (352, 480)),
        # one above, one below: whichever scale is closer to 1 (600 -> 480 is x0.8, 300 -> 480 is x1.6)
        ((600, 300), DPT, 1.0, (480, 256)),  # 300 * 0.8 = 240 = 7.5 multiples: half to even, 8 * 32
        ((300, 600), DPT, 1.0, (256, 480)),
        ((496, 496), DPT, 1.0, (480, 480)),
        # a side that would round to no multiple at all keeps one (DPT itself fails there)
        ((480, 10), DPT, 1.0, (480, 32)),
        # no multiple: the nearest pixel (DPT's ensure_multiple_of=1), half to even
        ((364, 500), {"resize": "minimal", "resize_size": (480, 480)}, 1.0, (349, 480)),
        ((100, 200), {"resize": "minimal", "resize_size": (50, 100)}, 1.0, (50, 100)),
        # a multi-scale ratio scales the targets, int() as mmseg: (240, 240) for 364x500 is x0.659 (height),
        # 240 = 7.5 multiples -> 8 (half to even), 500 * 0.659 = 329.7 -> 320
        ((364, 500), DPT, 0.5, (256, 320)),
    ],
)
def test_minimal_resize_rule(hw, kwargs, ratio, expected) -> None:
    assert network_input_size(*hw, proto(**kwargs), ratio) == expected


def test_minimal_rule_needs_two_sizes_and_a_positive_multiple() -> None:
    assert any("'minimal' needs 2" in p for p in proto(resize="minimal", resize_size=(480,)).problems())
    assert any("resize_multiple_of 0" in p for p in proto(resize_multiple_of=0).problems())
    assert not proto(**DPT).problems()
    with pytest.raises(InferenceError, match="minimal"):
        network_input_size(10, 10, proto(resize="minimal", resize_size=(480,)))


def test_minimal_rule_has_its_own_short_code() -> None:
    assert proto(**DPT).short_code() == "ss whole 480 minimal nearest32"
    assert proto(resize="minimal", resize_size=(480, 480)).short_code() == "ss whole 480 minimal"
    # the rules it must be told apart from keep their codes
    assert proto(resize="shorter_side", resize_size=(480,), resize_multiple_of=32).short_code() == (
        "ss whole 480 aligned32"
    )


def test_dpt_reference_resizes_in_float64_and_normalises_after() -> None:
    """The isl-org-dpt kernel against torch's own bicubic on the float64 image: equal up to OpenCV's float32
    coefficients (a few 1e-5), cast to float32 only at the end; a 'zoo' protocol keeps its float32 path."""
    image = np.random.default_rng(5).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    kwargs = {**DPT, "mean": (0.5,) * 3, "std": (0.5,) * 3, "value_scale": 1.0, "interpolation": "bicubic"}
    x = preprocess(image, proto(**kwargs, reference="isl-org-dpt"))
    assert x.dtype == torch.float32 and x.shape == (1, 3, 320, 480)  # x9.06: 335.1 -> 320
    float64 = torch.from_numpy(image).permute(2, 0, 1)[None].double() / 255.0
    torch_cubic = (F.interpolate(float64, size=(320, 480), mode="bicubic", align_corners=False) - 0.5) / 0.5
    assert 0 < (x.double() - torch_cubic).abs().max() < 1e-4
    own = preprocess(image, proto(**kwargs))  # reference 'zoo': normalised float32, torch's bicubic
    expected = F.interpolate(
        (torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0 - 0.5) / 0.5,
        size=(320, 480),
        mode="bicubic",
        align_corners=False,
    )
    assert torch.equal(own, expected)


def test_dpt_reference_resizes_logits_bicubically_and_others_bilinearly() -> None:
    image = np.random.default_rng(6).integers(0, 256, (30, 41, 3), dtype=np.uint8)
    model = conv1x1(classes=5)
    kwargs = {**DPT, "mean": (0.5,) * 3, "std": (0.5,) * 3, "value_scale": 1.0, "interpolation": "bicubic"}
    for reference, mode in (("isl-org-dpt", "bicubic"), ("zoo", "bilinear")):
        protocol = proto(**kwargs, reference=reference)
        x = preprocess(image, protocol)
        with torch.no_grad():
            expected = F.interpolate(model(x), size=(30, 41), mode=mode, align_corners=False)[0]
        assert torch.equal(predict_scores(model, [image], protocol)[0], expected)
        # flip and multi-scale resize each view the same way
        flipped = predict_scores(model, [image], protocol, tta="flip")[0]
        torch.testing.assert_close(flipped, expected.softmax(0))


def test_upsample_logits_bicubic_and_unknown_modes() -> None:
    low = torch.randn(1, 3, 4, 6)
    expected = F.interpolate(low, size=(9, 13), mode="bicubic", align_corners=False)
    assert torch.equal(upsample_logits(low, (9, 13), mode="bicubic"), expected)
    with pytest.raises(InferenceError, match="bicubic"):
        upsample_logits(low, (9, 13), mode="area")
