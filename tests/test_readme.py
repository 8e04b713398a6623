"""Every example in README.md runs as written, offline, or its line says why it cannot (issue 13).

An example is a command line of a ```bash block whose program is one of :data:`PROGRAMS` (after ``VAR=value``
prefixes), or a whole ```python block; each is one test, named by its README line. It runs in a fresh folder
standing for the checkout, as written: ``zoo``, ``zoo-bench`` and ``python`` are this venv's (this checkout's
``zoo`` first on ``PYTHONPATH``), ``HOME`` is a temporary folder whose ``~/data`` holds datasets generated in
the official layouts by ``tests/layouts.py`` (also the user data folder, which commands without
``--data-root`` read) and a folder dataset ``~/data/people``, and ``../shared/data/real`` is the real samples
(the test is skipped where they are absent). Files an example presumes the user has (``--checkpoint
runs/best.pth``, a results folder to render, shard files to merge) are made first, from the example's own
arguments. Nothing can be downloaded: ``ZOO_OFFLINE=1``, ``HF_HUB_OFFLINE=1``, empty caches.

A line that cannot run here ends with ``# needs WHAT`` (README.md, "Use"), WHAT being ``network``,
``a GPU``, ``N GPUs`` or ``a cluster`` (joined by ``and``). A marked line is not run, but zoo's own parser
must accept it; and a line this test can tell would download (a sweep over published weights,
``zoo data download``, ``zoo.create`` with ``pretrained=``, ``weights=`` or a weights tag) must be marked
``network``. So a new example either runs offline or says what it needs.

The two "On a fresh machine" commands (set-up + run) are CI's: their ``.venv/bin/zoo...`` parts are parsed, and
``zoo data check`` runs here (the evaluation of the real samples takes about 25 s here: CI runs it).
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from layouts import REAL_DATA, write_ade20k, write_cityscapes, write_voc
from test_folder import write_folder
from test_results import make_classes, make_row

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

#: the programs whose lines are examples; any other line of a bash block must be a comment
PROGRAMS = {"zoo", "zoo-bench", "python", "python3", "torchrun"}
#: what a ``# needs ...`` marker may name: what this offline, GPU-less, single-machine test does not have
NEED = re.compile(r"network|a GPU|\d+ GPUs|a cluster")
MARKER = re.compile(r"#\s*needs\s+(?P<needs>[^#]+?)\s*$")
#: the set-up commands of "On a fresh machine": CI runs them; their zoo parts run here
SETUP = "python3 -m venv .venv"
VENV_BIN = ".venv/bin/"
#: a generous bound on one example: a hang fails the test instead of the suite
TIMEOUT_S = 300


@dataclass(frozen=True)
class Example:
    """One README example: a command line of a bash block, or a python block.

    ``line`` is the README line it starts on; ``text`` is as written (a command's continuation lines joined);
    ``needs`` maps a README line to the reasons its ``# needs`` marker gives."""

    line: int
    language: str
    text: str
    needs: dict[int, tuple[str, ...]]

    @property
    def id(self) -> str:
        words = re.findall(r"[\w.-]+", self.text.split("\n")[0])[:3]
        return f"line{self.line}-" + "-".join(words)


def parse_needs(line: str) -> tuple[str, ...]:
    """The reasons of a line's ``# needs ...`` marker (none without one)."""
    found = MARKER.search(line)
    return tuple(re.split(r"\s*,\s*|\s+and\s+", found["needs"])) if found else ()


def extract_examples(markdown: str) -> list[Example]:
    """The examples of a README: each command line of a ```bash block, each ```python block."""
    examples: list[Example] = []
    lines = markdown.splitlines()
    number = 0
    while number < len(lines):
        fence = re.match(r"\s*```(\w*)\s*$", lines[number])
        number += 1
        if not fence:
            continue
        indent = len(lines[number - 1]) - len(lines[number - 1].lstrip())
        start, block = number, []
        while number < len(lines) and not re.match(r"\s*```\s*$", lines[number]):
            block.append(lines[number][indent:])
            number += 1
        number += 1
        if fence[1] == "python":
            needs = {start + 1 + i: parse_needs(line) for i, line in enumerate(block) if parse_needs(line)}
            examples.append(Example(start + 1, "python", "\n".join(block), needs))
        elif fence[1] == "bash":
            examples.extend(_bash_examples(block, start + 1))
    return examples


def _bash_examples(block: list[str], first_line: int) -> list[Example]:
    examples, command, command_line = [], "", 0
    for offset, line in enumerate(block):
        if not command:
            command_line = first_line + offset
        if line.rstrip().endswith("\\"):
            command += line.rstrip()[:-1] + " "
            continue
        command = (command + line).strip()
        if command and not command.startswith("#"):
            needs = parse_needs(command)
            examples.append(Example(command_line, "bash", command, {command_line: needs} if needs else {}))
        command = ""
    return examples


EXAMPLES = extract_examples(README.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------------ reading


def test_extraction_joins_continuations_and_reads_markers():
    markdown = "\n".join([
        "text",
        "```bash",
        "#!/bin/bash",
        "zoo list 'unet-*' \\",
        "    --pretrained",
        "zoo data download voc        # needs network",
        "```",
        "  ```python",
        "  import zoo",
        "  zoo.create('x', pretrained=True)   # needs network and 8 GPUs",
        "  ```",
        "```",
        "zoo not an example",
        "```",
    ])  # fmt: skip
    found = extract_examples(markdown)
    assert [(e.line, e.language) for e in found] == [(4, "bash"), (6, "bash"), (9, "python")]
    assert found[0].text == "zoo list 'unet-*'      --pretrained" and found[0].needs == {}
    assert found[1].needs == {6: ("network",)}
    assert found[2].text.startswith("import zoo\n") and found[2].needs == {10: ("network", "8 GPUs")}


def test_the_readme_has_the_examples_this_test_runs():
    # a README reorganised so that extraction finds nothing would otherwise pass vacuously
    texts = [e.text for e in EXAMPLES]
    assert sum(e.language == "python" for e in EXAMPLES) >= 4
    assert any(t.startswith("zoo list ") for t in texts) and any(
        t.startswith("zoo-bench speed") for t in texts
    )
    assert any(t.startswith(SETUP) for t in texts)


# ------------------------------------------------------------------------------------------------ checks


@pytest.mark.parametrize(
    ("language", "text", "needs"),
    [
        ("bash", "zoo data download voc", {}),
        ("bash", "zoo-bench --dataset voc --models 'deeplabv3-*'", {}),  # a sweep over published weights
        ("bash", "zoo data check voc --data-root ~/data  # needs time", {1: ("time",)}),  # not a known need
        ("bash", "zoo list --pretrianed", {}),  # a flag zoo does not have
        ("bash", "pip install zoo", {}),  # a program the test does not run, unmarked
        ("python", 'import zoo\nzoo.create("deeplabv3-resnet101.coco_voc")', {}),
        ("python", 'import zoo\nzoo.create("segformer-mit_b2", weights="default")', {}),
    ],
)
def test_an_example_that_cannot_run_here_must_say_why(language, text, needs):
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        _check_markers(Example(1, language, text, needs))


def test_the_same_examples_marked_pass_the_check():
    _check_markers(Example(1, "bash", "zoo data download voc", {1: ("network",)}))
    _check_markers(Example(1, "bash", "zoo-bench --dataset voc --models 'unet-*'", {}))  # no weights to fetch
    _check_markers(Example(1, "python", 'import zoo\nzoo.create("fcn-resnet50.coco_voc")', {2: ("network",)}))
    assert _runnable_python(
        Example(1, "python", "import zoo\nzoo.create(\n  'x')\nx = 1", {2: ("network",)})
    ) == ("import zoo\npass\n\nx = 1")


def _command_words(text: str) -> list[str]:
    """The program and its arguments (``VAR=value`` prefixes and comments dropped)."""
    words = shlex.split(text, comments=True)
    while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
        words.pop(0)
    return words


def _zoo_argv(words: list[str]) -> tuple[str, list[str]] | None:
    """``("zoo" | "zoo-bench", arguments)`` for a command that runs zoo's command line, else None."""
    if words and words[0].removeprefix(VENV_BIN) in ("zoo", "zoo-bench"):
        return words[0].removeprefix(VENV_BIN), words[1:]
    for position, word in enumerate(words[:-1]):  # python -m zoo.bench ..., torchrun ... -m zoo.bench ...
        if word == "-m" and words[position + 1] in ("zoo.cli", "zoo.bench"):
            return ("zoo" if words[position + 1] == "zoo.cli" else "zoo-bench"), words[position + 2 :]
    return None


def _parse(program: str, argv: list[str]):
    """zoo's own parser's reading of ``argv`` (a usage error fails the test)."""
    from zoo.cli import build_bench_parser, build_parser
    from zoo.cli.app import with_default_command
    from zoo.cli.base import subcommands

    parser = build_parser() if program == "zoo" else build_bench_parser()
    if program == "zoo-bench":
        argv = with_default_command(argv, tuple(subcommands(parser)))
    try:
        return parser.parse_args(argv)
    except SystemExit as error:
        pytest.fail(f"README: `{program} {shlex.join(argv)}`: zoo's parser refuses it (exit {error.code})")


def _downloads(args) -> bool:
    """Whether the parsed command fetches files: a download, or a sweep over published weights."""
    command = _command(args)
    if command == "data download":
        return True
    if command != "eval" or args.checkpoint or args.allow_untrained:
        return False
    from zoo.bench.sweep import plan_jobs

    return any(job.weights is not None for job in plan_jobs(args.models, args.dataset, weights=args.weights))


def _command(args) -> str:
    """The sub-command parsed: ``eval``, ``merge``, ``data download``, ``leaderboard``... (``zoo bench X`` and
    ``zoo-bench X`` both ``X``)."""
    words = args.command_prog.split()[1:]
    return " ".join(words[1:] if words[:1] == ["bench"] else words)


def _python_downloads(source: str) -> list[int]:
    """The lines of ``zoo.create`` calls that load published weights (offsets into ``source``, from 1)."""
    from zoo.registry import REGISTRY

    lines = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and ast.unparse(node.func) in ("zoo.create", "create")):
            continue
        keywords = {k.arg: k.value for k in node.keywords}
        tagged = False
        if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            tagged = REGISTRY.resolve(node.args[0].value)[1] is not None
        pretrained = "pretrained" in keywords and ast.literal_eval(keywords["pretrained"])
        if tagged or pretrained or "weights" in keywords:
            lines.append(node.lineno)
    return lines


def _check_markers(example: Example) -> None:
    """Fails unless each marker names known needs, each zoo command line parses, and each line that downloads
    is marked ``network`` (run for every example, marked or not)."""
    for line, needs in example.needs.items():
        unknown = [need for need in needs if not NEED.fullmatch(need)]
        assert not unknown, (
            f'README line {line}: `# needs {", ".join(needs)}` names {unknown}; see README.md, "Use"'
        )
    if example.language == "python":
        for offset in _python_downloads(example.text):
            line = example.line + offset - 1
            assert "network" in example.needs.get(line, ()), (
                f"README line {line} loads published weights: end it with `# needs network`"
            )
        return
    words = _command_words(example.text)
    if words[0] not in PROGRAMS and not example.text.startswith(SETUP) and not example.needs:
        pytest.fail(
            f"README line {example.line}: `{words[0]}` is no program this test runs ({sorted(PROGRAMS)}): "
            "make it one, or end the line with `# needs ...`"
        )
    for part in _setup_parts(example) or [example.text]:
        zoo_argv = _zoo_argv(_command_words(part))
        if zoo_argv is None:
            continue
        args = _parse(*zoo_argv)
        if _downloads(args):
            assert "network" in example.needs.get(example.line, ()), (
                f"README line {example.line} downloads files: end it with `# needs network`"
            )


def _setup_parts(example: Example) -> list[str]:
    """The zoo parts of a set-up command of "On a fresh machine" (nothing for another example)."""
    if not example.text.startswith(SETUP):
        return []
    parts = [part.strip() for part in example.text.split("&&")]
    return [part.removeprefix(VENV_BIN) for part in parts if part.startswith(VENV_BIN + "zoo")]


# ------------------------------------------------------------------------------------------------ running


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A home folder with ``~/data`` (VOC, Cityscapes, ADE20K, a folder dataset), also the user data folder."""
    import platformdirs

    home = tmp_path_factory.mktemp("home")
    data = home / "data"
    # one image per split: the examples run their models at the protocols' sizes (VOC's shorter side 520)
    write_voc(data, {"train": ["2007_000001"], "val": ["2007_000002"]})
    write_cityscapes(data / "cityscapes", frames={"frankfurt": ["frankfurt_000000_000001"]})
    write_ade20k(data, {"training": 1, "validation": 1})
    write_folder(data / "people", {"p0": _binary_mask(0)})
    with pytest.MonkeyPatch.context() as patch:  # where the user data folder is, for this home
        patch.setenv("HOME", str(home))
        patch.delenv("XDG_DATA_HOME", raising=False)
        user_data = Path(platformdirs.user_data_dir("zoo")) / "data"
    user_data.parent.mkdir(parents=True)
    user_data.symlink_to(data, target_is_directory=True)
    bin_dir = home / "bin"  # the venv's programs, running this checkout's zoo
    bin_dir.mkdir()
    for program, module in (
        ("zoo", "-m zoo.cli"),
        ("zoo-bench", "-m zoo.bench"),
        ("python", ""),
        ("python3", ""),
    ):
        (bin_dir / program).write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {module} "$@"\n')
        (bin_dir / program).chmod(0o755)
    return home


def _binary_mask(seed: int):
    import numpy as np

    return (np.random.default_rng(seed).random((12, 16)) > 0.5).astype(np.uint8) * 255


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOO_", "HF_", "XDG_"))}
    env.update(
        HOME=str(home),
        PATH=f"{home / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
        ZOO_OFFLINE="1",
        HF_HUB_OFFLINE="1",
        HF_HOME=str(home / "hf"),
        TORCH_HOME=str(home / "torch"),
        ZOO_CACHE=str(home / "zoo-cache"),
        MPLBACKEND="Agg",
        COLUMNS="120",
        # one thread: on a loaded 2-core machine torch's default two threads run many times slower
        OMP_NUM_THREADS="1",
    )
    return env


def _checkout(tmp_path: Path) -> Path:
    """A folder standing for the checkout, with ``../shared/data/real`` where the real samples exist."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    if REAL_DATA is not None:
        (tmp_path / "shared" / "data").mkdir(parents=True)
        (tmp_path / "shared" / "data" / "real").symlink_to(REAL_DATA, target_is_directory=True)
    return checkout


def _save_checkpoint(path: Path, model: str, num_classes: int) -> None:
    """The state dict of ``model`` with ``num_classes`` outputs: the user's trained checkpoint, untrained."""
    import torch

    import zoo

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(zoo.create(model, num_classes=num_classes).state_dict(), path)


def _prepare_command(args, checkout: Path) -> None:
    """The files a command presumes the user has, made in ``checkout`` from its own arguments."""
    from zoo.classes import LABEL_SPACES
    from zoo.results import ResultsStore

    command = _command(args)
    if command == "eval" and args.checkpoint:
        classes = args.checkpoint_classes or len(LABEL_SPACES.get(args.dataset, ("background", "person")))
        (model,) = args.models
        _save_checkpoint(checkout / Path(args.checkpoint).expanduser(), model, classes)
    elif command == "leaderboard" and not args.reported_only and args.results:
        results = Path(args.results)
        if (REPO / results).is_dir():  # the checkout's own results (leaderboards/data) and pages
            shutil.copytree(REPO / results.parts[0], checkout / results.parts[0])
        else:  # a folder of the user's own results
            ResultsStore(checkout / results / "run.csv").append(make_row(), make_classes(21))
    elif command == "merge":  # the files of a job array of two shards: one row, and one shard with none
        folder = checkout / args.folder
        ResultsStore(folder / "shard-0-of-2.csv").append(make_row(), make_classes(21))
        empty = ResultsStore(folder / "shard-1-of-2.csv")
        empty.replace(empty.read())


def _prepare_python(source: str, checkout: Path) -> None:
    """The checkpoints a python example loads (``zoo.create(NAME, num_classes=N, checkpoint=FILE)``)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("zoo.create", "create"):
            keywords = {
                k.arg: ast.literal_eval(k.value)
                for k in node.keywords
                if k.arg in ("checkpoint", "num_classes")
            }
            if "checkpoint" in keywords:
                model = ast.literal_eval(node.args[0])
                _save_checkpoint(checkout / keywords["checkpoint"], model, keywords.get("num_classes", 21))


def _runnable_python(example: Example) -> str:
    """The block without the top-level statements that hold a marked line (each becomes ``pass``)."""
    lines = example.text.split("\n")
    marked = {line - example.line for line in example.needs}
    for statement in ast.parse(example.text).body:
        span = range(statement.lineno - 1, statement.end_lineno)
        if marked & set(span):
            lines[span[0]] = "pass"
            for index in span[1:]:
                lines[index] = ""
    return "\n".join(lines)


def _run(command: list[str], checkout: Path, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=checkout, env=_environment(home), capture_output=True, text=True, timeout=TIMEOUT_S
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_readme_example(example: Example, home: Path, tmp_path: Path):
    _check_markers(example)
    if example.language == "bash" and example.needs:
        return  # marked: parsed above, not run here
    if example.language == "bash" and example.text.startswith(SETUP):
        # the evaluation is CI's (about 25 s here); its arguments were parsed above
        commands = [c for c in _setup_parts(example) if not c.startswith("zoo-bench")]
        if any("../shared/data/real" in c for c in commands) and REAL_DATA is None:
            pytest.skip("no ../shared/data/real beside this checkout")
    else:
        commands = [example.text]
    checkout = _checkout(tmp_path)
    if example.language == "python":
        _prepare_python(_runnable_python(example), checkout)
        script = checkout / "example.py"
        script.write_text(_runnable_python(example))
        result = _run([sys.executable, str(script)], checkout, home)
        assert result.returncode == 0, f"README line {example.line}:\n{result.stderr[-3000:]}"
        return
    for command in commands:
        zoo_argv = _zoo_argv(_command_words(command))
        if zoo_argv is not None:
            _prepare_command(_parse(*zoo_argv), checkout)
        result = _run(["bash", "-c", command], checkout, home)
        assert result.returncode == 0, (
            f"README line {example.line}: `{command}` exit {result.returncode}:\n{result.stdout[-2000:]}\n"
            f"{result.stderr[-3000:]}"
        )
        assert "Traceback" not in result.stderr, result.stderr[-3000:]
