"""`python -m zoo.bench` runs zoo-bench (also under torchrun)."""

import sys

from zoo.bench.cli import main

sys.exit(main())
