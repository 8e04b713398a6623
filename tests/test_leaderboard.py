"""zoo.leaderboard: golden pages, escaping, determinism, measured-vs-reported, plots, bad results files.

Regenerate the golden pages after an intended change with ``ZOO_UPDATE_GOLDEN=1 pytest tests/test_leaderboard.py``
and review the diff of ``tests/golden/leaderboard/``.
"""

from __future__ import annotations

import json
import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("matplotlib")

from zoo.cli import main as zoo_main
from zoo.errors import ResultsFileError
from zoo.leaderboard import render  # noqa: E402
from zoo.leaderboard.plots import Point, pareto_front  # noqa: E402
from zoo.leaderboard.tables import code, escape, fmt_diff, fmt_float_array  # noqa: E402
from zoo.registry import ModelEntry, Registry  # noqa: E402
from zoo.results import ACCURACY, ResultsStore
from zoo.weights import IMAGENET_MEAN, IMAGENET_STD, EvalProtocol, ReportedMetric, WeightRecord  # noqa: E402

GOLDEN = Path(__file__).parent / "golden" / "leaderboard"
PAGES = ("README.md", "ade20k.md", "cityscapes.md", "speed.md", "voc.md")
EVIL = "evil|*_`[x]<b>-enc"


def leaderboard_main(argv: list[str]) -> int:
    """``zoo leaderboard ARGV`` in this process; returns the exit code."""
    return zoo_main(["leaderboard", *argv])


def _protocol(size: int = 512) -> EvalProtocol:
    return EvalProtocol(
        mean=IMAGENET_MEAN, std=IMAGENET_STD, value_scale=1.0, resize="shorter_side", resize_size=(size,)
    )


def _registry() -> Registry:
    """A small registry: an ADE20K weight reported on ADE20K val, a VOC weight reported on COCO val2017."""
    registry = Registry()
    ade = WeightRecord(
        tag="ade20k",
        dataset="ade20k",
        trained_on="ADE20K train",
        class_names=("wall", "a|b_c", "<sky>"),
        protocol=_protocol(512),
        license="test",
        url="https://example.invalid/segformer_b0.pth",
        num_params=3_800_000,
        reported=(
            ReportedMetric("mIoU", 37.4, "Xie et al., SegFormer [Table 1]", "ADE20K val", "single-scale"),
            ReportedMetric("GMACs", 8.4, "Xie et al., SegFormer [Table 1]", "", "512x512"),
        ),
    )
    voc = WeightRecord(
        tag="coco_voc",
        dataset="voc",
        trained_on="COCO (VOC categories)",
        class_names=tuple(f"c{i}" for i in range(21)),
        protocol=_protocol(520),
        license="test",
        url="https://example.invalid/deeplabv3.pth",
        num_params=60_996_202,
        reported=(
            ReportedMetric(
                "mIoU", 67.4, "torchvision deeplabv3.py", "COCO-val2017-VOC-labels", "single-scale, 520"
            ),
            ReportedMetric("pixel_acc", 92.4, "torchvision deeplabv3.py", "COCO-val2017-VOC-labels", "520"),
        ),
    )
    registry.register(ModelEntry("segformer", "mit_b0", "test", builder=lambda **_: None, weights=(ade,)))
    registry.register(ModelEntry("deeplabv3", "resnet101", "test", builder=lambda **_: None, weights=(voc,)))
    return registry


def _row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {c: "" for c in ACCURACY.columns}
    row.update(
        model="segformer-mit_b0", weights="ade20k", dataset="ade20k", split="val", num_images=2000,
        mIoU=38.1, aAcc=78.25, mAcc=48.5, fwIoU=65.0, mDice=50.0, protocol="ss whole 512",
        protocol_json=json.dumps({"resize": "shorter_side"}), tta="none", device="cuda", dtype="bf16",
        batch_size=1, images_per_s=120.5, wall_s=16.6, environment_id="env1", device_name="NVIDIA H200",
        torch_version="2.5.0", cuda_version="12.4", zoo_version="0.1.0", date="2025-01-02T10:00:00+00:00",
        command="zoo-bench --dataset ade20k --models segformer-mit_b0 --results r.csv", source="measured",
    )  # fmt: skip
    row.update(changes)
    return row


