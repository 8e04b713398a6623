"""How long ``zoo leaderboard`` takes to render 10 / 1,000 / 10,000 result rows, against pandas reading the
same files, each in a fresh interpreter (what a user waits for), with its peak memory.

The results are synthetic but in the store's own format, written with :meth:`ResultsStore.replace`: real
registry names and weight tags, three datasets, three devices, per-class values for every row (19, 21 or 150
classes), a quarter of the rows untrained (listed apart from the ranking), four fifths with a throughput.

- ``render``: ``zoo.leaderboard.render(results, out)``, with this checkout's zoo;
- ``render-baseline``: the same with the zoo found in ``$ZOO_BENCH_BASELINE`` (a folder holding an older
  ``zoo/``, e.g. ``git archive <rev> zoo | tar -x -C /tmp/zoo-old``); skipped when that is not set;
- ``pandas``: ``pandas.read_csv`` of the results file and its per-class companion.

Run: ``pytest benchmarks/test_leaderboard_bench.py --benchmark-group-by=param:rows`` (or ``tox -e bench``).
``extra_info`` holds the rows, the per-class rows and the peak resident memory of the process in MiB. No
assertions on time.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROWS = (10, 1_000, 10_000)
ROUNDS = {10: 5, 1_000: 3, 10_000: 1}
DATASET_CLASSES = {"voc": 21, "cityscapes": 19, "ade20k": 150}
FULL_SPLIT = {"voc": 1449, "cityscapes": 500, "ade20k": 2000}
DEVICES = (("cuda", "NVIDIA H200"), ("cuda", "NVIDIA H100 80GB HBM3"), ("cpu", "Intel Xeon"))


def write_results(root: Path, rows: int, seed: int = 0) -> Path:
    """A results store of ``rows`` synthetic measured rows with per-class values under ``root``."""
    import pandas as pd

    from zoo.registry import REGISTRY
    from zoo.results import ACCURACY, ResultsStore

    rng = random.Random(seed)
    names = sorted({e.name for e in REGISTRY.entries()})
    published = sorted((e.name, w.tag, w.dataset) for e in REGISTRY.entries() for w in e.weights)
    table, classes = [], []
    for i in range(rows):
        if i % 4 == 3:
            model, tag, dataset = rng.choice(names), "untrained", rng.choice(list(DATASET_CLASSES))
        else:
            model, tag, dataset = rng.choice(published)
        device, device_name = rng.choice(DEVICES)
        # Missing values as the store reads them back: "" for text, None for numbers (pandas 3 refuses to cast
        # "" to an integer column).
        row = {c: None if c in ACCURACY.int_columns else "" for c in ACCURACY.columns}
        row.update(
            model=model, weights=tag, dataset=dataset, split="val", num_images=FULL_SPLIT[dataset],
            mIoU=rng.uniform(10, 85), aAcc=rng.uniform(50, 95), mAcc=rng.uniform(20, 90),
            fwIoU=rng.uniform(20, 90), mDice=rng.uniform(20, 90), protocol="ss whole 512",
            protocol_json=json.dumps({"resize": "shorter_side", "run": i}), tta=rng.choice(["none", "flip"]),
            device=device, dtype=rng.choice(["fp32", "bf16", "fp16"]), batch_size=8,
            images_per_s=rng.uniform(1, 500) if rng.random() < 0.8 else None, wall_s=rng.uniform(10, 100),
            environment_id=f"env{i % 7}", device_name=device_name, torch_version="2.5.0", cuda_version="12.4",
            zoo_version="0.1.0", timm_version="1.0", smp_version="0.3",
            date=f"2025-01-{1 + i % 28:02d}T10:00:00+00:00", command=f"zoo-bench --models {model} --run {i}",
            source="measured",
        )  # fmt: skip
        table.append(row)
        key = {c: str(row[c]) for c in ACCURACY.key_columns}
        for k in range(DATASET_CLASSES[dataset]):
            classes.append({**key, "class_index": k, "class_name": f"class {k}", "IoU": rng.uniform(0, 100),
                            "Acc": rng.uniform(0, 100), "Dice": rng.uniform(0, 100)})  # fmt: skip
    ResultsStore(root / "results.csv").replace(
        pd.DataFrame(table, columns=list(ACCURACY.columns)),
        pd.DataFrame(classes, columns=list(ACCURACY.per_class.columns)),
    )
    return root


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    return {n: write_results(tmp_path_factory.mktemp(f"rows{n}"), n) for n in ROWS}


#: Appended to each benchmarked program: its peak resident memory in KiB. VmHWM belongs to the process's
#: own address space; ru_maxrss would also count the pytest process it was forked from.
_PEAK = """
try:
    with open("/proc/self/status") as status:
        print(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
except OSError:
    print(-1)
"""


def _python(code: str, pythonpath: str, peaks: list[int]) -> None:
    """Run ``code`` in a fresh interpreter; append its peak resident memory (KiB, -1 if unknown) to ``peaks``."""
    env = {**os.environ, "PYTHONPATH": pythonpath}
    # From the file system root: `python -c` puts the working directory first on sys.path, where a checkout's
    # zoo/ would shadow the one PYTHONPATH names.
    done = subprocess.run(
        [sys.executable, "-c", code + _PEAK],
        env=env,
        cwd=Path(sys.executable).anchor,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"the benchmarked process failed ({done.returncode}): {done.stderr[-2000:]}")
    peaks.append(int(done.stdout.split()[-1]))


def _bench(benchmark, rows: int, data: Path, code: str, pythonpath: str, what: str) -> None:
    peaks: list[int] = []
    benchmark.pedantic(_python, args=(code, pythonpath, peaks), rounds=ROUNDS[rows], warmup_rounds=0)
    with open(data / "results.per_class.csv", encoding="utf-8") as f:
        per_class = sum(1 for _ in f) - 1
    benchmark.extra_info.update(
        {"rows": rows, "per_class_rows": per_class, "peak_rss_mib": round(max(peaks) / 1024, 1), "what": what}
    )


def _render_code(data: Path, out: Path) -> str:
    return f"from zoo.leaderboard import render; render({str(data)!r}, {str(out)!r}, date='2025-02-01')"


@pytest.mark.parametrize("rows", ROWS)
def test_render(benchmark, stores, tmp_path, rows):
    here = str(Path(__file__).resolve().parents[1])
    code = _render_code(stores[rows], tmp_path / "out")
    _bench(benchmark, rows, stores[rows], code, here, "zoo.leaderboard.render (this checkout)")


@pytest.mark.parametrize("rows", ROWS)
def test_render_baseline(benchmark, stores, tmp_path, rows):
    baseline = os.environ.get("ZOO_BENCH_BASELINE")
    if not baseline:
        pytest.skip("set ZOO_BENCH_BASELINE to a folder holding an older zoo/ to compare with")
    code = _render_code(stores[rows], tmp_path / "out")
    _bench(benchmark, rows, stores[rows], code, baseline, f"zoo.leaderboard.render ({baseline})")


@pytest.mark.parametrize("rows", ROWS)
def test_pandas_read(benchmark, stores, rows):
    data = stores[rows]
    code = (
        "import pandas as pd\n"
        f"pd.read_csv({str(data / 'results.csv')!r})\npd.read_csv({str(data / 'results.per_class.csv')!r})\n"
    )
    _bench(benchmark, rows, data, code, "", "pandas.read_csv of the results and per-class files")
