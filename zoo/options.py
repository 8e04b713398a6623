"""The values the benchmark harness accepts for its enumerated options, without importing torch.

The command line offers these as choices (``zoo bench --help`` must not import torch), and the harness
modules check against the same tuples.
"""

from __future__ import annotations

__all__ = ["COMPILE_MODES", "DTYPES", "TIMED_REGIONS", "TTA_MODES"]

#: Compute dtypes: fp32, or autocast to bf16 / fp16.
DTYPES: tuple[str, ...] = ("fp32", "bf16", "fp16")
#: ``"none"`` (eager) or a ``torch.compile`` mode.
COMPILE_MODES: tuple[str, ...] = ("none", "default", "reduce-overhead", "max-autotune")
#: What a speed measurement times: the model's forward alone, or up to the label map.
TIMED_REGIONS: tuple[str, ...] = ("forward", "forward+upsample+argmax")
#: Test-time augmentation of an evaluation: horizontal flip, multi-scale, or both.
TTA_MODES: tuple[str, ...] = ("none", "flip", "ms", "ms+flip")
