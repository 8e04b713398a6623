"""Every error and warning zoo raises on purpose, and the exit codes the commands map them to.

One root: every expected failure is a :class:`ZooError` whose message is one line naming the file, value or
name at fault, what was expected and how to fix it. The commands turn a ``ZooError`` into that line and
:data:`EXIT_USAGE` (see :func:`zoo.cli.app.run_command`); anything else escaping a command is a bug.

Where callers already catch a standard base (``except ValueError`` around a dataset, ``except LookupError``
around a name), the error keeps it as a second base, so both ``except`` clauses work.

This module imports nothing from zoo, so any module may import it.
"""

from __future__ import annotations

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


# --- warnings ------------------------------------------------------------------------------------------------


class ZooDeprecationWarning(FutureWarning):
    """A name or argument that still works but will go; the message says what to use instead."""


class ZooPluginWarning(UserWarning):
    """A plugin (entry point) failed to load; the rest of the registry works."""


class UnverifiedWeightsWarning(UserWarning):
    """Weights loaded from a file whose record has no checksum to verify it against."""


class ClassifierReinitializedWarning(UserWarning):
    """Weights for N classes loaded into a model of M != N classes: the classifier was re-initialised."""
