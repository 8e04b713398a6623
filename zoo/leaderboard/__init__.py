"""Leaderboard pages rendered from the results store and from the figures publishers reported.

>>> from zoo.leaderboard import render
>>> render("leaderboards/data", "leaderboards/")  # doctest: +SKIP
[PosixPath('leaderboards/README.md'), PosixPath('leaderboards/ade20k.md'), ...]

Writes ``README.md`` (the index), one page per dataset (``voc.md``, ``cityscapes.md``, ``ade20k.md``),
``speed.md`` and, where measured rows carry a throughput, ``plots/<dataset>-<device>.{png,svg}``. Rendering is
deterministic: the same results give byte-identical files. The command is ``zoo leaderboard``
(:mod:`zoo.cli.leaderboard`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from zoo.errors import ResultsFileError
from zoo.leaderboard import data, pages
from zoo.leaderboard.reported import reported_rows
from zoo.registry import REGISTRY, Registry

__all__ = ["ResultsFileError", "render"]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def render(
    results_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    date: str | None = None,
    registry: Registry | None = None,
) -> list[Path]:
    """Render every page from the results under ``results_dir`` into ``out_dir``.

    Args:
        results_dir: a folder of results stores (``*.csv`` / ``*.parquet`` with their ``.per_class``
            companions) and speed tables (``speed*.csv``, ``*.speed.csv``), searched recursively.
        out_dir: where the pages go (created if needed).
        date: ``YYYY-MM-DD`` stated as the results' date; default: the newest row's date.
        registry: where reported figures and weight metadata come from (default: zoo's registry).

    Returns:
        The files written, sorted.

    Raises:
        ResultsFileError: a results file is empty or malformed (the message names it).
        ValueError: ``date`` is not ``YYYY-MM-DD``.
    """
    from zoo import __version__

    if date is not None and not _DATE.match(date):
        raise ValueError(f"date must be YYYY-MM-DD, got {date!r}")
    results = data.load(results_dir)
    out = Path(out_dir)
    ctx = pages.Context(
        results=results,
        registry=registry if registry is not None else REGISTRY,
        out_dir=out,
        zoo_version=__version__,
        date=date or pages.newest_date(results),
    )
    ctx.reported = reported_rows(ctx.registry)
    out.mkdir(parents=True, exist_ok=True)
    names = pages.datasets(ctx)
    for dataset in names:
        _write(ctx, out / pages.dataset_page_name(dataset), pages.dataset_page(ctx, dataset))
    _write(ctx, out / "speed.md", pages.speed_page(ctx))
    _write(ctx, out / "README.md", pages.index_page(ctx, names))
    return sorted(set(ctx.written))


def _write(ctx: pages.Context, path: Path, lines: Sequence[str]) -> None:
    text = "\n".join(line.rstrip() for line in lines).rstrip("\n") + "\n"
    path.write_bytes(text.encode("utf-8"))
    ctx.written.append(path)
