"""zoo.create with weights, end to end: a loopback server stands in for download.pytorch.org and the Hub;
``pretrained=`` / ``weights=`` / ``checkpoint=``, and the keywords create refuses."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import warnings
from pathlib import Path

import pytest
import torch
from loopback import Route, commit_of
from safetensors.torch import save as safetensors_save
from safetensors.torch import save_file

import zoo
from zoo import ModelEntry
from zoo.errors import (
    ChecksumError,
    ClassifierReinitializedWarning,
    OfflineError,
    UnknownWeightsError,
    UnverifiedWeightsWarning,
    WeightsMismatchError,
    ZooError,
)
from zoo.factory import InvalidArgumentError, UnexpectedArgumentError
from zoo.weights import IMAGENET_MEAN, IMAGENET_STD, EvalProtocol, WeightRecord


@pytest.fixture(autouse=True)
def _cache(isolated_cache):
    return isolated_cache


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and ".locks" not in p.parts)


@pytest.fixture(scope="module")
def torchvision_checkpoint() -> tuple[torch.nn.Module, bytes]:
    """A checkpoint in torchvision's own format, written by torchvision's own model (not by zoo)."""
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    torch.manual_seed(0)
    reference = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21).eval()
    buffer = io.BytesIO()
    torch.save(reference.state_dict(), buffer)
    return reference, buffer.getvalue()


def serve_lraspp(server, data: bytes, *, sha256: str | None = None, mode: str = "ok"):
    server.routes["/lraspp.pth"] = Route(data, mode)
    published = zoo.info("lraspp-mobilenet_v3_large").get_weights("coco_voc")
    digest = hashlib.sha256(data).hexdigest() if sha256 is None else sha256
    return dataclasses.replace(published, url=f"{server.url}/lraspp.pth", sha256=digest)


def test_weights_load_and_predict_like_torchvision(server, torchvision_checkpoint):
    reference, data = torchvision_checkpoint
    record = serve_lraspp(server, data)
    model = zoo.create("lraspp-mobilenet_v3_large", weights=record)
    assert model.zoo_weights is record and not model.training
    assert model.zoo_weights_file.sha256 == sha(data) and model.zoo_weights_file.commit is None
    image = torch.rand(1, 3, 96, 112)
    with torch.inference_mode():
        assert torch.equal(model(image), reference(image)["out"])
    zoo.create("lraspp-mobilenet_v3_large", weights=record)
    assert server.count == 1, "the second create must come from the cache"


def test_other_class_count_keeps_the_backbone_and_reinitialises_the_classifier(
    server, torchvision_checkpoint
):
    reference, data = torchvision_checkpoint
    record = serve_lraspp(server, data)
    with pytest.warns(ClassifierReinitializedWarning, match="predict 21 classes but the model predicts 5"):
        model = zoo.create("lraspp-mobilenet_v3_large", num_classes=5, weights=record)
    theirs, ours = reference.state_dict(), model.state_dict()
    assert ours["classifier.low_classifier.weight"].shape[0] == 5
    assert torch.equal(
        ours["classifier.cbr.0.weight"], theirs["classifier.cbr.0.weight"]
    )  # class-independent
    assert all(torch.equal(ours[k], v) for k, v in theirs.items() if k.startswith("backbone."))


def test_a_checkpoint_that_does_not_fit_is_refused_with_its_keys(server, torchvision_checkpoint):
    reference, _ = torchvision_checkpoint
    state = {k: v for k, v in reference.state_dict().items() if not k.startswith("classifier.cbr")}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    record = serve_lraspp(server, buffer.getvalue())
    with pytest.raises(WeightsMismatchError, match=r"missing keys \['classifier.cbr"):
        zoo.create("lraspp-mobilenet_v3_large", weights=record)


def test_a_corrupt_download_never_reaches_the_model_or_the_cache(server, torchvision_checkpoint, tmp_path):
    _, data = torchvision_checkpoint
    record = serve_lraspp(server, data, mode="wrong")
    with pytest.raises(ChecksumError, match="lraspp.pth"):
        zoo.create("lraspp-mobilenet_v3_large", weights=record)
    assert files_under(tmp_path) == []  # neither torch.hub's cache, nor the Hub's, nor zoo's


def test_name_tag_and_weights_argument_must_agree(server, torchvision_checkpoint):
    record = serve_lraspp(server, torchvision_checkpoint[1])
    with pytest.raises(ValueError, match="asks for weights 'coco_voc'"):
        zoo.create("lraspp-mobilenet_v3_large.coco_voc", weights=dataclasses.replace(record, tag="other"))


@pytest.fixture(scope="module")
def segformer_b0_ade20k() -> tuple[torch.nn.Module, bytes]:
    record = zoo.info("segformer-mit_b0").get_weights("ade20k")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        published = zoo.create("segformer-mit_b0", num_classes=150, **record.model_kwargs)
    return published, safetensors_save({k: v.contiguous() for k, v in published.state_dict().items()})


@pytest.mark.parametrize("how", ["tag", "pretrained"])
def test_segformer_hub_weights_load_through_hf_endpoint(server, monkeypatch, segformer_b0_ade20k, how):
    """The shipped SegFormer record, unchanged, fetched by huggingface_hub from a Hub stand-in at $HF_ENDPOINT;
    the entry's first record (ADE20K) is its default."""
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    record = zoo.info("segformer-mit_b0").get_weights("ade20k")
    assert zoo.info("segformer-mit_b0").weights[0] is record
    published, data = segformer_b0_ade20k
    path = server.add_hub_file(record.hf_repo, record.hf_revision, record.hf_filename, data)
    name, kwargs = (
        ("segformer-mit_b0.ade20k", {}) if how == "tag" else ("segformer-mit_b0", {"pretrained": True})
    )
    with pytest.warns(UnverifiedWeightsWarning, match=sha(data)):
        model = zoo.create(name, **kwargs)
    assert server.paths() == [path]
    assert model.zoo_weights is record
    assert model.zoo_weights_file.sha256 == sha(data)
    assert model.zoo_weights_file.commit == commit_of(record.hf_revision)
    image = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        assert model(image).shape == (1, 150, 64, 64)
        assert torch.equal(model(image), published(image))


