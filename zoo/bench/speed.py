"""Inference speed of one model under one variant: the measuring protocol behind ``zoo-bench speed``.

The protocol (every setting is a field of :class:`SpeedConfig` and lands in the row):

- synthetic input (seeded ``randn``, never zeros) of the stated shape, already on the device;
  ``model.eval()`` and ``torch.inference_mode``;
- the variant is prepared (autocast dtype, channels_last, ``torch.compile`` mode, CUDA graph capture) and
  called once: that first call holds compilation and autotuning and is reported apart (``first_call_s``);
- warm-up starts after it returns. It is done once per (model, dtype, compile, layout) and once per new
  shape, not per row (a :class:`WarmupTracker` remembers what is warm): the first shape of a variant warms
  up for at least ``warmup_iters`` iterations and ``warmup_seconds``, whichever is longer (``"full"``); a
  new shape (batch size) of an already-warm variant for ``warmup_iters`` iterations only, without the time
  floor (``"shape"``); the second timed region of an already-warm (variant, shape) shares that warm-up and
  runs one iteration, to size its blocks (``"shared"``; a compiled region is its own graph and warms up as
  a new shape). The row's ``notes`` say which was done (``warm-up: shape``), ``warmup_iters_run`` and
  ``warmup_s_run`` how long it lasted;
- ``blocks`` timed blocks follow, each of at least ``block_iters`` iterations and ``block_seconds``;
  throughput is the median over blocks (min and max reported as the spread); on CUDA one synchronisation
  closes each block and CUDA events between iterations give per-iteration latency, on the CPU
  ``time.perf_counter`` does both;
- ``timed`` says what one iteration is: ``"forward"`` (the model alone, as timm's benchmark) or
  ``"forward+upsample+argmax"`` (to full-resolution labels, as mmsegmentation's fps);
- FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` on the eager fp32 model at the measured shape
  (it counts FLOPs = 2 * MACs for convolutions and matrix products; the ops it has no formula for are listed);
- a correctness gate compares the variant's argmax with fp32 eager's on the same seeded input.
"""

from __future__ import annotations

import contextlib
import copy
import math
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from zoo.inference import TORCH_DTYPES, upsample_logits
from zoo.options import (
    BLOCK_ITERS,
    BLOCK_SECONDS,
    BLOCKS,
    COMPILE_MODES,
    DTYPES,
    TIMED_REGIONS,
    WARMUP_ITERS,
    WARMUP_SECONDS,
)

__all__ = [
    "COMPILE_MODES",
    "DTYPES",
    "PEAK_TFLOPS",
    "TIMED_REGIONS",
    "SpeedConfig",
    "WARMUP_KINDS",
    "WARMUP_NOTE",
    "WarmupTracker",
    "argmax_disagreement",
    "count_flops",
    "is_out_of_memory",
    "measure",
    "peak_tflops",
]


#: Dense (no structured sparsity) peak TFLOP/s per dtype of known GPUs, keyed by a substring of
#: ``torch.cuda.get_device_name``; the first match wins, so the more specific names come first. "tf32" is fp32
#: matrix work on tensor cores (``--tf32``), "fp32" plain CUDA-core fp32. Datasheet figures, which quote
#: tensor-core rates with sparsity: dense is half of those.
PEAK_TFLOPS: tuple[tuple[str, dict[str, float], str], ...] = (
    # variants whose datasheet figures were not checked here: matched first so that they get no MFU rather
    # than the SXM part's peak
    ("H200 NVL", {}, "no checked datasheet figure for the H200 NVL"),
    (
        "H200",
        {"bf16": 989.4, "fp16": 989.4, "tf32": 494.7, "fp32": 66.9},
        "NVIDIA H100/H200 SXM datasheet: 1979 TFLOPS bf16/fp16 and 989 tf32 with sparsity, halved for dense; "
        "67 fp32 (a bf16 8192^3 matmul measured about 790 TFLOP/s on this workplace's H200s)",
    ),
    ("H100 PCIe", {}, "no checked datasheet figure for the H100 PCIe"),
    (
        "H100",
        {"bf16": 989.4, "fp16": 989.4, "tf32": 494.7, "fp32": 66.9},
        "NVIDIA H100 datasheet (SXM column; tensor-core figures halved: quoted with sparsity)",
    ),
    (
        "A100",
        {"bf16": 312.0, "fp16": 312.0, "tf32": 156.0, "fp32": 19.5},
        "NVIDIA A100 datasheet (dense figures)",
    ),
)

