"""zoo against each publisher's evaluation pipeline on the real samples, before and after the parity work.

For each reference pipeline a model is built with seeded weights, its BatchNorm statistics re-estimated on
the reference's own inputs (so it predicts several classes with small margins, where a pipeline difference
shows), and run three ways on the real samples in ``shared/data/real``:

- the reference, rebuilt independently from the publisher's code (``tests/reference_pipelines.py``);
- zoo as checked out ("after");
- zoo at ``--before`` ("before"; default: the last commit before the parity work), extracted with
  ``git archive`` and run in a subprocess on the same weights. Where that zoo had no record for the weight
  (UPerNet), it runs today's protocol with its own code; where it had no variant (``--protocol mmseg``), it
  runs the weight's record, as a user of it would have. The isl-org-dpt row compares with the commit before
  the DPT record followed DPT exactly, and a small model stands in for DPT-L (too slow on a CPU): what is
  under test there is the preprocessing and the logits' resize.

Per pipeline it prints the largest input difference from the reference (in uint8 steps of the image, or
"shape" where the input sizes differ), the fraction of pixels whose argmax differs from the reference's,
and the mIoU difference from the reference's in points (both scored against the ground truth at the
label's own size). A last row compares the Cityscapes ground truth zoo scores against with the one
cityscapesScripts scores against (``labelIds`` through the official table).

Run from the checkout (needs ``opencv-python-headless`` and ``cityscapesscripts``, both in the test extras)::

    .venv/bin/python scripts/parity_table.py --out docs/parity.md
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the independent reference rebuilds live beside the tests
import reference_pipelines as refs  # noqa: E402

#: the last commit before issue 12 (and the architecture work it followed)
DEFAULT_BEFORE = "279fc22"
#: the last commit before the DPT record followed isl-org/DPT exactly (279fc22 had no DPT record)
DPT_BEFORE = "69b5912"


@dataclasses.dataclass(frozen=True)
class Case:
    """One reference pipeline, the registry entry and weight record that stands for it, its samples."""

    pipeline: str
    label: str
    model: str
    tag: str
    dataset: str
    classes: int
    variant: str | None = None
    model_kwargs: tuple[tuple[str, Any], ...] = ()
    #: the entry whose weight record gives the protocol, where ``model`` only stands in for it (DPT-L is too
    #: slow on a CPU; the pipeline under test is preprocessing and the logits' resize)
    protocol_of: str | None = None
    #: the zoo revision to compare with, where it is not ``--before`` (a record added later)
    before: str | None = None

    @property
    def record_entry(self) -> str:
        return self.protocol_of or self.model


CASES = (
    Case("torchvision", "VOC val, whole", "lraspp-mobilenet_v3_large", "coco_voc", "voc", 21),
    Case("nvlabs-segformer", "ADE20K val, whole (AlignedResize)", "segformer-mit_b0", "ade20k", "ade20k", 150),
    Case("mmseg-1.x", "ADE20K val, whole (--protocol mmseg)", "segformer-mit_b0", "ade20k", "ade20k", 150,
         variant="mmseg-1.x"),
    Case("mmseg-0.x", "ADE20K val, slide 512", "upernet-tu-convnext_tiny", "ade20k", "ade20k", 150),
    Case("nvlabs-segformer", "Cityscapes val, slide 1024", "segformer-mit_b0", "cityscapes", "cityscapes", 19),
    Case("isl-org-dpt", "ADE20K val, minimal 480", "lraspp-mobilenet_v3_large", "ade20k", "ade20k", 150,
         protocol_of="dpt-tu-vit_large_patch16_384", before=DPT_BEFORE),
)  # fmt: skip


# ------------------------------------------------------------------------------ the reference


def _reference(case: Case, protocol: Any, image: np.ndarray) -> torch.Tensor:
    """The reference's network input for ``image``."""
    if case.pipeline == "torchvision":
        return refs.torchvision_input(image, protocol.resize_size[0], protocol.mean, protocol.std)
    if case.pipeline == "isl-org-dpt":
        return refs.dpt_input(image, protocol.resize_size)
    aligned = protocol.resize_multiple_of if case.pipeline == "nvlabs-segformer" else None
    return refs.mmseg_input(image, protocol.resize_size, protocol.mean, protocol.std, aligned)