SPEED_CSV = (
    "model,height,width,batch_size,dtype,channels_last,compile,timed,images_per_s,latency_p50_ms,"
    "device_name,status,date,command,source,extra_note\n"
    "segformer-mit_b0,512,512,32,bf16,True,max-autotune,model,2400.123,13.3,NVIDIA H200,ok,"
    "2025-01-03T08:00:00+00:00,zoo-bench --speed --models segformer-mit_b0,measured,a|b\n"
    "deeplabv3-resnet101,520,520,8,bf16,False,none,model+argmax,310.5,25.8,NVIDIA H200,ok,"
    "2025-01-03T08:10:00+00:00,zoo-bench --speed --models deeplabv3-resnet101,measured,\n"
    "deeplabv3-resnet101,520,520,1,fp32,False,none,end_to_end,4.2,238,Intel Xeon,ok,"
    "2025-01-01T00:00:00+00:00,zoo-bench --speed --device cpu,measured,\n"
)


def _results(root: Path) -> Path:
    """A small results directory: three measured rows (one with per-class values) and a speed table."""
    data = root / "data"
    store = ResultsStore(data / "results.csv")
    store.append(
        _row(),
        per_class=[
            {"class_index": 0, "class_name": "wall", "IoU": 70.0, "Acc": 80.0, "Dice": 82.0},
            {"class_index": 1, "class_name": "a|b_c", "IoU": 44.3, "Acc": 55.0, "Dice": 61.4},
            {
                "class_index": 2,
                "class_name": "<sky>",
                "IoU": float("nan"),
                "Acc": float("nan"),
                "Dice": float("nan"),
            },
        ],
    )
    store.append(_row(model=EVIL, weights="t_1", mIoU=30.0, images_per_s=300.0, environment_id="env2",
                      command="zoo-bench --models 'evil|*' --x `y`"))  # fmt: skip
    store.append(_row(model="deeplabv3-resnet101", weights="coco_voc", dataset="voc", num_images=1449, mIoU=70.0, aAcc=93.0,
                      protocol="ss whole 520", device="cpu", dtype="fp32", images_per_s=None,
                      device_name="Intel Xeon", date="2025-01-01T00:00:00+00:00",
                      command="zoo-bench --dataset voc --models deeplabv3-resnet101 --device cpu"))  # fmt: skip
    (data / "speed.csv").write_text(SPEED_CSV)
    return data


@pytest.fixture
def rendered(tmp_path: Path) -> tuple[Path, list[Path]]:
    data = _results(tmp_path)
    out = tmp_path / "out"
    return out, render(data, out, registry=_registry())


def test_pages_match_golden(rendered: tuple[Path, list[Path]]) -> None:
    out, _ = rendered
    if os.environ.get("ZOO_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name in PAGES:
            (GOLDEN / name).write_bytes((out / name).read_bytes())
    for name in PAGES:
        expected = (GOLDEN / name).read_text(encoding="utf-8")
        assert (out / name).read_text(encoding="utf-8") == expected, (
            f"{name} differs from tests/golden/leaderboard/{name}; if the change is intended, rerun with "
            "ZOO_UPDATE_GOLDEN=1 and review the diff"
        )


def test_files_written(rendered: tuple[Path, list[Path]]) -> None:
    out, written = rendered
    names = sorted(p.relative_to(out).as_posix() for p in written)
    assert names == [
        "README.md", "ade20k.md", "cityscapes.md",
        "plots/ade20k-nvidia-h200.png", "plots/ade20k-nvidia-h200.svg", "speed.md", "voc.md",
    ]  # fmt: skip


def test_render_is_deterministic(tmp_path: Path) -> None:
    data = _results(tmp_path)
    first = render(data, tmp_path / "a", registry=_registry())
    second = render(data, tmp_path / "b", registry=_registry())
    assert [p.relative_to(tmp_path / "a") for p in first] == [p.relative_to(tmp_path / "b") for p in second]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), f"{a.name} differs between two renders"
    again = render(data, tmp_path / "a", registry=_registry())
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in second]


