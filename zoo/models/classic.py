"""The field's historical systems, built natively in PyTorch: FCN-32s/16s/8s on VGG16 and the original U-Net.

These are reference architectures, not reference weights: no entry here has pretrained weights of its own.
The FCNs can start from torchvision's ImageNet VGG16 (``encoder_weights="imagenet"``), as the paper's did
from the Caffe VGG16.

Importing this module does not import torch: the networks live in :mod:`zoo.models._classic_nets`, which
the builders import when they run.
"""

from __future__ import annotations

from typing import Any

from zoo.models.arguments import InvalidArgumentError, check_num_classes, keyword_checked
from zoo.registry import register_model

FCN_PAPER = "https://arxiv.org/abs/1411.4038"
UNET_PAPER = "https://arxiv.org/abs/1505.04597"

_FCN_ENCODER_WEIGHTS = ("imagenet", None)


def _build_fcn(
    builder: str,
    output_stride: int,
    num_classes: int,
    encoder_weights: str | None,
    learnable_upsampling: bool,
):
    check_num_classes(num_classes, builder)
    if encoder_weights not in _FCN_ENCODER_WEIGHTS:
        raise InvalidArgumentError(
            f"{builder}: encoder_weights must be 'imagenet' or None, got {encoder_weights!r}"
        )

    from zoo.models._classic_nets import FCNVGG16

    model = FCNVGG16(num_classes, output_stride, learnable_upsampling=learnable_upsampling)
    if encoder_weights == "imagenet":
        from torchvision.models import VGG16_Weights

        model.load_vgg16_state_dict(VGG16_Weights.IMAGENET1K_V1.get_state_dict(progress=False))
    return model


_FCN_ARGS_DOC = """
    Args:
        num_classes: output channels: the classes, background included (21 for PASCAL VOC).
        encoder_weights: ``"imagenet"`` loads torchvision's ``VGG16_Weights.IMAGENET1K_V1`` into the thirteen
            VGG convolutions and into fc6/fc7 (its two hidden Linear layers reshaped to 7x7 and 1x1 kernels);
            the input must then be RGB in [0, 1] normalised with the ImageNet mean/std, not the reference's
            BGR mean-subtracted [0, 255]. ``None`` initialises the VGG layers at random (torchvision's VGG
            scheme).
        learnable_upsampling: keyword only, default ``False``: the transposed convolutions, initialised to
            bilinear interpolation, have ``requires_grad=False`` as in the reference (``lr_mult: 0``);
            ``True`` lets them train, as the paper's text describes for the in-network 2x upsamplings.

    Returns:
        A ``torch.nn.Module`` mapping ``(N, 3, H, W)`` floats to ``(N, num_classes, H, W)`` logits, for any
        ``H, W``. The score layers start at zero, so a fresh model predicts all-zero logits.

    Raises:
        TypeError: a keyword argument this builder does not take (``pretrained=True`` included).
        InvalidArgumentError: (a ``ValueError``) ``encoder_weights`` other than ``"imagenet"`` or ``None``;
            ``num_classes`` not a positive int.
"""


def _document(builder):
    builder.__doc__ = builder.__doc__.rstrip() + "\n" + _FCN_ARGS_DOC
    return builder


@register_model(
    "fcn32s-vgg16",
    family="classic",
    paper=FCN_PAPER,
    description="FCN-32s (Long et al., CVPR 2015): VGG16, one 32x bilinear-initialised upsampling",
)
@keyword_checked
@_document
def fcn32s_vgg16(
    num_classes: int = 21, *, encoder_weights: str | None = None, learnable_upsampling: bool = False
) -> Any:
    """FCN-32s on VGG16, as the reference Caffe net ``voc-fcn32s`` (Long, Shelhamer, Darrell, CVPR 2015).

    VGG16's convolutions (conv1_1 padded by 100, ceil-mode 2x2 pooling), fc6 as an unpadded 7x7 convolution
    to 4096 channels, fc7 as a 1x1 convolution to 4096, each followed by ReLU and dropout 0.5, ``score_fr``
    (1x1 to ``num_classes``), then one bias-free transposed convolution ``upscore`` (64x64, stride 32) and a
    crop at offset 19 that aligns the scores with the input pixels.
    """
    return _build_fcn("fcn32s_vgg16", 32, num_classes, encoder_weights, learnable_upsampling)


