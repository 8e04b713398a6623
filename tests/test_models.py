"""Every architecture of every family builds with a small encoder and maps (N, 3, H, W) to (N, C, H, W)."""

from __future__ import annotations

import inspect
import warnings

import pytest
import torch

import zoo

# The smallest encoder each family offers for an architecture; the registry decides which architectures exist.
SMALL_ENCODERS = {
    ("smp", "segformer"): "mit_b0",
    ("smp", "dpt"): "tu-test_vit",
    ("torchvision", "fcn"): "resnet50",
    ("torchvision", "deeplabv3"): "mobilenet_v3_large",
    ("torchvision", "lraspp"): "mobilenet_v3_large",
}
DEFAULT_SMALL_ENCODER = {"smp": "resnet18"}
# Mask R-CNN predicts VOC's 21 classes and no other count; its internal resize is made small to stay fast.
NUM_CLASSES = {("torchvision", "maskrcnn"): 21}
BUILD_OPTIONS = {("torchvision", "maskrcnn"): {"min_size": 64, "max_size": 128}}
# smp decoders need sides divisible by 32 (16 for the ViT) and PAN at least 128; the others take any size.
INPUT_SIZE = {"smp": (128, 160), "torchvision": (67, 91), "classic": (37, 53)}


def architectures() -> list[tuple[str, str]]:
    return sorted({(e.family, e.architecture) for e in zoo.REGISTRY.entries()})


def small_model_name(family: str, architecture: str) -> str:
    encoder = SMALL_ENCODERS.get((family, architecture)) or DEFAULT_SMALL_ENCODER.get(family)
    if encoder is None:  # the family's only encoder for this architecture (classic: vgg16, original)
        encoder = min(
            (
                e.encoder
                for e in zoo.REGISTRY.entries()
                if (e.family, e.architecture) == (family, architecture)
            ),
            key=len,
        )
    return f"{family}:{architecture}-{encoder}"


def test_every_family_is_covered():
    assert {family for family, _ in architectures()} == {"smp", "torchvision", "classic"}


@pytest.mark.parametrize(("family", "architecture"), architectures(), ids=lambda v: v)
def test_forward_shape(family, architecture):
    name = small_model_name(family, architecture)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # timm/smp deprecation chatter is not ours
        num_classes = NUM_CLASSES.get((family, architecture), 5)
        model = zoo.create(name, num_classes=num_classes, **BUILD_OPTIONS.get((family, architecture), {}))
    assert not model.training, "create() must return an eval-mode model"
    assert model.zoo_entry.family == family and model.zoo_weights is None
    height, width = INPUT_SIZE[family]
    with torch.inference_mode():
        logits = model(torch.rand(2, 3, height, width))
    assert logits.shape == (2, num_classes, height, width)
    assert torch.isfinite(logits).all()


def test_create_forwards_builder_arguments():
    model = zoo.create("unet-resnet18", num_classes=3, decoder_channels=(64, 32, 16, 8, 4))
    assert model.decoder.blocks[-1].conv2[0].out_channels == 4


def test_create_with_an_unknown_tag_names_the_known_ones():
    with pytest.raises(zoo.UnknownWeightsError, match="coco_voc"):
        zoo.create("lraspp-mobilenet_v3_large", weights="voc2012")


@pytest.mark.parametrize(
    "name",
    ["unet-resnet18", "deeplabv3-resnet101", "lraspp-mobilenet_v3_large", "fcn8s-vgg16", "unet-original"],
)
def test_create_refuses_a_keyword_the_builder_does_not_take(name):
    """A misspelt or foreign keyword used to be swallowed: a silently random model."""
    with pytest.raises(TypeError, match="pretrianed"):
        zoo.create(name, pretrianed=True)


@pytest.mark.parametrize(("family", "architecture"), architectures(), ids=lambda v: v)
def test_every_builder_has_an_explicit_signature(family, architecture):
    builder = zoo.info(small_model_name(family, architecture)).builder
    parameters = inspect.signature(builder).parameters
    assert "num_classes" in parameters
    assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in parameters.values())


@pytest.mark.parametrize("name", ["unet-resnet18", "deeplabv3-resnet101", "fcn8s-vgg16", "unet-original"])
def test_num_classes_is_checked_by_every_family(name):
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        zoo.create(name, num_classes=0)


# VOC's names for the COCO categories whose names differ
VOC_NAME_OF_COCO = {
    "airplane": "aeroplane", "motorcycle": "motorbike", "dining table": "diningtable",
    "potted plant": "pottedplant", "couch": "sofa", "tv": "tvmonitor",
}  # fmt: skip


def test_coco_to_voc_mapping_names_the_same_categories():
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

    from zoo.classes import VOC_CLASSES
    from zoo.models.torchvision import COCO_ID_OF_VOC_CLASS

    coco_names = MaskRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"]  # indexed by category id
    mapped = [VOC_NAME_OF_COCO.get(coco_names[i], coco_names[i]) for i in COCO_ID_OF_VOC_CLASS[1:]]
    assert mapped == list(VOC_CLASSES[1:])


def test_instance_masks_become_class_scores():
    from zoo.models._torchvision_nets import instance_masks_to_class_scores

    masks = torch.zeros(4, 1, 2, 3)
    masks[0, 0, 0, :] = 1.0  # a person (COCO 1 -> VOC 15) over the top row
    masks[1, 0, :, 0] = 0.5  # a second person, fainter, over the left column
    masks[2, 0, 1, 2] = 1.0  # a cat (COCO 17 -> VOC 8) in the bottom-right pixel
    masks[3, 0] = 1.0  # a truck (COCO 8): no VOC class, ignored
    detection = {
        "labels": torch.tensor([1, 1, 17, 8]),
        "scores": torch.tensor([0.9, 0.8, 0.6, 0.99]),
        "masks": masks,
    }
    class_of_label = torch.full((91,), -1)
    class_of_label[1], class_of_label[17] = 15, 8
    scores = instance_masks_to_class_scores([detection], class_of_label, 21)[0]
    assert scores.shape == (21, 2, 3)
    torch.testing.assert_close(scores[15], torch.tensor([[0.9, 0.9, 0.9], [0.4, 0.0, 0.0]]))
    torch.testing.assert_close(scores[8], torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.6]]))
    torch.testing.assert_close(scores[0], 1 - scores[1:].amax(0))
    # bottom left: person 0.4 < background 0.6; bottom right: cat 0.6 > background 0.4
    assert scores.argmax(0).tolist() == [[15, 15, 15], [0, 0, 8]]
