"""``zoo bench eval|speed|merge`` (and ``zoo-bench``, the same commands): parse, check, hand over to the
harness (:mod:`zoo.bench.sweep`, :mod:`zoo.bench.speed_sweep`, :mod:`zoo.bench.merge`), show what it did.

Exit codes: 0 every model done, 1 some failed (the others were written), 2 unusable arguments, data,
store or device, 130 interrupted (the rows written stay whole; rerun with ``--resume``).
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import MISSING, fields
from typing import Any

from zoo.bench.speed_sweep import SpeedSweepOptions
from zoo.bench.sweep import SweepOptions
from zoo.cli.base import (
    UsageError,
    add_command,
    add_path_argument,
    add_subcommands,
    comma_list,
    console,
    dataset_names,
    dataset_or_folder_names,
    mute,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    say,
)
from zoo.cli.profile import add_profile_command
from zoo.options import COMPILE_MODES, DTYPES, TIMED_REGIONS, TTA_MODES

__all__ = ["add_bench_commands", "add_commands"]

EVAL_EPILOG = """examples:
  zoo-bench --dataset voc --data-root ~/data --models 'deeplabv3-*' --weights coco_voc
  zoo-bench --dataset ade20k --models 'segformer-*' --tta flip --limit 200 --results results/ade.csv --resume
  zoo-bench --dataset voc --models unet-resnet34 --checkpoint runs/best.pth \\
      --protocol-from deeplabv3-resnet101.coco_voc                             # your own weights
  zoo-bench --dataset cityscapes --models unet-resnet34 --checkpoint runs/best.pth \\
      --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --resize none --size-divisor 32
  torchrun --nproc-per-node 8 -m zoo.bench --dataset cityscapes --models 'segformer-*'
  zoo-bench --dataset ade20k --models '*' --shard 3/16 --results shards/     # one job of a job array
"""
SPEED_EPILOG = """examples:
  zoo-bench speed --models 'deeplabv3plus-resnet101' 'segformer-mit_b*' --dataset ade20k \\
      --batch-sizes 1,8,32 --dtype bf16 --channels-last --compile max-autotune
  zoo-bench speed --models unet-resnet18 --device cpu --size 64x64 --threads 1       # a quick CPU check
