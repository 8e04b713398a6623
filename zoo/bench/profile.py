"""Complexity of a registry entry, computed from its architecture: parameters, FLOPs and peak activation memory.

These figures are *computed*, not measured: they depend only on the architecture, the input shape and the
versions of zoo, torch, timm and smp that built it, never on the machine. They are exact anywhere, so the
whole registry can be profiled on a CPU in minutes:

* The model is built on the ``meta`` device (parameters have shapes and no storage, so nothing is
  initialised) and a forward runs on a meta input of the real shape: every op computes only output shapes.
  A builder that reads a tensor's value while it builds (``Tensor.item()``, as timm's MiT encoders do for
  their drop-path schedule) is built with only its parameters on meta (``built_on = "meta-params"``), and
  one that fails even so is built on the CPU and moved to meta (``built_on = "cpu"``). Weight
  initialisation is skipped on meta tensors (it computes nothing there, slowly).
* FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` through :func:`zoo.bench.speed.count_flops`
  (2 FLOPs per multiply-accumulate of convolutions, matrix products and attention; the ops it has no
  formula for are listed, so a reader knows what the figure leaves out). A real forward gives the same
  counts (``tests/test_profile.py``).
* Peak activation memory is *estimated* from the same traced forward: the largest total size of the tensors
  alive at once, counting the input and every new (non-view, not in-place) tensor an op creates and freeing
  it when the last reference to it goes, as eager inference under ``torch.inference_mode`` frees it.
  Parameters are not included (see ``params``), nor allocator rounding, fragmentation or library
  workspaces (cuDNN), so a GPU's ``max_memory_allocated`` reads somewhat higher.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

from zoo.bench.speed import count_flops

logger = logging.getLogger(__name__)

__all__ = [
    "Complexity",
    "ProfileOutcome",
    "build_on_meta",
    "evaluation_sizes",
    "profile_entry",
    "profile_model",
    "run_profile_sweep",
]


@dataclass(frozen=True)
class Complexity:
    """Computed figures of one forward ``(batch, 3, height, width)`` of one model.

    Attributes:
        params: number of parameters (buffers excluded).
        gflops: GFLOPs of the forward at this shape, whole batch (``FlopCounterMode``: 2 per MAC).
        uncounted_ops: comma-separated aten ops that ran and compute something but have no FLOP formula.
        peak_activation_mib: the estimated peak of live activation memory (MiB, fp32), input included,
            parameters excluded; see the module docstring for what the estimate leaves out.
        built_on: ``"meta"``, or ``"cpu"`` when the builder needed real tensors (then moved to meta).
    """

    params: int
    gflops: float
    uncounted_ops: str
    peak_activation_mib: float
    built_on: str

    @property
    def gmacs(self) -> float:
        """Multiply-accumulates, the unit papers and mmsegmentation's tables use (``gflops / 2``)."""
        return self.gflops / 2


