"""How long a user waits for `zoo list`, against importing segmentation_models_pytorch (which imports torch).

Run: `pytest benchmarks/test_startup.py` (or `tox -e bench`). Each round is a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

COMMANDS = {
    "zoo list": [sys.executable, "-m", "zoo.cli", "list"],
    "import zoo; list_models()": [sys.executable, "-c", "import zoo; zoo.list_models()"],
    "import segmentation_models_pytorch": [sys.executable, "-c", "import segmentation_models_pytorch"],
}


@pytest.mark.parametrize("label", list(COMMANDS))
def test_startup(benchmark, label):
    command = COMMANDS[label]
    benchmark.pedantic(
        subprocess.run,
        args=(command,),
        kwargs={"check": True, "capture_output": True},
        rounds=5,
        warmup_rounds=1,
    )
