"""The speed sweep behind ``zoo bench speed`` (``zoo-bench speed``): registry models on synthetic input, one
row per (model, batch size, dtype, compile mode, timed region) appended to a speed store.

Models are built without weights (speed does not depend on them). Before any model is built the store is
checked (:meth:`~zoo.results.ResultsStore.preflight`) and the planned rows looked up in it: ``resume`` skips
those stored, ``overwrite`` replaces them, and otherwise the sweep stops before any work. Each row is written
at once; a row the store refuses after all (a disk filled meanwhile) is shown in full and kept in a recovery
file, and the sweep goes on. torch's CPU threads are set (``threads``) and recorded in every row. A batch that does not fit is a row with status ``oom`` and the sweep goes on. A
model or variant that fails otherwise is logged and recorded in :attr:`SpeedOutcome.failures`, and the sweep
goes on. The measuring protocol is described in :mod:`zoo.bench.speed`.

Importing this module does not import torch.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

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
from zoo.registry import REGISTRY

__all__ = ["SYNTHETIC_INPUT", "SpeedOutcome", "SpeedSweepOptions", "config_label", "run_speed_sweep"]

logger = logging.getLogger(__name__)

#: What the ``input`` column of every speed row says was fed to the model.
SYNTHETIC_INPUT = "randn (seeded), on the device"
#: The dataset whose class count applies when neither a dataset nor a count is given.
DEFAULT_CLASSES_OF = "voc"


@dataclass
class SpeedSweepOptions:
    """What one speed sweep measures; the fields are ``zoo bench speed``'s options (defaults included).

    Attributes:
        models: names or fnmatch patterns.
        dataset: sets the input size and class count to its evaluation protocol's (recorded in every row).
        size: ``(height, width)`` of the input (default: ``dataset``'s evaluation size; one of the two is
            needed).
        num_classes: output classes (default: ``dataset``'s, else VOC's 21).
        batch_sizes, dtypes, compile_modes, timed: every combination is measured.
        channels_last, cuda_graphs, tf32: variants applied to every combination (CUDA graphs and TF32 need
            CUDA).
        device: ``cuda``, ``cuda:1``, ``cpu``, ... (default: cuda when available).
        warmup_iters, warmup_seconds, block_iters, block_seconds, blocks, cudnn_benchmark, seed: the measuring
            protocol (:class:`zoo.bench.speed.SpeedConfig`).
        results: the speed store (``.csv`` or ``.parquet``).
        resume: skip the rows the store already has.
        overwrite: replace the rows the store already has (not with ``resume``).
        threads: torch's CPU threads, intra-op and inter-op (default: torch's own default, i.e.
            ``$OMP_NUM_THREADS`` or the number of physical cores), set before the first model and recorded.
        command: the command line stored with every row.
    """

    models: Sequence[str]
    dataset: str | None = None
    size: tuple[int, int] | None = None
    num_classes: int | None = None
    batch_sizes: Sequence[int] = (1,)
    dtypes: Sequence[str] = ("fp32",)
    compile_modes: Sequence[str] = ("none",)
    timed: Sequence[str] = TIMED_REGIONS
    channels_last: bool = False
    cuda_graphs: bool = False
    tf32: bool = False
    device: str | None = None
    warmup_iters: int = WARMUP_ITERS
    warmup_seconds: float = WARMUP_SECONDS
    block_iters: int = BLOCK_ITERS
    block_seconds: float = BLOCK_SECONDS
    blocks: int = BLOCKS
    cudnn_benchmark: bool = True
    seed: int = 0
    results: str = "speed.csv"
    resume: bool = False
    overwrite: bool = False
    threads: int | None = None
    command: str = ""

    def __post_init__(self) -> None:
        from zoo.datasets.spec import DATASETS

        if self.size is None and self.dataset is None:
            raise ValueError("give a dataset (its evaluation size) or a size (height, width)")
        if self.dataset is not None and self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; known: {', '.join(DATASETS)}")
        if min(self.batch_sizes, default=0) < 1 or self.blocks < 1 or self.block_iters < 1:
            raise ValueError("batch sizes, blocks and block_iters must be at least 1")
        if self.num_classes is not None and self.num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {self.num_classes}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")
        if self.resume and self.overwrite:
            raise ValueError("resume skips stored rows and overwrite replaces them: choose one")
        for values, known in (
            (self.dtypes, DTYPES),
            (self.compile_modes, COMPILE_MODES),
            (self.timed, TIMED_REGIONS),
        ):
            if not values or set(values) - set(known):
                raise ValueError(f"{list(values)} must be a non-empty selection of {', '.join(known)}")

    @property
    def input_size(self) -> tuple[int, int]:
        """``(height, width)``: ``size``, else the dataset's evaluation size."""
        from zoo.datasets.spec import DATASETS

        return self.size or DATASETS[self.dataset].eval_size

    @property
    def output_classes(self) -> int:
        """``num_classes``, else the dataset's, else :data:`DEFAULT_CLASSES_OF`'s (VOC's 21)."""
        from zoo.datasets.spec import DATASETS

        return self.num_classes or DATASETS[self.dataset or DEFAULT_CLASSES_OF].num_classes