class LiveTensorBytes(TorchDispatchMode):
    """Tracks the bytes of the tensors ops create while they are alive, and the peak of that total.

    A tensor counts from the op that creates it until the last reference to it is dropped (a
    ``weakref.finalize`` fires then). Views and in-place results share an existing tensor's memory and
    are not counted again.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live_bytes = 0
        self.peak_bytes = 0

    def track(self, tensor: torch.Tensor) -> None:
        size = tensor.untyped_storage().nbytes()
        self.live_bytes += size
        self.peak_bytes = max(self.peak_bytes, self.live_bytes)
        weakref.finalize(tensor, self._release, size)

    def _release(self, size: int) -> None:
        self.live_bytes -= size

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        # The op's schema says which results alias an input (views, in-place and out= results).
        if not any(result.alias_info is not None for result in func._schema.returns):
            for tensor in pytree.tree_leaves(out):
                if isinstance(tensor, torch.Tensor):
                    self.track(tensor)
        return out


#: In-place ops that only fill a tensor with values (weight initialisation). On a meta tensor they compute
#: nothing, yet the reference kernels torch runs for some of them (``clamp_``, ``erfinv_`` in timm's
#: ``trunc_normal_``) cost seconds per model; building skips them (shape-changing in-place ops still run).
_INIT_OPS = frozenset({
    "uniform_", "normal_", "trunc_normal_", "clamp_", "clamp_min_", "clamp_max_", "erfinv_", "mul_", "add_",
    "sub_", "div_", "fill_", "zero_", "copy_", "exp_", "log_", "bernoulli_", "random_", "fmod_", "abs_",
    "sqrt_", "neg_", "addcmul_", "addcdiv_", "masked_fill_", "fill_diagonal_",
})  # fmt: skip


class SkipInitOnMeta(TorchFunctionMode):
    """Skips the value-filling in-place ops (:data:`_INIT_OPS`) on meta tensors while a model is built."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        target = args[0] if args else None
        if isinstance(target, torch.Tensor) and target.is_meta and getattr(func, "__name__", "") in _INIT_OPS:
            return target
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def parameters_on_meta() -> Iterator[None]:
    """While building, every parameter a module registers goes to the meta device at once (as
    ``accelerate.init_empty_weights`` does); other tensors (buffers, a drop-path schedule a builder reads
    with ``.item()``) stay on the CPU."""
    register = torch.nn.Module.register_parameter

    def register_on_meta(module: torch.nn.Module, name: str, param: torch.nn.Parameter | None) -> None:
        register(module, name, param)
        if param is not None and not param.is_meta:
            module._parameters[name] = torch.nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)

    torch.nn.Module.register_parameter = register_on_meta
    try:
        yield
    finally:
        torch.nn.Module.register_parameter = register


_ELEMENTWISE = frozenset({
    torch.ops.aten.add.Tensor, torch.ops.aten.sub.Tensor, torch.ops.aten.mul.Tensor, torch.ops.aten.div.Tensor,
})  # fmt: skip


def _like(other: object, first: torch.Tensor) -> bool:
    if isinstance(other, torch.Tensor):
        return (other.shape == first.shape and other.dtype == first.dtype and other.is_meta
                and other.stride() == first.stride())  # fmt: skip
    return isinstance(other, (int, float)) and not isinstance(other, bool)


class FastMetaKernels(TorchDispatchMode):
    """Shape-only results of the few ops whose meta kernels are slow Python references, on meta inputs.

    Eval-mode batch norm (``_native_batch_norm_legit_no_training``: ~20 ms a call through its Python
    decomposition, most of a meta forward) returns an output like its input and two empty statistics;
    ``clamp`` of a floating tensor by scalars, and ``add``/``sub``/``mul``/``div`` of a floating tensor with
    scalars or tensors of its exact shape, dtype and strides, return a tensor like it. The shapes, dtypes and
    strides are those the meta kernels give (``tests/test_profile.py`` compares whole profiles; the eval
    statistics are empty, as the CPU kernel returns them, where the Python reference returns C floats), and the
    modes above this one still see each op, so counts and memory are unchanged.
    """

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        first = args[0] if args else None
        if isinstance(first, torch.Tensor) and first.is_meta:
            if func is torch.ops.aten._native_batch_norm_legit_no_training.default:
                stats = first.new_empty((0,))
                return torch.empty_like(first), stats, stats.clone()
            scalar_clamp = func is torch.ops.aten.clamp.default and not kwargs
            if (
                scalar_clamp
                and first.is_floating_point()
                and not any(isinstance(b, torch.Tensor) for b in args[1:])
            ):
                return torch.empty_like(first)
            # same shape, dtype and layout as ``first``: no broadcasting, no type promotion
            plain = func in _ELEMENTWISE and first.is_floating_point() and set(kwargs) <= {"alpha"}
            if plain and all(_like(other, first) for other in args[1:]):
                return torch.empty_like(first)
        return func(*args, **kwargs)


