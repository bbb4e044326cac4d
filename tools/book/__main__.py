"""``python -m book build ROOT OUTPUT [--jobs 2]``: the strict build, in this process."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .build import build_in_process


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m book")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("build", help="strict build with every notebook executed afresh")
    cmd.add_argument("root", type=Path)
    cmd.add_argument("output", type=Path)
    cmd.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    return build_in_process(args.root.resolve(), args.output.resolve(), args.jobs)


if __name__ == "__main__":
    sys.exit(main())
