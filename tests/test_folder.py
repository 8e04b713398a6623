"""Datasets of your own (``folder:PATH``): layouts, every mask encoding and its ambiguous cases, bad input,
the binary scoring path (one output channel, sigmoid > threshold) against NumPy, and how results are named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import zoo.datasets
from zoo.datasets import FolderDataset, check, dataset_spec, get_dataset
from zoo.datasets.spec import DATASETS, canonical_name, is_folder_name
from zoo.errors import DatasetError

H, W = 10, 14
RNG = np.random.default_rng(0)


def _image(path: Path, h: int = H, w: int = W, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def _mask(path: Path, values: np.ndarray, mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "RGB":
        Image.fromarray(values.astype(np.uint8), "RGB").save(path)
    elif mode == "1":
        Image.fromarray(values.astype(bool)).save(path)
    else:
        Image.fromarray(values.astype(np.uint8), mode).save(path)


def _binary(seed: int, high: int = 255) -> np.ndarray:
    return (np.random.default_rng(seed).random((H, W)) > 0.5).astype(np.uint8) * high


def write_folder(
    root: Path, masks: dict[str, np.ndarray], *, mode: str = "L", image_ext: str = ".jpg"
) -> Path:
    """``root/images/<id><image_ext>`` and ``root/masks/<id>.png`` for each mask given; returns ``root``."""
    for index, (sample_id, values) in enumerate(masks.items()):
        _image(root / "images" / f"{sample_id}{image_ext}", *values.shape[:2], seed=index)
        _mask(root / "masks" / f"{sample_id}.png", values, mode)
    return root


# ------------------------------------------------------------------------------------------------ names


def test_folder_names_pass_through_canonical_name_and_are_not_benchmarks():
    assert is_folder_name("folder:~/x") and is_folder_name("FOLDER:/data/X")
    assert canonical_name("Folder:~/Data/People") == "folder:~/Data/People"  # the path keeps its case
    assert not is_folder_name("voc") and canonical_name("VOC2012") == "voc"
    with pytest.raises(DatasetError, match="no folder after"):
        canonical_name("folder:")
    with pytest.raises(DatasetError, match=r"get_dataset\(name\)\.spec"):
        dataset_spec("folder:/x")
    with pytest.raises(DatasetError, match="folder:PATH"):
        canonical_name("coco")


def test_the_package_function_and_the_name_form_read_the_same(tmp_path):
    root = write_folder(tmp_path / "people", {"a": _binary(1), "b": _binary(2)})
    by_function = zoo.datasets.folder(root, images="images", masks="masks", classes=["background", "person"])
    by_name = get_dataset(f"folder:{root}", classes="background,person")
    assert isinstance(by_function, FolderDataset) and by_function.ids == by_name.ids == ["a", "b"]
    assert by_function.spec.result_name == by_name.spec.result_name
    assert by_function.spec.name == "folder:people" and not by_function.spec.official
    assert all(spec.official for spec in DATASETS.values())
    image, label, sample_id = by_name[1]
    assert image.shape == (H, W, 3) and image.dtype == np.uint8 and sample_id == "b"
    np.testing.assert_array_equal(label, _binary(2) // 255)
    assert label.dtype == np.int64


def test_tilde_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    write_folder(tmp_path / "data" / "people", {"a": _binary(1)})
    assert len(get_dataset("folder:~/data/people")) == 1


# --------------------------------------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    ("mode", "high"), [("L", 255), ("L", 1), ("P", 255), ("P", 1), ("1", 1), ("RGB", 255), ("RGB", 1)]
)
def test_binary_masks_become_background_foreground_without_ignore(tmp_path, mode, high):
    masks = {"a": _binary(1, high), "b": _binary(2, high)}
    stored = {k: np.repeat(v[..., None], 3, axis=2) for k, v in masks.items()} if mode == "RGB" else masks
    ds = zoo.datasets.folder(write_folder(tmp_path, stored, mode=mode))
    assert ds.mask_encoding == "binary" and ds.classes == ("background", "foreground")
    for (_, label, _), values in zip(ds, masks.values(), strict=True):
        np.testing.assert_array_equal(label, (values > 0).astype(np.int64))
        assert not (label == 255).any()  # a 255 is foreground, never ignore


def test_binary_with_two_named_classes_and_a_mask_without_foreground(tmp_path):
    root = write_folder(tmp_path, {"a": _binary(1), "empty": np.zeros((H, W), np.uint8)})
    (root / "classes.txt").write_text("background\nperson\n")
    ds = zoo.datasets.folder(root)
    assert ds.mask_encoding == "binary" and ds.classes == ("background", "person")
    assert ds[1][1].sum() == 0


def test_index_masks_with_ignore(tmp_path):
    values = RNG.integers(0, 4, (H, W)).astype(np.uint8)
    values[0, :3] = 255
    root = write_folder(tmp_path, {"a": values})
    (root / "classes.txt").write_text("background\ncat\ndog\nbird\n")
    ds = zoo.datasets.folder(root)
    assert ds.mask_encoding == "index" and ds.num_classes == 4 and ds.label_convention == "index"
    np.testing.assert_array_equal(ds[0][1], values.astype(np.int64))
    assert ds.palette.shape == (4, 3)


def test_rgb_masks_with_a_palette(tmp_path):
    palette = np.array([[0, 0, 0], [220, 20, 60], [0, 0, 142]], np.uint8)
    labels = RNG.integers(0, 3, (H, W))
    root = write_folder(tmp_path, {"a": palette[labels]}, mode="RGB")
    (root / "classes.txt").write_text("background\nperson\ncar\n")
    (root / "palette.txt").write_text("0 0 0\n220,20,60\n0 0 142\n")
    ds = zoo.datasets.folder(root)
    assert ds.mask_encoding == "rgb"
    np.testing.assert_array_equal(ds[0][1], labels)
    # the same files, stated, with the palette as an argument
    stated = zoo.datasets.folder(root, mask_encoding="rgb", palette=palette.tolist())
    np.testing.assert_array_equal(stated[0][1], labels)


def test_rgb_mask_with_an_unknown_colour_names_the_file_and_colour(tmp_path):
    palette = np.array([[0, 0, 0], [255, 0, 0]], np.uint8)
    values = palette[np.zeros((H, W), int)]
    values[2, 2] = (1, 2, 3)
    root = write_folder(tmp_path, {"a": values}, mode="RGB")
    ds = zoo.datasets.folder(root, classes="bg,red", palette=palette)
    with pytest.raises(DatasetError, match=r"masks/a\.png: colour\(s\) not in the palette: \(1, 2, 3\)"):
        ds[0]


def test_colour_masks_without_a_palette_are_refused(tmp_path):
    values = np.zeros((H, W, 3), np.uint8)
    values[..., 0] = 200
    root = write_folder(tmp_path, {"a": values}, mode="RGB")
    with pytest.raises(DatasetError, match="colour masks need a palette.*palette.txt"):
        zoo.datasets.folder(root, classes="a,b,c")


# -------------------------------------------------------------------------------------- ambiguous cases


def test_zero_one_masks_with_three_classes_are_index_masks_by_rule(tmp_path):
    """0/1 masks and a classes.txt of 3 classes: binary has 2 classes, so the rule says index (no scan)."""
    root = write_folder(tmp_path, {"a": _binary(1, high=1)})
    (root / "classes.txt").write_text("background\ncat\ndog\n")
    ds = zoo.datasets.folder(root)
    assert ds.mask_encoding == "index" and ds.num_classes == 3
    np.testing.assert_array_equal(ds[0][1], _binary(1, high=1))


def test_zero_255_masks_with_three_classes_say_they_look_binary(tmp_path):
    root = write_folder(tmp_path, {"a": _binary(1)})
    (root / "classes.txt").write_text("background\ncat\ndog\n")
    ds = zoo.datasets.folder(root)
    assert ds.mask_encoding == "index"  # 255 is ignore: legal, but the whole foreground would be ignored...
    np.testing.assert_array_equal(ds[0][1], _binary(1))
    with pytest.raises(DatasetError, match="binary masks have 2 classes"):
        zoo.datasets.folder(root, mask_encoding="binary")


def test_zero_one_and_255_together_are_refused_with_how_to_state_it(tmp_path):
    values = _binary(1, high=1)
    values[0, 0] = 255
    root = write_folder(tmp_path, {"a": values})
    with pytest.raises(DatasetError, match=r"0, 1 and 255.*cannot be told apart; state mask_encoding="):
        zoo.datasets.folder(root)
    index = zoo.datasets.folder(root, mask_encoding="index", classes="background,person")
    assert index[0][1][0, 0] == 255  # stated: 255 = ignore
    binary = zoo.datasets.folder(root, mask_encoding="binary")
    with pytest.raises(DatasetError, match=r"a\.png: a binary mask holding both 1 and 255"):
        binary[0]


def test_zero_one_and_255_in_different_masks_are_refused_too(tmp_path):
    root = write_folder(tmp_path, {"a": _binary(1, high=1), "b": _binary(2, high=255)})
    with pytest.raises(DatasetError, match="cannot be told apart"):
        zoo.datasets.folder(root)
    ds = zoo.datasets.folder(root, mask_encoding="binary")
    assert ds[0][1].max() == 1 and ds[1][1].max() == 1


def test_multiclass_values_without_classes_ask_for_the_classes(tmp_path):
    root = write_folder(tmp_path, {"a": RNG.integers(0, 5, (H, W)).astype(np.uint8)})
    with pytest.raises(DatasetError, match=r"not binary; give the class names .*classes\.txt"):
        zoo.datasets.folder(root)
    with pytest.raises(DatasetError, match="index masks need the class names"):
        zoo.datasets.folder(root, mask_encoding="index")


def test_antialiased_binary_masks_name_the_file_and_values(tmp_path):
    values = _binary(1)
    values[3, 3] = 128
    root = write_folder(tmp_path, {"a": values})
    ds = zoo.datasets.folder(root, classes="background,person")  # two classes, other values: index rule
    with pytest.raises(DatasetError, match=r"masks/a\.png: label values outside the label space .*128"):
        ds[0]


def test_index_mask_out_of_range_names_the_file(tmp_path):
    root = write_folder(tmp_path, {"a": np.full((H, W), 7, np.uint8)})
    ds = zoo.datasets.folder(root, classes="a,b,c")
    with pytest.raises(DatasetError, match=r"a\.png: label values outside .*0\.\.2 and 255 = ignore.*: 7"):
        ds[0]


# ------------------------------------------------------------------------------------------------ layout


def test_unpaired_files_are_listed_by_name(tmp_path):
    root = write_folder(tmp_path, {"a": _binary(1), "b": _binary(2)})
    (root / "masks" / "b.png").rename(root / "masks" / "c.png")
    with pytest.raises(DatasetError) as caught:
        zoo.datasets.folder(root)
    message = str(caught.value)
    assert "1 image(s) without a mask (b.jpg)" in message and "1 mask(s) without an image (c.png)" in message
    assert "paired by file stem" in message


def test_jpeg_masks_are_named_as_lossy(tmp_path):
    _image(tmp_path / "images" / "a.jpg")
    _image(tmp_path / "masks" / "a.jpg")
    with pytest.raises(DatasetError, match="masks must be lossless"):
        zoo.datasets.folder(tmp_path)


def test_two_files_with_one_stem(tmp_path):
    root = write_folder(tmp_path, {"a": _binary(1)})
    _image(root / "images" / "a.png")
    with pytest.raises(DatasetError, match="share the stem 'a'"):
        zoo.datasets.folder(root)


def test_size_mismatch_names_the_mask(tmp_path):
    root = write_folder(tmp_path, {"a": _binary(1)})
    _mask(root / "masks" / "a.png", np.zeros((H + 1, W), np.uint8))
    with pytest.raises(DatasetError, match=r"a\.png: mask is 14x11 \(WxH\) but its image"):
        zoo.datasets.folder(root)[0]


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(DatasetError, match="no images found"):
        zoo.datasets.folder(tmp_path)
    with pytest.raises(DatasetError, match="not found"):
        zoo.datasets.folder(tmp_path / "nope")
    with pytest.raises(DatasetError, match="labels: masks folder missing"):
        zoo.datasets.folder(tmp_path, masks="labels")


def test_split_lists(tmp_path):
    root = write_folder(tmp_path, {"a": _binary(1), "b": _binary(2), "c": _binary(3)})
    (root / "splits").mkdir()
    (root / "splits" / "val.txt").write_text("b\nc.jpg\n")  # an id, or a file name
    (root / "train.txt").write_text("a\n")
    assert zoo.datasets.folder(root).ids == ["b", "c"]  # val by default where splits exist
    assert zoo.datasets.folder(root, "train").ids == ["a"]
    assert zoo.datasets.folder(root, "all").ids == ["a", "b", "c"]
    with pytest.raises(DatasetError, match=r"no split 'test' here \(splits: val, train, all\)"):
        zoo.datasets.folder(root, "test")


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        ("", "split list is empty"),
        ("a\na\n", "listed twice"),
        ("../../etc/passwd\n", "outside the dataset folder"),
        ("a\nzz\n", r"1 id\(s\) without an image .*\(zz\)"),
    ],
)
def test_bad_split_lists(tmp_path, lines, match):
    root = write_folder(tmp_path, {"a": _binary(1)})
    (root / "val.txt").write_text(lines)
    with pytest.raises(DatasetError, match=match):
        zoo.datasets.folder(root, "val")


def test_split_sub_folders(tmp_path):
    write_folder(tmp_path / "train", {"a": _binary(1), "b": _binary(2)})
    write_folder(tmp_path / "val", {"c": _binary(3)})
    assert zoo.datasets.folder(tmp_path).ids == ["c"] and zoo.datasets.folder(tmp_path).split == "val"
    assert zoo.datasets.folder(tmp_path, "train").ids == ["a", "b"]
    (tmp_path / "val.txt").write_text("c\n")
    with pytest.raises(DatasetError, match="also defined by"):
        zoo.datasets.folder(tmp_path)


def test_a_folder_without_splits_is_split_all(tmp_path):
    root = write_folder(tmp_path, {"a": _binary(1)})
    ds = get_dataset(f"folder:{root}", split="val")  # the harness's default split
    assert ds.split == "all" and len(ds) == 1
    with pytest.raises(DatasetError, match="no split 'train'"):
        get_dataset(f"folder:{root}", split="train")


def test_bad_classes_and_palettes(tmp_path):
    root = write_folder(tmp_path, {"a": _binary(1)})
    with pytest.raises(DatasetError, match="listed twice: a"):
        zoo.datasets.folder(root, classes="a,a")
    with pytest.raises(DatasetError, match="1 class"):
        zoo.datasets.folder(root, classes=["only"])
    (root / "palette.txt").write_text("0 0 0\nred\n")
    with pytest.raises(DatasetError, match=r"palette.txt: line 2: 'red'; expected 'R G B'"):
        zoo.datasets.folder(root)
    (root / "palette.txt").write_text("0 0 0\n0 0 0\n")
    with pytest.raises(DatasetError, match="share a colour"):
        zoo.datasets.folder(root)
    with pytest.raises(DatasetError, match="mask_encoding 'png'"):
        zoo.datasets.folder(root, mask_encoding="png")


def test_check_reports_every_bad_sample_and_layout_errors(tmp_path):
    root = write_folder(tmp_path, {"a": _binary(1), "b": _binary(2)})
    (root / "masks" / "b.png").write_bytes(b"not a png")
    report = check(f"folder:{root}")
    assert report.dataset == f"folder:{root.name}" and report.num_samples == 2 and report.num_ok == 1
    assert report.problems[0][0] == "b" and "b.png" in report.problems[0][1]
    assert report.class_pixels == [int((_binary(1) == 0).sum()), int((_binary(1) > 0).sum())]
    missing = check(f"folder:{tmp_path / 'nope'}")
    assert missing.problems[0][0] == "<layout>" and "not found" in missing.problems[0][1]


# ------------------------------------------------------------------------------------------ the digest


def test_digest_follows_the_files_and_the_label_space(tmp_path):
    root = write_folder(tmp_path / "people", {"a": _binary(1), "b": _binary(2)})
    first = zoo.datasets.folder(root).spec
    assert first.result_name == f"folder:people@{first.digest}" and len(first.digest) == 12
    assert zoo.datasets.folder(root).spec.digest == first.digest  # deterministic
    renamed = zoo.datasets.folder(root, classes="background,person").spec.digest
    assert renamed != first.digest
    _image(root / "images" / "c.jpg")
    _mask(root / "masks" / "c.png", _binary(3))
    assert zoo.datasets.folder(root).spec.digest != first.digest


# ------------------------------------------------------------------------------------------ binary models

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


@pytest.fixture(scope="module")
def binary_unet():
    """A seeded, untrained ``unet-resnet18`` with one output channel (``classes=1``, smp's binary setup)."""
    import torch

    import zoo

    torch.manual_seed(0)
    return zoo.create("unet-resnet18", num_classes=1)


def _numpy_probabilities(model, root: Path, sample_ids: list[str]) -> dict[str, np.ndarray]:
    """The model's sigmoid on each image, computed without zoo: files read with Pillow, normalised by hand.

    The images are 64x64 (a multiple of the encoder's stride 32), so no padding or resizing is involved."""
    import torch

    out = {}
    for sample_id in sample_ids:
        rgb = np.asarray(Image.open(root / "images" / f"{sample_id}.png").convert("RGB"), np.float32)
        x = ((rgb / 255.0 - MEAN) / STD).transpose(2, 0, 1)[None]
        with torch.no_grad():
            logit = model(torch.from_numpy(np.ascontiguousarray(x))).numpy()[0, 0].astype(np.float64)
        out[sample_id] = 1.0 / (1.0 + np.exp(-logit))
    return out


def _numpy_scores(probabilities, root: Path, threshold: float) -> tuple[float, float, float]:
    """Pixel accuracy, foreground Dice and IoU (percent) over the whole split, from the mask files."""
    correct = total = tp = fp = fn = 0
    for sample_id, p in probabilities.items():
        truth = np.asarray(Image.open(root / "masks" / f"{sample_id}.png")) > 0
        predicted = p > threshold
        correct += int((predicted == truth).sum())
        total += truth.size
        tp += int((predicted & truth).sum())
        fp += int((predicted & ~truth).sum())
        fn += int((~predicted & truth).sum())
    return 100 * correct / total, 100 * 2 * tp / (2 * tp + fp + fn), 100 * tp / (tp + fp + fn)


@pytest.fixture(scope="module")
def binary_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("people")
    rng = np.random.default_rng(7)
    for index in range(3):
        _image(root / "images" / f"s{index}.png", 64, 64, seed=index)
        mask = np.zeros((64, 64), np.uint8)
        y, x = rng.integers(0, 40, 2)
        mask[y : y + 24, x : x + 24] = 255  # a square "person", stored 0/255
        _mask(root / "masks" / f"s{index}.png", mask)
    return root


@pytest.mark.parametrize("threshold", [0.5, 0.45])
def test_a_binary_unet_scores_as_numpy_computes_on_the_same_files(binary_folder, binary_unet, threshold):
    from zoo.bench.evaluate import UNTRAINED_PROTOCOL, evaluate, headline_metrics
    from zoo.metrics import summarize

    dataset = get_dataset(f"folder:{binary_folder}", classes="background,person")
    assert dataset.mask_encoding == "binary"
    model = binary_unet
    result = evaluate(model, dataset, UNTRAINED_PROTOCOL, dataset.num_classes, threshold=threshold)
    summary = summarize(result.matrix, dataset.classes)
    probabilities = _numpy_probabilities(model, binary_folder, dataset.ids)
    accuracy, dice, iou = _numpy_scores(probabilities, binary_folder, threshold)
    assert 0 < dice < 100 and 0 < accuracy < 100  # the test means something: neither all nor nothing
    assert summary["aAcc"] == pytest.approx(accuracy, abs=1e-9)
    assert summary["per_class"]["person"]["Dice"] == pytest.approx(dice, abs=1e-9)
    assert summary["per_class"]["person"]["IoU"] == pytest.approx(iou, abs=1e-9)
    assert result.threshold == threshold and f"sigmoid > {threshold:g}" in "; ".join(result.notes)
    headline = headline_metrics(summary, dataset.classes)
    assert list(headline)[:3] == ["Dice(person)", "IoU(person)", "aAcc"]


def test_binary_flip_averages_sigmoid_probabilities(binary_folder, binary_unet):
    import torch

    from zoo.bench.evaluate import UNTRAINED_PROTOCOL, evaluate
    from zoo.inference import predict_scores

    dataset = zoo.datasets.folder(binary_folder)
    model = binary_unet
    image = dataset[0][0].copy()
    plain = predict_scores(model, [image], UNTRAINED_PROTOCOL)[0]
    flipped = predict_scores(model, [np.ascontiguousarray(image[:, ::-1])], UNTRAINED_PROTOCOL)[0].flip(-1)
    averaged = predict_scores(model, [image], UNTRAINED_PROTOCOL, tta="flip")[0]
    assert plain.shape == (2, 64, 64)
    torch.testing.assert_close(plain.sum(0), torch.ones(64, 64))  # [1 - p, p]
    torch.testing.assert_close(averaged[1], (plain[1] + flipped[1]) / 2)
    result = evaluate(model, dataset, UNTRAINED_PROTOCOL, 2, tta="flip")
    assert result.threshold == 0.5 and int(result.matrix.sum()) == 3 * 64 * 64


def test_a_binary_model_on_a_multiclass_dataset_is_refused(tmp_path):
    import torch

    from zoo.bench.evaluate import UNTRAINED_PROTOCOL, evaluate
    from zoo.inference import InferenceError

    data = [(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.int64), "a")]
    model = torch.nn.Conv2d(3, 1, 1).eval()
    with pytest.raises(InferenceError, match="one output channel .* the dataset has 4 classes"):
        evaluate(model, data, UNTRAINED_PROTOCOL, 4)
    with pytest.raises(InferenceError, match="threshold must be between 0 and 1"):
        evaluate(model, data, UNTRAINED_PROTOCOL, 2, threshold=1.0)
    multiclass = evaluate(torch.nn.Conv2d(3, 2, 1).eval(), data, UNTRAINED_PROTOCOL, 2)
    assert multiclass.threshold is None and not multiclass.notes


