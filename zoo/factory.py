"""``zoo.create``: a registry name in, an eval-ready ``torch.nn.Module`` out, with verified weights."""

from __future__ import annotations

import difflib
import inspect
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import hub
from zoo.checkpoint import read_state_dict
from zoo.errors import (
    ClassifierReinitializedWarning,
    InvalidArgumentError,
    UnexpectedArgumentError,
    UnknownWeightsError,
    WeightsMismatchError,
)
from zoo.models.arguments import check_num_classes
from zoo.registry import REGISTRY, ModelEntry
from zoo.weights import DEFAULT_WEIGHTS, WeightRecord

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["InvalidArgumentError", "UnexpectedArgumentError", "create", "load_checkpoint", "load_weights"]

#: The keywords :func:`create` takes itself; anything else goes to the entry's builder.
CREATE_ARGUMENTS = ("num_classes", "weights", "pretrained", "checkpoint", "progress")
#: How close an unknown keyword must be to a known one to be called a misspelling of it. A builder that
#: takes ``**kwargs`` still gets keywords below this; one with an explicit signature gets none it lacks.
_MISSPELLING_CUTOFF = 0.8
_SUGGESTION_CUTOFF = 0.6
#: The prefix ``torch.nn.DataParallel`` / ``DistributedDataParallel`` put before every key they save.
_DATA_PARALLEL_PREFIX = "module."


