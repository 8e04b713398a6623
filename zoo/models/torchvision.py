"""torchvision's segmentation builders (FCN, DeepLabV3, LR-ASPP) and their six published weights.

torchvision returns ``{"out": ..., "aux": ...}``; zoo's contract is a plain logits tensor, so each model is
wrapped in :class:`TorchvisionSegmenter`, which keeps torchvision's module names (checkpoints load as they
are, parameter counts equal the published ones) and skips the auxiliary head at inference.
"""

from __future__ import annotations

import inspect
from typing import Any

from zoo.classes import VOC_CLASSES
from zoo.models.arguments import InvalidModelArgumentError, check_num_classes, keyword_checked
from zoo.registry import register_model
from zoo.weights import IMAGENET_MEAN, IMAGENET_STD, EvalProtocol, ReportedMetric, WeightRecord

_URL = "https://download.pytorch.org/models/"
_METADATA_SOURCE = "torchvision/models/segmentation/{module}.py, {enum}.COCO_WITH_VOC_LABELS_V1.meta"
_LICENSE = "BSD-3-Clause (torchvision); trained on COCO train2017 images (COCO terms of use)"

# torchvision evaluates these weights with SemanticSegmentation(resize_size=520): shorter side to 520,
# bilinear, RGB in [0, 1], ImageNet mean/std, whole-image inference.
TORCHVISION_PROTOCOL = EvalProtocol(
    mean=IMAGENET_MEAN, std=IMAGENET_STD, value_scale=1.0, resize="shorter_side", resize_size=(520,)
)


def _coco_voc(
    builder: str, filename: str, num_params: int, miou: float, pixel_acc: float, gflops: float
) -> WeightRecord:
    module = builder.split("_")[0]
    source = _METADATA_SOURCE.format(module=module, enum=_enum_name(builder))
    return WeightRecord(
        tag="coco_voc",
        dataset="voc",
        trained_on="COCO train2017, the images of VOC's 20 categories (torchvision's COCO_WITH_VOC_LABELS_V1)",
        class_names=VOC_CLASSES,
        protocol=TORCHVISION_PROTOCOL,
        license=_LICENSE,
        url=_URL + filename,
        # torchvision publishes only the first 8 hex digits of the sha256, in the file name
        sha256=filename.rsplit("-", 1)[1].split(".")[0],
        num_params=num_params,
        reported=(
            ReportedMetric("mIoU", miou, source, dataset="COCO-val2017-VOC-labels", note="single-scale, 520"),
            ReportedMetric("pixel_acc", pixel_acc, source, dataset="COCO-val2017-VOC-labels", note="520"),
            ReportedMetric(
                "GMACs", gflops, source, note="torchvision's 'GFLOPS', multiply-accumulates at 520x520"
            ),
        ),
        note="Metrics are on COCO val2017 restricted to VOC's classes, not on PASCAL VOC2012 val.",
    )


def _enum_name(builder: str) -> str:
    acronyms = {"fcn": "FCN", "deeplabv3": "DeepLabV3", "lraspp": "LRASPP"}
    parts = builder.split("_")
    rest = "_".join(parts[1:]).replace("resnet", "ResNet").replace("mobilenet_v3_large", "MobileNet_V3_Large")
    return f"{acronyms[parts[0]]}_{rest}_Weights"


def _build(builder: str, num_classes: int, encoder_weights: str | None, aux_loss: bool | None) -> Any:
    """torchvision's ``builder`` without its weights, wrapped to return logits; ``aux_loss=None``: no aux head."""
    check_num_classes(num_classes, builder)
    backbone_name = builder.split("_", 1)[1]
    if encoder_weights not in ("imagenet", None):
        raise InvalidModelArgumentError(
            f"{builder}: encoder_weights must be 'imagenet' or None, got {encoder_weights!r}"
        )
    from torchvision.models import segmentation

    backbone_weights = None
    if encoder_weights == "imagenet":
        from torchvision.models import MobileNet_V3_Large_Weights, ResNet50_Weights, ResNet101_Weights

        backbone_weights = {
            "resnet50": ResNet50_Weights.IMAGENET1K_V1,
            "resnet101": ResNet101_Weights.IMAGENET1K_V1,
            "mobilenet_v3_large": MobileNet_V3_Large_Weights.IMAGENET1K_V1,
        }[backbone_name]
    options = {} if aux_loss is None else {"aux_loss": aux_loss}
    model = getattr(segmentation, builder)(
        weights=None, weights_backbone=backbone_weights, num_classes=num_classes, **options
    )
    from zoo.models._torchvision_nets import TorchvisionSegmenter

    return TorchvisionSegmenter(model)


