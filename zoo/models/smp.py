"""segmentation_models_pytorch: every architecture on every encoder it accepts, plus ``tu-`` timm encoders.

Which encoders an architecture accepts is read from a manifest generated from the installed smp
(:mod:`zoo.models._smp_manifest`), so that listing names never imports smp; ``tests/test_smp_family.py``
recomputes it. Regenerate it after an smp upgrade with ``python -m zoo.models.smp``.

``tu-{timm model}`` encoders (any timm model that can return feature maps) are made on demand: they are
resolved when named and listed only with ``include_on_demand=True``, because there are thousands.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

from zoo.classes import ADE20K_CLASSES, CITYSCAPES_CLASSES
from zoo.models._smp_manifest import ARCHITECTURES
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


def build(
    architecture: str,
    encoder: str,
    num_classes: int = 21,
    *,
    encoder_weights: str | None = None,
    **kwargs: Any,
) -> Any:
    """Build ``smp.{Architecture}(encoder_name=encoder, classes=num_classes, ...)``.

    Args:
        architecture: zoo's architecture name (``deeplabv3plus``).
        encoder: smp's encoder name (``resnet101``, ``mit_b2``, ``tu-convnext_tiny``).
        num_classes: output channels.
        encoder_weights: ``None`` (default: nothing is downloaded), or the encoder's pretraining as smp
            names it (``"imagenet"``; ``True`` for ``tu-`` encoders).
        **kwargs: passed to the smp class (``decoder_channels``, ``encoder_depth``, ``activation``...).
    """
    import segmentation_models_pytorch as smp

    model_class = getattr(smp, SMP_CLASSES[architecture][0])
    return model_class(encoder_name=encoder, encoder_weights=encoder_weights, classes=num_classes, **kwargs)


def _entry(architecture: str, encoder: str, weights: tuple[WeightRecord, ...] = ()) -> ModelEntry:
    class_name, paper = SMP_CLASSES[architecture]
    return ModelEntry(
        architecture=architecture,
        encoder=encoder,
        family=FAMILY,
        builder=functools.partial(build, architecture, encoder),
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


def _register() -> None:
    segformer_weights = _segformer_weight_table()
    for architecture, encoders in ARCHITECTURES.items():
        for encoder in encoders:
            weights = segformer_weights.get(encoder, ()) if architecture == "segformer" else ()
            REGISTRY.register(_entry(architecture, encoder, weights))
    # DPT accepts only timm ViTs, which are made on demand; these two make the architecture visible in
    # `zoo list` (the ViT-Base and ViT-Large of the DPT paper, at the resolution it used).
    for encoder in DPT_LISTED_ENCODERS:
        REGISTRY.register(_entry("dpt", encoder))
    REGISTRY.add_resolver(FAMILY, _resolve_timm_encoder)
    REGISTRY.add_enumerator(_enumerate_timm_encoders)


_register()


def accepted_encoders(architecture: str) -> tuple[str, ...]:
    """The smp encoders that ``architecture``'s constructor accepts, asked of the installed smp.

    Constructors run on the meta device (no memory, no init cost); the few encoders that cannot be built
    there (they call ``.item()`` while building) are built on the CPU instead. Only a ``ValueError`` or
    ``KeyError``, smp's way of refusing a combination, counts as "not accepted".
    """
    import warnings

    import segmentation_models_pytorch as smp
    import torch

    model_class = getattr(smp, SMP_CLASSES[architecture][0])
    accepted = []
    for encoder in smp.encoders.get_encoder_names():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                try:
                    with torch.device("meta"):
                        model_class(encoder_name=encoder, encoder_weights=None, classes=2)
                except RuntimeError:
                    model_class(encoder_name=encoder, encoder_weights=None, classes=2)
            except (ValueError, KeyError):
                continue
        accepted.append(encoder)
    return tuple(accepted)


def _write_manifest(path: str) -> None:
    import json

    import segmentation_models_pytorch as smp

    encoders = smp.encoders.get_encoder_names()
    accepted = {a: set(accepted_encoders(a)) for a in SMP_CLASSES}
    refused = {a: [e for e in encoders if e not in accepted[a]] for a in SMP_CLASSES}
    lines = [
        '"""Generated by `python -m zoo.models.smp` from the installed segmentation_models_pytorch: do not edit.',
        "",
        "Every smp encoder, and the ones each architecture's constructor refuses (tests/test_smp_family.py",
        "recomputes this).",
        '"""',
        "",
        f"SMP_VERSION = {json.dumps(smp.__version__)}",
        "",
        "ENCODERS: tuple[str, ...] = (",
        *(f"    {json.dumps(e)}," for e in encoders),
        ")",
        "",
        "REFUSED: dict[str, tuple[str, ...]] = {",
    ]
    for architecture, names in refused.items():
        if len(names) == len(encoders):
            lines.append(f"    {json.dumps(architecture)}: ENCODERS,")
        else:
            lines.append(
                f"    {json.dumps(architecture)}: ({''.join(json.dumps(e) + ', ' for e in names).rstrip()}),"
            )
    lines += [
        "}",
        "",
        "ARCHITECTURES: dict[str, tuple[str, ...]] = {",
        "    architecture: tuple(e for e in ENCODERS if e not in refused) for architecture, refused in REFUSED.items()",
        "}",
    ]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    import pathlib

    _write_manifest(str(pathlib.Path(__file__).with_name("_smp_manifest.py")))
    import segmentation_models_pytorch

    print(f"wrote zoo/models/_smp_manifest.py for smp {segmentation_models_pytorch.__version__}")
