"""The pages: one per dataset, ``speed.md`` and the index ``README.md``, as lists of Markdown lines.

Every function is deterministic: the same results and registry give the same lines (rows are sorted, the date
comes from the rows or the caller, never from the clock).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from zoo.bench.speed_table import SPEED_TABLE_COLUMNS, speed_table_cells
from zoo.datasets.spec import DATASETS
from zoo.leaderboard import plots
from zoo.leaderboard.data import Results
from zoo.leaderboard.reported import (
    COMPARISON_ROWS,
    ReportedRow,
    comparable,
    eval_set_label,
    gmacs,
    params_millions,
)
from zoo.leaderboard.tables import (
    MISSING,
    code,
    escape,
    fmt_diff,
    fmt_float,
    fmt_float_array,
    fmt_floats,
    is_missing,
    table,
    table_row,
)
from zoo.registry import ModelEntry, Registry
from zoo.results import ACCURACY
from zoo.weights import REFERENCE_PIPELINES, WeightRecord

DATASET_TITLES = {name: spec.title for name, spec in DATASETS.items()}
NO_SPEED = "No speed measurements yet: the GPU run comes later."

#: The split the pages rank (and publishers report on).
RANKED_SPLIT = "val"
#: Images in the ranked split of each benchmark (the dataset table's ``split_sizes``): a measured row is ranked
#: only when it covers all of them.
SPLIT_SIZES: dict[str, dict[str, int]] = {
    name: {RANKED_SPLIT: spec.split_sizes[RANKED_SPLIT]} for name, spec in DATASETS.items()
}
#: The ``weights`` of a row measured on a model without weights (``zoo-bench --allow-untrained``).
UNTRAINED = "untrained"
#: The ``weights`` of a row measured with weights from a user's checkpoint file.
CHECKPOINT = "checkpoint"


#: One result row as a plain mapping (column -> value): pages read rows as dicts, since a pandas row object
#: per row (``iterrows``) costs more than the rest of the page together at thousands of rows.
Row = Mapping[str, Any]


@dataclass
class Context:
    results: Results
    registry: Registry
    out_dir: Path
    zoo_version: str
    date: str | None
    #: plot the measured rows that are not ranked too (hollow markers, never on the Pareto front)
    include_partial: bool = False
    reported: list[ReportedRow] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    #: ``(model, weights tag)`` -> registry entry and weight record, resolved once per pair (many result rows
    #: share a weight, and resolving an unknown name searches the registry for the closest names).
    lookups: dict[tuple[str, str], tuple[ModelEntry | None, WeightRecord | None]] = field(
        default_factory=dict, repr=False
    )
    #: the per-class tables of every result key, built on first use
    per_class_tables: _PerClassTables | None = field(default=None, repr=False)


def _column_values(column: pd.Series) -> list[Any]:
    """``column``'s values as ``DataFrame.to_dict("records")`` gives them (Python scalars; ``None`` for a missing
    integer), without iterating a pyarrow-backed text column value by value in Python (most of its cost)."""
    if isinstance(column.dtype, pd.StringDtype):
        return column.to_numpy(dtype=object).tolist()
    if isinstance(column.dtype, pd.api.extensions.ExtensionDtype) and column.hasnans:
        return [None if v is pd.NA else v for v in column.tolist()]
    return column.tolist()


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame.to_dict("records")``, a column at a time."""
    columns = [str(c) for c in frame.columns]
    values = [_column_values(frame[c]) for c in frame.columns]
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


def _as_of(ctx: Context) -> str:
    return f"results as of {escape(ctx.date)}" if ctx.date else "no dated result row yet"


def dataset_page_name(dataset: str) -> str:
    return f"{plots.slug(dataset)}.md"


def datasets(ctx: Context) -> list[str]:
    extra = sorted(set(ctx.results.accuracy["dataset"]) - set(DATASET_TITLES))
    return [*DATASET_TITLES, *extra]


def newest_date(results: Results) -> str | None:
    dates = [d for d in results.accuracy["date"] if not is_missing(d)]
    if "date" in results.speed.columns:
        dates += [d for d in results.speed["date"] if not is_missing(d)]
    return max(str(d).strip()[:10] for d in dates) if dates else None


# ---------------------------------------------------------------------------------------------- helpers


def _lookup(ctx: Context, model: str, tag: str) -> tuple[ModelEntry | None, WeightRecord | None]:
    key = (model, tag)
    if key not in ctx.lookups:
        ctx.lookups[key] = _resolve(ctx.registry, model, tag)
    return ctx.lookups[key]


def _resolve(registry: Registry, model: str, tag: str) -> tuple[ModelEntry | None, WeightRecord | None]:
    try:
        entry, _ = registry.resolve(model)
    except Exception:  # an unknown model (a plugin not installed here) still gets its measured row
        return None, None
    try:
        return entry, entry.get_weights(tag)
    except Exception:
        return entry, None


