"""Training-curve plot (PNG) from a results record; needs matplotlib, skipped without it."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["plot_training_curves"]


def plot_training_curves(results: dict[str, Any], path: str | os.PathLike) -> str | None:
    """Draw training loss (and each named loss term of a multi-loss stage, dashed) and test SRCC/PLCC
    per epoch for every repeat.

    Args:
        results: The record written to ``results.json`` (uses ``results["repeats"][i]["epochs"]``).
        path: Output PNG.

    Returns:
        ``None`` on success, else the reason no plot was written (matplotlib missing).
    """
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib): no training-curve plot"
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for rep in results.get("repeats", []):
        epochs = rep.get("epochs", [])
        label = f"repeat {rep.get('repeat', 0)}"
        ep = [e["epoch"] + 1 for e in epochs]
        line, = axes[0].plot(ep, [e.get("train_loss") for e in epochs], marker="o", label=label)
        terms = sorted({k for e in epochs for k in e.get("losses", {})})
        for style, term in zip(("--", ":", "-."), terms if len(terms) > 1 else [], strict=False):
            axes[0].plot(ep, [e.get("losses", {}).get(term) for e in epochs], style, color=line.get_color(),
                         label=f"{label}: {term}")
        ev = [e for e in epochs if e.get("plcc") is not None]
        axes[1].plot([e["epoch"] + 1 for e in ev], [e["srcc"] for e in ev], marker="o", label=label)
        axes[2].plot([e["epoch"] + 1 for e in ev], [e["plcc"] for e in ev], marker="o", label=label)
    for ax, title in zip(axes, ("train loss", "test SRCC", "test PLCC"), strict=True):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    if results.get("repeats"):
        axes[0].legend(fontsize=7)
    proto = results.get("protocol", {}).get("name", "?")
    stage = f" — stage {results['stage']}" if results.get("stage") else ""
    fig.suptitle(f"{results.get('config', {}).get('model', {}).get('name', '?')}{stage} — protocol {proto}, "
                 f"seed {results.get('seed')}", fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(os.fspath(path))), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None
