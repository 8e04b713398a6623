"""Accuracy-versus-throughput plots (PNG and SVG) with the Pareto front marked.

matplotlib is imported here only, with the Agg canvas and no pyplot state; the output is deterministic: the
SVG ids use a fixed hash salt and neither file carries a creation date or software version.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LABEL_ALL_MAX", "Point", "pareto_front", "plot_accuracy_vs_speed", "slug"]

#: Up to this many points every point of a plot carries its label; with more, only the Pareto front's do.
LABEL_ALL_MAX = 30


@dataclass(frozen=True)
class Point:
    label: str
    throughput: float  #: images per second
    miou: float  #: percent


def slug(text: str) -> str:
    """A file-name-safe lowercase form of ``text``: ``"NVIDIA H200"`` -> ``"nvidia-h200"``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def pareto_front(points: Sequence[Point]) -> list[Point]:
    """The points no other point beats on both throughput and mIoU, by increasing throughput.

    A point is beaten by one at least as fast and at least as accurate that differs in one of the two
    (equal points do not beat each other). One sweep from the fastest down, O(n log n).
    """
    usable = sorted(
        (p for p in points if math.isfinite(p.throughput) and math.isfinite(p.miou)),
        key=lambda p: -p.throughput,
    )
    front: set[Point] = set()
    best_faster = -math.inf  # the best mIoU among the points strictly faster than the current group
    start = 0
    while start < len(usable):
        end = start
        while end < len(usable) and usable[end].throughput == usable[start].throughput:
            end += 1
        group = usable[start:end]
        best_here = max(p.miou for p in group)
        if best_here > best_faster:  # else every point of the group is beaten by a faster one
            front.update(p for p in group if p.miou == best_here)
        best_faster = max(best_faster, best_here)
        start = end
    return sorted(front, key=lambda p: (p.throughput, -p.miou, p.label))


def save_figure(fig, stem: Path) -> list[Path]:
    """Write ``fig`` as ``stem.png`` and ``stem.svg`` without the date and software stamps matplotlib adds,
    so that the same data always gives byte-identical files (the pages are committed and diffed)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
    fig.savefig(png, format="png", metadata={"Software": None})
    fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    return [png, svg]


def plot_accuracy_vs_speed(
    points: Sequence[Point], title: str, stem: Path, others: Sequence[Point] = ()
) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.svg`` and return their paths.

    Args:
        points: the ranked rows' points; the Pareto front is theirs.
        title: the plot's title.
        stem: the path of both files without their suffix.
        others: points of rows that are not ranked (part of a split, untrained, checkpoint), drawn as hollow
            circles and never part of the front.

    Every point is drawn; each is labelled when there are at most :data:`LABEL_ALL_MAX`, otherwise only the
    Pareto front is, and the title says so.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    usable = sorted(
        (p for p in points if math.isfinite(p.throughput) and math.isfinite(p.miou) and p.throughput > 0),
        key=lambda p: (p.throughput, p.miou, p.label),
    )
    extra = sorted(
        (p for p in others if math.isfinite(p.throughput) and math.isfinite(p.miou) and p.throughput > 0),
        key=lambda p: (p.throughput, p.miou, p.label),
    )
    front = pareto_front(usable)
    rc = {"svg.hashsalt": "zoo-leaderboard", "svg.fonttype": "path", "path.simplify": True,
          # no layout engine after tight_layout (see below)
          "figure.autolayout": False, "figure.constrained_layout.use": False}  # fmt: skip
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(7.0, 4.5), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.scatter([p.throughput for p in usable], [p.miou for p in usable], color="tab:blue", zorder=3,
                   label="ranked" if extra else "measured")  # fmt: skip
        if extra:
            ax.scatter([p.throughput for p in extra], [p.miou for p in extra], facecolors="none",
                       edgecolors="tab:gray", zorder=3, label="not ranked")  # fmt: skip
        if front:
            ax.plot([p.throughput for p in front], [p.miou for p in front], color="tab:red", marker="o",
                    linestyle="--", zorder=2, label="Pareto front")  # fmt: skip
        # Every point is labelled while the labels can still be read; beyond that only the Pareto front
        # (text is most of a plot's drawing time, and hundreds of overlapping labels are noise).
        everything = [*usable, *extra]
        labelled = everything if len(everything) <= LABEL_ALL_MAX else front
        if labelled is front:
            title += f" (labels: Pareto front only, {len(everything)} points)"
        for p in labelled:
            ax.annotate(
                p.label.replace("$", r"\$"),
                (p.throughput, p.miou),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
            )
        if len({p.throughput for p in everything}) > 1:
            ax.set_xscale("log")
        ax.margins(x=0.3, y=0.1)
        ax.set_xlabel("throughput (images/s, log scale)")
        ax.set_ylabel("mIoU (%)")
        ax.set_title(title.replace("$", r"\$"), fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="best" if extra else "lower left", fontsize=8)
        fig.tight_layout()
        # tight_layout leaves a placeholder layout engine, and savefig runs a whole draw without rendering
        # before each file for a figure with one: the layout is final here, so none is left.
        fig.set_layout_engine(None)
        return save_figure(fig, stem)