# --- pretrained= / weights= on a test entry served by the loopback server -----------------------------------

PROTOCOL = EvalProtocol(mean=IMAGENET_MEAN, std=IMAGENET_STD, value_scale=1.0, resize="none")


class TinyNet(torch.nn.Module):
    def __init__(self, num_classes: int, width: int):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, width, 3, padding=1)
        self.head = torch.nn.Conv2d(width, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.stem(x)))


def tiny_net(num_classes: int = 3, *, width: int = 4) -> TinyNet:
    """A builder with an explicit signature, as every builder will have."""
    return TinyNet(num_classes, width)


def tiny_state(num_classes: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return TinyNet(num_classes, 4).state_dict()


def tiny_record(tag: str, url: str, data: bytes) -> WeightRecord:
    return WeightRecord(
        tag=tag, dataset="voc", trained_on="nothing", class_names=("a", "b", "c"), protocol=PROTOCOL,
        license="MIT", url=url, sha256=sha(data),
    )  # fmt: skip


@pytest.fixture
def tiny(server):
    """``tiny-net`` with two URL records (the first is the default) and one entry without any weights."""
    states = {tag: tiny_state(seed=seed) for seed, tag in enumerate(["first", "second"])}
    records = []
    for tag, state in states.items():
        buffer = io.BytesIO()
        torch.save(state, buffer)
        server.routes[f"/{tag}.pth"] = Route(buffer.getvalue())
        records.append(tiny_record(tag, f"{server.url}/{tag}.pth", buffer.getvalue()))
    # Registered directly: register_model would (rightly) refuse the loopback's http:// URLs.
    zoo.REGISTRY.register(ModelEntry("tiny", "net", "test-create", builder=tiny_net, weights=tuple(records)))
    zoo.REGISTRY.register(ModelEntry("tiny", "bare", "test-create", builder=tiny_net))
    try:
        yield states, records
    finally:
        zoo.REGISTRY.unregister("test-create:tiny-net")
        zoo.REGISTRY.unregister("test-create:tiny-bare")


def assert_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())


