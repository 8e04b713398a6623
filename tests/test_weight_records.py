"""Every weight record is valid, and what it claims is recomputed where it can be (torchvision's habit)."""

from __future__ import annotations

import warnings

import pytest
import torch
import torchvision

import zoo
from zoo.classes import LABEL_SPACES
from zoo.inference import network_input_size
from zoo.models.shapes import shapes_only

RECORDS = [(entry, record) for entry in zoo.REGISTRY.entries() for record in entry.weights]
IDS = [f"{entry.name}.{record.tag}" for entry, record in RECORDS]


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def build_without_weights(entry, record):
    """The record's architecture on the meta device: shapes and parameter counts, no memory, no init cost."""
    with warnings.catch_warnings(), shapes_only():
        warnings.simplefilter("ignore")
        return entry.builder(num_classes=record.num_classes, **record.model_kwargs)


def test_the_shipped_records_are_there():
    # six torchvision segmenters, two Mask R-CNNs, SegFormer B0-B5 on ADE20K and on Cityscapes, smp's eight
    # UPerNet and one DPT
    assert len(RECORDS) == 29


@pytest.mark.parametrize(("entry", "record"), RECORDS, ids=IDS)
def test_schema(entry, record):
    assert record.problems() == []
    assert record.class_names == LABEL_SPACES[record.dataset]
    assert record.reported or record.note, "a weight without reported figures must say why"
    for metric in record.reported:
        assert metric.source and metric.value > 0
    if record.hf_repo:
        # a Hub revision is a full commit hash or, where none could be read, a branch that zoo info flags
        assert len(record.hf_revision) == 40 or record.hf_revision == "main"


MASK_RCNN = [(e, r) for e, r in RECORDS if e.architecture == "maskrcnn"]
TORCHVISION = [(e, r) for e, r in RECORDS if e.family == "torchvision" and e.architecture != "maskrcnn"]


@pytest.mark.parametrize(("entry", "record"), TORCHVISION, ids=[f"{e.name}.{r.tag}" for e, r in TORCHVISION])
def test_torchvision_parameter_counts_equal_the_published_ones(entry, record):
    assert count_parameters(build_without_weights(entry, record)) == record.num_params


def test_torchvision_checksums_are_the_published_prefixes():
    for entry, record in TORCHVISION:
        assert record.checksum == "prefix" and len(record.sha256) == 8
        assert record.filename.endswith(f"-{record.sha256}.pth"), entry.name


# zoo's tag -> the member of torchvision's weights enum it stands for
TORCHVISION_MEMBERS = {"coco_voc": "COCO_WITH_VOC_LABELS_V1"}


def torchvision_weights(entry, record):
    """The installed torchvision's own ``Weights`` member for a record: its meta is static data, no download."""
    enum = torchvision.models.get_model_weights(entry.builder.__name__)
    return enum[TORCHVISION_MEMBERS[record.tag]]


@pytest.mark.parametrize(("entry", "record"), TORCHVISION, ids=[f"{e.name}.{r.tag}" for e, r in TORCHVISION])
def test_torchvision_records_are_what_torchvision_publishes(entry, record):
    """Every figure of the record equals the installed torchvision's ``Weights.meta``: none is copied by hand."""
    weights = torchvision_weights(entry, record)
    meta = weights.meta
    assert record.url == weights.url
    assert record.sha256 == weights.url.rsplit("-", 1)[1].removesuffix(".pth")
    assert record.num_params == meta["num_params"]
    ((metrics_dataset, metrics),) = meta["_metrics"].items()
    for name, key in (("mIoU", "miou"), ("pixel_acc", "pixel_acc")):
        reported = record.reported_metric(name)
        assert (reported.value, reported.dataset) == (metrics[key], metrics_dataset)
    assert record.reported_metric("GMACs").value == meta["_ops"]
    categories = ["background" if c == "__background__" else c for c in meta["categories"]]
    assert list(record.class_names) == categories
    assert meta["recipe"].startswith("https://github.com/pytorch/vision/")


@pytest.mark.parametrize(("entry", "record"), TORCHVISION, ids=[f"{e.name}.{r.tag}" for e, r in TORCHVISION])
def test_torchvision_protocols_are_the_weights_transforms(entry, record):
    transforms = torchvision_weights(entry, record).transforms()
    protocol = record.protocol
    assert (protocol.resize, protocol.resize_size) == ("shorter_side", tuple(transforms.resize_size))
    assert (protocol.mean, protocol.std) == (tuple(transforms.mean), tuple(transforms.std))
    assert protocol.value_scale == 1.0 and protocol.channel_order == "RGB"  # ToTensor-style [0, 1] RGB
    assert protocol.interpolation == transforms.interpolation.value
    assert protocol.inference == "whole" and protocol.size_divisor is None