def _encoder(model: str, entry: ModelEntry | None) -> str:
    if entry is not None:
        return entry.encoder
    return model.split(":")[-1].split("-", 1)[1] if "-" in model else ""


def _device(row: Row) -> str:
    """The device a row was measured on; for a CPU row with its thread count, which changes CPU figures."""
    name = "" if is_missing(row.get("device_name")) else str(row["device_name"]).strip()
    name = name or ("" if is_missing(row.get("device")) else str(row["device"]).strip()) or "unknown device"
    threads = row.get("threads")
    if str(row.get("device", "")).startswith("cpu") and not is_missing(threads) and str(threads).strip():
        count = int(float(threads))
        name += f", {count} thread{'' if count == 1 else 's'}"
    return name


def _throughput(row: Row) -> str:
    ips = row["images_per_s"]
    if is_missing(ips) or not math.isfinite(float(ips)):
        return MISSING
    return f"{float(ips):.1f} img/s ({escape(_device(row))}, {escape(row['dtype'])})"


def _measured_source(row: Row) -> str:
    return f"measured (zoo {escape(row['zoo_version'])}, {escape(_device(row))})"


def _day(value: Any) -> str:
    return MISSING if is_missing(value) else escape(str(value).strip()[:10])


def _sort_miou(value: Any) -> float:
    return -float(value) if not is_missing(value) and math.isfinite(float(value)) else math.inf


def _measured(ctx: Context, dataset: str) -> list[dict[str, Any]]:
    """The measured rows of ``dataset``, best mIoU first (ties by name, then in file order)."""
    acc = ctx.results.accuracy
    rows = acc.loc[acc["dataset"] == dataset].copy()
    rows["_order"] = [_sort_miou(v) for v in rows["mIoU"]]
    rows = rows.sort_values(
        ["_order", "model", "weights", "protocol", "device_name", "dtype", "date"], kind="stable"
    )
    return _records(rows)


def not_ranked_because(row: Row) -> str:
    """Why a measured row is not ranked beside full-split figures of published weights; ``""`` when it is.

    A row is ranked only when it evaluated published weights (not :data:`UNTRAINED`, not
    :data:`CHECKPOINT`) on every image of the official :data:`RANKED_SPLIT` split (:data:`SPLIT_SIZES`).
    """
    reasons = []
    weights = str(row["weights"]).strip()
    if weights == UNTRAINED:
        reasons.append("untrained (random weights)")
    elif weights == CHECKPOINT:
        reasons.append("a user checkpoint, not published weights")
    dataset, split = str(row["dataset"]), str(row["split"]).strip()
    base = split.split("[", 1)[0].strip()  # "val[:9]" -> "val"
    size = SPLIT_SIZES.get(dataset, {}).get(base)
    count = row["num_images"]
    if base != RANKED_SPLIT:
        reasons.append(f"evaluated on the {base or 'unnamed'} split, not {RANKED_SPLIT}")
    elif size is None:
        reasons.append(
            f"zoo does not know how many images {dataset} {base} has, so a full split is not confirmed"
        )
    elif is_missing(count):
        reasons.append(f"the number of images is not recorded ({dataset} {base} has {size:,})")
    elif int(count) < size:
        reasons.append(
            f"part of the split: {int(count):,} of {size:,} images" + (f" ({split})" if split != base else "")
        )
    elif int(count) > size:
        reasons.append(f"{int(count):,} images, but {dataset} {base} has {size:,}")
    return "; ".join(reasons)


def _metric_value(metric: Any) -> float | None:
    return None if metric is None else metric.value


# ---------------------------------------------------------------------------------------------- dataset page


