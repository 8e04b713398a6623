"""``models.md``: the registry catalogue, from the complexity rows ``zoo bench profile`` computed.

For every profiled entry at each input size: parameters, GFLOPs and GMACs of the forward, the estimated
peak activation memory, the ops the FLOP count leaves out, and the published weights; views per
architecture, per encoder and within GFLOPs budgets; and a plot of GFLOPs against parameters by
architecture. Every figure is *computed* from the architecture (:mod:`zoo.bench.profile`) with the versions
the page names, never measured. Rendering is deterministic: the same rows give byte-identical files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from zoo.leaderboard.plots import save_figure
from zoo.leaderboard.tables import MISSING, code, escape, table
from zoo.registry import natural_key

if TYPE_CHECKING:
    from zoo.leaderboard.pages import Context

__all__ = ["BUDGET_GFLOPS", "BUDGET_SIZE", "PAGE_NAME", "Entry", "catalogue_entries", "models_page"]

PAGE_NAME = "models.md"
#: The GFLOPs budgets of the "smallest models" view, at :data:`BUDGET_SIZE`.
BUDGET_GFLOPS: tuple[float, ...] = (10, 50, 200)
#: The input size budgets and the plot refer to: VOC's and ADE20K's evaluation size.
BUDGET_SIZE: tuple[int, int] = (512, 512)
#: Entries listed per budget.
BUDGET_ROWS = 10
PLOT_STEM = "plots/models-gflops-vs-params"


@dataclass(frozen=True)
class Entry:
    """One profiled registry entry: its rows by ``(height, width)``, and where it belongs."""

    model: str
    architecture: str
    encoder: str
    weights: str  #: the published weight tags, ``;``-separated (``""``: none)
    params: int | None
    by_size: dict[tuple[int, int], pd.Series]  #: the ``ok`` rows
    errors: tuple[str, ...]  #: ``"HxW: error"`` of the rows that failed


def _current_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Batch-1 rows, one per (model, size): of several version sets, the newest row (then the highest
    versions) wins, so a re-sweep under new versions replaces the old figures on the page."""
    frame = frame.loc[frame["batch_size"] == 1]
    order = ["date", "zoo_version", "torch_version", "timm_version", "smp_version"]
    frame = frame.sort_values(order, kind="mergesort")
    return frame.drop_duplicates(subset=["model", "height", "width"], keep="last")


def catalogue_entries(frame: pd.DataFrame, registry) -> list[Entry]:
    """The complexity rows of ``frame`` (columns of :data:`zoo.results.schema.COMPLEXITY`) grouped per
    entry, in natural order of the name; architecture and encoder come from ``registry``."""
    rows = _current_rows(frame)
    entries = []
    for model, group in rows.groupby("model", sort=False):
        try:
            found, _ = registry.resolve(model)
            architecture, encoder = found.architecture, found.encoder
        except Exception:  # an entry no longer registered keeps its figures, under its name's parts
            architecture, _, encoder = str(model).partition("-")
        ok = group.loc[group["status"] == "ok"]
        failed = group.loc[group["status"] != "ok"]
        by_size = {(int(r["height"]), int(r["width"])): r for _, r in ok.iterrows()}
        params = int(ok["params"].iloc[0]) if len(ok) else None
        weights = next((w for w in group["weights"] if w), "")
        errors = tuple(f"{r['height']}x{r['width']}: {r['error']}" for _, r in failed.iterrows())
        entries.append(Entry(str(model), architecture, encoder, weights, params, by_size, errors))
    return sorted(entries, key=lambda e: natural_key(e.model))


def _size_label(size: tuple[int, int]) -> str:
    from zoo.datasets.spec import DATASETS

    users = [spec.title for spec in DATASETS.values() if spec.eval_size == size]
    return f"{size[0]}x{size[1]}" + (f" ({', '.join(users)})" if users else "")


def _millions(value: int | None) -> str:
    return MISSING if value is None else f"{value / 1e6:.2f}"


def _figure(entry: Entry, size: tuple[int, int], column: str, digits: int) -> str:
    row = entry.by_size.get(size)
    return MISSING if row is None else f"{float(row[column]):.{digits}f}"


