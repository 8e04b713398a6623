"""The evaluation sweep behind ``zoo bench eval`` (``zoo-bench``): registry entries evaluated on one dataset
split, one row each appended to a results store.

>>> from zoo.bench.sweep import SweepOptions, run_sweep
>>> outcome = run_sweep(SweepOptions(dataset="voc", models=["deeplabv3-*"], data_root="~/data"))  # doctest: +SKIP
>>> outcome.failures  # doctest: +SKIP
[]

Under torchrun each rank evaluates a contiguous slice of the split and the confusion matrices are summed
(see :mod:`zoo.bench.distributed`); rank 0 alone writes and shows progress.

Before any model is built, the store is checked (:meth:`~zoo.results.ResultsStore.preflight`: it can be
read, is in the current layout and can be written) and the rows planned are looked up in it: rows already
stored are skipped with ``resume``, replaced with ``overwrite``, and otherwise stop the sweep before any work
(:class:`~zoo.errors.DuplicateResultError`). Each model that finishes is written to the store at once
(atomically), so an interrupted sweep loses at most the model in progress. A row that cannot be written after
all (a disk filled meanwhile) is printed in full and kept in a recovery file (:class:`UnsavedResultError`),
and the sweep goes on. A model that fails is logged and recorded in :attr:`SweepOutcome.failures` and the
sweep goes on; a broken dataset stops it (it would break every model).

``checkpoint`` evaluates a file of the user's own weights (one model); its protocol is a published record's
(``protocol_from="deeplabv3-resnet101.coco_voc"``) with any of ``mean``, ``std``, ``value_scale``,
``resize``, ``size_divisor`` and ``slide`` replaced, or only those (``mean``, ``std`` and ``resize`` then
needed). Its row says ``weights="checkpoint"``; every row records the sha256 of the file loaded
(``weights_sha256``) and, for Hugging Face files, the commit (``weights_revision``).

Importing this module does not import torch.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from zoo.errors import DuplicateResultError, UnsavedResultError, UsageError, ZooError
from zoo.registry import REGISTRY, ModelEntry, Registry
from zoo.weights import EvalProtocol, WeightRecord, protocol_variant

__all__ = [
    "CHECKPOINT_WEIGHTS",
    "RESIZE_RULES",
    "Job",
    "RankFailure",
    "SweepOptions",
    "SweepOutcome",
    "checkpoint_protocol",
    "plan_jobs",
    "protocol_code",
    "report_unsaved",
    "run_sweep",
]

#: The ``weights`` column of a row evaluated from ``--checkpoint`` (its file is named by ``weights_sha256``).
CHECKPOINT_WEIGHTS = "checkpoint"
#: The options that set a checkpoint's protocol (only with ``checkpoint``).
_PROTOCOL_FIELDS = ("protocol_from", "mean", "std", "value_scale", "resize", "size_divisor", "slide")
#: ``--resize`` rule names (as typed) -> :attr:`EvalProtocol.resize`, with how many sizes each takes.
RESIZE_RULES: dict[str, tuple[str, int]] = {
    "none": ("none", 0),
    "shorter": ("shorter_side", 1),
    "shorter_side": ("shorter_side", 1),
    "fit": ("fit", 2),
    "fixed": ("fixed", 2),
}

logger = logging.getLogger(__name__)


@dataclass
class SweepOptions:
    """What one evaluation sweep does; the fields are ``zoo bench eval``'s options (defaults included).

    Attributes:
        dataset: ``voc``, ``cityscapes`` or ``ade20k``.
        models: names or fnmatch patterns (``segformer-*``).
        data_root: the folder holding the dataset's official layout (default: ``$ZOO_DATA``, then the user
            data folder).
        source: ``hf:REPO[:CONFIG]`` or a folder of parquet/arrow files, instead of ``data_root``.
        split: the split evaluated.
        weights: a weights tag (default: each entry's weights for ``dataset``).
        allow_untrained: evaluate entries without weights for ``dataset`` (randomly initialised).
        batch_size: images per forward pass (at least 1).
        dtype: ``fp32``, ``bf16`` or ``fp16``.
        device: ``cuda``, ``cuda:1``, ``cpu``, ... (default: cuda when available).
        tta: test-time augmentation: ``none``, ``flip``, ``ms`` or ``ms+flip``.
        limit: only the first N images of the split (at least 1).
        workers: data-loading processes.
        results: the results store (``.csv`` or ``.parquet``; a folder with ``shard``).
        resume: skip the rows the store already has.
        overwrite: replace the rows the store already has (not with ``resume``).
        threads: torch's CPU threads, intra-op and inter-op (default: torch's own default, i.e.
            ``$OMP_NUM_THREADS`` or the number of physical cores), set before the first model and recorded.
        checkpoint: a file of your own weights for the one model named (``.pth``/``.pt``/``.safetensors``).
        protocol_from: ``NAME.TAG``: with ``checkpoint``, evaluate with that published record's protocol.
        checkpoint_classes: with ``checkpoint``, the output channels of the checkpoint's model when they differ
            from the dataset's class count: 1 for a binary model trained with a sigmoid (scored as sigmoid >
            0.5 on two-class data).
        mean, std: with ``checkpoint``, per-channel normalisation (replacing the borrowed protocol's).
        value_scale: ``1.0`` or ``255.0``: the pixel range ``mean``/``std`` apply to (default: 255 when a mean
            exceeds 1, else 1).
        resize: with ``checkpoint``, ``(rule, sizes)``: ``("none", ())``, ``("shorter", (520,))``,
            ``("fit", (2048, 512))`` (long, short) or ``("fixed", (512, 1024))`` (height, width).
        size_divisor: with ``checkpoint``, pad the input to a multiple of this.
        slide: with ``checkpoint``, ``((crop_h, crop_w), (stride_h, stride_w))`` for sliding-window inference.
        save_predictions: a folder to write predictions to, in the dataset's official format.
        shard: ``(K, N)``: run only shard K (0-based) of N of the sweep's jobs.
        dist_timeout: under torchrun, how long a rank waits for the others, in seconds.
        command: the command line stored with every row.
    """

    dataset: str
    models: Sequence[str]
    data_root: str | None = None
    source: str | None = None
    split: str = "val"
    weights: str | None = None
    allow_untrained: bool = False
    batch_size: int = 1
    dtype: str = "fp32"
    device: str | None = None
    tta: str = "none"
    limit: int | None = None
    workers: int = 0
    results: str = "results.csv"
    resume: bool = False
    overwrite: bool = False
    threads: int | None = None
    checkpoint: str | None = None
    protocol_from: str | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    value_scale: float | None = None
    resize: tuple[str, tuple[int, ...]] | None = None
    size_divisor: int | None = None
    slide: tuple[tuple[int, int], tuple[int, int]] | None = None
    save_predictions: str | None = None
    protocol: str | None = None
    checkpoint_classes: int | None = None
    shard: tuple[int, int] | None = None
    dist_timeout: float = 1800.0
    command: str = ""

    def __post_init__(self) -> None:
        from zoo.options import DTYPES, TTA_MODES

        if self.batch_size < 1 or (self.limit is not None and self.limit < 1) or self.workers < 0:
            raise ValueError("batch_size and limit must be at least 1, workers at least 0")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")
        if self.resume and self.overwrite:
            raise ValueError("resume skips stored rows and overwrite replaces them: choose one")
        if self.dist_timeout <= 0:
            raise ValueError(f"dist_timeout must be positive, got {self.dist_timeout}")
        if self.dtype not in DTYPES or self.tta not in TTA_MODES:
            raise ValueError(f"dtype must be one of {DTYPES} and tta one of {TTA_MODES}")


@dataclass
class SweepOutcome:
    """What a sweep did: the rows it wrote (in order), the ``(name, reason)`` of every model that failed or
    could not run, and the store it wrote to."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    results: Path = Path("results.csv")
    #: rows computed but not stored (see :class:`UnsavedResultError`): ``(row, where it was kept or "")``
    unsaved: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    #: rows the store already held and that were skipped (``resume``) or replaced (``overwrite``)
    already_stored: int = 0
    #: models a wildcard pattern matched that have no weights for the dataset (or the tag asked for): not
    #: applicable, so neither run nor counted as failures (``--models '*'`` would otherwise always fail)
    skipped: list[str] = field(default_factory=list)
    #: the models of ``failures`` named one by one that have no weights for the dataset, in order
    without_weights: list[str] = field(default_factory=list)
    #: which weights they lack: ``for voc`` or ``tagged 'coco_voc'``
    wanted: str = ""
    #: how many models the sweep (this shard of it) named
    planned: int = 0

    def skip_report(self) -> str | None:
        """One line for :attr:`skipped` (``None`` when there are none)."""
        if not self.skipped:
            return None
        return (
            f"skipped {len(self.skipped)} of the {self.planned} models: matched by a pattern, without weights "
            f"{self.wanted} ({_first_three(self.skipped)}); --allow-untrained evaluates them anyway"
        )

    def failure_report(self) -> list[tuple[str, str]]:
        """``failures`` as a person reads them: one ``(name, reason)`` each, except that the models without
        weights share one line when there are several, placed first.

        Returns:
            ``(what failed, why)`` pairs, for lines such as ``failed NAME: REASON``.
        """
        if len(self.without_weights) < 2:
            return list(self.failures)
        names = self.without_weights
        summary = (
            f"{len(names)} of the {self.planned} models named",
            f"no weights {self.wanted} ({_first_three(names)}); --allow-untrained evaluates them anyway",
        )
        grouped = set(names)
        return [summary, *(failure for failure in self.failures if failure[0] not in grouped)]


def _first_three(names: Sequence[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


@dataclass
class Job:
    """One (model, weights) pair to evaluate, or the reason it cannot be.

    ``checkpoint`` (with ``protocol``) is a file of the user's own weights, instead of ``weights``."""

    name: str
    entry: ModelEntry | None = None
    weights: WeightRecord | None = None
    error: str = ""
    checkpoint: Path | None = None
    checkpoint_protocol: EvalProtocol | None = None
    #: a named variant of the published protocol (``--protocol mmseg``), see :func:`zoo.weights.protocol_variant`
    variant: str | None = None
    #: the reason it cannot run is that the entry has no weights for the dataset (or the tag asked for)
    without_weights: bool = False
    #: named by a wildcard pattern (``'unet-*'``), not one by one
    matched: bool = False

    @property
    def weights_label(self) -> str:
        """The ``weights`` column: the record's tag, ``"checkpoint"`` or ``"untrained"``."""
        if self.checkpoint is not None:
            return CHECKPOINT_WEIGHTS
        return self.weights.tag if self.weights else "untrained"

    @property
    def protocol(self) -> EvalProtocol:
        """How this job's images are prepared and predicted: the checkpoint's, the published weights' or the
        untrained protocol, as the ``--protocol`` variant where one is named (refused where it is not defined)."""
        if self.checkpoint_protocol is not None:
            base = self.checkpoint_protocol
        elif self.weights is None:
            base = _untrained_protocol()
        else:
            base = self.weights.protocol
        return protocol_variant(base, self.variant)


class RankFailure(RuntimeError):
    """Another rank failed on this model; its message says which and how."""


def plan_jobs(
    models: Sequence[str],
    dataset: str,
    *,
    weights: str | None = None,
    allow_untrained: bool = False,
    registry: Registry = REGISTRY,
) -> list[Job]:
    """One :class:`Job` per model the patterns name: its entry and weights, or why it cannot run (an unknown
    name, no weights for ``dataset``, weights for another label space)."""
    jobs = []
    named = {m for m in models if not any(c in m for c in "*?[")}
    for name in registry.expand(models):
        try:
            entry, tagged = registry.resolve(name)
        except ZooError as error:
            jobs.append(Job(name, error=str(error)))
            continue
        chosen = tagged or _weights_for(entry, dataset, weights)
        if chosen is None and not allow_untrained:
            message = _no_weights_message(entry, dataset, weights)
            jobs.append(Job(name, entry, error=message, without_weights=True, matched=name not in named))
        elif chosen is not None and chosen.dataset != dataset:
            jobs.append(
                Job(
                    name,
                    entry,
                    error=f"weights {chosen.tag!r} predict {chosen.dataset} classes, not {dataset}",
                )
            )
        else:
            jobs.append(Job(name, entry, chosen))
    return jobs


def plan_checkpoint_job(options: SweepOptions, registry: Registry = REGISTRY) -> Job:
    """The one job of a ``checkpoint`` sweep: the model named, the file (which must exist) and its protocol.

    Raises:
        UsageError: not exactly one model named, or ``weights``/``allow_untrained`` given too.
        UnknownModelError: the model is not registered.
        CheckpointNotFoundError: no such file.
    """
    from zoo.errors import CheckpointNotFoundError

    names = registry.expand(options.models)
    if len(names) != 1:
        raise UsageError(
            f"--checkpoint evaluates one model, --models names {len(names)} ({', '.join(names)}): name the "
            "architecture the checkpoint was trained with"
        )
    if options.weights or options.allow_untrained:
        raise UsageError("--checkpoint replaces --weights and --allow-untrained: give only --checkpoint")
    entry, tagged = registry.resolve(names[0])
    if tagged is not None:
        raise UsageError(f"--models {names[0]!r} names weights; with --checkpoint give the model only")
    path = Path(options.checkpoint or "").expanduser()
    if not path.is_file():
        raise CheckpointNotFoundError(f"checkpoint {str(path)!r} does not exist or is not a file")
    return Job(names[0], entry, checkpoint=path, checkpoint_protocol=checkpoint_protocol(options, registry))


def checkpoint_protocol(options: SweepOptions, registry: Registry = REGISTRY) -> EvalProtocol:
    """The protocol a ``checkpoint`` is evaluated with: ``protocol_from``'s, with the fields ``options`` gives
    replaced; without ``protocol_from``, ``mean``, ``std`` and ``resize`` are needed (nothing is guessed).

    Raises:
        UsageError: a needed field missing, ``protocol_from`` not naming weights, or an inconsistent protocol
            (the problems listed).
    """
    changes: dict[str, Any] = {}
    if options.mean is not None:
        changes["mean"] = tuple(options.mean)
    if options.std is not None:
        changes["std"] = tuple(options.std)
    if options.value_scale is not None:
        changes["value_scale"] = float(options.value_scale)
    elif options.mean is not None:
        changes["value_scale"] = 255.0 if max(options.mean) > 1 else 1.0
    if options.resize is not None:
        rule, sizes = options.resize
        changes["resize"] = RESIZE_RULES[rule][0] if rule in RESIZE_RULES else rule
        changes["resize_size"] = tuple(sizes) or None
    if options.size_divisor is not None:
        changes["size_divisor"] = options.size_divisor
    if options.slide is not None:
        changes.update(inference="slide", crop_size=tuple(options.slide[0]), stride=tuple(options.slide[1]))
    if options.protocol_from:
        entry, record = registry.resolve(options.protocol_from)
        if record is None:
            tags = ", ".join(f"{entry.name}.{w.tag}" for w in entry.weights) or "none"
            raise UsageError(
                f"--protocol-from {options.protocol_from!r} names no weights: give NAME.TAG (with weights: {tags})"
            )
        protocol = replace(record.protocol, **changes)
    else:
        missing = [flag for flag, name in (("--mean", "mean"), ("--std", "std"), ("--resize", "resize"))
                   if name not in changes]  # fmt: skip
        if missing:
            raise UsageError(
                f"--checkpoint needs its protocol: --protocol-from NAME.TAG, or {', '.join(missing)} "
                "(with --size-divisor and --slide where the model needs them)"
            )
        protocol = EvalProtocol(**changes)
    problems = protocol.problems()
    if problems:
        raise UsageError(f"the checkpoint's protocol is inconsistent: {'; '.join(problems)}")
    return protocol


def _weights_for(entry: ModelEntry, dataset: str, tag: str | None) -> WeightRecord | None:
    if tag:
        return next((w for w in entry.weights if w.tag == tag), None)
    return next((w for w in entry.weights if w.dataset == dataset), None)


def _wanted(dataset: str, tag: str | None) -> str:
    return f"tagged {tag!r}" if tag else f"for {dataset}"


def _no_weights_message(entry: ModelEntry, dataset: str, tag: str | None) -> str:
    wanted = _wanted(dataset, tag)
    have = ", ".join(f"{w.tag} ({w.dataset})" for w in entry.weights) or "none"
    return f"{entry.name} has no weights {wanted} (it has: {have}); --allow-untrained evaluates it anyway"


def protocol_code(protocol: EvalProtocol, tta: str) -> str:
    """A short readable protocol label such as ``ss whole 520`` or ``ms+flip slide 1024``."""
    prefix = {"none": "ss", "flip": "ss+flip", "ms": "ms", "ms+flip": "ms+flip"}[tta]
    return protocol.short_code().replace("ss ", f"{prefix} ", 1)


def _dataset(options: SweepOptions):
    if options.source:
        from zoo.datasets.hf import HubSegmentation

        return HubSegmentation(options.source, options.dataset, options.split)
    from zoo.datasets import get_dataset
    from zoo.datasets.locations import default_data_root

    return get_dataset(options.dataset, options.data_root or default_data_root(), options.split)


def _job_key(job: Job, dataset: str) -> tuple[str, ...]:
    """What a shard sorts and splits: (model, weights, dataset)."""
    model = job.entry.qualified_name if job.entry else job.name
    return (model, job.weights_label if job.entry else "", dataset)


def open_store(path: str | Path):
    """The results store the sweep appends to."""
    from zoo.results import ResultsStore

    return ResultsStore(Path(path))


def run_sweep(options: SweepOptions, *, console=None, dist=None) -> SweepOutcome:
    """Evaluate every job of ``options`` and append a row per model to ``options.results``.

    Args:
        options: what to evaluate, where, how.
        console: a :class:`rich.console.Console` for the progress bars and for rows that could not be stored
            (none without: those are logged).
        dist: the :class:`~zoo.bench.distributed.DistContext` (default: not distributed).

    Returns:
        The rows written, the failures, and the rows computed but not stored.

    Raises:
        DeviceUnavailableError: ``options.device`` does not exist here (before any model is built).
        DatasetError: the dataset cannot be read (before any model is built, or at the first broken sample).
        ResultsFileError: the results store cannot be read, is in another layout, or cannot be written
            (before any model is built).
        DuplicateResultError: the store already holds planned rows and neither ``resume`` nor ``overwrite``
            was given (before any model is built).
        UsageError, CheckpointNotFoundError: an unusable ``checkpoint`` or protocol (before any model is built).
        KeyboardInterrupt: the rows written so far stay whole.
    """
    import torch
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from zoo.bench.distributed import DistContext, shard_jobs, shard_results_path
    from zoo.bench.environment import environment, environment_id, resolve_device, set_threads
    from zoo.classes import LABEL_SPACES
    from zoo.results import ACCURACY

    dist = dist or DistContext()
    results = shard_results_path(options.results, *options.shard) if options.shard else Path(options.results)
    device = str(resolve_device(dist.device(options.device)))  # a missing device stops here, before anything
    threads = set_threads(options.threads)  # before anything runs on the CPU; recorded in every row
    protocol_flags = [
        f"--{name.replace('_', '-')}" for name in _PROTOCOL_FIELDS if getattr(options, name) is not None
    ]
    if protocol_flags and not options.checkpoint:
        raise UsageError(
            f"{', '.join(protocol_flags)} set the protocol of a --checkpoint: give --checkpoint FILE too (published "
            "weights are evaluated with their own protocol)"
        )
    if options.checkpoint_classes is not None and not options.checkpoint:
        raise UsageError(
            "--checkpoint-classes gives the output channels of a --checkpoint: give --checkpoint FILE too "
            "(published weights know their own)"
        )
    if options.checkpoint:
        jobs = [plan_checkpoint_job(options)]
    else:
        jobs = plan_jobs(
            options.models, options.dataset, weights=options.weights, allow_untrained=options.allow_untrained
        )
    dist.init(device, options.dist_timeout)
    dataset = _dataset(options)  # a missing root or split list stops here, before any model is built
    num_images = len(dataset) if options.limit is None else min(options.limit, len(dataset))
    split = dataset.split if num_images == len(dataset) else f"{dataset.split}[:{num_images}]"
    # a folder of the user's own is stored as folder:<name>@<digest of its files>, never as a benchmark
    dataset_name = dataset.spec.result_name
    if options.save_predictions and not dataset.spec.official:
        raise UsageError(
            f"--save-predictions writes the official benchmarks' submission formats; {dataset_name} is a folder "
            "of your own: leave --save-predictions out"
        )
    classes = tuple(getattr(dataset, "classes", ())) or LABEL_SPACES[options.dataset]
    store = open_store(results)
    if options.shard:
        jobs = shard_jobs(jobs, lambda job: _job_key(job, options.dataset), *options.shard)
    runnable = [job for job in jobs if not job.error]
    for job in runnable:
        job.variant = options.protocol
        job.protocol  # noqa: B018  (an unknown --protocol variant stops here, before any model is built)

    def main_state():  # rank 0's environment and store decide for every rank, so all skip the same jobs
        env = environment(device)
        if dist.enabled:  # one result from W devices: its own environment id, apart from one device's
            env["device_name"] = f"{dist.world_size} x {env['device_name']}"
        env_id = environment_id(env)
        planned = [
            _row_template(job, options, dataset_name, split, num_images, device, env, env_id)
            for job in runnable
        ]
        report = store.preflight(planned)  # before any model: a store that cannot take the rows stops here
        for note in report.notes:
            logger.warning("%s", note)
        stored = [row for row in planned if ACCURACY.key(row) in report.stored]
        if stored and not (options.resume or options.overwrite):
            raise DuplicateResultError(_already_stored_message(results, stored, len(planned)))
        if stored:
            logger.info(
                "%s already holds %d of the %d planned row(s): %s",
                results,
                len(stored),
                len(planned),
                "skipped (--resume)" if options.resume else "replaced as they finish (--overwrite)",
            )
        return env, set(report.stored)

    try:
        env, stored = dist.broadcast(main_state)
    except RuntimeError as error:  # on the other ranks: rank 0 refused the store (and says why, with exit 2)
        if dist.is_main:
            raise
        raise ZooError(str(error)) from None
    env_id = environment_id(env)
    skipped = [job for job in jobs if job.without_weights and job.matched]
    if len(skipped) == len(jobs) and not options.shard:
        skipped = []  # nothing at all can run: that is a failure, not a skip (a shard may have nothing to do)
    skipped_names = {job.name for job in skipped}
    outcome = SweepOutcome(
        failures=[(job.name, job.error) for job in jobs if job.error and job.name not in skipped_names],
        results=results,
        skipped=[job.name for job in skipped],
        without_weights=[job.name for job in jobs if job.without_weights and job.name not in skipped_names],
        wanted=_wanted(options.dataset, options.weights),
        planned=len(jobs),
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
               TimeElapsedColumn(), TimeRemainingColumn())  # fmt: skip
    shown = console is not None and dist.is_main
    with Progress(*columns, console=console, transient=False, disable=not shown) as progress:
        models_task = progress.add_task("models", total=len(runnable), rate="")
        for job in runnable:
            protocol = job.protocol
            row = _row_template(job, options, dataset_name, split, num_images, device, env, env_id)
            if threads.note:
                row["notes"] = threads.note
            if ACCURACY.key(row) in stored:
                outcome.already_stored += 1
                if options.resume:
                    logger.info("skip %s.%s: already in %s", job.name, row["weights"], results)
                    progress.advance(models_task)
                    continue
            if dist.enabled:
                row["device"] = f"{dist.world_size} x {torch.device(device).type}"
            indices = _shard_indices(num_images, dist)
            images_task = progress.add_task(f"{job.name}.{row['weights']}", total=len(indices), rate="")
            try:
                result, weights_file = _evaluate_job(
                    job, options, dataset, indices, protocol, device, len(classes),
                    lambda n, task=images_task: progress.advance(task, n),
                )  # fmt: skip
                error = None
            except KeyboardInterrupt:
                raise
            except Exception as e:  # one model's failure must not stop the sweep
                result, weights_file, error = None, None, e
            if dist.enabled:  # every rank learns whether every rank succeeded before anything is written
                result, error = _combine_ranks(dist, result, error, num_images)
            if error is not None:
                outcome.failures.append((job.name, f"{type(error).__name__}: {error}"))
                logger.error("failed %s: %s", job.name, error)
                progress.remove_task(images_task)
                progress.advance(models_task)
                if _is_data_error(error):
                    raise error
                continue
            from zoo.metrics import summarize

            summary = summarize(result.matrix, classes)
            row.update({k: summary[k] for k in ("mIoU", "aAcc", "mAcc", "fwIoU", "mDice")})
            row.update(images_per_s=result.images_per_s, wall_s=result.wall_s, batch_size=result.batch_size,
                       notes="; ".join([*([row["notes"]] if row["notes"] else []), *result.notes]))  # fmt: skip
            if weights_file is not None:
                row.update(weights_sha256=weights_file.sha256, weights_revision=weights_file.commit or "")
            per_class = [
                {"class_index": i, "class_name": name, **summary["per_class"][name]}
                for i, name in enumerate(classes)
            ]
            progress.update(images_task, rate=f"{result.images_per_s:.2f} img/s")
            progress.advance(models_task)
            if dist.is_main and not _stored(store, row, per_class, options.overwrite, outcome, console):
                outcome.failures.append((job.name, "computed but not stored: " + outcome.unsaved[-1][1]))
                continue
            outcome.rows.append(row)
    if dist.is_main and options.shard and not store.path.exists():
        # a shard with no job to run (more shards than jobs) still says it ran, or merge reports it missing
        store.replace(store.read())
    return outcome


def _already_stored_message(results: Path, stored: list[dict[str, Any]], planned: int) -> str:
    names = [f"{row['model']}.{row['weights']}" for row in stored]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (
        f"{results} already holds {len(stored)} of the {planned} planned row(s) ({shown}); nothing was run: "
        "add --resume to skip them, or --overwrite to replace them"
    )


def _stored(store, row, per_class, overwrite: bool, outcome, console) -> bool:
    """Append a computed row; when the store refuses it (a disk filled meanwhile, another writer stored the
    key meanwhile), show the row in full and where it was kept, and return ``False`` so the sweep goes on."""
    try:
        store.append(row, per_class, overwrite=overwrite)
        return True
    except (UnsavedResultError, DuplicateResultError) as error:
        report_unsaved(error, row, console)
        outcome.unsaved.append((row, str(getattr(error, "recovery_path", None) or error)))
        return False


def report_unsaved(error: Exception, row: dict[str, Any], console=None) -> None:
    """Show a row the store refused after it was computed, in full (JSON), with why and where it was kept.

    :class:`UnsavedResultError` names the recovery file the store saved it to (and the command that restores
    it); a :class:`DuplicateResultError` after the preflight means another writer stored the key meanwhile.
    Printed through ``console`` (never folded, so the JSON can be copied), else logged.
    """
    message = str(error)
    if isinstance(error, DuplicateResultError):
        message += " (stored meanwhile by another writer); rerun with --overwrite to replace it"
    line = json.dumps(row, default=str)
    if console is None:
        logger.error("not stored: %s; the row: %s", message, line)
        return
    from rich.text import Text

    console.print(Text.assemble(("not stored: ", "bold red"), message), soft_wrap=True)
    console.print(Text(f"the row: {line}"), soft_wrap=True)


def _shard_indices(num_images: int, dist) -> range:
    from zoo.bench.distributed import shard_range

    return shard_range(num_images, dist.world_size, dist.rank)


def _combine_ranks(dist, result, error, num_images):
    """Every rank's outcome, gathered on every rank: ``(summed result, None)`` when all succeeded, else
    ``(None, the first failure)``. A collective on every rank, so a rank that raised never leaves the
    others waiting; only when every rank succeeded are the confusion matrices summed."""
    from zoo.bench.evaluate import EvalResult

    status = (
        {"error": f"{type(error).__name__}: {error}", "data_error": _is_data_error(error)}
        if error is not None
        else {"count": result.num_images, "wall_s": result.wall_s, "batch_size": result.batch_size,
              "notes": result.notes}
    )  # fmt: skip
    statuses = dist.gather(status)
    failed = [(rank, s) for rank, s in enumerate(statuses) if "error" in s]
    if failed:
        # every rank takes the same decision: a data error anywhere stops the sweep on all of them
        data_errors = [(rank, s) for rank, s in failed if s["data_error"]]
        rank, first = (data_errors or failed)[0]
        if error is not None and dist.rank == rank:
            return None, error
        message = f"rank {rank} of {dist.world_size}: {first['error']}"
        if data_errors:
            from zoo.errors import DatasetError

            return None, DatasetError(message)
        return None, RankFailure(message)
    matrix = dist.sum_matrix(result.matrix)
    count = sum(s["count"] for s in statuses)
    if count != num_images:  # never a row for a split evaluated twice in part, or in part not at all
        return None, RuntimeError(f"the ranks evaluated {count} images, the split has {num_images}")
    wall_s = max(s["wall_s"] for s in statuses)
    notes = list(dict.fromkeys(n for s in statuses for n in s["notes"]))
    notes.append(
        f"data-parallel over {dist.world_size} ranks: images_per_s is the aggregate, "
        f"{count} images / the slowest rank's wall time"
    )
    batch_size = min(s["batch_size"] for s in statuses)
    return EvalResult(matrix, count, wall_s, batch_size, notes), None


def _untrained_protocol() -> EvalProtocol:
    from zoo.bench.evaluate import UNTRAINED_PROTOCOL

    return UNTRAINED_PROTOCOL


def _is_data_error(error: Exception) -> bool:
    """A broken sample breaks every model the same way: stop rather than fail them all."""
    from zoo.errors import DatasetError

    return isinstance(error, DatasetError)


def _row_template(job, options, dataset_name, split, num_images, device, env, env_id) -> dict[str, Any]:
    """A job's row before it is evaluated: every key column is known, so the store can be checked first."""
    from zoo import __version__
    from zoo.results import METRIC_COLUMNS

    protocol = job.protocol
    return {
        "model": job.entry.name,
        "weights": job.weights_label,
        "weights_sha256": "",
        "weights_revision": "",
        "dataset": dataset_name,
        "split": split,
        "num_images": num_images,
        "protocol": protocol_code(protocol, options.tta),
        "protocol_json": json.dumps(asdict(protocol), sort_keys=True),
        "tta": options.tta,
        "device": str(device),
        "dtype": options.dtype,
        "batch_size": options.batch_size,
        "threads": int(env["threads"]),
        "images_per_s": None,
        "wall_s": None,
        **dict.fromkeys(METRIC_COLUMNS),
        "environment_id": env_id,
        "device_name": env.get("device_name", ""),
        "torch_version": env.get("torch_version", ""),
        "cuda_version": env.get("cuda_version", ""),
        "zoo_version": __version__,
        "timm_version": env.get("timm_version", ""),
        "smp_version": env.get("smp_version", ""),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": options.command,
        "source": "measured",
        "notes": f"checkpoint {job.checkpoint}" if job.checkpoint else "",
    }


def _evaluate_job(job, options, dataset, indices, protocol, device, num_classes, on_image):
    """Build one job's model and evaluate it on the images ``indices`` of ``dataset``; returns the result and
    the :class:`~zoo.hub.WeightsFile` read (``None`` for an untrained model)."""
    import torch

    from zoo.bench.evaluate import evaluate, make_loader
    from zoo.factory import create

    torch.manual_seed(0)  # an untrained model's random initialisation, and so its row, is reproducible
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # frameworks' deprecation chatter, not ours
        if job.checkpoint is not None:
            # a binary model trained with a sigmoid has one output channel for two classes
            outputs = options.checkpoint_classes or num_classes
            model = create(job.entry.qualified_name, num_classes=outputs, checkpoint=job.checkpoint)
        else:
            model = create(job.entry.qualified_name, weights=job.weights, num_classes=num_classes)
    weights_file = getattr(model, "zoo_weights_file", None)
    # with workers, decoding (and on the CPU preprocessing) overlaps the forward
    samples = make_loader(dataset, indices, protocol, tta=options.tta, workers=options.workers, device=device)
    on_prediction = None
    if options.save_predictions:
        from zoo.bench.predictions import save_prediction

        folder = Path(options.save_predictions) / f"{job.entry.name}.{job.weights_label}"

        def on_prediction(sample_id, prediction):
            save_prediction(options.dataset, prediction, sample_id, folder)

    result = evaluate(
        model, samples, protocol, num_classes, device=device, dtype=options.dtype, batch_size=options.batch_size,
        tta=options.tta,
        on_image=on_image, on_prediction=on_prediction,
    )  # fmt: skip
    return result, weights_file