def create(
    name: str,
    num_classes: int | None = None,
    weights: str | WeightRecord | None = None,
    *,
    pretrained: bool = False,
    checkpoint: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model, in eval mode, with published weights or a checkpoint of yours when asked.

    Args:
        name: ``{architecture}-{encoder}`` with an optional ``.{tag}`` selecting weights, e.g.
            ``"deeplabv3plus-resnet101"`` or ``"deeplabv3-resnet101.coco_voc"``; ``family:name`` picks one
            family where several offer the name (``"smp:deeplabv3-resnet101"``).
        num_classes: output channels, a positive int. Defaults to the weights' class count, else the entry's
            default (21). With weights for N classes and ``num_classes=M != N``, everything but the classifier
            is loaded, the classifier keeps its fresh initialisation, and a
            :class:`~zoo.errors.ClassifierReinitializedWarning` says so.
        weights: ``"default"`` (the entry's first record: its default published weights), a weights tag of
            the entry (the same as ``name.tag``), or a :class:`~zoo.WeightRecord`.
        pretrained: ``True`` is ``weights="default"`` (timm's spelling). An entry without published weights
            raises :class:`~zoo.errors.UnknownWeightsError` rather than returning a random model.
        checkpoint: a file of yours to load instead of published weights: ``.pth``/``.pt`` (read with
            ``weights_only=True``) or ``.safetensors``, a state dict, possibly wrapped as ``{"state_dict": ...}``
            or ``{"model": ...}``, possibly with the ``module.`` prefix of (Distributed)DataParallel. Every
            tensor must fit the model built with ``num_classes``.
        progress: show torch.hub's download bar (default: when stderr is a terminal).
        **kwargs: passed to the builder (e.g. ``encoder_weights="imagenet"`` for an ImageNet encoder).

    Returns:
        A ``torch.nn.Module`` in eval mode whose forward maps ``(N, 3, H, W)`` floats to ``(N, C, H, W)``
        logits. ``model.zoo_entry`` is its registry entry, ``model.zoo_weights`` the weight record loaded
        (``None`` otherwise) and ``model.zoo_weights_file`` the :class:`~zoo.hub.WeightsFile` read (path,
        sha256 of the file actually loaded, Hub commit), or ``None`` for a model with no weights loaded.

    Raises:
        UnknownModelError: no such name (the message lists the closest ones).
        UnknownWeightsError: no such weights tag for that entry, or ``pretrained=True`` for an entry without
            published weights.
        UnexpectedArgumentError: (a ``TypeError``) a keyword neither ``create`` nor the builder takes.
        InvalidArgumentError: (a ``ValueError``) a bad ``num_classes``, or contradicting weight choices.
        WeightsMismatchError: the weights or checkpoint do not fit the model (the message lists keys).
        zoo.errors.ChecksumError, OfflineError, DownloadError: the published file could not be had.
        zoo.checkpoint.CorruptCheckpointError, zoo.errors.UnsafeCheckpointError: the file cannot be read.
    """
    entry, tagged = REGISTRY.resolve(name)
    _check_builder_arguments(name, entry, kwargs)
    if num_classes is not None:
        check_num_classes(num_classes, "zoo.create")
    record = _pick_weights(entry, tagged, weights, pretrained=pretrained, checkpoint=checkpoint)
    if num_classes is None:
        num_classes = record.num_classes if record else entry.default_num_classes
    # The file first: an offline or failed download is reported before a large model is built for nothing.
    weights_file = hub.fetch(record, progress=progress) if record is not None else None
    builder_kwargs = {**(record.model_kwargs if record else {}), **kwargs}
    model = entry.builder(num_classes=num_classes, **builder_kwargs)
    model.zoo_weights_file = None
    if record is not None and weights_file is not None:
        _load_record_file(model, record, weights_file)
    elif checkpoint is not None:
        load_checkpoint(model, checkpoint)
    model.zoo_entry = entry
    model.zoo_weights = record
    return model.eval()


def _check_builder_arguments(name: str, entry: ModelEntry, kwargs: Mapping[str, Any]) -> None:
    """Refuse keywords the builder does not take, instead of letting a ``**kwargs`` swallow them.

    A builder with an explicit signature takes exactly its named parameters. One that passes ``**kwargs`` on
    (to a library's model class) takes anything, except a near-miss of a name ``create`` or the builder knows
    (``pretrianed``), which is refused: silently building a random model for ``pretrianed=True`` is the worst
    thing a model zoo can do.
    """
    if not kwargs:
        return
    try:
        parameters = inspect.signature(entry.builder).parameters
    except (TypeError, ValueError):  # a builder whose signature cannot be read: it decides alone
        return
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    named = [
        key
        for key, p in parameters.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and key != "num_classes"
    ]
    known = [*CREATE_ARGUMENTS, *named]
    for key in kwargs:
        if key in named:
            continue
        cutoff = _MISSPELLING_CUTOFF if takes_any else _SUGGESTION_CUTOFF
        close = difflib.get_close_matches(key, known, n=1, cutoff=cutoff)
        if takes_any and not close:
            continue
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        rest = f", and the keywords {entry.family}'s model class takes" if takes_any else ""
        raise UnexpectedArgumentError(
            f"zoo.create({name!r}) got an unexpected keyword argument {key!r}{hint}; "
            f"it takes {', '.join(known)}{rest}"
        )


def _pick_weights(
    entry: ModelEntry,
    tagged: WeightRecord | None,
    weights: str | WeightRecord | None,
    *,
    pretrained: bool,
    checkpoint: str | os.PathLike[str] | None,
) -> WeightRecord | None:
    if checkpoint is not None and (weights is not None or pretrained or tagged is not None):
        if weights is not None:
            asked = f"weights={weights.tag if isinstance(weights, WeightRecord) else weights!r}"
        else:
            asked = "pretrained=True" if pretrained else f"the name's tag {tagged.tag if tagged else ''!r}"
        raise InvalidArgumentError(
            f"{entry.name}: checkpoint={os.fspath(checkpoint)!r} replaces published weights, but {asked} asks "
            f"for them too; give one of the two"
        )
    if pretrained and weights is not None:
        raise InvalidArgumentError(
            f"{entry.name}: pretrained=True and weights={weights!r} both choose weights; give one of the two"
        )
    if pretrained and tagged is None:
        weights = DEFAULT_WEIGHTS
    if weights is None:
        return tagged
    if isinstance(weights, WeightRecord):
        chosen = weights
    elif weights == DEFAULT_WEIGHTS:
        if not entry.weights:
            hint = (
                " (encoder_weights='imagenet' gives an ImageNet-pretrained encoder only)"
                if "encoder_weights" in _parameter_names(entry)
                else ""
            )
            raise UnknownWeightsError(
                f"{entry.name} has no published weights, so there is nothing pretrained to load{hint}; "
                f"`zoo list --pretrained` shows the models that have some"
            )
        chosen = entry.weights[0]
    else:
        chosen = entry.get_weights(weights)
    if tagged is not None and tagged != chosen:
        raise InvalidArgumentError(
            f"{entry.name}: the name asks for weights {tagged.tag!r} but weights={chosen.tag!r}; give one"
        )
    return chosen


def _parameter_names(entry: ModelEntry) -> set[str]:
    try:
        return set(inspect.signature(entry.builder).parameters)
    except (TypeError, ValueError):
        return set()


def load_weights(model: nn.Module, record: WeightRecord, *, progress: bool | None = None) -> nn.Module:
    """Fetch (download, cache, verify) the checkpoint of ``record`` and load it into ``model``.

    Every tensor must fit, except the classifier's when ``model`` predicts another number of classes than
    the weights: those tensors (first dimension = the weights' class count) are left as initialised, with a
    :class:`ClassifierReinitializedWarning`. Missing or unexpected keys, and any other shape difference,
    raise :class:`WeightsMismatchError` naming them. ``model.zoo_weights_file`` is set to the file read.
    """
    return _load_record_file(model, record, hub.fetch(record, progress=progress))


def _load_record_file(model: nn.Module, record: WeightRecord, weights_file: hub.WeightsFile) -> nn.Module:
    state = read_state_dict(weights_file.path)
    if record.key_prefix_to_strip:
        prefix = record.key_prefix_to_strip
        state = {k.removeprefix(prefix): v for k, v in state.items()}
    _load_state(model, state, f"{weights_file.path} ({record.source})", reinitialise=record)
    model.zoo_weights_file = weights_file
    return model


def load_checkpoint(model: nn.Module, path: str | os.PathLike[str]) -> nn.Module:
    """Load a checkpoint file of yours into ``model``; every tensor must fit.

    The file is read with :func:`zoo.checkpoint.read_state_dict` (tensors only; ``{"state_dict": ...}`` and
    ``{"model": ...}`` wrappers are unwrapped) and the ``module.`` prefix that (Distributed)DataParallel
    adds to every key is removed. ``model.zoo_weights_file`` is set to the file and its sha256.

    Raises:
        zoo.checkpoint.CheckpointNotFoundError, CorruptCheckpointError, UnsafeCheckpointError: see
            :func:`~zoo.checkpoint.read_state_dict`.
        WeightsMismatchError: keys or shapes differ; the message lists the first ones.
    """
    state = read_state_dict(path)
    if state and all(key.startswith(_DATA_PARALLEL_PREFIX) for key in state):
        state = {key.removeprefix(_DATA_PARALLEL_PREFIX): value for key, value in state.items()}
    _load_state(model, state, os.fspath(path), reinitialise=None)
    resolved = Path(path).resolve()
    model.zoo_weights_file = hub.WeightsFile(
        path=resolved, sha256=hub.file_sha256(resolved), commit=None, source=os.fspath(path)
    )
    return model


def _load_state(
    model: nn.Module, state: dict[str, torch.Tensor], origin: str, *, reinitialise: WeightRecord | None
) -> None:
    """Load ``state`` into ``model``, refusing any difference except, for ``reinitialise``'s weights, the
    classifier of another class count."""
    own = model.state_dict()
    missing = sorted(own.keys() - state.keys())
    unexpected = sorted(state.keys() - own.keys())
    if missing or unexpected:
        raise WeightsMismatchError(
            f"{origin} does not fit the model: "
            f"{len(missing)} missing keys {missing[:5]}, {len(unexpected)} unexpected keys {unexpected[:5]}"
        )
    reshaped = {
        k: (tuple(state[k].shape), tuple(own[k].shape)) for k in state if state[k].shape != own[k].shape
    }
    classifier_keys = set()
    if reinitialise is not None:
        classifier_keys = {
            k
            for k, (theirs, ours) in reshaped.items()
            if theirs[0] == reinitialise.num_classes and theirs[1:] == ours[1:]
        }
    if set(reshaped) - classifier_keys:
        details = ", ".join(
            f"{k}: checkpoint {reshaped[k][0]} vs model {reshaped[k][1]}" for k in list(reshaped)[:5]
        )
        raise WeightsMismatchError(
            f"{origin} has {len(reshaped)} tensors of other shapes: {details}{_class_count_hint(reshaped)}"
        )
    if classifier_keys and reinitialise is not None:
        warnings.warn(
            f"weights {reinitialise.tag!r} predict {reinitialise.num_classes} classes but the model predicts "
            f"{next(iter(reshaped.values()))[1][0]}: re-initialised {sorted(classifier_keys)}, kept the rest",
            ClassifierReinitializedWarning,
            stacklevel=4,
        )
        state = {k: v for k, v in state.items() if k not in classifier_keys}
    model.load_state_dict(state, strict=not classifier_keys)


def _class_count_hint(reshaped: Mapping[str, tuple[tuple[int, ...], tuple[int, ...]]]) -> str:
    """When only the first dimension differs, and the same way everywhere, it is the class count."""
    pairs = {(theirs[0], ours[0]) for theirs, ours in reshaped.values() if theirs[1:] == ours[1:] and theirs}
    if len(pairs) == 1 and all(theirs[1:] == ours[1:] and theirs for theirs, ours in reshaped.values()):
        theirs, ours = pairs.pop()
        return f" (it predicts {theirs} classes, the model {ours}: pass num_classes={theirs})"
    return ""