"""
RESUME_HINT = "the rows written so far are complete; rerun with --resume"
THREADS_HELP = (
    "torch's CPU threads (intra-op and inter-op), set before the first model and recorded in every row "
    "(default: torch's own, $OMP_NUM_THREADS or the number of physical cores)"
)


def _default(options: type, name: str) -> Any:
    """The harness's own default for one option, so the command line never states a second one."""
    field = next(f for f in fields(options) if f.name == name)
    if field.default is MISSING:
        raise LookupError(f"{options.__name__}.{name} has no default")
    return field.default


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``bench`` and its sub-commands to the ``zoo`` tree."""
    bench = add_command(commands, "bench", None, help="evaluate accuracy, measure speed, merge shards")
    add_bench_commands(bench)


def add_bench_commands(parser: argparse.ArgumentParser) -> None:
    """Add ``eval``, ``speed`` and ``merge`` under ``parser`` (``zoo bench``, or ``zoo-bench`` itself)."""
    bench_commands = add_subcommands(parser, dest="bench_command")
    _add_eval(bench_commands)
    _add_speed(bench_commands)
    _add_merge(bench_commands)
    add_profile_command(bench_commands)


def _add_eval(commands: argparse._SubParsersAction) -> None:
    default = lambda name: _default(SweepOptions, name)  # noqa: E731
    p = add_command(
        commands,
        "eval",
        evaluate_models,
        help="evaluate models on VOC2012, Cityscapes or ADE20K (official layouts) into a results store",
        interrupted=RESUME_HINT,
    )
    p.epilog = EVAL_EPILOG
    p.add_argument(
        "--dataset",
        required=True,
        choices=dataset_or_folder_names,
        metavar="DATASET",
        help="%(choices)s, or folder:PATH for a folder of your own images and masks",
    )
    add_path_argument(
        p,
        "--data-root",
        metavar="DIR",
        help="folder holding VOCdevkit/, cityscapes/ or "
        "ADEChallengeData2016/ (default: $ZOO_DATA, then the user data folder)",
        kind="dir",
    )
    p.add_argument(
        "--source",
        metavar="SOURCE",
        help="hf:REPO[:CONFIG] or a folder of parquet/arrow files instead of --data-root",
    )
    p.add_argument("--split", metavar="SPLIT", default=default("split"), help="the split evaluated")
    p.add_argument(
        "--models", nargs="+", required=True, metavar="NAME", help="names or fnmatch patterns ('segformer-*')"
    )
    p.add_argument(
        "--weights", metavar="TAG", help="weights tag (default: the entry's weights for --dataset)"
    )
    p.add_argument(
        "--allow-untrained", action="store_true", help="evaluate models without weights for the dataset"
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        metavar="N",
        default=default("batch_size"),
        help="images per forward pass",
    )
    p.add_argument("--dtype", choices=DTYPES, default=default("dtype"), help="compute dtype (autocast)")
    p.add_argument("--device", metavar="DEVICE", help="cuda, cuda:1, cpu, mps (default: cuda when available)")
    p.add_argument(
        "--tta",
        choices=TTA_MODES,
        default=default("tta"),
        help="test-time augmentation: flip, multi-scale (the record's ms_ratios; mmseg's 0.5-1.75 unless it "
        "says otherwise), or both",
    )
    p.add_argument(
        "--protocol",
        metavar="NAME",
        help="evaluate published weights with a named variant of their protocol instead of their publisher's: "
        "mmseg (mmseg 1.x's keep-ratio resize, for SegFormer) or nvlabs; stored in the row's protocol",
    )
    p.add_argument("--limit", type=positive_int, metavar="N", help="only the first N images of the split")
    p.add_argument(
        "--workers",
        type=non_negative_int,
        metavar="N",
        default=default("workers"),
        help="data-loading processes",
    )
    add_path_argument(
        p,
        "--results",
        metavar="FILE",
        default=default("results"),
        help="results store (.csv, or .parquet)",
        kind="file",
    )
    _add_stored_rows_flags(p)
    p.add_argument("--threads", type=positive_int, metavar="N", help=THREADS_HELP)
    _add_checkpoint_flags(p)
    add_path_argument(
        p, "--save-predictions", metavar="DIR", help="write predictions in the official format", kind="dir"
    )
    p.add_argument(
        "--shard",
        metavar="K/N",
        help="run only shard K (0-based, 0..N-1) of N of the sweep's "
        "jobs; --results may then be a folder, written as <folder>/shard-K-of-N.csv",
    )
    p.add_argument(
        "--dist-timeout",
        type=positive_float,
        default=default("dist_timeout"),
        metavar="SECONDS",
        help="under torchrun: how long a rank waits for the others before failing",
    )


def _add_stored_rows_flags(p: argparse.ArgumentParser) -> None:
    """``--resume`` / ``--overwrite``: what to do with planned rows the store already holds (without either,
    the command stops before any work and says which rows)."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", help="skip the rows the store already has")
    group.add_argument(
        "--overwrite", action="store_true", help="evaluate again and replace the rows the store already has"
    )


