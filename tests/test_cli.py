"""`zoo list` and `zoo info`, run as a user runs them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from zoo.cli import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_with_pattern_and_pretrained(capsys):
    code, out, _ = run_cli(capsys, "list", "deeplabv3-*", "--pretrained")
    assert code == 0
    assert "deeplabv3-resnet101.coco_voc" in out and "deeplabv3-resnet50.coco_voc" in out
    assert "segformer" not in out and "smp:deeplabv3" not in out  # smp's has no weights


def test_list_by_dataset(capsys):
    code, out, _ = run_cli(capsys, "list", "--dataset", "cityscapes")
    assert code == 0 and "6 models" in out and "segformer-mit_b5.cityscapes" in out


def test_list_nothing_matches(capsys):
    code, out, _ = run_cli(capsys, "list", "nothing-*")
    assert code == 1 and "no model matches nothing-*" in out


def test_info_shows_provenance_and_labels_reported_numbers(capsys):
    code, out, _ = run_cli(capsys, "info", "deeplabv3-resnet101")
    assert code == 0
    flat = " ".join(out.split())
    assert "smp:deeplabv3-resnet101" in flat  # the shadowed family is named
    assert "586e9e4e" in flat and "prefix" in flat
    assert "67.4 on COCO-val2017-VOC-labels" in flat and "reported by publisher" in flat


def test_info_flags_unverified_and_unpinned_weights(capsys):
    code, out, _ = run_cli(capsys, "info", "segformer-mit_b0.ade20k")
    flat = " ".join(out.split())
    assert code == 0 and "UNVERIFIED" in flat and "not pinned to a commit" in flat
    assert "37.4 on ADE20K val" in flat


def test_unknown_name_exits_2_with_suggestions(capsys):
    code, _, err = run_cli(capsys, "info", "deeplab_v3_plus-resnet10")
    assert code == 2 and "deeplabv3plus-resnet101" in err


@pytest.mark.parametrize("command", [["list", "unet-*"], ["info", "segformer-mit_b2"]])
def test_the_console_script_does_not_import_torch(command):
    code = (
        "import sys; from zoo.cli import main; main(sys.argv[1:]);"
        "assert not {'torch', 'timm', 'segmentation_models_pytorch'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code, *command], check=True, capture_output=True)


def test_zoo_bench_dispatches_speed_and_merge(capsys):
    from zoo.bench.cli import main as bench_main

    assert bench_main(["speed", "--models", "no_such-model", "--device", "cpu", "--size", "32x32"]) == 1
    assert "unknown model 'no_such-model'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench_main(["merge", "--help"])
    assert "--out" in capsys.readouterr().out


def test_zoo_leaderboard_renders_the_pages(tmp_path, capsys):
    code, _, _ = run_cli(
        capsys, "leaderboard", "--results", str(tmp_path / "data"), "--out", str(tmp_path / "out")
    )
    assert code == 0
    assert {p.name for p in (tmp_path / "out").glob("*.md")} == {
        "README.md", "voc.md", "cityscapes.md", "ade20k.md", "speed.md",
    }  # fmt: skip
