"""zoo.bench.predictions: official result formats, round trips, and the official Cityscapes scorer."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from layouts import REAL_DATA
from PIL import Image

from zoo.bench.predictions import prediction_path, save_prediction
from zoo.datasets import DATASET_NAMES, Cityscapes, dataset_spec, read_index_mask
from zoo.datasets.ade20k import REDUCE_ZERO_LABEL
from zoo.datasets.cityscapes import CITYSCAPES_CLASSES, label_ids_to_train_ids
from zoo.datasets.voc import VOC_PALETTE, VOCSegmentation, voc_colormap
from zoo.metrics import confusion_matrix, iou_per_class, mean_iou


def _all_classes(num_classes: int, shape=(24, 40), seed=0) -> np.ndarray:
    """A seeded (H, W) train-id map holding every class 0..C-1 at least once."""
    rng = np.random.default_rng(seed)
    pred = rng.integers(0, num_classes, size=shape)
    pred.flat[:num_classes] = np.arange(num_classes)
    return pred


# ------------------------------------------------------------------------------------------------------
# Round trips through the datasets' own label conversion
# ------------------------------------------------------------------------------------------------------


def test_voc_round_trip(tmp_path: Path) -> None:
    pred = _all_classes(21)
    path = save_prediction("voc", pred, "2007_000033", tmp_path)
    assert path == tmp_path / "2007_000033.png"
    with Image.open(path) as img:
        assert img.mode == "P"
        palette = np.array(img.getpalette(), np.uint8).reshape(-1, 3)
    np.testing.assert_array_equal(palette[:21], VOC_PALETTE)
    np.testing.assert_array_equal(palette, voc_colormap(256))  # the devkit's full colormap (255 = boundary)
    raw = read_index_mask(path)  # indices, never via RGB
    labels = VOCSegmentation.convention.encode(raw, path)  # the loader's own conversion, a pure function
    np.testing.assert_array_equal(labels, pred)


def test_cityscapes_round_trip(tmp_path: Path) -> None:
    pred = _all_classes(19)
    path = save_prediction("cityscapes", pred, "frankfurt/frankfurt_000000_000294", tmp_path)
    assert path == tmp_path / "frankfurt" / "frankfurt_000000_000294_pred_labelIds.png"
    with Image.open(path) as img:
        assert img.mode == "L"
    raw = read_index_mask(path)
    assert set(np.unique(raw).tolist()) == {
        7,
        8,
        11,
        12,
        13,
        17,
        19,
        20,
        21,
        22,
        23,
        24,
        25,
        26,
        27,
        28,
        31,
        32,
        33,
    }
    np.testing.assert_array_equal(label_ids_to_train_ids(raw), pred)


def test_ade20k_round_trip(tmp_path: Path) -> None:
    pred = _all_classes(150)
    path = save_prediction("ade20k", pred, "ADE_val_00000001", tmp_path)
    assert path == tmp_path / "ADE_val_00000001.png"
    with Image.open(path) as img:
        assert img.mode == "L"
    raw = read_index_mask(path)
    assert raw.min() == 1 and raw.max() == 150  # 0 ("other") is never written
    np.testing.assert_array_equal(raw, pred + 1)
    np.testing.assert_array_equal(REDUCE_ZERO_LABEL[raw], pred)


@pytest.mark.parametrize("dataset", DATASET_NAMES)
def test_every_format_reads_back_through_the_default_convention(tmp_path: Path, dataset: str) -> None:
    """What save_prediction writes is each dataset's official ground-truth encoding (spec.prediction_format):
    read back by the loaders' default label convention it gives the train ids again."""
    spec = dataset_spec(dataset)
    pred = _all_classes(spec.num_classes)
    sample_id = "frankfurt/frankfurt_000000_000294" if dataset == "cityscapes" else "s"
    path = save_prediction(dataset, pred, sample_id, tmp_path)
    assert path == prediction_path(dataset, sample_id, tmp_path)
    with Image.open(path) as img:
        assert img.mode == ("L" if spec.prediction_format.palette is None else "P")
    np.testing.assert_array_equal(spec.default_convention.encode(read_index_mask(path), path), pred)