@dataclass
class SpeedOutcome:
    """What a speed sweep did: the rows it wrote (``ok`` and ``oom``), the ``(what, reason)`` of everything
    that failed, and the store it wrote to."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    results: Path = Path("speed.csv")
    #: rows measured but not stored: ``(row, the recovery file it was kept in, or why not)``
    unsaved: list[tuple[dict[str, Any], str]] = field(default_factory=list)


def open_store(path: str | Path):
    """The speed store the sweep appends to."""
    from zoo.results import SPEED, ResultsStore

    return ResultsStore(Path(path), SPEED)


def config_label(config) -> str:
    """A short readable name of one variant: ``bs8 bf16 compile=default channels_last forward``."""
    extras = [f"compile={config.compile}"] if config.compile != "none" else []
    extras += ["channels_last"] if config.channels_last else []
    extras += ["cuda_graphs"] if config.cuda_graphs else []
    extras += ["tf32"] if config.tf32 else []
    return " ".join([f"bs{config.batch_size}", config.dtype, *extras, config.timed])


def _configs(options: SpeedSweepOptions, device) -> list:
    """Every variant to measure, less those that cannot run here (logged)."""
    from zoo.bench.speed import SpeedConfig

    height, width = options.input_size
    configs = [
        SpeedConfig(
            height=height, width=width, batch_size=batch, dtype=dtype, channels_last=options.channels_last,
            compile=mode, cuda_graphs=options.cuda_graphs, tf32=options.tf32, timed=timed,
            warmup_iters=options.warmup_iters, warmup_seconds=options.warmup_seconds,
            block_iters=options.block_iters, block_seconds=options.block_seconds, blocks=options.blocks,
            cudnn_benchmark=options.cudnn_benchmark, seed=options.seed,
        )
        for batch in options.batch_sizes
        for dtype in options.dtypes
        for mode in options.compile_modes
        for timed in options.timed
    ]  # fmt: skip
    if options.cuda_graphs and device.type != "cuda":
        logger.warning("--cuda-graphs needs a CUDA device; skipped on the %s", device.type.upper())
        return []
    graph_clash = [c for c in configs if c.cuda_graphs and c.compile in ("reduce-overhead", "max-autotune")]
    for mode in sorted({c.compile for c in graph_clash}):
        logger.warning("--compile %s captures CUDA graphs itself; skipped with --cuda-graphs", mode)
    return [c for c in configs if c not in graph_clash]


def run_speed_sweep(options: SpeedSweepOptions, *, console=None) -> SpeedOutcome:
    """Measure every (model, variant) of ``options`` and append a row each to ``options.results``.

    Args:
        options: what to measure, where, how.
        console: a :class:`rich.console.Console` for the progress bar and rows that could not be stored (none
            without: those are logged).

    Returns:
        The rows written, the failures, and the rows measured but not stored.

    Raises:
        DeviceUnavailableError: ``options.device`` does not exist here (before any model is built).
        ResultsFileError: the speed store cannot be read, is in another layout, or cannot be written (before
            any model is built).
        DuplicateResultError: the store already holds planned rows and neither ``resume`` nor ``overwrite``
            was given (before any model is built).
        KeyboardInterrupt: the rows written so far stay whole.
    """
    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from zoo import __version__
    from zoo.bench.environment import environment, environment_id, resolve_device, set_threads
    from zoo.bench.speed import WarmupTracker, is_out_of_memory, measure, reference_labels
    from zoo.bench.sweep import report_unsaved
    from zoo.errors import DuplicateResultError, UnsavedResultError
    from zoo.factory import create
    from zoo.results import SPEED

    device = resolve_device(options.device)  # a missing device stops here, before any model is built
    threads = set_threads(options.threads)
    env = environment(device)
    env_id = environment_id(env)
    num_classes = options.output_classes
    store = open_store(options.results)
    outcome = SpeedOutcome(results=Path(options.results))
    configs = _configs(options, device)

    def template(name: str, config) -> dict[str, Any]:
        row = dict.fromkeys(SPEED.columns)
        row.update({k: v for k, v in config.protocol().items() if k in row})
        row.update({k: v for k, v in env.items() if k in row})
        row.update(model=name, weights="none", dataset=options.dataset or "", num_classes=num_classes,
                   input=SYNTHETIC_INPUT, device=str(device), environment_id=env_id, zoo_version=__version__,
                   date=datetime.now(timezone.utc).isoformat(timespec="seconds"), command=options.command,
                   notes=threads.note, source="measured", threads=threads.threads)  # fmt: skip
        return row

    names = REGISTRY.expand(options.models)
    planned = [template(name, config) for name in names for config in configs]
    report = store.preflight(planned)  # before any model: a store that cannot take the rows stops here
    for note in report.notes:
        logger.warning("%s", note)
    done = set(report.stored)
    if done and not (options.resume or options.overwrite):
        described = sorted(
            {f"{row['model']} bs{row['batch_size']}" for row in planned if SPEED.key(row) in done}
        )
        shown = ", ".join(described[:3]) + (f" and {len(described) - 3} more" if len(described) > 3 else "")
        raise DuplicateResultError(
            f"{options.results} already holds {len(done)} of the {len(planned)} planned row(s) ({shown}); "
            "nothing was run: add --resume to skip them, or --overwrite to replace them"
        )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False, disable=console is None) as progress:
        task = progress.add_task("rows", total=len(names) * len(configs))
        for name in names:
            todo = []
            for config in configs:
                row = template(name, config)
                if SPEED.key(row) in done and options.resume:
                    logger.info("skip %s %s: already in %s", name, config_label(config), options.results)
                    progress.advance(task)
                else:
                    todo.append((config, row))
            if not todo:
                continue
            try:
                entry, _ = REGISTRY.resolve(name)
                torch.manual_seed(options.seed)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)
                    model = create(entry.qualified_name, num_classes=num_classes).to(device).eval()
            except KeyboardInterrupt:
                raise
            except Exception as error:  # one model's failure must not stop the sweep
                outcome.failures.append((name, f"{type(error).__name__}: {error}"))
                logger.error("failed %s: %s", name, error)
                progress.advance(task, len(todo))
                continue
            references: dict[int, Any] = {}
            warmup = WarmupTracker()  # warm once per variant, then per new shape only
            for config, row in todo:
                label = config_label(config)
                progress.update(task, description=f"{name} {label}")
                try:
                    if config.batch_size not in references and not config.is_reference:
                        references[config.batch_size] = reference_labels(model, config, device)
                    row.update(measure(model, config, device, reference=references.get(config.batch_size),
                                       device_name=env["device_name"], warmup=warmup))  # fmt: skip
                    row["status"] = "ok"
                except KeyboardInterrupt:
                    raise
                except Exception as error:
                    if not is_out_of_memory(error):
                        outcome.failures.append((f"{name} {label}", f"{type(error).__name__}: {error}"))
                        logger.error("failed %s %s: %s", name, label, error)
                        progress.advance(task)
                        _free(device)
                        continue
                    row.update(status="oom", notes=f"out of memory: {str(error).splitlines()[0][:200]}")
                    logger.warning("oom %s %s", name, label)
                    _free(device)
                progress.advance(task)
                try:
                    store.append(row, overwrite=options.overwrite)
                except (UnsavedResultError, DuplicateResultError) as error:
                    report_unsaved(error, row, console)
                    kept = str(getattr(error, "recovery_path", None) or error)
                    outcome.unsaved.append((row, kept))
                    outcome.failures.append((f"{name} {label}", f"measured but not stored: {kept}"))
                    continue
                outcome.rows.append(row)
            del model, references, warmup
            _free(device)
    return outcome


def _free(device) -> None:
    import gc

    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
