"""torchvision's segmentation builders (FCN, DeepLabV3, LR-ASPP) and their six published weights, and its
Mask R-CNN detectors answering as VOC semantic segmenters.

torchvision returns ``{"out": ..., "aux": ...}``; zoo's contract is a plain logits tensor, so each model is
wrapped in :class:`TorchvisionSegmenter`, which keeps torchvision's module names (checkpoints load as they
are, parameter counts equal the published ones) and skips the auxiliary head at inference. Mask R-CNN is
wrapped in :class:`InstanceMasksAsSemantic`: its COCO instances become per-class VOC scores.
"""

from __future__ import annotations

import inspect
from typing import Any

from zoo.classes import VOC_CLASSES
from zoo.models.arguments import InvalidArgumentError, check_num_classes, keyword_checked
from zoo.registry import register_model
from zoo.weights import IMAGENET_MEAN, IMAGENET_STD, EvalProtocol, ReportedMetric, WeightRecord

_URL = "https://download.pytorch.org/models/"
_METADATA_SOURCE = "torchvision/models/segmentation/{module}.py, {enum}.COCO_WITH_VOC_LABELS_V1.meta"
_LICENSE = "BSD-3-Clause (torchvision); trained on COCO train2017 images (COCO terms of use)"

# torchvision's reference evaluation (references/segmentation, SegmentationPresetEval(base_size=520)): the PIL
# image's shorter side to 520 (bilinear, in uint8), RGB in [0, 1], ImageNet mean/std, whole-image inference.
TORCHVISION_PROTOCOL = EvalProtocol(
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    value_scale=1.0,
    resize="shorter_side",
    resize_size=(520,),
    reference="torchvision",
)


def _published_sha256_prefix(filename: str) -> str:
    """The sha256 prefix torchvision publishes in a file name (``deeplabv3_resnet101_coco-586e9e4e.pth``):
    torch.hub's ``-<hex>.`` convention, parsed here without importing torch so that listing stays cheap."""
    return filename.rsplit("-", 1)[1].split(".")[0]


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
        sha256=_published_sha256_prefix(filename),
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
        raise InvalidArgumentError(
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
        InvalidArgumentError: ``num_classes`` not a positive int, or another ``encoder_weights``.
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


# -- Mask R-CNN as a VOC semantic segmenter ------------------------------------------------------------------

#: COCO category id of each VOC class, in VOC's order (background first): the remap (``CAT_LIST`` of
#: torchvision's references/segmentation/coco_utils.py) with which its COCO_WITH_VOC_LABELS weights were trained.
COCO_ID_OF_VOC_CLASS = (0, 5, 2, 16, 9, 44, 6, 3, 17, 62, 21, 67, 18, 19, 4, 1, 64, 20, 63, 7, 72)

_MASK_RCNN = "https://arxiv.org/abs/1703.06870"
_MASK_RCNN_SOURCE = "torchvision/models/detection/mask_rcnn.py, {enum}.COCO_V1.meta"
_MASK_RCNN_LICENSE = "BSD-3-Clause (torchvision); trained on COCO train2017 (COCO terms of use)"
# torchvision's detectors normalise (ImageNet mean/std) and resize (shorter side 800, longer at most 1333)
# inside their GeneralizedRCNNTransform: they take RGB in [0, 1] at the image's own size.
MASK_RCNN_PROTOCOL = EvalProtocol(
    mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), value_scale=1.0, resize="none", reference="torchvision"
)


def _coco_instances(
    builder: str, filename: str, num_params: int, box_map: float, mask_map: float, gflops: float
) -> WeightRecord:
    enum = "MaskRCNN_ResNet50_FPN_V2_Weights" if builder.endswith("_v2") else "MaskRCNN_ResNet50_FPN_Weights"
    source = _MASK_RCNN_SOURCE.format(enum=enum)
    return WeightRecord(
        tag="coco",
        dataset="voc",
        trained_on="COCO train2017, all 80 categories (instance segmentation)",
        class_names=VOC_CLASSES,
        protocol=MASK_RCNN_PROTOCOL,
        license=_MASK_RCNN_LICENSE,
        url=_URL + filename,
        sha256=_published_sha256_prefix(filename),
        num_params=num_params,
        reported=(
            ReportedMetric("box_mAP", box_map, source, dataset="COCO-val2017", note="the detector's box AP"),
            ReportedMetric("mask_mAP", mask_map, source, dataset="COCO-val2017", note="instance mask AP"),
            ReportedMetric(
                "GMACs", gflops, source, note="torchvision's 'GFLOPS'; its input size is not stated"
            ),
        ),
        note=(
            "A COCO instance segmenter answering as a VOC semantic segmenter: per VOC class, the highest "
            "score x mask probability of its instances (COCO categories mapped to VOC as torchvision's "
            "segmentation weights were trained), background = 1 - the highest class score; the model returns "
            "their logarithm. The figures are COCO detection and instance-mask AP, not semantic scores. The "
            "model normalises and resizes (shorter side 800, longer at most 1333) inside."
        ),
    )