@pytest.mark.parametrize(
    ("name", "kwargs", "tag"),
    [
        ("tiny-net", {"pretrained": True}, "first"),
        ("tiny-net", {"weights": "default"}, "first"),
        ("tiny-net", {"weights": "second"}, "second"),
        ("tiny-net.second", {"pretrained": True}, "second"),
        ("tiny-net.second", {}, "second"),
    ],
)
def test_pretrained_and_weights_pick_the_published_weights(tiny, name, kwargs, tag):
    states, records = tiny
    model = zoo.create(name, **kwargs)
    assert model.zoo_weights.tag == tag
    assert_state(model, states[tag])


def test_no_weights_asked_means_none_loaded(tiny):
    model = zoo.create("tiny-net")
    assert model.zoo_weights is None and model.zoo_weights_file is None


def test_pretrained_on_an_entry_without_weights_is_an_error_not_a_random_model(tiny):
    with pytest.raises(UnknownWeightsError, match="tiny-bare has no published weights"):
        zoo.create("tiny-bare", pretrained=True)
    with pytest.raises(UnknownWeightsError, match="encoder_weights='imagenet'"):
        zoo.create("unet-resnet18", pretrained=True)


def test_pretrained_offline_fails_clearly_before_building(tiny, server, monkeypatch):
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    built = []
    monkeypatch.setattr(TinyNet, "__init__", lambda *a, **k: built.append(1))
    with pytest.raises(OfflineError, match="ZOO_OFFLINE") as caught:
        zoo.create("tiny-net", pretrained=True)
    assert "first.pth" in str(caught.value) and server.count == 0 and not built


def test_the_published_default_is_offline_too(monkeypatch):
    """The real torchvision record, offline, on a machine without the file: a clear error, no request."""
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(OfflineError, match="deeplabv3_resnet101_coco-586e9e4e.pth"):
        zoo.create("deeplabv3-resnet101", pretrained=True)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pretrained": True, "weights": "second"},
        {"pretrained": True, "checkpoint": "x.pth"},
        {"weights": "first", "checkpoint": "x.pth"},
    ],
)
def test_contradicting_weight_choices_are_refused(tiny, kwargs):
    with pytest.raises(InvalidArgumentError, match="give one"):
        zoo.create("tiny-net", **kwargs)


@pytest.mark.parametrize("value", [0, -1, 2.5, "5", True])
def test_num_classes_must_be_a_positive_int(tiny, value):
    with pytest.raises(InvalidArgumentError, match="num_classes must be a positive int") as caught:
        zoo.create("tiny-net", num_classes=value)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, ZooError)


# --- keywords create and the builder do not take ------------------------------------------------------------


def test_a_misspelt_keyword_is_a_type_error_naming_it():
    """smp's classes swallow unknown keywords: without this check, a random model would come back."""
    with pytest.raises(TypeError, match="'pretrianed'") as caught:
        zoo.create("unet-resnet18", pretrianed=True)
    message = str(caught.value)
    assert "did you mean 'pretrained'?" in message and "num_classes" in message and "checkpoint" in message
    assert isinstance(caught.value, UnexpectedArgumentError) and isinstance(caught.value, ZooError)


def test_a_builder_with_a_signature_takes_only_its_keywords(tiny):
    with pytest.raises(TypeError, match="unexpected keyword argument 'foo'; it takes .*width") as caught:
        zoo.create("tiny-net", foo=1)
    assert "did you mean" not in str(caught.value)
    with pytest.raises(TypeError, match="did you mean 'width'"):
        zoo.create("tiny-net", widht=8)
    assert zoo.create("tiny-net", width=8).stem.out_channels == 8


