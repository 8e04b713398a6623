"""``zoo list [PATTERN...]`` and ``zoo info NAME``: the registry as rich tables. Neither imports torch, timm or
smp (except ``zoo list --on-demand``, which asks timm for its names)."""

from __future__ import annotations

import argparse

from zoo.cli.base import add_command, console, dataset_names
from zoo.registry import REGISTRY, ModelEntry
from zoo.weights import WeightRecord

__all__ = ["add_commands"]


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``list`` and ``info`` to the ``zoo`` tree."""
    listing = add_command(commands, "list", list_models, help="list model names (fnmatch patterns)")
    listing.add_argument(
        "patterns",
        nargs="*",
        default=["*"],
        help="e.g. 'unet-*' 'deeplabv3plus-resnet*' (default: every model)",
    )
    listing.add_argument(
        "--pretrained", action="store_true", help="list name.tag for every pretrained weight"
    )
    listing.add_argument(
        "--dataset",
        choices=dataset_names,
        metavar="DATASET",
        help="only weights for this dataset: %(choices)s",
    )
    listing.add_argument(
        "--on-demand", action="store_true", help="also list the tu- timm encoders (thousands; imports timm)"
    )
    info = add_command(commands, "info", describe_model, help="describe one model and its weights")
    info.add_argument("name", help="a model name, optionally with .tag")


def _text(value: object):
    """A table cell holding ``value`` verbatim: registry text (descriptions, notes, sources) is data, and may
    hold brackets that markup would eat."""
    from rich.text import Text

    return Text(str(value))


def list_models(args: argparse.Namespace) -> int:
    """``zoo list``: a table of the matching names; 1 when nothing matches."""
    from rich.table import Table
    from rich.text import Text

    out = console()
    names = REGISTRY.list_models(
        args.patterns, pretrained=args.pretrained, dataset=args.dataset, include_on_demand=args.on_demand
    )
    if not names:
        patterns = " ".join(args.patterns)
        entries = REGISTRY.list_models(args.patterns, include_on_demand=args.on_demand)
        wanted = f"weights for {args.dataset}" if args.dataset else "pretrained weights"
        found = entries and (
            args.pretrained or args.dataset
        )  # the pattern matched; the weights filter did not
        message = f"{len(entries)} entries match {patterns}, none has {wanted}" if found else ""
        out.print(Text(message or f"no model matches {patterns}"), soft_wrap=True)
        return 1
    table = Table(title=f"{len(names)} models", title_justify="left")
    for column in ("name", "family", "architecture", "encoder", "pretrained weights"):
        table.add_column(column, no_wrap=column == "name")
    for name in names:
        entry, weights = REGISTRY.resolve(name)
        shown = [weights] if weights else entry.weights
        table.add_row(
            *map(_text, (name, entry.family, entry.architecture, entry.encoder)),
            _text(", ".join(f"{w.tag} ({w.dataset})" for w in shown)),
        )
    out.print(table)
    return 0


def describe_model(args: argparse.Namespace) -> int:
    """``zoo info NAME``: the entry, then one table per weight record (or the selected one)."""
    from rich.table import Table

    out = console()
    entry, selected = REGISTRY.resolve(args.name)
    summary = Table(show_header=False, title=_text(entry.name), title_justify="left")
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("family", _text(f"{entry.family} ({entry.qualified_name})"))
    summary.add_row("architecture", _text(entry.architecture))
    summary.add_row("encoder", _text(entry.encoder))
    summary.add_row("paper", _text(entry.paper or "-"))
    summary.add_row("description", _text(entry.description or "-"))
    summary.add_row("default classes", str(entry.default_num_classes))
    others = [e.qualified_name for e in REGISTRY.entries() if e.name == entry.name and e is not entry]
    if others:
        summary.add_row("also offered as", _text(", ".join(others)))
    out.print(summary)
    records = [selected] if selected else list(entry.weights)
    if not records:
        out.print("no pretrained weights (zoo.create builds it randomly initialised)")
    for record in records:
        out.print(_weights_table(entry, record))
    return 0


def _checksum_text(record: WeightRecord):
    from rich.text import Text

    if record.checksum == "full":
        return _text(f"sha256 {record.sha256} (full)")
    if record.checksum == "prefix":
        return _text(
            f"sha256 {record.sha256}… (the {len(record.sha256)}-digit prefix its publisher published)"
        )
    return Text.assemble(
        ("UNVERIFIED", "bold red"), ": no checksum is known; the download cannot be verified"
    )


def _weights_table(entry: ModelEntry, record: WeightRecord):
    from rich.table import Table
    from rich.text import Text

    table = Table(show_header=False, title=_text(f"{entry.name}.{record.tag}"), title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("dataset", _text(f"{record.dataset} ({record.num_classes} classes)"))
    table.add_row("trained on", _text(record.trained_on))
    table.add_row("source", _text(record.source))
    if record.hf_repo and len(record.hf_revision or "") != 40:
        table.add_row("revision", Text(f"{record.hf_revision}: not pinned to a commit", style="yellow"))
    table.add_row("checksum", _checksum_text(record))
    if record.file_size:
        table.add_row("size", f"{record.file_size:,} bytes")
    if record.num_params:
        table.add_row("parameters", f"{record.num_params:,} (published)")
    protocol = record.protocol
    table.add_row(
        "protocol",
        _text(
            f"{protocol.short_code()}: {protocol.channel_order}, mean {protocol.mean} std {protocol.std} on "
            f"[0, {protocol.value_scale:g}], resize {protocol.resize} {protocol.resize_size or ''}"
            + (f" to a multiple of {protocol.resize_multiple_of}" if protocol.resize_multiple_of else "")
            + (
                f", crop {protocol.crop_size} stride {protocol.stride}"
                if protocol.inference == "slide"
                else ""
            )
            + f", align_corners={protocol.align_corners}"
        ),
    )
    table.add_row("reference", _text(f"{protocol.reference}: {protocol.pipeline.description}"))
    if protocol.pipeline.differences:
        table.add_row("differs from it", _text(protocol.pipeline.differences))
    for metric in record.reported:
        where = f" on {metric.dataset}" if metric.dataset else ""
        note = f", {metric.note}" if metric.note else ""
        table.add_row(
            _text(f"reported {metric.name}"),
            _text(f"{metric.value:g}{where}{note} — reported by publisher: {metric.source}"),
        )
    if not record.reported:
        table.add_row("reported", "no publisher figure recorded")
    table.add_row("license", _text(record.license))
    if record.note:
        table.add_row("note", _text(record.note))
    return table
