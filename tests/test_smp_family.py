"""The smp manifest zoo lists from is what the installed smp really accepts (recomputed, one architecture a test)."""

from __future__ import annotations

import pytest
import segmentation_models_pytorch as smp

from zoo.models import smp as smp_family
from zoo.models._smp_manifest import ARCHITECTURES, SMP_VERSION


def test_manifest_matches_the_installed_smp_release():
    assert smp.__version__ == SMP_VERSION, "run `python -m zoo.models.smp` to regenerate the manifest"
    assert set(ARCHITECTURES) == set(smp_family.SMP_CLASSES) == set(smp.MODEL_ARCHITECTURES_MAPPING)


def test_every_smp_encoder_is_accepted_somewhere():
    accepted = {encoder for encoders in ARCHITECTURES.values() for encoder in encoders}
    assert accepted == set(smp.encoders.get_encoder_names())


@pytest.mark.parametrize("architecture", sorted(smp_family.SMP_CLASSES))
def test_accepted_encoders_are_recomputed(architecture):
    assert smp_family.accepted_encoders(architecture) == ARCHITECTURES[architecture]


def test_known_refusals_are_in_the_manifest():
    assert "mit_b0" not in ARCHITECTURES["unetplusplus"] and "mit_b0" not in ARCHITECTURES["linknet"]
    assert "vgg16" not in ARCHITECTURES["deeplabv3plus"]  # no dilated mode with max pooling
    assert ARCHITECTURES["dpt"] == ()  # timm ViTs only, made on demand
