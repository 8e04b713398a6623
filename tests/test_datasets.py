"""Dataset loaders: official layouts (generated and real files), label conversions and bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from layouts import (
    CITYSCAPES_KNOWN,
    save_image,
    save_l_png,
    save_palette_png,
    write_ade20k,
    write_cityscapes,
    write_voc,
)
from PIL import Image

from zoo.classes import ADE20K_CLASSES, CITYSCAPES_CLASSES, VOC_CLASSES
from zoo.datasets import ADE20K, Cityscapes, VOCSegmentation, check, get_dataset
from zoo.datasets import ade20k as ade_mod
from zoo.datasets import cityscapes as cs_mod
from zoo.datasets import voc as voc_mod
from zoo.errors import DatasetError

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"real samples not present at {REAL}")


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
    ds = get_dataset("cityscapes", tmp_path, "val")
    assert len(ds) == 3 and ds.ids[0] == "frankfurt/frankfurt_000000_000001"
    _, mask_path = ds.paths(0)
    assert mask_path.name.endswith("_labelTrainIds.png" if train_ids else "_labelIds.png")
    for sample in ds:
        _assert_sample(sample, 12, 16)
        raw, label = labels[sample[2]], sample[1]
        for label_id, train_id in CITYSCAPES_KNOWN.items():
            assert (label[raw == label_id] == train_id).all()
        assert set(np.unique(label).tolist()) == {0, 10, 11, 13, 255}


def test_cityscapes_prefer_train_ids_off_uses_label_ids(tmp_path):
    write_cityscapes(tmp_path, train_ids=True)
    ds = Cityscapes(tmp_path, "val", prefer_train_ids=False)
    assert ds.paths(0)[1].name.endswith("_gtFine_labelIds.png")
    assert ds[0][1][0, 0] == 10  # sky


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
    via_ids = Cityscapes(REAL / "cityscapes", "val", prefer_train_ids=False)
    via_train = Cityscapes(REAL / "cityscapes", "val", prefer_train_ids=True)
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
        ds[1]


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
