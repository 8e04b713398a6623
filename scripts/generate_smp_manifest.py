"""Regenerate ``zoo/models/_smp_manifest.py`` from the installed segmentation_models_pytorch.

Run it after upgrading smp (``tests/test_smp_family.py`` fails until the file matches the release)::

    python scripts/generate_smp_manifest.py

The manifest is what zoo lists from without importing smp: every smp encoder, the ones each architecture's
constructor refuses, and each constructor's keyword arguments with their defaults. All of it is asked of the
installed smp by building the models, never copied from its documentation.

Building 12 architectures on every smp encoder for real takes minutes of CPU, so the constructors run with
:func:`zoo.models.shapes.shapes_only` (parameters and buffers live on the ``meta`` device and their in-place
initialisation is skipped: the constructor's control flow, and so what it refuses, is unchanged) and with
:func:`encoders_built_once` (architectures that ask ``get_encoder`` for the same encoder with the same
arguments share one build, since ``get_encoder`` is where smp refuses an encoder that cannot be dilated).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
MANIFEST = REPO_ROOT / "zoo" / "models" / "_smp_manifest.py"

if str(REPO_ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO_ROOT))

from zoo.models.shapes import shapes_only  # noqa: E402


def architectures() -> dict[str, Any]:
    """smp's architecture names (zoo's too) -> model classes, from smp's own table."""
    import segmentation_models_pytorch as smp

    return dict(smp.MODEL_ARCHITECTURES_MAPPING)


@contextlib.contextmanager
def encoders_built_once() -> Iterator[None]:
    """Within this context, each smp architecture's ``get_encoder`` builds each distinct request once.

    A repeated request gets the same encoder object, or the same refusal (``ValueError``/``KeyError``) raised
    again. Sharing is harmless for the throw-away models built here: a constructor only reads its encoder
    (channels, strides) after ``get_encoder`` has returned it, and copying it would cost more than building.
    """
    import segmentation_models_pytorch as smp

    modules = {sys.modules[model_class.__module__] for model_class in architectures().values()}
    modules = [m for m in modules if hasattr(m, "get_encoder")]
    original = smp.encoders.get_encoder
    built: dict[str, Any] = {}

    def get_encoder(*args: Any, **kwargs: Any) -> Any:
        key = repr((args, sorted(kwargs.items())))
        if key not in built:
            try:
                built[key] = original(*args, **kwargs)
            except (ValueError, KeyError) as refusal:
                built[key] = refusal
        if isinstance(built[key], Exception):
            raise built[key]
        return built[key]

    for module in modules:
        module.get_encoder = get_encoder
    try:
        yield
    finally:
        for module in modules:
            module.get_encoder = original


def accepted_encoders() -> dict[str, tuple[str, ...]]:
    """Architecture -> the smp encoders its constructor accepts, in smp's order, asked of the installed smp.

    Only a ``ValueError`` or ``KeyError``, smp's way of refusing a combination, counts as "not accepted";
    anything else is a bug and propagates.
    """
    import segmentation_models_pytorch as smp

    encoders = smp.encoders.get_encoder_names()
    accepted: dict[str, list[str]] = {architecture: [] for architecture in architectures()}
    with warnings.catch_warnings(), shapes_only(), encoders_built_once():
        warnings.simplefilter("ignore")
        for architecture, model_class in architectures().items():
            for encoder in encoders:
                try:
                    model_class(encoder_name=encoder, encoder_weights=None, classes=2)
                except (ValueError, KeyError):
                    continue
                accepted[architecture].append(encoder)
    return {architecture: tuple(names) for architecture, names in accepted.items()}


def constructor_keywords(architecture: str) -> dict[str, Any]:
    """The keyword arguments of ``architecture``'s smp constructor and their defaults (not ``**kwargs``)."""
    signature = inspect.signature(architectures()[architecture].__init__)
    return {
        p.name: p.default
        for p in list(signature.parameters.values())[1:]
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def python_literal(value: Any) -> str:
    """``value`` as Python source, strings double-quoted as ``ruff format`` writes them."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (tuple, list)):
        inner = ", ".join(python_literal(v) for v in value)
        if isinstance(value, list):
            return f"[{inner}]"
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    raise TypeError(f"the manifest holds literals only, not {value!r}")


def manifest_text() -> str:
    """The manifest the installed smp gives, formatted as ``ruff format`` leaves it."""
    import segmentation_models_pytorch as smp

    encoders = smp.encoders.get_encoder_names()
    accepted = accepted_encoders()
    lines = [
        '"""Generated by `python scripts/generate_smp_manifest.py` from the installed segmentation_models_pytorch:',
        "do not edit.",
        "",
        "Every smp encoder, the ones each architecture's constructor refuses, and each constructor's keyword",
        "arguments with their defaults (tests/test_smp_family.py regenerates this and compares).",
        '"""',
        "",
        "from typing import Any",
        "",
        f"SMP_VERSION = {json.dumps(smp.__version__)}",
        "",
        "ENCODERS: tuple[str, ...] = (",
        *(f"    {json.dumps(e)}," for e in encoders),
        ")",
        "",
        "REFUSED: dict[str, tuple[str, ...]] = {",
    ]
    for architecture in architectures():
        refused = [e for e in encoders if e not in accepted[architecture]]
        if len(refused) == len(encoders):
            lines.append(f"    {json.dumps(architecture)}: ENCODERS,")
        elif not refused:
            lines.append(f"    {json.dumps(architecture)}: (),")
        else:
            lines += [
                f"    {json.dumps(architecture)}: (",
                *(f"        {json.dumps(e)}," for e in refused),
                "    ),",
            ]
    lines += [
        "}",
        "",
        "ARCHITECTURES: dict[str, tuple[str, ...]] = {",
        "    architecture: tuple(e for e in ENCODERS if e not in refused) for architecture, refused in REFUSED.items()",
        "}",
        "",
        "# Keyword arguments of each smp constructor and their defaults, **kwargs excluded.",
        "KEYWORDS: dict[str, dict[str, Any]] = {",
    ]
    for architecture in architectures():
        lines.append(f"    {json.dumps(architecture)}: {{")
        for name, default in constructor_keywords(architecture).items():
            lines.append(f"        {json.dumps(name)}: {python_literal(default)},")
        lines.append("    },")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> None:
    import segmentation_models_pytorch as smp

    MANIFEST.write_text(manifest_text())
    print(f"wrote {MANIFEST.relative_to(REPO_ROOT)} for segmentation_models_pytorch {smp.__version__}")


if __name__ == "__main__":
    main()