@register_model(
    "fcn16s-vgg16",
    family="classic",
    paper=FCN_PAPER,
    description="FCN-16s (Long et al., CVPR 2015): VGG16, fused with pool4 scores",
)
@keyword_checked
@_document
def fcn16s_vgg16(
    num_classes: int = 21, *, encoder_weights: str | None = None, learnable_upsampling: bool = False
) -> Any:
    """FCN-16s on VGG16, as the reference Caffe net ``voc-fcn16s`` (Long, Shelhamer, Darrell, CVPR 2015).

    FCN-32s's trunk up to ``score_fr``; ``upscore2`` (4x4, stride 2) doubles its resolution and adds
    ``score_pool4`` (1x1 on pool4) cropped at offset 5; ``upscore16`` (32x32, stride 16) and a crop at
    offset 27 bring the sum to the input's size.
    """
    return _build_fcn("fcn16s_vgg16", 16, num_classes, encoder_weights, learnable_upsampling)


@register_model(
    "fcn8s-vgg16",
    family="classic",
    paper=FCN_PAPER,
    description="FCN-8s (Long et al., CVPR 2015): VGG16, fused with pool4 and pool3 scores",
)
@keyword_checked
@_document
def fcn8s_vgg16(
    num_classes: int = 21, *, encoder_weights: str | None = None, learnable_upsampling: bool = False
) -> Any:
    """FCN-8s on VGG16, as the reference Caffe net ``voc-fcn8s`` (Long, Shelhamer, Darrell, CVPR 2015).

    FCN-16s's fusion with ``score_pool4`` (cropped at offset 5), then ``upscore_pool4`` (4x4, stride 2) adds
    ``score_pool3`` (1x1 on pool3) cropped at offset 9, and ``upscore8`` (16x16, stride 8) with a crop at
    offset 31 brings the sum to the input's size. The reference trains it all at once from VGG16 or in stages
    from FCN-16s; both start from the layers built here.
    """
    return _build_fcn("fcn8s_vgg16", 8, num_classes, encoder_weights, learnable_upsampling)


@register_model(
    "unet-original",
    family="classic",
    paper=UNET_PAPER,
    description="U-Net (Ronneberger et al., MICCAI 2015), padded convs, no pretrained encoder",
)
@keyword_checked
def unet_original(num_classes: int = 21, *, in_channels: int = 3, batch_norm: bool = False) -> Any:
    """The original U-Net (Ronneberger, Fischer, Brox, MICCAI 2015), with padded convolutions.

    A contracting path of double 3x3 convolutions with ReLU (64, 128, 256, 512 channels) separated by 2x2
    max-pooling, a 1024-channel double convolution at the bottom, and an expanding path of 2x2
    up-convolutions that halve the channels, each concatenated with the contracting path's feature map of the
    same scale and followed by a double 3x3 convolution; a 1x1 convolution maps the last 64 channels to the
    classes. No encoder is pretrained.

    Differences from the paper, made so that the output has the input's size: the 3x3 convolutions are padded
    by 1 (the paper's are unpadded, so its 572x572 input gives a 388x388 output and the skips are
    centre-cropped), which makes cropping the skips unnecessary; and an input whose sides are not multiples
    of 16 is padded at the bottom and right (by reflection, or by repeating the edge when the image is
    smaller than the padding) and the logits are cropped back to ``H x W``.

    Args:
        num_classes: output channels of the final 1x1 convolution (the paper's cell segmentation used 2).
        in_channels: keyword only, default 3: channels of the input (the paper's microscopy images had 1).
        batch_norm: keyword only, default ``False``: put a batch norm after every 3x3 convolution (which then
            has no bias). The original has none; it helps when training from scratch with a large learning
            rate.

    Returns:
        A ``torch.nn.Module`` mapping ``(N, in_channels, H, W)`` floats to ``(N, num_classes, H, W)`` logits,
        for any ``H, W``. PyTorch's default initialisation (the paper draws from N(0, sqrt(2 / fan_in))).

    Raises:
        TypeError: a keyword argument this builder does not take (``pretrained=True`` included).
        InvalidArgumentError: (a ``ValueError``) ``num_classes`` or ``in_channels`` not a positive int.
    """
    check_num_classes(num_classes, "unet_original")
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise InvalidArgumentError(f"unet_original: in_channels must be a positive int, got {in_channels!r}")
    from zoo.models._classic_nets import UNet

    return UNet(num_classes, in_channels, batch_norm=batch_norm)
