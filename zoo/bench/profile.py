"""Complexity of a registry entry, computed from its architecture: parameters, FLOPs and peak activation memory.

These figures are *computed*, not measured: they depend only on the architecture, the input shape and the
versions of zoo, torch, timm and smp that built it, never on the machine. They are exact anywhere, so the
whole registry can be profiled on a CPU in minutes:

* The model is built on the ``meta`` device (parameters have shapes and no storage, so nothing is
  initialised) and a forward runs on a meta input of the real shape: every op computes only output shapes.
  A builder that reads a tensor's value while it builds (``Tensor.item()``, as timm's MiT encoders do for
  their drop-path schedule) is built on the CPU and moved to meta instead (``built_on = "cpu"``).
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

import logging
import warnings
import weakref
from dataclasses import dataclass

import torch
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

from zoo.bench.speed import count_flops

logger = logging.getLogger(__name__)

__all__ = ["Complexity", "build_on_meta", "profile_entry", "profile_model"]


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


def build_on_meta(name: str, num_classes: int) -> tuple[torch.nn.Module, str]:
    """``zoo.create(name, num_classes=...)`` with every parameter on the meta device, in eval mode.

    Returns:
        The model and where it was built: ``"meta"``, or ``"cpu"`` for a builder that reads tensor values
        while it builds (then the model is built for real and moved to meta).

    Raises:
        Whatever ``zoo.create`` raises for this entry on the CPU (an entry that cannot be built at all).
    """
    from zoo.factory import create

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # frameworks' deprecation chatter
        try:
            with torch.device("meta"):
                return create(name, num_classes=num_classes).eval(), "meta"
        except (RuntimeError, NotImplementedError) as error:  # e.g. "Tensor.item() cannot be called on meta"
            logger.debug("%s cannot be built on meta (%s); building it on the CPU", name, error)
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
    with memory:
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