def _weights(entry: Entry) -> str:
    return ", ".join(entry.weights.split(";")) if entry.weights else MISSING


def _uncounted(entry: Entry) -> str:
    ops = {op for row in entry.by_size.values() for op in str(row["uncounted_ops"]).split(",") if op}
    return escape(", ".join(sorted(op.removeprefix("aten.") for op in ops))) if ops else MISSING


def _versions(frame: pd.DataFrame) -> str:
    columns = ["zoo_version", "torch_version", "timm_version", "smp_version"]
    sets = sorted({tuple(r) for r in frame[columns].itertuples(index=False)})
    return "; ".join(f"zoo {z}, torch {t}, timm {m}, smp {s}" for z, t, m, s in sets)


def _range(values: Sequence[float], digits: int) -> str:
    return f"{min(values):.{digits}f} – {max(values):.{digits}f}" if values else MISSING


def _summary(groups: dict[str, list[Entry]], size: tuple[int, int], what: str) -> list[str]:
    headers = [what, "entries", "with weights", "params (M)", f"GFLOPs at {size[0]}x{size[1]}",
               f"act. MiB at {size[0]}x{size[1]}"]  # fmt: skip
    rows = []
    for name in sorted(groups, key=natural_key):
        members = groups[name]
        ok = [e for e in members if size in e.by_size]
        rows.append([
            code(name), str(len(members)), str(sum(1 for e in members if e.weights)),
            _range([e.params / 1e6 for e in ok if e.params is not None], 1),
            _range([float(e.by_size[size]["gflops"]) for e in ok], 1),
            _range([float(e.by_size[size]["peak_activation_mib"]) for e in ok], 0),
        ])  # fmt: skip
    return table(headers, rows, "lrrrrr")


def models_page(ctx: Context) -> list[str]:
    """The lines of ``models.md`` (and the plot beside it) from ``ctx.results.complexity``."""
    frame = ctx.results.complexity
    entries = catalogue_entries(frame, ctx.registry)
    sizes = sorted({size for e in entries for size in e.by_size}, key=lambda s: (s[0] * s[1], s))
    registered = len(ctx.registry.list_models())
    profiled = sum(1 for e in entries if e.by_size)
    lines = [
        "# Registry catalogue: parameters, FLOPs and activation memory",
        "",
        "**Computed from the architecture, not measured**: no timing and no accuracy. Each entry is built "
        "without weights on PyTorch's meta device and one inference forward (batch 1, fp32, "
        "`torch.inference_mode`) is traced at each input size.",
        "",
        f"- Versions: {escape(_versions(frame))}.",
        "- GFLOPs: `torch.utils.flop_counter.FlopCounterMode`, 2 FLOPs per multiply-accumulate of "
        "convolutions, matrix products and attention; GMACs = GFLOPs / 2. The ops with no FLOP formula "
        "(normalisation, activations, interpolation, pooling, ...) are listed as *uncounted*: their FLOPs "
        "are missing from the figure.",
        "- Activation memory: the estimated peak of the tensors alive at once during the forward (input "
        "included, parameters excluded, fp32), from tensor lifetimes in the traced forward; allocator "
        "rounding and library workspaces are not included, so a GPU's measured peak reads somewhat higher.",
        f"- Coverage: {profiled} of the {registered} entries `zoo list` shows"
        + (f" ({profiled / registered:.1%})" if registered else "")
        + ". Sizes: "
        + "; ".join(_size_label(s) for s in sizes)
        + ".",
        "- Regenerate: `zoo bench profile --models '*' --dataset voc cityscapes ade20k "
        "--results leaderboards/data/complexity.csv --resume`, then `zoo leaderboard`.",
        "",
    ]
    budget_size = BUDGET_SIZE if BUDGET_SIZE in sizes else (sizes[0] if sizes else BUDGET_SIZE)
    plotted = [e for e in entries if budget_size in e.by_size]
    if plotted:
        files = plot_gflops_vs_params(plotted, budget_size, ctx.out_dir / PLOT_STEM)
        ctx.written.extend(files)
        lines += [f"![GFLOPs against parameters at {budget_size[0]}x{budget_size[1]}]({PLOT_STEM}.png)", ""]
    lines += _budget_section(plotted, budget_size)
    by_architecture: dict[str, list[Entry]] = {}
    by_encoder: dict[str, list[Entry]] = {}
    for e in entries:
        by_architecture.setdefault(e.architecture, []).append(e)
        by_encoder.setdefault(e.encoder, []).append(e)
    lines += ["## Per architecture", "", *_summary(by_architecture, budget_size, "architecture"), ""]
    lines += ["## Per encoder", "", *_summary(by_encoder, budget_size, "encoder"), ""]
    lines += ["## Every entry", ""]
    headers = ["model", "params (M)"]
    for h, w in sizes:
        headers += [f"GFLOPs {h}x{w}", f"GMACs {h}x{w}", f"act. MiB {h}x{w}"]
    headers += ["weights", "uncounted ops"]
    for architecture in sorted(by_architecture, key=natural_key):
        rows = []
        for e in by_architecture[architecture]:
            cells = [code(e.model), _millions(e.params)]
            for size in sizes:
                cells += [_figure(e, size, "gflops", 1), _figure(e, size, "gmacs", 1),
                          _figure(e, size, "peak_activation_mib", 0)]  # fmt: skip
            rows.append([*cells, escape(_weights(e)), _uncounted(e)])
        lines += [
            f"### {escape(architecture)}",
            "",
            *table(headers, rows, "lr" + "r" * 3 * len(sizes) + "ll"),
            "",
        ]
    failed = [e for e in entries if e.errors]
    if failed:
        lines += ["## Entries that could not be profiled", ""]
        rows = [[code(e.model), escape("; ".join(e.errors))] for e in failed]
        lines += [*table(["model", "error"], rows), ""]
    return lines


