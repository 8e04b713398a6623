"""The model registry: names -> builders and weight records.

Names are ``{architecture}-{encoder}`` with an optional ``.{weights-tag}``: ``deeplabv3plus-resnet101``,
``unet-efficientnet-b3``, ``deeplabv3-resnet101.coco_voc``. Architecture names never contain a hyphen, so
the first hyphen always ends the architecture and the encoder may contain hyphens of its own. A trailing
``.tag`` is a weights tag only when the entry before it has weights of that tag; otherwise the dot belongs
to the encoder (timm names such as ``tu-convnext_tiny.fb_in1k`` carry one).

Several families may offer the same name (smp's DeepLabV3 and torchvision's deeplabv3 both exist on
resnet101). A bare name resolves to the family of the highest priority, ``torchvision`` (30) > ``classic``
(20) > ``smp`` (10) > plugins (0 unless they say otherwise): the fixed reference implementation with
published weights wins over the generic encoder-decoder composition. Every entry stays reachable by its
qualified name ``family:name`` (``smp:deeplabv3-resnet101``), and ``list_models`` shows the shadowed ones
qualified.

Nothing here imports torch: listing and describing models stays fast, builders import what they need.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata
from typing import Any

from zoo.errors import (
    UnknownModelError,
    UnknownWeightsError,
    ZooDeprecationWarning,
    ZooPluginWarning,
)
from zoo.weights import WeightRecord

ENTRY_POINT_GROUP = "zoo.models"

FAMILY_PRIORITY = {"torchvision": 30, "classic": 20, "smp": 10}

# Spellings people type for an architecture, after lower-casing and dropping '_' and ' ', and '+' -> 'plus'.
_ARCHITECTURE_ALIASES = {
    "unetpp": "unetplusplus",
    "nestedunet": "unetplusplus",
    "deeplabv3p": "deeplabv3plus",
    "deeplabplus": "deeplabv3plus",
    "psp": "pspnet",
    "mitsegformer": "segformer",
}

_ARCHITECTURE_NAME = re.compile(r"^[a-z0-9]+$")
_ENCODER_NAME = re.compile(r"^[a-z0-9_][a-z0-9_.\-]*$")


def normalize_architecture(text: str) -> str:
    """Canonical architecture name for a spelling people type: ``DeepLabV3+`` -> ``deeplabv3plus``."""
    key = text.strip().lower().replace("+", "plus").replace("_", "").replace(" ", "")
    return _ARCHITECTURE_ALIASES.get(key, key)


def natural_key(text: str) -> list[Any]:
    """Sort key that orders ``mit_b2`` before ``mit_b10`` and ``resnet18`` before ``resnet101``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text.lower())]


@dataclass(frozen=True)
class ModelEntry:
    """One buildable model: an architecture on an encoder, from one family of builders.

    Attributes:
        architecture: canonical architecture name (no hyphen), e.g. ``deeplabv3plus``.
        encoder: encoder name as its family spells it, e.g. ``resnet101``, ``efficientnet-b3``.
        family: where the builder comes from: ``smp``, ``torchvision``, ``classic`` or a plugin's name.
        builder: ``builder(num_classes=..., **kwargs) -> torch.nn.Module``; imports its framework lazily.
        paper: the architecture's reference (a URL to the paper).
        weights: the pretrained weight records, the first one being the default.
        priority: decides which family a bare name means when several offer it (highest wins).
        default_num_classes: output channels when neither ``num_classes`` nor weights say otherwise.
        description: one line for tables.
    """

    architecture: str
    encoder: str
    family: str
    builder: Callable[..., Any] = field(repr=False, compare=False)
    paper: str = ""
    weights: tuple[WeightRecord, ...] = ()
    priority: int = 0
    default_num_classes: int = 21
    description: str = ""

    @property
    def name(self) -> str:
        return f"{self.architecture}-{self.encoder}"

    @property
    def qualified_name(self) -> str:
        return f"{self.family}:{self.name}"

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(w.tag for w in self.weights)

    def get_weights(self, tag: str) -> WeightRecord:
        """The weight record of this tag; :class:`UnknownWeightsError` lists the tags there are."""
        for record in self.weights:
            if record.tag == tag:
                return record
        known = ", ".join(self.tags) or "none"
        raise UnknownWeightsError(f"{self.name} has no weights tagged {tag!r}; its weights: {known}")