def test_date_comes_from_rows_or_option(rendered: tuple[Path, list[Path]], tmp_path: Path) -> None:
    out, _ = rendered
    assert "results as of 2025-01-03" in (out / "README.md").read_text()  # the newest (speed) row
    data = tmp_path / "data"
    render(data, tmp_path / "dated", date="2030-12-31", registry=_registry())
    assert "results as of 2030-12-31" in (tmp_path / "dated" / "README.md").read_text()
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        render(data, tmp_path / "x", date="yesterday", registry=_registry())


def test_measured_and_reported_side_by_side(rendered: tuple[Path, list[Path]]) -> None:
    out, _ = rendered
    page = (out / "ade20k.md").read_text()
    ranking = page.split("## Ranking")[1].split("##")[0]
    rows = [line for line in ranking.splitlines() if "| segformer-mit\\_b0 |" in line]
    assert len(rows) == 2
    assert rows[0].startswith("| 1 |") and "measured (zoo 0.1.0, NVIDIA H200)" in rows[0]
    assert "38.10" in rows[0] and "120.5 img/s (NVIDIA H200, bf16)" in rows[0]
    assert "reported: Xie et al., SegFormer \\[Table 1\\]" in rows[1] and "37.40" in rows[1]
    versus = page.split("## Measured versus reported")[1].split("##")[0]
    assert "| mIoU | 38.10 | 37.40 | +0.70 | ADE20K val |" in versus


def test_reported_on_another_set_is_not_subtracted(rendered: tuple[Path, list[Path]]) -> None:
    out, _ = rendered
    page = (out / "voc.md").read_text()
    versus = page.split("## Measured versus reported")[1].split("##")[0]
    assert "not comparable: evaluated on COCO val2017 (VOC classes)" in versus
    assert "+2.60" not in page and "+0.60" not in page  # 70.0 - 67.4, 93.0 - 92.4
    other = page.split("## Reported on other evaluation sets")[1].split("##")[0]
    assert "| deeplabv3-resnet101 | resnet101 | coco\\_voc |" in other
    ranking = page.split("## Ranking")[1].split("##")[0]
    assert "reported:" not in ranking  # the COCO figure is not ranked with the VOC val measurement


def test_names_are_escaped(rendered: tuple[Path, list[Path]]) -> None:
    out, _ = rendered
    page = (out / "ade20k.md").read_text()
    assert "evil\\|\\*\\_\\`\\[x\\]&lt;b&gt;-enc" in page
    assert EVIL not in page
    assert "<summary>segformer-mit_b0.ade20k" in page and "&lt;sky&gt;" in page
    readme = (out / "README.md").read_text()
    assert "`zoo-bench --models 'evil\\|*' --x `y`` " not in readme
    assert "`` zoo-bench --models 'evil\\|*' --x `y` ``" in readme


def test_escape_and_code_units() -> None:
    assert escape("a|b*c_d`e[f]g<h>i\\j") == "a\\|b\\*c\\_d\\`e\\[f\\]g&lt;h&gt;i\\\\j"
    assert escape("two\nlines") == "two lines"
    assert escape(None) == escape(float("nan")) == escape("") == "–"
    assert code("a|b") == "`a\\|b`"
    assert code("x `y`") == "`` x `y` ``"
    assert fmt_diff(0.70000001) == "+0.70" and fmt_diff(-0.4) == "-0.40" and fmt_diff(0.0) == "±0.00"
    assert fmt_diff(math.nan) == "–"


