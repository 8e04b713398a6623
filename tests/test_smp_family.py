"""The smp family: its manifest is what the installed smp gives, its builders take explicit keywords only,
and SegFormer/UPerNet upsample their logits as their reference implementations do."""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import warnings
from pathlib import Path

import pytest
import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F

import zoo
from zoo.models import smp as smp_family
from zoo.models._smp_manifest import ARCHITECTURES, KEYWORDS, SMP_VERSION
from zoo.models.arguments import InvalidArgumentError, UnexpectedArgumentError

REPO_ROOT = Path(__file__).resolve().parents[1]
GENERATOR_PATH = REPO_ROOT / "scripts" / "generate_smp_manifest.py"


def load_generator():
    spec = importlib.util.spec_from_file_location("generate_smp_manifest", GENERATOR_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the manifest --------------------------------------------------------------------------------------------


def test_manifest_matches_the_installed_smp_release():
    assert smp.__version__ == SMP_VERSION, "run `python scripts/generate_smp_manifest.py` to regenerate it"
    assert set(ARCHITECTURES) == set(smp_family.SMP_CLASSES) == set(smp.MODEL_ARCHITECTURES_MAPPING)
    assert set(KEYWORDS) == set(ARCHITECTURES)


def test_manifest_is_what_the_generator_computes_from_the_installed_smp():
    """Every encoder, every refusal and every constructor keyword, recomputed by building the models."""
    expected = load_generator().manifest_text()
    actual = smp_family.__file__.replace("smp.py", "_smp_manifest.py")
    actual = Path(actual).read_text()
    diff = "".join(
        difflib.unified_diff(actual.splitlines(True), expected.splitlines(True), "committed", "now")
    )
    assert actual == expected, f"run `python scripts/generate_smp_manifest.py`:\n{diff[:3000]}"


# One case of each way smp refuses (a name rule, an encoder that cannot be dilated, a ViT-only decoder) and of
# acceptance, built plainly on the CPU: the generator's shortcuts (meta tensors, init skipped, one encoder
# build shared by architectures) must not change what is accepted.
PLAIN_CASES = [
    ("unetplusplus", "mit_b0"),
    ("linknet", "resnet18"),
    ("deeplabv3", "vgg11"),
    ("deeplabv3plus", "resnet18"),
    ("pan", "densenet121"),
    ("dpt", "resnet18"),
    ("segformer", "mobilenet_v2"),
]


@pytest.mark.parametrize(("architecture", "encoder"), PLAIN_CASES)
def test_generator_shortcuts_agree_with_a_plain_build(architecture, encoder):
    model_class = smp.MODEL_ARCHITECTURES_MAPPING[architecture]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model_class(encoder_name=encoder, encoder_weights=None, classes=2)
            accepted = True
        except (ValueError, KeyError):
            accepted = False
    assert (encoder in ARCHITECTURES[architecture]) == accepted


def test_every_smp_encoder_is_accepted_somewhere():
    accepted = {encoder for encoders in ARCHITECTURES.values() for encoder in encoders}
    assert accepted == set(smp.encoders.get_encoder_names())


def test_known_refusals_are_in_the_manifest():
    assert "mit_b0" not in ARCHITECTURES["unetplusplus"] and "mit_b0" not in ARCHITECTURES["linknet"]
    assert "vgg16" not in ARCHITECTURES["deeplabv3plus"]  # no dilated mode with max pooling
    assert ARCHITECTURES["dpt"] == ()  # timm ViTs only, made on demand


# -- builders: explicit keywords ------------------------------------------------------------------------------


def test_builder_signature_lists_every_keyword_and_no_catch_all():
    parameters = inspect.signature(zoo.info("unet-resnet18").builder).parameters
    assert list(parameters)[:3] == ["num_classes", "encoder_weights", "encoder_kwargs"]
    assert parameters["decoder_channels"].default == KEYWORDS["unet"]["decoder_channels"]
    assert not {"encoder_name", "classes", "aux_params"} & set(parameters)
    assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in parameters.values())


@pytest.mark.parametrize("name", ["unet-resnet18", "smp:deeplabv3-resnet101", "segformer-mit_b0"])
def test_a_misspelt_or_foreign_keyword_is_refused_by_the_builder(name):
    builder = zoo.info(name).builder
    with pytest.raises(TypeError, match=r"'pretrianed'.*'pretrained'|'pretrained'.*'pretrianed'"):
        builder(pretrianed=True, pretrained=True)
    with pytest.raises(UnexpectedArgumentError, match=r"did you mean 'decoder_\w*channels'"):
        builder(decoder_chanels=16)


def test_pretrained_at_the_builder_points_to_weights():
    with pytest.raises(TypeError, match="weights=TAG"):
        zoo.info("unet-resnet18").builder(pretrained=True)


@pytest.mark.parametrize("num_classes", [0, -3, 2.0, "21", True, None])
def test_num_classes_must_be_a_positive_int(num_classes):
    with pytest.raises(InvalidArgumentError, match="num_classes must be a positive int"):
        zoo.info("unet-resnet18").builder(num_classes=num_classes)


def test_encoder_kwargs_go_to_timm_encoders_only():
    with pytest.raises(InvalidArgumentError, match="only to 'tu-'"):
        zoo.info("unet-resnet18").builder(encoder_kwargs={"drop_path_rate": 0.1})
    with pytest.raises(InvalidArgumentError, match="repeat"):
        zoo.info("unet-tu-resnet18").builder(encoder_kwargs={"in_channels": 1})
    with torch.device("meta"):
        plain = zoo.info("unet-tu-resnet18").builder(num_classes=3)
        model = zoo.info("unet-tu-resnet18").builder(num_classes=3, encoder_kwargs={"drop_path_rate": 0.1})
    drop_paths = [sum(type(m).__name__ == "DropPath" for m in built.modules()) for built in (plain, model)]
    assert drop_paths[0] == 0 and drop_paths[1] > 0


# -- SegFormer's and UPerNet's logits: resized as their references do ------------------------------------------


def reference_logits(model, x):
    """What NVlabs/mmseg compute: the decoder's 1/4 logits, resized to the input with align_corners=False."""
    quarter = model.segmentation_head[0](model.decoder(model.encoder(x)))
    return F.interpolate(quarter, size=x.shape[-2:], mode="bilinear", align_corners=False), quarter


@pytest.mark.parametrize("name", ["segformer-mit_b0", "upernet-resnet18"])
def test_logits_are_resized_without_align_corners_like_the_reference(name):
    torch.manual_seed(0)
    model = zoo.create(name, num_classes=7)
    architecture, encoder = name.split("-", 1)
    plain_smp = smp.MODEL_ARCHITECTURES_MAPPING[architecture](
        encoder_name=encoder, encoder_weights=None, classes=7
    )
    assert model.state_dict().keys() == plain_smp.state_dict().keys()  # published checkpoints still load
    x = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        logits = model(x)
        expected, quarter = reference_logits(model, x)
        old = F.interpolate(quarter, scale_factor=4, mode="bilinear", align_corners=True)
    assert logits.shape == (2, 7, 64, 96)
    torch.testing.assert_close(logits, expected, rtol=0, atol=0)
    assert (logits - old).abs().max() > 1e-3, "the align_corners=True output must differ"


def test_architectures_without_reference_weights_keep_smps_head():
    model = zoo.create("fpn-resnet18", num_classes=3)
    assert model.segmentation_head[1].align_corners is True
