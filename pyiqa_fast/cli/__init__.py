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

    demo = commands.add_parser(
        "demo", help="train a tiny SHDIQA (teacher, then distilled student) and DEIQT on embedded data (CPU, "
                     "minutes) and test both",
        description="Train a tiny SHDIQA teacher and student (configs/shdiqa_demo.yaml) and DEIQT-tiny at the "
                    "same budget on skimage-synth-blocks, print held-out SRCC/PLCC of both, write results.json "
                    "and demo_curves.png. --config deiqt_demo: DEIQT alone. --ops adds the per-op kernel comparison.")
    demo.add_argument("--quick", action="store_true", help="a seconds-long run of the same pipeline (tests)")
    demo.add_argument("--config", default="shdiqa_demo", help="training config (default: shdiqa_demo)")
    demo.add_argument("--set", dest="overrides", action="append", default=[], metavar="A.B=C",
                      help="override a config value (repeatable)")
    demo.add_argument("-o", "--out", default=None, help="run folder (default: the config's, runs/demo)")
    demo.add_argument("--ops", action="store_true", help="also run every op on every backend and compare")
    demo.add_argument("--ops-only", action="store_true", help="only the per-op comparison, no training")
    demo.add_argument("-n", "--batch-size", type=int, default=4096, help="--ops: loss batch size (default 4096)")
    demo.add_argument("--repeats", type=int, default=20, help="--ops: timed repetitions per backend (default 20)")

    train = commands.add_parser("train", help="train a model from a YAML config")
    train.add_argument("--config", required=True, help="YAML config (a file or a shipped name, e.g. deiqt_demo)")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="A.B=C",
                       help="override a config value (repeatable)")
    train.add_argument("--resume", nargs="?", const=True, default=False,
                       help="resume from the run's last checkpoint (or the given file)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    evaluate = commands.add_parser("eval", help="evaluate a training checkpoint")
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--config", help="config (default: the one stored in the checkpoint)")
    evaluate.add_argument("--set", dest="overrides", action="append", default=[], metavar="A.B=C")
    evaluate.add_argument("-o", "--out", help="write the metrics as JSON here")

    score = commands.add_parser("score", help="score image files with a trained checkpoint")
    score.add_argument("images", nargs="+", help="image files")
    score.add_argument("--checkpoint", required=True, help="last.pt or model_repeatNN.pt of a training run")
    score.add_argument("--config", help="config (default: the one stored in the checkpoint)")
    score.add_argument("--set", dest="overrides", action="append", default=[], metavar="A.B=C")
    dst = commands.add_parser("distort", help="distort one image (a file or a scikit-image photo name)")
    dst.add_argument("image", help="image file, or a scikit-image photo name (astronaut, coffee, …)")
    dst.add_argument("-o", "--out", required=True, help="output image file")
    dst.add_argument("--type", dest="types", action="append", required=True,
                     help="distortion name (repeat once per block with --partition)")
    dst.add_argument("--level", dest="levels", action="append", type=int, required=True,
                     help="level index 0..4 (repeat once per block)")
    dst.add_argument("--preset", default="reiqa", choices=("reiqa", "kadis", "arniqa"))
    dst.add_argument("--partition", default=None, help="vertical, horizontal, grid2x2 (default: whole image)")
    dst.add_argument("--block-mode", default="composite", choices=("composite", "crop"))
    dst.add_argument("--seed", type=int, default=0)
    dst.add_argument("--backend", default="auto")
    listing = commands.add_parser("list", help="models, metrics, distortions, datasets or protocols")
    listing.add_argument("what", choices=("models", "metrics", "distortions", "datasets", "protocols"))

    from pyiqa_fast.cli.prepare import add_prepare_arguments

    add_prepare_arguments(commands.add_parser("prepare", help="verify a local dataset copy, write its meta CSV"))

    dist = commands.add_parser("distortions", help="the distortion catalogue and pictures of it")
    dist_commands = dist.add_subparsers(dest="action", metavar="ACTION", required=True)
    grid = dist_commands.add_parser("grid", help="draw every type at its five levels on a photo (PNG)")
    grid.add_argument("--image", default="astronaut",
                      help="image file, or a scikit-image photo name (default: astronaut)")
    grid.add_argument("--out", default="distortions_grid.png", help="output PNG (default: distortions_grid.png)")
    grid.add_argument("--preset", default="reiqa", choices=("reiqa", "kadis", "arniqa"))
    grid.add_argument("--types", default="shdiqa24", choices=("shdiqa24", "reiqa26", "arniqa24"))
    grid.add_argument("--size", type=int, default=112, help="tile size in pixels (default 112, at least 49)")
    grid.add_argument("--seed", type=int, default=0)
    grid.add_argument("--no-block-example", dest="block_example", action="store_false",
                      help="leave out the block-wise degradation example")
    grid.add_argument("--backend", default="auto")
    listing = dist_commands.add_parser("list", help="ids, names, cost classes and level values")
    listing.add_argument("--preset", default=None, choices=("reiqa", "kadis", "arniqa"))
    listing.add_argument("--types", default=None, choices=("shdiqa24", "reiqa26", "arniqa24"))
    return parser


def _run_list(what: str) -> int:
    if what == "distortions":
        from pyiqa_fast.cli.distortions import run_list

        return run_list(None, None)
    if what == "models":
        from pyiqa_fast.models import list_models as names
    elif what == "metrics":
        from pyiqa_fast.metrics import list_metrics as names
    elif what == "datasets":
        from pyiqa_fast.data import list_datasets as names
    else:
        from pyiqa_fast.train.protocols import list_protocols as names
    for name in names():
        print(name)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "env":
            from pyiqa_fast.cli.env import run_env

            return run_env(as_json=args.json)
        if args.command == "demo":
            from pyiqa_fast.cli.demo import run_demo

            return run_demo(batch_size=args.batch_size, repeats=args.repeats, train=not args.ops_only,
                            ops=args.ops or args.ops_only, quick=args.quick, config=args.config,
                            overrides=args.overrides, out_dir=args.out)
        if args.command == "train":
            from pyiqa_fast.train.cli import run_train

            return run_train(args.config, args.overrides, args.resume, args.quiet)
        if args.command == "eval":
            from pyiqa_fast.train.cli import run_eval

            return run_eval(args.checkpoint, args.config, args.overrides, args.out)
        if args.command == "score":
            from pyiqa_fast.train.cli import run_score

            return run_score(args.checkpoint, args.images, args.config, args.overrides)
        if args.command == "distort":
            from pyiqa_fast.cli.distortions import run_distort

            return run_distort(args.image, args.out, args.types, args.levels, args.preset, args.partition,
                               args.block_mode, args.seed, args.backend)
        if args.command == "list":
            return _run_list(args.what)
        if args.command == "prepare":
            from pyiqa_fast.cli.prepare import run_from_args

            return run_from_args(args)
        if args.command == "distortions":
            from pyiqa_fast.cli.distortions import run_grid, run_list

            if args.action == "grid":
                return run_grid(args.image, args.out, args.preset, args.types, args.size, args.seed,
                                args.block_example, args.backend)
            return run_list(args.preset, args.types)
    except (ValueError, TypeError, RuntimeError, OSError, KeyError, ImportError) as exc:
        from pyiqa_fast.utils.errors import error_message

        print(f"pyiqa-fast {args.command}: error: {error_message(exc)}", file=sys.stderr)
        return 2
    return 0  # unreachable: argparse requires a known command