_ROUNDING_CASES = [0.125, 2.675, 1.005, 0.005, 99.995, 99.999, -0.001, -0.0, 0.0, 5e-324, 999999.994, 1e6, 1e300]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.floats(allow_nan=True, allow_infinity=True)
        | st.floats(-200, 200)
        | st.integers(-20000, 20000).map(lambda i: i / 1000)  # ties and near-ties after scaling
        | st.sampled_from(_ROUNDING_CASES),
        max_size=40,
    ),
    digits=st.integers(1, 3),
)
def test_fmt_float_array_writes_what_python_writes_or_leaves_it(values: list[float], digits: int) -> None:
    import numpy as np

    texts, done = fmt_float_array(np.array(values, dtype=np.float64), digits)
    for value, text, formatted in zip(values, texts.to_pylist(), done.tolist(), strict=True):
        assert (text is not None) == formatted
        if formatted:
            assert text == f"{value:.{digits}f}", value
        else:  # left to fmt_floats: only where the scaled value is near a tie, or the value is not small and finite
            scaled = abs(value) * 10**digits
            assert not (abs(value) < 1e6) or abs(scaled - math.floor(scaled) - 0.5) <= 1e-6


def test_per_class_details(rendered: tuple[Path, list[Path]]) -> None:
    page = (rendered[0] / "ade20k.md").read_text()
    section = page.split("## Per-class IoU (measured rows)")[1]
    assert section.count("<details>") == 2 and section.count("</details>") == 2
    assert "| 1 | a\\|b\\_c | 44.30 | 55.00 | 61.40 |" in section
    assert "| 2 | &lt;sky&gt; | – | – | – |" in section  # NaN: absent class, not 0
    assert "No per-class values were stored for this row." in section  # the evil row has none


def test_per_class_rows_in_any_order_are_shown_by_class_index(tmp_path: Path) -> None:
    # A key's per-class rows need not be together or in class order (a hand-edited or merged file).
    import pandas as pd

    first, second = _row(threads=None), _row(threads=None, environment_id="env9", mIoU=20.0)

    def record(row: dict[str, Any], index: int, iou: float) -> dict[str, Any]:
        key = {c: row[c] for c in ACCURACY.key_columns}
        return {**key, "class_index": index, "class_name": f"k{index}", "IoU": iou, "Acc": 1.0, "Dice": 2.0}

    per_class = [record(first, 2, 12.0), record(second, 0, 90.0), record(first, 0, 10.0),
                 record(second, 1, 91.5), record(first, 1, 11.0)]  # fmt: skip
    ResultsStore(tmp_path / "data" / "results.csv").replace(
        pd.DataFrame([first, second], columns=list(ACCURACY.columns)),
        pd.DataFrame(per_class, columns=list(ACCURACY.per_class.columns)),
    )
    render(tmp_path / "data", tmp_path / "out", registry=_registry())
    section = (tmp_path / "out" / "ade20k.md").read_text().split("## Per-class IoU (measured rows)")[1]
    tables = {
        block.split("mIoU ")[1][:5]: [line for line in block.splitlines() if line.startswith("| ") and "-" not in line]
        for block in section.split("<details>")[1:]
    }  # fmt: skip
    assert tables["38.10"][1:] == ["| 0 | k0 | 10.00 | 1.00 | 2.00 |", "| 1 | k1 | 11.00 | 1.00 | 2.00 |",
                                   "| 2 | k2 | 12.00 | 1.00 | 2.00 |"]  # fmt: skip
    assert tables["20.00"][1:] == ["| 0 | k0 | 90.00 | 1.00 | 2.00 |", "| 1 | k1 | 91.50 | 1.00 | 2.00 |"]


def test_speed_page_one_table_per_device(rendered: tuple[Path, list[Path]]) -> None:
    page = (rendered[0] / "speed.md").read_text()
    assert page.count("## ") == 2 and "## Intel Xeon" in page and "## NVIDIA H200" in page
    h200 = page.split("## NVIDIA H200")[1]
    assert "Intel" not in h200
    lines = [line for line in h200.splitlines() if line.startswith("| ") and "---" not in line]
    assert lines[1].startswith("| segformer-mit\\_b0 | 512x512 | 32 | bf16 | compile=max-autotune CL model |")
    assert "| 2400 |" in lines[1]  # no spread stored: three significant digits
    protocol = h200.split("<details>")[1]  # the full protocol: every other column, the command as code
    assert "`zoo-bench --speed --models segformer-mit_b0`" in protocol and "extra\\_note: a\\|b" in protocol


