"""Data-parallel evaluation on ``torch.distributed`` and sharded sweeps.

Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) every rank evaluates a contiguous, unpadded slice
of the split (:func:`shard_range`: rank ``r`` of ``W`` gets ``[r*N//W, (r+1)*N//W)``), so no image is counted
twice or missed, whatever ``N`` and ``W`` (``DistributedSampler`` pads the last batch by repeating samples,
which would count them twice). The ranks' confusion matrices are summed with ``all_reduce``; rank 0 alone
writes the row, and only after every rank reported success (:meth:`DistContext.gather`), so a rank that
raises makes the model fail on every rank instead of leaving the others waiting. A rank that dies outright is
caught by ``torchrun`` (it stops the others) and, failing that, by the process group's timeout
(``--dist-timeout``).

A sweep split into jobs (``zoo-bench --shard K/N``) takes every job whose position in the sorted list of job
keys is ``K`` modulo ``N`` (:func:`shard_jobs`), the same on every machine and every Python run.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "DistContext",
    "parse_shard",
    "shard_file_name",
    "shard_jobs",
    "shard_range",
]

T = TypeVar("T")


def shard_range(num_items: int, world_size: int, rank: int) -> range:
    """The indices rank ``rank`` of ``world_size`` evaluates: ``[rank*N//W, (rank+1)*N//W)``.

    The ranges of ranks ``0..W-1`` are contiguous, disjoint and cover ``range(N)`` exactly (no padding; a
    rank gets an empty range when ``N < W``).
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in 0..{world_size - 1} (world size {world_size})")
    if num_items < 0:
        raise ValueError(f"num_items must be at least 0, got {num_items}")
    return range(rank * num_items // world_size, (rank + 1) * num_items // world_size)


# ------------------------------------------------------------------------------------------- sharded sweeps

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)`` with ``K`` 0-based (``0 <= K < N``), as ``SLURM_ARRAY_TASK_ID`` of
    ``--array=0-(N-1)``.

    Raises:
        ValueError: naming the value and the expected range.
    """
    match = _SHARD.match(text)
    if not match:
        raise ValueError(f"--shard {text!r}: expected K/N with integers, K in 0..N-1 (e.g. 3/16)")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1:
        raise ValueError(f"--shard {text!r}: the number of shards N must be at least 1")
    if index >= count:
        raise ValueError(
            f"--shard {text!r}: shard index {index} is out of range; K is 0-based, expected 0..{count - 1}"
        )
    return index, count


def shard_file_name(index: int, count: int, suffix: str = ".csv") -> str:
    """The results file of one shard inside a ``--results`` folder: ``shard-K-of-N.csv``."""
    return f"shard-{index}-of-{count}{suffix}"


SHARD_FILE = re.compile(r"^shard-(\d+)-of-(\d+)\.(csv|parquet)$")


def shard_results_path(results: str, index: int, count: int) -> Path:
    """``--results`` for a shard: a folder (existing, ending with ``/``, or without a ``.csv``/``.parquet``
    suffix) becomes ``<folder>/shard-K-of-N.csv``; a file path is kept as it is."""
    path = Path(results)
    is_folder = (
        path.is_dir() or results.endswith(("/", os.sep)) or path.suffix.lower() not in (".csv", ".parquet")
    )
    return path / shard_file_name(index, count) if is_folder else path


def shard_jobs(jobs: Sequence[T], key: Callable[[T], tuple[str, ...]], index: int, count: int) -> list[T]:
    """The jobs of shard ``index`` (0-based) of ``count``: sort the jobs by ``key`` and take every
    ``count``-th one starting at ``index`` (round robin over the sorted list).

    Depends only on the keys, never on Python's randomised ``hash`` or on the order the jobs were listed in,
    so every shard of a job array picks its part of the same list; the shards are disjoint, their union is
    every job, and their sizes differ by at most one.
    """
    ordered = sorted(jobs, key=key)
    return ordered[index::count]


# ------------------------------------------------------------------------------------------- torch.distributed


@dataclass
class DistContext:
    """Where this process stands in a ``torchrun`` group (``world_size == 1``: not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialised: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> DistContext:
        """Read ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` (set by ``torchrun``); absent means 1, 0, 0."""
        env = os.environ if environ is None else environ
        try:
            world_size = int(env.get("WORLD_SIZE", "1"))
            rank = int(env.get("RANK", "0"))
            local_rank = int(env.get("LOCAL_RANK", str(rank)))
        except ValueError as error:
            raise ValueError(f"WORLD_SIZE, RANK and LOCAL_RANK must be integers: {error}") from None
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"RANK={rank} is not in 0..WORLD_SIZE-1 (WORLD_SIZE={world_size})")
        return cls(rank=rank, world_size=world_size, local_rank=local_rank)

    def device(self, requested: str | None) -> str:
        """The device of this rank: ``cuda:LOCAL_RANK`` when CUDA is available (or ``requested`` is a CUDA
        device), else ``cpu``. Outside a group: ``requested``, or ``cuda`` when available."""
        import torch

        if not self.enabled:
            return requested or ("cuda" if torch.cuda.is_available() else "cpu")
        if requested is not None and not requested.startswith("cuda"):
            return requested
        if torch.cuda.is_available() or requested is not None:
            return f"cuda:{self.local_rank}"
        return "cpu"

    def init(self, device: str, timeout_s: float) -> None:
        """``init_process_group`` with NCCL for CUDA devices, gloo otherwise, and a timeout on every
        collective (a rank that died makes the others fail after ``timeout_s`` instead of waiting forever)."""
        if not self.enabled or self.initialised:
            return
        import torch
        import torch.distributed as dist

        backend = "nccl" if device.startswith("cuda") else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(torch.device(device))
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
        self.initialised = True
        self._device = device

    def close(self) -> None:
        if self.initialised:
            import torch.distributed as dist

            dist.destroy_process_group()
            self.initialised = False

    # collectives: all no-ops outside a group

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (picklable), in rank order, on every rank."""
        if not self.enabled:
            return [value]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, value)
        return out

    def broadcast(self, compute: Callable[[], T]) -> T:
        """``compute()`` run on rank 0 only and its result sent to every rank; an exception raised by it is
        raised on every rank (rank 0 raises the original), so no rank is left waiting for the others."""
        if not self.enabled:
            return compute()
        import torch.distributed as dist

        payload: list[Any] = [None]
        error: BaseException | None = None
        if self.is_main:
            try:
                payload[0] = ("ok", compute())
            except Exception as e:
                error = e
                payload[0] = ("error", f"{type(e).__name__}: {e}")
        dist.broadcast_object_list(payload, src=0)
        status, value = payload[0]
        if status == "error":
            if error is not None:
                raise error
            raise RuntimeError(f"rank 0 failed: {value}")
        return value

    def sum_matrix(self, matrix):
        """The element-wise sum of every rank's confusion matrix (int64, on CPU)."""
        if not self.enabled:
            return matrix
        import torch.distributed as dist

        total = matrix.to(self._device, dtype=matrix.dtype).contiguous()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total.cpu()