def _add_checkpoint_flags(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group(
        "your own weights",
        "--checkpoint evaluates a file of yours for the one model named by --models; its row says "
        "weights=checkpoint and records the file's sha256. The protocol comes from --protocol-from, with any "
        "of the flags below replacing its fields; without --protocol-from, --mean, --std and --resize are "
        "needed.",
    )
    add_path_argument(
        group,
        "--checkpoint",
        metavar="FILE",
        help=".pth/.pt (tensors only) or .safetensors state dict of the model named by --models",
        kind="file",
    )
    group.add_argument(
        "--checkpoint-classes",
        type=positive_int,
        metavar="N",
        help="output channels of the checkpoint's model, when not the dataset's class count: 1 for a binary "
        "model trained with a sigmoid (scored as sigmoid > 0.5)",
    )
    group.add_argument(
        "--protocol-from",
        metavar="NAME.TAG",
        help="use the evaluation protocol of these published weights (zoo info NAME shows it)",
    )
    group.add_argument(
        "--mean", type=_triple, metavar="R,G,B", help="per-channel mean subtracted, e.g. 0.485,0.456,0.406"
    )
    group.add_argument(
        "--std", type=_triple, metavar="R,G,B", help="per-channel std divided by, e.g. 0.229,0.224,0.225"
    )
    group.add_argument(
        "--value-scale",
        type=float,
        choices=(1.0, 255.0),
        metavar="{1,255}",
        help="the pixel range --mean/--std apply to: [0,1] or [0,255] (default: 255 when a mean exceeds 1)",
    )
    group.add_argument(
        "--resize",
        type=_resize,
        metavar="RULE[:SIZE]",
        help="none | shorter:520 (shorter side) | fit:2048x512 (long x short bounds, keep ratio) | "
        "fixed:512x1024 (height x width)",
    )
    group.add_argument(
        "--size-divisor", type=positive_int, metavar="N", help="pad the input to a multiple of N (e.g. 32)"
    )
    group.add_argument(
        "--slide",
        type=_slide,
        metavar="HxW,HxW",
        help="sliding-window inference: crop size, stride (e.g. 512x1024,341x683); default: whole image",
    )


def _triple(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three comma-separated numbers, got {text!r}") from None
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"expected three comma-separated numbers (R,G,B), got {text!r}")
    return values  # type: ignore[return-value]


def _resize(text: str) -> tuple[str, tuple[int, ...]]:
    from zoo.bench.sweep import RESIZE_RULES

    rule, _, size = text.strip().lower().partition(":")
    if rule not in RESIZE_RULES:
        raise argparse.ArgumentTypeError(f"unknown rule {rule!r}; expected one of {', '.join(RESIZE_RULES)}")
    expected = RESIZE_RULES[rule][1]
    try:
        sizes = tuple(int(v) for v in size.split("x")) if size else ()
    except ValueError:
        sizes = (-1,)
    if len(sizes) != expected or any(v < 1 for v in sizes):
        shape = {0: "no size", 1: "one size (e.g. shorter:520)", 2: "two sizes AxB (e.g. fit:2048x512)"}
        raise argparse.ArgumentTypeError(f"{rule} takes {shape[expected]}, got {text!r}")
    return rule, sizes


def _slide(text: str) -> tuple[tuple[int, int], tuple[int, int]]:
    crop, comma, stride = text.partition(",")
    if not comma:
        raise argparse.ArgumentTypeError(f"expected CROP,STRIDE as HxW,HxW, got {text!r}")
    return _size(crop), _size(stride)


def _size(text: str) -> tuple[int, int]:
    h, x, w = text.lower().partition("x")
    try:
        height, width = int(h), int(w)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 512x1024, got {text!r}") from None
    if not x or height < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"expected HxW with positive sides, got {text!r}")
    return height, width


