"""The evaluation sweep behind ``zoo bench eval`` (``zoo-bench``): registry entries evaluated on one dataset
split, one row each appended to a results store.

>>> from zoo.bench.sweep import SweepOptions, run_sweep
>>> outcome = run_sweep(SweepOptions(dataset="voc", models=["deeplabv3-*"], data_root="~/data"))  # doctest: +SKIP
>>> outcome.failures  # doctest: +SKIP
[]

Under torchrun each rank evaluates a contiguous slice of the split and the confusion matrices are summed
(see :mod:`zoo.bench.distributed`); rank 0 alone writes and shows progress.

Each model that finishes is written to the store at once (atomically), so an interrupted sweep loses at
most the model in progress, and ``resume`` skips what is done. A model that fails is logged and recorded in
:attr:`SweepOutcome.failures` and the sweep goes on; a broken dataset stops it (it would break every model).

Importing this module does not import torch.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.registry import REGISTRY, ModelEntry, Registry
from zoo.weights import EvalProtocol, WeightRecord

__all__ = ["Job", "RankFailure", "SweepOptions", "SweepOutcome", "plan_jobs", "protocol_code", "run_sweep"]

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
    save_predictions: str | None = None
    shard: tuple[int, int] | None = None
    dist_timeout: float = 1800.0
    command: str = ""

    def __post_init__(self) -> None:
        from zoo.options import DTYPES, TTA_MODES

        if self.batch_size < 1 or (self.limit is not None and self.limit < 1) or self.workers < 0:
            raise ValueError("batch_size and limit must be at least 1, workers at least 0")
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


@dataclass
class Job:
    """One (model, weights) pair to evaluate, or the reason it cannot be."""

    name: str
    entry: ModelEntry | None = None
    weights: WeightRecord | None = None
    error: str = ""


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
    for name in registry.expand(models):
        try:
            entry, tagged = registry.resolve(name)
        except ZooError as error:
            jobs.append(Job(name, error=str(error)))
            continue
        chosen = tagged or _weights_for(entry, dataset, weights)
        if chosen is None and not allow_untrained:
            jobs.append(Job(name, entry, error=_no_weights_message(entry, dataset, weights)))
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


def _weights_for(entry: ModelEntry, dataset: str, tag: str | None) -> WeightRecord | None:
    if tag:
        return next((w for w in entry.weights if w.tag == tag), None)
    return next((w for w in entry.weights if w.dataset == dataset), None)


def _no_weights_message(entry: ModelEntry, dataset: str, tag: str | None) -> str:
    wanted = f"tagged {tag!r}" if tag else f"for {dataset}"
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
    return (model, job.weights.tag if job.weights else "untrained" if job.entry else "", dataset)


def open_store(path: str | Path):
    """The results store the sweep appends to."""
    from zoo.results import ResultsStore

    return ResultsStore(Path(path))


def run_sweep(options: SweepOptions, *, console=None, dist=None) -> SweepOutcome:
    """Evaluate every job of ``options`` and append a row per model to ``options.results``.

    Args:
        options: what to evaluate, where, how.
        console: a :class:`rich.console.Console` for the progress bars (none without).
        dist: the :class:`~zoo.bench.distributed.DistContext` (default: not distributed).

    Returns:
        The rows written and the failures.

    Raises:
        DeviceUnavailableError: ``options.device`` does not exist here (before any model is built).
        DatasetError: the dataset cannot be read (before any model is built, or at the first broken sample).
        ResultsFileError: the results store exists but cannot be used.
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
    from zoo.bench.environment import environment, environment_id, resolve_device
    from zoo.classes import LABEL_SPACES
    from zoo.results import ACCURACY

    dist = dist or DistContext()
    results = shard_results_path(options.results, *options.shard) if options.shard else Path(options.results)
    device = str(resolve_device(dist.device(options.device)))  # a missing device stops here, before anything
    dist.init(device, options.dist_timeout)
    dataset = _dataset(options)  # a missing root or split list stops here, before any model is built
    num_images = len(dataset) if options.limit is None else min(options.limit, len(dataset))
    split = options.split if num_images == len(dataset) else f"{options.split}[:{num_images}]"
    classes = LABEL_SPACES[options.dataset]
    store = open_store(results)

    def main_state():  # rank 0's environment and store decide for every rank, so all skip the same jobs
        env = environment(device)
        if dist.enabled:  # one result from W devices: its own environment id, apart from one device's
            env["device_name"] = f"{dist.world_size} x {env['device_name']}"
        return env, store.done_keys() if options.resume else set()

    env, done = dist.broadcast(main_state)
    env_id = environment_id(env)
    jobs = plan_jobs(
        options.models, options.dataset, weights=options.weights, allow_untrained=options.allow_untrained
    )
    if options.shard:
        jobs = shard_jobs(jobs, lambda job: _job_key(job, options.dataset), *options.shard)
    outcome = SweepOutcome(failures=[(job.name, job.error) for job in jobs if job.error], results=results)

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
               TimeElapsedColumn(), TimeRemainingColumn())  # fmt: skip
    shown = console is not None and dist.is_main
    with Progress(*columns, console=console, transient=False, disable=not shown) as progress:
        runnable = [job for job in jobs if not job.error]
        models_task = progress.add_task("models", total=len(runnable), rate="")
        for job in runnable:
            protocol = job.weights.protocol if job.weights else _untrained_protocol()
            row = _row_template(job, options, split, num_images, protocol, device, env, env_id)
            if dist.enabled:
                row["device"] = f"{dist.world_size} x {torch.device(device).type}"
            if ACCURACY.key(row) in done:
                logger.info("skip %s.%s: already in %s", job.name, row["weights"], results)
                progress.advance(models_task)
                continue
            indices = _shard_indices(num_images, dist)
            images_task = progress.add_task(f"{job.name}.{row['weights']}", total=len(indices), rate="")
            try:
                result = _evaluate_job(
                    job, options, dataset, indices, protocol, device, len(classes),
                    lambda n, task=images_task: progress.advance(task, n),
                )  # fmt: skip
                error = None
            except KeyboardInterrupt:
                raise
            except Exception as e:  # one model's failure must not stop the sweep
                result, error = None, e
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
                       notes="; ".join(result.notes))  # fmt: skip
            per_class = [
                {"class_index": i, "class_name": name, **summary["per_class"][name]}
                for i, name in enumerate(classes)
            ]
            if dist.is_main:
                store.append(row, per_class)
            outcome.rows.append(row)
            progress.update(images_task, rate=f"{result.images_per_s:.2f} img/s")
            progress.advance(models_task)
    if dist.is_main and options.shard and not store.path.exists():
        # a shard with no job to run (more shards than jobs) still says it ran, or merge reports it missing
        store.replace(store.read())
    return outcome


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


