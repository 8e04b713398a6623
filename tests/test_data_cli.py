"""`zoo data check` and `zoo data download`, run through zoo.cli.main on generated official layouts."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

from layouts import save_l_png, write_ade20k, write_cityscapes, write_voc
from test_data_sources import range_server  # noqa: F401  (fixture)

from zoo.cli import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def flat(text: str) -> str:
    return " ".join(text.split())


def test_check_good_voc_layout(capsys, tmp_path):
    write_voc(tmp_path)
    code, out, _ = run_cli(capsys, "data", "check", "voc", "--data-root", str(tmp_path), "--split", "train")
    text = flat(out)
    assert code == 0, out
    assert f"voc train at {tmp_path}/VOCdevkit/VOC2012: 2 samples, 2 ok, 0 problem(s)" in text


def test_check_uses_zoo_data_by_default(capsys, tmp_path, monkeypatch):
    write_cityscapes(tmp_path / "cityscapes")
    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    code, out, _ = run_cli(capsys, "data", "check", "cityscapes")
    assert code == 0 and "3 samples, 3 ok, 0 problem(s)" in flat(out)


def test_check_reports_every_problem_and_exits_1(capsys, tmp_path):
    import numpy as np

    labels = write_ade20k(tmp_path)
    annotations = tmp_path / "ADEChallengeData2016" / "annotations" / "validation"
    bad = labels["ADE_val_00000001"].copy()
    bad[0, 0] = 200
    save_l_png(annotations / "ADE_val_00000001.png", bad)
    (annotations / "ADE_val_00000003.png").unlink()
    save_l_png(annotations / "ADE_val_00000002.png", np.zeros((3, 3), np.uint8))
    code, out, _ = run_cli(capsys, "data", "check", "ade20k", "--data-root", str(tmp_path))
    text = flat(out)
    assert code == 1
    assert "3 samples, 0 ok, 3 problem(s)" in text
    assert "ADE_val_00000001" in text and "200" in text
    assert "ADE_val_00000002" in text and "3x3" in text
    assert "ADE_val_00000003" in text and "no mask" in text


def test_check_missing_layout_is_a_problem(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "data", "check", "voc", "--data-root", str(tmp_path / "nowhere"))
    assert code == 1 and "<layout>" in out and "does not exist" in flat(out)


def test_check_unknown_dataset_exits_2(capsys, tmp_path):
    code, _, err = run_cli(capsys, "data", "check", "coco", "--data-root", str(tmp_path))
    assert code == 2 and "unknown dataset 'coco'" in err


def test_download_cityscapes_prints_instructions(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "data", "download", "cityscapes", "--data-root", str(tmp_path))
    text = flat(out)
    assert code == 0
    assert "leftImg8bit_trainvaltest.zip" in text and "gtFine_trainvaltest.zip" in text
    assert "cityscapes-dataset.com" in text


def test_download_ade20k_from_mirror_then_check(capsys, tmp_path, range_server):  # noqa: F811
    src = tmp_path / "src"
    write_ade20k(src)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in sorted((src / "ADEChallengeData2016").rglob("*")):
            zf.write(path, path.relative_to(src).as_posix())
    range_server.files["/mirror/ADEChallengeData2016.zip"] = buffer.getvalue()
    root = tmp_path / "data"
    code, out, err = run_cli(capsys, "data", "download", "ade20k", "--data-root", str(root), "--no-progress")
    assert code == 0 and "ADEChallengeData2016" in out and "cannot be verified" in err
    code, out, _ = run_cli(capsys, "data", "check", "ade", "--data-root", str(root))
    assert code == 0 and "3 samples, 3 ok, 0 problem(s)" in flat(out)


def test_download_http_error_exits_2(capsys, tmp_path, range_server):  # noqa: F811
    code, _, err = run_cli(capsys, "data", "download", "voc", "--data-root", str(tmp_path), "--no-progress")
    assert code == 2 and "HTTP 404" in err


def test_data_commands_do_not_import_torch(tmp_path):
    write_voc(tmp_path)
    code = (
        "import sys; from zoo.cli import main; main(sys.argv[1:]);"
        "assert not {'torch', 'timm', 'segmentation_models_pytorch'} & set(sys.modules), sorted(sys.modules)"
    )
    for command in (
        ["data", "check", "voc", "--data-root", str(tmp_path)],
        ["data", "download", "cityscapes"],
    ):
        subprocess.run([sys.executable, "-c", code, *command], check=True, capture_output=True)


def test_a_data_root_with_markup_is_shown_verbatim(capsys, tmp_path):
    root = tmp_path / "a[/x]" / "[bold]b"
    code, out, err = run_cli(capsys, "data", "check", "voc", "--data-root", str(root))
    assert code == 1 and f"{root}: VOC2012 root does not exist" in flat(out)
    assert "Traceback" not in out + err
    write_voc(root)
    code, out, err = run_cli(capsys, "data", "check", "voc", "--data-root", str(root), "--split", "train")
    assert code == 0 and str(root) in flat(out) and "Traceback" not in out + err