def _reference_logits(case: Case, protocol: Any, model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The reference's logits on its input ``x``, at ``x``'s size."""

    def decode(crop: torch.Tensor) -> torch.Tensor:
        if case.model.startswith("segformer-"):
            return refs.segformer_head_logits(model, crop)
        return refs.model_logits(model, crop)

    if protocol.inference == "slide":
        return refs.mmseg_slide(decode, x, protocol.crop_size, protocol.stride)
    return decode(x)


def _calibration_batches(protocol: Any, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """The reference inputs as the network sees them: whole, or their slide windows."""
    if protocol.inference != "slide":
        return inputs
    return [batch for x in inputs for batch in refs.window_batches(x, protocol.crop_size, protocol.stride)]


# ------------------------------------------------------------------------------ zoo, either version


def zoo_side(job: dict[str, Any]) -> dict[str, Any]:
    """What the importable zoo computes for ``job``: network inputs and logits at the labels' sizes.

    Written against the API both versions share (``create``, ``info``, ``inference.preprocess`` and
    ``predict_logits``; ``predict_scores`` where it exists), so one function runs before and after.
    """
    import zoo
    import zoo.inference as inference
    import zoo.weights

    if job["kind"] == "cityscapes_labels":
        from zoo.datasets.cityscapes import Cityscapes

        dataset = Cityscapes(job["root"], "val")
        return {"labels": [np.asarray(dataset[i][1]) for i in range(len(dataset))]}
    record = next((w for w in zoo.info(job["protocol_of"]).weights if w.tag == job["tag"]), None)
    variant_of = getattr(zoo.weights, "protocol_variant", None)
    if record is None:
        protocol_class = getattr(zoo.weights, "EvalProtocol", None) or zoo.weights.Protocol
        known = {f.name for f in dataclasses.fields(protocol_class)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in job["protocol"].items() if k in known}
        protocol, how = protocol_class(**values), "today's protocol (this zoo has no record)"
    elif job["variant"] and variant_of is None:
        protocol, how = record.protocol, "the record's protocol (this zoo has no variants)"
    elif job["variant"]:
        protocol, how = variant_of(record.protocol, job["variant"]), "the variant"
    else:
        protocol, how = record.protocol, "the record's protocol"
    model = zoo.create(job["model"], num_classes=job["classes"], **job["model_kwargs"])
    model.load_state_dict(job["state_dict"])
    model.eval()
    inputs, logits = [], []
    for image, size in zip(job["images"], job["sizes"], strict=True):
        inputs.append(inference.preprocess(image, protocol))
        if hasattr(inference, "predict_scores"):
            logits.append(inference.predict_scores(model, [image], protocol, sizes=[size])[0])
        else:
            with torch.inference_mode():
                out = inference.predict_logits(model, inputs[-1], protocol)
            align = protocol.align_corners
            logits.append(F.interpolate(out, size=size, mode="bilinear", align_corners=align)[0])
    return {"inputs": inputs, "logits": logits, "protocol": how}


def _run_before(job: dict[str, Any], zoo_tree: Path, work: Path) -> dict[str, Any]:
    """:func:`zoo_side` for ``job`` in a subprocess that imports the zoo extracted in ``zoo_tree``."""
    job_file, result_file = work / "job.pt", work / "result.pt"
    torch.save(job, job_file)
    env = {**os.environ, "PYTHONPATH": f"{zoo_tree}{os.pathsep}{ROOT / 'scripts'}"}
    code = (
        "import sys, torch, parity_table as p; "
        f"torch.save(p.zoo_side(torch.load({str(job_file)!r}, weights_only=False)), {str(result_file)!r})"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=work)
    return torch.load(result_file, weights_only=False)


# ------------------------------------------------------------------------------ the comparison


def _input_steps(zoo_inputs: list[torch.Tensor], references: list[torch.Tensor], protocol: Any) -> str:
    """The largest (and mean) difference from the reference's input, in uint8 steps of the image."""
    worst, total, count = 0.0, 0.0, 0
    step = torch.tensor(protocol.std).view(1, 3, 1, 1) * (255.0 / protocol.value_scale)
    for x, ref in zip(zoo_inputs, references, strict=True):
        if x.shape != ref.shape:
            return f"shape {x.shape[-2]}x{x.shape[-1]} vs {ref.shape[-2]}x{ref.shape[-1]}"
        steps = (x - ref).abs() * step
        worst, total, count = (
            max(worst, float(steps.max())),
            total + float(steps.sum()),
            count + steps.numel(),
        )
    return f"{worst:.2f} ({total / count:.3f})"


def _scores(
    logits: list[torch.Tensor], labels: list[np.ndarray], classes: int
) -> tuple[list[torch.Tensor], float]:
    predictions = [score.argmax(0) for score in logits]
    matrix = sum(refs.confusion(p, label, classes) for p, label in zip(predictions, labels, strict=True))
    return predictions, refs.miou(matrix)


def compare(case: Case, real: Path, zoo_tree: Path, work: Path) -> dict[str, Any]:
    """The before/after figures of one :class:`Case`."""
    import zoo
    from zoo.weights import protocol_variant

    record = next(w for w in zoo.info(case.record_entry).weights if w.tag == case.tag)
    protocol = protocol_variant(record.protocol, case.variant) if case.variant else record.protocol
    samples = refs.real_pairs(real, case.dataset)
    images, labels = [s[0] for s in samples], [s[1] for s in samples]
    torch.manual_seed(0)
    model = zoo.create(case.model, num_classes=case.classes, **dict(case.model_kwargs))
    references = [_reference(case, protocol, image) for image in images]
    refs.calibrated(model, _calibration_batches(protocol, references))

    to_label = refs.dpt_logits if case.pipeline == "isl-org-dpt" else refs.to_label_size
    reference_logits = [
        to_label(_reference_logits(case, protocol, model, x), label.shape)
        for x, label in zip(references, labels, strict=True)
    ]
    reference_pred, reference_miou = _scores(reference_logits, labels, case.classes)
    job = {
        "kind": "predict", "model": case.model, "protocol_of": case.record_entry, "tag": case.tag,
        "variant": case.variant,
        "classes": case.classes, "model_kwargs": dict(case.model_kwargs), "state_dict": model.state_dict(),
        "images": images, "sizes": [label.shape for label in labels], "protocol": dataclasses.asdict(protocol),
    }  # fmt: skip
    row: dict[str, Any] = {
        "case": case,
        "reference_mIoU": reference_miou,
        "pixels": sum(lb.size for lb in labels),
    }
    for when, result in (("before", _run_before(job, zoo_tree, work)), ("after", zoo_side(job))):
        predictions, value = _scores(result["logits"], labels, case.classes)
        differing = sum(int((p != r).sum()) for p, r in zip(predictions, reference_pred, strict=True))
        row[when] = {
            "input": _input_steps(result["inputs"], references, protocol),
            "argmax": differing / row["pixels"],
            "mIoU": value - reference_miou,
            "protocol": result["protocol"],
        }
        row[f"{when}_logits"] = result["logits"]
    return row


def compare_cityscapes_labels(real: Path, zoo_tree: Path, work: Path, after_logits: list[torch.Tensor]):
    """How zoo's Cityscapes ground truth differs from cityscapesScripts' (labelIds, official table)."""
    official = [refs.official_cityscapes_label(gt) for _, gt in refs.cityscapes_files(real)]
    job = {"kind": "cityscapes_labels", "root": str(real / "cityscapes")}
    row: dict[str, Any] = {"pixels": sum(lb.size for lb in official)}
    for when, result in (("before", _run_before(job, zoo_tree, work)), ("after", zoo_side(job))):
        labels = [np.asarray(lb, dtype=np.int64) for lb in result["labels"]]
        differing = sum(int((a != b).sum()) for a, b in zip(labels, official, strict=True))
        # one prediction (today's zoo on the Cityscapes case) scored against each ground truth
        _, zoo_miou = _scores(after_logits, labels, 19)
        _, official_miou = _scores(after_logits, official, 19)
        row[when] = {"labels": differing / row["pixels"], "mIoU": zoo_miou - official_miou}
    return row


def _model_label(case: Case) -> str:
    if case.protocol_of:
        return f"{case.model} with the protocol of {case.protocol_of}.{case.tag}"
    return f"{case.model}.{case.tag}"


def render(rows: list[dict[str, Any]], labels_row: dict[str, Any], before: str, seconds: float) -> str:
    header = (
        "| reference pipeline | model, weights | samples | input difference, max (mean), uint8 steps: before -> "
        "after | argmax pixels differing: before -> after | reference mIoU | mIoU difference (points): before -> "
        "after |\n"
        "| --- | --- | --- | --- | --- | ---: | --- |\n"
    )
    lines = []
    for row in rows:
        case, b, a = row["case"], row["before"], row["after"]
        lines.append(
            f"| {case.pipeline} ({case.label}) | {_model_label(case)} | {row['pixels'] / 1e6:.2f} MP "
            f"| {b['input']} -> {a['input']} | {b['argmax']:.3%} -> {a['argmax']:.3%} "
            f"| {row['reference_mIoU']:.2f} | {b['mIoU']:+.3f} -> {a['mIoU']:+.3f} |"
        )
    b, a = labels_row["before"], labels_row["after"]
    miou = f"{b['mIoU']:+.4f} -> {a['mIoU']:+.4f}"
    lines.append(
        f"| cityscapesScripts ground truth (labelIds, official table) | the Cityscapes case's prediction "
        f"| {labels_row['pixels'] / 1e6:.2f} MP | - | ground-truth pixels differing: {b['labels']:.3%} -> "
        f"{a['labels']:.3%} | - | {miou} |"
    )
    notes = [
        f'"before" is zoo at {before} (the isl-org-dpt row: at {DPT_BEFORE}, before its record followed DPT '
        'exactly; 279fc22 had no DPT record); "after" is this checkout. Each difference is zoo\'s minus the '
        "reference's; mIoU is scored against the ground truth at the label's own size.",
        'Protocols run by "before": '
        + "; ".join(f"{r['case'].pipeline} ({r['case'].label}): {r['before']['protocol']}" for r in rows)
        + ".",
        "Models: seeded weights, BatchNorm statistics re-estimated on the reference's inputs, so the mIoU "
        "values are small and the mIoU differences are small with them: the argmax column is the sensitive one. "
        f"Wall time {seconds:.0f} s on {os.cpu_count()} CPU cores, torch {torch.__version__}.",
    ]
    title = (
        "# Parity with the publishers' pipelines\n\n"
        "zoo against each reference pipeline, rebuilt independently (`tests/reference_pipelines.py`), on the real "
        "samples in `shared/data/real`. Written by `scripts/parity_table.py --out docs/parity.md`; "
        '`tests/test_parity.py` asserts the "after" side.\n\n'
    )
    return title + header + "\n".join(lines) + "\n\n" + "\n\n".join(notes) + "\n"


def _extract(revision: str, folder: Path) -> Path:
    """``zoo/`` at ``revision`` under ``folder/revision`` (once), for a subprocess to import."""
    tree = folder / revision
    if not tree.is_dir():
        tree.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision, "zoo"], check=True, capture_output=True
        )
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=DEFAULT_BEFORE, help="git revision of zoo to compare with")
    parser.add_argument("--real-data", type=Path, default=ROOT.parent / "shared" / "data" / "real")
    parser.add_argument("--out", type=Path, help="also write the Markdown table here")
    args = parser.parse_args(argv)
    if not args.real_data.is_dir():
        parser.error(f"{args.real_data}: no real samples there (give --real-data)")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        zoo_tree = _extract(args.before, Path(tmp))
        rows = []
        for case in CASES:
            print(f"{case.pipeline} ({case.label}) ...", file=sys.stderr, flush=True)
            tree = _extract(case.before, Path(tmp)) if case.before else zoo_tree
            rows.append(compare(case, args.real_data, tree, work))
        cityscapes = next(r for r in rows if r["case"].dataset == "cityscapes")
        labels_row = compare_cityscapes_labels(args.real_data, zoo_tree, work, cityscapes["after_logits"])
    table = render(rows, labels_row, args.before, time.perf_counter() - start)
    print(table)
    if args.out:
        args.out.write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
