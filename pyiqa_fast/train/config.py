"""Training configuration: dataclasses, YAML loading and ``--set a.b=c`` overrides.

A config has five sections (``model``, ``data``, ``optim``, ``train``) plus the name of an
evaluation ``protocol`` (:mod:`pyiqa_fast.train.protocols`). Defaults reproduce DEIQT's recipe
(METHODS.md §2.2–2.3). Unknown keys are errors with a "did you mean" hint, so a typo never trains
silently with a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ModelConfig", "DataConfig", "OptimConfig", "TrainConfig", "Config", "ConfigError",
    "load_config", "apply_overrides", "config_from_dict", "config_to_dict", "default_config_dir",
]


class ConfigError(ValueError):
    """A config file or override that cannot be applied (unknown key, bad value, bad syntax)."""


@dataclass
class ModelConfig:
    """Which model to build.

    Args:
        name: A registered model id for :func:`pyiqa_fast.models.create_model`.
        kwargs: Extra keyword arguments for the model factory (e.g. ``img_size``, ``normalize_input``).
    """

    name: str = "deiqt_vit_s16"
    kwargs: dict[str, Any] = field(default_factory=lambda: {"normalize_input": True})


@dataclass
class DataConfig:
    """Data set and input pipeline (METHODS.md §2.2).

    Args:
        dataset: Dataset name passed to the ``build_dataset`` hook (``"synthetic"`` is built in).
        root: Dataset root directory.
        split: Split column of the meta CSV, e.g. ``"ratio82"`` (the repeat index is appended by the hook).
        resize: Optional ``(h, w)`` resize the dataset applies before cropping (KonIQ: ``[512, 384]``).
        crop_size: Side of the square crops fed to the model.
        patch_num: Times each training image appears per epoch, each as an independent random crop.
        hflip: Random horizontal flip during training.
        batch_size: Batch size per process (global batch = ``batch_size * world_size``).
        eval_batch_size: Images per evaluation batch (each expands to ``test_crops`` crops).
        num_workers: DataLoader workers (crops are drawn in the main process, so results do not
            depend on this number).
        synthetic_size: Number of images of the built-in ``synthetic`` dataset.
        synthetic_image_size: Side of the images of the built-in ``synthetic`` dataset.
    """

    dataset: str = "koniq"
    root: str = "data/koniq"
    split: str = "ratio82"
    resize: list[int] | None = None
    crop_size: int = 224
    patch_num: int = 25
    hflip: bool = True
    batch_size: int = 16
    eval_batch_size: int = 8
    num_workers: int = 4
    synthetic_size: int = 64
    synthetic_image_size: int = 40


@dataclass
class OptimConfig:
    """AdamW with DEIQT's per-iteration warm-up + step schedule (timm ``StepLRScheduler``).

    Args:
        lr: Base learning rate.
        weight_decay: AdamW weight decay (not applied to 1-D parameters, biases, and the names the
            model lists in ``no_weight_decay()``).
        betas: AdamW betas.
        eps: AdamW epsilon.
        warmup_epochs: Linear warm-up length in epochs (counted in iterations).
        warmup_lr: Learning rate at step 0.
        decay_epochs: Step-decay period in epochs.
        decay_rate: Multiplicative decay per period.
        min_lr: Lower bound of the learning rate after warm-up.
        clip_grad: Gradient-norm clip (``0`` or ``None`` disables).
        loss: ``"smooth_l1"`` (β = 1, DEIQT), ``"mse"`` or ``"l1"``.
    """

    lr: float = 2e-4
    weight_decay: float = 0.05
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    warmup_epochs: float = 3.0
    warmup_lr: float = 2e-7
    decay_epochs: float = 3.0
    decay_rate: float = 0.1
    min_lr: float = 2e-7
    clip_grad: float | None = 5.0
    loss: str = "smooth_l1"


@dataclass
class TrainConfig:
    """Run control.

    Args:
        epochs: Epochs per repeat.
        seed: Base seed; process ``rank`` seeds its global RNGs with ``seed + rank`` (DEIQT) and every
            crop is drawn from a generator keyed by ``(seed, repeat, epoch, sample position)``.
        amp: Mixed precision (float16 autocast + GradScaler) on CUDA; ignored on CPU.
        deterministic: ``torch.use_deterministic_algorithms(True, warn_only=True)`` during the run.
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        out_dir: Run directory (checkpoints, ``results.json``, ``curves.png``).
        checkpoint_every: Also checkpoint every N steps (0: only at epoch ends and on stop).
        max_steps: Stop (with a checkpoint) after this many steps of the current repeat; for
            tests and time-limited jobs. Does not change the schedule.
        eval_every: Evaluate every N epochs (the last epoch is always evaluated).
        progress: tqdm progress bars (plain prints when tqdm is missing).
        log_every: Print/record the training loss every N steps.
        target_norm: ``"none"`` (train on the raw MOS) or ``"zscore"``: train on
            ``(mos - mean) / std`` with the training set's mean and (population) std; predictions
            are mapped back (``pred · std + mean``) before evaluation. The stats are stored in the
            checkpoints (``"target_stats"``) so a resume and ``pyiqa-fast eval`` use the same ones.
            Helps models with a bias-free head (DEIQT) trained from scratch on a 0–100 scale.
    """

    epochs: int = 9
    seed: int = 0
    amp: bool = True
    deterministic: bool = True
    device: str = "auto"
    out_dir: str = "runs/deiqt"
    checkpoint_every: int = 0
    max_steps: int | None = None
    eval_every: int = 1
    progress: bool = True
    log_every: int = 50
    target_norm: str = "none"


@dataclass
class Config:
    """A full training configuration.

    Args:
        protocol: Name of an evaluation protocol preset (``deiqt``, ``shdiqa``, ``dsmix``, ``dpiqa``,
            ``loda``) or a mapping of :class:`~pyiqa_fast.train.protocols.Protocol` fields.
        model: :class:`ModelConfig`.
        data: :class:`DataConfig`.
        optim: :class:`OptimConfig`.
        train: :class:`TrainConfig`.
        protocol_overrides: Fields replacing those of the named preset (e.g. ``{"repeats": 1}``).
    """

    protocol: str = "deiqt"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    protocol_overrides: dict[str, Any] = field(default_factory=dict)


_SECTIONS = {"model": ModelConfig, "data": DataConfig, "optim": OptimConfig, "train": TrainConfig}
# Free-form mappings: any key is accepted below them.
_FREE = {("model", "kwargs"), ("protocol_overrides",)}


def _unknown(key: str, choices: list[str], where: str) -> ConfigError:
    close = difflib.get_close_matches(key, choices, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; valid keys: {', '.join(sorted(choices))}"
    return ConfigError(f"unknown config key {where + '.' if where else ''}{key!r}{hint}")


def _coerce(obj: Any, key: str, value: Any) -> Any:
    """PyYAML reads ``1e-4`` (no dot) as a string: convert strings for float/int fields."""
    ftype = str({f.name: f.type for f in dataclasses.fields(obj)}[key])
    if isinstance(value, str) and ("float" in ftype or "int" in ftype):
        try:
            return float(value) if "float" in ftype else int(value)
        except ValueError as e:
            raise ConfigError(f"config key {key!r} expects a number, got {value!r}") from e
    if isinstance(value, list) and "list[float]" in ftype:
        return [float(v) for v in value]
    return value


def config_from_dict(d: dict[str, Any] | None) -> Config:
    """Build a :class:`Config` from nested dicts, checking every key.

    Args:
        d: Nested mapping as read from YAML; missing keys keep their defaults.

    Returns:
        The config.

    Raises:
        ConfigError: On unknown keys or a non-mapping section.

    Example:
        >>> config_from_dict({"train": {"epochs": 2}}).train.epochs
        2
    """
    d = dict(d or {})
    cfg = Config()
    top = [f.name for f in dataclasses.fields(Config)]
    for key, value in d.items():
        if key not in top:
            raise _unknown(key, top, "")
        if key in _SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"config section {key!r} must be a mapping, got {type(value).__name__}")
            section = getattr(cfg, key)
            names = [f.name for f in dataclasses.fields(section)]
            for k, v in value.items():
                if k not in names:
                    raise _unknown(k, names, key)
                setattr(section, k, _coerce(section, k, v))
        elif key == "protocol_overrides":
            cfg.protocol_overrides = dict(value or {})
        else:
            setattr(cfg, key, value)
    return cfg


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """The config as plain nested dicts (JSON/YAML serialisable)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def _parse_value(text: str) -> Any:
    try:
        import yaml
    except ImportError:  # pragma: no cover - yaml is a dependency of the train extra
        try:
            return json.loads(text)
        except ValueError:
            return text
    return yaml.safe_load(text) if text.strip() else ""