def _build_mask_rcnn(
    builder: str, num_classes: int, encoder_weights: str | None, min_size: int, max_size: int
) -> Any:
    check_num_classes(num_classes, builder)
    if num_classes != len(COCO_ID_OF_VOC_CLASS):
        raise InvalidArgumentError(
            f"{builder}: num_classes must be {len(COCO_ID_OF_VOC_CLASS)}, the VOC classes its COCO categories "
            f"map to, got {num_classes}"
        )
    if encoder_weights not in ("imagenet", None):
        raise InvalidArgumentError(
            f"{builder}: encoder_weights must be 'imagenet' or None, got {encoder_weights!r}"
        )
    from torchvision.models import ResNet50_Weights
    from torchvision.models.detection import MaskRCNN, maskrcnn_resnet50_fpn_v2
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
    from torchvision.ops import FrozenBatchNorm2d

    from zoo.models._torchvision_nets import InstanceMasksAsSemantic

    backbone_weights = ResNet50_Weights.IMAGENET1K_V1 if encoder_weights == "imagenet" else None
    coco_labels = 91  # torchvision's COCO detection labels: the category ids 1-90 and background
    if builder == "maskrcnn_resnet50_fpn":
        # as torchvision builds it for its COCO_V1 weights: frozen batch norms (eps 0) in the ResNet
        backbone = resnet_fpn_backbone(
            backbone_name="resnet50",
            weights=backbone_weights,
            norm_layer=FrozenBatchNorm2d,
            trainable_layers=3,
        )
        model = MaskRCNN(backbone, num_classes=coco_labels, min_size=min_size, max_size=max_size)
        for module in model.modules():
            if isinstance(module, FrozenBatchNorm2d):
                module.eps = 0.0
    else:
        model = maskrcnn_resnet50_fpn_v2(
            weights=None, weights_backbone=backbone_weights, num_classes=coco_labels
        )
    return InstanceMasksAsSemantic(model, COCO_ID_OF_VOC_CLASS)


_MASK_RCNN_DOC = """torchvision's ``{builder}`` (COCO instances) answering as a VOC semantic segmenter.

    Args:
        num_classes: must be 21: the VOC classes (background included) its COCO categories map to.
        encoder_weights: ``"imagenet"`` loads torchvision's ImageNet ResNet-50; ``None`` (default) does not.
        min_size, max_size: the detector's internal resize (torchvision's defaults, 800 and 1333, are the
            ones its figures were measured with): shorter side to ``min_size``, longer at most ``max_size``.

    Returns:
        A :class:`~zoo.models._torchvision_nets.InstanceMasksAsSemantic` mapping ``(N, 3, H, W)`` RGB in
        ``[0, 1]`` to ``(N, 21, H, W)`` log-scores; inference only.

    Raises:
        TypeError: a keyword argument this builder does not take (``pretrained=True`` included).
        InvalidArgumentError: ``num_classes`` other than 21, or another ``encoder_weights``.
    """


@register_model(
    "maskrcnn-resnet50_fpn",
    family="torchvision",
    paper=_MASK_RCNN,
    description="Mask R-CNN, ResNet-50-FPN, COCO instances as VOC class scores (torchvision)",
    weights=[
        _coco_instances(
            "maskrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth", 44_401_393, 37.9, 34.6, 134.38
        )
    ],
)
@keyword_checked
def maskrcnn_resnet50_fpn(
    num_classes: int = 21, *, encoder_weights: str | None = None, min_size: int = 800, max_size: int = 1333
) -> Any:
    return _build_mask_rcnn("maskrcnn_resnet50_fpn", num_classes, encoder_weights, min_size, max_size)


@register_model(
    "maskrcnn-resnet50_fpn_v2",
    family="torchvision",
    paper=_MASK_RCNN,
    description="Mask R-CNN v2 (improved recipe), ResNet-50-FPN, COCO instances as VOC class scores (torchvision)",
    weights=[
        _coco_instances(
            "maskrcnn_resnet50_fpn_v2",
            "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth",
            46_359_409,
            47.4,
            41.8,
            333.577,
        )
    ],
)
@keyword_checked
def maskrcnn_resnet50_fpn_v2(
    num_classes: int = 21, *, encoder_weights: str | None = None, min_size: int = 800, max_size: int = 1333
) -> Any:
    return _build_mask_rcnn("maskrcnn_resnet50_fpn_v2", num_classes, encoder_weights, min_size, max_size)


for _builder in (maskrcnn_resnet50_fpn, maskrcnn_resnet50_fpn_v2):
    _builder.__doc__ = _MASK_RCNN_DOC.format(builder=_builder.__name__)
