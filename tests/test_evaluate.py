"""The evaluation loop: batching, inference modes and out-of-memory retries never change a prediction."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from zoo.bench.evaluate import evaluate
from zoo.inference import TTA_MODES, InferenceError, predict
from zoo.weights import EvalProtocol

PROTOCOL = EvalProtocol(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), value_scale=1.0, resize="none")


def samples(sizes: list[tuple[int, int]], num_classes: int = 4):
    rng = np.random.default_rng(0)
    out = []
    for index, (h, w) in enumerate(sizes):
        label = rng.integers(0, num_classes, (h, w))
        label[0, :] = 255
        out.append((rng.integers(0, 256, (h, w, 3), dtype=np.uint8), label, f"s{index}"))
    return out


def conv_model(num_classes: int = 4, kernel: int = 1) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Conv2d(3, num_classes, kernel, padding=kernel // 2).eval()


def run(model, data, protocol=PROTOCOL, **kwargs):
    predictions = {}
    result = evaluate(model, data, protocol, 4, on_prediction=predictions.__setitem__, **kwargs)
    return result, predictions


def test_batching_images_of_different_sizes_changes_no_prediction():
    data = samples([(20, 30), (24, 24), (20, 30), (17, 33), (20, 30), (24, 24)])
    model = conv_model(kernel=3)  # zero padding at borders: padding an image to batch it would change these
    single, single_predictions = run(model, data, batch_size=1)
    batched, batched_predictions = run(model, data, batch_size=4)
    assert torch.equal(single.matrix, batched.matrix) and single.num_images == batched.num_images == 6
    for key, prediction in single_predictions.items():
        assert np.array_equal(prediction, batched_predictions[key])


def test_whole_and_slide_agree_for_a_per_pixel_model():
    data = samples([(40, 56), (23, 31)])
    slide = dataclasses.replace(PROTOCOL, inference="slide", crop_size=(16, 16), stride=(12, 12))
    whole_result, _ = run(conv_model(), data)
    slide_result, _ = run(conv_model(), data, protocol=slide)
    assert torch.equal(whole_result.matrix, slide_result.matrix)


def test_out_of_memory_halves_the_batch_and_says_so(monkeypatch):
    import zoo.bench.evaluate as module

    real = module._predict_chunk

    def fails_above_two(model, chunk, *args):
        if len(chunk) > 2:
            raise torch.OutOfMemoryError("simulated")
        return real(model, chunk, *args)

    monkeypatch.setattr(module, "_predict_chunk", fails_above_two)
    data = samples([(16, 16)] * 8)
    result, _ = run(conv_model(), data, batch_size=8)
    monkeypatch.setattr(module, "_predict_chunk", real)
    reference, _ = run(conv_model(), data, batch_size=1)
    assert torch.equal(result.matrix, reference.matrix)
    assert result.batch_size == 2
    assert result.notes == [
        "out of memory at batch size 8; continued at 4",
        "out of memory at batch size 4; continued at 2",
    ]


def test_out_of_memory_at_batch_one_is_raised(monkeypatch):
    import zoo.bench.evaluate as module

    def always_fails(*args):
        raise torch.OutOfMemoryError("simulated")

    monkeypatch.setattr(module, "_predict_chunk", always_fails)
    with pytest.raises(torch.OutOfMemoryError):
        run(conv_model(), samples([(8, 8)]), batch_size=1)


def test_bf16_autocast_runs_on_cpu():
    result, _ = run(conv_model(), samples([(16, 16)] * 2), dtype="bf16")
    assert int(result.matrix.sum()) == 2 * 15 * 16  # every non-ignored pixel counted once


def test_multi_scale_and_flip_reach_inference_and_keep_a_per_pixel_model_exact():
    """A 1x1 conv predicts each pixel from its colour alone: on uniform images every scale and mirror
    agrees, so multi-scale + flip must reproduce the single-scale prediction exactly (the TTA itself is
    tested in test_inference.py)."""
    data = []
    for index, colour in enumerate([(10, 200, 30), (250, 0, 120)]):
        image = np.broadcast_to(np.array(colour, np.uint8), (24, 32, 3)).copy()
        data.append((image, np.zeros((24, 32), np.int64), f"u{index}"))
    single, single_predictions = run(conv_model(), data)
    protocol = dataclasses.replace(PROTOCOL, ms_ratios=(0.5, 1.0, 1.75))
    augmented, augmented_predictions = run(conv_model(), data, protocol, tta="ms+flip")
    assert torch.equal(single.matrix, augmented.matrix)
    for key in single_predictions:
        assert np.array_equal(single_predictions[key], augmented_predictions[key])


@pytest.mark.parametrize("tta", TTA_MODES)
def test_every_prediction_is_inference_s_at_any_batch_size(tta):
    """evaluate only batches and counts: each prediction is zoo.inference.predict's for the same image."""
    data = samples([(20, 30), (24, 24), (20, 30), (17, 33), (20, 30)])
    protocol = dataclasses.replace(PROTOCOL, ms_ratios=(0.75, 1.0, 1.5))
    model = conv_model(kernel=3)
    _, batched = run(model, data, protocol, batch_size=3, tta=tta)
    for image, _, sample_id in data:
        assert np.array_equal(batched[sample_id], predict(model, image, protocol, tta=tta).numpy())


def test_an_unknown_tta_fails_before_any_sample_is_read():
    def never_read():
        raise AssertionError("a sample was read")
        yield

    with pytest.raises(InferenceError, match="unknown test-time augmentation"):
        evaluate(conv_model(), never_read(), PROTOCOL, 4, tta="ms+flop")