# Ops that move or describe data but compute nothing: left out of ``uncounted_ops`` so that it lists work.
_NO_COMPUTE = {
    "aten.detach", "aten.empty", "aten.empty_like", "aten.empty_strided", "aten.lift_fresh", "aten.alias",
    "aten.clone", "aten.copy_", "aten._to_copy", "aten.contiguous", "aten.zeros", "aten.zeros_like",
    "aten.ones", "aten.ones_like", "aten.full", "aten.fill_", "aten.zero_", "aten.cat", "aten.stack",
    "aten.split", "aten.split_with_sizes", "aten.chunk", "aten.unbind", "aten.sym_size", "aten.sym_numel",
    "aten.sym_stride", "aten.sym_storage_offset", "aten.is_same_size", "aten.constant_pad_nd",
    "prim.device", "aten._local_scalar_dense", "aten.item",
}  # fmt: skip


@dataclass(frozen=True)
class SpeedConfig:
    """One measurement: shape, variant, what is timed and how long.

    Attributes:
        height, width, batch_size: the synthetic input's shape ``(batch_size, 3, height, width)``.
        dtype: ``"fp32"``, or ``"bf16"`` / ``"fp16"`` autocast.
        channels_last: model and input in ``torch.channels_last``.
        compile: ``"none"`` or a ``torch.compile`` mode (``"default"``, ``"reduce-overhead"``,
            ``"max-autotune"``).
        cuda_graphs: capture the timed region in a CUDA graph and time its replays (CUDA only).
        tf32: allow TF32 in matmuls and cuDNN for the run (CUDA only; no effect elsewhere).
        timed: ``"forward"`` or ``"forward+upsample+argmax"``.
        warmup_iters, warmup_seconds: warm-up lasts at least both (after the first call).
        block_iters, block_seconds: each timed block lasts at least both.
        blocks: number of timed blocks.
        cudnn_benchmark: ``torch.backends.cudnn.benchmark`` while measuring.
        seed: seeds the synthetic input (and so the correctness gate's input).
        max_disagreement: the correctness gate's threshold, a fraction of pixels.
    """

    height: int = 512
    width: int = 512
    batch_size: int = 1
    dtype: str = "fp32"
    channels_last: bool = False
    compile: str = "none"
    cuda_graphs: bool = False
    tf32: bool = False
    timed: str = "forward"
    warmup_iters: int = WARMUP_ITERS
    warmup_seconds: float = WARMUP_SECONDS
    block_iters: int = BLOCK_ITERS
    block_seconds: float = BLOCK_SECONDS
    blocks: int = BLOCKS
    cudnn_benchmark: bool = True
    seed: int = 0
    max_disagreement: float = 0.001

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.compile not in COMPILE_MODES:
            raise ValueError(f"compile must be one of {COMPILE_MODES}, got {self.compile!r}")
        if self.timed not in TIMED_REGIONS:
            raise ValueError(f"timed must be one of {TIMED_REGIONS}, got {self.timed!r}")
        if min(self.height, self.width, self.batch_size, self.block_iters, self.blocks) < 1:
            raise ValueError("height, width, batch_size, block_iters and blocks must be at least 1")
        if self.warmup_iters < 0 or self.warmup_seconds < 0 or self.block_seconds < 0:
            raise ValueError("warm-up and block durations cannot be negative")

    @property
    def is_reference(self) -> bool:
        """fp32 eager, contiguous, no TF32, no graphs: what every other variant is checked against."""
        return (self.dtype, self.channels_last, self.compile, self.cuda_graphs, self.tf32) == (
            "fp32", False, "none", False, False,
        )  # fmt: skip

    def protocol(self) -> dict[str, Any]:
        """The settings as a flat dict (for a row)."""
        return asdict(self)


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is the device running out of memory (torch's own error or a backend's message)."""
    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error).lower()
    )


def peak_tflops(device_name: str, dtype: str) -> tuple[float | None, str]:
    """Dense peak TFLOP/s of ``device_name`` for ``dtype`` (``bf16``, ``fp16``, ``tf32``, ``fp32``) and its source.

    ``(None, "")`` for a device not in :data:`PEAK_TFLOPS` (every CPU among them); ``(None, why)`` for a
    listed device without a checked figure.
    """
    for needle, peaks, source in PEAK_TFLOPS:
        if needle.lower() in device_name.lower():
            return (peaks[dtype], source) if dtype in peaks else (None, source)
    return None, ""


# ---------------------------------------------------------------------------------------------- FLOPs


class _OpRecorder(torch.utils._python_dispatch.TorchDispatchMode):
    """Records the aten ops that run above a FlopCounterMode and added no FLOPs to it.

    Entered after the counter, so it sees each op as the model calls it (``upsample_bilinear2d``, not the
    index arithmetic the counter decomposes it into); an op whose call left the counter's total unchanged is
    one the count misses.
    """

    def __init__(self, counter: Any) -> None:
        super().__init__()
        self.counter = counter
        self.uncounted: set[Any] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        before = self.counter.get_total_flops()
        out = func(*args, **(kwargs or {}))
        if self.counter.get_total_flops() == before:
            self.uncounted.add(func)
        return out


def count_flops(model: Callable[[torch.Tensor], Any], input: torch.Tensor) -> tuple[float, str]:
    """GFLOPs of one call ``model(input)`` (the whole batch) and the ops no FLOP formula covered.

    Counted by ``torch.utils.flop_counter.FlopCounterMode``: convolutions and matrix products (and attention
    kernels), at 2 FLOPs per multiply-accumulate; bias additions are not counted. Every other op that ran and
    computes something (interpolation, softmax, normalisation, elementwise, argmax, ...) is returned as a
    sorted comma-separated list of aten op names: those FLOPs are missing from the count. Views and ops that
    only allocate or copy are left out of the list.
    """
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    recorder = _OpRecorder(counter)
    with torch.inference_mode(), counter, recorder:
        model(input)
    counted = set(counter.flop_registry)
    uncounted = set()
    for op in recorder.uncounted:
        packet = getattr(op, "overloadpacket", op)
        name = str(packet)
        if packet in counted or name in _NO_COMPUTE or getattr(op, "is_view", False):
            continue
        uncounted.add(name)
    return counter.get_total_flops() / 1e9, ",".join(sorted(uncounted))


# ------------------------------------------------------------------------------------- correctness


def _labels(output: Any, size: tuple[int, int]) -> torch.Tensor:
    """Full-resolution labels from logits ``(N, C, h, w)`` (upsampled in fp32, argmax) or labels ``(N, H, W)``."""
    if isinstance(output, torch.Tensor) and not output.is_floating_point():
        return output
    return upsample_logits(output, size, dtype=torch.float32).argmax(1)


def argmax_disagreement(
    model_a: Callable[[torch.Tensor], Any], model_b: Callable[[torch.Tensor], Any], input: torch.Tensor
) -> float:
    """Fraction of pixels whose full-resolution argmax differs between ``model_a(input)`` and ``model_b(input)``.

    Either callable may return logits (upsampled to the input's size before the argmax) or labels.
    """
    size = (input.shape[-2], input.shape[-1])
    with torch.inference_mode():
        a = _labels(model_a(input), size)
        b = _labels(model_b(input), size)
    return (a != b).float().mean().item()


# ------------------------------------------------------------------------------------------ warm-up

#: The warm-ups a speed row's ``notes`` can say were done before timing (see the module docstring).
WARMUP_KINDS: tuple[str, ...] = ("full", "shape", "shared")
#: How a speed row's ``notes`` introduce the warm-up done (followed by one of :data:`WARMUP_KINDS`).
WARMUP_NOTE = "warm-up: "


class WarmupTracker:
    """Remembers which variants of which models, and which shapes of them, have been warmed up.

    One tracker spans the rows of a sweep, so that a variant warms up fully once and every further shape
    (batch size) or timed region only as much as it needs (:data:`WARMUP_KINDS`). A tracker holds model
    identities, not models: keep the model alive while the tracker is in use.
    """

    def __init__(self) -> None:
        self._variants: set[tuple] = set()
        self._shapes: set[tuple] = set()

    @staticmethod
    def _variant(model: nn.Module, config: SpeedConfig) -> tuple:
        return (
            id(model),
            config.dtype,
            config.compile,
            config.channels_last,
            config.cuda_graphs,
            config.tf32,
        )

    def kind(self, model: nn.Module, config: SpeedConfig) -> str:
        """The warm-up ``config`` needs on ``model`` now: ``"full"``, ``"shape"`` or ``"shared"``."""
        variant = self._variant(model, config)
        if variant not in self._variants:
            return "full"
        shape = (*variant, config.batch_size, config.height, config.width)
        # a compiled region is a graph of its own: it warms up as a new shape even where the shape is warm
        return "shared" if shape in self._shapes and config.compile == "none" else "shape"

    def done(self, model: nn.Module, config: SpeedConfig) -> None:
        """Record that ``config`` has been warmed up on ``model``."""
        variant = self._variant(model, config)
        self._variants.add(variant)
        self._shapes.add((*variant, config.batch_size, config.height, config.width))


def _warm_up(
    fn: Callable, x: torch.Tensor, device: torch.device, iters: int, seconds: float
) -> tuple[int, float]:
    """Run ``fn(x)`` for at least ``iters`` iterations and ``seconds``: (iterations run, seconds taken)."""
    done = 0
    start = time.perf_counter()
    while done < iters or time.perf_counter() - start < seconds:
        fn(x)
        done += 1
        if done % 10 == 0 or done >= iters:
            _sync(device)  # the clock must see device time, not only launches
    _sync(device)
    return done, time.perf_counter() - start


# ------------------------------------------------------------------------------------------ measuring


@contextlib.contextmanager
def _backend_flags(tf32: bool, cudnn_benchmark: bool) -> Iterator[None]:
    saved = (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.benchmark,
    )
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = cudnn_benchmark
    try:
        yield
    finally:
        (
            torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32,
            torch.backends.cudnn.benchmark,
        ) = saved


def _region(model: Callable[[torch.Tensor], Any], timed: str, size: tuple[int, int]) -> Callable:
    """One iteration of what is timed: the forward alone, or on to full-resolution labels."""
    if timed == "forward":
        return model

    def forward_upsample_argmax(x: torch.Tensor) -> torch.Tensor:
        # in the model's dtype (autocast's), and a no-op where smp models already predict at full resolution
        return upsample_logits(model(x), size).argmax(1)

    return forward_upsample_argmax


def _autocast(fn: Callable, device: torch.device, dtype: str) -> Callable:
    if dtype == "fp32":
        return fn

    def autocast_fn(x: torch.Tensor) -> Any:
        with torch.autocast(device.type, dtype=TORCH_DTYPES[dtype]):
            return fn(x)

    return autocast_fn


def _cuda_graph(fn: Callable, static_input: torch.Tensor) -> Callable:
    """Capture ``fn(static_input)``; the returned callable copies its input in, replays, returns the output."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):  # lazy initialisation (cuDNN handles, autotuning) must not happen during capture
            fn(static_input)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_output = fn(static_input)

    def replay(x: torch.Tensor) -> Any:
        if x is not static_input:
            static_input.copy_(x)
        graph.replay()
        return static_output

    return replay


def _prepare(model: nn.Module, config: SpeedConfig, device: torch.device, x: torch.Tensor) -> Callable:
    """The timed callable of this variant (not yet called, except for CUDA graph capture)."""
    size = (config.height, config.width)
    if config.channels_last:
        model = copy.deepcopy(model).to(memory_format=torch.channels_last)
    fn = _autocast(_region(model, config.timed, size), device, config.dtype)
    if config.compile != "none":
        torch._dynamo.reset()  # each variant compiles from scratch and never hits the recompile limit
        fn = torch.compile(fn, mode=None if config.compile == "default" else config.compile)
    if config.cuda_graphs:
        fn = _cuda_graph(fn, x)
    return fn


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed_block(
    fn: Callable, x: torch.Tensor, iters: int, device: torch.device
) -> tuple[float, list[float]]:
    """Run ``iters`` iterations: (block seconds, per-iteration seconds)."""
    if device.type == "cuda":
        events = [torch.cuda.Event(enable_timing=True) for _ in range(iters + 1)]
        _sync(device)
        start = time.perf_counter()
        events[0].record()
        for i in range(iters):
            fn(x)
            events[i + 1].record()
        torch.cuda.synchronize(device)  # the one synchronisation of the block
        wall = time.perf_counter() - start
        return wall, [events[i].elapsed_time(events[i + 1]) / 1e3 for i in range(iters)]
    per_iter = []
    start = time.perf_counter()
    for _ in range(iters):
        t0 = time.perf_counter()
        fn(x)
        per_iter.append(time.perf_counter() - t0)
    return time.perf_counter() - start, per_iter


def _percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default) of a non-empty list."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def synthetic_input(config: SpeedConfig, device: torch.device | str) -> torch.Tensor:
    """The seeded ``randn`` input of the config's shape on ``device`` (channels_last when the config says)."""
    g = torch.Generator().manual_seed(config.seed)
    x = torch.randn(config.batch_size, 3, config.height, config.width, generator=g).to(device)
    return x.contiguous(memory_format=torch.channels_last) if config.channels_last else x


