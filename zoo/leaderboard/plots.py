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

__all__ = ["Point", "pareto_front", "plot_accuracy_vs_speed", "slug"]


@dataclass(frozen=True)
class Point:
    label: str
    throughput: float  #: images per second
    miou: float  #: percent


def slug(text: str) -> str:
    """A file-name-safe lowercase form of ``text``: ``"NVIDIA H200"`` -> ``"nvidia-h200"``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def pareto_front(points: Sequence[Point]) -> list[Point]:
    """The points no other point beats on both throughput and mIoU, by increasing throughput."""
    usable = [p for p in points if math.isfinite(p.throughput) and math.isfinite(p.miou)]
    front = [
        p
        for p in usable
        if not any(
            q.throughput >= p.throughput
            and q.miou >= p.miou
            and (q.throughput, q.miou) != (p.throughput, p.miou)
            for q in usable
        )
    ]
    return sorted(set(front), key=lambda p: (p.throughput, -p.miou, p.label))


def plot_accuracy_vs_speed(points: Sequence[Point], title: str, stem: Path) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.svg`` and return their paths."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    usable = sorted(
        (p for p in points if math.isfinite(p.throughput) and math.isfinite(p.miou) and p.throughput > 0),
        key=lambda p: (p.throughput, p.miou, p.label),
    )
    front = pareto_front(usable)
    rc = {"svg.hashsalt": "zoo-leaderboard", "svg.fonttype": "path", "path.simplify": True}
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(7.0, 4.5), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.scatter([p.throughput for p in usable], [p.miou for p in usable], color="tab:blue", zorder=3,
                   label="measured")  # fmt: skip
        if front:
            ax.plot([p.throughput for p in front], [p.miou for p in front], color="tab:red", marker="o",
                    linestyle="--", zorder=2, label="Pareto front")  # fmt: skip
        for p in usable:
            ax.annotate(
                p.label.replace("$", r"\$"),
                (p.throughput, p.miou),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
            )
        if len({p.throughput for p in usable}) > 1:
            ax.set_xscale("log")
        ax.margins(x=0.3, y=0.1)
        ax.set_xlabel("throughput (images/s, log scale)")
        ax.set_ylabel("mIoU (%)")
        ax.set_title(title.replace("$", r"\$"), fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
        fig.tight_layout()
        stem.parent.mkdir(parents=True, exist_ok=True)
        png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
        fig.savefig(png, format="png", metadata={"Software": None})
        fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    return [png, svg]
