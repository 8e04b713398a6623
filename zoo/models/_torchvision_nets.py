"""The modules that adapt torchvision's segmentation models (dicts of outputs) and Mask R-CNN (instances) to
zoo's contract: one ``(N, C, H, W)`` tensor of logits at the input's size."""

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


def instance_masks_to_class_scores(
    detections: list[dict[str, torch.Tensor]], class_of_label: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """Per-class scores ``(N, num_classes, H, W)`` in ``[0, 1]`` from instance detections of N images.

    A pixel's score for class ``c`` is the highest ``score * mask probability`` among the instances whose
    label maps to ``c``; instances of labels that map to no class (``class_of_label[label] < 1``) are
    dropped. The background score (channel 0) is one minus the highest class score, so a pixel that no
    confident instance covers is background.

    Args:
        detections: one dict per image with ``labels (K,)``, ``scores (K,)`` and ``masks (K, 1, H, W)``
            probabilities at the image's size (torchvision's post-processed Mask R-CNN output).
        class_of_label: for every detector label, the class it maps to (``-1`` or ``0``: none).
        num_classes: classes of the output, background included.
    """
    scores = []
    for detection in detections:
        masks = detection["masks"][:, 0]
        classes = class_of_label[detection["labels"]]
        keep = classes > 0
        height, width = masks.shape[-2:]
        weighted = (masks[keep] * detection["scores"][keep, None, None]).flatten(1)
        index = classes[keep][:, None].expand_as(weighted)
        per_class = weighted.new_zeros((num_classes, height * width))
        per_class.scatter_reduce_(0, index, weighted, "amax", include_self=True)
        per_class[0] = 1 - per_class[1:].amax(0)
        scores.append(per_class.view(num_classes, height, width))
    return torch.stack(scores)


class InstanceMasksAsSemantic(nn.Module):
    """A torchvision Mask R-CNN that answers as a semantic segmenter: ``(N, 3, H, W)`` in ``[0, 1]`` to
    ``(N, C, H, W)`` log-scores.

    The submodules keep torchvision's names (``transform``, ``backbone``, ``rpn``, ``roi_heads``), so its
    published checkpoints load strictly and the parameter count is the published one. The forward runs
    torchvision's inference (its transform normalises and resizes inside), then
    :func:`instance_masks_to_class_scores`; it returns their logarithm, so that a softmax over classes
    gives the scores normalised to sum to one and the argmax is the class of the highest score.
    Inference only: in training mode the detector needs targets, which a segmenter does not get.
    """

    def __init__(self, model: nn.Module, coco_id_of_class: tuple[int, ...]):
        super().__init__()
        self.transform = model.transform
        self.backbone = model.backbone
        self.rpn = model.rpn
        self.roi_heads = model.roi_heads
        self.num_classes = len(coco_id_of_class)
        num_labels = model.roi_heads.box_predictor.cls_score.out_features
        class_of_label = torch.full((num_labels,), -1, dtype=torch.long)
        for voc_class, coco_id in enumerate(coco_id_of_class):
            if voc_class > 0:
                class_of_label[coco_id] = voc_class
        # not persistent: it is derived, and checkpoints must keep torchvision's keys
        self.register_buffer("class_of_label", class_of_label, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            raise RuntimeError("InstanceMasksAsSemantic is inference-only: call .eval() first")
        images = list(x)
        original_sizes = [tuple(image.shape[-2:]) for image in images]
        image_list, _ = self.transform(images)
        features = self.backbone(image_list.tensors)
        proposals, _ = self.rpn(image_list, features)
        detections, _ = self.roi_heads(features, proposals, image_list.image_sizes)
        detections = self.transform.postprocess(detections, image_list.image_sizes, original_sizes)
        scores = instance_masks_to_class_scores(detections, self.class_of_label, self.num_classes)
        return scores.clamp_min(1e-6).log()
