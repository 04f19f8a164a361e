"""Command-line entry point: ``python -m rediscluster demo [options]``."""

from __future__ import annotations

import sys

USAGE = "usage: python -m rediscluster demo [--help]"


def main() -> int:
    """Dispatch to the subcommand named first on the command line."""
    if len(sys.argv) < 2 or sys.argv[1] != "demo":
        print(USAGE, file=sys.stderr)
        return 2
    from .demo import main as demo_main

    return demo_main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
