"""The module that adapts torchvision's dict-returning segmentation models to zoo's logits contract."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.segmentation.lraspp import LRASPP


class TorchvisionSegmenter(nn.Module):
    """A torchvision segmentation model that returns logits at the input's size and skips the aux head.

    The submodules keep torchvision's names (``backbone``, ``classifier``, ``aux_classifier``) so that the
    published checkpoints load strictly and the parameter count equals the one torchvision publishes.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.backbone = model.backbone
        self.classifier = model.classifier
        self.aux_classifier = getattr(model, "aux_classifier", None)
        # LR-ASPP's head reads both the low- and high-level features; the others read only "out".
        self._head_reads_all_features = isinstance(model, LRASPP)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.backbone(x)
        logits = self.classifier(features if self._head_reads_all_features else features["out"])
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
