"""Functions behind ``pyiqa-fast train``, ``eval`` and ``score`` (the parser lives in ``pyiqa_fast.cli``).

Exit status: 0 on success; 2 when the input cannot be used (a bad config or override, a missing,
empty, edited or non-finite checkpoint, an unreadable image, bad dataset files); 1 when the run
itself fails (training diverged, a checkpoint of another model, a result that is not a number).
Every error is one line on stderr, ``pyiqa-fast <command>: <reason>``, without a traceback.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

import torch

from pyiqa_fast.utils.errors import error_message

__all__ = ["run_eval", "run_score", "run_train"]

#: The metrics that must be numbers for a result to count (``train`` and ``eval`` exit 1 otherwise).
RESULT_METRICS = ("srcc", "plcc")


def _fail(command: str, exc: BaseException | str, status: int) -> int:
    print(f"pyiqa-fast {command}: {exc if isinstance(exc, str) else error_message(exc)}", file=sys.stderr)
    return status


def _not_a_number(metrics: dict[str, Any]) -> str | None:
    """``"SRCC nan, PLCC nan"`` when a :data:`RESULT_METRICS` value is not finite, else None."""
    bad = {k: metrics.get(k) for k in RESULT_METRICS}
    if all(isinstance(v, (int, float)) and math.isfinite(v) for v in bad.values()):
        return None
    return ", ".join(f"{k.upper()} {v}" for k, v in bad.items())


def run_train(config: str, overrides: list[str] | None = None, resume: bool | str = False,
              quiet: bool = False) -> int:
    """Load ``config`` (path or shipped name), apply ``--set`` overrides, train; returns an exit code.

    Errors print one line to stderr and return 2 (bad config, override, checkpoint or data files)
    or 1 (divergence, a checkpoint of another model or config, a summary SRCC/PLCC that is NaN).
    """
    from pyiqa_fast.models import CheckpointError as WeightsFileError  # also a bad model.pretrained file
    from pyiqa_fast.train import (
        CheckpointError,
        CheckpointMismatchError,
        ConfigError,
        Trainer,
        TrainingDivergedError,
        load_config,
    )

    try:
        cfg = load_config(config, overrides)
        if quiet:
            cfg.train.progress = False
        results = Trainer(cfg).fit(resume=resume)
    except (ConfigError, CheckpointError, WeightsFileError, FileNotFoundError, KeyError) as e:
        return _fail("train", e, 2)
    except (TrainingDivergedError, CheckpointMismatchError) as e:
        return _fail("train", e, 1)
    path = os.path.join(cfg.train.out_dir, "results.json")
    if "summary" in results:
        s = results["summary"]
        if not quiet:
            print(json.dumps({k: s[k] for k in ("statistic", "srcc", "plcc", "krcc", "rmse")}))
        bad = _not_a_number(s)
        if bad:
            sizes = sorted({r["selected"].get("n") for r in results["repeats"] if r.get("selected")} - {None})
            return _fail("train", f"the result is not a number ({bad} over {len(results['repeats'])} repeat(s), "
                                  f"test sets of {', '.join(map(str, sizes)) or '?'} image(s)): a correlation needs "
                                  f"at least 2 test images and predictions that are not all equal; see {path}", 1)
    print(f"results: {path}")
    return 0


class MissingConfigError(ValueError):
    """A checkpoint without a stored config and no --config (a usage error: exit status 2)."""


def _load_trained(command: str, checkpoint: str, config: str | None, overrides: list[str] | None):
    """(trainer, model with the checkpoint's weights, checkpoint) of a training run; the config is
    ``config`` or the one the checkpoint stores.

    Raises:
        MissingConfigError: Neither a config nor one stored in the checkpoint.
        CheckpointError: As :func:`~pyiqa_fast.train.load_checkpoint` (empty, unreadable, no
            ``model`` entry, non-finite weights).
        CheckpointMismatchError: The weights do not fit the config's model (missing, unexpected or
            differently shaped tensors).
        ConfigError: A bad config (the file, the overrides or the one stored).
    """
    from pyiqa_fast.train import CheckpointMismatchError, Trainer, load_checkpoint, load_config
    from pyiqa_fast.train.config import apply_overrides, config_from_dict
    from pyiqa_fast.utils.state_dict import state_dict_differences

    ckpt = load_checkpoint(checkpoint, require=("model",))
    if config is not None:
        cfg = load_config(config, overrides)
    elif "config" in ckpt:
        cfg = apply_overrides(config_from_dict(ckpt["config"]), overrides)
    else:
        raise MissingConfigError(f"{command}: {checkpoint} stores no config; pass --config")
    trainer = Trainer(cfg)
    model = trainer._make_model(pretrained=False).to(trainer.device)  # the checkpoint's weights follow
    diffs = state_dict_differences(ckpt["model"], model.state_dict())
    if diffs:
        raise CheckpointMismatchError(f"{checkpoint} does not fit model {cfg.model.name} {cfg.model.kwargs} of the "
                                      f"config: {'; '.join(diffs)}")
    model.load_state_dict(ckpt["model"])
    return trainer, model, ckpt


def _load_errors():
    """(exit-2 types, exit-1 types) of :func:`_load_trained` and the data it reads."""
    from pyiqa_fast.train import CheckpointError, CheckpointMismatchError, TrainingDivergedError

    return (CheckpointError, ValueError, OSError, KeyError), (CheckpointMismatchError, TrainingDivergedError,
                                                             RuntimeError)


def run_eval(checkpoint: str, config: str | None = None, overrides: list[str] | None = None,
             out: str | None = None) -> int:
    """Evaluate a trained checkpoint (``last.pt`` or ``model_repeatNN.pt``) on the test split of repeat 0.

    The model and data come from ``config`` (default: the config stored in a ``last.pt`` checkpoint).
    Prints the metrics as JSON and writes them to ``out`` if given. Returns 2 on unusable input
    (checkpoint, config, data), 1 when the checkpoint does not fit the model or SRCC/PLCC is NaN.
    """
    bad_input, failed = _load_errors()
    try:
        trainer, model, ckpt = _load_trained("pyiqa-fast eval", checkpoint, config, overrides)
        _, test = trainer._datasets(0)
        metrics = trainer.evaluate(model, test, ckpt.get("target_stats"))  # the training run's normalisation
    except MissingConfigError as e:
        print(e, file=sys.stderr)
        return 2
    except bad_input as e:
        return _fail("eval", e, 2)
    except failed as e:
        return _fail("eval", e, 1)
    from pyiqa_fast.train.recipes import paper_cell

    metrics = {"protocol": trainer.protocol.name, **metrics}
    paper = paper_cell(trainer.cfg)
    if paper is not None:
        metrics["paper"] = paper
    print(json.dumps(metrics))
    if paper is not None:
        note = f" ({paper['note']})" if "note" in paper else ""
        print(f"ours SRCC {metrics['srcc']:.3f} PLCC {metrics['plcc']:.3f} on {metrics['n']} test images; paper "
              f"{paper['table']}: SRCC {paper['srcc']:.3f} PLCC {paper['plcc']:.3f}{note}", file=sys.stderr)
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(metrics, fh, indent=2)
    bad = _not_a_number(metrics)
    if bad:
        return _fail("eval", f"the result is not a number ({bad} on {metrics.get('n')} test image(s)): a "
                             "correlation needs at least 2 test images and predictions that are not all equal", 1)
    return 0


def run_score(checkpoint: str, images: list[str], config: str | None = None,
              overrides: list[str] | None = None) -> int:
    """Quality scores of image files with a trained checkpoint (the run's test-time crops and label scale).

    Each image is read as RGB in [0, 1] by :func:`pyiqa_fast.data.images.read_image` (16-bit,
    float, grey, palette and alpha images converted, others refused), resized as the run's data
    (``data.resize``, bicubic), cut into the protocol's test crops, and scored as the mean over
    crops, de-standardised with the run's target statistics. Prints a table (image, score) on
    stdout. Returns 2 on unusable input (a missing, unreadable or too small image, a bad
    checkpoint or config), 1 when the checkpoint does not fit the model or a score is not finite.
    """
    from pyiqa_fast.data.images import read_image
    from pyiqa_fast.train.trainer import _TestCrops

    missing = [p for p in images if not os.path.isfile(p)]
    if missing:
        return _fail("score", f"no such image file: {missing[0]}", 2)
    bad_input, failed = _load_errors()
    try:
        trainer, model, ckpt = _load_trained("pyiqa-fast score", checkpoint, config, overrides)
        cfg = trainer.cfg
        model.eval()
        c = cfg.data.crop_size
        items = []
        for path in images:
            img = read_image(path, "float", size=tuple(cfg.data.resize) if cfg.data.resize else None)
            h, w = img.shape[1:]
            if trainer.protocol.test_crop_mode != "resize" and (h < c or w < c):
                return _fail("score", f"{path}: image {w}x{h} is smaller than the model's {c}x{c} test crops "
                                      "(data.crop_size); score images at least that large", 2)
            items.append({"img": img, "mos": 0.0})
        crops = _TestCrops(items, c, trainer.protocol.test_crops, trainer.protocol.test_crop_mode, cfg.train.seed)
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
    except bad_input as e:
        return _fail("score", e, 2)
    except failed as e:
        return _fail("score", e, 1)
    width = max(len(p) for p in images)
    print(f"{'image':<{width}}  score")
    for path, s in zip(images, scores, strict=True):
        print(f"{path:<{width}}  {s:.4f}")
    nan = [p for p, s in zip(images, scores, strict=True) if not math.isfinite(s)]
    if nan:
        return _fail("score", f"{len(nan)} score(s) are not numbers ({', '.join(nan[:5])}): the model output "
                              f"NaN/inf on them", 1)
    return 0
