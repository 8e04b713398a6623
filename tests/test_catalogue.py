"""The registry catalogue (issue 13): the complexity store, ``zoo bench profile`` and ``models.md``.

Regenerate the golden page after an intended change with ``ZOO_UPDATE_GOLDEN=1 pytest tests/test_catalogue.py``
and review the diff of ``tests/golden/catalogue/``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from zoo import list_models as zoo_list
from zoo.bench.profile import evaluation_sizes, run_profile_sweep
from zoo.leaderboard import data, render
from zoo.results import ResultsStore
from zoo.results.schema import COMPLEXITY, SCHEMAS

GOLDEN = Path(__file__).parent / "golden" / "catalogue"
VERSIONS = {
    "zoo_version": "0.1.0",
    "torch_version": "2.14.1",
    "timm_version": "1.0.31",
    "smp_version": "0.6.0",
}


def _row(model, height, width, *, params=None, gflops=None, mib=None, weights="", error="", uncounted=""):
    ok = not error
    return {
        "model": model, "height": height, "width": width, "batch_size": 1, "num_classes": 21 if ok else None,
        "status": "ok" if ok else "error", "params": params, "gflops": gflops,
        "gmacs": None if gflops is None else gflops / 2, "peak_activation_mib": mib, "uncounted_ops": uncounted,
        "built_on": "meta" if ok else "", "weights": weights, "error": error, **VERSIONS,
        "date": "2026-11-22T00:00:00+00:00", "command": "zoo bench profile --models '*'", "source": "computed",
    }  # fmt: skip


SYNTHETIC = [
    _row(
        "unet-resnet18", 512, 512, params=14_331_109, gflops=44.69, mib=98.5, uncounted="aten.relu_,aten.add_"
    ),
    _row("unet-resnet18", 1024, 2048, params=14_331_109, gflops=357.56, mib=788.0, uncounted="aten.relu_"),
    _row(
        "segformer-mit_b0", 512, 512, params=3_719_541, gflops=15.69, mib=171.2, weights="ade20k;cityscapes"
    ),
    _row(
        "segformer-mit_b0",
        1024,
        2048,
        params=3_719_541,
        gflops=242.05,
        mib=2088.25,
        weights="ade20k;cityscapes",
    ),
    _row("deeplabv3-mobilenet_v2", 512, 512, params=4_000_000, gflops=8.5, mib=60.0, weights="coco_voc"),
    _row("deeplabv3-mobilenet_v2", 1024, 2048, params=4_000_000, gflops=68.0, mib=480.0, weights="coco_voc"),
    _row("pan-broken", 512, 512, error="build: RuntimeError: no | such *thing*"),
]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    results = tmp_path / "data"
    complexity = ResultsStore(results / "complexity.csv", COMPLEXITY)
    for row in SYNTHETIC:
        complexity.append(row)
    return results


def test_the_complexity_table_is_computed_and_keyed_by_versions():
    assert SCHEMAS["complexity"] is COMPLEXITY
    assert COMPLEXITY.key_columns == ("model", "height", "width", "batch_size", *VERSIONS)
    with pytest.raises(ValueError, match="computed"):
        COMPLEXITY.normalise({**SYNTHETIC[0], "source": "measured"})


def test_evaluation_sizes_of_the_benchmarks_are_deduplicated():
    assert evaluation_sizes(["voc", "cityscapes", "ade20k"]) == [(512, 512), (1024, 2048)]
    with pytest.raises(ValueError, match="unknown dataset"):
        evaluation_sizes(["imagenet"])


def test_sweep_writes_a_row_per_size_records_failures_and_resumes(tmp_path: Path):
    results = tmp_path / "complexity.csv"
    outcome = run_profile_sweep(
        ["lraspp-mobilenet_v3_large", "no-such-entry"], [(64, 64), (64, 128)], results
    )
    assert [(r["model"], r["status"]) for r in outcome.rows] == [
        ("lraspp-mobilenet_v3_large", "ok"), ("lraspp-mobilenet_v3_large", "ok"),
        ("no-such-entry", "error"), ("no-such-entry", "error"),
    ]  # fmt: skip
    stored = ResultsStore(results, COMPLEXITY).read()
    assert len(stored) == 4 and set(stored["source"]) == {"computed"}
    assert stored["gflops"].iloc[1] == pytest.approx(2 * stored["gflops"].iloc[0], rel=0.05)
    assert stored["error"].iloc[2].startswith("build: UnknownModelError")
    again = run_profile_sweep(["lraspp-mobilenet_v3_large"], [(64, 64), (64, 128)], results, resume=True)
    assert again.rows == [] and again.skipped == 2


def test_shards_split_the_entries_without_overlap(tmp_path: Path):
    names = ["lraspp-mobilenet_v3_large", "no-such-a", "no-such-b"]
    parts = [
        {r["model"] for r in run_profile_sweep(names, [(32, 32)], tmp_path / f"{k}.csv", shard=(k, 2)).rows}
        for k in range(2)
    ]
    assert parts[0].isdisjoint(parts[1]) and parts[0] | parts[1] == set(names)


def test_the_leaderboard_loader_keeps_complexity_rows_apart_from_accuracy(store: Path):
    results = data.load(store)
    assert len(results.complexity) == len(SYNTHETIC) and results.accuracy.empty


def test_models_page_matches_golden_and_rerenders_byte_identically(store: Path, tmp_path: Path):
    first, second = tmp_path / "one", tmp_path / "two"
    written = render(store, first)
    render(store, second)
    names = sorted(p.relative_to(first).as_posix() for p in written)
    assert "models.md" in names and "plots/models-gflops-vs-params.png" in names
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    page = (first / "models.md").read_text()
    if os.environ.get("ZOO_UPDATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        (GOLDEN / "models.md").write_text(page)
    assert page == (GOLDEN / "models.md").read_text(), (
        "models.md differs from tests/golden/catalogue/models.md"
    )


def test_models_page_says_computed_not_measured_and_answers_budgets(store: Path, tmp_path: Path):
    render(store, tmp_path)
    page = (tmp_path / "models.md").read_text()
    assert "Computed from the architecture, not measured" in page
    assert "zoo 0.1.0, torch 2.14.1, timm 1.0.31, smp 0.6.0" in page
    assert "**At most 10 GFLOPs**: 1 entries" in page  # only deeplabv3-mobilenet_v2 (8.5)
    assert "no \\| such \\*thing\\*" in page  # the error row, escaped
    assert "| `segformer-mit_b0` | 3.72 | 15.7 | 7.8 | 171 | 242.1 | 121.0 | 2088 |" in page


def test_zoo_bench_profile_command(tmp_path: Path):
    results = tmp_path / "c.csv"
    command = ["-m", "zoo.cli", "bench", "profile", "--models", "lraspp-*", "--dataset", "voc"]
    done = subprocess.run([sys.executable, *command, "--results", str(results)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "COLUMNS": "100"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "lraspp-mobilenet_v3_large" in done.stdout and "not measured" in done.stderr
    stored = ResultsStore(results, COMPLEXITY).read()
    assert list(stored[["height", "width"]].iloc[0]) == [512, 512]
    bad = subprocess.run(
        [sys.executable, *command, "--shard", "2/2"], capture_output=True, text=True, timeout=300
    )
    assert bad.returncode == 2 and "0..1" in bad.stderr


def test_zoo_list_pretrained_without_a_match_says_how_many_entries_matched(capsys):
    from zoo.cli import main

    assert main(["list", "unet-*", "--pretrained"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    count = len(zoo_list("unet-*"))
    assert f"{count} entries match unet-*, none has pretrained weights" in out and count > 0
    assert main(["list", "nothing-*", "--pretrained"]) == 1
    assert "no model matches nothing-*" in capsys.readouterr().out
