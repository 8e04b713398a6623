"""smp's SegFormer, computing its logits as NVlabs SegFormer and mmsegmentation do, at any input size.

smp's ``Segformer`` differs from the reference ``SegformerHead`` in three places:

- it resizes every stage to ``input // 4``; the reference resizes them to the first stage's own size,
  ``ceil(input / 4)`` (MiT's stride-4 patch embedding pads by 3);
- it upsamples the 1/4-resolution logits by a factor of 4 with ``align_corners=True``; the reference resizes
  them to the input's size with ``align_corners=False``;
- it refuses inputs whose sides are not multiples of 32, which mmseg 1.x's keep-ratio resize produces
  (a 512x683 ADE20K image), so zoo's ``--protocol mmseg`` could not run.

Where the input's sides are multiples of 32 the first and third make no difference, so published
checkpoints and every size smp accepted give the same logits as smp with ``align_corners=False``
(``tests/test_parity.py`` checks both). The modules and state dict keys are smp's own: only ``forward``
differs, by subclassing, so checkpoints load as published.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from segmentation_models_pytorch import Segformer
from segmentation_models_pytorch.base.utils import is_torch_compiling
from segmentation_models_pytorch.decoders.segformer.decoder import SegformerDecoder

#: encoders whose every stage follows the input at any size, as MiT's overlapping patch embeddings do
ANY_SIZE_ENCODER_PREFIXES = ("mit_",)


class ReferenceSegformerDecoder(SegformerDecoder):
    """smp's all-MLP decoder, resizing every stage to ``ceil(input / 4)`` as the reference head does."""

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        target_size = [-(-side // 4) for side in features[0].shape[2:]]
        # MiT leaves an empty stride-2 slot; other encoders fill it
        stages = features[2:] if features[1].size(1) == 0 else features[1:]
        resized = [
            F.interpolate(mlp(feature), size=target_size, mode="bilinear", align_corners=False)
            for mlp, feature in zip(self.mlp_stage, stages[::-1], strict=True)
        ]
        return self.fuse_stage(torch.cat(resized, dim=1))


class ReferenceSegformer(Segformer):
    """smp's ``Segformer`` whose logits are resized to the input's size with ``align_corners=False``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (torch.jit.is_scripting() or torch.jit.is_tracing() or is_torch_compiling()):
            self.check_input_shape(x)
        conv, _, activation = self.segmentation_head
        logits = conv(self.decoder(self.encoder(x)))
        return activation(F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False))


def as_reference_segformer(model: Segformer, encoder: str) -> ReferenceSegformer:
    """Make a freshly built smp ``Segformer`` compute as :class:`ReferenceSegformer`, in place.

    Args:
        model: an ``smp.Segformer`` without a classification head (zoo builds none).
        encoder: its encoder's name; MiT encoders (:data:`ANY_SIZE_ENCODER_PREFIXES`) then accept any input
            size, others keep smp's check that sides are multiples of the output stride.

    Returns:
        ``model``, now a :class:`ReferenceSegformer` with a :class:`ReferenceSegformerDecoder`.
    """
    model.__class__ = ReferenceSegformer
    model.decoder.__class__ = ReferenceSegformerDecoder
    model.requires_divisible_input_shape = not encoder.startswith(ANY_SIZE_ENCODER_PREFIXES)
    return model