def _add_speed(commands: argparse._SubParsersAction) -> None:
    default = lambda name: _default(SpeedSweepOptions, name)  # noqa: E731
    p = add_command(
        commands,
        "speed",
        measure_speed,
        help="measure inference speed of models on synthetic input into a speed store",
        interrupted=RESUME_HINT,
    )
    p.epilog = SPEED_EPILOG
    p.add_argument(
        "--models", nargs="+", required=True, metavar="NAME", help="names or fnmatch patterns ('segformer-*')"
    )
    p.add_argument(
        "--dataset",
        choices=dataset_names,
        metavar="DATASET",
        help="%(choices)s: sets the resolution and class count",
    )
    p.add_argument(
        "--size",
        type=_size,
        metavar="HxW",
        help="input height x width (default: the dataset's evaluation size)",
    )
    p.add_argument(
        "--num-classes",
        type=positive_int,
        metavar="N",
        help="output classes (default: the dataset's, else 21)",
    )
    p.add_argument(
        "--batch-sizes",
        type=comma_list(positive_int),
        metavar="N[,N...]",
        default=",".join(map(str, default("batch_sizes"))),
        help="comma list, e.g. 1,8,32",
    )
    p.add_argument(
        "--dtype",
        dest="dtypes",
        metavar="DTYPE[,...]",
        type=comma_list(str, DTYPES),
        default=",".join(default("dtypes")),
        help=f"{', '.join(DTYPES)} (comma list)",
    )
    p.add_argument(
        "--compile",
        dest="compile_modes",
        metavar="MODE[,...]",
        type=comma_list(str, COMPILE_MODES),
        default=",".join(default("compile_modes")),
        help=f"{', '.join(COMPILE_MODES)} (comma list)",
    )
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    p.add_argument("--cuda-graphs", action="store_true", help="capture and replay a CUDA graph (CUDA only)")
    p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls and convolutions (CUDA only)")
    p.add_argument(
        "--timed",
        metavar="REGION[,...]",
        type=comma_list(str, TIMED_REGIONS),
        default=",".join(default("timed")),
        help="timed regions (comma list)",
    )
    p.add_argument("--device", metavar="DEVICE", help="cuda, cuda:1, cpu, mps (default: cuda when available)")
    p.add_argument(
        "--warmup-iters",
        type=non_negative_int,
        metavar="N",
        default=default("warmup_iters"),
        help="warm-up iterations, at least",
    )
    p.add_argument(
        "--warmup-seconds",
        type=non_negative_float,
        metavar="S",
        default=default("warmup_seconds"),
        help="warm-up seconds, at least",
    )
    p.add_argument(
        "--block-iters",
        type=positive_int,
        metavar="N",
        default=default("block_iters"),
        help="iterations per timed block, at least",
    )
    p.add_argument(
        "--block-seconds",
        type=non_negative_float,
        metavar="S",
        default=default("block_seconds"),
        help="seconds per timed block, at least",
    )
    p.add_argument("--blocks", type=positive_int, metavar="N", default=default("blocks"), help="timed blocks")
    p.add_argument(
        "--no-cudnn-benchmark", dest="cudnn_benchmark", action="store_false", help="leave cudnn.benchmark off"
    )
    p.add_argument(
        "--seed",
        type=int,
        metavar="N",
        default=default("seed"),
        help="seeds the model initialisation and the input",
    )
    add_path_argument(
        p,
        "--results",
        metavar="FILE",
        default=default("results"),
        help="speed store (.csv, or .parquet)",
        kind="file",
    )
    _add_stored_rows_flags(p)
    p.add_argument("--threads", type=positive_int, metavar="N", help=THREADS_HELP)


def _add_merge(commands: argparse._SubParsersAction) -> None:
    p = add_command(
        commands,
        "merge",
        merge_results,
        help="join the shard-K-of-N results files of a sharded sweep (--shard) into one store",
    )
    add_path_argument(p, "folder", help="the folder given as --results to every shard", kind="dir")
    add_path_argument(
        p,
        "--out",
        required=True,
        metavar="FILE",
        help="the merged store (.csv or .parquet); existing rows are kept",
        kind="file",
    )
    p.add_argument(
        "--allow-missing", action="store_true", help="merge even when some shards are missing (reported)"
    )


# ------------------------------------------------------------------------------------------------- handlers


def _options(options_type: type, args: argparse.Namespace, **values: Any):
    """``options_type`` (a dataclass) filled from the parsed arguments of the same names, then ``values``."""
    given = {f.name: getattr(args, f.name) for f in fields(options_type) if hasattr(args, f.name)}
    return options_type(**{**given, **values})


def evaluate_models(args: argparse.Namespace) -> int:
    """``zoo bench eval``: run the sweep (under torchrun: this rank's part), show the table; 1 if any failed."""
    from zoo.bench.distributed import DistContext, parse_shard
    from zoo.bench.sweep import run_sweep

    try:
        shard = parse_shard(args.shard) if args.shard else None
        dist = DistContext.from_env()
    except ValueError as error:  # a malformed --shard, or torchrun variables that do not fit together
        raise UsageError(str(error)) from None
    options = _options(SweepOptions, args, shard=shard, command=args.command_line)
    if not dist.is_main:
        mute()  # under torchrun only rank 0 speaks
    try:
        outcome = run_sweep(options, console=console(stderr=True), dist=dist)
    finally:
        dist.close()
    if dist.is_main:
        _print_results(outcome.rows, args.dataset, outcome.results)
        if outcome.skip_report():
            say(outcome.skip_report(), stderr=True)
        _print_failures(outcome.failure_report())
    return 1 if outcome.failures else 0


