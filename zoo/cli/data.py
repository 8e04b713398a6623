"""``zoo data check DATASET`` and ``zoo data download DATASET``.

``check`` reads every sample of a split and prints the counts and every problem (exit 1 if any). ``download``
downloads, verifies and unpacks an official archive (cityscapes: prints how to get it by hand). The data root
defaults to ``$ZOO_DATA``, else the platform's user data folder (:mod:`zoo.datasets.locations`). Neither
imports torch.
"""

from __future__ import annotations

import argparse

from zoo.cli.base import add_command, add_path_argument, add_subcommands, console, dataset_names, say

__all__ = ["add_commands"]


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``data check`` and ``data download`` to the ``zoo`` tree."""
    data = add_command(commands, "data", None, help="check or download datasets")
    data_commands = add_subcommands(data, dest="data_command")
    check = add_command(
        data_commands, "check", check_dataset, help="read every sample of a split; report every problem"
    )
    check.add_argument("dataset", help="a benchmark dataset, by name or alias (ade for ade20k)")
    add_path_argument(
        check,
        "--data-root",
        metavar="DIR",
        help="folder holding the dataset (default: $ZOO_DATA or user data dir)",
        kind="dir",
    )
    check.add_argument("--split", default="val", help="split to check")
    download = add_command(
        data_commands,
        "download",
        download_dataset,
        help="download, verify and unpack an official archive",
        interrupted="a partial download is kept and resumed by the next run",
    )
    download.add_argument("dataset", choices=dataset_names, metavar="DATASET", help="%(choices)s")
    add_path_argument(
        download,
        "--data-root",
        metavar="DIR",
        help="where to unpack (default: $ZOO_DATA or user data dir)",
        kind="dir",
    )
    download.add_argument("--no-progress", action="store_true", help="no progress bar")


def check_dataset(args: argparse.Namespace) -> int:
    """``zoo data check``: the CheckReport as a table of counts, then every problem; 1 if there are any."""
    from rich.table import Table
    from rich.text import Text

    from zoo.datasets import check
    from zoo.datasets.locations import default_data_root
    from zoo.datasets.spec import canonical_name

    name = canonical_name(args.dataset)
    root = args.data_root if args.data_root is not None else default_data_root()
    report = check(name, root, args.split)
    table = Table(show_header=False, title=Text(f"{report.dataset} {report.split}"), title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("root", Text(str(report.root)))
    table.add_row("samples", str(report.num_samples))
    table.add_row("ok", str(report.num_ok))
    table.add_row("problems", Text(str(len(report.problems)), style="red" if report.problems else ""))
    if report.num_ok:
        total = sum(report.class_pixels) + report.ignore_pixels
        present = sum(1 for n in report.class_pixels if n)
        table.add_row("pixels", f"{total:,} ({report.ignore_pixels:,} ignore)")
        table.add_row("classes present", f"{present} of {len(report.class_pixels)}")
    out = console()
    out.print(table)
    # The report's own one-line summary, unboxed: easy to grep in logs.
    say(str(report).splitlines()[0])
    for sample_id, message in report.problems:
        out.print(Text.assemble(("problem", "red"), f" {sample_id}: {message}"), soft_wrap=True)
    return 1 if report.problems else 0


def download_dataset(args: argparse.Namespace) -> int:
    """``zoo data download``: fetch and unpack voc/ade20k; for cityscapes print the manual steps."""
    from zoo.datasets.download import cityscapes_instructions, download_archive

    if args.dataset == "cityscapes":
        say(cityscapes_instructions(args.data_root))
        return 0
    target = download_archive(args.dataset, args.data_root, progress=not args.no_progress)
    say(f"{args.dataset} unpacked at {target}")
    return 0
