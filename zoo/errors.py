"""Every error and warning zoo raises on purpose, and the exit codes the commands map them to.

One root: every expected failure is a :class:`ZooError` whose message is one line naming the file, value or
name at fault, what was expected and how to fix it. The commands turn a ``ZooError`` into that line and
:data:`EXIT_USAGE` (see :func:`zoo.cli.app.run_command`); anything else escaping a command is a bug.

Where callers already catch a standard base (``except ValueError`` around a dataset, ``except LookupError``
around a name), the error keeps it as a second base, so both ``except`` clauses work.

This module imports nothing from zoo, so any module may import it.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Exit codes of ``zoo``, ``zoo-bench`` and every sub-command (documented in the README).
EXIT_OK = 0
#: Some models (or shards, rows) failed; the others were evaluated and written.
EXIT_FAILED = 1
#: Unusable arguments, data, results store or environment; nothing was computed.
EXIT_USAGE = 2
#: Interrupted (Ctrl-C / SIGINT); what was written stays whole.
EXIT_INTERRUPTED = 130


class ZooError(Exception):
    """Base of every error zoo raises on purpose; the message is one line a user can act on."""

    exit_code: int = EXIT_USAGE


# --- registry and models -------------------------------------------------------------------------------------


class UnknownModelError(ZooError, LookupError):
    """A model name that is not in the registry; the message lists the closest names."""


class UnknownWeightsError(ZooError, LookupError):
    """A weights tag the model does not have; the message lists the tags it has."""


class WeightsMismatchError(ZooError):
    """A checkpoint does not fit the model it is loaded into; the message lists the first differing keys."""


class UnexpectedArgumentError(ZooError, TypeError):
    """A keyword :func:`create` and the entry's builder do not take; the message names it and the accepted ones."""


class InvalidArgumentError(ZooError, ValueError):
    """An argument of ``zoo.create`` or a builder whose value cannot be used: a ``num_classes`` that is not a
    positive int, or weight choices that contradict each other; the message names it."""


# --- weights: download, cache, checkpoints ------------------------------------------------------------------


class DownloadError(ZooError):
    """A file could not be downloaded, or what was downloaded is not what its record names."""


class ChecksumError(DownloadError):
    """A file's sha256 or size differs from its record; the message names the file and both digests."""


class OfflineError(ZooError):
    """A file is needed that is not cached and the network may not (or cannot) be used."""


class UnsafeCheckpointError(ZooError):
    """A checkpoint that would run code when loaded (a pickle with non-tensor globals)."""


class UnsafeArchiveError(DownloadError):
    """A dataset archive with a member that would be written outside the target folder (or a link)."""


class CorruptCheckpointError(ZooError):
    """A file that is not a whole checkpoint: empty, an HTML page, truncated or damaged.

    The message names the file, says what is wrong with it and suggests deleting it and downloading it again.
    ``reason`` holds what is wrong, without the file name, for callers that word their own message.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        reason: str,
        advice: str = "Delete it and download it again (or save it again, if you made it)",
    ) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path} is not a usable checkpoint: {reason}. {advice}")


class CheckpointNotFoundError(ZooError, FileNotFoundError):
    """A checkpoint path that does not exist (or is not a file)."""


class CorruptArchiveError(DownloadError):
    """A dataset archive that is not whole: cut short, spliced, not an archive at all, or a member failing its
    CRC. The message names the archive, says what is wrong with it and what to do (delete it and download it
    again); ``reason`` holds what is wrong, without the file name, for callers that word their own message.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        reason: str,
        advice: str = "Delete it and download it again",
        kind: str = "",
    ) -> None:
        self.path = Path(path)
        self.reason = reason
        self.kind = kind
        super().__init__(f"{path} is not a whole {kind + ' ' if kind else ''}archive: {reason}. {advice}")


# --- datasets ------------------------------------------------------------------------------------------------


class DatasetError(ZooError, ValueError):
    """A dataset on disk does not match its official layout or label space; the message names the file."""


# --- results stores ------------------------------------------------------------------------------------------


class ResultsFileError(ZooError):
    """A results file exists but cannot be used (unparseable, wrong columns, bad values, duplicate keys).

    The message names the file and what is wrong. The store never overwrites such a file.
    """


class DuplicateResultError(ZooError, ValueError):
    """The store already holds a row with this key."""


class MergeError(ZooError):
    """Shards cannot be merged as they are; the message lists every problem found.

    ``exit_code`` is :data:`EXIT_FAILED` for a refusal (missing shards, conflicts) and :data:`EXIT_USAGE`
    for unusable input (no shards).
    """

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ResultsFolderError(ResultsFileError):
    """The results folder to render from is missing, not a folder, or holds no file at all.

    A subclass of :class:`ResultsFileError`, so that whatever handles a bad results file handles it too.
    """


class UnsavedResultError(ResultsFileError):
    """A measured row could not be written to its store; it was saved to :attr:`recovery_path` instead (or,
    where no file could be written, the message carries it as JSON). The message says how to restore it."""

    def __init__(self, message: str, recovery_path: Path | None = None) -> None:
        super().__init__(message)
        self.recovery_path = recovery_path


# --- inference --------------------------------------------------------------------------------------------


class InferenceError(ZooError, ValueError):
    """Inference cannot run as asked: an unusable image, protocol, TTA mode or model output."""


class ProtocolVariantError(ZooError, ValueError):
    """An evaluation-protocol variant (``--protocol NAME``) that is not defined for a weight's protocol."""


# --- command line -----------------------------------------------------------------------------------------


class UsageError(ZooError, ValueError):
    """Command-line arguments that parse but do not fit together (``--size`` and ``--dataset`` both missing,
    a malformed ``--shard``, a bad torchrun environment); the message names the flag and the value."""


class DeviceUnavailableError(ZooError):
    """A device that is not a torch device, or that this machine (or this torch build) does not have."""


#: The fields of :func:`environment` that can change a measured number (accuracy or speed). Python version and
#: OS string are recorded but left out: they do not change what the model computes, and hashing them would
#: split otherwise identical results into separate rows. ``device_type`` is in because the same machine's CPU
#: and accelerator give different numbers while sharing the CPU model string.


# --- warnings ------------------------------------------------------------------------------------------------


class ZooDeprecationWarning(FutureWarning):
    """A name or argument that still works but will go; the message says what to use instead."""


class ZooPluginWarning(UserWarning):
    """A plugin (entry point) failed to load; the rest of the registry works."""


class UnverifiedWeightsWarning(UserWarning):
    """Weights loaded from a file whose record has no checksum to verify it against."""


class ClassifierReinitializedWarning(UserWarning):
    """Weights for N classes loaded into a model of M != N classes: the classifier was re-initialised."""