Resolver = Callable[[str, str], "ModelEntry | None"]
Enumerator = Callable[[], Iterable[str]]


class Registry:
    """Names -> :class:`ModelEntry`. Built-in families and entry-point plugins are loaded on first use."""

    def __init__(self, *, builtin_modules: Sequence[str] = (), entry_point_group: str | None = None):
        self._entries: dict[str, list[ModelEntry]] = {}
        self._renamed: dict[str, str] = {}
        self._resolvers: list[tuple[str, Resolver]] = []
        self._enumerators: list[Enumerator] = []
        self._builtin_modules = tuple(builtin_modules)
        self._entry_point_group = entry_point_group
        self._loaded = False
        self.failed_plugins: dict[str, str] = {}

    # -- registration -------------------------------------------------------------------------------

    def register(self, entry: ModelEntry) -> ModelEntry:
        """Add an entry. Raises :class:`ValueError` for a malformed name or a duplicate in the same family."""
        if (
            not _ARCHITECTURE_NAME.match(entry.architecture)
            or normalize_architecture(entry.architecture) != entry.architecture
        ):
            raise ValueError(
                f"architecture {entry.architecture!r} must be lowercase letters and digits, in canonical form "
                f"({normalize_architecture(entry.architecture)!r})"
            )
        if not _ENCODER_NAME.match(entry.encoder):
            raise ValueError(f"encoder {entry.encoder!r} must be lowercase letters, digits, '_', '-' or '.'")
        tags = entry.tags
        if len(set(tags)) != len(tags):
            raise ValueError(f"{entry.name}: duplicate weights tags {tags}")
        candidates = self._entries.setdefault(entry.name, [])
        if any(c.family == entry.family for c in candidates):
            raise ValueError(f"{entry.qualified_name} is already registered")
        candidates.append(entry)
        candidates.sort(key=lambda e: -e.priority)
        if len(candidates) > 1 and candidates[0].priority == candidates[1].priority:
            candidates.remove(entry)
            raise ValueError(
                f"{entry.qualified_name} and {candidates[0].qualified_name} have the same priority "
                f"{entry.priority}: a bare {entry.name!r} would be ambiguous; give one a different priority"
            )
        return entry

    def add_weights(self, name: str, record: WeightRecord) -> ModelEntry:
        """Attach a weight record to the entry ``name`` (bare or ``family:name``) and return the new entry."""
        problems = record.problems()
        if problems:
            raise ValueError(f"weights {name}.{record.tag} are invalid: " + "; ".join(problems))
        entry, _ = self.resolve(name)
        if record.tag in entry.tags:
            raise ValueError(f"{entry.name} already has weights tagged {record.tag!r}")
        updated = replace(entry, weights=entry.weights + (record,))
        bucket = self._entries.setdefault(entry.name, [])
        if entry in bucket:
            bucket[bucket.index(entry)] = updated
        else:  # an on-demand entry (a timm encoder): it becomes a stored one
            bucket.append(updated)
            bucket.sort(key=lambda e: -e.priority)
        return updated

    def unregister(self, qualified_name: str) -> ModelEntry:
        """Remove the entry ``family:name`` (a plugin unloading itself, a test cleaning up) and return it."""
        family, _, name = qualified_name.lower().partition(":")
        for entry in self._entries.get(name, ()):
            if entry.family == family:
                self._entries[name].remove(entry)
                if not self._entries[name]:
                    del self._entries[name]
                return entry
        raise UnknownModelError(f"no entry {qualified_name!r} to unregister (use 'family:name')")

    def rename(self, old: str, new: str) -> None:
        """Keep ``old`` working for ``new``, with a :class:`ZooDeprecationWarning` each time it is used."""
        self._renamed[old.lower()] = new.lower()

    def add_resolver(self, family: str, resolver: Resolver) -> None:
        """Entries made on demand: ``resolver(architecture, encoder)`` returns an entry or ``None``."""
        self._resolvers.append((family, resolver))

    def add_enumerator(self, enumerator: Enumerator) -> None:
        """Names of on-demand entries, listed only when ``include_on_demand=True`` (they may be many)."""
        self._enumerators.append(enumerator)

    # -- loading --------------------------------------------------------------------------------------

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True  # first, so that plugins may query the registry while they load
        import importlib

        for module in self._builtin_modules:
            importlib.import_module(module)
        if self._entry_point_group:
            self._load_plugins(self._entry_point_group)

    def _load_plugins(self, group: str) -> None:
        for entry_point in metadata.entry_points(group=group):
            label = f"{entry_point.name} = {entry_point.value}"
            dist = getattr(entry_point, "dist", None)
            if dist is not None:
                label += f" (from {dist.name} {dist.version})"
            try:
                loaded = entry_point.load()
                if callable(loaded) and not isinstance(loaded, type):
                    loaded()
            except Exception as exc:  # a broken plugin must not break the registry
                self.failed_plugins[entry_point.name] = f"{type(exc).__name__}: {exc}"
                warnings.warn(
                    f"zoo plugin {label} failed to load and its models are unavailable: "
                    f"{type(exc).__name__}: {exc}",
                    ZooPluginWarning,
                    stacklevel=2,
                )

    # -- lookup ---------------------------------------------------------------------------------------

    def resolve(self, name: str) -> tuple[ModelEntry, WeightRecord | None]:
        """The entry (and weights, for ``name.tag``) that ``name`` means.

        Raises:
            UnknownModelError: no entry matches; the message lists the closest names.
            UnknownWeightsError: the entry exists but has no weights of that tag.
        """
        self._ensure_loaded()
        family, _, text = name.strip().lower().rpartition(":")
        family = family or None
        base, dot, tag = text.rpartition(".")
        tagged = self._find(family, base) if dot else None
        if tagged is not None and tag in tagged.tags:
            return tagged, tagged.get_weights(tag)
        entry = self._find(family, text)
        if entry is not None:
            return entry, None
        if tagged is not None:
            tagged.get_weights(tag)  # raises, naming the tags there are
        raise UnknownModelError(self._unknown_message(name))

    def _find(self, family: str | None, text: str) -> ModelEntry | None:
        architecture, hyphen, encoder = text.partition("-")
        if not hyphen:
            return None
        key = f"{normalize_architecture(architecture)}-{encoder}"
        if key in self._renamed:
            new = self._renamed[key]
            warnings.warn(f"model name {key!r} was renamed to {new!r}", ZooDeprecationWarning, stacklevel=4)
            return self._find(family, new)
        for entry in self._entries.get(key, ()):
            if family is None or entry.family == family:
                return entry
        architecture = key.split("-", 1)[0]
        for resolver_family, resolver in self._resolvers:
            if family is None or family == resolver_family:
                entry = resolver(architecture, encoder)
                if entry is not None:
                    return entry
        return None

    def _unknown_message(self, name: str) -> str:
        known = [e.name for e in self.entries()]
        text = name.strip().lower()
        close = difflib.get_close_matches(text, known, n=5, cutoff=0.6)
        if not close:
            prefix = text.split("-", 1)[0]
            close = sorted(
                (k for k in known if k.startswith(normalize_architecture(prefix) + "-")), key=natural_key
            )
            close = close[:5]
        hint = f"; closest: {', '.join(close)}" if close else ""
        return f"unknown model {name!r}{hint}. `zoo list` shows every name."

    def entries(self) -> Iterator[ModelEntry]:
        """Every stored entry (not the on-demand ones), all families, highest priority first per name."""
        self._ensure_loaded()
        for candidates in self._entries.values():
            yield from candidates

    def expand(self, patterns: Sequence[str]) -> list[str]:
        """Command-line model arguments to names, in order and without repeats: a pattern with a wildcard
        becomes the names it matches (or stays, so the caller reports it unknown); a plain name stays."""
        names: list[str] = []
        for pattern in patterns:
            if any(c in pattern for c in "*?["):
                names += self.list_models(pattern) or [pattern]
            else:
                names.append(pattern)
        return list(dict.fromkeys(names))

    def list_models(
        self,
        pattern: str | Sequence[str] = "*",
        *,
        pretrained: bool = False,
        dataset: str | None = None,
        include_on_demand: bool = False,
    ) -> list[str]:
        """Names matching ``pattern`` (fnmatch, case-insensitive; a list means any of them), naturally sorted.

        Args:
            pattern: one pattern or several, e.g. ``"deeplabv3plus-*"`` or ``["unet-*", "fpn-*"]``.
            pretrained: list ``name.tag`` for every weight record instead of bare names.
            dataset: only weights for this label space (``voc``, ``cityscapes``, ``ade20k``); implies
                ``pretrained``.
            include_on_demand: also list entries made on demand (every ``tu-`` timm encoder on every smp
                architecture: over ten thousand names; imports timm).
        """
        self._ensure_loaded()
        patterns = [pattern] if isinstance(pattern, str) else list(pattern)
        patterns = [p.lower() for p in patterns]
        names: list[str] = []
        for candidates in self._entries.values():
            for rank, entry in enumerate(candidates):
                shown = entry.name if rank == 0 else entry.qualified_name
                if pretrained or dataset:
                    names += [f"{shown}.{w.tag}" for w in entry.weights if dataset in (None, w.dataset)]
                else:
                    names.append(shown)
        if include_on_demand and not (pretrained or dataset):
            for enumerate_names in self._enumerators:
                names += list(enumerate_names())
        matched = {n for n in names if any(_matches(n, p) for p in patterns)}
        return sorted(matched, key=natural_key)


