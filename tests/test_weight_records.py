"""Every weight record is valid, and what it claims is recomputed where it can be (torchvision's habit)."""

from __future__ import annotations

import warnings

import pytest

import zoo
from zoo.classes import LABEL_SPACES

RECORDS = [(entry, record) for entry in zoo.REGISTRY.entries() for record in entry.weights]
IDS = [f"{entry.name}.{record.tag}" for entry, record in RECORDS]


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def build_without_weights(entry, record):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return entry.builder(num_classes=record.num_classes, **record.model_kwargs)


def test_the_shipped_records_are_there():
    assert len(RECORDS) == 18  # six torchvision weights, SegFormer B0-B5 on ADE20K and on Cityscapes


@pytest.mark.parametrize(("entry", "record"), RECORDS, ids=IDS)
def test_schema(entry, record):
    assert record.problems() == []
    assert record.class_names == LABEL_SPACES[record.dataset]
    assert record.reported or record.note, "a weight without reported figures must say why"
    for metric in record.reported:
        assert metric.source and metric.value > 0
    if record.hf_repo:
        # a Hub revision is a full commit hash or, where none could be read, a branch that zoo info flags
        assert len(record.hf_revision) == 40 or record.hf_revision == "main"


TORCHVISION = [(e, r) for e, r in RECORDS if e.family == "torchvision"]


@pytest.mark.parametrize(("entry", "record"), TORCHVISION, ids=[f"{e.name}.{r.tag}" for e, r in TORCHVISION])
def test_torchvision_parameter_counts_equal_the_published_ones(entry, record):
    assert count_parameters(build_without_weights(entry, record)) == record.num_params


def test_torchvision_checksums_are_the_published_prefixes():
    for entry, record in TORCHVISION:
        assert record.checksum == "prefix" and len(record.sha256) == 8
        assert record.filename.endswith(f"-{record.sha256}.pth"), entry.name


SEGFORMER_WITH_PARAMS = [(e, r) for e, r in RECORDS if r.reported_metric("params_M")]


@pytest.mark.parametrize(
    ("entry", "record"), SEGFORMER_WITH_PARAMS, ids=[f"{e.name}.{r.tag}" for e, r in SEGFORMER_WITH_PARAMS]
)
def test_segformer_parameter_counts_round_to_the_papers(entry, record):
    """Also checks the decoder width each record asks for (256 for B0/B1, 768 above)."""
    millions = count_parameters(build_without_weights(entry, record)) / 1e6
    assert round(millions, 1) == record.reported_metric("params_M").value


def test_unverified_weights_are_the_ones_without_a_checksum():
    unverified = {f"{e.name}.{r.tag}" for e, r in RECORDS if not r.verified}
    assert "segformer-mit_b2.ade20k" not in unverified and "segformer-mit_b5.ade20k" not in unverified
    assert "segformer-mit_b0.ade20k" in unverified
    assert all(r.checksum == "unknown" for e, r in RECORDS if f"{e.name}.{r.tag}" in unverified)
