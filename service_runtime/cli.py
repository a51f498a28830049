"""The `stablegate` operator CLI."""

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `stablegate` console script."""
    print("stablegate", argv if argv is not None else sys.argv[1:])
    return 0