def _no_results(root: Path) -> Path:
    """A results folder with nothing measured yet (a README only), as leaderboards/data starts."""
    root.mkdir()
    (root / "README.md").write_text("# Leaderboard data\n")
    return root


def test_no_results_says_so(tmp_path: Path) -> None:
    written = render(None, tmp_path / "out", registry=_registry())
    assert not any(p.suffix in (".png", ".svg") for p in written)
    out = tmp_path / "out"
    assert "No speed measurements yet: the GPU run comes later." in (out / "speed.md").read_text()
    assert "No measured throughput yet" in (out / "ade20k.md").read_text()
    assert "no dated result row yet" in (out / "README.md").read_text()
    ade = (out / "ade20k.md").read_text()
    assert "reported: Xie et al." in ade and "measured (" not in ade


def test_plots_are_valid_images(rendered: tuple[Path, list[Path]]) -> None:
    from PIL import Image

    plots = rendered[0] / "plots"
    png = plots / "ade20k-nvidia-h200.png"
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(png) as image:
        image.verify()
    root = ET.parse(plots / "ade20k-nvidia-h200.svg").getroot()
    assert root.tag.endswith("svg")
    page = (rendered[0] / "ade20k.md").read_text()
    assert "](plots/ade20k-nvidia-h200.svg)" in page and "](plots/ade20k-nvidia-h200.png)" in page


def test_pareto_front() -> None:
    points = [
        Point("slow-good", 10, 50),
        Point("fast-bad", 100, 30),
        Point("dominated", 5, 40),
        Point("mid", 50, 45),
    ]
    assert [p.label for p in pareto_front(points)] == ["slow-good", "mid", "fast-bad"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("results.csv", "", "the file is empty"),
        ("results.csv", "model,weights\nx,y\n", "missing column"),
        ("speed.csv", "", "the file is empty"),
        ("speed.csv", "model,images_per_s\nx,1,2\n", "record 2 has 3 fields"),
        ("run.speed.csv", "device_name\nH200\n", "needs at least a 'model' column"),
    ],
)
def test_bad_results_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str, message: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / name).write_text(content)
    with pytest.raises(ResultsFileError, match=message) as info:
        render(data, tmp_path / "out", registry=_registry())
    assert str(data / name) in str(info.value)
    assert leaderboard_main(["--results", str(data), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "zoo leaderboard: error:" in err and str(data / name) in err


def test_cli_renders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert leaderboard_main(["--reported-only", "--out", str(out), "--date", "2025-02-03"]) == 0
    assert "wrote 5 file(s)" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == sorted(PAGES)
    with pytest.raises(SystemExit):
        leaderboard_main(["--date", "soon"])


def test_comparability_rules() -> None:
    from zoo.leaderboard.reported import comparable, eval_set

    assert eval_set("ADE20K val") == ("ade20k", "val")
    assert eval_set("Cityscapes val") == ("cityscapes", "val")
    assert eval_set("PASCAL VOC 2012 val") == ("voc", "val")
    assert eval_set("COCO-val2017-VOC-labels") is None
    assert eval_set("VOC2012 test") is None
    ss = ReportedMetric("mIoU", 40.0, "paper", "ADE20K val", "single-scale")
    ms = ReportedMetric("mIoU", 41.0, "paper", "ADE20K val", "multi-scale")
    unstated = ReportedMetric("mIoU", 41.0, "paper", "ADE20K val", "")
    assert comparable(ss, "ade20k", "val", "none") == (True, "")
    assert comparable(ss, "ade20k", "val", "ms+flip")[0] is False
    assert comparable(ms, "ade20k", "val", "ms+flip") == (True, "")
    assert comparable(ss, "cityscapes", "val", "none")[0] is False
    ok, caveat = comparable(unstated, "ade20k", "val", "none")
    assert ok and "not stated" in caveat


def _pareto_by_definition(points: list[Point]) -> list[Point]:
    """The definition, quadratic: no other point at least as fast and as accurate, better in one."""
    usable = [p for p in points if math.isfinite(p.throughput) and math.isfinite(p.miou)]
    front = {
        p
        for p in usable
        if not any(
            q.throughput >= p.throughput
            and q.miou >= p.miou
            and (q.throughput, q.miou) != (p.throughput, p.miou)
            for q in usable
        )
    }
    return sorted(front, key=lambda p: (p.throughput, -p.miou, p.label))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([1.0, 2.0, 2.5, 10.0, math.inf, math.nan]),
            st.sampled_from([30.0, 40.0, 40.5, 50.0, -math.inf, math.nan]),
            st.sampled_from("abc"),
        ),
        max_size=12,
    )
)
def test_pareto_front_is_the_definition(values: list[tuple[float, float, str]]) -> None:
    points = [Point(label, throughput, miou) for throughput, miou, label in values]
    assert pareto_front(points) == _pareto_by_definition(points)


