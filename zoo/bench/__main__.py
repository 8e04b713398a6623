"""``python -m zoo.bench`` runs ``zoo-bench`` (also under torchrun)."""

import sys

from zoo.cli import bench_main

sys.exit(bench_main())
