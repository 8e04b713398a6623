"""The ``zoo`` command: ``zoo list [PATTERN...]`` and ``zoo info NAME``, as rich tables.

Neither command imports torch, timm or smp (except ``zoo list --on-demand``, which asks timm for its names).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from zoo.registry import REGISTRY, ModelEntry, ZooError
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``zoo`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    from rich.console import Console

    console = Console()
    try:
        if args.command == "list":
            return _list(console, args)
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