def apply_overrides(cfg: Config, overrides: list[str] | tuple[str, ...] | None) -> Config:
    """Apply ``a.b=c`` overrides in place (values parsed as YAML: ``1e-4``, ``true``, ``[512, 384]``).

    Args:
        cfg: The config to modify.
        overrides: Strings ``"section.key=value"``; ``model.kwargs.x=…`` and
            ``protocol_overrides.x=…`` may add new keys.

    Returns:
        ``cfg``.

    Raises:
        ConfigError: On a missing ``=``, an unknown key, or a path through a non-mapping.

    Example:
        >>> apply_overrides(Config(), ["optim.lr=1e-4", "data.resize=[512, 384]"]).data.resize
        [512, 384]
    """
    for item in overrides or ():
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form a.b=c")
        path, _, text = item.partition("=")
        keys = [k for k in path.strip().split(".") if k]
        if not keys:
            raise ConfigError(f"override {item!r} has an empty key")
        value = _parse_value(text)
        obj: Any = cfg
        for depth, key in enumerate(keys[:-1]):
            if isinstance(obj, dict):
                obj = obj.setdefault(key, {})
            elif dataclasses.is_dataclass(obj):
                names = [f.name for f in dataclasses.fields(obj)]
                if key not in names:
                    raise _unknown(key, names, ".".join(keys[:depth]))
                obj = getattr(obj, key)
            else:
                raise ConfigError(f"override {item!r}: {'.'.join(keys[:depth + 1])} is not a mapping")
        last = keys[-1]
        if isinstance(obj, dict):
            obj[last] = value
        elif dataclasses.is_dataclass(obj):
            names = [f.name for f in dataclasses.fields(obj)]
            if last not in names:
                raise _unknown(last, names, ".".join(keys[:-1]))
            if dataclasses.is_dataclass(getattr(obj, last)):
                raise ConfigError(f"override {item!r} targets a whole section; set its keys instead")
            setattr(obj, last, _coerce(obj, last, value))
        else:
            raise ConfigError(f"override {item!r}: {'.'.join(keys[:-1])} is not a mapping")
    return cfg