_FCN = "https://arxiv.org/abs/1411.4038"
_DEEPLABV3 = "https://arxiv.org/abs/1706.05587"
_LRASPP = "https://arxiv.org/abs/1905.02244"
_BUILDER_DOC = """torchvision's ``{builder}``, returning logits at the input size.

    Args:
        num_classes: output channels, a positive int (21 for the published VOC-label weights).
        encoder_weights: ``"imagenet"`` loads torchvision's ImageNet backbone; ``None`` (default) does not.{aux}

    Returns:
        A :class:`~zoo.models._torchvision_nets.TorchvisionSegmenter` mapping ``(N, 3, H, W)`` floats to
        ``(N, num_classes, H, W)`` logits; the auxiliary head, if built, is skipped at inference.

    Raises:
        TypeError: a keyword argument this builder does not take (``pretrained=True`` included).
        InvalidModelArgumentError: ``num_classes`` not a positive int, or another ``encoder_weights``.
    """
_AUX_DOC = """
        aux_loss: build torchvision's auxiliary FCN head (default ``True``: the published checkpoints have
            it, and loading them strictly needs it; ``False`` leaves it out)."""


@register_model(
    "fcn-resnet50",
    family="torchvision",
    paper=_FCN,
    description="FCN head on a dilated ResNet-50 (torchvision)",
    weights=[_coco_voc("fcn_resnet50", "fcn_resnet50_coco-1167a1af.pth", 35_322_218, 60.5, 91.4, 152.717)],
)
@keyword_checked
def fcn_resnet50(num_classes: int = 21, *, encoder_weights: str | None = None, aux_loss: bool = True) -> Any:
    return _build("fcn_resnet50", num_classes, encoder_weights, aux_loss)


@register_model(
    "fcn-resnet101",
    family="torchvision",
    paper=_FCN,
    description="FCN head on a dilated ResNet-101 (torchvision)",
    weights=[_coco_voc("fcn_resnet101", "fcn_resnet101_coco-7ecb50ca.pth", 54_314_346, 63.7, 91.9, 232.738)],
)
@keyword_checked
def fcn_resnet101(num_classes: int = 21, *, encoder_weights: str | None = None, aux_loss: bool = True) -> Any:
    return _build("fcn_resnet101", num_classes, encoder_weights, aux_loss)


@register_model(
    "deeplabv3-resnet50",
    family="torchvision",
    paper=_DEEPLABV3,
    description="DeepLabV3 (ASPP) on a dilated ResNet-50 (torchvision)",
    weights=[
        _coco_voc(
            "deeplabv3_resnet50", "deeplabv3_resnet50_coco-cd0a2569.pth", 42_004_074, 66.4, 92.4, 178.722
        )
    ],
)
@keyword_checked
def deeplabv3_resnet50(
    num_classes: int = 21, *, encoder_weights: str | None = None, aux_loss: bool = True
) -> Any:
    return _build("deeplabv3_resnet50", num_classes, encoder_weights, aux_loss)


@register_model(
    "deeplabv3-resnet101",
    family="torchvision",
    paper=_DEEPLABV3,
    description="DeepLabV3 (ASPP) on a dilated ResNet-101 (torchvision)",
    weights=[
        _coco_voc(
            "deeplabv3_resnet101", "deeplabv3_resnet101_coco-586e9e4e.pth", 60_996_202, 67.4, 92.4, 258.743
        )
    ],
)
@keyword_checked
def deeplabv3_resnet101(
    num_classes: int = 21, *, encoder_weights: str | None = None, aux_loss: bool = True
) -> Any:
    return _build("deeplabv3_resnet101", num_classes, encoder_weights, aux_loss)


@register_model(
    "deeplabv3-mobilenet_v3_large",
    family="torchvision",
    paper=_DEEPLABV3,
    description="DeepLabV3 (ASPP) on MobileNetV3-Large (torchvision)",
    weights=[
        _coco_voc(
            "deeplabv3_mobilenet_v3_large",
            "deeplabv3_mobilenet_v3_large-fc3c493d.pth",
            11_029_328,
            60.3,
            91.2,
            10.452,
        )
    ],
)
@keyword_checked
def deeplabv3_mobilenet_v3_large(
    num_classes: int = 21, *, encoder_weights: str | None = None, aux_loss: bool = True
) -> Any:
    return _build("deeplabv3_mobilenet_v3_large", num_classes, encoder_weights, aux_loss)


@register_model(
    "lraspp-mobilenet_v3_large",
    family="torchvision",
    paper=_LRASPP,
    description="Lite R-ASPP on MobileNetV3-Large (torchvision)",
    weights=[
        _coco_voc(
            "lraspp_mobilenet_v3_large",
            "lraspp_mobilenet_v3_large-d234d4ea.pth",
            3_221_538,
            57.9,
            91.2,
            2.086,
        )
    ],
)
@keyword_checked
def lraspp_mobilenet_v3_large(num_classes: int = 21, *, encoder_weights: str | None = None) -> Any:
    return _build("lraspp_mobilenet_v3_large", num_classes, encoder_weights, aux_loss=None)


for _builder in (
    fcn_resnet50,
    fcn_resnet101,
    deeplabv3_resnet50,
    deeplabv3_resnet101,
    deeplabv3_mobilenet_v3_large,
    lraspp_mobilenet_v3_large,
):
    _has_aux = "aux_loss" in inspect.signature(_builder).parameters
    _builder.__doc__ = _BUILDER_DOC.format(builder=_builder.__name__, aux=_AUX_DOC if _has_aux else "")
