"""Join the results of a sharded sweep into one store.

    zoo-bench merge shards/ --out results.csv

Reads every ``shard-K-of-N.csv`` (or ``.parquet``) in the folder, with its per-class companion, and writes one
store holding each key once (see :data:`zoo.results.ACCURACY`). Rows of the ``--out`` store that
already exist are kept and count as one more source. Identical duplicates (same key, same metrics) are merged
silently. It refuses, with exit code 1 and nothing written:

- a missing shard (every ``K`` in ``0..N-1`` is expected), unless ``--allow-missing``;
- a conflict: one key with different metrics in two files (the message names both files);
- shard files of different ``N`` in one folder.

Exit code 2 for an unreadable file or a folder without shard files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from zoo.errors import MergeError
from zoo.results import ACCURACY, METRIC_COLUMNS, ResultsStore

__all__ = ["MergeError", "MergeReport", "find_shards", "merge_shards"]

#: What must agree for two rows with one key to be the same result.
COMPARED_COLUMNS: tuple[str, ...] = ("num_images", *METRIC_COLUMNS)


@dataclass
class MergeReport:
    rows: int = 0
    added: int = 0
    duplicates: int = 0
    files: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def find_shards(folder: Path) -> tuple[dict[int, Path], int]:
    """The shard files in ``folder`` by 0-based index, and their common ``N``.

    Raises:
        MergeError: no shard files, or files of different ``N``, or one index twice (``.csv`` and ``.parquet``).
    """
    from zoo.bench.distributed import SHARD_FILE

    if not folder.is_dir():
        raise MergeError(f"{folder} is not a folder", exit_code=2)
    found: dict[int, dict[int, list[Path]]] = {}
    for path in sorted(folder.iterdir()):
        match = SHARD_FILE.match(path.name)
        if match and path.is_file():
            found.setdefault(int(match.group(2)), {}).setdefault(int(match.group(1)), []).append(path)
    if not found:
        raise MergeError(f"{folder} holds no shard-K-of-N.csv files", exit_code=2)
    if len(found) > 1:
        counts = ", ".join(f"{n} ({len(files)} files)" for n, files in sorted(found.items()))
        raise MergeError(f"{folder} mixes shards of different sweeps: N = {counts}; move one set away")
    ((count, by_index),) = found.items()
    twice = [paths for paths in by_index.values() if len(paths) > 1]
    if twice:
        raise MergeError(f"shard stored twice: {', '.join(str(p) for p in twice[0])}")
    return {index: paths[0] for index, paths in sorted(by_index.items())}, count


def _same(a, b) -> bool:
    if a is pd.NA or b is pd.NA:
        return a is pd.NA and b is pd.NA
    if isinstance(a, float) or isinstance(b, float):
        a, b = float(a), float(b)
        return (math.isnan(a) and math.isnan(b)) or a == b
    return a == b


def merge_shards(folder: Path, out: Path, *, allow_missing: bool = False) -> MergeReport:
    """Merge the shard stores of ``folder`` into ``out`` (see the module docstring).

    Raises:
        MergeError: missing shards (unless ``allow_missing``), conflicting rows, mixed ``N``; nothing written.
        ResultsFileError: a file cannot be read as a results store.
    """
    shards, count = find_shards(folder)
    report = MergeReport(files=list(shards.values()))
    report.missing = [f"shard-{k}-of-{count}" for k in range(count) if k not in shards]
    problems: list[str] = []
    if report.missing and not allow_missing:
        problems.append(
            f"missing {len(report.missing)} of {count} shards: {', '.join(report.missing)} "
            "(rerun them, or pass --allow-missing to merge what is there)"
        )

    target = ResultsStore(out)
    sources: list[tuple[Path, ResultsStore]] = [(out, target)] if out.exists() else []
    sources += [(path, ResultsStore(path)) for path in shards.values()]
    kept: dict[tuple, tuple[Path, dict]] = {}
    rows: list[dict] = []
    per_class: list[pd.DataFrame] = []
    existing = 0
    for path, store in sources:
        table = store.read()
        classes = store.read_per_class()
        new_keys = set()
        for record in table.to_dict("records"):
            key = ACCURACY.key(record)
            if key in kept:
                first_path, first = kept[key]
                differ = [c for c in COMPARED_COLUMNS if not _same(first[c], record[c])]
                if differ:
                    what = ", ".join(f"{c} {first[c]!r} vs {record[c]!r}" for c in differ)
                    problems.append(
                        f"conflicting results for {record['model']}.{record['weights']} on "
                        f"{record['dataset']} {record['split']} ({record['protocol']}, {record['tta']}, "
                        f"{record['dtype']}, environment {record['environment_id']}) in {first_path} and "
                        f"{path}: {what}"
                    )
                else:
                    report.duplicates += 1
                continue
            kept[key] = (path, record)
            rows.append(record)
            new_keys.add(key)
            if store is target:
                existing += 1
        if len(classes) and new_keys:
            keys = classes.loc[:, list(ACCURACY.key_columns)].to_dict("records")
            per_class.append(classes.loc[[ACCURACY.key(k) in new_keys for k in keys]])
    if problems:
        raise MergeError("\n".join(problems))

    report.rows = len(rows)
    report.added = len(rows) - existing
    table = ACCURACY.typed(pd.DataFrame(rows, columns=list(ACCURACY.columns)))
    classes = pd.concat(per_class, ignore_index=True) if per_class else ACCURACY.per_class.empty()
    # the store's own atomic replace (a rewrite: merging is done once, not per row); per-class first, the
    # main file (what says a key is done) last
    target.replace(table, classes if len(classes) or target.per_class_path.exists() else None)
    target.read()  # what was written reads back as a valid store
    return report