def _matches(name: str, pattern: str) -> bool:
    if fnmatch.fnmatchcase(name, pattern):
        return True
    # a pattern without a family qualifier also matches the qualified names it would match bare
    _, colon, bare = name.partition(":")
    return bool(colon) and ":" not in pattern and fnmatch.fnmatchcase(bare, pattern)


REGISTRY = Registry(
    builtin_modules=("zoo.models.torchvision", "zoo.models.classic", "zoo.models.smp"),
    entry_point_group=ENTRY_POINT_GROUP,
)


def register_model(
    name: str,
    *,
    family: str = "plugin",
    paper: str = "",
    weights: Sequence[WeightRecord] = (),
    priority: int | None = None,
    default_num_classes: int = 21,
    description: str = "",
    registry: Registry | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator that registers ``builder(num_classes=..., **kwargs) -> nn.Module`` under ``name``.

    Args:
        name: ``{architecture}-{encoder}``; the architecture part has no hyphen.
        family: who provides the builder; plugins should use their distribution's name.
        paper: the architecture's reference.
        weights: weight records; their schema is checked now, not at download time.
        priority: which family a bare name means when several offer it; defaults to the family's
            (torchvision 30, classic 20, smp 10, anything else 0).
        default_num_classes: output channels when neither the caller nor the weights say.
        description: one line for tables.
        registry: where to register; the global registry by default.

    Example::

        @zoo.register_model("mynet-tiny", family="my-package")
        def mynet_tiny(num_classes: int = 21, **kwargs):
            return MyNet(num_classes, width=16)
    """
    target = registry or REGISTRY
    architecture, hyphen, encoder = name.lower().partition("-")
    if not hyphen:
        raise ValueError(f"model name {name!r} must be '{{architecture}}-{{encoder}}'")
    for record in weights:
        problems = record.problems()
        if problems:
            raise ValueError(f"weights {name}.{record.tag} are invalid: " + "; ".join(problems))

    def decorator(builder: Callable[..., Any]) -> Callable[..., Any]:
        target.register(
            ModelEntry(
                architecture=architecture,
                encoder=encoder,
                family=family,
                builder=builder,
                paper=paper,
                weights=tuple(weights),
                priority=FAMILY_PRIORITY.get(family, 0) if priority is None else priority,
                default_num_classes=default_num_classes,
                description=description,
            )
        )
        return builder

    return decorator


def register_weights(name: str, record: WeightRecord, *, registry: Registry | None = None) -> ModelEntry:
    """Add a pretrained weight record to an existing entry (``name`` bare or ``family:name``)."""
    return (registry or REGISTRY).add_weights(name, record)


def list_models(
    pattern: str | Sequence[str] = "*",
    *,
    pretrained: bool = False,
    dataset: str | None = None,
    include_on_demand: bool = False,
) -> list[str]:
    """Registered names matching ``pattern``; see :meth:`Registry.list_models`."""
    return REGISTRY.list_models(
        pattern, pretrained=pretrained, dataset=dataset, include_on_demand=include_on_demand
    )


def info(name: str) -> ModelEntry:
    """The entry ``name`` resolves to, with its metadata and every weight record it has."""
    return REGISTRY.resolve(name)[0]
