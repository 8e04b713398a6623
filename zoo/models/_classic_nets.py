"""The networks of :mod:`zoo.models.classic`: FCN-32s/16s/8s on VGG16 and the original U-Net.

This module imports torch at the top; :mod:`zoo.models.classic` imports it only inside its builders.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

# (name, in_channels, out_channels) of VGG16's thirteen 3x3 convolutions, stage by stage, named as in the
# reference Caffe nets so that a state dict reads like the prototxt.
VGG16_STAGES: tuple[tuple[tuple[str, int, int], ...], ...] = (
    (("conv1_1", 3, 64), ("conv1_2", 64, 64)),
    (("conv2_1", 64, 128), ("conv2_2", 128, 128)),
    (("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256)),
    (("conv4_1", 256, 512), ("conv4_2", 512, 512), ("conv4_3", 512, 512)),
    (("conv5_1", 512, 512), ("conv5_2", 512, 512), ("conv5_3", 512, 512)),
)

# Indices of those convolutions in torchvision's ``vgg16().features``, in the same order.
_TORCHVISION_VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)

# Crop offsets, in output pixels, that Caffe's coord_map computes for the reference nets (pad 100 on
# conv1_1, ceil-mode pooling, unpadded deconvolutions): they align every skip and the final score with the
# input pixel grid, whatever the input size.
FCN_CROPS = {
    32: {"score": 19},
    16: {"score_pool4c": 5, "score": 27},
    8: {"score_pool4c": 5, "score_pool3c": 9, "score": 31},
}


def bilinear_kernel(channels: int, kernel_size: int) -> torch.Tensor:
    """A ``(channels, channels, k, k)`` transposed-convolution weight that upsamples each channel bilinearly.

    The reference's ``surgery.upsample_filt``: channel ``i`` maps to channel ``i`` only, so classes never mix.
    """
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    taps = 1 - (torch.arange(kernel_size, dtype=torch.float64) - center).abs() / factor
    filt = (taps[:, None] * taps[None, :]).float()
    weight = torch.zeros(channels, channels, kernel_size, kernel_size)
    index = torch.arange(channels)
    weight[index, index] = filt
    return weight


def _crop(x: torch.Tensor, offset: int, height: int, width: int) -> torch.Tensor:
    return x[:, :, offset : offset + height, offset : offset + width]


class FCNVGG16(nn.Module):
    """FCN-32s, FCN-16s or FCN-8s on VGG16, layer for layer as the reference Caffe nets (voc-fcn*s).

    Args:
        num_classes: output channels of the score layers.
        output_stride: 32, 16 or 8: the coarsest stride whose scores reach the output unfused.
        learnable_upsampling: let the transposed convolutions train; the reference keeps them fixed at
            bilinear interpolation (``lr_mult: 0``), so by default they do not require grad.
    """

    def __init__(self, num_classes: int = 21, output_stride: int = 8, *, learnable_upsampling: bool = False):
        super().__init__()
        if output_stride not in FCN_CROPS:
            raise ValueError(f"output_stride must be 32, 16 or 8, got {output_stride!r}")
        self.num_classes = num_classes
        self.output_stride = output_stride
        self.crops = dict(FCN_CROPS[output_stride])

        for stage in VGG16_STAGES:
            for name, cin, cout in stage:
                # pad 100 on the first layer lets even a tiny input survive fc6's 7x7 kernel; the crops
                # below take the margin off again.
                setattr(self, name, nn.Conv2d(cin, cout, 3, padding=100 if name == "conv1_1" else 1))
        # ceil_mode: Caffe's pooling rounds up, and the crop offsets are only right with its sizes.
        self.pool = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.relu = nn.ReLU(inplace=True)
        self.fc6 = nn.Conv2d(512, 4096, 7)
        self.fc7 = nn.Conv2d(4096, 4096, 1)
        # element-wise, as Caffe's Dropout layer (not channel-wise Dropout2d)
        self.drop6 = nn.Dropout(0.5)
        self.drop7 = nn.Dropout(0.5)
        self.score_fr = nn.Conv2d(4096, num_classes, 1)

        if output_stride == 32:
            self.upscore = nn.ConvTranspose2d(num_classes, num_classes, 64, stride=32, bias=False)
        else:
            self.score_pool4 = nn.Conv2d(512, num_classes, 1)
            self.upscore2 = nn.ConvTranspose2d(num_classes, num_classes, 4, stride=2, bias=False)
        if output_stride == 16:
            self.upscore16 = nn.ConvTranspose2d(num_classes, num_classes, 32, stride=16, bias=False)
        if output_stride == 8:
            self.score_pool3 = nn.Conv2d(256, num_classes, 1)
            self.upscore_pool4 = nn.ConvTranspose2d(num_classes, num_classes, 4, stride=2, bias=False)
            self.upscore8 = nn.ConvTranspose2d(num_classes, num_classes, 16, stride=8, bias=False)

        self.reset_parameters()
        for deconv in self.upsampling_layers():
            deconv.weight.requires_grad_(learnable_upsampling)

    def score_layers(self) -> list[nn.Conv2d]:
        return [m for n, m in self.named_children() if n.startswith("score")]

    def upsampling_layers(self) -> list[nn.ConvTranspose2d]:
        return [m for m in self.children() if isinstance(m, nn.ConvTranspose2d)]

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Random VGG16 layers (torchvision's VGG initialisation), zero scores, bilinear deconvolutions."""
        for name, module in self.named_children():
            if isinstance(module, nn.ConvTranspose2d):
                module.weight.copy_(bilinear_kernel(self.num_classes, module.kernel_size[0]))
            elif name.startswith("score"):
                # the reference's score layers have no filler, i.e. Caffe's constant 0: a fresh net predicts
                # nothing and each skip starts as a no-op on top of the coarser net it refines
                nn.init.zeros_(module.weight)
                nn.init.zeros_(module.bias)
            elif name in ("fc6", "fc7"):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)

    @torch.no_grad()
    def load_vgg16_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        """Copy a torchvision ``vgg16`` state dict into the VGG layers, fc6 and fc7.

        torchvision's classifier Linear layers become convolutions: ``classifier.0`` (25088 -> 4096, applied
        to the flattened 512x7x7 pool5) is fc6's 7x7 kernel, ``classifier.3`` is fc7's 1x1 kernel. The score
        layers and deconvolutions are left as they are.
        """
        names = [name for stage in VGG16_STAGES for name, _, _ in stage]
        for name, index in zip(names, _TORCHVISION_VGG16_CONV_INDICES, strict=True):
            conv = getattr(self, name)
            conv.weight.copy_(state[f"features.{index}.weight"])
            conv.bias.copy_(state[f"features.{index}.bias"])
        self.fc6.weight.copy_(state["classifier.0.weight"].reshape(self.fc6.weight.shape))
        self.fc6.bias.copy_(state["classifier.0.bias"])
        self.fc7.weight.copy_(state["classifier.3.weight"].reshape(self.fc7.weight.shape))
        self.fc7.bias.copy_(state["classifier.3.bias"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        h = x
        pooled = []
        for stage in VGG16_STAGES:
            for name, _, _ in stage:
                h = self.relu(getattr(self, name)(h))
            h = self.pool(h)
            pooled.append(h)
        pool3, pool4 = pooled[2], pooled[3]
        h = self.drop6(self.relu(self.fc6(h)))
        h = self.drop7(self.relu(self.fc7(h)))
        h = self.score_fr(h)

        crops = self.crops
        if self.output_stride == 32:
            h = self.upscore(h)
        else:
            h = self.upscore2(h)
            h = h + _crop(self.score_pool4(pool4), crops["score_pool4c"], *h.shape[-2:])
            if self.output_stride == 16:
                h = self.upscore16(h)
            else:
                h = self.upscore_pool4(h)
                h = h + _crop(self.score_pool3(pool3), crops["score_pool3c"], *h.shape[-2:])
                h = self.upscore8(h)
        return _crop(h, crops["score"], height, width)


class _DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int, batch_norm: bool):
        layers: list[nn.Module] = []
        for c in (cin, cout):
            # a bias right before batch norm is cancelled by its mean subtraction
            layers.append(nn.Conv2d(c, cout, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class UNet(nn.Module):
    """The U-Net of Ronneberger et al. (2015) with padded 3x3 convolutions.

    Four 2x2 max-pool downsamplings of double 3x3 conv blocks (64, 128, 256, 512, then 1024 at the bottom),
    four 2x2 up-convolutions that halve the channels, each followed by concatenation with the encoder
    feature of the same scale and a double 3x3 conv block, and a final 1x1 convolution.

    Args:
        num_classes: output channels of the final 1x1 convolution.
        in_channels: input channels.
        batch_norm: batch norm after every 3x3 convolution (absent from the original).
    """

    depth = 4
    widths = (64, 128, 256, 512, 1024)

    def __init__(self, num_classes: int = 2, in_channels: int = 3, *, batch_norm: bool = False):
        super().__init__()
        widths = self.widths
        self.encoder = nn.ModuleList(
            _DoubleConv(cin, cout, batch_norm)
            for cin, cout in zip((in_channels, *widths[:-2]), widths[:-1], strict=True)
        )
        self.pool = nn.MaxPool2d(2, stride=2)
        self.bottleneck = _DoubleConv(widths[-2], widths[-1], batch_norm)
        self.upconvs = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in reversed(range(self.depth))
        )
        # the concatenation doubles the channels back, the block halves them again
        self.decoder = nn.ModuleList(
            _DoubleConv(2 * widths[i], widths[i], batch_norm) for i in reversed(range(self.depth))
        )
        self.classifier = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        multiple = 2**self.depth
        pad_h, pad_w = -height % multiple, -width % multiple
        if pad_h or pad_w:
            # reflection keeps image statistics at the border, but needs the pad to be smaller than the
            # side it mirrors; tiny inputs fall back to repeating the edge
            mode = "reflect" if pad_h < height and pad_w < width else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        skips = []
        h = x
        for block in self.encoder:
            h = block(h)
            skips.append(h)
            h = self.pool(h)
        h = self.bottleneck(h)
        for upconv, block, skip in zip(self.upconvs, self.decoder, reversed(skips), strict=True):
            h = block(torch.cat([skip, upconv(h)], dim=1))
        return self.classifier(h)[:, :, :height, :width]