def default_config_dir() -> str:
    """Directory of the YAML configs shipped in the package (``pyiqa_fast/configs``)."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | None = None) -> Config:
    """Read a YAML (or JSON) config and apply overrides.

    Args:
        path: A file path, or the stem of a shipped config (``"deiqt_koniq"``); ``None`` gives the defaults.
        overrides: ``a.b=c`` strings (see :func:`apply_overrides`).

    Returns:
        The config.

    Raises:
        FileNotFoundError: The file does not exist (the message lists the shipped configs).
        ConfigError: Bad content.
    """
    data: dict[str, Any] = {}
    if path is not None:
        p = os.fspath(path)
        if not os.path.exists(p):
            shipped = os.path.join(default_config_dir(), p if p.endswith((".yaml", ".yml")) else p + ".yaml")
            if os.path.exists(shipped):
                p = shipped
            else:
                names = sorted(f[:-5] for f in os.listdir(default_config_dir()) if f.endswith(".yaml"))
                raise FileNotFoundError(f"config {p!r} not found; shipped configs: {', '.join(names)}")
        with open(p, encoding="utf-8") as fh:
            text = fh.read()
        if p.endswith(".json"):
            data = json.loads(text)
        else:
            try:
                import yaml
            except ImportError as e:
                raise ImportError("reading YAML configs needs PyYAML: pip install pyyaml") from e
            data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"config {p!r} must hold a mapping at the top level")
    return apply_overrides(config_from_dict(data), overrides)
