"""Pretrained-weight records: where a checkpoint comes from, how to verify it and how to evaluate it.

A :class:`WeightRecord` is plain data (no torch import), so that listing and describing models stays cheap.
Downloading lives in :mod:`zoo.hub`, loading into a model in :mod:`zoo.factory`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlsplit

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

ResizeRule = Literal["shorter_side", "fit", "fixed", "minimal", "none"]

#: mmsegmentation's multi-scale test ratios (the ``img_ratios`` of its configs and of NVlabs SegFormer's).
MMSEG_MS_RATIOS = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)


@dataclass(frozen=True)
class ReferencePipeline:
    """A publisher's evaluation code, as far as it decides the network input.

    Attributes:
        name: the name records use, e.g. ``"torchvision"``.
        image_resize: how it resizes the image: ``"pil-bilinear"`` (the uint8 PIL image, Pillow's
            antialiased bilinear filter), ``"cv2-linear"`` (the uint8 array, ``cv2.resize(INTER_LINEAR)`` as
            ``mmcv.imresize`` calls it), ``"cv2-cubic-float"`` (the float64 image in ``[0, 1]``,
            ``cv2.resize(INTER_CUBIC)``, normalised after: isl-org/DPT) or ``"float"`` (the float image, one
            resize: zoo's own way).
        description: the reference in words: its code and what zoo reproduces of it.
        differences: what zoo still does differently from the reference, in words (empty: nothing known);
            the leaderboard prints it beside every comparison of a measurement with a reported figure.
        logits_resize: how it resizes the network's logits to the image's size: ``"bilinear"`` (with the
            protocol's ``align_corners``) or ``"bicubic"`` (isl-org/DPT's ``F.interpolate(mode="bicubic",
            align_corners=False)``). A fact of the reference, not an ``EvalProtocol`` field, so that the
            stored protocol of every other weight stays as it was.
    """

    name: str
    image_resize: Literal["pil-bilinear", "cv2-linear", "cv2-cubic-float", "float"]
    description: str
    differences: str = ""
    logits_resize: Literal["bilinear", "bicubic"] = "bilinear"


# OpenCV's SIMD rounding cannot be reproduced to the bit in torch
_CV2_DIFFERENCE = "input pixels within one uint8 step of OpenCV's resize, not bit-exact"

#: Every reference pipeline a protocol may name. ``zoo`` is the one for protocols no publisher defines.
REFERENCE_PIPELINES: dict[str, ReferencePipeline] = {
    p.name: p
    for p in (
        ReferencePipeline(
            "torchvision",
            "pil-bilinear",
            "torchvision references/segmentation: PIL image resized (bilinear, antialiased) in uint8, then "
            "ToTensor and Normalize; zoo reproduces Pillow's kernel bit-exactly",
            "the publisher scored on labels resized to 520 (nearest); zoo scores at each label's own size",
        ),
        ReferencePipeline(
            "nvlabs-segformer",
            "cv2-linear",
            "NVlabs SegFormer (mmseg 0.x + AlignedResize): mmcv.imrescale then mmcv.imresize to multiples of "
            "32, both cv2 bilinear in uint8; zoo reproduces cv2 within one uint8 step",
            _CV2_DIFFERENCE,
        ),
        ReferencePipeline(
            "mmseg-1.x",
            "cv2-linear",
            "mmsegmentation 1.x: Resize(keep_ratio=True), one mmcv.imrescale (cv2 bilinear) in uint8; zoo "
            "reproduces cv2 within one uint8 step",
            _CV2_DIFFERENCE,
        ),
        ReferencePipeline(
            "mmseg-0.x",
            "cv2-linear",
            "mmsegmentation 0.x: Resize(keep_ratio=True), one mmcv.imrescale (cv2 bilinear) in uint8, as 1.x; "
            "zoo reproduces cv2 within one uint8 step",
            _CV2_DIFFERENCE,
        ),
        ReferencePipeline(
            "isl-org-dpt",
            "cv2-cubic-float",
            "isl-org/DPT run_segmentation.py: Resize(480, 480, keep_aspect_ratio=True, ensure_multiple_of=32, "
            "resize_method='minimal'), one cv2.resize(INTER_CUBIC) of the float64 image in [0, 1], then "
            "mean = std = 0.5, float32; logits resized to the image bicubically (align_corners=False); zoo "
            "reproduces the sizes, OpenCV's float cubic kernel (bit-exact on float64) and the bicubic logits",
            "inside the network, timm (dynamic_img_size) resizes the ViT's position embedding bicubically with "
            "antialiasing where the original's _resize_pos_embed is bilinear, without; the original runs fp16 "
            "on CUDA by default (--optimize), zoo the dtype asked for (fp32 by default); zoo's datasets decode "
            "JPEGs with Pillow, the original with cv2.imread (the same pixels on the real ADE20K samples)",
            logits_resize="bicubic",
        ),
        ReferencePipeline(
            "zoo", "float", "zoo's own: the float image resized once (no publisher's pipeline)"
        ),
    )
}

_SHA256_HEX = re.compile(r"^[0-9a-f]{8,64}$")
#: ``weights="default"`` in :func:`zoo.create` means an entry's first record, so no record may be tagged so.
DEFAULT_WEIGHTS = "default"


def is_safe_relative_path(text: str) -> bool:
    """Whether ``text`` is a ``/``-separated relative path that stays inside the folder it is joined to.

    Hub revisions (``refs/pr/1``) and file names become folders of a cache: no absolute path, backslash, NUL,
    empty, ``.`` or ``..`` part may let one point elsewhere.
    """
    if not text or text.startswith("/") or "\\" in text or "\0" in text:
        return False
    return all(part not in ("", ".", "..") for part in text.split("/"))


@dataclass(frozen=True)
class EvalProtocol:
    """How images must be prepared and predicted for a weight to give its reported numbers.

    Attributes:
        channel_order: ``"RGB"`` or ``"BGR"``: the order the network expects its input channels in.
        mean, std: per-channel normalisation ``(x - mean) / std``, applied to pixel values ``x`` in
            ``[0, value_scale]``.
        value_scale: ``1.0`` when mean/std apply to pixels in ``[0, 1]`` (torchvision), ``255.0`` when they
            apply to raw ``[0, 255]`` pixels (mmsegmentation).
        resize: ``"shorter_side"``: scale so the shorter side equals ``resize_size[0]`` (torchvision);
            ``"fit"``: keep the aspect ratio and scale by ``min(long_max / long, short_max / short)`` with
            ``resize_size = (long_max, short_max)`` (mmsegmentation's ``keep_ratio=True``);
            ``"fixed"``: warp to ``resize_size = (height, width)``; ``"minimal"``: keep the aspect ratio and
            scale both sides by whichever of ``height_target / H`` and ``width_target / W`` is closer to 1,
            ``resize_size = (height_target, width_target)`` (isl-org/DPT's ``Resize(keep_aspect_ratio=True,
            resize_method="minimal")``); ``"none"``: keep the original size.
        resize_size: see ``resize``.
        resize_multiple_of: after ``resize``, round each side to a multiple of this by resizing, not padding,
            or ``None``. *Up* for every rule but ``"minimal"`` (NVlabs SegFormer's ``AlignedResize``); to the
            *nearest* multiple for ``"minimal"`` (DPT's ``ensure_multiple_of``: ``np.round``, half to even;
            ``None`` rounds to the nearest pixel), never below one multiple.
        size_divisor: pad the network input to a multiple of this (the padding is cropped off the prediction
            before scoring), or ``None``.
        inference: ``"whole"`` (one forward over the whole image) or ``"slide"`` (overlapping crops of
            ``crop_size`` every ``stride`` pixels, logits averaged where they overlap).
        crop_size, stride: ``(height, width)`` of sliding-window crops and steps; ``None`` for whole.
        align_corners: the ``align_corners`` flag of every bilinear resize of logits.
        interpolation: how the image is resized (``"bilinear"``, ``"bicubic"`` or ``"nearest"``). How the
            logits are resized is the reference's (:attr:`ReferencePipeline.logits_resize`).
        ms_ratios: multi-scale testing (``--tta ms``) predicts at each of these ratios of the resize rule's
            target scale, applied to the original image (mmseg's ``MultiScaleFlipAug(img_ratios=...)``; see
            :func:`zoo.inference.network_input_size`). Unused by single-scale testing.
        reference: the publisher's pipeline this protocol reproduces, a key of :data:`REFERENCE_PIPELINES`;
            it decides how the image is resized (in uint8 with the reference's kernel, or in float).
    """

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    value_scale: float
    resize: ResizeRule
    resize_size: tuple[int, ...] | None = None
    resize_multiple_of: int | None = None
    channel_order: Literal["RGB", "BGR"] = "RGB"
    size_divisor: int | None = None
    inference: Literal["whole", "slide"] = "whole"
    crop_size: tuple[int, int] | None = None
    stride: tuple[int, int] | None = None
    align_corners: bool = False
    interpolation: Literal["bilinear", "nearest", "bicubic"] = "bilinear"
    ms_ratios: tuple[float, ...] = MMSEG_MS_RATIOS
    reference: str = "zoo"

    @property
    def pipeline(self) -> ReferencePipeline:
        """The :class:`ReferencePipeline` named by ``reference``.

        Raises:
            KeyError: an unknown name (:meth:`problems` reports it first).
        """
        return REFERENCE_PIPELINES[self.reference]

    def variant(self, name: str) -> EvalProtocol:
        """This protocol as the reference pipeline ``name`` would evaluate the same weight.

        ``"mmseg-1.x"`` of an ``"nvlabs-segformer"`` protocol keeps the ratio-preserving resize and drops the
        stretch to multiples of 32 (mmseg 1.x's ``Resize(scale, keep_ratio=True)``); a protocol's own
        reference gives the protocol itself.

        Raises:
            zoo.errors.ProtocolVariantError: a variant that is not defined for this protocol.
        """
        if name == self.reference:
            return self
        if name == "mmseg-1.x" and self.reference == "nvlabs-segformer":
            return replace(self, reference="mmseg-1.x", resize_multiple_of=None)
        from zoo.errors import ProtocolVariantError

        known = ", ".join(protocol_variants(self))
        raise ProtocolVariantError(
            f"protocol {name!r} is not defined for a weight evaluated as {self.reference!r}: use one of {known}"
        )

    def problems(self) -> list[str]:
        """Every inconsistency in this protocol, as readable sentences (empty when valid)."""
        found = []
        if self.channel_order not in ("RGB", "BGR"):
            found.append(f"channel_order {self.channel_order!r} is not 'RGB' or 'BGR'")
        if self.value_scale not in (1.0, 255.0):
            found.append(f"value_scale {self.value_scale!r} is not 1.0 or 255.0")
        for label, values in (("mean", self.mean), ("std", self.std)):
            if len(values) != 3:
                found.append(f"{label} has {len(values)} values, expected 3")
            elif any(not 0 <= v <= self.value_scale for v in values):
                found.append(f"{label} {values} lies outside [0, {self.value_scale}] (wrong value_scale?)")
        expected_sizes = {"shorter_side": 1, "fit": 2, "fixed": 2, "minimal": 2, "none": 0}
        if self.resize not in expected_sizes:
            found.append(f"resize {self.resize!r} is not one of {sorted(expected_sizes)}")
        elif len(self.resize_size or ()) != expected_sizes[self.resize]:
            found.append(
                f"resize {self.resize!r} needs {expected_sizes[self.resize]} resize_size values, "
                f"got {self.resize_size!r}"
            )
        if self.inference == "slide":
            if not (self.crop_size and self.stride):
                found.append("slide inference needs crop_size and stride")
            elif any(s > c for s, c in zip(self.stride, self.crop_size, strict=False)):
                found.append(
                    f"stride {self.stride} is larger than crop_size {self.crop_size}: pixels would be skipped"
                )
        elif self.inference == "whole":
            if self.crop_size or self.stride:
                found.append("whole inference takes no crop_size or stride")
        else:
            found.append(f"inference {self.inference!r} is not 'whole' or 'slide'")
        if self.resize_multiple_of is not None and (
            isinstance(self.resize_multiple_of, bool)
            or not isinstance(self.resize_multiple_of, int)
            or self.resize_multiple_of < 1
        ):
            found.append(f"resize_multiple_of {self.resize_multiple_of!r} is not a positive integer or None")
        if self.interpolation not in ("bilinear", "nearest", "bicubic"):
            found.append(f"interpolation {self.interpolation!r} is not 'bilinear', 'nearest' or 'bicubic'")
        found += _ratio_problems(self.ms_ratios)
        if self.reference not in REFERENCE_PIPELINES:
            found.append(f"reference {self.reference!r} is not one of {sorted(REFERENCE_PIPELINES)}")
        return found

    def short_code(self) -> str:
        """A compact readable label such as ``"ss whole 520"`` or ``"ss slide 1024"`` for tables.

        The resize rules that give one image different sizes are told apart: ``aligned32`` (rounded up to a
        multiple of 32), ``keep-ratio`` (``"fit"``), ``minimal nearest32`` (DPT's rule, rounded to the
        nearest multiple of 32).
        """
        size = self.resize_size[-1] if self.resize_size else "orig"
        if self.inference == "slide" and self.crop_size:
            return f"ss slide {self.crop_size[0]}"
        # the resize rules that give one image different sizes are told apart where they change the input
        if self.resize == "minimal":
            rounding = f" nearest{self.resize_multiple_of}" if self.resize_multiple_of else ""
            return f"ss {self.inference} {size} minimal{rounding}"
        if self.resize_multiple_of:
            return f"ss {self.inference} {size} aligned{self.resize_multiple_of}"
        if self.resize == "fit":
            return f"ss {self.inference} {size} keep-ratio"
        return f"ss {self.inference} {size}"


#: The names ``--protocol`` accepts: a protocol's own reference, or a variant :meth:`EvalProtocol.variant` defines.
PROTOCOL_VARIANTS = ("nvlabs-segformer", "mmseg-1.x")
#: Short names for ``--protocol`` (``--protocol mmseg``).
PROTOCOL_ALIASES = {"mmseg": "mmseg-1.x", "nvlabs": "nvlabs-segformer"}


def protocol_variants(protocol: EvalProtocol) -> tuple[str, ...]:
    """The names :meth:`EvalProtocol.variant` accepts for ``protocol`` (its own reference first)."""
    extra = ("mmseg-1.x",) if protocol.reference == "nvlabs-segformer" else ()
    return (protocol.reference, *extra)


def protocol_variant(protocol: EvalProtocol, name: str | None) -> EvalProtocol:
    """``protocol`` as the named variant (``None`` keeps it; aliases such as ``"mmseg"`` are accepted).

    Raises:
        zoo.errors.ProtocolVariantError: a variant not defined for ``protocol``.
    """
    if not name:
        return protocol
    return protocol.variant(PROTOCOL_ALIASES.get(name, name))


def _ratio_problems(ratios: Any) -> list[str]:
    """What is wrong with a ``ms_ratios`` value: a non-empty tuple of distinct positive finite numbers."""
    if not isinstance(ratios, tuple) or not ratios:
        return [f"ms_ratios {ratios!r} is not a non-empty tuple of ratios, e.g. {MMSEG_MS_RATIOS}"]
    found = []
    bad = [
        r for r in ratios if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r < math.inf
    ]
    if bad:
        found.append(f"ms_ratios {ratios} holds {bad}: every ratio must be a positive finite number")
    elif len(set(ratios)) != len(ratios):
        found.append(f"ms_ratios {ratios} repeats a ratio: each scale would be counted twice")
    return found


@dataclass(frozen=True)
class ReportedMetric:
    """A figure its publisher reported, never a number measured by zoo.

    Attributes:
        name: ``"mIoU"``, ``"pixel_acc"``, ``"GMACs"``...
        value: the figure exactly as published (percent for accuracy metrics).
        source: where it was read: a file in a repository, a paper and its table, a model card.
        dataset: what it was measured on, e.g. ``"ADE20K val"``; empty for compute figures.
        note: the conditions that matter (single-scale, input size, what a "GFLOPS" counts).
    """

    name: str
    value: float
    source: str
    dataset: str = ""
    note: str = ""


@dataclass(frozen=True)
class WeightRecord:
    """One pretrained checkpoint of one registry entry.

    Exactly one source is set: ``url`` (https) or ``hf_repo`` + ``hf_revision`` + ``hf_filename`` (a file on
    the Hugging Face Hub, fetched from ``$HF_ENDPOINT``). ``sha256`` is the full 64-hex digest, or the prefix
    that is all its publisher made known (torchvision puts 8 hex digits in its file names), or ``None``
    when nothing is known: such a weight is *unverified* and is loaded with a warning.

    Attributes:
        tag: the part after the dot in ``name.tag``.
        dataset: the label space the classifier predicts: ``"voc"``, ``"cityscapes"`` or ``"ade20k"``.
        trained_on: what the publisher trained on, in words (may differ from ``dataset``: torchvision's VOC
            weights were trained on the COCO images of VOC's 20 categories).
        class_names: one name per output channel, in channel order.
        protocol: the evaluation protocol the reported numbers were obtained with.
        license: the checkpoint's licence as its publisher states it.
        file_size: size in bytes, where known.
        num_params: the parameter count its publisher states (tests recompute it).
        reported: the publisher's figures, each with its source.
        model_kwargs: builder arguments the checkpoint's architecture needs (e.g. a decoder width).
        key_prefix_to_strip: prefix removed from every checkpoint key before loading.
        note: anything a user must know about this weight.
    """

    tag: str
    dataset: str
    trained_on: str
    class_names: tuple[str, ...] = field(repr=False)
    protocol: EvalProtocol
    license: str
    url: str | None = None
    hf_repo: str | None = None
    hf_revision: str | None = None
    hf_filename: str | None = None
    sha256: str | None = None
    file_size: int | None = None
    num_params: int | None = None
    reported: tuple[ReportedMetric, ...] = ()
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    key_prefix_to_strip: str = ""
    note: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def checksum(self) -> Literal["full", "prefix", "unknown"]:
        """What is known of the file's sha256: the full digest, a published prefix, or nothing."""
        if self.sha256 is None:
            return "unknown"
        return "full" if len(self.sha256) == 64 else "prefix"

    @property
    def verified(self) -> bool:
        return self.sha256 is not None

    @property
    def filename(self) -> str:
        """The file's name: the last part of the URL's path (no query string), or of ``hf_filename``."""
        if self.url:
            return urlsplit(self.url).path.rsplit("/", 1)[-1]
        return (self.hf_filename or "").rsplit("/", 1)[-1]

    @property
    def source(self) -> str:
        """The checkpoint's origin as one readable string."""
        if self.url:
            return self.url
        return f"hf://{self.hf_repo}@{self.hf_revision}/{self.hf_filename}"

    def reported_metric(self, name: str) -> ReportedMetric | None:
        return next((m for m in self.reported if m.name == name), None)

    def problems(self) -> list[str]:
        """Every schema violation in this record, as readable sentences (empty when valid)."""
        found = [f"protocol: {p}" for p in self.protocol.problems()]
        if not re.fullmatch(r"[a-z0-9_]+", self.tag):
            found.append(f"tag {self.tag!r} must be lowercase letters, digits and '_'")
        if self.tag == DEFAULT_WEIGHTS:
            found.append(
                f"tag {DEFAULT_WEIGHTS!r} is reserved: weights={DEFAULT_WEIGHTS!r} means the first record"
            )
        has_url = self.url is not None
        has_hf = any(v is not None for v in (self.hf_repo, self.hf_revision, self.hf_filename))
        if has_url == has_hf:
            found.append("exactly one source must be set: url, or hf_repo + hf_revision + hf_filename")
        if has_url and not self.url.startswith("https://"):
            found.append(f"url {self.url!r} is not https")
        if has_hf and None in (self.hf_repo, self.hf_revision, self.hf_filename):
            found.append("a Hugging Face source needs hf_repo, hf_revision and hf_filename")
        for label, value in (("hf_revision", self.hf_revision), ("hf_filename", self.hf_filename)):
            if value is not None and not is_safe_relative_path(value):
                found.append(
                    f"{label} {value!r} would point outside the cache (absolute, '..', '\\' or empty part)"
                )
        if self.sha256 is not None and not _SHA256_HEX.match(self.sha256):
            found.append(f"sha256 {self.sha256!r} is not 8 to 64 lowercase hex digits")
        if not self.filename.endswith((".pth", ".pt", ".bin", ".safetensors")):
            found.append(f"file {self.filename!r} is neither a torch checkpoint nor safetensors")
        if self.num_classes < 1 or len(set(self.class_names)) != self.num_classes:
            found.append("class_names must be non-empty and unique")
        if not self.license:
            found.append("license is empty")
        for metric in self.reported:
            if not metric.source:
                found.append(f"reported {metric.name} has no source")
        return found


def __getattr__(name: str) -> Any:
    # ``Protocol`` shadowed ``typing.Protocol``; the old name works, with a warning, for one release.
    if name == "Protocol":
        import warnings

        from zoo.errors import ZooDeprecationWarning

        warnings.warn(
            "zoo.weights.Protocol is renamed EvalProtocol; the old name goes in zoo 0.3",
            ZooDeprecationWarning,
            stacklevel=2,
        )
        return EvalProtocol
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