def reference_labels(model: nn.Module, config: SpeedConfig, device: torch.device | str) -> torch.Tensor:
    """fp32 eager labels (no TF32) of the config's synthetic input: what the correctness gate compares with."""
    x = synthetic_input(SpeedConfig(**{**asdict(config), "channels_last": False}), device)
    with _backend_flags(tf32=False, cudnn_benchmark=False), torch.inference_mode():
        return _labels(model(x), (config.height, config.width))


def measure(
    model: nn.Module,
    config: SpeedConfig,
    device: torch.device | str,
    *,
    reference: torch.Tensor | None = None,
    device_name: str = "",
    warmup: WarmupTracker | None = None,
) -> dict[str, Any]:
    """Measure one variant of ``model`` (fp32 weights, eval mode, on ``device``) as ``config`` says.

    Args:
        reference: fp32 eager labels of the same input (:func:`reference_labels`); computed here when absent
            and the config is not the reference itself.
        device_name: names the device for the peak-FLOP table (MFU); a CPU's or an unknown name gives NaN.
        warmup: what is already warm (shared by the rows of a sweep); without one every call warms up
            fully. Updated here once the warm-up is done.

    Returns:
        The measured fields of one row: ``images_per_s`` (median over blocks) with ``images_per_s_min`` /
        ``_max``, ``latency_ms_p50`` / ``_p90`` / ``_p99`` (per iteration, i.e. per batch: ``latency_per``
        says of how many images), ``peak_memory_mib`` (CUDA ``max_memory_allocated``, NaN elsewhere),
        ``params``, ``gflops_per_image`` / ``gmacs_per_image`` / ``uncounted_ops``, ``tflops_achieved``,
        ``peak_tflops`` / ``peak_tflops_source`` / ``mfu``, ``argmax_disagreement`` / ``correctness``,
        ``first_call_s`` (compilation and autotuning included), ``warmup_iters_run`` / ``warmup_s_run``,
        ``block_iters_run``, ``notes`` (which warm-up was done: ``"warm-up: full"``, one of
        :data:`WARMUP_KINDS` after :data:`WARMUP_NOTE`).

    Raises:
        ValueError: CUDA graphs asked for off CUDA, or with a compile mode that captures graphs itself.
        torch.OutOfMemoryError: the variant does not fit (see :func:`is_out_of_memory`).
    """
    device = torch.device(device)
    if config.cuda_graphs and device.type != "cuda":
        raise ValueError("CUDA graphs need a CUDA device")
    if config.cuda_graphs and config.compile in ("reduce-overhead", "max-autotune"):
        raise ValueError(f"compile mode {config.compile!r} already captures CUDA graphs")
    model = model.eval()
    size = (config.height, config.width)
    notes: list[str] = []
    if config.tf32 and device.type != "cuda":
        notes.append("tf32 has no effect off CUDA")
    x = synthetic_input(config, device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)

    with _backend_flags(config.tf32, config.cudnn_benchmark), torch.inference_mode():
        fn = _prepare(model, config, device, x)
        _sync(device)
        start = time.perf_counter()
        fn(x)  # compilation, autotuning and lazy initialisation happen here
        _sync(device)
        first_call_s = time.perf_counter() - start

        if config.is_reference:
            disagreement, correctness = 0.0, "reference"
        else:
            if reference is None:
                reference = reference_labels(model, config, device)
            labels = _labels(fn(x), size)
            disagreement = (labels != reference.to(labels.device)).float().mean().item()
            correctness = "flagged" if disagreement > config.max_disagreement else "ok"

        warmup_kind = warmup.kind(model, config) if warmup is not None else "full"
        if warmup_kind == "full":
            warmup_iters, warmup_s = _warm_up(fn, x, device, config.warmup_iters, config.warmup_seconds)
        elif warmup_kind == "shape":
            warmup_iters, warmup_s = _warm_up(fn, x, device, max(config.warmup_iters, 1), 0.0)
        else:  # one iteration sizes the blocks
            warmup_iters, warmup_s = _warm_up(fn, x, device, 1, 0.0)
        if warmup is not None:
            warmup.done(model, config)
        notes.append(f"{WARMUP_NOTE}{warmup_kind}")
        per_iter_s = warmup_s / max(warmup_iters, 1)
        block_iters = max(
            config.block_iters, math.ceil(config.block_seconds / per_iter_s) if per_iter_s else 1
        )

        rates: list[float] = []
        latencies: list[float] = []
        for _ in range(config.blocks):
            wall, per_iter = _timed_block(fn, x, block_iters, device)
            rates.append(block_iters * config.batch_size / wall)
            latencies += per_iter

    peak_mib = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else math.nan
    flops_fn = _region(model, config.timed, size)
    flat = SpeedConfig(**{**asdict(config), "channels_last": False})
    gflops_batch, uncounted = count_flops(flops_fn, synthetic_input(flat, device))
    gflops = gflops_batch / config.batch_size
    images_per_s = statistics.median(rates)
    tflops = gflops * images_per_s / 1000
    peak_key = "tf32" if config.dtype == "fp32" and config.tf32 else config.dtype
    peak, source = peak_tflops(device_name, peak_key)
    return {
        "images_per_s": images_per_s,
        "images_per_s_min": min(rates),
        "images_per_s_max": max(rates),
        "latency_ms_p50": _percentile(latencies, 50) * 1e3,
        "latency_ms_p90": _percentile(latencies, 90) * 1e3,
        "latency_ms_p99": _percentile(latencies, 99) * 1e3,
        "latency_per": f"batch of {config.batch_size}",
        "peak_memory_mib": peak_mib,
        "params": sum(p.numel() for p in model.parameters()),
        "gflops_per_image": gflops,
        "gmacs_per_image": gflops / 2,
        "uncounted_ops": uncounted,
        "tflops_achieved": tflops,
        "peak_tflops": math.nan if peak is None else peak,
        "peak_tflops_key": peak_key,
        "peak_tflops_source": source,
        "mfu": math.nan if peak is None else tflops / peak,
        "argmax_disagreement": disagreement,
        "correctness": correctness,
        "first_call_s": first_call_s,
        "warmup_iters_run": warmup_iters,
        "warmup_s_run": warmup_s,
        "block_iters_run": block_iters,
        "notes": "; ".join(notes),
    }
