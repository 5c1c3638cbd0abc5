"""Plots a results JSON: p50 per provider against size, with p20–p80 error bars.

One panel per (op, mode, dtype, extra) group, log–log axes; skipped and failed cells are left
out (the table printed by the bench lists why). Needs matplotlib (``pip install matplotlib``,
or the ``bench`` extra), imported only when plotting.

Usage:
    python -m bench.plot bench/results/0.1.0/margin_ranking_loss--cpu-2core--pt2.14-cu13.0.json
        [--out plot.png]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from bench import harness


def plot(data: dict[str, Any], out: Path) -> None:
    """Draws every group of a results file into one PNG.

    Args:
        data: A results file (:func:`bench.harness.load_results`).
        out: PNG path.

    Raises:
        ModuleNotFoundError: matplotlib is not installed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = harness.group_records(data["results"])
    cols = min(2, len(groups))
    rows = math.ceil(len(groups) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 4.5 * rows), squeeze=False)
    # One colour per provider across panels (a provider skipped in one panel must not shift the rest).
    providers = list(dict.fromkeys(r["provider"] for r in data["results"]))
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colour = {p: palette[i % len(palette)] for i, p in enumerate(providers)}
    for ax, (title, recs) in zip(axes.flat, groups.items(), strict=False):
        sizes = sorted({math.prod(r["shape"]) for r in recs})
        for provider in dict.fromkeys(r["provider"] for r in recs):
            timed = sorted(
                (math.prod(r["shape"]), r["p20"], r["p50"], r["p80"])
                for r in recs
                if r["provider"] == provider and r["p50"] is not None
            )
            if not timed:
                continue
            x, p20, p50, p80 = zip(*timed, strict=True)
            yerr = [[m - lo for lo, m in zip(p20, p50, strict=True)],
                    [hi - m for m, hi in zip(p50, p80, strict=True)]]
            ax.errorbar(x, p50, yerr=yerr, marker="o", capsize=3, label=provider, color=colour[provider])
        ax.set(xscale="log", yscale="log", title=title, xlabel="size (elements)",
               ylabel="time per call (us)")
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.tick_params(axis="x", which="minor", labelbottom=False)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    for ax in axes.flat[len(groups):]:
        ax.axis("off")
    meta = data["metadata"]
    fig.suptitle(f"{meta.get('device')} · torch {meta.get('torch')} · {meta.get('timestamp')} · "
                 "p50 with p20–p80 bars")
    fig.tight_layout()
    fig.savefig(out, dpi=150)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m bench.plot RESULTS.json [--out PNG]``."""
    ap = argparse.ArgumentParser(prog="python -m bench.plot", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path, help="results JSON written by a bench script")
    ap.add_argument("--out", type=Path, help="PNG path (default: the JSON path with .png)")
    args = ap.parse_args(argv)
    out = args.out or args.results.with_suffix(".png")
    try:
        plot(harness.load_results(args.results), out)
    except ModuleNotFoundError as exc:
        if exc.name != "matplotlib":
            raise
        print("bench.plot needs matplotlib: pip install matplotlib (or pip install -e .[bench])",
              file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
