"""``zoo.create``: a registry name in, an eval-ready ``torch.nn.Module`` out, with verified weights."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from zoo.errors import ClassifierReinitializedWarning, WeightsMismatchError
from zoo.registry import REGISTRY, ModelEntry
from zoo.weights import WeightRecord

if TYPE_CHECKING:
    from torch import nn


def create(
    name: str,
    num_classes: int | None = None,
    weights: str | WeightRecord | None = None,
    *,
    progress: bool | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model, in eval mode, with its pretrained weights when asked.

    Args:
        name: ``{architecture}-{encoder}`` with an optional ``.{tag}`` selecting weights, e.g.
            ``"deeplabv3plus-resnet101"`` or ``"deeplabv3-resnet101.coco_voc"``; ``family:name`` picks one
            family where several offer the name (``"smp:deeplabv3-resnet101"``).
        num_classes: output channels. Defaults to the weights' class count, else the entry's default (21).
            With weights for N classes and ``num_classes=M != N``, everything but the classifier is loaded,
            the classifier keeps its fresh initialisation, and a :class:`ClassifierReinitializedWarning` says so.
        weights: a weights tag of the entry, or a :class:`~zoo.WeightRecord`; the same as ``name.tag``
            (giving both with different values is an error).
        progress: show a download progress bar (default: for large files on a terminal).
        **kwargs: passed to the builder (e.g. ``encoder_weights="imagenet"`` for an ImageNet encoder).

    Returns:
        A ``torch.nn.Module`` in eval mode whose forward maps ``(N, 3, H, W)`` floats to ``(N, C, H, W)``
        logits. ``model.zoo_entry`` and ``model.zoo_weights`` tell what it is.

    Raises:
        UnknownModelError: no such name (the message lists the closest ones).
        UnknownWeightsError: no such weights tag for that entry.
        WeightsMismatchError: the checkpoint does not fit the model.
        zoo.errors.ChecksumError, OfflineError, DownloadError: the file could not be had.
    """
    entry, tagged = REGISTRY.resolve(name)
    record = _pick_weights(entry, tagged, weights)
    if num_classes is None:
        num_classes = record.num_classes if record else entry.default_num_classes
    builder_kwargs = {**(record.model_kwargs if record else {}), **kwargs}
    model = entry.builder(num_classes=num_classes, **builder_kwargs)
    if record is not None:
        load_weights(model, record, progress=progress)
    model.zoo_entry = entry
    model.zoo_weights = record
    return model.eval()


def _pick_weights(
    entry: ModelEntry, tagged: WeightRecord | None, weights: str | WeightRecord | None
) -> WeightRecord | None:
    if weights is None:
        return tagged
    chosen = weights if isinstance(weights, WeightRecord) else entry.get_weights(weights)
    if tagged is not None and tagged != chosen:
        raise ValueError(f"{entry.name}: the name asks for weights {tagged.tag!r} but weights={chosen.tag!r}")
    return chosen


def load_weights(model: nn.Module, record: WeightRecord, *, progress: bool | None = None) -> nn.Module:
    """Fetch (download, cache, verify) the checkpoint of ``record`` and load it into ``model``.

    Every tensor must fit, except the classifier's when ``model`` predicts another number of classes than
    the weights: those tensors (first dimension = the weights' class count) are left as initialised, with a
    :class:`ClassifierReinitializedWarning`. Missing or unexpected keys, and any other shape difference,
    raise :class:`WeightsMismatchError` naming them.
    """
    from zoo import hub

    path = hub.fetch(record, progress=progress)
    state = hub.read_state_dict(path)
    if record.key_prefix_to_strip:
        prefix = record.key_prefix_to_strip
        state = {k.removeprefix(prefix): v for k, v in state.items()}
    own = model.state_dict()
    missing = sorted(own.keys() - state.keys())
    unexpected = sorted(state.keys() - own.keys())
    if missing or unexpected:
        raise WeightsMismatchError(
            f"{path} ({record.source}) does not fit the model: "
            f"{len(missing)} missing keys {missing[:5]}, {len(unexpected)} unexpected keys {unexpected[:5]}"
        )
    reshaped = {
        k: (tuple(state[k].shape), tuple(own[k].shape)) for k in state if state[k].shape != own[k].shape
    }
    classifier_keys = {
        k
        for k, (theirs, ours) in reshaped.items()
        if theirs[0] == record.num_classes and theirs[1:] == ours[1:]
    }
    if set(reshaped) - classifier_keys:
        details = ", ".join(f"{k}: checkpoint {reshaped[k][0]} vs model {reshaped[k][1]}" for k in reshaped)
        raise WeightsMismatchError(f"{path} ({record.source}) has tensors of other shapes: {details}")
    if classifier_keys:
        warnings.warn(
            f"weights {record.tag!r} predict {record.num_classes} classes but the model predicts "
            f"{next(iter(reshaped.values()))[1][0]}: re-initialised {sorted(classifier_keys)}, kept the rest",
            ClassifierReinitializedWarning,
            stacklevel=3,
        )
        state = {k: v for k, v in state.items() if k not in classifier_keys}
    model.load_state_dict(state, strict=not classifier_keys)
    return model
