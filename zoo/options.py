"""The values the benchmark harness accepts for its enumerated options, without importing torch.

The command line offers these as choices (``zoo bench --help`` must not import torch), and the harness
modules check against the same tuples.
"""

from __future__ import annotations

__all__ = [
    "BLOCKS",
    "BLOCK_ITERS",
    "BLOCK_SECONDS",
    "COMPILE_MODES",
    "DTYPES",
    "TIMED_REGIONS",
    "TTA_MODES",
    "WARMUP_ITERS",
    "WARMUP_SECONDS",
]

#: Compute dtypes: fp32, or autocast to bf16 / fp16.
DTYPES: tuple[str, ...] = ("fp32", "bf16", "fp16")
#: ``"none"`` (eager) or a ``torch.compile`` mode.
COMPILE_MODES: tuple[str, ...] = ("none", "default", "reduce-overhead", "max-autotune")
#: What a speed measurement times: the model's forward alone, or up to the label map.
TIMED_REGIONS: tuple[str, ...] = ("forward", "forward+upsample+argmax")
#: Test-time augmentation of an evaluation: horizontal flip, multi-scale, or both.
TTA_MODES: tuple[str, ...] = ("none", "flip", "ms", "ms+flip")

# The speed protocol's defaults, stated once for zoo.bench.speed.SpeedConfig and the speed command's options:
#: warm-up until at least this many iterations ...
WARMUP_ITERS = 20
#: ... and at least this many seconds have passed (the first, compiling call not counted);
WARMUP_SECONDS = 2.0
#: then this many timed blocks, each of at least BLOCK_ITERS iterations and BLOCK_SECONDS seconds.
BLOCKS = 5
BLOCK_ITERS = 10
BLOCK_SECONDS = 0.2
