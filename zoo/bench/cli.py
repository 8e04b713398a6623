"""``zoo-bench``: the accuracy and speed harness. It is being built; this entry point says so."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``zoo-bench`` console script."""
    print(
        "zoo-bench is not available yet: the accuracy harness (--dataset voc|cityscapes|ade20k) and the speed "
        "harness are the next pieces of work. `zoo list` and `zoo info` work today.",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
