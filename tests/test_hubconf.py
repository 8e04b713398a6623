"""``torch.hub.load(<checkout>, "create", ..., source="local")``: the one-line workflow torchvision users know."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

import zoo

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_hubconf_dependencies_are_what_torch_hub_can_import():
    # torch.hub refuses to load a hubconf whose `dependencies` are not importable: keep the list honest.
    spec = importlib.util.spec_from_file_location("zoo_hubconf", REPO_ROOT / "hubconf.py")
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    assert all(importlib.util.find_spec(name) is not None for name in hubconf.dependencies)
    assert hubconf.create is zoo.create and hubconf.list_models is zoo.list_models


def test_hub_load_builds_the_same_model_as_zoo_create():
    torch.manual_seed(0)
    through_hub = torch.hub.load(str(REPO_ROOT), "create", "unet-resnet18", num_classes=3, source="local")
    torch.manual_seed(0)
    direct = zoo.create("unet-resnet18", num_classes=3)
    assert type(through_hub) is type(direct)
    hub_state, direct_state = through_hub.state_dict(), direct.state_dict()
    assert hub_state.keys() == direct_state.keys()
    assert all(torch.equal(hub_state[k], direct_state[k]) for k in hub_state)
    with torch.inference_mode():
        assert through_hub(torch.zeros(1, 3, 64, 64)).shape == (1, 3, 64, 64)


def test_hub_load_lists_models():
    names = torch.hub.load(str(REPO_ROOT), "list_models", "deeplabv3-*", source="local")
    assert names == zoo.list_models("deeplabv3-*") and "deeplabv3-resnet101" in names


def test_hub_load_passes_zoos_errors_through():
    with pytest.raises(zoo.UnknownModelError, match="unet-resnet18"):
        torch.hub.load(str(REPO_ROOT), "create", "unet-resnet81", source="local")
