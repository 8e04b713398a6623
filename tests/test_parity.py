"""Parity with the publishers' pipelines: zoo's network input, logits and confusion matrix against each
reference's preprocessing rebuilt independently (Pillow for torchvision, OpenCV as mmcv calls it for
NVlabs SegFormer and mmseg 1.x), on the real samples in ``shared/data/real`` (skipped where absent).

Random weights predict one class almost everywhere, which would make any comparison pass: each model's
BatchNorm statistics are re-estimated on the images (train mode) and the test checks that several classes
are predicted before comparing.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import reference_pipelines as refs
import torch
import torch.nn.functional as F
from layouts import REAL_DATA
from PIL import Image

import zoo
from zoo.errors import ProtocolVariantError
from zoo.inference import network_input_size, predict_logits, predict_scores, preprocess, slide_windows
from zoo.models.torchvision import TORCHVISION_PROTOCOL
from zoo.registry import info
from zoo.resize import cv2_bilinear, cv2_cubic, pil_bilinear
from zoo.weights import EvalProtocol, protocol_variant

cv2 = pytest.importorskip("cv2")
#: the protocol of the SegFormer ADE20K weights (NVlabs AlignedResize)
SEGFORMER_ADE = next(w for w in info("segformer-mit_b0").weights if w.tag == "ade20k").protocol
#: the protocol of the DPT-L ADE20K weights (isl-org/DPT run_segmentation.py)
DPT_ADE = next(w for w in info("dpt-tu-vit_large_patch16_384").weights if w.tag == "ade20k").protocol
needs_real = pytest.mark.skipif(REAL_DATA is None, reason="no real samples in shared/data/real")


def _voc_samples(count: int = 3) -> list[tuple[np.ndarray, np.ndarray]]:
    return refs.real_pairs(REAL_DATA, "voc")[:count]


def _ade_images(count: int = 2) -> list[np.ndarray]:
    return [image for image, _ in refs.real_pairs(REAL_DATA, "ade20k")[:count]]


# ------------------------------------------------------------------------------------------ kernels


@needs_real
@pytest.mark.parametrize("size", [(520, 710), (200, 273), (366, 317)])
def test_pil_bilinear_is_pillow_to_the_bit(size):
    image = _voc_samples(1)[0][0]
    expected = np.asarray(Image.fromarray(image).resize(size[::-1], Image.BILINEAR))
    assert np.array_equal(pil_bilinear(torch.from_numpy(image.copy()), size).numpy(), expected)


@needs_real
@pytest.mark.parametrize("size", [(520, 710), (512, 683), (200, 301), (366, 317)])
def test_cv2_bilinear_is_within_one_uint8_step_of_opencv(size):
    image = _voc_samples(1)[0][0]
    expected = cv2.resize(image, size[::-1], interpolation=cv2.INTER_LINEAR).astype(np.int64)
    got = cv2_bilinear(torch.from_numpy(image.copy()), size).numpy().astype(np.int64)
    assert np.abs(got - expected).max() <= 1
    assert (got != expected).mean() < 2e-3  # only OpenCV's scalar row tails round differently


@needs_real
@pytest.mark.parametrize("size", [(480, 640), (352, 480), (366, 480), (100, 37), (841, 850)])
def test_cv2_cubic_is_opencv_on_a_float64_image_to_the_bit(size):
    image = _voc_samples(1)[0][0] / 255.0  # DPT's read_image: float64 in [0, 1]
    expected = cv2.resize(image, size[::-1], interpolation=cv2.INTER_CUBIC)
    got = cv2_cubic(torch.from_numpy(image.copy()).permute(2, 0, 1), size).permute(1, 2, 0).numpy()
    assert np.array_equal(got, expected)


# ------------------------------------------------------------------------------------ torchvision


def _torchvision_reference(image: np.ndarray) -> torch.Tensor:
    p = TORCHVISION_PROTOCOL
    return refs.torchvision_input(image, p.resize_size[0], p.mean, p.std)


@needs_real
def test_torchvision_input_logits_and_confusion_match_the_reference():
    samples = _voc_samples(1)
    references = [_torchvision_reference(image) for image, _ in samples]
    for (image, _), reference in zip(samples, references, strict=True):
        assert torch.equal(preprocess(image, TORCHVISION_PROTOCOL), reference)
    torch.manual_seed(0)
    model = refs.calibrated(zoo.create("lraspp-mobilenet_v3_large", num_classes=21), references)
    for (image, label), reference in zip(samples, references, strict=True):
        expected = refs.to_label_size(refs.model_logits(model, reference), label.shape)
        got = predict_scores(model, [image], TORCHVISION_PROTOCOL, sizes=[label.shape])[0]
        assert len(expected.argmax(0).unique()) >= 3, "the calibrated model must predict several classes"
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
        assert np.array_equal(
            refs.confusion(got.argmax(0), label, 21), refs.confusion(expected.argmax(0), label, 21)
        )


# --------------------------------------------------------------------- NVlabs SegFormer, mmseg 1.x


def _segformer_reference(
    image: np.ndarray, aligned: bool, protocol: EvalProtocol = SEGFORMER_ADE
) -> torch.Tensor:
    """NVlabs AlignedResize (aligned) or mmseg Resize(keep_ratio) to fit ``protocol.resize_size``."""
    return refs.mmseg_input(image, protocol.resize_size, protocol.mean, protocol.std, 32 if aligned else None)


def _segformer_head_reference(model: torch.nn.Module, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Logits as mmseg's ``SegformerHead`` and ``EncoderDecoder`` compute them, at the image's ``size``."""
    return refs.to_label_size(refs.segformer_head_logits(model, x), size)


