"""``python -m zoo.cli`` runs ``zoo``."""

import sys

from zoo.cli import main

sys.exit(main())
