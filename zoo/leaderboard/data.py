"""Reading what the pages are rendered from: measured accuracy results, per-class values, speed rows.

Accuracy results are the files of :class:`zoo.results.ResultsStore` (``*.csv`` / ``*.parquet``, with a
``<stem>.per_class<suffix>`` companion), read without taking their lock (the results folder may be read-only). Speed results are any ``speed*.csv`` or ``*.speed.csv`` (or ``.parquet``); their columns
are read as strings and only the ones present are rendered, since that store is still evolving.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from zoo.datasets.spec import is_folder_name
from zoo.errors import ResultsFileError
from zoo.results import ACCURACY, ResultsStore
from zoo.results.schema import COMPLEXITY

__all__ = ["Results", "ResultsFileError", "is_speed_file", "load"]


@dataclass
class Results:
    """Everything found under a results directory."""

    accuracy: (
        pd.DataFrame
    )  #: every measured accuracy row (columns of :data:`zoo.results.ACCURACY`) + ``file``
    per_class: pd.DataFrame  #: per-class values of those rows (columns of ``ACCURACY.per_class``)
    speed: pd.DataFrame  #: every speed row, all columns as strings (``""`` when empty) + ``file``
    files: list[Path]  #: the files read, sorted
    complexity: pd.DataFrame = field(default_factory=COMPLEXITY.empty)  #: computed rows (``complexity*.csv``)


def is_speed_file(path: Path) -> bool:
    name = path.name.lower()
    return any(
        name.endswith(suffix) and (name.startswith("speed") or name.endswith(f".speed{suffix}"))
        for suffix in (".csv", ".parquet")
    )


def _is_per_class(path: Path) -> bool:
    return ".per_class." in path.name


def load(results_dir: str | Path | None) -> Results:
    """Read every results file under ``results_dir`` (recursively, in sorted order).

    ``None`` or a missing directory means no results. Hidden files (temporary files, lock files) are skipped. Rows on a
    folder of the user's own (``folder:...``, see :mod:`zoo.datasets.folder_dataset`) are left out: the
    leaderboards are about the official benchmarks, and such rows are never mixed with them.

    Raises:
        ResultsFileError: a file is empty, cannot be parsed or has the wrong columns; the message names it.
    """
    root = Path(results_dir) if results_dir is not None else None
    paths = (
        sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
        if root is not None and root.is_dir()
        else []
    )
    accuracy: list[pd.DataFrame] = []
    per_class: list[pd.DataFrame] = []
    speed: list[pd.DataFrame] = []
    used: list[Path] = []
    complexity: list[pd.DataFrame] = []
    for path in paths:
        suffix = path.suffix.lower()
        if is_speed_file(path):
            speed.append(_read_speed(path))
            used.append(path)
        elif path.name.lower().startswith("complexity") and suffix in (".csv", ".parquet"):
            complexity.append(ResultsStore(path, COMPLEXITY).read())  # zoo.leaderboard.catalogue renders it
            used.append(path)
        elif suffix in (".csv", ".parquet") and not _is_per_class(path):
            store = ResultsStore(path, ACCURACY)
            rows = store.read()
            rows["file"] = str(path)
            accuracy.append(rows)
            used.append(path)
            if store.per_class_path.exists():
                per_class.append(store.read_per_class())
                used.append(store.per_class_path)
    key_columns = list(ACCURACY.key_columns)
    acc = pd.concat(accuracy, ignore_index=True) if accuracy else ACCURACY.empty().assign(file="")
    acc = _official(acc)
    # Each store refuses a key twice within itself; only rows of different files can share one.
    dup = acc.duplicated(subset=key_columns, keep=False)
    if dup.any():
        files = sorted(set(acc.loc[dup, "file"]))
        raise ResultsFileError(
            f"{', '.join(files)}: the same result key appears more than once across files, "
            f"e.g. {tuple(acc.loc[dup, key_columns].iloc[0])}"
        )
    per_class_schema = ACCURACY.per_class
    assert per_class_schema is not None
    classes = pd.concat(per_class, ignore_index=True) if per_class else per_class_schema.empty()
    if len(per_class) > 1:  # one file holds no key twice (its store checked that on reading)
        classes = classes.drop_duplicates(subset=list(per_class_schema.key_columns), keep="last")
        classes = classes.reset_index(drop=True)
    classes = _official(classes)
    spd = pd.concat(speed, ignore_index=True).fillna("") if speed else pd.DataFrame({"file": []}, dtype=str)
    return Results(
        accuracy=acc.loc[:, [*ACCURACY.columns, "file"]],
        per_class=classes.loc[:, list(per_class_schema.columns)],
        speed=spd,
        files=sorted(set(used)),
        complexity=pd.concat(complexity, ignore_index=True) if complexity else COMPLEXITY.empty(),
    )


def _official(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without the rows on a folder of the user's own, indexed from 0. Each dataset name is judged
    once (hundreds of thousands of per-class rows share a few names)."""
    names = frame["dataset"].unique().tolist()
    folders = [name for name in names if is_folder_name(name)]
    if not folders:
        return frame.reset_index(drop=True)
    return frame.loc[~frame["dataset"].isin(folders)].reset_index(drop=True)


def _read_speed(path: Path) -> pd.DataFrame:
    if path.suffix.lower() == ".parquet":
        try:
            df = pd.read_parquet(path)
        except Exception as e:  # pyarrow raises many types for a bad file
            raise ResultsFileError(f"{path}: cannot be read as a speed table: {e}") from e
        if "model" not in df.columns:
            raise ResultsFileError(
                f"{path}: a speed table needs at least a 'model' column; it has {list(df.columns)}"
            )
        df = df.astype(object).where(df.notna(), "").astype(str)
        df["file"] = str(path)
        return df
    try:
        data = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ResultsFileError(f"{path}: cannot be read as a speed table: {e}") from e
    rows = list(csv.reader(io.StringIO(data, newline="")))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ResultsFileError(f"{path}: the file is empty (no header line)")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header) or "" in header:
        raise ResultsFileError(f"{path}: the header has empty or repeated column names: {header}")
    for line, fields in enumerate(rows[1:], start=2):
        if fields and len(fields) != len(header):
            raise ResultsFileError(
                f"{path}: record {line} has {len(fields)} fields, the header has {len(header)}"
            )
    if "model" not in header:
        raise ResultsFileError(f"{path}: a speed table needs at least a 'model' column; it has {header}")
    df = pd.DataFrame([r for r in rows[1:] if r], columns=header, dtype=str).fillna("")
    df["file"] = str(path)
    return df