def test_segformer_runs_at_any_input_size_as_its_reference():
    torch.manual_seed(0)
    model = zoo.create("segformer-mit_b0", num_classes=5)
    x = torch.randn(1, 3, 83, 130)
    with torch.no_grad():
        got = model(x)
    expected = _segformer_head_reference(model, x, (83, 130))
    assert got.shape == (1, 5, 83, 130)
    torch.testing.assert_close(got[0], expected, rtol=1e-4, atol=1e-5)


def test_segformer_matches_smp_where_smp_accepts_the_size():
    import segmentation_models_pytorch as smp

    torch.manual_seed(0)
    model = zoo.create("segformer-mit_b0", num_classes=5)
    plain = smp.Segformer("mit_b0", encoder_weights=None, classes=5).eval()
    plain.load_state_dict(model.state_dict())
    plain.segmentation_head[1].align_corners = False  # the one change zoo makes at these sizes
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(model(x), plain(x))


@needs_real
@pytest.mark.parametrize("variant", ["nvlabs-segformer", "mmseg"])
def test_segformer_input_and_predictions_match_the_reference(variant):
    protocol = protocol_variant(SEGFORMER_ADE, variant)
    images = _ade_images(1)
    references = [_segformer_reference(image, aligned=variant != "mmseg") for image in images]
    one_step = 1.0 / min(SEGFORMER_ADE.std)
    torch.manual_seed(0)
    model = refs.calibrated(zoo.create("segformer-mit_b0", num_classes=150), references)
    for image, reference in zip(images, references, strict=True):
        x = preprocess(image, protocol)
        assert x.shape == reference.shape
        assert (x - reference).abs().max() <= one_step + 1e-4  # cv2 reproduced within one uint8 step
        if protocol.resize_multiple_of is None:
            assert reference.shape[-1] % 32, (
                "the keep-ratio input must test a side that is not a multiple of 32"
            )
        size = image.shape[:2]
        expected = _segformer_head_reference(model, reference, size).argmax(0)
        got = predict_scores(model, [image], protocol)[0].argmax(0)
        assert len(expected.unique()) >= 3, "the calibrated model must predict several classes"
        assert (got != expected).float().mean() < 2e-3


# ----------------------------------------------------------- slide inference: mmseg 0.x and NVlabs


def _mmseg_slide_reference(model: torch.nn.Module, x: torch.Tensor, protocol: EvalProtocol) -> torch.Tensor:
    return refs.mmseg_slide(
        lambda crop: refs.model_logits(model, crop), x, protocol.crop_size, protocol.stride
    )