def build_on_meta(name: str, num_classes: int) -> tuple[torch.nn.Module, str]:
    """``zoo.create(name, num_classes=...)`` with every parameter on the meta device, in eval mode.

    Tried in order, cheapest first: everything on meta (``"meta"``); parameters on meta and other tensors
    on the CPU, for a builder that reads tensor values while it builds (``"meta-params"``: timm's MiT
    encoders call ``.item()`` on their drop-path schedule); a real CPU build moved to meta (``"cpu"``).

    Returns:
        The model and how it was built (one of the three strings above).

    Raises:
        Whatever ``zoo.create`` raises for this entry on the CPU (an entry that cannot be built at all).
    """
    from zoo.factory import create

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # frameworks' deprecation chatter
        try:
            with torch.device("meta"), SkipInitOnMeta():
                return create(name, num_classes=num_classes).eval(), "meta"
        except (RuntimeError, NotImplementedError) as error:  # e.g. "Tensor.item() cannot be called on meta"
            logger.debug("%s cannot be built on meta (%s); parameters on meta only", name, error)
        try:
            with parameters_on_meta(), SkipInitOnMeta():
                return create(name, num_classes=num_classes).eval().to("meta"), "meta-params"
        except (RuntimeError, NotImplementedError) as error:
            logger.debug(
                "%s cannot be built with parameters on meta (%s); building it on the CPU", name, error
            )
        return create(name, num_classes=num_classes).eval().to("meta"), "cpu"


def profile_model(model: torch.nn.Module, height: int, width: int, batch_size: int = 1) -> Complexity:
    """Computed complexity of ``model`` for an input ``(batch_size, 3, height, width)``.

    The input is made on the model's device: a model on the meta device costs no computation, a model on
    the CPU runs a real forward (the same counts, slower: the tests compare the two).

    Args:
        model: a segmentation model in eval mode.
        height, width, batch_size: the input shape.

    Returns:
        The :class:`Complexity` (``built_on`` is the device the model's parameters are on).
    """
    device = next(iter(model.parameters()), torch.empty(0)).device
    x = torch.empty(batch_size, 3, height, width, device=device)
    memory = LiveTensorBytes()
    memory.track(x)
    with FastMetaKernels(), memory:
        gflops, uncounted = count_flops(model, x)
    params = sum(p.numel() for p in model.parameters())
    return Complexity(params, gflops, uncounted, memory.peak_bytes / 2**20, device.type)


def profile_entry(
    name: str, sizes: list[tuple[int, int]], num_classes: int, batch_size: int = 1
) -> list[Complexity]:
    """Build entry ``name`` once on meta and profile it at each ``(height, width)`` of ``sizes``."""
    model, built_on = build_on_meta(name, num_classes)
    results = []
    for height, width in sizes:
        figures = profile_model(model, height, width, batch_size)
        results.append(Complexity(figures.params, figures.gflops, figures.uncounted_ops,
                                  figures.peak_activation_mib, built_on))  # fmt: skip
    return results


# ------------------------------------------------------------------------------------------------- the sweep


