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

from zoo.errors import ResultsFileError, ResultsFolderError
from zoo.leaderboard import catalogue, data, pages
from zoo.leaderboard.reported import reported_rows
from zoo.registry import REGISTRY, Registry

__all__ = ["RESULTS_SUFFIXES", "ResultsFileError", "ResultsFolderError", "render"]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


#: The files a results folder must hold at least one of (the stores zoo-bench writes).
RESULTS_SUFFIXES = (".csv", ".parquet")


def _check_results_folder(root: Path) -> None:
    hint = "give the folder your zoo-bench --results files are in, or --reported-only"
    if not root.is_dir():
        raise ResultsFolderError(
            f"--results {root} {'is not a folder' if root.exists() else 'does not exist'}: {hint}"
        )
    if not any(p.suffix.lower() in RESULTS_SUFFIXES and not p.name.startswith(".") for p in root.rglob("*")):
        raise ResultsFolderError(
            f"--results {root} holds no results file (*.csv, *.parquet): run zoo-bench --results "
            f"{root}/NAME.csv first, or give --reported-only"
        )


def render(
    results_dir: str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str],
    *,
    date: str | None = None,
    registry: Registry | None = None,
    include_partial: bool = False,
) -> list[Path]:
    """Render every page from the results under ``results_dir`` into ``out_dir``.

    Args:
        results_dir: a folder of results stores (``*.csv`` / ``*.parquet`` with their ``.per_class``
            companions) and speed tables (``speed*.csv``, ``*.speed.csv``), searched recursively; ``None``
            renders the publishers' reported figures alone (``zoo leaderboard --reported-only``).
        out_dir: where the pages go (created if needed).
        date: ``YYYY-MM-DD`` stated as the results' date; default: the newest row's date.
        registry: where reported figures and weight metadata come from (default: zoo's registry).
        include_partial: plot the measured rows that are not ranked as well (rows on part of a split,
            untrained, checkpoint), as hollow markers that are never on the Pareto front. They are listed in
            their own section of their page, apart from the ranking, either way.

    Returns:
        The files written, sorted.

    Raises:
        ResultsFolderError: ``results_dir`` does not exist, is not a folder or holds no results file.
        ResultsFileError: a results file is empty or malformed (the message names it).
        ValueError: ``date`` is not ``YYYY-MM-DD``.
    """
    from zoo import __version__

    if date is not None and not _DATE.match(date):
        raise ValueError(f"date must be YYYY-MM-DD, got {date!r}")
    if results_dir is not None:
        _check_results_folder(Path(results_dir))
    results = data.load(results_dir)
    out = Path(out_dir)
    ctx = pages.Context(
        results=results,
        registry=registry if registry is not None else REGISTRY,
        out_dir=out,
        zoo_version=__version__,
        date=date or pages.newest_date(results),
        include_partial=include_partial,
    )
    ctx.reported = reported_rows(ctx.registry)
    out.mkdir(parents=True, exist_ok=True)
    names = pages.datasets(ctx)
    for dataset in names:
        _write(ctx, out / pages.dataset_page_name(dataset), pages.dataset_page(ctx, dataset))
    _write(ctx, out / "speed.md", pages.speed_page(ctx))
    if len(results.complexity):  # models.md: the registry catalogue (computed figures)
        _write(ctx, out / catalogue.PAGE_NAME, catalogue.models_page(ctx))
    _write(ctx, out / "README.md", pages.index_page(ctx, names))
    return sorted(set(ctx.written))


def _write(ctx: pages.Context, path: Path, lines: Sequence[str]) -> None:
    text = "\n".join(line.rstrip() for line in lines).rstrip("\n") + "\n"
    path.write_bytes(text.encode("utf-8"))
    ctx.written.append(path)