def _budget_section(entries: list[Entry], size: tuple[int, int]) -> list[str]:
    lines = [f"## Smallest models within a GFLOPs budget ({size[0]}x{size[1]})", ""]
    for budget in BUDGET_GFLOPS:
        fits = [e for e in entries if float(e.by_size[size]["gflops"]) <= budget and e.params is not None]
        fits.sort(key=lambda e: (e.params, natural_key(e.model)))
        lines += [
            f"**At most {budget:g} GFLOPs**: {len(fits)} entries; the {min(len(fits), BUDGET_ROWS)} with the "
            "fewest parameters:",
            "",
        ]
        if fits:
            rows = [[code(e.model), _millions(e.params), _figure(e, size, "gflops", 1),
                     _figure(e, size, "peak_activation_mib", 0), escape(_weights(e))]
                    for e in fits[:BUDGET_ROWS]]  # fmt: skip
            lines += table(["model", "params (M)", "GFLOPs", "act. MiB", "weights"], rows, "lrrrl")
        lines.append("")
    return lines


def plot_gflops_vs_params(entries: Sequence[Entry], size: tuple[int, int], stem: Path) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.svg``: GFLOPs against parameters (log-log), one colour and marker
    per architecture, named in a legend beside the axes (no per-point labels to collide)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    groups: dict[str, list[Entry]] = {}
    for e in entries:
        groups.setdefault(e.architecture, []).append(e)
    names = sorted(groups, key=natural_key)
    markers = "osD^v<>pPX*h"
    rc = {"svg.hashsalt": "zoo-leaderboard", "svg.fonttype": "path", "path.simplify": True}
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(9.0, 5.5), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        colours = matplotlib.colormaps["tab20"]
        for index, name in enumerate(names):
            members = groups[name]
            ax.scatter([e.params / 1e6 for e in members], [float(e.by_size[size]["gflops"]) for e in members],
                       s=14, alpha=0.8, color=colours(index % 20), marker=markers[index % len(markers)],
                       label=f"{name} ({len(members)})")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("parameters (millions, log scale)")
        ax.set_ylabel(f"GFLOPs per {size[0]}x{size[1]} image (log scale)")
        ax.set_title(
            f"Computed GFLOPs against parameters, {size[0]}x{size[1]}, batch 1 (not measured)", fontsize=10
        )
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(title="architecture (entries)", fontsize=8, title_fontsize=8, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)  # fmt: skip
        fig.tight_layout()
        return save_figure(fig, stem)