def measure_speed(args: argparse.Namespace) -> int:
    """``zoo bench speed``: run the speed sweep, show the table; 1 if anything failed."""
    from zoo.bench.speed_sweep import run_speed_sweep

    if args.size is None and args.dataset is None:
        raise UsageError("give --dataset (its evaluation size) or --size HxW")
    options = _options(SpeedSweepOptions, args, command=args.command_line)
    outcome = run_speed_sweep(options, console=console(stderr=True))
    _print_speed_rows(outcome.rows, outcome.results)
    _print_failures(outcome.failures)
    return 1 if outcome.failures else 0


def merge_results(args: argparse.Namespace) -> int:
    """``zoo bench merge FOLDER --out FILE``: 0 merged, 1 refused (missing shards, conflicts), 2 unusable input.

    Plain lines on stderr: paths and keys are never folded, so logs can be grepped.
    """
    from pathlib import Path

    from zoo.bench.merge import merge_shards
    from zoo.errors import MergeError

    try:
        report = merge_shards(Path(args.folder), Path(args.out), allow_missing=args.allow_missing)
    except MergeError as error:
        raise MergeError(f"{error}\nnothing written to {args.out}", exit_code=error.exit_code) from None
    if report.missing:
        say(f"warning: missing {', '.join(report.missing)} (merged anyway)", stderr=True)
    say(
        f"merged {len(report.files)} shard files into {args.out}: {report.rows} rows "
        f"({report.added} new, {report.duplicates} identical duplicates dropped)",
        stderr=True,
    )
    return 0


# ------------------------------------------------------------------------------------------------- output


def _print_failures(failures: list[tuple[str, str]]) -> None:
    from rich.text import Text

    err = console(stderr=True)
    for name, error in failures:
        err.print(Text.assemble(("failed", "red"), f" {name}: {error}"), soft_wrap=True)


def _print_results(rows: list[dict[str, Any]], dataset: str, results) -> None:
    from rich.table import Table
    from rich.text import Text

    if not rows:
        return
    out = console()
    table = Table(
        title=Text(f"measured on {dataset} {rows[0]['split']} ({rows[0]['device_name']}), percent"),
        title_justify="left",
    )
    columns = ("model", "weights", "protocol", "mIoU", "aAcc", "mAcc", "fwIoU", "mDice", "img/s", "dtype")
    for column in columns:
        table.add_column(column, justify="right" if column[0] in "mafi" and column != "model" else "left")
    for row in rows:
        table.add_row(*(Text(str(row[k])) for k in ("model", "weights", "protocol")),
                      *(f"{row[k]:.2f}" for k in ("mIoU", "aAcc", "mAcc", "fwIoU", "mDice")),
                      f"{row['images_per_s']:.2f}", row["dtype"])  # fmt: skip
    out.print(table)
    say(f"rows appended to {os.path.abspath(results)}")


def _fmt(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def _print_speed_rows(rows: list[dict[str, Any]], results) -> None:
    """The compact speed table (:mod:`zoo.bench.speed_table`), fitting 100 columns: one space between
    columns, every figure on one line, the variant wrapped at its spaces (never shrunk to an ellipsis)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from zoo.bench.speed_table import SPEED_TABLE_COLUMNS, speed_table_cells

    if not rows:
        return
    first = rows[0]
    table = Table(title=Text(f"speed on {first['device_name']}"), title_justify="left", box=box.SIMPLE_HEAD,
                  show_edge=False, padding=0)  # fmt: skip
    cells = [speed_table_cells(row) for row in rows]
    for i, (header, right) in enumerate(SPEED_TABLE_COLUMNS):
        # the variant is the one column that may wrap (at its spaces); every figure keeps its line
        wraps = header == "variant"  # "fwd+argmax" is its longest usual word; a longer one folds
        widest = max(len(c[i]) for c in cells) if not wraps else 10
        table.add_column(header, justify="right" if right else "left", overflow="fold", no_wrap=not wraps,
                         min_width=widest, max_width=widest if wraps else None)  # fmt: skip
    for row_cells in cells:
        table.add_row(*(Text(cell) for cell in row_cells))
    console(stderr=False).print(table)
    if any(row.get("correctness") == "flagged" for row in rows):
        say(
            "!: the variant's argmax differs from fp32 eager's on more pixels than allowed (argmax_disagreement)"
        )
    say(f"rows appended to {os.path.abspath(results)}")