def dataset_page(ctx: Context, dataset: str) -> list[str]:
    title = DATASET_TITLES.get(dataset, dataset)
    measured = _measured(ctx, dataset)
    why_not = [not_ranked_because(row) for row in measured]
    ranked = [row for row, why in zip(measured, why_not, strict=True) if not why]
    unranked = [(row, why) for row, why in zip(measured, why_not, strict=True) if why]
    reported = [r for r in ctx.reported if r.dataset == dataset]
    on_val = [r for r in reported if r.comparable_to_val]
    other = [r for r in reported if not r.comparable_to_val]
    lines = [
        f"# {escape(title)} leaderboard",
        "",
        f"Rendered by `zoo leaderboard` (zoo {escape(ctx.zoo_version)}); {_as_of(ctx)}. See [the index](README.md) for what each column "
        "means and how to reproduce each number. Percent throughout; *measured* rows were evaluated by "
        "`zoo-bench`, *reported* rows are figures their publishers state, with the citation.",
        "",
    ]
    if not measured:
        lines += [
            f"No measured row exists yet for {escape(title)}: the pages show reported figures only.",
            "",
        ]

    lines += ["## Ranking", ""]
    lines += _ranking(ctx, ranked, on_val, title)
    if unranked:
        lines += ["", f"## {NOT_RANKED}", ""]
        lines += _not_ranked(ctx, unranked, title)
    lines += ["", "## Measured versus reported", ""]
    lines += _versus(ctx, measured, why_not)
    if other:
        lines += ["", "## Reported on other evaluation sets", ""]
        lines += [
            f"These publisher figures are for weights that predict {escape(title)}'s classes but were evaluated on "
            f"another set, so they are neither ranked above nor subtracted from a {escape(title)} val measurement.",
            "",
        ]
        lines += _other_sets(other)
    comparison = [c for c in COMPARISON_ROWS if c.dataset == dataset]
    if comparison:
        lines += ["", "## Reported by publishers (comparison, not zoo weights)", ""]
        lines += [
            "Published figures for related models whose checkpoints zoo does not load (a different backbone or "
            f"training recipe); {escape(title)} val, mIoU single-scale and multi-scale with flip, fps as published.",
            "",
        ]
        lines += table(
            ["model", "setting", "mIoU (ss)", "mIoU (ms+flip)", "fps", "source"],
            [
                [
                    escape(c.model),
                    escape(c.setting),
                    fmt_float(c.miou_ss),
                    fmt_float(c.miou_ms_flip),
                    escape(c.fps),
                    "reported: " + escape(c.source),
                ]
                for c in comparison
            ],  # fmt: skip
            "llrrll",
        )
    lines += ["", "## Accuracy versus throughput", ""]
    lines += _plots(ctx, ranked, [row for row, _ in unranked], dataset, title)
    lines += ["", "## Per-class IoU (measured rows)", ""]
    lines += _per_class(ctx, measured, why_not)
    return lines


def _ranking(ctx: Context, measured: Sequence[Row], on_val: Sequence[ReportedRow], title: str) -> list[str]:
    rows: list[tuple[float, str, str, int, list[str]]] = []
    for row in measured:
        entry, weights = _lookup(ctx, row["model"], row["weights"])
        cells = [
            escape(row["model"]),
            escape(_encoder(row["model"], entry)),
            escape(row["weights"]),
            fmt_float(params_millions(weights) if weights else None),
            fmt_float(gmacs(weights) if weights else None),
            fmt_float(row["mIoU"]),
            fmt_float(row["aAcc"]),
            fmt_float(row["mAcc"]),
            escape(f"{row['dataset']} {row['split']}"),
            escape(row["protocol"]),
            _throughput(row),
            _measured_source(row),
            _day(row["date"]),
        ]
        rows.append((_sort_miou(row["mIoU"]), row["model"], row["weights"], 0, cells))
    for r in on_val:
        cells = [
            escape(r.entry.name),
            escape(r.entry.encoder),
            escape(r.weights.tag),
            fmt_float(params_millions(r.weights)),
            fmt_float(gmacs(r.weights)),
            fmt_float(_metric_value(r.miou)),
            fmt_float(_metric_value(r.pixel_acc)),
            MISSING,
            escape(eval_set_label(r.evaluated_on)),
            escape(r.weights.protocol.short_code()) + (f" ({escape(r.note)})" if r.note else ""),
            MISSING,
            "reported: " + escape(r.citation),
            MISSING,
        ]
        rows.append((_sort_miou(_metric_value(r.miou)), r.entry.name, r.weights.tag, 1, cells))
    if not rows:
        return [f"No measured row and no reported figure on {escape(title)} val yet."]
    rows.sort(key=lambda t: t[:4])
    headers = ["rank", "model", "encoder", "weights", "params (M)", "GMACs", "mIoU", "aAcc", "mAcc",
               "evaluated on", "protocol", "throughput", "source", "date"]  # fmt: skip
    body = [[str(i), *cells] for i, (*_, cells) in enumerate(rows, start=1)]
    return table(headers, body, "rlllrrrrrlllll")


NOT_RANKED = "Not ranked: part of a split, untrained or checkpoint weights"
_PLOTTED_APART = "are plotted apart from them (hollow circles, never on the Pareto front)"


