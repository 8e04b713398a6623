"""``zoo-bench speed``: inference speed of registry models on synthetic input, appended to a speed store.

    zoo-bench speed --models 'deeplabv3plus-resnet101' 'segformer-mit_b*' --dataset ade20k \\
        --batch-sizes 1,8,32 --dtype bf16 --channels-last --compile max-autotune
    zoo-bench speed --models 'unet-resnet18' --device cpu --size 256x256

Models are built without weights (speed does not depend on them). Each (model, batch size, dtype, compile
mode, timed region) is one row, written at once; ``--resume`` skips the rows the store has. A batch that does
not fit is a row with status ``oom`` and the sweep goes on. A model or variant that fails otherwise is
reported and the sweep goes on; the exit code is 1 when anything failed, 2 for unusable arguments, 130 on
Ctrl-C. The protocol is described in :mod:`zoo.bench.speed`.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from zoo.registry import REGISTRY

#: Evaluation size (height, width) and class count of each dataset's usual protocol.
DATASET_SHAPES = {"voc": ((512, 512), 21), "cityscapes": ((1024, 2048), 19), "ade20k": ((512, 512), 150)}
SYNTHETIC_INPUT = "randn (seeded), on the device"


def _csv(kind, choices=None):
    def parse(text: str) -> list:
        values = [kind(v.strip()) for v in text.split(",") if v.strip()]
        if not values:
            raise argparse.ArgumentTypeError("expected a comma-separated list")
        bad = [v for v in values if choices is not None and v not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"{', '.join(map(str, bad))} not in {', '.join(choices)}")
        return values

    return parse


def _size(text: str) -> tuple[int, int]:
    h, x, w = text.lower().partition("x")
    try:
        height, width = int(h), int(w)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size must be HxW, e.g. 512x1024, got {text!r}") from None
    if not x or height < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"--size must be HxW with positive sides, got {text!r}")
    return height, width


def _parser() -> argparse.ArgumentParser:
    from zoo.bench.speed import COMPILE_MODES, DTYPES

    p = argparse.ArgumentParser(
        prog="zoo-bench speed",
        description="Measure inference speed of segmentation models on synthetic input.",
    )
    p.add_argument("--models", nargs="+", required=True, help="names or fnmatch patterns ('segformer-*')")
    p.add_argument("--dataset", choices=tuple(DATASET_SHAPES), help="sets the resolution and class count")
    p.add_argument("--size", type=_size, help="HxW (default: the dataset's evaluation size)")
    p.add_argument("--num-classes", type=int, help="output classes (default: the dataset's, else 21)")
    p.add_argument("--batch-sizes", type=_csv(int), default=[1], help="e.g. 1,8,32")
    p.add_argument("--dtype", type=_csv(str, DTYPES), default=["fp32"], help="fp32, bf16, fp16 (comma list)")
    p.add_argument("--compile", type=_csv(str, COMPILE_MODES), default=["none"],
                   help="none, default, reduce-overhead, max-autotune (comma list)")  # fmt: skip
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--cuda-graphs", action="store_true", help="capture and replay a CUDA graph (CUDA only)")
    p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls and convolutions (CUDA only)")
    p.add_argument("--timed", type=_csv(str, ("forward", "forward+upsample+argmax")),
                   default=["forward", "forward+upsample+argmax"], help="timed regions (comma list)")  # fmt: skip
    p.add_argument("--device", help="cuda, cuda:1, cpu (default: cuda when available)")
    p.add_argument("--warmup-iters", type=int, default=20)
    p.add_argument("--warmup-seconds", type=float, default=2.0)
    p.add_argument("--block-iters", type=int, default=10)
    p.add_argument("--block-seconds", type=float, default=0.2)
    p.add_argument("--blocks", type=int, default=5)
    p.add_argument("--no-cudnn-benchmark", action="store_true", help="leave cudnn.benchmark off")
    p.add_argument("--seed", type=int, default=0, help="seeds the model initialisation and the input")
    p.add_argument("--results", default="speed.csv", help="speed store (.csv, or .parquet)")
    p.add_argument("--resume", action="store_true", help="skip the rows the store already has")
    return p


def speed_main(argv: list[str]) -> int:
    """``zoo-bench speed ARGS``: ``argv`` are the arguments after ``speed``; returns the exit code."""
    args = _parser().parse_args(argv)
    from rich.console import Console

    from zoo.bench.cli import exit_code

    console = Console(stderr=True)
    return exit_code(console, lambda: _run(args, argv, console))


def _run(args: argparse.Namespace, argv: list[str], console) -> int:
    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from zoo import __version__
    from zoo.bench.environment import environment, environment_id
    from zoo.bench.speed import SpeedConfig, is_out_of_memory, measure, reference_labels
    from zoo.factory import create
    from zoo.results import SPEED, ResultsStore

    if args.size is None and args.dataset is None:
        raise ValueError("give --dataset (its evaluation size) or --size HxW")
    (height, width), dataset_classes = DATASET_SHAPES.get(args.dataset, ((0, 0), 21))
    if args.size:
        height, width = args.size
    num_classes = args.num_classes or dataset_classes
    if min(args.batch_sizes) < 1 or args.blocks < 1 or args.block_iters < 1 or num_classes < 1:
        raise ValueError("--batch-sizes, --blocks, --block-iters and --num-classes must be at least 1")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    env = environment(device)
    env_id = environment_id(env)
    store = ResultsStore(Path(args.results), SPEED)
    done = store.done_keys() if args.resume else set()
    command = "zoo-bench speed " + shlex.join(argv)
    failures: list[tuple[str, str]] = []
    written: list[dict[str, Any]] = []

    configs = []
    for batch in args.batch_sizes:
        for dtype in args.dtype:
            for mode in args.compile:
                for timed in args.timed:
                    configs.append(SpeedConfig(
                        height=height, width=width, batch_size=batch, dtype=dtype, channels_last=args.channels_last,
                        compile=mode, cuda_graphs=args.cuda_graphs, tf32=args.tf32, timed=timed,
                        warmup_iters=args.warmup_iters, warmup_seconds=args.warmup_seconds,
                        block_iters=args.block_iters, block_seconds=args.block_seconds, blocks=args.blocks,
                        cudnn_benchmark=not args.no_cudnn_benchmark, seed=args.seed,
                    ))  # fmt: skip
    if args.cuda_graphs and device.type != "cuda":
        console.print("note: --cuda-graphs needs a CUDA device; skipped on the CPU")
        configs = []
    graph_clash = [c for c in configs if c.cuda_graphs and c.compile in ("reduce-overhead", "max-autotune")]
    for mode in sorted({c.compile for c in graph_clash}):
        console.print(f"note: --compile {mode} captures CUDA graphs itself; skipped with --cuda-graphs")
    configs = [c for c in configs if c not in graph_clash]

    def template(name: str, config: SpeedConfig) -> dict[str, Any]:
        row = dict.fromkeys(SPEED.columns)
        row.update({k: v for k, v in config.protocol().items() if k in row})
        row.update({k: v for k, v in env.items() if k in row})
        row.update(model=name, weights="none", dataset=args.dataset or "", num_classes=num_classes,
                   input=SYNTHETIC_INPUT, device=str(device), environment_id=env_id, zoo_version=__version__,
                   date=datetime.now(timezone.utc).isoformat(timespec="seconds"), command=command,
                   notes="", source="measured")  # fmt: skip
        return row

    names = REGISTRY.expand(args.models)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("rows", total=len(names) * len(configs))
        for name in names:
            todo = []
            for config in configs:
                row = template(name, config)
                if SPEED.key(row) in done:
                    progress.console.print(f"skip {name} {_label(config)}: already in {args.results}")
                    progress.advance(task)
                else:
                    todo.append((config, row))
            if not todo:
                continue
            try:
                entry, _ = REGISTRY.resolve(name)
                torch.manual_seed(args.seed)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)
                    model = create(entry.qualified_name, num_classes=num_classes).to(device).eval()
            except KeyboardInterrupt:
                raise
            except Exception as error:  # one model's failure must not stop the sweep
                failures.append((name, f"{type(error).__name__}: {error}"))
                progress.console.print(f"[red]failed[/red] {name}: {error}", highlight=False)
                progress.advance(task, len(todo))
                continue
            references: dict[int, Any] = {}
            for config, row in todo:
                progress.update(task, description=f"{name} {_label(config)}")
                try:
                    if config.batch_size not in references and not config.is_reference:
                        references[config.batch_size] = reference_labels(model, config, device)
                    row.update(measure(model, config, device, reference=references.get(config.batch_size),
                                       device_name=env["device_name"]))  # fmt: skip
                    row["status"] = "ok"
                except KeyboardInterrupt:
                    raise
                except Exception as error:
                    if not is_out_of_memory(error):
                        failures.append((f"{name} {_label(config)}", f"{type(error).__name__}: {error}"))
                        progress.console.print(
                            f"[red]failed[/red] {name} {_label(config)}: {error}", highlight=False
                        )
                        progress.advance(task)
                        _free(device)
                        continue
                    row.update(status="oom", notes=f"out of memory: {str(error).splitlines()[0][:200]}")
                    progress.console.print(f"[yellow]oom[/yellow] {name} {_label(config)}")
                    _free(device)
                store.append(row)
                written.append(row)
                progress.advance(task)
            del model, references
            _free(device)
    _print_rows(written, failures, args)
    return 1 if failures else 0


def _free(device) -> None:
    import gc

    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _label(config) -> str:
    extras = [f"compile={config.compile}"] if config.compile != "none" else []
    extras += ["channels_last"] if config.channels_last else []
    extras += ["cuda_graphs"] if config.cuda_graphs else []
    extras += ["tf32"] if config.tf32 else []
    return " ".join([f"bs{config.batch_size}", config.dtype, *extras, config.timed])


def _fmt(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def _print_rows(rows: list[dict[str, Any]], failures: list[tuple[str, str]], args) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 220)
    if rows:
        first = rows[0]
        table = Table(title=f"speed at {first['height']}x{first['width']} on {first['device_name']}",
                      title_justify="left")  # fmt: skip
        headers = ("model", "batch", "dtype", "variant", "timed", "status", "img/s", "min-max", "p50 ms",
                   "p99 ms", "GFLOPs/img", "TFLOP/s", "MFU", "peak MiB", "argmax diff", "check")  # fmt: skip
        for header in headers:
            table.add_column(
                header, justify="left" if header in ("model", "dtype", "variant", "timed") else "right"
            )
        for r in rows:
            variant = " ".join(v for v, on in (
                (f"compile={r['compile']}", r["compile"] != "none"), ("channels_last", r["channels_last"]),
                ("cuda_graphs", r["cuda_graphs"]), ("tf32", r["tf32"])) if on) or "eager"  # fmt: skip
            table.add_row(
                r["model"], str(r["batch_size"]), r["dtype"], variant, r["timed"], r["status"],
                _fmt(r["images_per_s"], ".1f"),
                "-" if r["status"] != "ok" else f"{r['images_per_s_min']:.1f}-{r['images_per_s_max']:.1f}",
                _fmt(r["latency_ms_p50"], ".2f"), _fmt(r["latency_ms_p99"], ".2f"),
                _fmt(r["gflops_per_image"], ".1f"), _fmt(r["tflops_achieved"], ".2f"), _fmt(r["mfu"], ".1%"),
                _fmt(r["peak_memory_mib"], ".0f"), _fmt(r["argmax_disagreement"], ".4%"), r["correctness"] or "-",
            )  # fmt: skip
        console.print(table)
        console.print(f"rows appended to {os.path.abspath(args.results)}")
    for name, error in failures:
        Console(stderr=True).print(f"[red]failed[/red] {name}: {error}", highlight=False)
