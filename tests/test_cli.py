"""The `zoo` command tree, run as a user runs it: `zoo list`, `zoo info`, help and version at every level,
the `zoo-bench` alias, the one exception-to-exit-code mapping, user text never read as markup, logging,
shell completion."""

from __future__ import annotations

import subprocess
import sys

import pytest

from zoo.cli import bench_main, build_bench_parser, build_parser, main, run_command
from zoo.errors import EXIT_INTERRUPTED, EXIT_USAGE, MergeError, UnknownModelError


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_with_pattern_and_pretrained(capsys):
    code, out, _ = run_cli(capsys, "list", "deeplabv3-*", "--pretrained")
    assert code == 0
    assert "deeplabv3-resnet101.coco_voc" in out and "deeplabv3-resnet50.coco_voc" in out
    assert "segformer" not in out and "smp:deeplabv3" not in out  # smp's has no weights


def test_list_by_dataset(capsys):
    code, out, _ = run_cli(capsys, "list", "--dataset", "cityscapes")
    assert code == 0 and "6 models" in out and "segformer-mit_b5.cityscapes" in out


def test_list_nothing_matches(capsys):
    code, out, _ = run_cli(capsys, "list", "nothing-*")
    assert code == 1 and "no model matches nothing-*" in out


def test_info_shows_provenance_and_labels_reported_numbers(capsys):
    code, out, _ = run_cli(capsys, "info", "deeplabv3-resnet101")
    assert code == 0
    flat = " ".join(out.split())
    assert "smp:deeplabv3-resnet101" in flat  # the shadowed family is named
    assert "586e9e4e" in flat and "prefix" in flat
    assert "67.4 on COCO-val2017-VOC-labels" in flat and "reported by publisher" in flat
    assert "differs from it" in flat and "resized to 520 (nearest)" in flat  # beside its reference


def test_info_flags_unverified_and_unpinned_weights(capsys):
    code, out, _ = run_cli(capsys, "info", "segformer-mit_b0.ade20k")
    flat = " ".join(out.split())
    assert code == 0 and "UNVERIFIED" in flat and "not pinned to a commit" in flat
    assert "37.4 on ADE20K val" in flat


def test_unknown_name_exits_2_with_suggestions(capsys):
    code, _, err = run_cli(capsys, "info", "deeplab_v3_plus-resnet10")
    assert code == 2 and "deeplabv3plus-resnet101" in err


@pytest.mark.parametrize("command", [["list", "unet-*"], ["info", "segformer-mit_b2"]])
def test_the_console_script_does_not_import_torch(command):
    code = (
        "import sys; from zoo.cli import main; main(sys.argv[1:]);"
        "assert not {'torch', 'timm', 'segmentation_models_pytorch'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code, *command], check=True, capture_output=True)


def test_zoo_bench_dispatches_speed_and_merge(capsys):
    assert bench_main(["speed", "--models", "no_such-model", "--device", "cpu", "--size", "32x32"]) == 1
    assert "unknown model 'no_such-model'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench_main(["merge", "--help"])
    assert "--out" in capsys.readouterr().out


PAGES = {"README.md", "voc.md", "cityscapes.md", "ade20k.md", "speed.md"}


def a_results_folder(folder):
    from test_results import make_classes, make_row

    from zoo.results import ResultsStore

    ResultsStore(folder / "run.csv").append(make_row(), make_classes(21))
    return folder


def test_zoo_leaderboard_renders_the_pages(tmp_path, capsys):
    results = a_results_folder(tmp_path / "data")
    code, out, _ = run_cli(capsys, "leaderboard", "--results", str(results), "--out", str(tmp_path / "out"))
    assert code == 0 and f"to {tmp_path / 'out'}" in out
    assert {p.name for p in (tmp_path / "out").glob("*.md")} == PAGES


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda folder: folder, "does not exist"),
        (lambda folder: (folder.mkdir(), folder)[1], "holds no results file"),
        (lambda folder: (folder.mkdir(), (folder / "README.md").write_text("rows go here"), folder)[2],
         "holds no results file"),
        (lambda folder: (folder.write_text("a file"), folder)[1], "is not a folder"),
    ],
    ids=["missing", "empty", "only-a-readme", "a-file"],
)  # fmt: skip
def test_zoo_leaderboard_refuses_a_results_folder_without_results(tmp_path, capsys, make, fragment):
    folder = make(tmp_path / "data")
    code, out, err = run_cli(capsys, "leaderboard", "--results", str(folder), "--out", str(tmp_path / "out"))
    assert code == 2 and err.count("\n") == 1 and str(folder) in err and fragment in err
    assert "--reported-only" in err and "Traceback" not in err + out
    assert not (tmp_path / "out").exists()