def _not_ranked(ctx: Context, unranked: Sequence[tuple[Row, str]], title: str) -> list[str]:
    lines = [
        f"These measured rows are not comparable with full-split figures of published weights, so they are not "
        f"ranked with them and {_PLOTTED_APART if ctx.include_partial else 'are left out of the plots'}: a row on "
        f"part of {escape(title)} val (or on another split), an untrained model (random weights: a smoke test, not "
        "a result) or weights from a user's checkpoint. Each says why.",
        "",
    ]
    body = []
    for row, why in unranked:
        entry, _ = _lookup(ctx, row["model"], row["weights"])
        count = row["num_images"]
        body.append([
            escape(row["model"]), escape(_encoder(row["model"], entry)), escape(row["weights"]),
            fmt_float(row["mIoU"]), fmt_float(row["aAcc"]), fmt_float(row["mAcc"]),
            escape(f"{row['dataset']} {row['split']}"), MISSING if is_missing(count) else f"{int(count):,}",
            escape(row["protocol"]), _throughput(row), _measured_source(row), _day(row["date"]), escape(why),
        ])  # fmt: skip
    headers = ["model", "encoder", "weights", "mIoU", "aAcc", "mAcc", "evaluated on", "images", "protocol",
               "throughput", "source", "date", "not ranked because"]  # fmt: skip
    return lines + table(headers, body, "lllrrrlrlllll")


def _reference_of(row: Row, weights: WeightRecord) -> str:
    """The reference pipeline a row was measured as: its stored protocol's, else its weight record's."""
    try:
        stored = json.loads(row["protocol_json"]).get("reference")
    except (TypeError, ValueError, AttributeError):
        stored = None
    return stored if stored in REFERENCE_PIPELINES else weights.protocol.reference


def _versus(ctx: Context, measured: Sequence[Row], why_not: Sequence[str]) -> list[str]:
    body = []
    references: set[str] = set()
    for row, not_ranked in zip(measured, why_not, strict=True):
        _, weights = _lookup(ctx, row["model"], row["weights"])
        if weights is None:
            continue
        reference = _reference_of(row, weights)
        for metric in weights.reported:
            if metric.name not in ("mIoU", "pixel_acc") or not metric.dataset:
                continue
            column = "mIoU" if metric.name == "mIoU" else "aAcc"
            ok, why = comparable(metric, row["dataset"], row["split"], row["tta"])
            if not_ranked:  # e.g. 9 images of the split: no difference with a full-split figure
                ok, why = False, f"not comparable: {not_ranked}"
            value = row[column]
            if ok and not is_missing(value):
                diff = fmt_diff(float(value) - metric.value) + (f" ({escape(why)})" if why else "")
            else:
                diff = escape(why) if why else MISSING
            references.add(reference)
            body.append([
                escape(row["model"]), escape(row["weights"]), escape(row["protocol"]),
                escape(_device(row)), escape(column), fmt_float(value),
                fmt_float(metric.value), diff, escape(eval_set_label(metric.dataset)),
                "reported: " + escape(metric.source),
            ])  # fmt: skip
    if not measured:
        return ["No measured row yet, so there is nothing to compare with the reported figures."]
    if not body:
        return ["No measured row here belongs to a weight with a reported figure."]
    lines = [
        "The difference is measured minus reported, in points, and is shown only where both were obtained on the "
        "same evaluation set with the same scale regime.",
        "",
    ]
    headers = ["model", "weights", "protocol (measured)", "device", "metric", "measured", "reported",
               "difference (points)", "reported on", "citation"]  # fmt: skip
    lines += table(headers, body, "lllllrrlll")
    differences = [
        f"- {escape(name)}: {escape(REFERENCE_PIPELINES[name].differences)}"
        for name in sorted(references)
        if REFERENCE_PIPELINES[name].differences
    ]
    if differences:
        lines += ["", "What zoo still does differently from the publisher's pipeline:", "", *differences]
    return lines


def _other_sets(other: Sequence[ReportedRow]) -> list[str]:
    rows = sorted(other, key=lambda r: (_sort_miou(_metric_value(r.miou)), r.entry.name, r.weights.tag))
    body = [
        [
            escape(r.entry.name), escape(r.entry.encoder), escape(r.weights.tag),
            fmt_float(params_millions(r.weights)), fmt_float(gmacs(r.weights)),
            fmt_float(_metric_value(r.miou)), fmt_float(_metric_value(r.pixel_acc)),
            escape(eval_set_label(r.evaluated_on)),
            escape(r.weights.protocol.short_code()) + (f" ({escape(r.note)})" if r.note else ""),
            "reported: " + escape(r.citation),
        ]
        for r in rows
    ]  # fmt: skip
    headers = ["model", "encoder", "weights", "params (M)", "GMACs", "mIoU", "pixel acc", "evaluated on",
               "protocol", "source"]  # fmt: skip
    return table(headers, body, "lllrrrrlll")