def test_many_points_label_only_the_front(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.axes import Axes

    from zoo.leaderboard.plots import LABEL_ALL_MAX, plot_accuracy_vs_speed

    labels: list[str] = []
    titles: list[str] = []
    annotate, set_title = Axes.annotate, Axes.set_title
    monkeypatch.setattr(
        Axes, "annotate", lambda self, text, *a, **k: labels.append(text) or annotate(self, text, *a, **k)
    )
    monkeypatch.setattr(Axes, "set_title", lambda self, text, *a, **k: titles.append(text) or set_title(self, text, *a, **k))  # fmt: skip
    few = [Point(f"m{i}", 1.0 + i, 50.0 - i) for i in range(LABEL_ALL_MAX)]  # every one on the front
    plot_accuracy_vs_speed(few, "few", tmp_path / "few")
    assert sorted(labels) == sorted(p.label for p in few) and titles == ["few"]
    labels.clear()
    many = [*few, *(Point(f"slow{i}", 1.0, 10.0 + i / 100) for i in range(50))]  # beaten by m0
    plot_accuracy_vs_speed(many, "many", tmp_path / "many")
    assert sorted(labels) == sorted(p.label for p in few)
    assert titles[-1] == f"many (labels: Pareto front only, {len(many)} points)"


# ---------------------------------------------------------------------------------------------- issue 11


def _voc_rows(root: Path) -> Path:
    """VOC results: one full-split row of published weights and four that must not be ranked with it."""
    data = root / "data"
    store = ResultsStore(data / "voc.csv")
    voc = dict(model="deeplabv3-resnet101", dataset="voc", num_images=1449, protocol="ss whole 520",
               device_name="NVIDIA H200")  # fmt: skip
    store.append(_row(**voc, weights="coco_voc", mIoU=70.0, images_per_s=10.0))
    store.append(_row(**{**voc, "num_images": 9}, weights="untrained", split="val[:9]", mIoU=95.0,
                      images_per_s=50.0))  # fmt: skip
    store.append(_row(**voc, weights="checkpoint", mIoU=80.0, images_per_s=20.0))
    store.append(_row(**{**voc, "num_images": 100}, weights="coco_voc", split="val[:100]", mIoU=72.0,
                      images_per_s=30.0))  # fmt: skip
    store.append(_row(**{**voc, "num_images": 1464}, weights="coco_voc", split="train", mIoU=75.0,
                      images_per_s=40.0))  # fmt: skip
    return data


def _section(page: str, title: str) -> str:
    return page.split(f"## {title}")[1].split("\n## ")[0]


@pytest.fixture
def plotted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], list[str]]]:
    """The labels of the (ranked, not ranked) points of every plot drawn."""
    from zoo.leaderboard import plots

    calls: list[tuple[list[str], list[str]]] = []
    draw = plots.plot_accuracy_vs_speed

    def spy(points, title, stem, others=()):
        calls.append(([p.label for p in points], [p.label for p in others]))
        return draw(points, title, stem, others=others)

    monkeypatch.setattr(plots, "plot_accuracy_vs_speed", spy)
    return calls


