"""Entry-point plugins, from real distributions: a dist-info folder on sys.path, as pip would install it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def install_fake_distribution(site: Path, name: str, entry_points: str, modules: dict[str, str]) -> None:
    """Write what `pip install` leaves behind: the modules and a dist-info with METADATA and entry_points.txt."""
    dist_info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(entry_points)
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    install_fake_distribution(
        site,
        "zoo-plugin-good",
        "[zoo.models]\ngood = good_plugin\n",
        {
            "good_plugin": """
                import zoo

                @zoo.register_model("plugnet-tiny", family="zoo-plugin-good", paper="https://example.org")
                def plugnet_tiny(num_classes=21, **kwargs):
                    import torch
                    return torch.nn.Conv2d(3, num_classes, 1)
            """
        },
    )
    install_fake_distribution(
        site,
        "zoo-plugin-broken",
        "[zoo.models]\nbroken = broken_plugin:register\n",
        {"broken_plugin": "def register():\n    raise RuntimeError('the plugin is broken on purpose')\n"},
    )
    return site


def run_with_site(site: Path, code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.getcwd()])}
    return subprocess.run(
        [sys.executable, "-W", "always::UserWarning", "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )


def test_an_installed_plugin_adds_entries_without_any_import_by_the_user(site):
    result = run_with_site(
        site,
        "import json, zoo, torch;"
        "m = zoo.create('plugnet-tiny', num_classes=4);"
        "print(json.dumps([zoo.list_models('plugnet-*'), zoo.info('plugnet-tiny').family,"
        " list(m(torch.rand(1, 3, 8, 8)).shape), len(zoo.list_models()) > 700]))",
    )
    names, family, shape, builtins_still_there = json.loads(result.stdout)
    assert names == ["plugnet-tiny"] and family == "zoo-plugin-good"
    assert shape == [1, 4, 8, 8] and builtins_still_there


def test_a_broken_plugin_is_reported_once_by_name_and_breaks_nothing(site):
    result = run_with_site(
        site,
        "import zoo; zoo.list_models(); zoo.list_models('unet-*'); zoo.info('plugnet-tiny');"
        "print(zoo.REGISTRY.failed_plugins)",
    )
    reports = [line for line in result.stderr.splitlines() if "ZooPluginWarning" in line]
    assert len(reports) == 1, result.stderr
    assert "broken = broken_plugin:register" in reports[0] and "zoo-plugin-broken" in reports[0]
    assert "the plugin is broken on purpose" in reports[0]
    assert "broken" in result.stdout
