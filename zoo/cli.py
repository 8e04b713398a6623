"""The ``zoo`` command: ``zoo list [PATTERN...]`` and ``zoo info NAME``, as rich tables, and ``zoo data``.

``zoo data check DATASET [--data-root R] [--split S]`` reads every sample of a split and prints the counts and
every problem (exit 1 if any). ``zoo data download voc|ade20k|cityscapes [--data-root R]`` downloads,
verifies and unpacks an official archive (cityscapes: prints how to get it by hand). The data root defaults
to ``$ZOO_DATA``, else the platform's user data folder (:mod:`zoo.datasets.locations`).

No command imports torch, timm or smp (except ``zoo list --on-demand``, which asks timm for its names).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from zoo.errors import ZooError
from zoo.registry import REGISTRY, ModelEntry
from zoo.weights import WeightRecord


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description="Semantic-segmentation model zoo.")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="list model names (fnmatch patterns)")
    listing.add_argument("patterns", nargs="*", default=["*"], help="e.g. 'unet-*' 'deeplabv3plus-resnet*'")
    listing.add_argument(
        "--pretrained", action="store_true", help="list name.tag for every pretrained weight"
    )
    listing.add_argument(
        "--dataset", choices=["voc", "cityscapes", "ade20k"], help="only weights for this dataset"
    )
    listing.add_argument(
        "--on-demand", action="store_true", help="also list the tu- timm encoders (thousands; imports timm)"
    )
    info = commands.add_parser("info", help="describe one model and its weights")
    info.add_argument("name", help="a model name, optionally with .tag")
    data = commands.add_parser("data", help="check or download datasets")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    check = data_commands.add_parser("check", help="read every sample of a split; report every problem")
    check.add_argument("dataset", help="voc, cityscapes or ade20k")
    check.add_argument("--data-root", help="folder holding the dataset (default: $ZOO_DATA or user data dir)")
    check.add_argument("--split", default="val", help="split to check (default: val)")
    download = data_commands.add_parser("download", help="download, verify and unpack an official archive")
    download.add_argument("dataset", choices=["voc", "ade20k", "cityscapes"])
    download.add_argument("--data-root", help="where to unpack (default: $ZOO_DATA or user data dir)")
    download.add_argument("--no-progress", action="store_true", help="no progress bar")
    leaderboard = commands.add_parser(
        "leaderboard", add_help=False, help="render the Markdown leaderboards (zoo leaderboard --help)"
    )
    leaderboard.add_argument("arguments", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``zoo`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["leaderboard"]:  # its own parser: argparse sub-commands cannot pass options through
        from zoo.leaderboard import leaderboard_main

        return leaderboard_main(argv[1:])
    args = _parser().parse_args(argv)
    from rich.console import Console

    console = Console()
    try:
        if args.command == "list":
            return _list(console, args)
        if args.command == "data":
            return _data(console, args)
        return _info(console, args.name)
    except ZooError as error:
        Console(stderr=True).print(f"[red]error:[/red] {error}", highlight=False)
        return 2


def _list(console, args: argparse.Namespace) -> int:
    from rich.table import Table

    names = REGISTRY.list_models(
        args.patterns, pretrained=args.pretrained, dataset=args.dataset, include_on_demand=args.on_demand
    )
    if not names:
        console.print(f"no model matches {' '.join(args.patterns)}", highlight=False)
        return 1
    table = Table(title=f"{len(names)} models", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("family")
    table.add_column("architecture")
    table.add_column("encoder")
    table.add_column("pretrained weights")
    for name in names:
        entry, weights = REGISTRY.resolve(name)
        shown = [weights] if weights else entry.weights
        table.add_row(
            name,
            entry.family,
            entry.architecture,
            entry.encoder,
            ", ".join(f"{w.tag} ({w.dataset})" for w in shown),
        )
    console.print(table)
    return 0


def _data(console, args: argparse.Namespace) -> int:
    from rich.console import Console

    from zoo.errors import DatasetError

    try:
        if args.data_command == "check":
            return _data_check(console, args)
        return _data_download(console, args)
    except DatasetError as error:
        Console(stderr=True).print(f"[red]error:[/red] {error}", highlight=False)
        return 2


def _data_check(console, args: argparse.Namespace) -> int:
    """``zoo data check``: the CheckReport as a table of counts, then every problem; 1 if there are any."""
    from rich.markup import escape
    from rich.table import Table

    from zoo.datasets import ALIASES, DATASET_NAMES, check
    from zoo.datasets.locations import default_data_root
    from zoo.errors import DatasetError

    key = ALIASES.get(args.dataset.lower(), args.dataset.lower())
    if key not in DATASET_NAMES:
        raise DatasetError(f"unknown dataset {args.dataset!r}; known: {', '.join(DATASET_NAMES)}")
    root = args.data_root if args.data_root is not None else default_data_root()
    report = check(key, root, args.split)
    table = Table(show_header=False, title=f"{report.dataset} {report.split}", title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("root", escape(report.root))
    table.add_row("samples", str(report.num_samples))
    table.add_row("ok", str(report.num_ok))
    table.add_row("problems", f"[red]{len(report.problems)}[/red]" if report.problems else "0")
    if report.num_ok:
        total = sum(report.class_pixels) + report.ignore_pixels
        present = sum(1 for n in report.class_pixels if n)
        table.add_row("pixels", f"{total:,} ({report.ignore_pixels:,} ignore)")
        table.add_row("classes present", f"{present} of {len(report.class_pixels)}")
    console.print(table)
    # The report's own one-line summary, unboxed: easy to grep in logs.
    console.print(escape(str(report).splitlines()[0]), highlight=False, soft_wrap=True)
    for sample_id, message in report.problems:
        console.print(
            f"[red]problem[/red] {escape(sample_id)}: {escape(message)}", highlight=False, soft_wrap=True
        )
    return 1 if report.problems else 0


def _data_download(console, args: argparse.Namespace) -> int:
    """``zoo data download``: fetch and unpack voc/ade20k; for cityscapes print the manual steps."""
    from rich.markup import escape

    from zoo.datasets.download import cityscapes_instructions, download_archive

    if args.dataset == "cityscapes":
        console.print(escape(cityscapes_instructions(args.data_root)), highlight=False, soft_wrap=True)
        return 0
    target = download_archive(args.dataset, args.data_root, progress=not args.no_progress)
    console.print(f"{args.dataset} unpacked at {escape(str(target))}", highlight=False, soft_wrap=True)
    return 0


def _info(console, name: str) -> int:
    from rich.table import Table

    entry, selected = REGISTRY.resolve(name)
    summary = Table(show_header=False, title=entry.name, title_justify="left")
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("family", f"{entry.family} ({entry.qualified_name})")
    summary.add_row("architecture", entry.architecture)
    summary.add_row("encoder", entry.encoder)
    summary.add_row("paper", entry.paper or "-")
    summary.add_row("description", entry.description or "-")
    summary.add_row("default classes", str(entry.default_num_classes))
    others = [e.qualified_name for e in REGISTRY.entries() if e.name == entry.name and e is not entry]
    if others:
        summary.add_row("also offered as", ", ".join(others))
    console.print(summary)
    records = [selected] if selected else list(entry.weights)
    if not records:
        console.print("no pretrained weights (zoo.create builds it randomly initialised)")
    for record in records:
        console.print(_weights_table(entry, record))
    return 0


def _checksum_text(record: WeightRecord) -> str:
    if record.checksum == "full":
        return f"sha256 {record.sha256} (full)"
    if record.checksum == "prefix":
        return f"sha256 {record.sha256}… (the {len(record.sha256)}-digit prefix its publisher published)"
    return "[bold red]UNVERIFIED[/bold red]: no checksum is known; the download cannot be verified"


def _weights_table(entry: ModelEntry, record: WeightRecord):
    from rich.table import Table

    table = Table(show_header=False, title=f"{entry.name}.{record.tag}", title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("dataset", f"{record.dataset} ({record.num_classes} classes)")
    table.add_row("trained on", record.trained_on)
    table.add_row("source", record.source)
    if record.hf_repo and len(record.hf_revision or "") != 40:
        table.add_row("revision", f"[yellow]{record.hf_revision}: not pinned to a commit[/yellow]")
    table.add_row("checksum", _checksum_text(record))
    if record.file_size:
        table.add_row("size", f"{record.file_size:,} bytes")
    if record.num_params:
        table.add_row("parameters", f"{record.num_params:,} (published)")
    protocol = record.protocol
    table.add_row(
        "protocol",
        f"{protocol.short_code()}: {protocol.channel_order}, mean {protocol.mean} std {protocol.std} on "
        f"[0, {protocol.value_scale:g}], resize {protocol.resize} {protocol.resize_size or ''}"
        + (f" to a multiple of {protocol.resize_multiple_of}" if protocol.resize_multiple_of else "")
        + (f", crop {protocol.crop_size} stride {protocol.stride}" if protocol.inference == "slide" else "")
        + f", align_corners={protocol.align_corners}",
    )
    for metric in record.reported:
        where = f" on {metric.dataset}" if metric.dataset else ""
        note = f", {metric.note}" if metric.note else ""
        table.add_row(
            f"reported {metric.name}",
            f"{metric.value:g}{where}{note} — reported by publisher: {metric.source}",
        )
    if not record.reported:
        table.add_row("reported", "no publisher figure recorded")
    table.add_row("license", record.license)
    if record.note:
        table.add_row("note", record.note)
    return table


if __name__ == "__main__":
    sys.exit(main())