def test_zoo_leaderboard_needs_its_folders_outside_a_checkout(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results = a_results_folder(tmp_path / "data")
    code, _, err = run_cli(capsys, "leaderboard", "--results", str(results))
    assert code == 2 and "give --out DIR" in err and err.count("\n") == 1
    code, _, err = run_cli(capsys, "leaderboard", "--out", "pages")
    assert code == 2 and "give --results DIR" in err and not (tmp_path / "pages").exists()


def test_zoo_leaderboard_defaults_to_the_checkouts_folders(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'zoo'\n")
    a_results_folder(tmp_path / "leaderboards" / "data")
    code, out, _ = run_cli(capsys, "leaderboard")
    assert code == 0 and {p.name for p in (tmp_path / "leaderboards").glob("*.md")} == PAGES


def test_zoo_leaderboard_reported_only_needs_no_results(tmp_path, capsys):
    code, _, _ = run_cli(capsys, "leaderboard", "--reported-only", "--out", str(tmp_path / "out"))
    assert code == 0 and {p.name for p in (tmp_path / "out").glob("*.md")} == PAGES
    code, _, err = run_cli(capsys, "leaderboard", "--reported-only", "--results", str(tmp_path), "--out", "x")
    assert code == 2 and "not both" in err


# --- one command tree: help at every level, version, the zoo-bench alias ------------------------------------


def help_text(capsys, entry, *args: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        entry([*args, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("entry", "args", "prefix"),
    [(main, [], "\n  zoo bench "), (main, ["bench"], "\n    "), (bench_main, [], "\n    ")],
    ids=["zoo", "zoo bench", "zoo-bench"],
)
def test_help_lists_the_bench_commands(capsys, entry, args, prefix):
    text = help_text(capsys, entry, *args)
    for command in ("eval", "speed", "merge"):
        assert f"{prefix}{command} " in text, text


def test_top_level_help_lists_every_command(capsys):
    text = help_text(capsys, main)
    for command in ("list", "info", "data check", "data download", "leaderboard", "completion", "--version"):
        assert f"zoo {command}" in text or command in text
    assert "check" in help_text(capsys, main, "data") and "download" in help_text(capsys, main, "data")


def every_parser(parser, prog=None):
    """(prog, parser) of every command of the tree, depth first."""
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action.choices, dict):
            for sub in dict.fromkeys(action.choices.values()):
                yield from every_parser(sub)


@pytest.mark.parametrize("build", [build_parser, build_bench_parser])
def test_every_command_has_help_and_shows_its_defaults(build):
    import argparse

    for prog, parser in every_parser(build()):
        assert parser.format_help().startswith("Usage:"), prog
        formatter = parser._get_formatter()
        for action in parser._actions:
            if action.nargs == argparse.PARSER:
                continue
            assert action.help, f"{prog} {action.option_strings or action.dest} has no help"
            has_value = action.option_strings and action.nargs != 0
            if has_value and action.default is not None and action.default != argparse.SUPPRESS:
                assert "(default" in formatter._get_help_string(action), f"{prog} {action.option_strings}"


def test_defaults_shown_are_the_harness_defaults(capsys):
    text = " ".join(help_text(capsys, main, "bench", "eval").split())
    assert "(default: val)" in text and "(default: results.csv)" in text and "(default: 1800.0)" in text
    text = " ".join(help_text(capsys, bench_main, "speed").split())
    assert "(default: forward,forward+upsample+argmax)" in text and "(default: speed.csv)" in text
    assert "leave cudnn.benchmark off (default" not in text  # a flag's default says nothing


@pytest.mark.parametrize(("entry", "prog"), [(main, "zoo"), (bench_main, "zoo-bench")])
def test_version(capsys, entry, prog):
    import zoo

    with pytest.raises(SystemExit) as exit_info:
        entry(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"{prog} {zoo.__version__}"


def test_zoo_bench_is_zoo_bench_eval(capsys, tmp_path):
    nowhere = str(tmp_path / "nowhere")
    args = ["--dataset", "voc", "--data-root", nowhere, "--models", "unet-resnet18", "--device", "cpu"]
    assert bench_main(args) == 2
    alias = capsys.readouterr().err
    assert main(["bench", "eval", *args]) == 2
    tree = capsys.readouterr().err
    assert "VOC2012 root does not exist" in alias and alias.split(": ", 1)[1] == tree.split(": ", 1)[1]
    assert bench_main(["-q", *args]) == 2  # global flags before the implicit eval
    with pytest.raises(SystemExit) as exit_info:
        bench_main(["--dataset", "voc"])  # eval's own usage error: --models missing
    assert exit_info.value.code == EXIT_USAGE and "--models" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--dataset", "voc"], ["eval", "--dataset", "voc"]),
        (["-v", "--dataset", "voc"], ["-v", "eval", "--dataset", "voc"]),
        (["-qq", "speed", "--models", "x"], ["-qq", "speed", "--models", "x"]),
        (["merge", "shards/"], ["merge", "shards/"]),
        (["eval", "--dataset", "voc"], ["eval", "--dataset", "voc"]),
        (["--help"], ["--help"]),
        (["--version"], ["--version"]),
        ([], []),
    ],
)
def test_zoo_bench_implies_eval_unless_a_command_comes_first(argv, expected):
    from zoo.cli.app import with_default_command
    from zoo.cli.base import subcommands

    assert with_default_command(argv, tuple(subcommands(build_bench_parser()))) == expected


@pytest.mark.parametrize(
    "args",
    [
        ["--workers", "-1"],
        ["--batch-size", "0"],
        ["--limit", "0"],
        ["--dist-timeout", "0"],
        ["--dtype", "fp8"],
    ],
)
def test_eval_values_out_of_range_are_usage_errors(capsys, args):
    with pytest.raises(SystemExit) as exit_info:
        bench_main(["--dataset", "voc", "--models", "x", *args])
    assert exit_info.value.code == EXIT_USAGE and args[0] in capsys.readouterr().err


def test_python_m_zoo_bench_runs_zoo_bench():
    result = subprocess.run(
        [sys.executable, "-m", "zoo.bench", "--help"], capture_output=True, text=True, check=True
    )
    assert "zoo-bench" in result.stdout and "merge" in result.stdout


# --- one place maps exceptions to exit codes ----------------------------------------------------------------


def raising(error: BaseException):
    def command() -> int:
        raise error

    return command


def test_a_zoo_error_is_exit_2_and_one_line_without_traceback(capsys):
    assert run_command(raising(UnknownModelError("unknown model 'x'")), prog="zoo info") == EXIT_USAGE
    assert capsys.readouterr().err == "zoo info: error: unknown model 'x'\n"


def test_a_zoo_errors_own_exit_code_is_honoured(capsys):
    assert run_command(raising(MergeError("missing 1 of 3 shards")), prog="zoo bench merge") == 1
    assert "error: missing 1 of 3 shards" in capsys.readouterr().err
    assert run_command(raising(MergeError("no shard files", exit_code=2))) == 2


def test_an_oserror_is_exit_2_naming_the_file(capsys):
    error = PermissionError(13, "Permission denied", "/results/r.csv")
    assert run_command(raising(error), prog="zoo bench eval") == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "/results/r.csv" in err and "Traceback" not in err


def test_ctrl_c_is_exit_130_with_the_commands_hint(capsys):
    code = run_command(raising(KeyboardInterrupt()), prog="zoo bench eval", interrupted="rerun with --resume")
    assert code == EXIT_INTERRUPTED == 130
    assert capsys.readouterr().err == "zoo bench eval: interrupted: rerun with --resume\n"


def test_ctrl_c_without_a_hint_is_one_word(capsys):
    assert run_command(raising(KeyboardInterrupt()), prog="zoo leaderboard") == EXIT_INTERRUPTED
    assert capsys.readouterr().err == "zoo leaderboard: interrupted\n"


def test_a_bug_is_not_hidden():
    with pytest.raises(ZeroDivisionError):
        run_command(raising(ZeroDivisionError("a bug")))


def test_the_command_returns_its_own_code():
    assert run_command(lambda: 1) == 1 and run_command(lambda: 0) == 0


# --- user text is never markup ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["[bold]deeplabv3-x", "deeplabv3[/x]-resnet101", "[red]x[/red]"])
def test_a_model_name_with_markup_is_shown_verbatim(capsys, name):
    code, out, err = run_cli(capsys, "info", name)
    assert code == 2 and f"unknown model {name!r}" in err
    assert "Traceback" not in err + out and err.count("\n") == 1


def test_a_pattern_with_markup_is_shown_verbatim(capsys):
    code, out, err = run_cli(capsys, "list", "[bold]zz*")
    assert code == 1 and "no model matches [bold]zz*" in out and "Traceback" not in err


def test_a_speed_model_with_markup_is_shown_verbatim(capsys, tmp_path):
    results = str(tmp_path / "s.csv")
    code = bench_main(
        ["speed", "--models", "[bold]nothing", "--size", "8x8", "--device", "cpu", "--results", results]
    )
    err = capsys.readouterr().err
    assert code == 1 and "unknown model '[bold]nothing'" in " ".join(err.split()) and "Traceback" not in err


# --- devices that are not there: one line, exit 2, before any model is built ---------------------------------


@pytest.mark.parametrize("device", ["cuda", "cuda:1", "tpu", "mps"])
def test_speed_refuses_a_missing_device_before_building_a_model(capsys, tmp_path, monkeypatch, device):
    import torch

    import zoo.factory

    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setattr(zoo.factory, "create", raising(AssertionError("a model was built")))
    results = tmp_path / "s.csv"
    code = bench_main(["speed", "--models", "unet-resnet18", "--size", "8x8", "--device", device,
                       "--results", str(results)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and err.startswith(f"zoo-bench speed: error: device {device!r}")
    assert err.count("\n") == 1 and "Traceback" not in err and not results.exists()


def test_a_cuda_index_beyond_the_devices_present_is_refused(monkeypatch):
    import torch

    from zoo.bench.environment import DeviceUnavailableError, resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(DeviceUnavailableError, match=r"'cuda:2' .* 2 cuda device\(s\), numbered 0..1"):
        resolve_device("cuda:2")
    with pytest.raises(DeviceUnavailableError, match="computes no values"):
        resolve_device("meta")
    assert resolve_device(None) == torch.device("cuda")


# --- logging --------------------------------------------------------------------------------------------------


def test_verbosity_sets_the_level_of_zoos_loggers_while_a_command_runs(capsys, monkeypatch):
    import logging

    from zoo.cli import models

    seen = []

    def record_level(args):
        logger = logging.getLogger("zoo.cli.test")
        seen.append(logger.getEffectiveLevel())
        logger.info("info record [bold]kept[/bold]")
        logger.debug("debug record")
        return 0

    monkeypatch.setattr(models, "describe_model", record_level)
    for flags in ([], ["-v"], ["-q"], ["-qq"]):
        assert main([*flags, "info", "x"]) == 0
    assert seen == [logging.INFO, logging.DEBUG, logging.WARNING, logging.ERROR]
    assert not [h for h in logging.getLogger("zoo").handlers if type(h).__name__ == "RichHandler"]
    err = capsys.readouterr().err
    assert err.count("info record [bold]kept[/bold]") == 2 and err.count("debug record") == 1  # no markup


# --- shell completion -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_offers_every_command(capsys, shell):
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    for word in ("list", "leaderboard", "bench", "eval", "speed", "merge", "--data-root", "--dataset"):
        assert word in script
    assert main(["completion", shell, "--command", "zoo-bench"]) == 0
    assert "--allow-missing" in capsys.readouterr().out


def test_completion_shells_are_shtabs():
    import shtab

    from zoo.cli.completion import SHELLS

    assert set(SHELLS) <= set(shtab.SUPPORTED_SHELLS)


def test_building_the_tree_imports_no_heavy_module():
    code = (
        "import sys; from zoo.cli import build_bench_parser, build_parser; build_parser(); build_bench_parser();"
        "heavy = {'torch', 'numpy', 'pandas', 'shtab', 'timm'} & set(sys.modules); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_zoo_leaderboard_include_partial_reaches_render(tmp_path, capsys, monkeypatch):
    import zoo.leaderboard

    seen = []

    def render_with(results_dir, out_dir, *, date=None, include_partial=False):
        seen.append(include_partial)
        return []

    results = a_results_folder(tmp_path / "data")
    argv = ["leaderboard", "--results", str(results), "--out", str(tmp_path / "out")]
    monkeypatch.setattr(zoo.leaderboard, "render", render_with)
    assert main([*argv, "--include-partial"]) == 0 and main(argv) == 0 and seen == [True, False]


# --- zoo cache list | verify | clear -----------------------------------------------------------------------


def test_cache_list_verify_clear(isolated_cache, capsys):
    import hashlib

    from zoo.hub import torch_hub_path
    from zoo.registry import REGISTRY

    _, record = REGISTRY.resolve("deeplabv3-resnet101.coco_voc")
    code, out, _ = run_cli(capsys, "cache", "list", "deeplabv3-resnet101")
    assert code == 0 and "0 of 1 registered weight file(s) cached" in out

    swapped = torch_hub_path(record)  # another file under the published name: refused at load
    swapped.parent.mkdir(parents=True)
    swapped.write_bytes(b"not the published checkpoint")
    code, out, err = run_cli(capsys, "cache", "list", "--all")
    assert code == 0 and "1 of" in out and "deeplabv3-resnet101.coco_voc" in out and "unchecked" in out
    assert "zoo cache verify" in out

    code, out, err = run_cli(capsys, "cache", "verify", "deeplabv3-resnet101.coco_voc")
    actual = hashlib.sha256(swapped.read_bytes()).hexdigest()
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 1 and len(errors) == 1 and "Traceback" not in err
    assert str(swapped) in errors[0] and "mismatch" in errors[0] and actual in errors[0]
    assert "mismatch" in out

    code, out, err = run_cli(capsys, "cache", "clear")
    assert code == 2 and "--all" in err and swapped.exists()
    code, out, _ = run_cli(capsys, "cache", "clear", "deeplabv3-resnet101", "--dry-run")
    assert code == 0 and f"would delete {swapped}" in out and swapped.exists()
    code, out, _ = run_cli(capsys, "cache", "clear", "deeplabv3-resnet101.coco_voc")
    assert code == 0 and f"deleted {swapped}" in out and not swapped.exists()
    code, out, _ = run_cli(capsys, "cache", "verify", "deeplabv3-resnet101")
    assert code == 0 and "no registered weight file is cached" in out


def test_cache_names_an_unknown_model_in_one_line(isolated_cache, capsys):
    code, out, err = run_cli(capsys, "cache", "list", "[bold]nothing-here")
    assert code == 2 and "unknown model '[bold]nothing-here'" in err and err.count("\n") == 1
