"""The environment fingerprint stored with every benchmark result.

Two results are only comparable when they were produced by the same software on the same hardware, so
every row of the results store carries :func:`environment_id`, a short hash over the fields that can change
the numbers, and the readable fields themselves. :func:`resolve_device` turns a ``--device`` value into a
device this machine has, or refuses it before any model is built.

CPU speed depends on how many threads torch uses (on a loaded 2-core machine the same evaluation ran 31.9x
slower with torch's default two threads than with one), so the harness sets them explicitly with
:func:`set_threads` (``--threads``), every row records them, and they are part of the environment id of a
CPU row.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import platform
from dataclasses import dataclass

import torch

from zoo.errors import DeviceUnavailableError

__all__ = [
    "CPU_ENVIRONMENT_ID_FIELDS",
    "ENVIRONMENT_ID_FIELDS",
    "DeviceUnavailableError",
    "ThreadSettings",
    "default_threads",
    "environment",
    "environment_id",
    "resolve_device",
    "set_threads",
]

logger = logging.getLogger(__name__)


ENVIRONMENT_ID_FIELDS: tuple[str, ...] = (
    "device_type",
    "device_name",
    "torch_version",
    "cuda_version",
    "cudnn_version",
    "zoo_version",
    "timm_version",
    "smp_version",
    "torchvision_version",
)

#: Fields that are part of the id of a CPU result only: the intra-op thread count changes CPU figures (speed,
#: and in the last bits accuracy), while a GPU result does not depend on it; leaving it out of GPU ids keeps
#: them what they were before threads were recorded.
CPU_ENVIRONMENT_ID_FIELDS: tuple[str, ...] = ("threads",)

# Distribution names looked up with importlib.metadata; never imported (importing timm or smp costs seconds).
_DISTRIBUTIONS = {
    "zoo_version": "zoo",
    "timm_version": "timm",
    "smp_version": "segmentation-models-pytorch",
    "torchvision_version": "torchvision",
}


def _distribution_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return ""


def _cpu_model() -> str:
    # /proc/cpuinfo names the model on Linux x86 ("model name"); platform.processor() is often just "x86_64" or
    # empty there, so it is only the fallback (macOS, Windows, ARM boards without "model name").
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _nvidia_driver_version() -> str:
    # torch does not expose the driver version; NVML does when nvidia-ml-py happens to be installed.
    # Anything going wrong here must not stop a benchmark, hence the broad except.
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetDriverVersion()
        finally:
            pynvml.nvmlShutdown()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:
        return ""


def environment(device: str | torch.device = "cpu") -> dict[str, str]:
    """Describe the software and hardware a benchmark runs on.

    Args:
        device: the device the model runs on (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``torch.device(...)``).
            For CUDA the device name is the GPU's (``torch.cuda.get_device_name``); for every other device
            type it is the CPU model followed by the logical core count, e.g. ``"AMD EPYC 7763 (16 cores)"``,
            because CPU speed figures depend on both.

    Returns:
        A dict whose values are all strings (``""`` where a value is unknown or does not apply) with the keys
        ``device_type``, ``device_name``, ``cpu_cores``, ``driver_version`` (NVIDIA driver, only when
        ``pynvml`` is importable), ``torch_version``, ``cuda_version`` (``torch.version.cuda``: the CUDA
        torch was built with), ``cudnn_version``, ``zoo_version``, ``timm_version``, ``smp_version``,
        ``torchvision_version`` (installed distribution versions; the packages are not imported),
        ``python_version``, ``platform`` and ``threads`` (``torch.get_num_threads()`` now: set it first with
        :func:`set_threads`). The key names match the results store's columns where the two
        overlap, so a harness can copy them over.
    """
    dev = torch.device(device)
    cores = os.cpu_count() or 0
    driver = ""
    if dev.type == "cuda":
        device_name = torch.cuda.get_device_name(dev)
        driver = _nvidia_driver_version()
    else:
        device_name = f"{_cpu_model()} ({cores} cores)"
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    env = {
        "device_type": dev.type,
        "device_name": device_name,
        "cpu_cores": str(cores),
        "driver_version": driver,
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda or "",
        "cudnn_version": "" if cudnn is None else str(cudnn),
        **{key: _distribution_version(dist) for key, dist in _DISTRIBUTIONS.items()},
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
    }
    return {key: str(value) for key, value in env.items()}


def environment_id(env: dict[str, str]) -> str:
    """A short stable identifier of the parts of ``env`` that can change a result.

    It is the first 12 hex digits of the SHA-256 of the JSON of the sorted ``(field, value)`` pairs of
    :data:`ENVIRONMENT_ID_FIELDS` (a missing field counts as ``""``). Equal environments always give the same
    id, across processes and machines; a different device, torch, CUDA, cuDNN, zoo, timm, smp or torchvision
    version gives a different one, and for a CPU device (``device_type == "cpu"``) so does a different
    thread count (:data:`CPU_ENVIRONMENT_ID_FIELDS`). Other fields (python version, platform, driver) are
    ignored.
    """
    fields = ENVIRONMENT_ID_FIELDS
    if env.get("device_type") == "cpu":
        fields += CPU_ENVIRONMENT_ID_FIELDS
    items = sorted((field, str(env.get(field, ""))) for field in fields)
    # JSON rather than str(): an unambiguous encoding that does not depend on Python's repr rules.
    payload = json.dumps(items, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return hashlib.sha256(payload).hexdigest()[:12]


def resolve_device(requested: str | torch.device | None = None) -> torch.device:
    """The device a benchmark runs on: ``requested`` once checked to exist here, or by default ``cuda`` when
    available, else ``cpu``.

    Checking first turns what would be a traceback deep inside the first model's ``.to(device)`` (or worse,
    a CPU run stored as if measured elsewhere) into one line before anything is built.

    Args:
        requested: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"xpu"``, ... or ``None`` for the default.

    Returns:
        The :class:`torch.device`.

    Raises:
        DeviceUnavailableError: ``requested`` is not a torch device string, its type is not available on this
            machine or in this torch build, or its index is beyond the devices present.
    """
    if requested is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = str(requested)
    try:
        device = torch.device(requested)
    except (RuntimeError, ValueError, TypeError):
        raise DeviceUnavailableError(
            f"device {name!r} is not a torch device; expected cpu, cuda, cuda:N, mps or xpu:N"
        ) from None
    if device.type == "cpu":
        return device
    if device.type == "meta":
        raise DeviceUnavailableError(
            "device 'meta' holds shapes only and computes no values; use cpu or cuda"
        )
    # torch.cuda, torch.xpu, torch.mps, ...: a backend module with is_available() (and device_count())
    backend = torch.backends.mps if device.type == "mps" else getattr(torch, device.type, None)
    is_available = getattr(backend, "is_available", None)
    if not callable(is_available) or not is_available():
        if device.type == "cuda" and torch.version.cuda is None:
            why = f"torch {torch.__version__} was built without CUDA"
        elif device.type == "cuda":
            why = "no NVIDIA driver or no visible GPU (check nvidia-smi and CUDA_VISIBLE_DEVICES)"
        elif device.type == "mps":
            why = "MPS needs Apple silicon and a torch built with MPS"
        else:
            why = f"this torch has no working {device.type!r} backend on this machine"
        raise DeviceUnavailableError(f"device {name!r} is not available: {why}; use --device cpu")
    count = getattr(backend, "device_count", None)
    if device.index is not None and callable(count) and device.index >= count():
        raise DeviceUnavailableError(
            f"device {name!r} is not available: this machine has {count()} {device.type} device(s), "
            f"numbered 0..{count() - 1}"
        )
    return device


@dataclass(frozen=True)
class ThreadSettings:
    """The CPU threads torch uses, as :func:`set_threads` left them.

    Attributes:
        threads: intra-op threads (``torch.get_num_threads()``): what parallelises one convolution.
        interop_threads: inter-op threads (``torch.get_num_interop_threads()``).
        note: why ``interop_threads`` differs from what was asked, else ``""``.
    """

    threads: int
    interop_threads: int
    note: str = ""


_torch_default_threads: int | None = None


def default_threads() -> int:
    """The thread count ``--threads`` defaults to: torch's own default in this process, i.e.
    ``$OMP_NUM_THREADS`` when set, else the number of physical cores; read once, before zoo first changes it,
    so that a second sweep in one process gets the same default."""
    global _torch_default_threads
    if _torch_default_threads is None:
        _torch_default_threads = torch.get_num_threads()
    return _torch_default_threads


def set_threads(threads: int | None = None) -> ThreadSettings:
    """Set torch's intra-op and inter-op CPU threads to ``threads`` (default: :func:`default_threads`).

    Inter-op threads can be set only once per process, before any inter-op work starts; when that moment has
    passed (a second sweep in one process, a notebook), they stay as they are and :attr:`ThreadSettings.note`
    says so. Intra-op threads, which are what a model's forward uses, are always set.

    Raises:
        ValueError: ``threads`` is less than 1.
    """
    wanted = default_threads() if threads is None else threads
    if wanted < 1:
        raise ValueError(f"threads must be at least 1, got {wanted}")
    torch.set_num_threads(wanted)
    note = ""
    if torch.get_num_interop_threads() != wanted:
        try:
            torch.set_num_interop_threads(wanted)
        except RuntimeError:  # "cannot set number of interop threads after parallel work has started"
            note = (
                f"inter-op threads stay at {torch.get_num_interop_threads()} (torch sets them once per "
                "process); intra-op threads, which a forward uses, are set"
            )
            logger.debug(note)
    return ThreadSettings(torch.get_num_threads(), torch.get_num_interop_threads(), note)