def test_aliases_and_dtypes(tmp_path: Path) -> None:
    pred = np.array([[0, 1], [2, 3]], np.uint8)
    assert save_prediction("voc2012", pred, "a", tmp_path / "v") == tmp_path / "v" / "a.png"
    assert save_prediction("ADE", pred.astype(np.int32), "a", tmp_path / "a") == tmp_path / "a" / "a.png"
    np.testing.assert_array_equal(read_index_mask(tmp_path / "a" / "a.png"), pred + 1)


def test_cityscapes_id_forms() -> None:
    want = Path("out/aachen/aachen_000001_000019_pred_labelIds.png")
    for sid in (
        "aachen/aachen_000001_000019",
        "aachen_000001_000019",
        "aachen/aachen_000001_000019_leftImg8bit",
    ):
        assert prediction_path("cityscapes", sid, "out") == want
    with pytest.raises(ValueError, match="<city>/<city>_<seq>_<frame>"):
        prediction_path("cityscapes", "aachen/bochum_000000_000313", "out")


# ------------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dataset", "bad"), [("voc", 21), ("voc", 255), ("cityscapes", 19), ("cityscapes", -1), ("ade20k", 150)]
)
def test_out_of_range_names_sample(tmp_path: Path, dataset: str, bad: int) -> None:
    pred = np.zeros((4, 5), np.int64)
    pred[1, 2] = bad
    sid = "frankfurt/frankfurt_000000_000294" if dataset == "cityscapes" else "img_7"
    with pytest.raises(ValueError, match=rf"sample '{sid}'.*: {bad}$"):
        save_prediction(dataset, pred, sid, tmp_path)
    assert not any(tmp_path.rglob("*"))  # nothing written, not even a folder


