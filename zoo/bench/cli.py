"""``zoo-bench``: evaluate registry entries on VOC2012, Cityscapes or ADE20K and append to a results store.

    zoo-bench --dataset voc --data-root ~/data --models 'deeplabv3-*' --weights coco_voc
    zoo-bench --dataset ade20k --models 'segformer-*' --tta flip --limit 200 --results results/ade.csv --resume
    torchrun --nproc-per-node 8 -m zoo.bench --dataset cityscapes --models 'segformer-*'
    zoo-bench --dataset ade20k --models '*' --shard 3/16 --results shards/     # one job of a job array
    zoo-bench merge shards/ --out results.csv

Under torchrun each rank evaluates a contiguous slice of the split and the confusion matrices are summed
(see :mod:`zoo.bench.distributed`); rank 0 alone writes and shows progress.

Each model that finishes is written to the store at once (atomically), so an interrupted sweep loses at
most the model in progress, and ``--resume`` skips what is done. A model that fails is reported and the
sweep goes on; the exit code is 1 when anything failed, 2 for unusable arguments or data, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.registry import REGISTRY, ModelEntry
from zoo.weights import EvalProtocol, WeightRecord

DATASETS = ("voc", "cityscapes", "ade20k")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoo-bench",
        description="Evaluate segmentation models on VOC2012, Cityscapes or ADE20K (official layouts).",
    )
    parser.add_argument("--dataset", required=True, choices=DATASETS)
    parser.add_argument("--data-root", help="folder holding VOCdevkit/, cityscapes/ or ADEChallengeData2016/ "
                        "(default: $ZOO_DATA, then the user data folder)")  # fmt: skip
    parser.add_argument(
        "--source", help="hf:REPO[:CONFIG] or a folder of parquet/arrow files instead of --data-root"
    )
    parser.add_argument("--split", default="val")
    parser.add_argument(
        "--models", nargs="+", required=True, help="names or fnmatch patterns ('segformer-*')"
    )
    parser.add_argument("--weights", help="weights tag (default: the entry's weights for --dataset)")
    parser.add_argument(
        "--allow-untrained", action="store_true", help="evaluate models without weights for the dataset"
    )
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--dtype", choices=("fp32", "bf16", "fp16"), default="fp32")
    parser.add_argument("--device", help="cuda, cuda:1, cpu (default: cuda when available)")
    parser.add_argument("--tta", choices=("none", "flip", "ms", "ms+flip"), default="none",
                        help="test-time augmentation: flip, multi-scale (mmseg's ratios 0.5-1.75), or both")  # fmt: skip
    parser.add_argument("--limit", type=int, help="only the first N images of the split")
    parser.add_argument("--workers", type=int, default=0, help="data-loading processes")
    parser.add_argument("--results", default="results.csv", help="results store (.csv, or .parquet)")
    parser.add_argument("--resume", action="store_true", help="skip the rows the store already has")
    parser.add_argument("--save-predictions", metavar="DIR", help="write predictions in the official format")
    parser.add_argument("--shard", metavar="K/N", help="run only shard K (0-based, 0..N-1) of N of the sweep's "
                        "jobs; --results may then be a folder, written as <folder>/shard-K-of-N.csv")  # fmt: skip
    parser.add_argument("--dist-timeout", type=float, default=1800.0, metavar="SECONDS",
                        help="under torchrun: how long a rank waits for the others before failing")  # fmt: skip
    return parser


@dataclass
class Job:
    """One (model, weights) pair to evaluate, or the reason it cannot be."""

    name: str
    entry: ModelEntry | None = None
    weights: WeightRecord | None = None
    error: str = ""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``zoo-bench`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "merge":
        from zoo.bench.merge import main as merge_main

        return merge_main(argv[1:])
    if argv and argv[0] == "speed":
        from zoo.bench.speed_cli import speed_main

        return speed_main(argv[1:])
    args = _parser().parse_args(argv)
    from rich.console import Console

    from zoo.bench.distributed import DistContext

    try:
        dist = DistContext.from_env()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    console = Console(stderr=True, quiet=not dist.is_main)  # under torchrun only rank 0 speaks
    try:
        return exit_code(console, lambda: _run(args, argv, console, dist))
    finally:
        dist.close()


def exit_code(console, run: Callable[[], int]) -> int:
    """Run a zoo-bench command body: Ctrl-C is 130 (the rows written stay whole), bad arguments or data 2."""
    try:
        return run()
    except KeyboardInterrupt:
        console.print(
            "[yellow]interrupted[/yellow]: the rows written so far are complete; rerun with --resume"
        )
        return 130
    except (ZooError, ValueError, OSError) as error:
        console.print(f"[red]error:[/red] {error}", highlight=False)
        return 2


def _jobs(args: argparse.Namespace) -> list[Job]:
    jobs = []
    for name in REGISTRY.expand(args.models):
        try:
            entry, tagged = REGISTRY.resolve(name)
        except ZooError as error:
            jobs.append(Job(name, error=str(error)))
            continue
        weights = tagged or _weights_for(entry, args)
        if weights is None and not args.allow_untrained:
            jobs.append(Job(name, entry, error=_no_weights_message(entry, args)))
        elif weights is not None and weights.dataset != args.dataset:
            jobs.append(
                Job(
                    name,
                    entry,
                    error=f"weights {weights.tag!r} predict {weights.dataset} classes, not {args.dataset}",
                )
            )
        else:
            jobs.append(Job(name, entry, weights))
    return jobs


def _weights_for(entry: ModelEntry, args: argparse.Namespace) -> WeightRecord | None:
    if args.weights:
        return next((w for w in entry.weights if w.tag == args.weights), None)
    return next((w for w in entry.weights if w.dataset == args.dataset), None)


def _no_weights_message(entry: ModelEntry, args: argparse.Namespace) -> str:
    wanted = f"tagged {args.weights!r}" if args.weights else f"for {args.dataset}"
    have = ", ".join(f"{w.tag} ({w.dataset})" for w in entry.weights) or "none"
    return f"{entry.name} has no weights {wanted} (it has: {have}); --allow-untrained evaluates it anyway"


def protocol_code(protocol: EvalProtocol, tta: str) -> str:
    """A short readable protocol label such as ``ss whole 520`` or ``ms+flip slide 1024``."""
    prefix = {"none": "ss", "flip": "ss+flip", "ms": "ms", "ms+flip": "ms+flip"}[tta]
    return protocol.short_code().replace("ss ", f"{prefix} ", 1)


def _dataset(args: argparse.Namespace):
    if args.source:
        from zoo.datasets.hf import HubSegmentation

        return HubSegmentation(args.source, args.dataset, args.split)
    from zoo.datasets import get_dataset
    from zoo.datasets.locations import default_data_root

    return get_dataset(args.dataset, args.data_root or default_data_root(), args.split)


def _job_key(job: Job, args: argparse.Namespace) -> tuple[str, ...]:
    """What --shard sorts and splits: (model, weights, dataset)."""
    model = job.entry.qualified_name if job.entry else job.name
    return (model, job.weights.tag if job.weights else "untrained" if job.entry else "", args.dataset)


def _run(args: argparse.Namespace, argv: list[str], console, dist=None) -> int:
    import torch
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from zoo.bench.distributed import DistContext, parse_shard, shard_jobs, shard_results_path
    from zoo.bench.environment import environment, environment_id
    from zoo.bench.results import ResultsStore, row_key
    from zoo.classes import LABEL_SPACES

    dist = dist or DistContext()
    if args.batch_size < 1 or (args.limit is not None and args.limit < 1):
        raise ValueError("--batch-size and --limit must be at least 1")
    if args.dist_timeout <= 0:
        raise ValueError(f"--dist-timeout must be positive, got {args.dist_timeout}")
    shard = parse_shard(args.shard) if args.shard else None
    if shard:
        args.results = str(shard_results_path(args.results, *shard))
    device = dist.device(args.device)
    dist.init(device, args.dist_timeout)
    dataset = _dataset(args)  # a missing root or split list stops here, before any model is built
    num_images = len(dataset) if args.limit is None else min(args.limit, len(dataset))
    split = args.split if num_images == len(dataset) else f"{args.split}[:{num_images}]"
    classes = LABEL_SPACES[args.dataset]
    store = ResultsStore(Path(args.results))

    def main_state():  # rank 0's environment and store decide for every rank, so all skip the same jobs
        env = environment(device)
        if dist.enabled:  # one result from W devices: its own environment id, apart from one device's
            env["device_name"] = f"{dist.world_size} x {env['device_name']}"
        return env, store.done_keys() if args.resume else set()

    env, done = dist.broadcast(main_state)
    env_id = environment_id(env)
    command = "zoo-bench " + shlex.join(argv)
    jobs = _jobs(args)
    if shard:
        jobs = shard_jobs(jobs, lambda job: _job_key(job, args), *shard)
    failures: list[tuple[str, str]] = [(job.name, job.error) for job in jobs if job.error]
    finished: list[dict[str, Any]] = []

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
               TimeElapsedColumn(), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=False, disable=not dist.is_main) as progress:
        runnable = [job for job in jobs if not job.error]
        models_task = progress.add_task("models", total=len(runnable), rate="")
        for job in runnable:
            protocol = job.weights.protocol if job.weights else _untrained_protocol()
            row = _row_template(job, args, split, num_images, protocol, device, env, env_id, command)
            if dist.enabled:
                row["device"] = f"{dist.world_size} x {torch.device(device).type}"
            if row_key(row) in done:
                progress.console.print(f"skip {job.name}.{row['weights']}: already in {args.results}")
                progress.advance(models_task)
                continue
            indices = _shard_indices(num_images, dist)
            images_task = progress.add_task(f"{job.name}.{row['weights']}", total=len(indices), rate="")
            try:
                result = _evaluate_job(
                    job, args, dataset, indices, protocol, device, len(classes), progress, images_task
                )
                error = None
            except KeyboardInterrupt:
                raise
            except Exception as e:  # one model's failure must not stop the sweep
                result, error = None, e
            if dist.enabled:  # every rank learns whether every rank succeeded before anything is written
                result, error = _combine_ranks(dist, result, error, num_images)
            if error is not None:
                failures.append((job.name, f"{type(error).__name__}: {error}"))
                progress.console.print(f"[red]failed[/red] {job.name}: {error}", highlight=False)
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
            finished.append(row)
            progress.update(images_task, rate=f"{result.images_per_s:.2f} img/s")
            progress.advance(models_task)
    if dist.is_main:
        if shard and not store.path.exists():
            # a shard with no job to run (more shards than jobs) still says it ran, or merge reports it missing
            store.replace(store.read())
        _print_results(finished, failures, args)
    return 1 if failures else 0


def _shard_indices(num_images: int, dist) -> range:
    from zoo.bench.distributed import shard_range

    return shard_range(num_images, dist.world_size, dist.rank)


class RankFailure(RuntimeError):
    """Another rank failed on this model; its message says which and how."""


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


def _row_template(job, args, split, num_images, protocol, device, env, env_id, command) -> dict[str, Any]:
    from zoo import __version__

    return {
        "model": job.entry.name,
        "weights": job.weights.tag if job.weights else "untrained",
        "dataset": args.dataset,
        "split": split,
        "num_images": num_images,
        "protocol": protocol_code(protocol, args.tta),
        "protocol_json": json.dumps(asdict(protocol), sort_keys=True),
        "tta": args.tta,
        "device": str(device),
        "dtype": args.dtype,
        "batch_size": args.batch_size,
        "environment_id": env_id,
        "device_name": env.get("device_name", ""),
        "torch_version": env.get("torch_version", ""),
        "cuda_version": env.get("cuda_version", ""),
        "zoo_version": __version__,
        "timm_version": env.get("timm_version", ""),
        "smp_version": env.get("smp_version", ""),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "source": "measured",
        "notes": "",
    }


def _evaluate_job(job, args, dataset, indices, protocol, device, num_classes, progress, images_task):
    import torch

    from zoo.bench.evaluate import evaluate
    from zoo.factory import create

    torch.manual_seed(0)  # an untrained model's random initialisation, and so its row, is reproducible
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # frameworks' deprecation chatter, not ours
        model = create(job.entry.qualified_name, weights=job.weights, num_classes=num_classes)
    samples: Any = (dataset[i] for i in indices)
    if args.workers:
        loader_data = torch.utils.data.Subset(dataset, indices)
        samples = torch.utils.data.DataLoader(loader_data, batch_size=None, num_workers=args.workers)
    on_prediction = None
    if args.save_predictions:
        from zoo.bench.predictions import save_prediction

        folder = (
            Path(args.save_predictions)
            / f"{job.entry.name}.{job.weights.tag if job.weights else 'untrained'}"
        )

        def on_prediction(sample_id, prediction):
            save_prediction(args.dataset, prediction, sample_id, folder)

    return evaluate(
        model, samples, protocol, num_classes, device=device, dtype=args.dtype, batch_size=args.batch_size,
        tta=args.tta, on_image=lambda n: progress.advance(images_task, n), on_prediction=on_prediction,
    )  # fmt: skip


def _print_results(
    rows: list[dict[str, Any]], failures: list[tuple[str, str]], args: argparse.Namespace
) -> None:
    from rich.console import Console
    from rich.table import Table

    # piped output (logs, CI) gets a width that fits the table instead of 80 folded columns
    console = Console(width=None if sys.stdout.isatty() else 200)
    if rows:
        table = Table(title=f"measured on {args.dataset} {rows[0]['split']} ({rows[0]['device_name']}), percent",
                      title_justify="left")  # fmt: skip
        for column in (
            "model",
            "weights",
            "protocol",
            "mIoU",
            "aAcc",
            "mAcc",
            "fwIoU",
            "mDice",
            "img/s",
            "dtype",
        ):
            table.add_column(column, justify="right" if column[0] in "mafi" and column != "model" else "left")
        for row in rows:
            table.add_row(row["model"], row["weights"], row["protocol"],
                          *(f"{row[k]:.2f}" for k in ("mIoU", "aAcc", "mAcc", "fwIoU", "mDice")),
                          f"{row['images_per_s']:.2f}", row["dtype"])  # fmt: skip
        console.print(table)
        console.print(f"rows appended to {os.path.abspath(args.results)}")
    for name, error in failures:
        Console(stderr=True).print(f"[red]failed[/red] {name}: {error}", highlight=False)


if __name__ == "__main__":
    sys.exit(main())