# ------------------------------------------------------------------------------------------- leaderboards


def test_folder_rows_are_stored_but_never_on_the_leaderboards(tmp_path):
    """A folder run is a row like any other in the store, under ``folder:<name>@<digest>``; the leaderboard
    renders the official benchmarks only, so it gets no page, no index line and no listing."""
    from zoo.leaderboard import render
    from zoo.registry import Registry
    from zoo.results import ACCURACY, ResultsStore

    def row(dataset: str, model: str) -> dict:
        values = {c: "" for c in ACCURACY.columns}
        for column in (*ACCURACY.float_columns, *ACCURACY.int_columns):
            values[column] = None
        values.update(model=model, weights="untrained", dataset=dataset, split="all", num_images=3, mIoU=50.0,
                      aAcc=90.0, protocol="ss whole", protocol_json="{}", tta="none", dtype="fp32",
                      environment_id="env", date="2025-01-02T10:00:00+00:00", source="measured")  # fmt: skip
        return values

    store = ResultsStore(tmp_path / "data" / "results.csv")
    store.append(row("folder:people@3fa9c2d1e0b4", "unet-private"))
    store.append(row("voc", "unet-public"))
    assert set(store.read()["dataset"]) == {"folder:people@3fa9c2d1e0b4", "voc"}
    written = render(tmp_path / "data", tmp_path / "out", registry=Registry())
    assert not [p for p in written if "folder" in p.name or "people" in p.name]
    text = "\n".join(p.read_text() for p in written if p.suffix == ".md")
    assert "unet-public" in text and "unet-private" not in text and "people" not in text


def test_zoo_data_check_reads_a_folder(tmp_path, capsys):
    from zoo.cli import main

    root = write_folder(tmp_path / "people", {"a": _binary(1), "b": _binary(2)})
    assert main(["data", "check", f"folder:{root}"]) == 0
    out = capsys.readouterr().out
    assert "folder:people all" in out and "2 samples, 2 ok, 0 problem(s)" in out
    (root / "masks" / "b.png").rename(root / "masks" / "c.png")
    assert main(["data", "check", f"folder:{root}"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "b.jpg" in out and "c.png" in out


def test_zoo_datasets_folder_is_reachable_after_a_plain_import_zoo(tmp_path):
    # the issue's own example: `import zoo` then `zoo.datasets.folder(...)`, in a fresh interpreter
    import subprocess
    import sys

    write_folder(tmp_path / "people", {"a": _binary(0)})
    code = "import sys, zoo; ds = zoo.datasets.folder(sys.argv[1]); assert ds.mask_encoding == 'binary', ds"
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "people")], check=True, capture_output=True)