def _plots(
    ctx: Context, ranked: Sequence[Row], unranked: Sequence[Row], dataset: str, title: str
) -> list[str]:
    timed = [row for row in ranked if _plottable(row)]
    others = [row for row in unranked if _plottable(row)] if ctx.include_partial else []
    if not timed and not others:
        if any(_plottable(row) for row in unranked):
            return [
                f"No ranked row carries a throughput yet for {escape(title)}. The rows that are not ranked are "
                "plotted only when the pages are rendered with include_partial (`--include-partial`)."
            ]
        return [
            f"No measured throughput yet for {escape(title)}: the plot appears once measured rows carry images/s."
        ]
    lines: list[str] = []
    groups: dict[str, list[plots.Point]] = {}
    other_groups: dict[str, list[plots.Point]] = {}
    for rows, into in ((timed, groups), (others, other_groups)):
        for row in rows:
            into.setdefault(_device(row), []).append(_point(row))
    for device in sorted(groups.keys() | other_groups.keys()):
        stem = ctx.out_dir / "plots" / f"{plots.slug(dataset)}-{plots.slug(device)}"
        points, extra = groups.get(device, []), other_groups.get(device, [])
        ctx.written += plots.plot_accuracy_vs_speed(
            points, f"{title}: mIoU vs throughput on {device}", stem, others=extra
        )
        front = plots.pareto_front(points)
        rel = f"plots/{stem.name}"
        caption = (
            f"[PNG]({rel}.png). Throughput is the evaluation run's images/s (its batch size, dtype and protocol); "
            "the dashed line is the Pareto front: "
            + (", ".join(escape(p.label) for p in front) or "none")
            + "."
        )
        if extra:
            caption += (
                f" Hollow circles: {len(extra)} row(s) not ranked (part of a split, untrained or checkpoint "
                "weights), never on the front."
            )
        lines += [
            f"### {escape(device)}",
            "",
            f"![{escape(title)}: mIoU versus throughput on {escape(device)}]({rel}.svg)",
            "",
            caption,
            "",
        ]
    return lines[:-1]


def _plottable(row: Row) -> bool:
    return _timed(row["images_per_s"]) and not is_missing(row["mIoU"])


def _point(row: Row) -> plots.Point:
    label = f"{row['model']}.{row['weights']} ({row['protocol']}, {row['dtype']})"
    return plots.Point(label, float(row["images_per_s"]), float(row["mIoU"]))


def _timed(images_per_s: Any) -> bool:
    return not is_missing(images_per_s) and math.isfinite(float(images_per_s)) and float(images_per_s) > 0


_CLASS_LINE = "| %d | %s | %.2f | %.2f | %.2f |"


