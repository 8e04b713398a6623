"""The speed results store: one append-only table of measured speed rows (``zoo-bench speed``).

Same guarantees as :class:`zoo.bench.results.ResultsStore`, whose reading, atomic writing and locking it
reuses: every append rewrites the file atomically, a malformed file is never overwritten, and the store holds
at most one row per :data:`SPEED_KEY_COLUMNS`, so ``--resume`` skips :meth:`SpeedStore.done_keys` and a rerun
never duplicates a row. There is no per-class companion file. Speed figures from different hardware never
share a row: ``environment_id`` is part of the key.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from zoo.bench.results import ResultsStore, _column_problems, _normalise, _typed_frame
from zoo.errors import DuplicateResultError

__all__ = [
    "SPEED_COLUMNS",
    "SPEED_FLOAT_COLUMNS",
    "SPEED_INT_COLUMNS",
    "SPEED_KEY_COLUMNS",
    "SpeedStore",
    "speed_row_key",
]

SPEED_KEY_COLUMNS: tuple[str, ...] = (
    "model", "height", "width", "batch_size", "dtype", "channels_last", "compile", "cuda_graphs", "tf32",
    "timed", "environment_id",
)  # fmt: skip

#: Every column of a speed row, in display order (see :func:`zoo.bench.speed.measure` for the measured ones).
SPEED_COLUMNS: list[str] = [
    # what was measured
    "model", "weights", "dataset", "num_classes", "height", "width", "batch_size", "dtype", "channels_last",
    "compile", "cuda_graphs", "tf32", "timed", "status",
    # the figures
    "images_per_s", "images_per_s_min", "images_per_s_max", "latency_ms_p50", "latency_ms_p90",
    "latency_ms_p99", "latency_per", "peak_memory_mib", "params", "gmacs_per_image", "gflops_per_image",
    "uncounted_ops", "tflops_achieved", "peak_tflops", "peak_tflops_key", "peak_tflops_source", "mfu",
    "argmax_disagreement", "correctness", "first_call_s",
    # the protocol
    "input", "seed", "warmup_iters", "warmup_seconds", "warmup_iters_run", "warmup_s_run", "block_iters",
    "block_seconds", "block_iters_run", "blocks", "cudnn_benchmark", "max_disagreement",
    # the environment
    "device", "device_type", "device_name", "driver_version", "cpu_cores", "torch_version", "cuda_version",
    "cudnn_version", "zoo_version", "timm_version", "smp_version", "torchvision_version", "environment_id",
    "date", "command", "notes", "source",
]  # fmt: skip

SPEED_FLOAT_COLUMNS: tuple[str, ...] = (
    "images_per_s", "images_per_s_min", "images_per_s_max", "latency_ms_p50", "latency_ms_p90",
    "latency_ms_p99", "peak_memory_mib", "gmacs_per_image", "gflops_per_image", "tflops_achieved",
    "peak_tflops", "mfu", "argmax_disagreement", "first_call_s", "warmup_seconds", "warmup_s_run",
    "block_seconds", "max_disagreement",
)  # fmt: skip
SPEED_INT_COLUMNS: tuple[str, ...] = (
    "num_classes", "height", "width", "batch_size", "params", "seed", "warmup_iters", "warmup_iters_run",
    "block_iters", "block_iters_run", "blocks",
)  # fmt: skip

_SOURCE = "measured"


def _key_str(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    return str(value)


def speed_row_key(row: Mapping[str, Any]) -> tuple[str, ...]:
    """The key of a speed row: its :data:`SPEED_KEY_COLUMNS` as strings (``1``, ``"True"``), in order."""
    missing = [c for c in SPEED_KEY_COLUMNS if c not in row]
    if missing:
        raise ValueError(f"speed row lacks key column(s): {', '.join(missing)}")
    return tuple(_key_str(row[c]) for c in SPEED_KEY_COLUMNS)


class SpeedStore(ResultsStore):
    """An append-only speed table at ``path``, CSV unless the path ends with ``.parquet``."""

    def __repr__(self) -> str:
        return f"SpeedStore({str(self.path)!r})"

    def read(self) -> pd.DataFrame:
        """The rows with exactly :data:`SPEED_COLUMNS`; empty when the file does not exist.

        Raises:
            ResultsFileError: the file cannot be parsed, has other columns, a wrong value or duplicate keys.
        """
        return self._read(
            self.path, SPEED_COLUMNS, SPEED_FLOAT_COLUMNS, SPEED_INT_COLUMNS, unique=SPEED_KEY_COLUMNS
        )

    def read_per_class(self) -> pd.DataFrame:
        raise NotImplementedError("speed rows have no per-class values")

    def done_keys(self) -> set[tuple[str, ...]]:
        """The keys (see :func:`speed_row_key`) of every stored row: what ``--resume`` skips."""
        df = self.read()
        return {speed_row_key(dict(zip(SPEED_KEY_COLUMNS, k, strict=True)))
                for k in df.loc[:, list(SPEED_KEY_COLUMNS)].itertuples(index=False, name=None)}  # fmt: skip

    def has(self, row_or_key: Mapping[str, Any] | Sequence[Any]) -> bool:
        """Whether the store holds a row with this key; accepts a row (any mapping) or a key tuple."""
        if isinstance(row_or_key, Mapping):
            key = speed_row_key(row_or_key)
        else:
            if isinstance(row_or_key, str) or len(row_or_key) != len(SPEED_KEY_COLUMNS):
                raise ValueError(f"a key has {len(SPEED_KEY_COLUMNS)} values {SPEED_KEY_COLUMNS}")
            key = tuple(_key_str(v) for v in row_or_key)
        return key in self.done_keys()

    def append(self, row: Mapping[str, Any], per_class: Sequence[Mapping[str, Any]] | None = None) -> None:
        """Add one measured speed row atomically.

        Args:
            row: exactly the keys :data:`SPEED_COLUMNS`; float columns take numbers or ``None`` (NaN), integer
                columns integers or ``None``, the rest strings (numbers and bools are converted with ``str``).
                ``source`` must be ``"measured"``.
            per_class: must be ``None`` (kept for the signature of :meth:`ResultsStore.append`).

        Raises:
            ValueError: missing or unknown columns, a wrong type, or another source.
            DuplicateResultError: the store already holds a row with this key.
            ResultsFileError: the existing file is malformed; nothing is written.
        """
        if per_class is not None:
            raise ValueError("speed rows have no per-class values")
        problems = _column_problems(row, SPEED_COLUMNS, "unknown")
        if problems:
            raise ValueError(f"speed row: {problems}")
        new = _normalise(row, SPEED_COLUMNS, SPEED_FLOAT_COLUMNS, SPEED_INT_COLUMNS)
        if new["source"] != _SOURCE:
            raise ValueError(f"speed row: source must be {_SOURCE!r}, got {new['source']!r}")
        key = speed_row_key(new)
        with self._lock():
            table = self.read()  # validates the file before anything is written
            if key in self.done_keys():
                raise DuplicateResultError(
                    f"{self.path} already holds a speed row for {dict(zip(SPEED_KEY_COLUMNS, key, strict=True))}"
                )
            added = _typed_frame(
                pd.DataFrame([new], columns=SPEED_COLUMNS),
                SPEED_COLUMNS,
                SPEED_FLOAT_COLUMNS,
                SPEED_INT_COLUMNS,
            )
            merged = pd.concat([table, added], ignore_index=True) if len(table) else added
            self._write(
                self.path, _typed_frame(merged, SPEED_COLUMNS, SPEED_FLOAT_COLUMNS, SPEED_INT_COLUMNS)
            )