def test_classic_builders_are_checked_against_their_signature():
    with pytest.raises(TypeError, match="'in_channel'.*did you mean 'in_channels'"):
        zoo.create("classic:unet-original", in_channel=1)


def test_keywords_a_library_class_takes_still_reach_it():
    model = zoo.create("unet-resnet18", num_classes=3, encoder_depth=3, decoder_channels=(32, 16, 8))
    assert model.decoder.blocks[-1].conv2[0].out_channels == 8


# --- checkpoint= --------------------------------------------------------------------------------------------


def write_checkpoint(path: Path, state: dict[str, torch.Tensor], form: str) -> Path:
    if form == "safetensors":
        save_file(state, str(path.with_suffix(".safetensors")))
        return path.with_suffix(".safetensors")
    wrapped = {
        "plain": state,
        "state_dict": {"state_dict": state, "epoch": 7},
        "model": {"model": state, "optimizer_step": 3},
        "module.": {f"module.{k}": v for k, v in state.items()},
        "state_dict+module.": {"state_dict": {f"module.{k}": v for k, v in state.items()}},
    }[form]
    torch.save(wrapped, path)
    return path


@pytest.mark.parametrize(
    "form", ["plain", "safetensors", "state_dict", "model", "module.", "state_dict+module."]
)
def test_a_checkpoint_round_trips(tiny, tmp_path, form):
    state = tiny_state(num_classes=5, seed=3)
    path = write_checkpoint(tmp_path / "best.pth", state, form)
    model = zoo.create("tiny-net", num_classes=5, checkpoint=path)
    assert_state(model, state)
    assert model.zoo_weights is None and not model.training
    assert model.zoo_weights_file.sha256 == sha(path.read_bytes())
    assert model.zoo_weights_file.path == path.resolve() and model.zoo_weights_file.commit is None


def test_a_checkpoint_of_a_real_family_round_trips(tmp_path, torchvision_checkpoint):
    reference, data = torchvision_checkpoint
    path = tmp_path / "lraspp.pth"
    path.write_bytes(data)
    model = zoo.create("lraspp-mobilenet_v3_large", checkpoint=str(path))
    image = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(model(image), reference(image)["out"])


def test_a_checkpoint_that_does_not_fit_lists_the_first_keys(tiny, tmp_path):
    state = {
        "stem.weight": torch.zeros(4, 3, 3, 3),
        "stem.bias": torch.zeros(4),
        "neck.weight": torch.zeros(1),
    }
    path = write_checkpoint(tmp_path / "other.pth", state, "plain")
    with pytest.raises(WeightsMismatchError) as caught:
        zoo.create("tiny-net", checkpoint=path)
    message = str(caught.value)
    assert str(path) in message
    assert (
        "2 missing keys ['head.bias', 'head.weight']" in message
        and "1 unexpected keys ['neck.weight']" in message
    )


def test_a_checkpoint_for_another_class_count_says_which(tiny, tmp_path):
    path = write_checkpoint(tmp_path / "best.pth", tiny_state(num_classes=5), "plain")
    with pytest.raises(
        WeightsMismatchError, match=r"it predicts 5 classes, the model 21: pass num_classes=5"
    ):
        zoo.create("tiny-net", checkpoint=path)


def test_a_missing_or_corrupt_checkpoint_is_named(tiny, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pth"):
        zoo.create("tiny-net", checkpoint=tmp_path / "nothing.pth")
    (tmp_path / "page.pth").write_bytes(b"<html>login</html>")
    with pytest.raises(ZooError, match="page.pth is not a usable checkpoint: it is an HTML"):
        zoo.create("tiny-net", checkpoint=tmp_path / "page.pth")
