"""Model families, one module each. Each registers its builders on import and imports its framework
(torch, torchvision, smp) only inside the builders, so listing names stays cheap.

- :mod:`zoo.models.smp`: every segmentation_models_pytorch architecture on every encoder it accepts, and the
  whole-model checkpoints smp publishes (SegFormer, UPerNet, DPT).
- :mod:`zoo.models.torchvision`: torchvision's FCN, DeepLabV3 and LR-ASPP builders and published weights, and
  its Mask R-CNN detectors answering as VOC semantic segmenters.
- :mod:`zoo.models.classic`: the field's historical systems built natively (FCN-8s/16s/32s, the original U-Net).

Every builder takes explicit keywords only (:mod:`zoo.models.arguments`); :mod:`zoo.models.shapes` builds a
model for its shapes alone (parameter counts, output shapes) without allocating its weights.
"""
