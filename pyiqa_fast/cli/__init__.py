"""The ``pyiqa-fast`` command line (also ``python -m pyiqa_fast``)."""

from __future__ import annotations

import argparse
import sys

from pyiqa_fast import __version__


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyiqa-fast", description="Fused kernels and trainers for blind IQA.")
    parser.add_argument("--version", action="version", version=f"pyiqa_fast {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    env = commands.add_parser("env", help="versions, devices, build information and backends per op")
    env.add_argument("--json", action="store_true", help="print machine-readable JSON")

    demo = commands.add_parser("demo", help="run every op on every available backend and compare")
    demo.add_argument("-n", "--batch-size", type=int, default=4096, help="loss batch size (default 4096)")
    demo.add_argument("--repeats", type=int, default=20, help="timed repetitions per backend (default 20)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "env":
            from pyiqa_fast.cli.env import run_env

            return run_env(as_json=args.json)
        if args.command == "demo":
            from pyiqa_fast.cli.demo import run_demo

            return run_demo(batch_size=args.batch_size, repeats=args.repeats)
    except (ValueError, TypeError, RuntimeError) as exc:
        print(f"pyiqa-fast {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0  # unreachable: argparse requires a known command