def _slide_parity(
    name: str, protocol: EvalProtocol, image: np.ndarray, label: np.ndarray, classes: int, **kwargs: object
):
    """zoo's input, logits and confusion matrix against the cv2 + mmseg slide reference on one image."""
    reference = _segformer_reference(image, aligned=False, protocol=protocol)
    x = preprocess(image, protocol)
    assert x.shape == reference.shape
    assert (x - reference).abs().max() <= 1.0 / min(protocol.std) + 1e-4  # cv2 within one uint8 step
    windows = len(slide_windows(*x.shape[-2:], protocol.crop_size, protocol.stride))
    assert windows >= 2, "the scaled protocol must overlap windows"
    torch.manual_seed(0)
    batches = refs.window_batches(reference, protocol.crop_size, protocol.stride)
    model = refs.calibrated(zoo.create(name, num_classes=classes, **kwargs), batches)
    expected = F.interpolate(
        _mmseg_slide_reference(model, reference, protocol),
        size=label.shape,
        mode="bilinear",
        align_corners=False,
    )[0]
    got = predict_scores(model, [image], protocol, sizes=[label.shape])[0]
    assert len(expected.argmax(0).unique()) >= 3, "the calibrated model must predict several classes"
    # zoo decodes its own cv2-like input: logits agree as far as one uint8 step of input allows
    assert (got.argmax(0) != expected.argmax(0)).float().mean() < 5e-3
    # and on the reference's own input, zoo's window loop gives the reference's logits exactly
    torch.testing.assert_close(
        predict_logits(model, reference, protocol), _mmseg_slide_reference(model, reference, protocol)
    )
    confusion = (
        refs.confusion(got.argmax(0), label, classes),
        refs.confusion(expected.argmax(0), label, classes),
    )
    assert np.abs(confusion[0] - confusion[1]).sum() <= 5e-3 * 2 * (label != 255).sum()


@needs_real
def test_mmseg_0x_upernet_convnext_slide_matches_the_reference():
    """UPerNet-ConvNeXt's ADE20K protocol (mmseg 0.x: fit, then crop windows every 2/3 crop), at a
    quarter of its sizes so that it runs in seconds; the code paths are those of the full sizes."""
    record = next(w for w in info("upernet-tu-convnext_tiny").weights if w.tag == "ade20k").protocol
    assert record.reference == "mmseg-0.x" and record.inference == "slide"
    protocol = replace(record, resize_size=(512, 128), crop_size=(128, 128), stride=(85, 85))
    image, label = refs.real_pairs(REAL_DATA, "ade20k")[0]
    # a narrow decoder keeps it fast; the pipeline under test is the same at any width
    _slide_parity("upernet-tu-convnext_tiny", protocol, image, label, 150, decoder_channels=64)


@needs_real
def test_nvlabs_segformer_cityscapes_slide_matches_the_reference():
    """SegFormer's Cityscapes protocol (fit (2048, 1024), 1024 windows every 768), at a quarter of its sizes."""
    from zoo.datasets.cityscapes import Cityscapes

    record = next(w for w in info("segformer-mit_b0").weights if w.tag == "cityscapes").protocol
    assert record.reference == "nvlabs-segformer" and record.inference == "slide"
    protocol = replace(record, resize_size=(512, 256), crop_size=(256, 256), stride=(192, 192))
    image, label, _ = Cityscapes(REAL_DATA / "cityscapes", split="val")[0]
    _slide_parity("segformer-mit_b0", protocol, image, label.astype(np.int64), 19)


# ------------------------------------------------------------------------------------- isl-org/DPT


def test_dpt_resize_rule_is_the_references_minimal_rule():
    """Every size up to 1500 a side against DPT's ``Resize.get_size``, both sides, at the record's (480, 32);
    sizes DPT itself cannot resize (a side rounded to 0) are left out."""
    sizes = [(h, w) for h in range(1, 1501, 7) for w in range(1, 1501, 11)] + [
        (512, 683),
        (364, 500),
        (300, 400),
    ]
    compared = 0
    for height, width in sizes:
        expected = refs.dpt_size(height, width)
        if min(expected) == 0:
            continue
        assert network_input_size(height, width, DPT_ADE) == expected, (height, width)
        compared += 1
    assert compared > 25_000
    # the sizes where nearest and upward rounding part (zoo before rounded up, from the shorter side)
    assert refs.dpt_size(364, 500) == (352, 480) and refs.dpt_size(300, 400) == (352, 480)


