"""segmentation_models_pytorch: every architecture on every encoder it accepts, plus ``tu-`` timm encoders.

Which encoders an architecture accepts, and which keywords its constructor takes, is read from a manifest
generated from the installed smp (:mod:`zoo.models._smp_manifest`, written by
``scripts/generate_smp_manifest.py``), so that listing names never imports smp; ``tests/test_smp_family.py``
regenerates it and compares.

``tu-{timm model}`` encoders (any timm model that can return feature maps) are made on demand: they are
resolved when named and listed only with ``include_on_demand=True``, because there are thousands.

Logit upsampling. smp's ``SegmentationHead`` upsamples the decoder's logits with
``nn.Upsample(mode="bilinear", align_corners=True)``. Where zoo registers checkpoints whose reference
implementation resizes them with ``align_corners=False`` (:data:`ALIGN_CORNERS_FALSE`: SegFormer, as NVlabs
and mmseg's ``resize(seg_logits, size=img_shape, align_corners=False)``; UPerNet, as mmseg and transformers'
``UperNetForSemanticSegmentation``), zoo's builds use ``align_corners=False``: with everything else fixed,
the other flag changes the argmax of about 5% of pixels. The head keeps its module names, so checkpoints load
as published. SegFormer goes further (:mod:`zoo.models.smp_segformer`): it computes its logits as the
reference head does at any input size, so mmseg 1.x's keep-ratio inputs (``--protocol mmseg``) run too. The
other architectures keep smp's head; compared with their references: DeepLabV3+ matches
TF DeepLab (``align_corners=True``), DPT matches the original (``align_corners=True`` in its head); PSPNet
(mmseg: ``False``) and FPN (detectron2's semantic FPN: ``False``) differ, but zoo registers no checkpoint for
them, so there is nothing a record could be measured against.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, replace
from typing import Any

from zoo.classes import ADE20K_CLASSES, CITYSCAPES_CLASSES
from zoo.models._smp_manifest import ARCHITECTURES, KEYWORDS
from zoo.models.arguments import InvalidArgumentError, check_keywords, check_num_classes
from zoo.registry import FAMILY_PRIORITY, REGISTRY, ModelEntry
from zoo.weights import EvalProtocol, ReportedMetric, WeightRecord

FAMILY = "smp"

# Architecture -> (smp class name, paper). The papers are those smp's docstrings cite.
SMP_CLASSES: dict[str, tuple[str, str]] = {
    "unet": ("Unet", "https://arxiv.org/abs/1505.04597"),
    "unetplusplus": ("UnetPlusPlus", "https://arxiv.org/abs/1807.10165"),
    "manet": ("MAnet", "https://ieeexplore.ieee.org/abstract/document/9201310"),
    "linknet": ("Linknet", "https://arxiv.org/abs/1707.03718"),
    "fpn": ("FPN", "https://arxiv.org/abs/1612.03144"),
    "pspnet": ("PSPNet", "https://arxiv.org/abs/1612.01105"),
    "deeplabv3": ("DeepLabV3", "https://arxiv.org/abs/1706.05587"),
    "deeplabv3plus": ("DeepLabV3Plus", "https://arxiv.org/abs/1802.02611"),
    "pan": ("PAN", "https://arxiv.org/abs/1805.10180"),
    "upernet": ("UPerNet", "https://arxiv.org/abs/1807.10221"),
    "segformer": ("Segformer", "https://arxiv.org/abs/2105.15203"),
    "dpt": ("DPT", "https://arxiv.org/abs/2103.13413"),
}

TIMM_PREFIX = "tu-"
DPT_LISTED_ENCODERS = ("tu-vit_base_patch16_384", "tu-vit_large_patch16_384")

#: Architectures whose logits zoo upsamples with ``align_corners=False``, as their reference implementations.
ALIGN_CORNERS_FALSE = frozenset({"segformer", "upernet"})

# smp keywords zoo sets itself: the entry fixes the encoder, ``num_classes`` is smp's ``classes``, zoo's
# ``encoder_weights`` defaults to None (smp's to "imagenet", a download), and ``aux_params`` would make the
# model return a (logits, labels) pair instead of zoo's one logits tensor.
_SET_BY_ZOO = frozenset({"encoder_name", "encoder_weights", "classes", "aux_params"})


@dataclass(frozen=True)
class SmpBuilder:
    """Builds ``smp.{Architecture}(encoder_name=encoder, classes=num_classes, ...)`` for one registry entry.

    Its signature (``inspect.signature(builder)``) lists every keyword it takes: ``num_classes``,
    ``encoder_weights``, ``encoder_kwargs`` and the smp constructor's own keywords with smp's defaults
    (``decoder_channels``, ``encoder_depth``, ``activation``...), read from the manifest. Anything else is
    refused, because smp would pass it to the encoder, which ignores it for every non-timm encoder:
    ``pretrained=True`` used to give a random model without a word.

    Args (of a call):
        num_classes: output channels, a positive int.
        encoder_weights: ``None`` (default: nothing is downloaded), or the encoder's pretraining as smp
            names it (``"imagenet"``; ``True`` for ``tu-`` encoders).
        encoder_kwargs: options for a ``tu-`` encoder's ``timm.create_model`` (``img_size``,
            ``dynamic_img_size``, ``drop_path_rate``...); refused for smp's own encoders, which ignore them.
        **smp keywords**: the architecture's constructor keywords, as listed by the signature.

    Returns:
        The smp model, mapping ``(N, in_channels, H, W)`` to ``(N, num_classes, H, W)`` logits (``H, W``
        multiples of the encoder's output stride; any size for SegFormer on MiT). For
        :data:`ALIGN_CORNERS_FALSE` architectures the logits are upsampled with ``align_corners=False``.

    Raises:
        UnexpectedArgumentError: (a ``TypeError``) a keyword this builder does not take, named.
        InvalidArgumentError: (a ``ValueError``) ``num_classes`` not a positive int; ``encoder_kwargs``
            for a non-timm encoder or repeating another keyword.
    """

    architecture: str
    encoder: str

    @property
    def smp_keywords(self) -> dict[str, Any]:
        """The smp constructor keywords this builder passes on, with smp's defaults."""
        return {k: v for k, v in KEYWORDS[self.architecture].items() if k not in _SET_BY_ZOO}

    @property
    def __signature__(self) -> inspect.Signature:
        keyword = inspect.Parameter.KEYWORD_ONLY
        parameters = [
            inspect.Parameter(
                "num_classes", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=21, annotation=int
            ),
            inspect.Parameter("encoder_weights", keyword, default=None, annotation="str | bool | None"),
            inspect.Parameter("encoder_kwargs", keyword, default=None, annotation="Mapping[str, Any] | None"),
            *(inspect.Parameter(name, keyword, default=value) for name, value in self.smp_keywords.items()),
        ]
        return inspect.Signature(parameters)

    @property
    def name(self) -> str:
        return f"{self.architecture}-{self.encoder}"

    def __call__(
        self,
        num_classes: int = 21,
        *,
        encoder_weights: str | bool | None = None,
        encoder_kwargs: dict[str, Any] | None = None,
        **smp_options: Any,
    ) -> Any:
        check_num_classes(num_classes, self.name)
        check_keywords(smp_options, list(self.__signature__.parameters), self.name)
        encoder_kwargs = dict(encoder_kwargs or {})
        if encoder_kwargs and not self.encoder.startswith(TIMM_PREFIX):
            raise InvalidArgumentError(
                f"{self.name}: encoder_kwargs {sorted(encoder_kwargs)} apply only to 'tu-' (timm) encoders; "
                f"smp ignores them for {self.encoder!r}"
            )
        repeated = sorted(encoder_kwargs.keys() & (set(KEYWORDS[self.architecture]) | {"num_classes"}))
        if repeated:
            raise InvalidArgumentError(
                f"{self.name}: encoder_kwargs repeat constructor keywords {repeated}; pass them directly"
            )
        import segmentation_models_pytorch as smp

        model_class = getattr(smp, SMP_CLASSES[self.architecture][0])
        model = model_class(
            encoder_name=self.encoder,
            encoder_weights=encoder_weights,
            classes=num_classes,
            **smp_options,
            **encoder_kwargs,
        )
        if self.architecture == "segformer":
            from zoo.models.smp_segformer import as_reference_segformer

            as_reference_segformer(model, self.encoder)
        elif self.architecture in ALIGN_CORNERS_FALSE:
            upsample_logits_without_align_corners(model)
        return model


def upsample_logits_without_align_corners(model: Any) -> Any:
    """Make an smp model's ``SegmentationHead`` upsample bilinearly with ``align_corners=False``.

    The head is ``Sequential(conv, upsample, activation)``; only the parameter-free ``upsample`` is
    replaced, by the same scale factor, so the state dict keys stay those of published checkpoints. As smp
    requires input sides divisible by the output stride, scaling by the factor gives exactly the input size
    (what the reference's ``resize(logits, size=image_shape)`` does).
    """
    from torch import nn

    head = model.segmentation_head
    upsample = head[1]
    if isinstance(upsample, nn.Upsample) and upsample.mode == "bilinear":
        head[1] = nn.Upsample(scale_factor=upsample.scale_factor, mode="bilinear", align_corners=False)
    return model


def _entry(architecture: str, encoder: str, weights: tuple[WeightRecord, ...] = ()) -> ModelEntry:
    class_name, paper = SMP_CLASSES[architecture]
    return ModelEntry(
        architecture=architecture,
        encoder=encoder,
        family=FAMILY,
        builder=SmpBuilder(architecture, encoder),
        paper=paper,
        weights=weights,
        priority=FAMILY_PRIORITY[FAMILY],
        description=f"smp.{class_name} on {encoder}",
    )


def _resolve_timm_encoder(architecture: str, encoder: str) -> ModelEntry | None:
    if architecture not in SMP_CLASSES or not encoder.startswith(TIMM_PREFIX):
        return None
    import timm

    if not timm.is_model(encoder[len(TIMM_PREFIX) :]):
        return None
    return _entry(architecture, encoder)


def _enumerate_timm_encoders() -> list[str]:
    import timm

    timm_names = timm.list_models()
    names = []
    for architecture in SMP_CLASSES:
        # DPT reads ViT-style token features: only transformer encoders make sense there
        candidates = (
            [n for n in timm_names if "vit" in n or "deit" in n] if architecture == "dpt" else timm_names
        )
        names += [f"{architecture}-{TIMM_PREFIX}{n}" for n in candidates]
    return names


# -- SegFormer weights: the original NVlabs checkpoints, converted by smp to the smp-hub organisation ----

_SEGFORMER_PAPER = "Xie et al., SegFormer, NeurIPS 2021, arXiv 2105.15203"
_SEGFORMER_LICENSE = (
    "NVIDIA Source Code License for SegFormer (non-commercial: research or evaluation only); "
    "the Hub card says 'other'"
)
_MMSEG_MEAN = (123.675, 116.28, 103.53)
_MMSEG_STD = (58.395, 57.12, 57.375)
# NVlabs' test pipeline: AlignedResize to fit (2048, 512) keeping the ratio, whole-image inference.
_ADE_PROTOCOL = EvalProtocol(
    mean=_MMSEG_MEAN,
    std=_MMSEG_STD,
    value_scale=255.0,
    resize="fit",
    resize_size=(2048, 512),
    resize_multiple_of=32,
    reference="nvlabs-segformer",
)
# NVlabs' Cityscapes test: fit (2048, 1024), then 1024x1024 windows every 768 pixels.
_CITYSCAPES_PROTOCOL = EvalProtocol(
    mean=_MMSEG_MEAN,
    std=_MMSEG_STD,
    value_scale=255.0,
    resize="fit",
    resize_size=(2048, 1024),
    inference="slide",
    crop_size=(1024, 1024),
    stride=(768, 768),
    reference="nvlabs-segformer",
)
# What could be read of the Hub (pages stored before this was written): full sha256 digests and pinned
# revisions exist for a few files only; the others load unverified, from 'main', and `zoo info` says so.
_HUB_FACTS: dict[str, dict[str, Any]] = {
    "segformer-b2-512x512-ade-160k": {
        "sha256": "79bd178a8e8786328604d3ade6d37394bbc356aaa03ec6fcece1e13609f950d9"
    },
    "segformer-b5-640x640-ade-160k": {
        "sha256": "fbcb3f167715ea3f3a221af7fd808d4594f7030527cb0455e09c64ba7960cabb"
    },
    "segformer-b1-1024x1024-city-160k": {"revision": "cec10a9a8cb3226e2892b253e95ebb1c16416e24"},
}
_PAPER_FIGURES: dict[tuple[str, str], tuple[float, str, str]] = {
    # (variant, dataset) -> (mIoU, evaluation set, note); the paper's figures that could be checked
    ("b0", "ade20k"): (37.4, "ADE20K val", "single-scale"),
    ("b4", "ade20k"): (50.3, "ADE20K val", "single-scale"),
    ("b5", "ade20k"): (51.0, "ADE20K val", "single-scale, 640x640 model"),
    ("b5", "cityscapes"): (
        84.0,
        "Cityscapes val",
        "the abstract's figure; its test setting is not stated there",
    ),
}
# The paper's parameter counts (millions, ADE20K models) that could be checked; tests recompute them.
_PAPER_PARAMS_M = {"b0": 3.8, "b4": 64.1, "b5": 84.7}


def _segformer_weights(variant: str, dataset: str) -> WeightRecord:
    if dataset == "ade20k":
        crop = "640x640" if variant == "b5" else "512x512"
        repo, classes, protocol = f"segformer-{variant}-{crop}-ade-160k", ADE20K_CLASSES, _ADE_PROTOCOL
        if variant == "b5":  # the 640x640 model is tested at (2048, 640) (mmseg's ade20k-640x640 config)
            protocol = replace(protocol, resize_size=(2048, 640))
    else:
        repo, classes, protocol = (
            f"segformer-{variant}-1024x1024-city-160k",
            CITYSCAPES_CLASSES,
            _CITYSCAPES_PROTOCOL,
        )
    facts = _HUB_FACTS.get(repo, {})
    figure = _PAPER_FIGURES.get((variant, dataset))
    reported = (
        (ReportedMetric("mIoU", figure[0], _SEGFORMER_PAPER, dataset=figure[1], note=figure[2]),)
        if figure
        else ()
    )
    if dataset == "ade20k" and variant in _PAPER_PARAMS_M:
        reported += (
            ReportedMetric("params_M", _PAPER_PARAMS_M[variant], _SEGFORMER_PAPER, note="150 classes"),
        )
    return WeightRecord(
        tag=dataset,
        dataset=dataset,
        trained_on=f"{'ADE20K train' if dataset == 'ade20k' else 'Cityscapes train (fine)'}, 160k iterations "
        f"(NVlabs SegFormer, converted by segmentation_models_pytorch)",
        class_names=classes,
        protocol=protocol,
        license=_SEGFORMER_LICENSE,
        hf_repo=f"smp-hub/{repo}",
        hf_revision=facts.get("revision", "main"),
        hf_filename="model.safetensors",
        sha256=facts.get("sha256"),
        reported=reported,
        # B0/B1 have a 256-channel MLP decoder, B2-B5 768 (the NVlabs configs' decoder embed_dim)
        model_kwargs={"decoder_segmentation_channels": 256 if variant in ("b0", "b1") else 768},
        note=""
        if figure
        else "The paper's figure for this variant could not be checked here; none is shown.",
    )


def _segformer_weight_table() -> dict[str, tuple[WeightRecord, ...]]:
    return {
        f"mit_{v}": tuple(_segformer_weights(v, d) for d in ("ade20k", "cityscapes"))
        for v in ("b0", "b1", "b2", "b3", "b4", "b5")
    }


# -- UPerNet weights: mmsegmentation's ADE20K checkpoints, via transformers, converted by smp to smp-hub ----

_MMSEG_README = "open-mmlab/mmsegmentation configs/{}/README.md, ADE20K table"
_UPERNET_LICENSE = (
    "MIT per transformers' openmmlab/upernet-* model cards (the checkpoints are mmsegmentation's); "
    "the smp-hub card's licence could not be read here"
)
_UPERNET_CONVERSION = (
    "mmsegmentation's checkpoint {checkpoint}, converted to transformers' openmmlab/upernet-{name} and from "
    "there by smp's scripts/models-conversions/upernet-hf-to-smp.py to smp-hub/upernet-{name}"
)


@dataclass(frozen=True)
class _UperNetRelease:
    """One of the UPerNet checkpoints smp published, and mmseg's figures for the checkpoint it came from."""

    name: str  # smp-hub/upernet-{name}
    encoder: str
    crop: int  # mmseg's training crop: 512, or 640 for the ImageNet-22k ConvNeXt-L/XL
    miou: float  # mmseg's single-scale mIoU, ADE20K val
    miou_ms_flip: float
    checkpoint: str  # the mmseg checkpoint transformers converted (its convert_*_upernet_to_pytorch.py)


_UPERNET_RELEASES = (
    _UperNetRelease("convnext-tiny", "tu-convnext_tiny", 512, 46.11, 46.62,
                    "upernet_convnext_tiny_fp16_512x512_160k_ade20k_20220227_124553-cad485de.pth"),
    _UperNetRelease("convnext-small", "tu-convnext_small", 512, 48.56, 49.02,
                    "upernet_convnext_small_fp16_512x512_160k_ade20k_20220227_131208-1b1e394f.pth"),
    _UperNetRelease("convnext-base", "tu-convnext_base", 512, 48.71, 49.54,
                    "upernet_convnext_base_fp16_512x512_160k_ade20k_20220227_181227-02a24fc6.pth"),
    _UperNetRelease("convnext-large", "tu-convnext_large", 640, 53.16, 53.38,
                    "upernet_convnext_large_fp16_640x640_160k_ade20k_20220226_040532-e57aa54d.pth"),
    _UperNetRelease("convnext-xlarge", "tu-convnext_xlarge", 640, 53.58, 54.11,
                    "upernet_convnext_xlarge_fp16_640x640_160k_ade20k_20220226_080344-95fc38c2.pth"),
    _UperNetRelease("swin-tiny", "tu-swin_tiny_patch4_window7_224", 512, 44.41, 45.79,
                    "upernet_swin_tiny_patch4_window7_512x512_160k_ade20k_pretrain_224x224_1K_20210531_112542-e380ad3e.pth"),
    _UperNetRelease("swin-small", "tu-swin_small_patch4_window7_224", 512, 47.72, 49.24,
                    "upernet_swin_small_patch4_window7_512x512_160k_ade20k_pretrain_224x224_1K_20210526_192015-ee2fff1c.pth"),
    _UperNetRelease("swin-large", "tu-swin_large_patch4_window12_384", 512, 52.25, 54.12,
                    "upernet_swin_large_patch4_window12_512x512_pretrain_384x384_22K_160k_ade20k_20220318_091743-9ba68901.pth"),
)  # fmt: skip


def _upernet_weights(release: _UperNetRelease) -> WeightRecord:
    swin = release.encoder.startswith("tu-swin")
    family = "swin" if swin else "convnext"
    if swin:
        # smp builds timm's Swin for 512x512 inputs only (img_size=512, as its conversion and model card do)
        # no publisher evaluated this way ("zoo": one float resize)
        protocol = EvalProtocol(
            mean=_MMSEG_MEAN, std=_MMSEG_STD, value_scale=255.0, resize="fixed", resize_size=(512, 512)
        )
        protocol_note = (
            "mmseg measured these figures resizing each image to fit (2048, 512) with its aspect ratio kept, "
            "whole-image; the converted model takes 512x512 inputs only, so zoo resizes to 512x512 as smp's "
            "model card does, and its measurements may differ from the figures."
        )
    else:
        # mmseg's ConvNeXt test pipeline: fit (4 x crop, crop), then crop-sized windows every 2/3 crop
        stride = {512: 341, 640: 426}[release.crop]
        protocol = EvalProtocol(
            mean=_MMSEG_MEAN,
            std=_MMSEG_STD,
            value_scale=255.0,
            resize="fit",
            resize_size=(4 * release.crop, release.crop),
            inference="slide",
            crop_size=(release.crop, release.crop),
            stride=(stride, stride),
            reference="mmseg-0.x",
        )
        protocol_note = "zoo evaluates as mmseg's config did (slide inference); smp's model card resizes to 512x512 instead."
    source = _MMSEG_README.format(family)
    return WeightRecord(
        tag="ade20k",
        dataset="ade20k",
        trained_on=f"ADE20K train, {release.crop}x{release.crop} crops, 160k iterations (mmsegmentation)",
        class_names=ADE20K_CLASSES,
        protocol=protocol,
        license=_UPERNET_LICENSE,
        hf_repo=f"smp-hub/upernet-{release.name}",
        hf_revision="main",
        hf_filename="model.safetensors",
        reported=(
            ReportedMetric("mIoU", release.miou, source, dataset="ADE20K val", note="single-scale"),
            ReportedMetric("mIoU", release.miou_ms_flip, source, dataset="ADE20K val", note="ms+flip"),
        ),
        model_kwargs={"decoder_channels": 512, **({"encoder_kwargs": {"img_size": 512}} if swin else {})},
        note=" ".join(
            (
                _UPERNET_CONVERSION.format(checkpoint=release.checkpoint, name=release.name) + ";",
                "the figures are mmseg's for that checkpoint (its auxiliary head, dropped by the conversion, "
                "is not used at test time).",
                protocol_note,
                "No sha256 or revision of the smp-hub file could be read here: it loads unverified, from 'main'.",
            )
        ),
    )


# -- DPT weights: the original ViT-L/16 ADE20K checkpoint (isl-org/DPT), converted by smp -------------------

_DPT_PROTOCOL = EvalProtocol(
    # isl-org/DPT's run_segmentation.py: Resize(480, 480, keep_aspect_ratio=True, ensure_multiple_of=32,
    # resize_method="minimal", INTER_CUBIC) of the float image, RGB in [0, 1] normalised with mean = std = 0.5;
    # the reference pipeline resizes the logits bicubically
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
    value_scale=1.0,
    resize="minimal",
    resize_size=(480, 480),
    resize_multiple_of=32,
    interpolation="bicubic",
    reference="isl-org-dpt",
)
_DPT_WEIGHTS = WeightRecord(
    tag="ade20k",
    dataset="ade20k",
    trained_on="ADE20K train (Ranftl et al., isl-org/DPT dpt_large-ade20k-b12dca68.pt), converted by smp",
    class_names=ADE20K_CLASSES,
    protocol=_DPT_PROTOCOL,
    license="MIT (isl-org/DPT); the smp-hub card's licence could not be read here",
    hf_repo="smp-hub/dpt-large-ade20k",
    hf_revision="main",
    hf_filename="model.safetensors",
    # the original resizes its position embedding to the input; timm does so with dynamic_img_size
    model_kwargs={"encoder_kwargs": {"dynamic_img_size": True}},
    note=(
        "Converted by smp's scripts/models-conversions/dpt-original-to-smp.py. No figure for this "
        "checkpoint could be checked here (the paper abstract's 49.02 mIoU is DPT-Hybrid's), so none is shown. "
        "The protocol is the original run_segmentation.py's: its 'minimal' resize rule (sides rounded to the "
        "nearest multiple of 32), OpenCV's float cubic kernel reproduced bit-exactly, bicubic logits. Not "
        "reproduced: the network's position-embedding resize (timm's bicubic with antialiasing, the original's "
        "bilinear) and the original's fp16 on CUDA. No sha256 or revision of the smp-hub "
        "file could be read here: it loads unverified, from 'main'."
    ),
)


def _register() -> None:
    segformer_weights = _segformer_weight_table()
    for architecture, encoders in ARCHITECTURES.items():
        for encoder in encoders:
            weights = segformer_weights.get(encoder, ()) if architecture == "segformer" else ()
            REGISTRY.register(_entry(architecture, encoder, weights))
    # DPT accepts only timm ViTs, which are made on demand; these two make the architecture visible in
    # `zoo list` (the ViT-Base and ViT-Large of the DPT paper, at the resolution it used).
    for encoder in DPT_LISTED_ENCODERS:
        weights = (_DPT_WEIGHTS,) if encoder == "tu-vit_large_patch16_384" else ()
        REGISTRY.register(_entry("dpt", encoder, weights))
    # UPerNet's published checkpoints are on timm encoders, otherwise made on demand
    for release in _UPERNET_RELEASES:
        REGISTRY.register(_entry("upernet", release.encoder, (_upernet_weights(release),)))
    REGISTRY.add_resolver(FAMILY, _resolve_timm_encoder)
    REGISTRY.add_enumerator(_enumerate_timm_encoders)


_register()