def _key_groups(per_class: pd.DataFrame) -> tuple[np.ndarray, dict[tuple[str, ...], int]]:
    """The group number of each per-class row (rows of one result key share one) and the number of each key.

    A store appends a row's classes together, so the rows come in runs of one key: the runs are found by
    comparing each row with the one before (no hash table over hundreds of thousands of rows, as a pandas
    groupby builds) and one key per run is looked up. Rows with a missing key value belong to no group (-1),
    as in a pandas groupby.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = [per_class[c] for c in ACCURACY.key_columns]
    if any(column.hasnans for column in columns):
        grouped = per_class.groupby(list(ACCURACY.key_columns), sort=False)
        group_of = grouped.ngroup().to_numpy()
        return group_of, {key: int(group_of[rows[0]]) for key, rows in grouped.indices.items()}
    arrays = [pa.chunked_array(pa.array(column)) for column in columns]  # pyarrow-backed: no copy
    starts = np.zeros(len(per_class), dtype=bool)
    starts[:1] = True
    for array in arrays:
        starts[1:] |= pc.not_equal(array[1:], array[:-1]).to_numpy(zero_copy_only=False)
    first = np.flatnonzero(starts)
    numbers: dict[tuple[str, ...], int] = {}
    # a filter works chunk by chunk, where a take would concatenate each column's chunks first
    mask = pa.array(starts)
    runs = [
        numbers.setdefault(key, len(numbers))
        for key in zip(*(array.filter(mask).to_pylist() for array in arrays), strict=True)
    ]
    return np.repeat(np.array(runs, dtype=np.int64), np.diff(first, append=len(per_class))), numbers


class _PerClassTables:
    """The per-class table of every result key, formatted once for the whole per-class table.

    One grouping and one formatting pass over all per-class rows, instead of a comparison of the whole table
    and a pandas row object per class for every result row (which made rendering quadratic). The lines are
    built as pyarrow strings and joined into one block of text per key, so hundreds of thousands of lines
    never become Python strings one by one.
    """

    HEADER = table(["#", "class", "IoU", "Acc", "Dice"], [], "rlrrr")

    def __init__(self, per_class: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        self._blocks: dict[tuple[str, ...], str] = {}
        if not len(per_class):
            return
        group_of, groups = _key_groups(per_class)
        class_index = per_class["class_index"].to_numpy(dtype="float64", na_value=math.inf)
        name_codes, names = pd.factorize(per_class["class_name"], use_na_sentinel=False)
        escaped = [escape(name) for name in names.tolist()]  # each name once
        values = [per_class[c].to_numpy(dtype="float64", na_value=math.nan) for c in ("IoU", "Acc", "Dice")]
        texts, done = zip(*(fmt_float_array(v) for v in values), strict=True)
        # _CLASS_LINE where the index is known and every value could be formatted (nearly always)
        fast = per_class["class_index"].notna().to_numpy() & done[0] & done[1] & done[2]
        index_texts = pc.cast(pa.array(np.where(fast, class_index, 0).astype(np.int64)), pa.string())
        lines = pc.binary_join_element_wise(
            "| ", index_texts, " | ", pa.array(escaped, pa.string()).take(pa.array(name_codes)), " | ",
            texts[0], " | ", texts[1], " | ", texts[2], " |", "",
        )  # fmt: skip
        slow = np.flatnonzero(~fast)
        if len(slow):  # the rest as before: a %-format, or table_row for a missing index or value
            rows = zip(
                per_class["class_index"].take(slow).tolist(), name_codes[slow].tolist(),
                *(v[slow].tolist() for v in values), strict=True,
            )  # fmt: skip
            others = [
                _CLASS_LINE % (i, escaped[n], iou, acc, dice)
                if type(i) is int and iou == iou and acc == acc and dice == dice
                else table_row(
                    [MISSING if is_missing(i) else str(int(i)), escaped[n], *fmt_floats([iou, acc, dice])]
                )
                for i, n, iou, acc, dice in rows
            ]
            # appended after the fast lines and taken into their places (a take is quicker than a masked replace)
            place = np.arange(len(fast))
            place[slow] = len(fast) + np.arange(len(slow))
            lines = pa.concat_arrays([lines, pa.array(others, lines.type)]).take(pa.array(place))
        del texts, index_texts
        # By key, then class index (unique per key: data.load drops repeats), then file order; a store
        # written by appends is in that order already, and is not copied again.
        order = np.lexsort((class_index, group_of))
        order = order[group_of[order] >= 0]  # rows of no group (a missing key value) are never shown
        if len(order) != len(lines) or np.any(order[1:] < order[:-1]):
            lines = lines.take(pa.array(order))
        offsets = np.concatenate([[0], np.cumsum(np.bincount(group_of[order], minlength=len(groups)))])
        listed = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), lines)
        del lines
        blocks = pc.binary_join(listed, "\n").to_pylist()
        self._blocks = {key: blocks[number] for key, number in groups.items()}

    def lines(self, row: Row) -> list[str]:
        """The table of ``row``'s classes by class index (its header lines, then the rows as one block of
        lines), or ``[]`` when none was stored."""
        block = self._blocks.get(tuple(row[c] for c in ACCURACY.key_columns))
        return [] if block is None else [*self.HEADER, block]


def _per_class(ctx: Context, measured: Sequence[Row], why_not: Sequence[str]) -> list[str]:
    if not measured:
        return ["No measured row yet."]
    if ctx.per_class_tables is None:
        ctx.per_class_tables = _PerClassTables(ctx.results.per_class)
    lines: list[str] = []
    for row, why in zip(measured, why_not, strict=True):
        summary = (
            f"{row['model']}.{row['weights']}: {row['dataset']} {row['split']}, {row['protocol']}, "
            f"{row['dtype']}, {_device(row)}, mIoU {fmt_float(row['mIoU'])}"
        ) + (f" (not ranked: {why})" if why else "")
        lines += ["<details>", f"<summary>{html.escape(summary)}</summary>", ""]
        lines += ctx.per_class_tables.lines(row) or ["No per-class values were stored for this row."]
        lines += ["", "</details>", ""]
    return lines[:-1]


# ---------------------------------------------------------------------------------------------- speed page

#: Columns a speed row's protocol line in the collapsible block leaves out: the compact table shows them.
_SPEED_IN_TABLE = {
    "model", "height", "width", "batch_size", "dtype", "compile", "channels_last", "cuda_graphs", "tf32",
    "timed", "images_per_s", "images_per_s_min", "images_per_s_max", "latency_ms_p50", "latency_ms_p99",
    "peak_memory_mib", "gflops_per_image", "tflops_achieved", "mfu", "device_name", "file",
}  # fmt: skip


def _speed_protocol_line(row: Row, columns: Sequence[str]) -> str:
    """Everything a row records beyond the compact table, as one Markdown list item."""
    cells = speed_table_cells(row)
    title = " ".join(escape(c) for c in (cells[0], cells[1], f"batch {cells[2]}", cells[3], cells[4]))
    parts = []
    for column in columns:
        value = row.get(column)
        if column in _SPEED_IN_TABLE or is_missing(value) or str(value).strip() == "":
            continue
        shown = code(value) if column == "command" else escape(_readable(value))
        parts.append(f"{escape(column)}: {shown}")
    return f"- **{title}**: " + ("; ".join(parts) or MISSING)


def _readable(value: Any) -> str:
    """A stored figure with a fractional part to four significant digits (``284.054943800038`` -> ``284.1``);
    any other value (integers, versions, names) as it is stored."""
    text = str(value)
    try:
        number = float(text)
    except ValueError:
        return text
    return text if not math.isfinite(number) or number == int(number) else f"{number:.4g}"


def speed_page(ctx: Context) -> list[str]:
    """One compact table per device (:mod:`zoo.bench.speed_table`: the columns and rounding of the terminal
    table of ``zoo bench speed``), fastest first, then each row's full protocol in a collapsible block."""
    speed = ctx.results.speed
    lines = [
        "# Speed",
        "",
        f"Rendered by `zoo leaderboard` (zoo {escape(ctx.zoo_version)}); {_as_of(ctx)}. One table per device: figures from different "
        "hardware never share a column. Throughput is the median over timed blocks ± half their min-max "
        "range, rounded to what that spread supports (latency, TFLOP/s and MFU at the same relative "
        "precision); GFLOPs are computed by torch's FLOP counter, not measured. Variant: `eager` or "
        "`compile=MODE`, `CL` channels_last, `graphs` CUDA graphs, `tf32`; `fwd` times the forward alone, "
        "`fwd+argmax` on to full-resolution labels; `!` marks a row the correctness gate flagged. Each "
        "row's full protocol (warm-up, blocks, versions, the exact command) is in the block below its table.",
        "",
    ]
    if speed.empty:
        return lines + [NO_SPEED]
    columns = [c for c in speed.columns if c != "file"]
    records = _records(speed)
    devices = [_device(r) for r in records]
    headers = [escape(header) for header, _ in SPEED_TABLE_COLUMNS]
    align = "".join("r" if right else "l" for _, right in SPEED_TABLE_COLUMNS)
    for device in sorted(set(devices)):
        rows = [r for r, d in zip(records, devices, strict=True) if d == device]
        rows.sort(key=lambda r: (_speed_sort(r.get("images_per_s")), str(r["model"])))
        body = [[escape(cell) for cell in speed_table_cells(r)] for r in rows]
        lines += [f"## {escape(device)}", ""] + table(headers, body, align) + [""]
        lines += ["<details>", f"<summary>Protocol of each row ({len(rows)})</summary>", ""]
        lines += [_speed_protocol_line(r, columns) for r in rows]
        lines += ["", "</details>", ""]
    return lines[:-1]