def _row_template(job, options, split, num_images, protocol, device, env, env_id) -> dict[str, Any]:
    from zoo import __version__

    return {
        "model": job.entry.name,
        "weights": job.weights.tag if job.weights else "untrained",
        "dataset": options.dataset,
        "split": split,
        "num_images": num_images,
        "protocol": protocol_code(protocol, options.tta),
        "protocol_json": json.dumps(asdict(protocol), sort_keys=True),
        "tta": options.tta,
        "device": str(device),
        "dtype": options.dtype,
        "batch_size": options.batch_size,
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
        "notes": "",
    }


def _evaluate_job(job, options, dataset, indices, protocol, device, num_classes, on_image):
    """Build one job's model and evaluate it on the images ``indices`` of ``dataset``."""
    import torch

    from zoo.bench.evaluate import evaluate, make_loader
    from zoo.factory import create

    torch.manual_seed(0)  # an untrained model's random initialisation, and so its row, is reproducible
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # frameworks' deprecation chatter, not ours
        model = create(job.entry.qualified_name, weights=job.weights, num_classes=num_classes)
    # with workers, decoding (and on the CPU preprocessing) overlaps the forward
    samples = make_loader(dataset, indices, protocol, tta=options.tta, workers=options.workers, device=device)
    on_prediction = None
    if options.save_predictions:
        from zoo.bench.predictions import save_prediction

        folder = (
            Path(options.save_predictions)
            / f"{job.entry.name}.{job.weights.tag if job.weights else 'untrained'}"
        )

        def on_prediction(sample_id, prediction):
            save_prediction(options.dataset, prediction, sample_id, folder)

    return evaluate(
        model, samples, protocol, num_classes, device=device, dtype=options.dtype, batch_size=options.batch_size,
        tta=options.tta,
        on_image=on_image, on_prediction=on_prediction,
    )  # fmt: skip
