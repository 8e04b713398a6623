"""zoo.create with weights, end to end: a loopback server stands in for download.pytorch.org and the Hub."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import warnings

import pytest
import torch
from loopback import Route
from safetensors.torch import save as safetensors_save

import zoo
from zoo.errors import (
    ChecksumError,
    ClassifierReinitializedWarning,
    UnverifiedWeightsWarning,
    WeightsMismatchError,
)


@pytest.fixture(autouse=True)
def _cache(isolated_cache):
    return isolated_cache


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


def test_a_corrupt_download_never_reaches_the_model_or_the_cache(
    server, torchvision_checkpoint, isolated_cache
):
    _, data = torchvision_checkpoint
    record = serve_lraspp(server, data, mode="wrong")
    with pytest.raises(ChecksumError, match="lraspp.pth"):
        zoo.create("lraspp-mobilenet_v3_large", weights=record)
    assert not [p for p in isolated_cache.rglob("*") if p.is_file()]


def test_name_tag_and_weights_argument_must_agree(server, torchvision_checkpoint):
    record = serve_lraspp(server, torchvision_checkpoint[1])
    with pytest.raises(ValueError, match="asks for weights 'coco_voc'"):
        zoo.create("lraspp-mobilenet_v3_large.coco_voc", weights=dataclasses.replace(record, tag="other"))


def test_segformer_hub_weights_load_through_hf_endpoint(server, monkeypatch):
    """The shipped SegFormer record, unchanged, fetched from a Hub stand-in at $HF_ENDPOINT."""
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    record = zoo.info("segformer-mit_b0").get_weights("ade20k")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        published = zoo.create("segformer-mit_b0", num_classes=150, **record.model_kwargs)
    path = f"/{record.hf_repo}/resolve/{record.hf_revision}/{record.hf_filename}"
    server.routes[path] = Route(
        safetensors_save({k: v.contiguous() for k, v in published.state_dict().items()})
    )
    with pytest.warns(UnverifiedWeightsWarning):
        model = zoo.create("segformer-mit_b0.ade20k")
    assert server.paths() == [path]
    image = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        assert model(image).shape == (1, 150, 64, 64)
        assert torch.equal(model(image), published(image))
