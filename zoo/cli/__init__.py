"""The ``zoo`` command line: one command tree, built with argparse and rich-argparse.

    zoo list [PATTERN...] [--pretrained] [--dataset D]     zoo info NAME
    zoo data check DATASET | zoo data download DATASET
    zoo bench eval ... | zoo bench speed ... | zoo bench merge FOLDER --out FILE   (zoo-bench = zoo bench)
    zoo leaderboard [--results DIR] [--out DIR]
    zoo results upgrade PATH | zoo results restore FILE
    zoo cache list | zoo cache verify | zoo cache clear NAME... | --all
    zoo completion bash|zsh|tcsh

One module per command group (:mod:`~zoo.cli.models`, :mod:`~zoo.cli.data`, :mod:`~zoo.cli.bench`,
:mod:`~zoo.cli.leaderboard`, :mod:`~zoo.cli.results`, :mod:`~zoo.cli.cache`, :mod:`~zoo.cli.completion`); each only parses, checks and hands over to the
library (the harness lives in :mod:`zoo.bench`). :func:`~zoo.cli.app.run_command` is the one place that turns
exceptions into exit codes. No command imports torch, timm or smp before it needs them: ``zoo list``,
``zoo info`` and ``zoo data`` never do (except ``zoo list --on-demand``, which asks timm for its names).
"""

from zoo.cli.app import bench_main, build_bench_parser, build_parser, main, run_command

__all__ = ["bench_main", "build_bench_parser", "build_parser", "main", "run_command"]
