"""``zoo bench profile`` (and ``zoo-bench profile``): computed complexity of registry entries (parameters,
GFLOPs, peak activation memory) at the benchmarks' evaluation sizes, into a complexity store.

The figures are computed from the architecture on the meta device (:mod:`zoo.bench.profile`), not
measured. Exit codes: 0 every entry profiled, 1 some entries could not be built or traced (their rows say
why; the others were written), 2 unusable arguments or store, 130 interrupted (rerun with ``--resume``).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from zoo.cli.base import UsageError, add_command, add_path_argument, console, dataset_names, say

__all__ = ["add_profile_command", "profile_models"]

EPILOG = """examples:
  zoo bench profile --models 'unet-*' 'segformer-*' --dataset ade20k
  zoo bench profile --models '*' --dataset voc cityscapes ade20k --results leaderboards/data/complexity.csv --resume
  zoo bench profile --models '*' --dataset cityscapes --shard 0/2 --results complexity.csv   # one of 2 jobs
"""
DEFAULT_RESULTS = "complexity.csv"
#: Rows shown in the terminal table; the store holds them all.
SHOWN_ROWS = 40


def add_profile_command(commands: argparse._SubParsersAction) -> None:
    """Add ``profile`` under ``zoo bench`` (and ``zoo-bench``)."""
    p = add_command(
        commands,
        "profile",
        profile_models,
        help="compute parameters, GFLOPs and peak activation memory of models (meta device, no weights)",
        interrupted="the rows written so far are complete; rerun with --resume",
    )
    p.epilog = EPILOG
    p.add_argument(
        "--models", nargs="+", required=True, metavar="NAME", help="names or fnmatch patterns ('unet-*', '*')"
    )
    p.add_argument(
        "--dataset",
        nargs="+",
        required=True,
        choices=dataset_names,
        metavar="DATASET",
        help="%(choices)s: profile at each one's evaluation size (VOC and ADE20K 512x512, Cityscapes 1024x2048)",
    )
    add_path_argument(
        p,
        "--results",
        metavar="FILE",
        default=DEFAULT_RESULTS,
        help="complexity store (.csv or .parquet; with --shard a folder gets shard-K-of-N.csv)",
        kind="file",
    )
    p.add_argument("--resume", action="store_true", help="skip the rows the store already has")
    p.add_argument("--shard", metavar="K/N", help="profile only shard K (0-based) of N of the entries")


def profile_models(args: argparse.Namespace) -> int:
    """``zoo bench profile``: run the sweep, show a table; 1 if some entry failed."""
    from zoo.bench.distributed import parse_shard, shard_results_path
    from zoo.bench.profile import evaluation_sizes, run_profile_sweep

    try:
        shard = parse_shard(args.shard) if args.shard else None
        sizes = evaluation_sizes(args.dataset)
    except ValueError as error:
        raise UsageError(str(error)) from None
    results = shard_results_path(args.results, *shard) if shard else args.results
    outcome = run_profile_sweep(
        args.models, sizes, results, resume=args.resume, shard=shard, command=args.command_line,
        console=console(stderr=True),
    )  # fmt: skip
    _print_rows(outcome.rows)
    failed = outcome.failures
    say(
        f"{len(outcome.rows)} rows appended to {os.path.abspath(results)} ({len(failed)} errors"
        + (f", {outcome.skipped} already there" if outcome.skipped else "")
        + "); figures computed from the architecture, not measured",
        stderr=True,
    )
    return 1 if failed else 0


def _print_rows(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table
    from rich.text import Text

    if not rows:
        return
    table = Table(title="computed complexity (batch 1, fp32 activations)", title_justify="left")
    for header in ("model", "size", "params M", "GFLOPs", "act. MiB", "status"):
        table.add_column(header, justify="left" if header in ("model", "size", "status") else "right")
    for row in rows[:SHOWN_ROWS]:
        ok = row["status"] == "ok"
        table.add_row(
            Text(row["model"]), f"{row['height']}x{row['width']}",
            f"{row['params'] / 1e6:.2f}" if ok else "-", f"{row['gflops']:.1f}" if ok else "-",
            f"{row['peak_activation_mib']:.0f}" if ok else "-", Text(row["status"] if ok else row["error"]),
        )  # fmt: skip
    console().print(table)
    if len(rows) > SHOWN_ROWS:
        say(f"... and {len(rows) - SHOWN_ROWS} more rows (see the store)")