@needs_real
def test_dpt_input_matches_the_reference():
    """Shape and values exactly (torch's own bicubic would differ by up to 7e-5 here)."""
    images = [image for image, _ in refs.real_pairs(REAL_DATA, "ade20k")]
    shapes = set()
    for image in images:
        reference = refs.dpt_input(image)
        x = preprocess(image, DPT_ADE)
        assert x.shape == reference.shape
        shapes.add(tuple(x.shape[-2:]))
        # OpenCV's float cubic kernel and DPT's float64 arithmetic, to the bit
        assert torch.equal(x, reference)
    assert len(shapes) >= 2, "the samples must test more than one aspect ratio"


@needs_real
def test_dpt_reads_images_as_the_reference():
    """``util/io.py`` ``read_image`` decodes with OpenCV; zoo's datasets with Pillow: the same pixels here."""
    folder = REAL_DATA / "ADEChallengeData2016" / "images" / "validation"
    for path in sorted(folder.glob("*.jpg")):
        decoded = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        assert np.array_equal(decoded, np.asarray(Image.open(path).convert("RGB")))


@needs_real
def test_dpt_logits_and_confusion_match_the_reference():
    """A small calibrated model stands in for DPT-L (whose ViT-L forward takes seconds on a CPU): what is under
    test is the preprocessing and the bicubic resize of the logits to the image's size."""
    image, label = refs.real_pairs(REAL_DATA, "ade20k")[
        1
    ]  # 364x500: DPT's rule gives 352x480, not the shorter side's 480x659
    reference = refs.dpt_input(image)
    torch.manual_seed(0)
    model = refs.calibrated(zoo.create("lraspp-mobilenet_v3_large", num_classes=150), [reference])
    with torch.no_grad():
        out = model(reference)  # zoo's models return logits at the input's size, as DPT's does
    expected = refs.dpt_logits(out, label.shape)
    got = predict_scores(model, [image], DPT_ADE, sizes=[label.shape])[0]
    assert len(expected.argmax(0).unique()) >= 3, "the calibrated model must predict several classes"
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert (got.argmax(0) != expected.argmax(0)).float().mean() < 1e-4
    assert np.array_equal(
        refs.confusion(got.argmax(0), label, 150), refs.confusion(expected.argmax(0), label, 150)
    )
    # bilinear logits, as zoo resized them before, would not pass: the comparison can fail
    bilinear = F.interpolate(out, size=label.shape, mode="bilinear", align_corners=False)[0]
    assert (bilinear.argmax(0) != expected.argmax(0)).float().mean() > 1e-3


# -------------------------------------------------------------------------------------- variants


def test_the_mmseg_variant_keeps_the_ratio_and_says_so():
    mmseg = protocol_variant(SEGFORMER_ADE, "mmseg")
    assert mmseg.reference == "mmseg-1.x" and mmseg.resize_multiple_of is None
    assert SEGFORMER_ADE.short_code() == "ss whole 512 aligned32"
    assert mmseg.short_code() == "ss whole 512 keep-ratio"
    assert network_input_size(512, 683, SEGFORMER_ADE) == (512, 704)
    assert network_input_size(512, 683, mmseg) == (512, 683)
    assert protocol_variant(SEGFORMER_ADE, None) is SEGFORMER_ADE


def test_a_variant_not_defined_for_a_protocol_is_refused():
    with pytest.raises(ProtocolVariantError, match="torchvision"):
        protocol_variant(TORCHVISION_PROTOCOL, "mmseg")


def test_an_unknown_reference_is_a_protocol_problem():
    protocol = EvalProtocol(mean=(0, 0, 0), std=(1, 1, 1), value_scale=1.0, resize="none", reference="caffe")
    assert any("reference 'caffe'" in p for p in protocol.problems())
