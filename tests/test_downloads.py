"""Every published checkpoint, really downloaded: digest, size, parameter count, a forward pass.

Opt-in, like torchvision's extended tests: it fetches every registered record (gigabytes) from its publisher,
so it runs only with ``ZOO_TEST_WITH_DOWNLOADS=1`` on a networked machine, and uses that machine's real
huggingface_hub and torch.hub caches (``$HF_HOME``, ``$TORCH_HOME``), so a second run downloads nothing::

    ZOO_TEST_WITH_DOWNLOADS=1 python -m pytest -s tests/test_downloads.py

The sha256 and size of each file are printed (``-s``), ready to pin records that have no digest yet.
"""

from __future__ import annotations

import os
import warnings

import pytest

import zoo
from zoo.hub import fetch

pytestmark = pytest.mark.skipif(
    os.environ.get("ZOO_TEST_WITH_DOWNLOADS") != "1",
    reason="downloads every published checkpoint: set ZOO_TEST_WITH_DOWNLOADS=1 on a networked machine",
)

RECORDS = [(entry, record) for entry in zoo.REGISTRY.entries() for record in entry.weights]
IDS = [f"{entry.name}.{record.tag}" for entry, record in RECORDS]


@pytest.mark.parametrize(("entry", "record"), RECORDS, ids=IDS)
def test_published_checkpoint(entry, record):
    import torch

    name = f"{entry.qualified_name}.{record.tag}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", zoo.errors.UnverifiedWeightsWarning)
        weights_file = fetch(record)  # raises on a digest or size other than the record's
        model = zoo.create(name)
    size = weights_file.path.stat().st_size
    print(f"\n{name}: sha256 {weights_file.sha256} size {size} commit {weights_file.commit}")
    if record.sha256 is not None:
        assert weights_file.sha256.startswith(record.sha256)
    if record.file_size is not None:
        assert size == record.file_size
    assert model.zoo_weights_file == weights_file
    if record.num_params is not None:
        assert sum(p.numel() for p in model.parameters()) == record.num_params
    with torch.inference_mode():
        logits = model(torch.rand(1, 3, 64, 64))
    assert logits.shape == (1, record.num_classes, 64, 64) and torch.isfinite(logits).all()
