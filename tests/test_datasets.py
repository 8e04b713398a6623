"""Dataset loaders: official layouts (generated and real files), label conversions and bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from layouts import (
    CITYSCAPES_KNOWN,
    REAL_DATA,
    save_image,
    save_l_png,
    save_palette_png,
    write_ade20k,
    write_cityscapes,
    write_png_header,
    write_voc,
)
from PIL import Image

from zoo.classes import ADE20K_CLASSES, CITYSCAPES_CLASSES, VOC_CLASSES
from zoo.datasets import ADE20K, Cityscapes, VOCSegmentation, check, get_dataset
from zoo.datasets import ade20k as ade_mod
from zoo.datasets import cityscapes as cs_mod
from zoo.datasets import voc as voc_mod
from zoo.errors import DatasetError, ZooDeprecationWarning

REAL = REAL_DATA or Path("shared/data/real")
needs_real = pytest.mark.skipif(REAL_DATA is None, reason="real samples (shared/data/real) not present")


def _assert_sample(sample, h=None, w=None):
    image, label, sid = sample
    assert isinstance(sid, str)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert label.ndim == 2 and label.shape == image.shape[:2]
    assert np.issubdtype(label.dtype, np.integer)
    if h is not None:
        assert label.shape == (h, w)


# ---------------------------------------------------------------------------------------------- label space


def test_import_needs_no_torch():
    import subprocess

    code = "import sys, zoo.datasets; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


def test_declared_label_spaces():
    assert VOCSegmentation.classes == VOC_CLASSES and VOCSegmentation.palette.shape == (21, 3)
    assert Cityscapes.classes == CITYSCAPES_CLASSES and Cityscapes.palette.shape == (19, 3)
    assert ADE20K.classes == ADE20K_CLASSES and ADE20K.palette.shape == (150, 3)
    # the standard VOC colormap: background black, aeroplane (128,0,0), person (192,128,128), boundary (224,224,192)
    cmap = voc_mod.voc_colormap(256)
    assert cmap[0].tolist() == [0, 0, 0] and cmap[1].tolist() == [128, 0, 0]
    assert cmap[15].tolist() == [192, 128, 128] and cmap[255].tolist() == [224, 224, 192]
    # Cityscapes official colours and table
    assert cs_mod.CITYSCAPES_PALETTE[0].tolist() == [128, 64, 128]  # road
    assert cs_mod.CITYSCAPES_PALETTE[13].tolist() == [0, 0, 142]  # car
    lut = cs_mod.LABEL_ID_TO_TRAIN_ID
    assert [int(lut[i]) for i in (7, 8, 11, 26, 24, 33, 0, 1, 9, 29, 30)] == [0, 1, 2, 13, 11, 18] + [255] * 5
    assert sorted(lut[:34][lut[:34] != 255].tolist()) == list(range(19))
    tr = cs_mod.TRAIN_ID_TO_LABEL_ID
    assert tr.tolist() == [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33]
    assert (lut[tr] == np.arange(19)).all()


def test_every_list_of_datasets_derives_from_the_table():
    from zoo.classes import LABEL_SPACES
    from zoo.datasets import ALIASES, DATASET_NAMES, DATASETS, LOADERS
    from zoo.datasets.download import ARCHIVES
    from zoo.datasets.hf import LABEL_CONVENTIONS
    from zoo.datasets.locations import DATASET_FOLDERS

    assert DATASET_NAMES == tuple(DATASETS) == ("voc", "cityscapes", "ade20k")
    assert tuple(LOADERS) == DATASET_NAMES and all(LOADERS[n].spec is DATASETS[n] for n in DATASET_NAMES)
    assert {n: s.classes for n, s in DATASETS.items()} == LABEL_SPACES
    assert {n: s.folder for n, s in DATASETS.items()} == DATASET_FOLDERS
    assert {n: s.archive for n, s in DATASETS.items() if s.archive is not None} == ARCHIVES
    assert set(ARCHIVES) == {"voc", "ade20k"}  # Cityscapes needs a login
    assert LABEL_CONVENTIONS == {
        "voc": ("raw",),
        "cityscapes": ("label_ids", "train_ids"),
        "ade20k": ("raw", "reduced"),
    }
    assert ALIASES == {
        "voc2012": "voc",
        "pascal_voc": "voc",
        "ade": "ade20k",
        "ade20k_sceneparsing": "ade20k",
    }
    for name, spec in DATASETS.items():
        assert spec.palette.shape == (spec.num_classes, 3) and LOADERS[name].palette is spec.palette


def test_label_conventions_are_pure_and_tables_read_only():
    from zoo.datasets import DATASETS

    raw = np.array([[0, 7, 26, 255]], np.uint8)
    before = raw.copy()
    for spec in DATASETS.values():
        for convention in spec.label_conventions:
            assert not convention.valid.flags.writeable and not convention.table.flags.writeable
            try:
                first = convention.encode(raw, "x.png")
            except DatasetError as exc:
                assert str(exc).startswith("x.png: label values outside the label space")
                continue
            second = convention.encode(raw, "x.png")
            assert first.dtype == np.int64 and np.array_equal(first, second) and first is not second
            assert first.flags.writeable  # a new array the caller may change
    np.testing.assert_array_equal(raw, before)
    assert not cs_mod.LABEL_ID_TO_TRAIN_ID.flags.writeable and not voc_mod.VOC_PALETTE.flags.writeable
    with pytest.raises(DatasetError, match=r"x.png: .*: -1, 300$"):  # 16-bit masks: beyond 0..255 too
        DATASETS["voc"].default_convention.encode(np.array([-1, 0, 300]), "x.png")


def test_dataset_modules_import_no_cycle():
    """No module of zoo.datasets imports the package (``from zoo.datasets import ...``) or another's private
    names, and their module-level imports form no cycle."""
    import ast

    package = Path(__file__).resolve().parents[1] / "zoo" / "datasets"
    graph: dict[str, set[str]] = {}
    for path in sorted(package.glob("*.py")):
        module = "zoo.datasets" if path.stem == "__init__" else f"zoo.datasets.{path.stem}"
        graph[module] = set()
        for node in ast.parse(path.read_text()).body:  # module level only: lazy imports are not cycles
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("zoo"):
                assert not any(a.name.startswith("_") for a in node.names), (module, node.module)
                if module != "zoo.datasets":
                    assert node.module != "zoo.datasets", f"{module} imports the package __init__"
                graph[module].add(node.module)

    def visit(module: str, trail: tuple[str, ...]) -> None:
        assert module not in trail, f"import cycle: {' -> '.join((*trail, module))}"
        for target in graph.get(module, ()):
            visit(target, (*trail, module))

    for module in graph:
        visit(module, ())


def test_ade_reduce_zero_label_round_trip():
    raw = np.array([[0, 1, 150]], np.uint8)
    reduced = ade_mod.REDUCE_ZERO_LABEL[raw]
    assert reduced.tolist() == [[255, 0, 149]]
    assert ade_mod.to_annotation(reduced).tolist() == [[0, 1, 150]]


# ---------------------------------------------------------------------------------------- generated layouts


@pytest.mark.parametrize("form", ["parent", "VOCdevkit", "VOC2012"])
def test_voc_root_forms(tmp_path, form):
    labels = write_voc(tmp_path)
    root = {
        "parent": tmp_path,
        "VOCdevkit": tmp_path / "VOCdevkit",
        "VOC2012": tmp_path / "VOCdevkit" / "VOC2012",
    }[form]
    ds = get_dataset("voc", root, "val")
    assert len(ds) == 2 and ds.num_classes == 21
    for sample in ds:
        _assert_sample(sample, 12, 16)
        assert np.array_equal(sample[1], labels[sample[2]])  # palette indices as is, 255 kept
        assert 255 in sample[1] and 15 in sample[1]
    assert len(VOCSegmentation(root, "train")) == 2


def test_voc_reads_palette_indices_not_colours(tmp_path):
    write_voc(tmp_path)
    mask = tmp_path / "VOCdevkit/VOC2012/SegmentationClass/2007_000003.png"
    assert Image.open(mask).mode == "P"
    _, label, _ = VOCSegmentation(tmp_path, "val")[0]
    assert set(np.unique(label).tolist()) == {0, 1, 15, 20, 255}


@pytest.mark.parametrize("train_ids", [False, True])
def test_cityscapes_label_ids_to_train_ids(tmp_path, train_ids):
    labels = write_cityscapes(tmp_path, train_ids=train_ids)
    # labelTrainIds only when asked: the default is labelIds, as the official scorer (see below)
    ds = get_dataset("cityscapes", tmp_path, "val", **({"label_file": "labelTrainIds"} if train_ids else {}))
    assert len(ds) == 3 and ds.ids[0] == "frankfurt/frankfurt_000000_000001"
    _, mask_path = ds.paths(0)
    assert mask_path.name.endswith("_labelTrainIds.png" if train_ids else "_labelIds.png")
    for sample in ds:
        _assert_sample(sample, 12, 16)
        raw, label = labels[sample[2]], sample[1]
        for label_id, train_id in CITYSCAPES_KNOWN.items():
            assert (label[raw == label_id] == train_id).all()
        assert set(np.unique(label).tolist()) == {0, 10, 11, 13, 255}


def test_cityscapes_label_ids_file_uses_label_ids(tmp_path):
    write_cityscapes(tmp_path, train_ids=True)
    ds = Cityscapes(tmp_path, "val", label_file="labelIds")
    assert ds.paths(0)[1].name.endswith("_gtFine_labelIds.png")
    assert ds[0][1][0, 0] == 10  # sky


def test_cityscapes_default_follows_label_ids_where_train_ids_disagree(tmp_path):
    """labelTrainIds files are derived and may disagree (the real sample's do): the default reads labelIds."""
    labels = write_cityscapes(tmp_path, frames={"frankfurt": ["frankfurt_000000_000001"]}, train_ids=True)
    gt = tmp_path / "gtFine" / "val" / "frankfurt"
    save_l_png(gt / "frankfurt_000000_000001_gtFine_labelTrainIds.png", np.full((12, 16), 18))  # bicycle
    raw = labels["frankfurt/frankfurt_000000_000001"]
    expected = cs_mod.label_ids_to_train_ids(raw)
    for ds in (Cityscapes(tmp_path, "val"), get_dataset("cityscapes", tmp_path, "val")):
        assert ds.label_file == "labelIds" and ds.label_convention == "label_ids"
        assert ds.paths(0)[1].name == "frankfurt_000000_000001_gtFine_labelIds.png"
        np.testing.assert_array_equal(ds[0][1], expected)
    asked = Cityscapes(tmp_path, "val", label_file="labelTrainIds")
    assert asked.label_file == "labelTrainIds" and asked.label_convention == "train_ids"
    assert (asked[0][1] == 18).all()
    assert check("cityscapes", tmp_path, "val").class_pixels[18] == 0  # check() reads labelIds too
    assert check("cityscapes", tmp_path, "val", label_file="labelTrainIds").class_pixels[18] == 12 * 16


def test_cityscapes_label_file_choices(tmp_path):
    write_cityscapes(tmp_path, frames={"frankfurt": ["frankfurt_000000_000001"]})
    with pytest.raises(DatasetError, match="label_file 'trainIds' is not one of 'labelIds', 'labelTrainIds'"):
        Cityscapes(tmp_path, "val", label_file="trainIds")
    # asked for labelTrainIds that were never made: refused per sample, saying how to make them
    with pytest.raises(DatasetError, match="no mask.*_gtFine_labelTrainIds.png.*csCreateTrainIdLabelImgs"):
        Cityscapes(tmp_path, "val", label_file="labelTrainIds")[0]


def test_cityscapes_prefer_train_ids_is_deprecated(tmp_path):
    write_cityscapes(tmp_path, frames={"frankfurt": ["frankfurt_000000_000001"]}, train_ids=True)
    with pytest.warns(ZooDeprecationWarning, match="label_file='labelTrainIds'"):
        assert Cityscapes(tmp_path, "val", prefer_train_ids=True).label_file == "labelTrainIds"
    with pytest.warns(ZooDeprecationWarning, match="label_file='labelIds'"):
        assert Cityscapes(tmp_path, "val", prefer_train_ids=False).label_file == "labelIds"
    with pytest.warns(ZooDeprecationWarning), pytest.raises(DatasetError, match="contradicts"):
        Cityscapes(tmp_path, "val", label_file="labelIds", prefer_train_ids=True)


def test_cityscapes_export_to_label_ids():
    pred = np.array([[0, 13, 11, 18]])
    assert cs_mod.train_ids_to_label_ids(pred).tolist() == [[7, 26, 24, 33]]


@pytest.mark.parametrize("form", ["parent", "ADEChallengeData2016"])
@pytest.mark.parametrize("split", ["val", "validation"])
def test_ade_root_forms(tmp_path, form, split):
    labels = write_ade20k(tmp_path)
    root = tmp_path if form == "parent" else tmp_path / "ADEChallengeData2016"
    ds = get_dataset("ade20k", root, split)
    assert len(ds) == 3 and ds.num_classes == 150
    for sample in ds:
        _assert_sample(sample, 12, 16)
        raw = labels[sample[2]]
        expected = np.where(raw == 0, 255, raw.astype(np.int64) - 1)
        assert np.array_equal(sample[1], expected)
        assert {255, 0, 12, 149} <= set(np.unique(sample[1]).tolist())
    assert len(ADE20K(root, "train")) == 2


# ----------------------------------------------------------------------------------------------- real files


@needs_real
def test_real_voc():
    ds = VOCSegmentation(REAL, "val")
    assert len(ds) == 9
    saw_boundary = False
    for image, label, sid in ds:
        values = set(np.unique(label).tolist())
        assert values <= set(range(21)) | {255}, sid
        assert values - {0, 255}, sid  # at least one object class
        saw_boundary |= 255 in values
        assert image.shape[:2] == label.shape
    assert saw_boundary
    assert len(VOCSegmentation(REAL / "VOCdevkit", "train")) == 1


@needs_real
def test_real_ade20k():
    ds = ADE20K(REAL / "ADEChallengeData2016", "val")
    assert len(ds) == 3
    for image, label, sid in ds:
        values = np.unique(label)
        assert ((values <= 149) | (values == 255)).all(), sid
        assert image.shape[:2] == label.shape


@needs_real
def test_real_cityscapes_label_ids_agree_with_train_ids():
    via_ids = Cityscapes(REAL / "cityscapes", "val")  # the default: labelIds, though labelTrainIds exist
    via_train = Cityscapes(REAL / "cityscapes", "val", label_file="labelTrainIds")
    assert via_ids.label_file == "labelIds" and via_ids.paths(0)[1].name.endswith("_gtFine_labelIds.png")
    assert len(via_ids) == len(via_train) == 1
    image, mapped, sid = via_ids[0]
    _, stored, _ = via_train[0]
    assert sid == "frankfurt/frankfurt_000000_000294" and image.shape == (128, 256, 3)
    agreement = float((mapped == stored).mean())
    assert 0.99 < agreement < 1.0  # shrunk separately by their publisher: 99.77%, not all (README)


# ---------------------------------------------------------------------------------------------- bad input


def test_missing_roots_and_split_lists(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        VOCSegmentation(tmp_path / "nowhere", "val")
    with pytest.raises(DatasetError, match="ImageSets/Segmentation") as err:
        VOCSegmentation(tmp_path, "val")
    assert str(tmp_path) in str(err.value)
    write_voc(tmp_path)
    with pytest.raises(DatasetError, match="split list not found") as err:
        VOCSegmentation(tmp_path, "test")
    assert "ImageSets/Segmentation/test.txt" in str(err.value) and "train, val" in str(err.value)
    with pytest.raises(DatasetError, match="ADEChallengeData2016"):
        ADE20K(tmp_path, "val")
    write_ade20k(tmp_path, {"validation": 1})
    with pytest.raises(DatasetError, match="images/training"):
        ADE20K(tmp_path, "train")
    with pytest.raises(DatasetError, match="leftImg8bit"):
        Cityscapes(tmp_path, "val")
    write_cityscapes(tmp_path / "cs")
    with pytest.raises(DatasetError, match="leftImg8bit/train"):
        Cityscapes(tmp_path / "cs", "train")
    with pytest.raises(DatasetError, match="unknown dataset"):
        get_dataset("coco", tmp_path)


def _voc_paths(tmp_path):
    write_voc(tmp_path)
    voc = tmp_path / "VOCdevkit" / "VOC2012"
    return voc, voc / "JPEGImages" / "2007_000003.jpg", voc / "SegmentationClass" / "2007_000003.png"


def test_image_without_mask(tmp_path):
    _, image, mask = _voc_paths(tmp_path)
    mask.unlink()
    ds = VOCSegmentation(tmp_path, "val")  # construction is fine: the sample is checked when read
    with pytest.raises(DatasetError, match="no mask") as err:
        ds[0]
    assert str(image) in str(err.value) and str(mask) in str(err.value)
    assert ds[1][2] == "2007_000004"


def test_mask_of_another_size(tmp_path):
    _, _, mask = _voc_paths(tmp_path)
    save_palette_png(mask, np.zeros((10, 16), np.uint8))
    with pytest.raises(DatasetError, match="size") as err:
        VOCSegmentation(tmp_path, "val")[0]
    assert str(mask) in str(err.value)


@pytest.mark.parametrize("bad", [21, 100, 254])
def test_voc_values_outside_label_space(tmp_path, bad):
    _, _, mask = _voc_paths(tmp_path)
    lab = np.zeros((12, 16), np.uint8)
    lab[3, 3] = bad
    lab[4, 4] = 255  # legitimate boundary, not reported
    save_palette_png(mask, lab)
    with pytest.raises(DatasetError, match=f"outside the label space.*: {bad}$") as err:
        VOCSegmentation(tmp_path, "val")[0]
    assert str(mask) in str(err.value)


def test_voc_binary_mask_is_legitimate(tmp_path):
    _, _, mask = _voc_paths(tmp_path)
    save_palette_png(mask, np.where(np.arange(16)[None, :] < 8, 0, 255).repeat(12, 0))
    _, label, _ = VOCSegmentation(tmp_path, "val")[0]
    assert set(np.unique(label).tolist()) == {0, 255}  # background + boundary/ignore is valid VOC


def test_voc_rgb_mask(tmp_path):
    _, _, mask = _voc_paths(tmp_path)
    Image.open(mask).convert("RGB").save(mask)
    with pytest.raises(DatasetError, match="colour") as err:
        VOCSegmentation(tmp_path, "val")[0]
    assert str(mask) in str(err.value)


def test_ade_bad_annotations(tmp_path):
    write_ade20k(tmp_path, {"validation": 3})
    ann = tmp_path / "ADEChallengeData2016" / "annotations" / "validation"
    rgb = np.zeros((12, 16, 3), np.uint8)
    rgb[..., 0] = 120
    save_image(ann / "ADE_val_00000001.png", rgb)
    over = np.full((12, 16), 5, np.uint8)
    over[0, :3] = [151, 200, 151]
    save_l_png(ann / "ADE_val_00000002.png", over)
    save_l_png(ann / "ADE_val_00000003.png", np.where(np.eye(12, 16) > 0, 255, 0))
    ds = ADE20K(tmp_path, "val")
    with pytest.raises(DatasetError, match="colour") as err:
        ds[0]
    assert "ADE_val_00000001.png" in str(err.value)
    with pytest.raises(DatasetError, match=r"outside the label space.*: 151, 200$") as err:
        ds[1]
    assert "ADE_val_00000002.png" in str(err.value) and "binary" not in str(err.value)
    with pytest.raises(DatasetError, match="binary 0/255 mask") as err:
        ds[2]
    assert "ADE_val_00000003.png" in str(err.value)


def test_cityscapes_bad_label_ids(tmp_path):
    write_cityscapes(tmp_path, frames={"frankfurt": ["frankfurt_000000_000001", "frankfurt_000000_000002"]})
    gt = tmp_path / "gtFine" / "val" / "frankfurt"
    lab = np.full((12, 16), 7, np.uint8)
    lab[0, 0] = 34
    save_l_png(gt / "frankfurt_000000_000001_gtFine_labelIds.png", lab)
    save_l_png(gt / "frankfurt_000000_000002_gtFine_labelIds.png", np.where(np.eye(12, 16) > 0, 255, 0))
    ds = Cityscapes(tmp_path, "val")
    with pytest.raises(DatasetError, match=r"labelIds: 0\.\.33\): 34$") as err:
        ds[0]
    assert "frankfurt_000000_000001_gtFine_labelIds.png" in str(err.value)
    with pytest.raises(DatasetError, match="binary 0/255 mask") as err:
        ds[1]
    assert "frankfurt_000000_000002_gtFine_labelIds.png" in str(err.value)
    # trainIds files: 255 is ignore, 19 is not a trainId
    save_l_png(gt / "frankfurt_000000_000002_gtFine_labelTrainIds.png", np.full((12, 16), 19))
    with pytest.raises(DatasetError, match=r"trainIds.*: 19$"):
        Cityscapes(tmp_path, "val", label_file="labelTrainIds")[1]


@pytest.mark.parametrize("which", ["image", "mask"])
def test_corrupt_or_truncated_files(tmp_path, which):
    _, image, mask = _voc_paths(tmp_path)
    target = image if which == "image" else mask
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(DatasetError, match=f"cannot read {which}") as err:
        VOCSegmentation(tmp_path, "val")[0]
    assert str(target) in str(err.value)
    target.write_bytes(b"not an image at all")
    with pytest.raises(DatasetError, match=f"cannot read {which}") as err:
        VOCSegmentation(tmp_path, "val")[0]
    assert str(target) in str(err.value)


def test_grayscale_jpeg_is_converted_to_rgb(tmp_path):
    _, image, _ = _voc_paths(tmp_path)
    Image.fromarray(np.full((12, 16), 90, np.uint8), mode="L").save(image)
    img, _, _ = VOCSegmentation(tmp_path, "val")[0]
    assert img.shape == (12, 16, 3) and img.dtype == np.uint8


# -------------------------------------------------------------------------------------------------- check()


def test_check_reports_every_problem(tmp_path):
    write_voc(tmp_path, {"val": ["a", "b", "c", "d", "e"]})
    voc = tmp_path / "VOCdevkit" / "VOC2012"
    (voc / "SegmentationClass" / "a.png").unlink()  # image without mask
    save_palette_png(voc / "SegmentationClass" / "b.png", np.full((12, 16), 42))  # invalid value
    save_palette_png(voc / "SegmentationClass" / "c.png", np.zeros((5, 5)))  # wrong size
    (voc / "JPEGImages" / "d.jpg").write_bytes(b"\xff\xd8garbage")  # corrupt
    report = check("voc", tmp_path, "val")
    assert report.num_samples == 5 and report.num_ok == 1 and not report.ok
    assert [sid for sid, _ in report.problems] == ["a", "b", "c", "d"]
    messages = [msg for _, msg in report.problems]
    assert (
        "a.jpg" in messages[0] and "42" in messages[1] and "c.png" in messages[2] and "d.jpg" in messages[3]
    )
    text = str(report)
    assert "5 samples, 1 ok, 4 problem(s)" in text and all(m in text for m in messages)
    assert sum(report.class_pixels) + report.ignore_pixels == 12 * 16
    assert voc_mod.check(tmp_path, "val").problems == report.problems


def test_check_layout_problem_and_clean_report(tmp_path):
    report = ade_mod.check(tmp_path, "val")
    assert not report.ok and report.problems[0][0] == "<layout>" and str(tmp_path) in report.problems[0][1]
    write_cityscapes(tmp_path / "cs")
    report = cs_mod.check(tmp_path / "cs", "val")
    assert report.ok and report.num_ok == 3 and report.class_pixels[13] > 0


# ------------------------------------------------------------------------------- bad layouts (issue 11, table)


def _voc_list(text: str | bytes):
    """A VOC layout whose val.txt is ``text``; the ids it names (2007_000003/4) exist."""

    def make(root: Path) -> tuple[str, Path]:
        write_voc(root)
        list_file = root / "VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt"
        list_file.write_bytes(text if isinstance(text, bytes) else text.encode())
        return "voc", root

    return make


def _cityscapes_empty_city(root: Path) -> tuple[str, Path]:
    write_cityscapes(root)
    (root / "leftImg8bit/val/bochum").mkdir()  # unpacked partly: a city without images
    return "cityscapes", root


def _cityscapes_only_empty_city(root: Path) -> tuple[str, Path]:
    (root / "leftImg8bit/val/frankfurt").mkdir(parents=True)
    (root / "gtFine/val/frankfurt").mkdir(parents=True)
    return "cityscapes", root


def _cityscapes_jpg(root: Path) -> tuple[str, Path]:
    write_cityscapes(root)
    for png in (root / "leftImg8bit").rglob("*.png"):
        Image.open(png).save(png.with_suffix(".jpg"))
        png.unlink()
    return "cityscapes", root


def _ade_without_jpg(root: Path) -> tuple[str, Path]:
    write_ade20k(root)
    for jpg in (root / "ADEChallengeData2016/images/validation").glob("*.jpg"):
        Image.open(jpg).save(jpg.with_suffix(".png"))
        jpg.unlink()
    return "ade20k", root


BAD_LAYOUTS = {
    # case: (make the layout, fragments the one-line message must hold: the file or pattern, then what)
    "empty list": (_voc_list(""), ["Segmentation/val.txt: ", "split list is empty"]),
    "blank lines only": (_voc_list("\n  \n\n"), ["Segmentation/val.txt: ", "split list is empty"]),
    "empty city folder": (
        _cityscapes_empty_city,
        ["leftImg8bit/val/bochum/*_leftImg8bit.png: ", "no images found", "holds no files"],
    ),
    "only an empty city folder": (
        _cityscapes_only_empty_city,
        ["leftImg8bit/val/*/*_leftImg8bit.png: ", "no images found"],
    ),
    "cityscapes as jpg": (
        _cityscapes_jpg,
        ["leftImg8bit/val/*/*_leftImg8bit.png: ", "no images found", "3 .jpg"],
    ),
    "ade20k without jpg": (
        _ade_without_jpg,
        ["images/validation/*.jpg: ", "no images found", "3 .png"],
    ),
    "duplicate id": (
        _voc_list("2007_000003\n2007_000004\n2007_000003\n"),
        ["Segmentation/val.txt: ", "'2007_000003' is listed twice (lines 1 and 3)"],
    ),
    "id leaving the root": (
        _voc_list("2007_000003\n../../x\n"),
        ["Segmentation/val.txt: ", "line 2", "'../../x'", "outside the dataset folder"],
    ),
    "id leaving the root inside": (
        _voc_list("2007_000003\nsub/../../../x\n"),
        ["Segmentation/val.txt: ", "line 2", "outside the dataset folder"],
    ),
    "absolute id": (
        _voc_list("/etc/passwd\n"),
        ["Segmentation/val.txt: ", "line 1", "'/etc/passwd'", "outside the dataset folder"],
    ),
    "windows drive id": (
        _voc_list("C:\\x\n"),
        ["Segmentation/val.txt: ", "line 1", "outside the dataset folder"],
    ),
    "non-UTF-8 list": (
        _voc_list(b"2007_000003\n2007_\xff000004\n"),
        ["Segmentation/val.txt: ", "not UTF-8", "0xff at offset 17"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_LAYOUTS))
def test_bad_layouts_are_one_line_dataset_errors(tmp_path, case):
    make, fragments = BAD_LAYOUTS[case]
    name, root = make(tmp_path)
    with pytest.raises(DatasetError) as err:
        get_dataset(name, root, "val")
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(tmp_path)), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    # check() reports it as the layout's problem instead of "0 samples, 0 problems"
    report = check(name, root, "val")
    assert not report.ok and report.problems == [("<layout>", message)]


def test_utf8_lists_with_bom_and_crlf_are_fine(tmp_path):
    _voc_list("\ufeff2007_000003\r\n2007_000004\r\n")(tmp_path)
    assert VOCSegmentation(tmp_path, "val").ids == ["2007_000003", "2007_000004"]


# ---------------------------------------------------------------------------- oversized images (bombs)


@pytest.mark.parametrize(
    ("which", "size", "fragments"),
    [
        (
            "image",
            (10_000, 10_000),
            ["2007_000003.jpg: image is 10000x10000 = 100 MP, over the limit of 90 MP"],
        ),
        (
            "mask",
            (10_000, 10_000),
            ["2007_000003.png: mask is 10000x10000 = 100 MP, over the limit of 90 MP"],
        ),
        # past Pillow's own hard limit (2 x 89.5 MP): Pillow refuses first, zoo says so in one line
        ("image", (20_000, 10_000), ["2007_000003.jpg: image refused by Pillow", "zoo's limit is 90 MP"]),
    ],
)
def test_oversized_images_are_refused_before_decoding(tmp_path, which, size, fragments):
    _, image, mask = _voc_paths(tmp_path)
    write_png_header(image if which == "image" else mask, *size)  # a header only: nothing is allocated
    ds = VOCSegmentation(tmp_path, "val")
    with pytest.raises(DatasetError) as err:
        ds[0]
    message = str(err.value)
    assert "\n" not in message and all(f in message for f in fragments), message
    report = ds.check()  # the other sample is still read; the big one is a problem of its own
    assert report.num_ok == 1 and report.problems == [("2007_000003", message)]


def test_pixel_limit_is_configurable(tmp_path, monkeypatch):
    _voc_paths(tmp_path)  # 16x12 = 192 px images
    with pytest.raises(
        DatasetError, match=r"image is 16x12 = 192 pixels, over the limit of 191 pixels \(set \$ZOO_MAX"
    ):
        VOCSegmentation(tmp_path, "val", max_image_pixels=191)[0]
    assert VOCSegmentation(tmp_path, "val", max_image_pixels=192)[0][0].shape == (12, 16, 3)
    monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", "191")
    with pytest.raises(DatasetError, match="over the limit"):
        get_dataset("voc", tmp_path, "val")[0]
    monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(DatasetError, match=r"\$ZOO_MAX_IMAGE_PIXELS='lots': expected a positive number"):
        get_dataset("voc", tmp_path, "val")[0]
    monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", "200_000_000")  # a 100 MP header now passes the size check
    write_png_header(tmp_path / "VOCdevkit/VOC2012/JPEGImages/2007_000003.jpg", 10_000, 10_000)
    with pytest.raises(DatasetError, match="cannot read image"):  # ... and fails decoding the missing data
        get_dataset("voc", tmp_path, "val")[0]


def test_out_of_memory_while_decoding_is_a_dataset_error(tmp_path, monkeypatch):
    _voc_paths(tmp_path)

    def no_memory(self, *args, **kwargs):
        raise MemoryError

    from PIL import ImageFile

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_memory)
    with pytest.raises(
        DatasetError, match=r"2007_000003.jpg: not enough memory to decode the image \(16x12\)"
    ):
        VOCSegmentation(tmp_path, "val")[0]
