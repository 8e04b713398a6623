"""zoo.metrics against a plain NumPy reference written here (loops and np.add.at), plus the pitfalls:
ignore 255, absent classes (NaN, not 0), out-of-range labels, logits passed as predictions, per-image vs
dataset-level averaging, and no host sync in ConfusionMatrix.update."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo import metrics as M

IGNORE = 255

# --------------------------------------------------------------------------------------------------------
# Independent NumPy reference
# --------------------------------------------------------------------------------------------------------


def ref_cm(pred: np.ndarray, target: np.ndarray, c: int, ignore=IGNORE) -> np.ndarray:
    cm = np.zeros((c, c), dtype=np.int64)
    keep = target != ignore
    np.add.at(cm, (target[keep].astype(np.int64), pred[keep].astype(np.int64)), 1)
    return cm


def ref_metrics(cm: np.ndarray) -> dict:
    c = cm.shape[0]
    total = 0
    for i in range(c):
        for j in range(c):
            total += int(cm[i, j])
    iou, acc, dice, gt = [], [], [], []
    for k in range(c):
        tp = int(cm[k, k])
        fn = sum(int(cm[k, j]) for j in range(c) if j != k)
        fp = sum(int(cm[i, k]) for i in range(c) if i != k)
        iou.append(tp / (tp + fp + fn) if tp + fp + fn else math.nan)
        acc.append(tp / (tp + fn) if tp + fn else math.nan)
        dice.append(2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else math.nan)
        gt.append(tp + fn)

    def nmean(xs):
        xs = [x for x in xs if not math.isnan(x)]
        return sum(xs) / len(xs) if xs else math.nan

    trace = sum(int(cm[k, k]) for k in range(c))
    fw = sum(gt[k] / total * iou[k] for k in range(c) if gt[k] > 0) if total else math.nan
    return {
        "aAcc": trace / total if total else math.nan,
        "iou": iou,
        "acc": acc,
        "dice": dice,
        "mIoU": nmean(iou),
        "mAcc": nmean(acc),
        "mDice": nmean(dice),
        "fwIoU": fw,
    }


def close(a, b) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(
        np.all((np.isnan(a) & np.isnan(b)) | np.isclose(a, b, rtol=1e-12, atol=1e-12))
    )


@st.composite
def cases(draw):
    """(pred, target, C): random C 1..8, shape, ignore fraction, and a subset of classes actually used."""
    c = draw(st.integers(1, 8))
    shape = draw(st.lists(st.integers(0, 7), min_size=1, max_size=3).map(tuple))
    n = int(np.prod(shape))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    used_t = draw(st.lists(st.integers(0, c - 1), min_size=1, max_size=c, unique=True))
    used_p = draw(st.lists(st.integers(0, c - 1), min_size=1, max_size=c, unique=True))
    ignore_frac = draw(st.sampled_from([0.0, 0.2, 0.7, 1.0]))
    target = rng.choice(used_t, size=n)
    target[rng.random(n) < ignore_frac] = IGNORE
    pred = rng.choice(used_p, size=n)
    dtype = draw(st.sampled_from([np.int64, np.uint8, np.int32]))
    return pred.reshape(shape).astype(dtype), target.reshape(shape).astype(dtype), c


# --------------------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(cases())
def test_matrix_and_every_metric_match_numpy_reference(case):
    pred, target, c = case
    expected = ref_cm(pred, target, c)
    cm = M.confusion_matrix(torch.from_numpy(pred), torch.from_numpy(target), c)
    assert cm.dtype == torch.int64 and cm.shape == (c, c)
    np.testing.assert_array_equal(cm.numpy(), expected)

    ref = ref_metrics(expected)
    for src in (cm, expected):  # torch and numpy input
        assert close(M.pixel_accuracy(src), ref["aAcc"])
        assert close(M.iou_per_class(src), ref["iou"])
        assert close(M.accuracy_per_class(src), ref["acc"])
        assert close(M.dice_per_class(src), ref["dice"])
        assert close(M.mean_iou(src), ref["mIoU"])
        assert close(M.mean_accuracy(src), ref["mAcc"])
        assert close(M.mean_dice(src), ref["mDice"])
        assert close(M.frequency_weighted_iou(src), ref["fwIoU"])
    assert M.iou_per_class(cm).dtype == np.float64

    summary = M.summarize(cm)
    for key in ("aAcc", "mIoU", "mAcc", "fwIoU", "mDice"):
        assert isinstance(summary[key], float)
        assert close(summary[key], ref[key] * 100)
    assert list(summary["per_class"]) == [str(i) for i in range(c)]
    for i in range(c):
        row = summary["per_class"][str(i)]
        assert close(
            [row["IoU"], row["Acc"], row["Dice"]],
            [ref["iou"][i] * 100, ref["acc"][i] * 100, ref["dice"][i] * 100],
        )


@settings(max_examples=60, deadline=None)
@given(cases(), st.data())
def test_streaming_equals_one_shot_and_merge_equals_joint(case, data):
    pred, target, c = case
    p, t = torch.from_numpy(pred).reshape(-1), torch.from_numpy(target).reshape(-1)
    cuts = sorted(data.draw(st.lists(st.integers(0, p.numel()), max_size=4)))
    bounds = [0, *cuts, p.numel()]
    stream = M.ConfusionMatrix(c)
    parts = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        part = M.ConfusionMatrix(c)
        part.update(p[a:b], t[a:b])
        stream.update(p[a:b], t[a:b])
        parts.append(part)
    one_shot = M.confusion_matrix(p, t, c)
    assert torch.equal(stream.compute(), one_shot)
    assert torch.equal(stream.matrix, one_shot)
    merged = M.ConfusionMatrix(c)
    for part in parts:
        merged.merge(part)
    assert torch.equal(merged.compute(), one_shot)
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    assert torch.equal(total.compute(), one_shot)
    assert int(stream.ignored_count) == int((t == IGNORE).sum())
    stream.reset()
    assert int(stream.compute().sum()) == 0


# --------------------------------------------------------------------------------------------------------
# Edge cases and pitfalls
# --------------------------------------------------------------------------------------------------------


def test_all_ignored_is_nan_not_a_crash():
    t = torch.full((4, 5), IGNORE)
    p = torch.zeros(4, 5, dtype=torch.int64)
    cm = M.confusion_matrix(p, t, 3)
    assert int(cm.sum()) == 0
    for f in (M.pixel_accuracy, M.mean_iou, M.mean_accuracy, M.mean_dice, M.frequency_weighted_iou):
        assert math.isnan(f(cm))
    assert np.isnan(M.iou_per_class(cm)).all()
    s = M.summarize(cm, ["a", "b", "c"])
    assert math.isnan(s["aAcc"]) and math.isnan(s["per_class"]["b"]["IoU"])
    empty = M.ConfusionMatrix(3)  # nothing updated at all
    assert empty.compute().shape == (3, 3) and int(empty.compute().sum()) == 0


def test_absent_class_is_nan_and_left_out_of_the_mean():
    # class 2 appears nowhere: NaN, and mIoU is the mean over classes 0 and 1 only (not /3 with a 0).
    cm = np.array([[3, 1, 0], [1, 3, 0], [0, 0, 0]])
    iou = M.iou_per_class(cm)
    assert np.isnan(iou[2])
    assert M.mean_iou(cm) == pytest.approx(0.6)
    # class 2 only predicted, never in the ground truth: IoU 0 (counted), Acc NaN.
    cm = np.array([[2, 0, 2], [0, 4, 0], [0, 0, 0]])
    assert M.iou_per_class(cm)[2] == 0.0
    assert np.isnan(M.accuracy_per_class(cm)[2])
    assert M.mean_accuracy(cm) == pytest.approx(0.75)


def test_dataset_level_not_per_image_average():
    # Image A: all class 0, predicted right. Image B: all class 1, half predicted as 0.
    pa, ta = torch.tensor([0, 0, 0, 0]), torch.tensor([0, 0, 0, 0])
    pb, tb = torch.tensor([1, 1, 0, 0]), torch.tensor([1, 1, 1, 1])
    cm = M.ConfusionMatrix(2)
    cm.update(pa, ta)
    cm.update(pb, tb)
    # One matrix [[4, 0], [2, 2]]: IoU_0 = 4/6, IoU_1 = 2/4 -> mIoU = 7/12.
    assert cm.compute().tolist() == [[4, 0], [2, 2]]
    assert M.mean_iou(cm.compute()) == pytest.approx(7 / 12, abs=1e-15)
    # Per image then averaged: A -> 1.0 (class 1 NaN), B -> (0 + 0.5)/2 = 0.25; mean 0.625. Not what we report.
    per_image = (M.mean_iou(M.confusion_matrix(pa, ta, 2)) + M.mean_iou(M.confusion_matrix(pb, tb, 2))) / 2
    assert per_image == pytest.approx(0.625, abs=1e-15)
    assert M.summarize(cm.compute())["mIoU"] == pytest.approx(700 / 12)


def test_out_of_range_target_raises_naming_the_value():
    p = torch.tensor([0, 1, 2, 20])
    t = torch.tensor([0, 21, 255, 20])  # 21 is not a class of a 21-class problem; 255 is ignored
    with pytest.raises(ValueError, match=r"target has values outside 0\.\.20.*: 21"):
        M.confusion_matrix(p, t, 21)
    cm = M.ConfusionMatrix(21)
    cm.update(p, t)  # no error here: update does not look at values on the host
    assert int(cm.invalid_count) == 1
    with pytest.raises(ValueError, match=r"21"):
        cm.compute()
    with pytest.raises(ValueError, match=r"outside 0\.\.20"):
        _ = cm.matrix
    merged = M.ConfusionMatrix(21).merge(cm)  # merging carries the error along
    with pytest.raises(ValueError, match=r"21"):
        merged.compute()


def test_binary_mask_stored_as_0_1_in_one_class_problem():
    # ignore_index=255 so 255 is skipped, but 1 is not a label of a 1-class problem.
    t = torch.tensor([[0, 1], [255, 0]], dtype=torch.uint8)
    p = torch.zeros(2, 2, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"outside 0\.\.0.*: 1"):
        M.confusion_matrix(p, t, 1)
    assert M.confusion_matrix(p, t, 1, check=False).tolist() == [
        [2]
    ]  # the bad pixel is left out, not counted
    cm = M.ConfusionMatrix(1)
    cm.update(p, t)
    with pytest.raises(ValueError, match=r"1 pixel\(s\).*: 1"):
        cm.compute()


def test_out_of_range_prediction_raises():
    p = torch.tensor([0, -1, 3])
    t = torch.tensor([0, 1, 1])
    with pytest.raises(ValueError, match=r"pred has values outside 0\.\.2: -1, 3"):
        M.confusion_matrix(p, t, 3)
    cm = M.ConfusionMatrix(3)
    cm.update(p, t)
    with pytest.raises(ValueError, match=r"pred has values outside 0\.\.2: -1, 3"):
        cm.compute()


def test_ignore_index_none_and_uint8_overflow():
    t = torch.tensor([0, 255], dtype=torch.uint8)
    p = torch.tensor([0, 0], dtype=torch.uint8)
    with pytest.raises(ValueError, match="255"):
        M.confusion_matrix(p, t, 2, ignore_index=None)
    # uint8 labels with many classes: t * C + p must not overflow uint8.
    t = torch.tensor([149, 3], dtype=torch.uint8)
    p = torch.tensor([148, 3], dtype=torch.uint8)
    cm = M.confusion_matrix(p, t, 150)
    assert int(cm[149, 148]) == 1 and int(cm[3, 3]) == 1 and int(cm.sum()) == 2


def test_float_predictions_raise_type_error():
    logits = torch.randn(1, 3, 4, 4)
    t = torch.zeros(1, 4, 4, dtype=torch.int64)
    with pytest.raises(TypeError, match="argmax"):
        M.confusion_matrix(logits[:, 0], t, 3)
    with pytest.raises(TypeError, match="argmax"):
        M.ConfusionMatrix(3).update(logits[:, 0], t)
    with pytest.raises(ValueError, match="same shape"):
        M.ConfusionMatrix(3).update(logits.argmax(1), t[0])


def test_merge_rejects_a_different_label_space():
    with pytest.raises(ValueError, match="num_classes"):
        M.ConfusionMatrix(3).merge(M.ConfusionMatrix(4))
    with pytest.raises(ValueError, match="ignore_index"):
        M.ConfusionMatrix(3).merge(M.ConfusionMatrix(3, ignore_index=None))


def test_summarize_names_and_percent():
    cm = torch.tensor([[1, 1], [0, 2]])
    s = M.summarize(cm, ["bg", "cat"])
    assert set(s) == {"aAcc", "mIoU", "mAcc", "fwIoU", "mDice", "per_class"}
    assert s["aAcc"] == pytest.approx(75.0)
    assert s["per_class"]["cat"] == pytest.approx({"IoU": 200 / 3, "Acc": 100.0, "Dice": 80.0})
    assert M.percent(0.5) == 50.0
    with pytest.raises(ValueError, match="class_names"):
        M.summarize(cm, ["only one"])


def test_update_does_not_sync_on_cpu_contract():
    cm = M.ConfusionMatrix(4)
    assert cm.update(torch.tensor([0, 1]), torch.tensor([0, 9])) is None
    assert isinstance(cm.invalid_count, torch.Tensor) and cm.invalid_count.dtype == torch.int64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA to observe host syncs")
def test_update_does_not_sync_on_cuda():
    cm = M.ConfusionMatrix(21, device="cuda")
    p = torch.randint(0, 21, (2, 64, 64), device="cuda")
    t = torch.randint(0, 23, (2, 64, 64), device="cuda")
    t[:, :8] = IGNORE
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            cm.update(p, t)
    finally:
        torch.cuda.set_sync_debug_mode(previous)
    cm_ok = M.ConfusionMatrix(21, device="cuda")
    cm_ok.update(p, t.clamp(max=20))
    ref = ref_cm(p.cpu().numpy(), t.clamp(max=20).cpu().numpy(), 21)
    np.testing.assert_array_equal(cm_ok.compute().cpu().numpy(), ref)
    with pytest.raises(ValueError, match="target has values outside"):
        cm.compute()


# --------------------------------------------------------------------------------------------------------
# Out-of-range values in every label dtype: counted apart, never into a cell, and named by compute()
# --------------------------------------------------------------------------------------------------------

_DTYPE_VALUES = {
    # dtype -> values a label of that dtype can hold that matter here (in range, ignore values, just out of
    # range, far out of range: a value spread wider than a small histogram takes another code path)
    torch.bool: [0, 1],
    torch.uint8: [0, 1, 2, 3, 4, 5, 200, 254, 255],
    torch.int8: [-128, -2, -1, 0, 1, 2, 3, 4, 5, 127],
    torch.int16: [-300, -1, 0, 1, 2, 3, 4, 5, 255, 256, 32767],
    torch.int32: [-1, 0, 1, 2, 3, 4, 5, 255, 2**31 - 1],
    torch.int64: [-(2**62), -1, 0, 1, 2, 3, 4, 5, 255, 10**7, 2**62],
}


def ref_counts(pred: np.ndarray, target: np.ndarray, c: int, ignore) -> tuple[np.ndarray, int, int, list]:
    """(matrix of the valid pixels, ignored count, invalid count, [tmin, tmax, pmin, pmax]) with Python ints."""
    cm = np.zeros((c, c), dtype=np.int64)
    ignored = invalid = 0
    t_seen, p_seen = [0], [0]
    for p, t in zip(pred.tolist(), target.tolist(), strict=True):
        p, t = int(p), int(t)
        p_seen.append(p)
        p_ok = 0 <= p < c
        if ignore is not None and t == ignore:
            ignored += p_ok
            invalid += not p_ok
            continue
        t_seen.append(t)
        if p_ok and 0 <= t < c:
            cm[t, p] += 1
        else:
            invalid += 1
    return cm, ignored, invalid, [min(t_seen), max(t_seen), min(p_seen), max(p_seen)]


@st.composite
def wild_cases(draw):
    c = draw(st.integers(1, 6))
    n = draw(st.integers(0, 40))
    p_dtype = draw(st.sampled_from(list(_DTYPE_VALUES)))
    t_dtype = draw(st.sampled_from([p_dtype, *_DTYPE_VALUES]))
    pool_p = draw(st.lists(st.sampled_from(_DTYPE_VALUES[p_dtype]), min_size=1, max_size=4))
    pool_t = draw(st.lists(st.sampled_from(_DTYPE_VALUES[t_dtype]), min_size=1, max_size=4))
    pred = draw(st.lists(st.sampled_from(pool_p), min_size=n, max_size=n))
    target = draw(st.lists(st.sampled_from(pool_t), min_size=n, max_size=n))
    ignore = draw(st.sampled_from([None, 255, -1, 0, 2]))
    # A label map large enough (>= 65536 pixels) takes the dtype's whole range for one-byte labels: the
    # same values tiled `repeat` times, so the reference is the small case's counts times `repeat`.
    repeat = draw(st.sampled_from([1, 1, -(-(1 << 16) // n) if n else 1]))
    return (
        torch.tensor(pred, dtype=torch.int64).to(p_dtype),
        torch.tensor(target, dtype=torch.int64).to(t_dtype),
        c,
        ignore,
        repeat,
    )


@settings(max_examples=150, deadline=None)
@given(wild_cases())
def test_every_dtype_and_out_of_range_value_is_counted_apart(case):
    pred, target, c, ignore, repeat = case
    cm_ref, ignored, invalid, (tmin, tmax, pmin, pmax) = ref_counts(
        pred.long().numpy(), target.long().numpy(), c, ignore
    )
    pred, target = pred.repeat(repeat), target.repeat(repeat)
    cm_ref, ignored, invalid = cm_ref * repeat, ignored * repeat, invalid * repeat
    np.testing.assert_array_equal(M.confusion_matrix(pred, target, c, ignore, check=False).numpy(), cm_ref)
    stream = M.ConfusionMatrix(c, ignore_index=ignore)
    half = pred.numel() // 2
    stream.update(pred[:half], target[:half])
    stream.update(pred[half:], target[half:])
    assert (int(stream.ignored_count), int(stream.invalid_count)) == (ignored, invalid)
    if not invalid:
        np.testing.assert_array_equal(stream.compute().numpy(), cm_ref)
        np.testing.assert_array_equal(M.confusion_matrix(pred, target, c, ignore).numpy(), cm_ref)
        return
    with pytest.raises(ValueError, match=rf"^{invalid} pixel\(s\) out of range") as info:
        stream.compute()
    message = str(info.value)
    for what, low, high in (("target", tmin, tmax), ("pred", pmin, pmax)):
        bad = [v for v in dict.fromkeys((low, high)) if not 0 <= v < c]
        if bad:
            assert f"{what} has values outside 0..{c - 1}" in message
            assert ", ".join(map(str, bad)) + " (smallest/largest seen)" in message
        else:
            assert f"{what} has values" not in message
    with pytest.raises(ValueError, match=rf"^{invalid} pixel\(s\) out of range"):
        M.confusion_matrix(pred, target, c, ignore)


def test_an_ignore_index_that_is_a_class_is_skipped_not_counted():
    # ignore_index=0 inside 0..C-1 (some datasets mark "unlabelled" as 0): its pixels reach no cell
    t = torch.tensor([0, 0, 1, 2], dtype=torch.uint8)
    p = torch.tensor([1, 2, 1, 9], dtype=torch.uint8)
    cm = M.ConfusionMatrix(3, ignore_index=0)
    cm.update(p, t)
    assert (int(cm.ignored_count), int(cm.invalid_count)) == (2, 1)
    with pytest.raises(ValueError, match=r"pred has values outside 0\.\.2: 9"):
        cm.compute()
    assert M.confusion_matrix(p, t, 3, ignore_index=0, check=False).tolist() == [
        [0, 0, 0],
        [0, 1, 0],
        [0, 0, 0],
    ]
