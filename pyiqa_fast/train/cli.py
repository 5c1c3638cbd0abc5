"""Functions behind ``pyiqa-fast train`` and ``pyiqa-fast eval`` (the parser lives in ``pyiqa_fast.cli``)."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import torch

__all__ = ["run_eval", "run_score", "run_train"]


def run_train(config: str, overrides: list[str] | None = None, resume: bool | str = False,
              quiet: bool = False) -> int:
    """Load ``config`` (path or shipped name), apply ``--set`` overrides, train; returns an exit code.

    Errors (bad config, divergence, mismatched checkpoint) print one line to stderr and return 1/2.
    """
    from pyiqa_fast.train import CheckpointMismatchError, ConfigError, Trainer, TrainingDivergedError, load_config

    try:
        cfg = load_config(config, overrides)
        if quiet:
            cfg.train.progress = False
        results = Trainer(cfg).fit(resume=resume)
    except (ConfigError, FileNotFoundError, KeyError) as e:
        print(f"pyiqa-fast train: {e}", file=sys.stderr)
        return 2
    except (TrainingDivergedError, CheckpointMismatchError) as e:
        print(f"pyiqa-fast train: {e}", file=sys.stderr)
        return 1
    if not quiet and "summary" in results:
        s = results["summary"]
        print(json.dumps({k: s[k] for k in ("statistic", "srcc", "plcc", "krcc", "rmse")}))
    print(f"results: {os.path.join(cfg.train.out_dir, 'results.json')}")
    return 0


class MissingConfigError(ValueError):
    """A checkpoint without a stored config and no --config (a usage error: exit status 2)."""


def _load_trained(command: str, checkpoint: str, config: str | None, overrides: list[str] | None):
    """(trainer, model with the checkpoint's weights, checkpoint) of a training run; the config is
    ``config`` or the one the checkpoint stores.

    Raises:
        MissingConfigError: Neither a config nor one stored in the checkpoint.
    """
    from pyiqa_fast.train import Trainer, load_checkpoint, load_config
    from pyiqa_fast.train.config import apply_overrides, config_from_dict

    ckpt = load_checkpoint(checkpoint)
    if config is not None:
        cfg = load_config(config, overrides)
    elif "config" in ckpt:
        cfg = apply_overrides(config_from_dict(ckpt["config"]), overrides)
    else:
        raise MissingConfigError(f"{command}: {checkpoint} stores no config; pass --config")
    trainer = Trainer(cfg)
    model = trainer._make_model().to(trainer.device)
    model.load_state_dict(ckpt["model"])
    return trainer, model, ckpt


def run_eval(checkpoint: str, config: str | None = None, overrides: list[str] | None = None,
             out: str | None = None) -> int:
    """Evaluate a trained checkpoint (``last.pt`` or ``model_repeatNN.pt``) on the test split of repeat 0.

    The model and data come from ``config`` (default: the config stored in a ``last.pt`` checkpoint).
    Prints the metrics as JSON and writes them to ``out`` if given.
    """
    try:
        trainer, model, ckpt = _load_trained("pyiqa-fast eval", checkpoint, config, overrides)
        _, test = trainer._datasets(0)
        metrics = trainer.evaluate(model, test, ckpt.get("target_stats"))  # the training run's normalisation
    except MissingConfigError as e:
        print(e, file=sys.stderr)
        return 2
    except (FileNotFoundError, RuntimeError, KeyError, ValueError) as e:
        print(f"pyiqa-fast eval: {e}", file=sys.stderr)
        return 1
    metrics = {"protocol": trainer.protocol.name, **metrics}
    print(json.dumps(metrics))
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(metrics, fh, indent=2)
    return 0


def run_score(checkpoint: str, images: list[str], config: str | None = None,
              overrides: list[str] | None = None) -> int:
    """Quality scores of image files with a trained checkpoint (the run's test-time crops and label scale).

    Each image is read as RGB, resized as the run's data (``data.resize``), cut into the protocol's
    test crops, and scored as the mean over crops, de-standardised with the run's target statistics.
    Prints a table (image, score) on stdout.
    """
    from PIL import Image

    from pyiqa_fast.train.trainer import _TestCrops

    missing = [p for p in images if not os.path.isfile(p)]
    if missing:
        print(f"pyiqa-fast score: no such image file: {missing[0]}", file=sys.stderr)
        return 2
    try:
        trainer, model, ckpt = _load_trained("pyiqa-fast score", checkpoint, config, overrides)
        cfg = trainer.cfg
        model.eval()
        items = []
        for path in images:
            with Image.open(path) as im:
                pil = im.convert("RGB")
                if cfg.data.resize:
                    pil = pil.resize(tuple(cfg.data.resize)[::-1], Image.Resampling.BICUBIC)  # (h, w) → PIL (w, h)
                img = torch.from_numpy(np.asarray(pil).copy()).permute(2, 0, 1).float() / 255
            items.append({"img": img, "mos": 0.0})
        crops = _TestCrops(items, cfg.data.crop_size, trainer.protocol.test_crops, trainer.protocol.test_crop_mode,
                           cfg.train.seed)
        stats = ckpt.get("target_stats")
        scores = []
        with torch.no_grad():
            for i in range(len(crops)):
                _, x, _ = crops[i]
                s = float(model(x.to(trainer.device)).float().mean())
                scores.append(s * stats["std"] + stats["mean"] if stats else s)
    except MissingConfigError as e:
        print(e, file=sys.stderr)
        return 2
    except (OSError, RuntimeError, KeyError, ValueError) as e:
        print(f"pyiqa-fast score: {e}", file=sys.stderr)
        return 1
    width = max(len(p) for p in images)
    print(f"{'image':<{width}}  score")
    for path, s in zip(images, scores, strict=True):
        print(f"{path:<{width}}  {s:.4f}")
    return 0