@dataclass
class ProfileOutcome:
    """What a profile sweep did: the rows it wrote (``ok`` and ``error``), the rows it skipped because the
    store had them (``resume``), and the store it wrote to."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    results: Path = Path("complexity.csv")

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [row for row in self.rows if row["status"] != "ok"]


def evaluation_sizes(datasets: Sequence[str]) -> list[tuple[int, int]]:
    """The distinct evaluation sizes ``(height, width)`` of ``datasets``, in the order first given.

    Raises:
        ValueError: an unknown dataset name (the known ones listed).
    """
    from zoo.datasets.spec import DATASETS

    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        raise ValueError(f"unknown dataset(s) {', '.join(unknown)}; known: {', '.join(DATASETS)}")
    return list(dict.fromkeys(DATASETS[d].eval_size for d in datasets))


def run_profile_sweep(
    patterns: Sequence[str],
    sizes: Sequence[tuple[int, int]],
    results: str | Path,
    *,
    resume: bool = False,
    shard: tuple[int, int] | None = None,
    batch_size: int = 1,
    command: str = "",
    console: Any = None,
) -> ProfileOutcome:
    """Profile every entry ``patterns`` name at each of ``sizes`` and append one row per (entry, size).

    Each entry is built once (:func:`build_on_meta`, with its registry default class count, recorded in
    ``num_classes``) and traced at every size. An entry that cannot be built or traced gets a row with
    ``status = "error"`` and the error, and the sweep goes on. Rows are written one at a time, so an
    interrupted sweep keeps what it did; ``resume`` skips the keys the store has.

    Args:
        patterns: model names or fnmatch patterns (``'*'``: the whole registry).
        sizes: the input sizes ``(height, width)``, e.g. :func:`evaluation_sizes` of some datasets.
        results: the complexity store (``.csv`` or ``.parquet``).
        resume: skip the rows the store already has (same model, size, batch and versions).
        shard: ``(K, N)``: only the entries of shard K of N (:func:`zoo.bench.distributed.shard_jobs`).
        batch_size: the batch of the traced forward.
        command: the command line stored with every row.
        console: a :class:`rich.console.Console` for the progress bar (none without).

    Returns:
        The rows written.

    Raises:
        ResultsFileError: the store exists but cannot be used.
        KeyboardInterrupt: the rows written so far stay whole.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from zoo import __version__
    from zoo.bench.distributed import shard_jobs
    from zoo.bench.environment import environment
    from zoo.registry import REGISTRY
    from zoo.results import ResultsStore
    from zoo.results.schema import COMPLEXITY

    env = environment("cpu")
    store = ResultsStore(Path(results), COMPLEXITY)
    done = store.done_keys() if resume else set()
    names = REGISTRY.expand(patterns)
    if shard is not None:
        names = shard_jobs(names, lambda name: (name,), *shard)
    outcome = ProfileOutcome(results=Path(results))
    date = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def template(name: str, height: int, width: int) -> dict[str, Any]:
        row = dict.fromkeys(COMPLEXITY.columns, "")
        row.update({k: env[k] for k in ("torch_version", "timm_version", "smp_version")})
        row.update(model=name, height=height, width=width, batch_size=batch_size, num_classes=None,
                   params=None, gflops=None, gmacs=None, peak_activation_mib=None, zoo_version=__version__,
                   date=date, command=command, source="computed")  # fmt: skip
        return row

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False, disable=console is None) as progress:
        task = progress.add_task("entries", total=len(names))
        for name in names:
            progress.update(task, description=name)
            todo = [template(name, h, w) for h, w in sizes]
            todo = [row for row in todo if COMPLEXITY.key(row) not in done]
            outcome.skipped += len(sizes) - len(todo)
            if todo:
                outcome.rows += _profile_rows(name, todo, batch_size)
                for row in outcome.rows[-len(todo) :]:
                    store.append(row)
            progress.advance(task)
    return outcome


def _profile_rows(name: str, rows: list[dict[str, Any]], batch_size: int) -> list[dict[str, Any]]:
    """``rows`` (templates of one entry at several sizes) filled in, or marked as errors."""
    from zoo.registry import REGISTRY

    try:
        entry, _ = REGISTRY.resolve(name)
        for row in rows:
            row.update(num_classes=entry.default_num_classes, weights=";".join(entry.tags))
        model, built_on = build_on_meta(name, entry.default_num_classes)
    except KeyboardInterrupt:
        raise
    except Exception as error:  # one entry's failure must not stop the sweep
        return [_error_row(row, "build", error) for row in rows]
    for row in rows:
        try:
            figures = profile_model(model, row["height"], row["width"], batch_size)
        except KeyboardInterrupt:
            raise
        except Exception as error:
            _error_row(row, "trace", error)
            continue
        row.update(status="ok", params=figures.params, gflops=figures.gflops, gmacs=figures.gmacs,
                   peak_activation_mib=figures.peak_activation_mib, uncounted_ops=figures.uncounted_ops,
                   built_on=built_on)  # fmt: skip
    return rows


def _error_row(row: dict[str, Any], stage: str, error: BaseException) -> dict[str, Any]:
    message = " ".join(f"{type(error).__name__}: {error}".split())[:300]
    logger.error("%s %dx%d: cannot %s: %s", row["model"], row["height"], row["width"], stage, message)
    row.update(status="error", error=f"{stage}: {message}")
    return row
