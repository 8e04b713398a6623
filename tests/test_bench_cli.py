"""zoo-bench end to end: a plugin model whose predictions are known, evaluated through the CLI on generated
VOC, Cityscapes and ADE20K layouts, with its weights fetched from a Hub stand-in on loopback."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import torch
from layouts import write_ade20k, write_cityscapes, write_voc
from loopback import Route, serve
from safetensors.torch import save as safetensors_save

import zoo
from zoo.classes import LABEL_SPACES
from zoo.cli import bench_main as main
from zoo.datasets import get_dataset
from zoo.metrics import summarize
from zoo.weights import EvalProtocol, WeightRecord

REVISION = "0" * 40
ORACLE_FILE = safetensors_save({"scale": torch.ones(())})
# Raw pixels in, no resize: the oracle sees every pixel where the ground truth has it.
RAW = EvalProtocol(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), value_scale=255.0, resize="none")


def position_class(height: int, width: int, num_classes: int) -> torch.Tensor:
    """The oracle's prediction: a fixed function of the pixel position, independent of the image."""
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return (ys // 2 * 7 + xs // 3) % num_classes


class PositionOracle(torch.nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.register_buffer("scale", torch.ones(()))  # something for the checkpoint to carry

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        classes = position_class(x.shape[-2], x.shape[-1], self.num_classes).to(x.device)
        logits = torch.nn.functional.one_hot(classes, self.num_classes).permute(2, 0, 1).float()
        return (logits * self.scale).expand(x.shape[0], -1, -1, -1)


def oracle_position(num_classes: int = 21, **kwargs):
    return PositionOracle(num_classes)


@pytest.fixture(scope="module")
def hub():
    """A Hub stand-in serving the oracle's checkpoint; the oracle is a plugin with weights for each dataset,
    registered for this module only."""
    for server in serve():
        data = ORACLE_FILE
        server.routes[f"/test/oracle/resolve/{REVISION}/model.safetensors"] = Route(data)
        zoo.register_model("oracle-position", family="test-plugin")(oracle_position)
        for dataset, classes in LABEL_SPACES.items():
            zoo.register_weights(
                "oracle-position",
                WeightRecord(
                    tag=dataset, dataset=dataset, trained_on="nothing: a test oracle", class_names=classes,
                    protocol=RAW, license="MIT", hf_repo="test/oracle", hf_revision=REVISION,
                    hf_filename="model.safetensors", sha256=hashlib.sha256(data).hexdigest(), note="test oracle",
                ),
            )  # fmt: skip
        try:
            yield server
        finally:
            zoo.REGISTRY.unregister("test-plugin:oracle-position")


@pytest.fixture(autouse=True)
def _env(isolated_cache, monkeypatch, hub):
    monkeypatch.setenv("HF_ENDPOINT", hub.url)


def expected_summary(dataset_name: str, root) -> dict:
    """The metrics the oracle must get, from the loader's labels and a plain NumPy confusion matrix."""
    dataset = get_dataset(dataset_name, root, "val")
    classes = len(LABEL_SPACES[dataset_name])
    matrix = np.zeros((classes, classes), np.int64)
    for _, label, _ in dataset:
        prediction = position_class(*label.shape, classes).numpy()
        valid = label != 255
        np.add.at(matrix, (label[valid].astype(np.int64), prediction[valid]), 1)
    return summarize(matrix)


WRITERS = {
    "voc": write_voc,
    "cityscapes": lambda root: write_cityscapes(root / "cityscapes"),
    "ade20k": write_ade20k,
}


@pytest.mark.parametrize("dataset", ["voc", "cityscapes", "ade20k"])
def test_oracle_evaluates_to_exactly_the_expected_numbers(dataset, tmp_path, capsys):
    WRITERS[dataset](tmp_path / "data")
    results = tmp_path / "results.csv"
    code = main(["--dataset", dataset, "--data-root", str(tmp_path / "data"), "--models", "oracle-*",
                 "--results", str(results), "--device", "cpu"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    rows = pd.read_csv(results, dtype={"weights_revision": str})
    assert len(rows) == 1
    row = rows.iloc[0]
    expected = expected_summary(dataset, tmp_path / "data")
    for metric in ("mIoU", "aAcc", "mAcc", "fwIoU", "mDice"):
        assert row[metric] == pytest.approx(expected[metric], abs=1e-9), metric
    assert (row["model"], row["weights"], row["dataset"], row["split"]) == (
        "oracle-position",
        dataset,
        dataset,
        "val",
    )
    assert row["source"] == "measured" and row["protocol"] == "ss whole orig"
    # which file was loaded, and which Hub commit it was resolved to
    assert row["weights_sha256"] == hashlib.sha256(ORACLE_FILE).hexdigest()
    assert row["weights_revision"] == REVISION
    assert "oracle-position" in capsys.readouterr().out


def test_resume_skips_done_rows_and_limit_is_part_of_the_split(tmp_path, capsys):
    write_ade20k(tmp_path / "data")
    results = tmp_path / "ade.csv"
    args = ["--dataset", "ade20k", "--data-root", str(tmp_path / "data"), "--models", "oracle-position",
            "--results", str(results), "--device", "cpu", "--limit", "2"]  # fmt: skip
    assert main(args) == 0
    assert main([*args, "--resume"]) == 0
    assert "already in" in capsys.readouterr().err
    rows = pd.read_csv(results)
    assert len(rows) == 1 and rows.iloc[0]["split"] == "val[:2]" and rows.iloc[0]["num_images"] == 2
    from zoo.bench.environment import default_threads

    assert rows.iloc[0]["threads"] == default_threads()  # no --threads: torch's default, set and recorded


def test_interrupted_sweep_resumed_ends_with_the_rows_of_an_uninterrupted_one(tmp_path, monkeypatch, capsys):
    write_voc(tmp_path / "data")
    common = ["--dataset", "voc", "--data-root", str(tmp_path / "data"), "--device", "cpu", "--allow-untrained",
              "--models", "oracle-position", "classic:unet-original"]  # fmt: skip
    assert main([*common, "--results", str(tmp_path / "straight.csv")]) == 0

    import zoo.bench.evaluate as evaluate_module

    real_evaluate = evaluate_module.evaluate
    calls = {"n": 0}

    def interrupted_second_model(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(evaluate_module, "evaluate", interrupted_second_model)
    assert main([*common, "--results", str(tmp_path / "resumed.csv")]) == 130
    assert len(pd.read_csv(tmp_path / "resumed.csv")) == 1
    monkeypatch.setattr(evaluate_module, "evaluate", real_evaluate)
    assert main([*common, "--results", str(tmp_path / "resumed.csv"), "--resume"]) == 0

    columns = ["model", "weights", "dataset", "split", "num_images", "mIoU", "aAcc", "mAcc", "fwIoU", "mDice"]
    straight = pd.read_csv(tmp_path / "straight.csv")[columns].sort_values("model").reset_index(drop=True)
    resumed = pd.read_csv(tmp_path / "resumed.csv")[columns].sort_values("model").reset_index(drop=True)
    pd.testing.assert_frame_equal(straight, resumed)


def test_failures_are_reported_and_the_sweep_goes_on(tmp_path, capsys):
    write_voc(tmp_path / "data")
    code = main(["--dataset", "voc", "--data-root", str(tmp_path / "data"), "--device", "cpu",
                 "--models", "no_such-model", "unet-resnet18", "oracle-position",
                 "--results", str(tmp_path / "r.csv")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert "unknown model 'no_such-model'" in err
    assert "unet-resnet18 has no weights for voc" in err and "--allow-untrained" in err
    assert pd.read_csv(tmp_path / "r.csv")["model"].tolist() == ["oracle-position"]


def test_a_pattern_of_models_without_weights_is_one_line_and_the_others_still_run(tmp_path, capsys):
    write_voc(tmp_path / "data")
    lacking = zoo.list_models("unet-*")
    code = main(["--dataset", "voc", "--data-root", str(tmp_path / "data"), "--device", "cpu",
                 "--models", "unet-*", "no_such-model", "oracle-position",
                 "--results", str(tmp_path / "r.csv")])  # fmt: skip
    err = capsys.readouterr().err.splitlines()
    failed = [line for line in err if line.startswith("failed ")]
    skipped = [line for line in err if line.startswith("skipped ")]
    assert code == 1 and len(lacking) > 3  # the unknown model fails the sweep
    assert skipped == [
        f"skipped {len(lacking)} of the {len(lacking) + 2} models: matched by a pattern, without weights for voc "
        f"({', '.join(lacking[:3])} and {len(lacking) - 3} more); --allow-untrained evaluates them anyway"
    ]
    assert len(failed) == 1 and "unknown model 'no_such-model'" in failed[0]  # other failures keep their line
    assert pd.read_csv(tmp_path / "r.csv")["model"].tolist() == ["oracle-position"]


def test_entries_a_pattern_matched_without_weights_are_skipped_not_failed(tmp_path, capsys):
    """``--models '*'`` names hundreds of entries without weights for the dataset: not applicable, so the
    sweep of the others succeeds (a job array can check each job's exit code)."""
    write_voc(tmp_path / "data")
    args = ["--dataset", "voc", "--data-root", str(tmp_path / "data"), "--device", "cpu"]
    code = main([*args, "--models", "unet-resnet1*", "oracle-*", "--results", str(tmp_path / "r.csv")])
    err = capsys.readouterr().err
    assert code == 0 and "skipped " in err and "failed" not in err
    assert "oracle-position" in pd.read_csv(tmp_path / "r.csv")["model"].tolist()


def test_a_pattern_with_nothing_to_run_still_fails_and_named_models_are_never_skipped(tmp_path, capsys):
    write_voc(tmp_path / "data")
    args = ["--dataset", "voc", "--data-root", str(tmp_path / "data"), "--device", "cpu"]
    matched = len(zoo.list_models("unet-resnet1*"))
    assert main([*args, "--models", "unet-resnet1*", "--results", str(tmp_path / "a.csv")]) == 1
    assert f"failed {matched} of the {matched} models named: no weights for voc" in capsys.readouterr().err
    code = main([*args, "--models", "unet-resnet18", "oracle-position", "--results", str(tmp_path / "b.csv")])
    assert (
        code == 1 and "failed unet-resnet18: unet-resnet18 has no weights for voc" in capsys.readouterr().err
    )


def test_a_missing_dataset_root_is_a_clear_error(tmp_path, capsys):
    code = main(["--dataset", "voc", "--data-root", str(tmp_path / "nowhere"), "--models", "oracle-position",
                 "--results", str(tmp_path / "r.csv")])  # fmt: skip
    assert code == 2 and "nowhere" in capsys.readouterr().err
    assert not (tmp_path / "r.csv").exists()


def test_save_predictions_writes_the_official_format(tmp_path):
    write_ade20k(tmp_path / "data")
    out = tmp_path / "predictions"
    code = main(["--dataset", "ade20k", "--data-root", str(tmp_path / "data"), "--models", "oracle-position",
                 "--results", str(tmp_path / "r.csv"), "--device", "cpu", "--save-predictions", str(out)])  # fmt: skip
    assert code == 0
    written = sorted((out / "oracle-position.ade20k").glob("*.png"))
    assert [p.stem for p in written] == ["ADE_val_00000001", "ADE_val_00000002", "ADE_val_00000003"]
    from PIL import Image

    annotation = np.asarray(Image.open(written[0]))
    assert np.array_equal(annotation, position_class(*annotation.shape, 150).numpy() + 1)  # ADE's 1..150


def test_a_data_root_with_markup_is_exit_2_and_shown_verbatim(tmp_path, capsys):
    root = tmp_path / "a[/x]" / "[bold]b"
    code = main(["--dataset", "voc", "--data-root", str(root), "--models", "oracle-position", "--device", "cpu",
                 "--results", str(tmp_path / "r.csv")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and str(root) in err and "Traceback" not in err
    assert err.startswith("zoo-bench eval: error: ") and err.count("\n") == 1


@pytest.mark.parametrize("device", ["cuda", "cuda:1", "tpu", "mps"])
def test_a_missing_device_is_refused_before_any_model_is_built(device, tmp_path, capsys, monkeypatch):
    import zoo.factory

    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    write_voc(tmp_path / "data")

    def no_model(*args, **kwargs):
        raise AssertionError("a model was built")

    monkeypatch.setattr(zoo.factory, "create", no_model)
    code = main(["--dataset", "voc", "--data-root", str(tmp_path / "data"), "--models", "oracle-position",
                 "--device", device, "--results", str(tmp_path / "r.csv")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"zoo-bench eval: error: device {device!r}")
    assert err.count("\n") == 1 and "Traceback" not in err and not (tmp_path / "r.csv").exists()


# --- your own weights: --checkpoint ---------------------------------------------------------------------------


@pytest.fixture
def built(monkeypatch) -> list[str]:
    """The models the harness builds (``zoo.factory.create`` calls)."""
    import zoo.factory

    calls: list[str] = []
    real = zoo.factory.create

    def recording(name, *args, **kwargs):
        calls.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(zoo.factory, "create", recording)
    return calls


def a_checkpoint(path, scale: float = 1.0):
    torch.save({"state_dict": {"module.scale": torch.tensor(scale)}}, path)  # as a DDP training run saves it
    return path


def test_a_checkpoint_is_evaluated_with_a_borrowed_or_explicit_protocol(tmp_path, capsys, built):
    write_voc(tmp_path / "data")
    checkpoint = a_checkpoint(tmp_path / "best.pth")
    common = ["--dataset", "voc", "--data-root", str(tmp_path / "data"), "--device", "cpu", "--threads", "1",
              "--models", "oracle-position", "--checkpoint", str(checkpoint)]  # fmt: skip
    borrowed = tmp_path / "borrowed.csv"
    assert main([*common, "--protocol-from", "oracle-position.voc", "--results", str(borrowed)]) == 0
    explicit = tmp_path / "explicit.csv"
    flags = ["--mean", "0,0,0", "--std", "1,1,1", "--value-scale", "255", "--resize", "none"]
    assert main([*common, *flags, "--results", str(explicit)]) == 0, capsys.readouterr().err
    assert built == ["test-plugin:oracle-position"] * 2
    expected = expected_summary("voc", tmp_path / "data")
    rows = [pd.read_csv(path, keep_default_na=False).iloc[0] for path in (borrowed, explicit)]
    for row in rows:
        assert row["weights"] == "checkpoint" and row["weights_revision"] == ""
        assert row["weights_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
        assert str(checkpoint) in row["notes"] and row["threads"] == 1
        assert row["mIoU"] == pytest.approx(expected["mIoU"], abs=1e-9)
    assert rows[0]["protocol_json"] == rows[1]["protocol_json"]  # the flags spell out the borrowed protocol


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ([], "--checkpoint needs its protocol: --protocol-from NAME.TAG, or --mean, --std, --resize"),
        (["--mean", "0.5,0.5,0.5"], "or --std, --resize"),
        (["--protocol-from", "oracle-position"], "names no weights: give NAME.TAG"),
        (["--protocol-from", "oracle-position.voc", "--slide", "8x8,16x16"], "stride (16, 16) is larger"),
        (["--protocol-from", "oracle-position.voc", "--weights", "voc"], "replaces --weights"),
        (["--protocol-from", "oracle-position.voc", "--models", "oracle-position", "unet-resnet18"],
         "--checkpoint evaluates one model, --models names 2"),
        (["--protocol-from", "nothing-here.voc"], "unknown model 'nothing-here"),
    ],
    ids=["no-protocol", "half-a-protocol", "no-tag", "bad-slide", "with-weights", "two-models", "unknown"],
)  # fmt: skip
def test_an_unusable_checkpoint_request_is_exit_2_before_any_model(tmp_path, capsys, built, extra, fragment):
    write_voc(tmp_path / "data")
    argv = ["--dataset", "voc", "--data-root", str(tmp_path / "data"), "--device", "cpu", "--models",
            "oracle-position", "--checkpoint", str(a_checkpoint(tmp_path / "best.pth")),
            "--results", str(tmp_path / "r.csv"), *extra]  # fmt: skip
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and fragment in " ".join(err.split()) and "Traceback" not in err
    assert err.count("\n") == 1 and built == [] and not (tmp_path / "r.csv").exists()


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--checkpoint", "{tmp}/missing.pth", "--protocol-from", "oracle-position.voc"], "missing.pth"),
        (["--mean", "0.5,0.5,0.5"], "--mean set the protocol of a --checkpoint: give --checkpoint FILE too"),
        (["--protocol-from", "oracle-position.voc"], "--protocol-from set the protocol of a --checkpoint"),
    ],
    ids=["missing-file", "mean-without-checkpoint", "protocol-from-without-checkpoint"],
)
def test_checkpoint_flags_without_a_checkpoint_are_refused(tmp_path, capsys, built, argv, fragment):
    write_voc(tmp_path / "data")
    code = main(["--dataset", "voc", "--data-root", str(tmp_path / "data"), "--device", "cpu",
                 "--models", "oracle-position", "--results", str(tmp_path / "r.csv"),
                 *(a.format(tmp=tmp_path) for a in argv)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and "Traceback" not in err and built == []


def test_a_checkpoint_that_does_not_fit_fails_that_model_naming_its_keys(tmp_path, capsys):
    write_voc(tmp_path / "data")
    bad = tmp_path / "other.pth"
    torch.save({"weight": torch.ones(2)}, bad)
    code = main(["--dataset", "voc", "--data-root", str(tmp_path / "data"), "--device", "cpu",
                 "--models", "oracle-position", "--checkpoint", str(bad), "--protocol-from", "oracle-position.voc",
                 "--results", str(tmp_path / "r.csv")])  # fmt: skip
    err = " ".join(capsys.readouterr().err.split())
    assert code == 1 and "failed oracle-position" in err and "scale" in err and "Traceback" not in err


# --- your own data and protocol variants -------------------------------------------------------------------


def test_a_folder_of_your_own_is_evaluated_and_stored_under_its_digest(tmp_path, capsys, built):
    from test_folder import _binary, write_folder

    root = write_folder(tmp_path / "people", {"a": _binary(0), "b": _binary(1)})
    results = tmp_path / "r.csv"
    argv = ["--dataset", f"folder:{root}", "--device", "cpu", "--threads", "1", "--models", "unet-resnet18",
            "--allow-untrained", "--results", str(results)]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    row = pd.read_csv(results).iloc[0]
    spec = zoo.datasets.folder(root).spec
    assert row["dataset"] == spec.result_name and row["dataset"].startswith("folder:people@")
    assert row["split"] == "all" and row["num_images"] == len(zoo.datasets.folder(root))
    # the harness never writes a folder's predictions in a benchmark's submission format
    code = main([*argv, "--results", str(tmp_path / "p.csv"), "--save-predictions", str(tmp_path / "preds")])
    assert code == 2 and "--save-predictions" in capsys.readouterr().err


def test_an_unknown_protocol_variant_is_exit_2_before_any_model(tmp_path, capsys, built):
    write_voc(tmp_path / "data")
    argv = ["--dataset", "voc", "--data-root", str(tmp_path / "data"), "--device", "cpu", "--models",
            "oracle-position", "--protocol", "no-such-pipeline", "--results", str(tmp_path / "r.csv")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no-such-pipeline" in err and err.count("\n") == 1 and "Traceback" not in err
    assert built == [] and not (tmp_path / "r.csv").exists()


def test_a_binary_checkpoint_of_one_output_channel_is_scored_on_a_two_class_folder(tmp_path, capsys):
    # the smp tutorial's workflow: a person/background folder of 0/255 masks and a classes=1 model with a sigmoid
    from test_folder import _binary, write_folder

    root = write_folder(tmp_path / "people", {"a": _binary(0), "b": _binary(1)})
    torch.manual_seed(0)
    torch.save(zoo.create("unet-resnet18", num_classes=1).state_dict(), tmp_path / "best.pth")
    argv = ["--dataset", f"folder:{root}", "--device", "cpu", "--models", "unet-resnet18", "--checkpoint",
            str(tmp_path / "best.pth"), "--protocol-from", "deeplabv3-resnet101.coco_voc",
            "--resize", "none", "--results", str(tmp_path / "r.csv")]  # fmt: skip
    assert main(argv) == 1  # two output channels expected: the checkpoint's classifier does not fit
    assert "num_classes" in capsys.readouterr().err
    assert main([*argv, "--checkpoint-classes", "1"]) == 0, capsys.readouterr().err
    row = pd.read_csv(tmp_path / "r.csv").iloc[0]
    assert row["weights"] == "checkpoint" and "sigmoid" in row["notes"]
    assert main(["--dataset", "voc", "--models", "x", "--checkpoint-classes", "1"]) == 2
    assert "--checkpoint-classes" in capsys.readouterr().err


def test_a_protocol_variant_applies_to_a_checkpoint_evaluated_with_a_published_protocol(tmp_path, capsys):
    """``--checkpoint --protocol-from segformer-mit_b0.ade20k --protocol mmseg`` evaluates with mmseg 1.x's
    keep-ratio resize, and the row says so (it once ran NVlabs' aligned resize and said that)."""
    write_ade20k(tmp_path / "data")
    torch.manual_seed(0)
    torch.save(zoo.create("segformer-mit_b0", num_classes=150).state_dict(), tmp_path / "best.pth")
    argv = ["--dataset", "ade20k", "--data-root", str(tmp_path / "data"), "--device", "cpu", "--models",
            "segformer-mit_b0", "--checkpoint", str(tmp_path / "best.pth"), "--protocol-from",
            "segformer-mit_b0.ade20k", "--protocol", "mmseg", "--results", str(tmp_path / "r.csv")]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    row = pd.read_csv(tmp_path / "r.csv").iloc[0]
    assert row["protocol"] == "ss whole 512 keep-ratio"
    assert json.loads(row["protocol_json"])["reference"] == "mmseg-1.x"


def test_a_protocol_variant_an_untrained_model_has_not_is_refused_before_any_model(tmp_path, capsys, built):
    """``--allow-untrained --protocol mmseg``: an untrained model is evaluated with zoo's own protocol, which
    has no mmseg variant; the run is refused instead of silently ignoring --protocol."""
    write_voc(tmp_path / "data")
    argv = ["--dataset", "voc", "--data-root", str(tmp_path / "data"), "--device", "cpu", "--models",
            "unet-resnet18", "--allow-untrained", "--protocol", "mmseg", "--results", str(tmp_path / "r.csv")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "'mmseg-1.x' is not defined" in err and err.count("\n") == 1
    assert built == [] and not (tmp_path / "r.csv").exists()