def test_partial_untrained_and_checkpoint_rows_are_never_ranked(
    tmp_path: Path, plotted: list[tuple[list[str], list[str]]]
) -> None:
    out = tmp_path / "out"
    render(_voc_rows(tmp_path), out, registry=_registry())
    page = (out / "voc.md").read_text()
    ranking = _section(page, "Ranking")
    assert [line.split(" | ")[3] for line in ranking.splitlines() if line.startswith("| 1")] == ["coco\\_voc"]
    assert "| 2 |" not in ranking  # the 9-image untrained row (mIoU 95) is not first, nor anywhere here
    apart = _section(page, "Not ranked: part of a split, untrained or checkpoint weights")
    rows = [line for line in apart.splitlines() if line.startswith("| deeplabv3")]
    assert len(rows) == 4 and apart.splitlines()[4].startswith("| model | encoder | weights |")
    assert "| 95.00 |" in rows[0] and rows[0].endswith(
        "| untrained (random weights); part of the split: 9 of 1,449 images (val\\[:9\\]) |"
    )
    assert "| voc val\\[:9\\] | 9 |" in rows[0]
    assert rows[1].endswith("| a user checkpoint, not published weights |")
    assert rows[2].endswith("| evaluated on the train split, not val |")
    assert rows[3].endswith("| part of the split: 100 of 1,449 images (val\\[:100\\]) |")
    versus = _section(page, "Measured versus reported")
    assert "not comparable: part of the split: 100 of 1,449 images (val\\[:100\\])" in versus
    assert plotted == [(["deeplabv3-resnet101.coco_voc (ss whole 520, bf16)"], [])]
    plots = _section(page, "Accuracy versus throughput")
    assert "Pareto front: deeplabv3-resnet101.coco\\_voc (ss whole 520, bf16)." in plots
    assert "Hollow circles" not in plots
    details = page.split("<summary>")[1:]
    assert sum("(not ranked: " in d.split("</summary>")[0] for d in details) == 4
    readme = (out / "README.md").read_text()
    assert "| [PASCAL VOC 2012](voc.md) | 1 | 4 | 0 | 1 |" in readme
    assert "on the official validation split and stored" not in readme
    assert "PASCAL VOC 2012 val: 1,449 images" in readme and "weights `untrained`" in readme


def test_include_partial_plots_them_apart_from_the_front(
    tmp_path: Path, plotted: list[tuple[list[str], list[str]]]
) -> None:
    out = tmp_path / "out"
    render(_voc_rows(tmp_path), out, registry=_registry(), include_partial=True)
    assert len(plotted) == 1 and plotted[0][0] == ["deeplabv3-resnet101.coco_voc (ss whole 520, bf16)"]
    assert sorted(plotted[0][1]) == sorted(
        f"deeplabv3-resnet101.{w} (ss whole 520, bf16)"
        for w in ("untrained", "checkpoint", "coco_voc", "coco_voc")
    )
    page = (out / "voc.md").read_text()
    plots = _section(page, "Accuracy versus throughput")
    assert (
        "Pareto front: deeplabv3-resnet101.coco\\_voc (ss whole 520, bf16). Hollow circles: 4 row(s)" in plots
    )
    assert "| 2 |" not in _section(page, "Ranking")