def _speed_sort(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.inf
    return -number if math.isfinite(number) else math.inf


# ---------------------------------------------------------------------------------------------- index

_GLOSSARY = (
    ("rank", "position by mIoU on the page among the measured rows of published weights on the whole validation split and the reported rows (the source column tells them apart); other measured rows are listed apart, unranked"),
    ("model, encoder, weights", "registry name (`architecture-encoder`), its encoder, and the weight tag (`zoo.create('model.tag')`)"),
    ("params (M)", "parameters in millions, as the weight record states them"),
    ("GMACs", "billions of multiply-accumulates per image as the publisher counts them (torchvision calls them 'GFLOPS'; FLOPs are twice as many)"),
    ("mIoU, aAcc, mAcc", "mean IoU over classes present, pixel accuracy and mean class accuracy, percent, from one confusion matrix over the whole split (reported rows: the publisher's 'pixel acc' in the aAcc column)"),
    ("evaluated on", "the dataset and split the figure was obtained on"),
    ("protocol", "`ss`/`ss+flip`/`ms`/`ms+flip` (single- or multi-scale test, with or without flip), `whole`/`slide` inference, and the resize or crop size"),
    ("throughput", "images per second of the measured evaluation run, with its device and dtype"),
    ("source", "`measured (zoo VERSION, DEVICE)`: evaluated by `zoo-bench`; `reported: CITATION`: a publisher's figure, never measured here"),
    ("difference (points)", "measured minus reported, only where both are on the same evaluation set with the same scale regime"),
    ("date", "when the measured row was produced (UTC day)"),
    ("not ranked because", "why a measured row is listed apart: part of the split (`val[:N]`, or fewer images than the split has), untrained, a user checkpoint, or another split"),
)  # fmt: skip


def _split_sizes_text() -> str:
    return ", ".join(
        f"{DATASET_TITLES.get(dataset, dataset)} {split}: {size:,} images"
        for dataset, splits in SPLIT_SIZES.items()
        for split, size in splits.items()
    )


def index_page(ctx: Context, pages: Sequence[str]) -> list[str]:
    acc = ctx.results.accuracy
    plotted = (
        "is plotted apart (hollow circles, never on the Pareto front)"
        if ctx.include_partial
        else "is left out of the plots"
    )
    lines = [
        "# Leaderboards",
        "",
        f"Rendered by `zoo leaderboard` with zoo {escape(ctx.zoo_version)}; {_as_of(ctx)}. The date is that of the "
        "newest result row (or `--date`), not the time of rendering, so the same results always give the same "
        "pages.",
        "",
        "Every figure says where it comes from: **measured** rows were evaluated by `zoo-bench` and stored under "
        "`leaderboards/data/` with their full protocol, environment and command; **reported** rows are the figures "
        "publishers state for the registered weights, with their citation, and are compared with a measurement "
        "only when both are on the same evaluation set.",
        "",
        "A measured row is **ranked** beside the reported ones only when it evaluated published weights on every "
        f"image of the official validation split ({_split_sizes_text()}). Every other measured row is listed "
        f"apart on its page, under *{NOT_RANKED}*, with the reason, and {plotted}: a row on "
        "**part of a split** (`val[:N]`, or fewer images than the split has), an **untrained** row (weights "
        "`untrained`: the architecture with random weights, a smoke test rather than a result) and a "
        "**checkpoint** row (weights `checkpoint`: weights from a user's file, not a published release).",
        "",
        "## Pages",
        "",
    ]
    body = []
    why_not = [not_ranked_because(row) for row in _records(acc)]
    for dataset in pages:
        reported = [r for r in ctx.reported if r.dataset == dataset]
        on_page = (acc["dataset"] == dataset).tolist()
        unranked = sum(1 for here, why in zip(on_page, why_not, strict=True) if here and why)
        body.append([
            f"[{escape(DATASET_TITLES.get(dataset, dataset))}]({dataset_page_name(dataset)})",
            str(sum(on_page) - unranked),
            str(unranked),
            str(sum(r.comparable_to_val for r in reported)),
            str(sum(not r.comparable_to_val for r in reported)),
        ])  # fmt: skip
    headers = ["page", "measured rows (ranked)", "measured rows (not ranked)", "reported rows (same val set)",
               "reported on other sets"]  # fmt: skip
    lines += table(headers, body, "lrrrr")
    n_speed = len(ctx.results.speed)
    lines += ["", f"[Speed](speed.md): {n_speed} measured row(s)" + ("." if n_speed else f". {NO_SPEED}"), ""]
    n_entries = ctx.results.complexity["model"].nunique() if len(ctx.results.complexity) else 0
    if n_entries:
        lines += [
            f"[Models](models.md): parameters, GFLOPs and activation memory of {n_entries} registry entries at "
            "each benchmark's size, computed from the architecture (not measured).",
            "",
        ]
    if acc.empty:
        lines += [
            "No measured accuracy row exists yet: every figure on these pages is reported by its publisher.",
            "",
        ]

    lines += ["## Reproducing the numbers", ""]
    lines += [
        "Re-render the pages with `zoo leaderboard --results leaderboards/data --out leaderboards/`. "
        "Each measured row was produced by the `zoo-bench` command below (the speed rows' commands are in "
        "[speed.md](speed.md)); each reported row by its citation.",
        "",
        "### Measured rows",
        "",
    ]
    if acc.empty:
        lines += ["None yet."]
    else:
        rows = acc.sort_values(
            ["dataset", "model", "weights", "protocol", "dtype", "device_name", "date"], kind="stable"
        )
        lines += table(
            ["dataset", "model", "weights", "protocol", "device", "date", "command"],
            [
                [
                    escape(r["dataset"]),
                    escape(r["model"]),
                    escape(r["weights"]),
                    escape(r["protocol"]),
                    escape(_device(r)),
                    _day(r["date"]),
                    code(r["command"]),
                ]
                for r in _records(rows)
            ],  # fmt: skip
        )
    lines += ["", "### Reported rows", ""]
    if not ctx.reported:
        lines += ["None."]
    else:
        lines += table(
            ["weights", "evaluated on", "mIoU", "pixel acc", "citation"],
            [
                [
                    code(f"{r.entry.name}.{r.weights.tag}"),
                    escape(eval_set_label(r.evaluated_on)),
                    fmt_float(_metric_value(r.miou)),
                    fmt_float(_metric_value(r.pixel_acc)),
                    escape(r.citation),
                ]
                for r in sorted(
                    ctx.reported, key=lambda r: (r.dataset, r.entry.name, r.weights.tag, r.evaluated_on)
                )
            ],  # fmt: skip
            "llrrl",
        )
    lines += [
        "",
        "The comparison rows of other models (mmsegmentation, papers) cite their source in the table itself.",
        "",
        "## Columns",
        "",
    ]
    lines += [f"- **{name}**: {text}." for name, text in _GLOSSARY]
    return lines