def test_other_invalid_inputs(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="sample 'x'.*integer"):
        save_prediction("voc", np.zeros((2, 2), np.float32), "x", tmp_path)
    with pytest.raises(ValueError, match=r"sample 'x'.*\(H, W\)"):
        save_prediction("voc", np.zeros((2, 2, 1), np.int64), "x", tmp_path)
    with pytest.raises(ValueError, match="unknown dataset 'coco'"):
        save_prediction("coco", np.zeros((2, 2), np.int64), "x", tmp_path)
    for sid in ("../x", "a/b", "", ".."):
        with pytest.raises(ValueError, match="not a valid sample id"):
            save_prediction("ade20k", np.zeros((2, 2), np.int64), sid, tmp_path)
    assert not any(tmp_path.rglob("*"))


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_prediction("ade20k", np.zeros((3, 3), np.int64), "s", tmp_path)
    before = path.read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_prediction("ade20k", np.ones((3, 3), np.int64), "s", tmp_path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.png"]  # no temporary file left behind
    monkeypatch.undo()
    save_prediction("ade20k", np.ones((3, 3), np.int64), "s", tmp_path)  # overwrite works
    np.testing.assert_array_equal(read_index_mask(path), np.full((3, 3), 2))


# ------------------------------------------------------------------------------------------------------
# The official Cityscapes scorer (cityscapesscripts) against zoo.metrics
# ------------------------------------------------------------------------------------------------------


def _official():
    try:
        from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as official
    except Exception as exc:  # not installed, or a dependency (matplotlib, ...) missing
        pytest.skip(
            f"cityscapesscripts is not importable ({type(exc).__name__}: {exc}); cannot run the official scorer"
        )
    return official


def _official_scores(official, gt_root: Path, pred_root: Path) -> dict:
    """Run cityscapesscripts' pixel-level evaluation on ``gt_root``'s val labelIds and ``pred_root``.

    Predictions are found exactly as the official script does (``getPrediction`` walks the results folder
    for ``<city>_<seq>_<frame>*.png``). A copy of the module's ``args`` keeps its global state untouched.
    """
    args = copy.copy(official.args)
    args.evalInstLevelScore = False  # nIoU needs *_gtFine_instanceIds.png, not part of this test
    args.evalPixelAccuracy = False
    args.JSONOutput = False  # no evaluationResults/*.json written
    args.quiet = True  # no printing of the confusion matrix / tables
    args.colorized = False
    args.predictionPath = str(pred_root)
    args.predictionWalk = None
    gts = sorted(str(p) for p in (gt_root / "gtFine" / "val").glob("*/*_gtFine_labelIds.png"))
    preds = [
        official.getPrediction(args, gt) for gt in gts
    ]  # exits (SystemExit) if one is missing/duplicated
    return official.evaluateImgLists(preds, gts, args)


def _zoo_cm(gt_label_ids: list[np.ndarray], preds: list[np.ndarray]) -> torch.Tensor:
    cm = torch.zeros(19, 19, dtype=torch.int64)
    for gt, pred in zip(gt_label_ids, preds, strict=True):
        cm += confusion_matrix(torch.from_numpy(pred), torch.from_numpy(label_ids_to_train_ids(gt)), 19)
    return cm


def _write_gt(root: Path, sample_id: str, label_ids: np.ndarray) -> None:
    city, stem = sample_id.split("/")
    folder = root / "gtFine" / "val" / city
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(label_ids.astype(np.uint8)).save(folder / f"{stem}_gtFine_labelIds.png")


def _compare(official_result: dict, cm: torch.Tensor) -> None:
    ious = iou_per_class(cm)
    for name, iou in zip(CITYSCAPES_CLASSES, ious, strict=True):
        theirs = official_result["classScores"][name]
        assert (math.isnan(theirs) and math.isnan(iou)) or theirs == pytest.approx(iou, abs=1e-12), name
    assert official_result["averageScoreClasses"] == pytest.approx(mean_iou(cm), abs=1e-6)


def test_official_cityscapes_scorer_matches_zoo_miou(tmp_path: Path) -> None:
    official = _official()
    rng = np.random.default_rng(1234)
    # labelIds used in the ground truth: ignored ones (unlabeled 0, ego vehicle 1, static 4, parking 9)
    # and evaluated ones (road, sidewalk, building, vegetation, sky, person, car).
    ignored, evaluated = [0, 1, 4, 9], [7, 8, 11, 21, 23, 24, 26]
    ids = [
        "frankfurt/frankfurt_000000_000294",
        "frankfurt/frankfurt_000001_007973",
        "lindau/lindau_000000_000019",
    ]
    gts, preds = [], []
    for sid in ids:
        blocks = rng.choice(ignored + evaluated, size=(8, 16), p=[0.05] * 4 + [0.8 / 7] * 7)
        gt = np.kron(blocks, np.ones((8, 8), np.int64))  # 64 x 128
        _write_gt(tmp_path / "cityscapes", sid, gt)
        train = label_ids_to_train_ids(gt)
        present = np.unique(train[train != 255])
        # Prediction = ground truth, with ignored pixels and ~20% of the others set to a random class;
        # every predicted class is one of the ground truth's, so no class is predicted but absent from gt
        # (the case test_official_cityscapes_conventions_agree covers on its own).
        pred = np.where(train == 255, rng.choice(present, size=train.shape), train)
        change = rng.random(train.shape) < 0.2
        pred[change] = rng.choice(present, size=int(change.sum()))
        preds.append(pred)
        gts.append(gt)
        save_prediction("cityscapes", pred, sid, tmp_path / "results")
    cm = _zoo_cm(gts, preds)
    assert int((cm.sum(0) > 0).sum()) == 7 and 0.3 < mean_iou(cm) < 0.95  # a non-trivial score
    result = _official_scores(official, tmp_path / "cityscapes", tmp_path / "results")
    _compare(result, cm)


def test_official_cityscapes_conventions_agree(tmp_path: Path) -> None:
    """How the official scorer treats classes absent from the ground truth: exactly as zoo.metrics does.

    One 4x8 frame. Ground truth labelIds: 16 px road (7), 8 px sidewalk (8), 8 px unlabeled (0, ignored).
    Prediction (trainIds): on road 12 px road + 4 px car, on sidewalk 8 px sidewalk, on unlabeled 8 px
    building. Car is predicted but absent from the ground truth; building is predicted only on ignored
    pixels.

    * road: TP 12, FN 4, FP 0 -> 0.75; sidewalk -> 1.0.
    * car: TP 0, FP 4 -> IoU 0.0, *counted* in the mean (the official scorer does not skip a class just
      because the ground truth lacks it: its NaN is only for TP + FP + FN == 0 -- zoo's convention too).
    * building: its FP pixels all lie on ignored ground truth, which neither scorer counts, so TP + FP + FN
      == 0 -> NaN, left out of the mean by both.
    * mIoU = (0.75 + 1.0 + 0.0) / 3 = 7/12 in both.
    """
    official = _official()
    gt = np.array([[7] * 8] * 2 + [[8] * 8] + [[0] * 8])
    pred = np.array([[0] * 8, [0] * 4 + [13] * 4, [1] * 8, [2] * 8])
    sid = "bochum/bochum_000000_000313"
    _write_gt(tmp_path / "cityscapes", sid, gt)
    save_prediction("cityscapes", pred, sid, tmp_path / "results")
    result = _official_scores(official, tmp_path / "cityscapes", tmp_path / "results")
    cm = _zoo_cm([gt], [pred])

    scores = result["classScores"]
    assert (scores["road"], scores["sidewalk"], scores["car"]) == (0.75, 1.0, 0.0)
    assert math.isnan(scores["building"])
    assert result["averageScoreClasses"] == pytest.approx(7 / 12, abs=1e-12)
    np.testing.assert_allclose(iou_per_class(cm)[[0, 1, 13]], [0.75, 1.0, 0.0])
    assert math.isnan(iou_per_class(cm)[2])
    assert mean_iou(cm) == pytest.approx(7 / 12, abs=1e-12)
    _compare(result, cm)


@pytest.mark.skipif(REAL_DATA is None, reason="real samples (shared/data/real) not present")
def test_official_cityscapes_scorer_matches_zoo_on_the_real_sample(tmp_path: Path) -> None:
    """The real frankfurt frame, read by zoo's loader with its default ground truth, scored by both.

    The prediction is the frame's ground truth with about a third of its pixels changed. zoo's loader reads
    ``*_gtFine_labelIds.png`` by default, which is what the official scorer reads: both agree to 1e-9.
    The sample's ``*_gtFine_labelTrainIds.png`` were resized separately and disagree on 0.23% of pixels, so
    scoring against them (``label_file="labelTrainIds"``, only when asked) gives another number.
    """
    official = _official()
    root = REAL_DATA / "cityscapes"
    dataset = Cityscapes(root, "val")
    assert dataset.label_file == "labelIds" and len(dataset) == 1
    _, gt, sample_id = dataset[0]
    rng = np.random.default_rng(7)
    present = np.unique(gt[gt != 255])
    pred = np.where(gt == 255, rng.choice(present, size=gt.shape), gt)
    change = rng.random(gt.shape) < 0.35
    pred[change] = rng.choice(present, size=int(change.sum()))
    save_prediction("cityscapes", pred, sample_id, tmp_path / "results")

    result = _official_scores(official, root, tmp_path / "results")
    cm = confusion_matrix(torch.from_numpy(pred), torch.from_numpy(gt), 19)
    assert len(present) >= 8 and 0.3 < mean_iou(cm) < 0.9  # a non-trivial score
    _compare(result, cm)
    assert result["averageScoreClasses"] == pytest.approx(mean_iou(cm), abs=1e-9)

    _, train_ids_gt, _ = Cityscapes(root, "val", label_file="labelTrainIds")[0]
    other = mean_iou(confusion_matrix(torch.from_numpy(pred), torch.from_numpy(train_ids_gt), 19))
    assert abs(other - result["averageScoreClasses"]) > 1e-6