def test_only_unranked_rows_with_a_throughput_say_how_to_plot_them(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ResultsStore(data / "r.csv").append(_row(weights="untrained", images_per_s=5.0))
    render(data, tmp_path / "out", registry=_registry())
    plots = _section((tmp_path / "out" / "ade20k.md").read_text(), "Accuracy versus throughput")
    assert "No ranked row carries a throughput yet for ADE20K" in plots and "--include-partial" in plots
    assert not (tmp_path / "out" / "plots").exists()


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({}, ""),
        ({"weights": "untrained"}, "untrained (random weights)"),
        ({"weights": "checkpoint"}, "a user checkpoint, not published weights"),
        ({"split": "val[:9]", "num_images": 9}, "part of the split: 9 of 2,000 images (val[:9])"),
        ({"num_images": 1999}, "part of the split: 1,999 of 2,000 images"),
        ({"num_images": 2001}, "2,001 images, but ade20k val has 2,000"),
        ({"num_images": None}, "the number of images is not recorded (ade20k val has 2,000)"),
        ({"split": "test"}, "evaluated on the test split, not val"),
        ({"dataset": "mydata"}, "zoo does not know how many images mydata val has"),
    ],
)
def test_why_a_row_is_not_ranked(changes: dict[str, Any], why: str) -> None:
    from zoo.leaderboard.pages import not_ranked_because

    reason = not_ranked_because(_row(**changes))
    assert reason.startswith(why) and bool(reason) == bool(why)


@pytest.mark.parametrize("case", ["missing", "a file", "empty", "hidden files only"])
def test_a_missing_or_empty_results_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    from zoo.errors import EXIT_USAGE, ZooError
    from zoo.leaderboard import ResultsFolderError

    folder = tmp_path / "results"
    if case == "a file":
        folder.write_text("x")
    elif case != "missing":
        folder.mkdir()
        if case == "hidden files only":
            (folder / ".results.csv.lock").write_text("")
    with pytest.raises(ResultsFolderError, match="--results") as info:
        render(folder, tmp_path / "out", registry=_registry())
    assert isinstance(info.value, ZooError) and str(folder) in str(info.value)
    assert not (tmp_path / "out").exists()  # nothing rendered over the pages
    assert leaderboard_main(["--results", str(folder), "--out", str(tmp_path / "out")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert str(folder) in err and "Traceback" not in err


def test_cpu_rows_name_their_thread_count_and_gpu_rows_do_not() -> None:
    from zoo.leaderboard.pages import _device

    cpu = {"device": "cpu", "device_name": "AMD EPYC (2 cores)", "threads": "1"}
    gpu = {"device": "cuda", "device_name": "NVIDIA H200", "threads": "16"}
    assert _device(cpu) == "AMD EPYC (2 cores), 1 thread"
    assert _device({**cpu, "threads": "2"}) == "AMD EPYC (2 cores), 2 threads"
    assert _device(gpu) == "NVIDIA H200"
    assert _device({"device": "cpu", "device_name": "x", "threads": ""}) == "x"  # older rows: unknown


def test_a_comparison_names_what_zoo_still_does_differently_from_the_publisher(tmp_path: Path) -> None:
    """Each measured-vs-reported table says how the row's reference pipeline still differs from zoo's run:
    the torchvision weights' figures were scored on labels resized to 520, a row measured with
    ``--protocol mmseg`` differs from mmseg's resize within a uint8 step."""
    from dataclasses import asdict

    from zoo.registry import REGISTRY, info
    from zoo.weights import protocol_variant

    segformer = next(w for w in info("segformer-mit_b0").weights if w.tag == "ade20k")
    torchvision = next(w for w in info("deeplabv3-resnet101").weights if w.tag == "coco_voc")
    store = ResultsStore(tmp_path / "data" / "results.csv")
    store.append(_row(protocol_json=json.dumps(asdict(protocol_variant(segformer.protocol, "mmseg")))))
    store.append(_row(model="deeplabv3-resnet101", weights="coco_voc", dataset="voc", num_images=1449,
                      protocol_json=json.dumps(asdict(torchvision.protocol))))  # fmt: skip
    render(tmp_path / "data", tmp_path / "out", registry=REGISTRY)
    voc = (tmp_path / "out" / "voc.md").read_text(encoding="utf-8")
    ade = (tmp_path / "out" / "ade20k.md").read_text(encoding="utf-8")
    assert "- torchvision: the publisher scored on labels resized to 520 (nearest)" in voc
    assert "- mmseg-1.x: input pixels within one uint8 step of OpenCV's resize" in ade
    assert (
        "nvlabs-segformer" not in ade.split("still does differently")[1]
    )  # the row's variant, not the record's
