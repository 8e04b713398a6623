"""Build a model for its shapes only: parameter counts, output shapes, what a constructor accepts.

:func:`shapes_only` is ``torch.device("meta")`` for constructors that compute with tensors while building
(``torch.linspace(0, rate, n)[i].item()`` for drop-path rates, as in MiT/SegFormer): those tensors stay on
the CPU, while parameters and buffers go to the meta device as they are registered and their in-place
initialisation is skipped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def shapes_only() -> Iterator[None]:
    """Modules built inside this context hold ``meta`` tensors and skip in-place initialisation.

    Parameters and buffers are moved to the ``meta`` device as they are registered (what
    ``accelerate.init_empty_weights`` does), so nothing is allocated; in-place operations on meta tensors
    (``uniform_``, ``trunc_normal_``'s ``erfinv_``/``clamp_``...) return at once, since meta kernels run
    through slow Python references and their results are never read. Tensors a constructor makes for its
    own arithmetic (``torch.linspace(...).item()`` for drop-path rates) stay on the CPU, so it still runs.

    It patches ``nn.Module.register_parameter``/``register_buffer`` for its duration: not thread-safe.
    """
    import torch
    from torch import nn
    from torch.overrides import TorchFunctionMode

    class SkipInPlaceOnMeta(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", "")
            in_place = name.endswith("_") and not name.startswith("_")
            if in_place and args and isinstance(args[0], torch.Tensor) and args[0].is_meta:
                return args[0]
            return func(*args, **(kwargs or {}))

    meta = torch.device("meta")
    register_parameter, register_buffer = nn.Module.register_parameter, nn.Module.register_buffer

    def parameter_on_meta(module, name, param):
        if param is not None:
            param = nn.Parameter(param.to(meta), requires_grad=param.requires_grad)
        register_parameter(module, name, param)

    def buffer_on_meta(module, name, tensor, persistent=True):
        register_buffer(module, name, None if tensor is None else tensor.to(meta), persistent)

    nn.Module.register_parameter, nn.Module.register_buffer = parameter_on_meta, buffer_on_meta
    try:
        with SkipInPlaceOnMeta():
            yield
    finally:
        nn.Module.register_parameter, nn.Module.register_buffer = register_parameter, register_buffer