@pytest.mark.parametrize(("entry", "record"), TORCHVISION, ids=[f"{e.name}.{r.tag}" for e, r in TORCHVISION])
def test_torchvision_models_take_the_published_minimum_size(entry, record):
    height, width = torchvision_weights(entry, record).meta["min_size"]
    model = build_without_weights(entry, record).eval()
    with torch.no_grad():
        logits = model(torch.empty(1, 3, height, width, device="meta"))
    assert logits.shape == (1, record.num_classes, height, width)


SEGFORMER_WITH_PARAMS = [(e, r) for e, r in RECORDS if r.reported_metric("params_M")]


@pytest.mark.parametrize(
    ("entry", "record"), SEGFORMER_WITH_PARAMS, ids=[f"{e.name}.{r.tag}" for e, r in SEGFORMER_WITH_PARAMS]
)
def test_segformer_parameter_counts_round_to_the_papers(entry, record):
    """Also checks the decoder width each record asks for (256 for B0/B1, 768 above)."""
    millions = count_parameters(build_without_weights(entry, record)) / 1e6
    assert round(millions, 1) == record.reported_metric("params_M").value


# A typical image of each label space (height, width): VOC and COCO photos, ADE20K's landscape, Cityscapes.
TYPICAL_IMAGE = {"voc": (375, 500), "ade20k": (512, 683), "cityscapes": (1024, 2048)}


# Mask R-CNN's proposals and non-maximum suppression have data-dependent shapes, which the meta device cannot
# compute; tests/test_models.py runs it on the CPU.
SEGMENTERS = [(e, r) for e, r in RECORDS if e.architecture != "maskrcnn"]


@pytest.mark.parametrize(("entry", "record"), SEGMENTERS, ids=[f"{e.name}.{r.tag}" for e, r in SEGMENTERS])
def test_the_model_takes_the_inputs_its_protocol_makes(entry, record):
    """The record's model_kwargs build a model that accepts what zoo.inference feeds it under the protocol."""
    protocol = record.protocol
    if protocol.inference == "slide":
        height, width = protocol.crop_size
    else:
        height, width = network_input_size(*TYPICAL_IMAGE[record.dataset], protocol)
    model = build_without_weights(entry, record).eval()
    with torch.no_grad():
        logits = model(torch.empty(1, 3, height, width, device="meta"))
    assert logits.shape == (1, record.num_classes, height, width)


@pytest.mark.parametrize(("entry", "record"), MASK_RCNN, ids=[f"{e.name}.{r.tag}" for e, r in MASK_RCNN])
def test_mask_rcnn_records_are_what_torchvision_publishes(entry, record):
    weights = torchvision.models.get_model_weights(entry.builder.__name__)["COCO_V1"]
    meta = weights.meta
    assert record.url == weights.url and record.filename.endswith(f"-{record.sha256}.pth")
    assert record.num_params == meta["num_params"]
    assert count_parameters(build_without_weights(entry, record)) == meta["num_params"]
    ((metrics_dataset, metrics),) = meta["_metrics"].items()
    for name, key in (("box_mAP", "box_map"), ("mask_mAP", "mask_map")):
        reported = record.reported_metric(name)
        assert (reported.value, reported.dataset) == (metrics[key], metrics_dataset)
    assert record.reported_metric("GMACs").value == meta["_ops"]
    assert record.reported_metric("mIoU") is None  # no semantic figure was published


@pytest.mark.parametrize(("entry", "record"), MASK_RCNN, ids=[f"{e.name}.{r.tag}" for e, r in MASK_RCNN])
def test_mask_rcnn_keys_are_those_of_the_model_torchvision_loads_its_weights_into(entry, record):
    """torchvision builds the model it loads COCO_V1 into as below (mask_rcnn.py: frozen batch norms in v1's
    ResNet); the wrapper must have exactly its state-dict keys for the published file to load strictly."""
    from torchvision.models import resnet50
    from torchvision.models.detection import MaskRCNN, maskrcnn_resnet50_fpn_v2
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.ops import FrozenBatchNorm2d

    with shapes_only():
        if entry.encoder == "resnet50_fpn":
            backbone = _resnet_fpn_extractor(resnet50(norm_layer=FrozenBatchNorm2d), 3)
            reference = MaskRCNN(backbone, num_classes=91)
        else:
            reference = maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None, num_classes=91)
    assert build_without_weights(entry, record).state_dict().keys() == reference.state_dict().keys()


def test_unverified_weights_are_the_ones_without_a_checksum():
    unverified = {f"{e.name}.{r.tag}" for e, r in RECORDS if not r.verified}
    assert "segformer-mit_b2.ade20k" not in unverified and "segformer-mit_b5.ade20k" not in unverified
    assert "segformer-mit_b0.ade20k" in unverified
    assert all(r.checksum == "unknown" for e, r in RECORDS if f"{e.name}.{r.tag}" in unverified)
