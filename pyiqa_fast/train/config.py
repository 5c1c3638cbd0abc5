"""Training configuration: dataclasses, YAML loading and ``--set a.b=c`` overrides.

A config has five sections (``model``, ``data``, ``optim``, ``train``) plus the name of an
evaluation ``protocol`` (:mod:`pyiqa_fast.train.protocols`). Defaults reproduce DEIQT's recipe
(METHODS.md §2.2–2.3). Unknown keys are errors with a "did you mean" hint, so a typo never trains
silently with a default.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ModelConfig", "DataConfig", "OptimConfig", "TrainConfig", "Config", "ConfigError",
    "load_config", "apply_overrides", "config_from_dict", "config_to_dict", "default_config_dir", "validate_config",
    "stage_config",
]


class ConfigError(ValueError):
    """A config file or override that cannot be applied (unknown key, bad value, bad syntax)."""


def _range(low: float | None = None, *, above: float | None = None, below: float | None = None,
           length: int | None = None) -> dict[str, Any]:
    """Field metadata read by :func:`validate_config`: ``value >= low``, ``value > above``,
    ``value < below`` (for a list: every item) and a list ``length``."""
    return {"range": {"low": low, "above": above, "below": below, "length": length}}


def _at_least(low: float, default: Any) -> Any:
    return field(default=default, metadata=_range(low))


def _positive(default: Any) -> Any:
    return field(default=default, metadata=_range(above=0))


def _path(default: str | None = None) -> Any:
    """A file path field: a non-empty string (or null when the type allows it)."""
    return field(default=default, metadata={"path": True})


@dataclass
class ModelConfig:
    """Which model to build.

    Args:
        name: A registered model id for :func:`pyiqa_fast.models.create_model`.
        kwargs: Extra keyword arguments for the model factory (e.g. ``img_size``, ``normalize_input``).
        pretrained: Local file of ImageNet weights the model's encoder starts from (``~`` and
            environment variables expanded), passed as ``create_model(name, pretrained=...)``; null
            (the default): random init. The shipped DEIQT paper configs point it at the DeiT-III
            ViT-S/16 file's default location (README: "Train DEIQT on a real dataset").
    """

    name: str = "deiqt_vit_s16"
    kwargs: dict[str, Any] = field(default_factory=lambda: {"normalize_input": True})
    pretrained: str | None = _path()


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
    root: str | None = "data/koniq"
    split: str = "ratio82"
    resize: list[int] | None = field(default=None, metadata=_range(1, length=2))
    crop_size: int = _at_least(1, 224)
    patch_num: int = _at_least(1, 25)
    hflip: bool = True
    batch_size: int = _at_least(1, 16)
    eval_batch_size: int = _at_least(1, 8)
    num_workers: int = _at_least(0, 4)
    synthetic_size: int = _at_least(2, 64)
    synthetic_image_size: int = _at_least(1, 40)


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

    lr: float = _positive(2e-4)
    weight_decay: float = _at_least(0, 0.05)
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999], metadata=_range(0, below=1, length=2))
    eps: float = _positive(1e-8)
    warmup_epochs: float = _at_least(0, 3.0)
    warmup_lr: float = _at_least(0, 2e-7)
    decay_epochs: float = _positive(3.0)
    decay_rate: float = _positive(0.1)
    min_lr: float = _at_least(0, 2e-7)
    clip_grad: float | None = _at_least(0, 5.0)
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

    epochs: int = _at_least(1, 9)
    seed: int = _at_least(0, 0)
    amp: bool = True
    deterministic: bool = True
    device: str = "auto"
    out_dir: str = "runs/deiqt"
    checkpoint_every: int = _at_least(0, 0)
    max_steps: int | None = _at_least(1, None)
    eval_every: int = _at_least(1, 1)
    progress: bool = True
    log_every: int = _at_least(1, 50)
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
        recipe: The training recipe, a sequence of stages (``pyiqa_fast.train.stages.RECIPES``;
            ``deiqt``: one MOS regression stage).
        stages: Per-stage overrides, ``{stage name: {"optim.lr": 1e-4, ...}}`` (dotted keys or nested
            mappings), applied over the rest of the config for that stage only (:func:`stage_config`).
        recipe_options: The recipe's own options (free-form; each recipe checks its keys, e.g.
            SHDIQA's ``views``, ``alpha``, ``beta``, ``tau``).
    """

    protocol: str = "deiqt"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    protocol_overrides: dict[str, Any] = field(default_factory=dict)
    recipe: str = "deiqt"
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    recipe_options: dict[str, Any] = field(default_factory=dict)


_SECTIONS = {"model": ModelConfig, "data": DataConfig, "optim": OptimConfig, "train": TrainConfig}
# Free-form mappings: any key is accepted below them.
_FREE = {("model", "kwargs"), ("protocol_overrides",), ("stages",), ("recipe_options",)}


def _unknown(key: str, choices: list[str], where: str) -> ConfigError:
    close = difflib.get_close_matches(key, choices, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; valid keys: {', '.join(sorted(choices))}"
    return ConfigError(f"unknown config key {where + '.' if where else ''}{key!r}{hint}")


def _coerce(obj: Any, key: str, value: Any, where: str = "") -> Any:
    """PyYAML reads ``1e-4`` (no dot) as a string: convert strings for float/int fields (and the
    items of a ``list[float]``); :func:`validate_config` checks types and ranges afterwards."""
    ftype = str({f.name: f.type for f in dataclasses.fields(obj)}[key]).removesuffix(" | None")
    if isinstance(value, str) and ftype in ("float", "int"):
        try:
            return float(value) if ftype == "float" else int(value)
        except ValueError:
            raise ConfigError(f"config {where or key} must be {'a number' if ftype == 'float' else 'an integer'}; "
                              f"got {value!r}") from None
    if isinstance(value, list) and ftype == "list[float]":
        try:
            return [float(v) if isinstance(v, str) else v for v in value]
        except ValueError:
            raise ConfigError(f"config {where or key} must be a list of numbers; got {value!r}") from None
    return value


_SCALARS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}


def _expected(ftype: str, rng: dict[str, Any] | None) -> str:
    """``"an integer >= 1"``, ``"a list of 2 numbers in [0, 1)"``, ``"a number > 0 or null"`` …"""
    optional = ftype.endswith(" | None")
    base = ftype.removesuffix(" | None")
    item = base[5:-1] if base.startswith("list[") else base
    text = _SCALARS.get(item, item)
    if rng:
        low, above, below = rng["low"], rng["above"], rng["below"]
        if low is not None and below is not None:
            text += f" in [{low:g}, {below:g})"
        elif low is not None:
            text += f" >= {low:g}"
        elif above is not None:
            text += f" > {above:g}"
    if base.startswith("list["):
        n = rng["length"] if rng else None
        text = f"a list of {n if n else ''} {text.replace('an integer', 'integers').replace('a number', 'numbers')}"
        text = text.replace("  ", " ")
    return text + (" or null" if optional else "")


def _scalar_ok(item: str, value: Any) -> bool:
    if item == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if item == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if item == "bool":
        return isinstance(value, bool)
    if item == "str":
        return isinstance(value, str)
    return True  # dict[...] and Any: free-form


def _in_range(rng: dict[str, Any] | None, value: Any) -> bool:
    if not rng:
        return True
    return not ((rng["low"] is not None and value < rng["low"]) or (rng["above"] is not None and value <= rng["above"])
                or (rng["below"] is not None and value >= rng["below"]))


def _check_field(where: str, f: dataclasses.Field, value: Any) -> None:
    ftype = str(f.type)
    rng = f.metadata.get("range")
    if value is None and ftype.endswith(" | None"):
        return
    base = ftype.removesuffix(" | None")
    if base.startswith("dict["):
        ok = isinstance(value, dict)
    elif base.startswith("list["):
        item = base[5:-1]
        ok = isinstance(value, (list, tuple)) and (not rng or not rng["length"] or len(value) == rng["length"]) \
            and all(_scalar_ok(item, v) and _in_range(rng, v) for v in value)
    else:
        ok = _scalar_ok(base, value) and (base not in ("int", "float") or _in_range(rng, value))
    if not ok:
        raise ConfigError(f"config {where} must be {_expected(ftype, rng)}; got {value!r}")
    if f.metadata.get("path") and not value.strip():
        raise ConfigError(f"config {where} must be a file path (a non-empty string) or null; got {value!r}")


def validate_config(cfg: Config) -> Config:
    """Check every field's type and range, the loss, the target normalisation and the protocol.

    Ranges are the ``range`` metadata of the dataclass fields (``data.batch_size >= 1``,
    ``optim.lr > 0``, ``data.num_workers >= 0`` …), the one place they are defined.

    Args:
        cfg: The config.

    Returns:
        ``cfg``.

    Raises:
        ConfigError: The first bad field, as ``config <section>.<key> must be <expected>; got <value>``.

    Example:
        >>> validate_config(apply_overrides(Config(), ["train.epochs=0"]))
        Traceback (most recent call last):
        ...
        pyiqa_fast.train.config.ConfigError: config train.epochs must be an integer >= 1; got 0
    """
    from pyiqa_fast.train.protocols import Protocol

    for section in _SECTIONS:
        obj = getattr(cfg, section)
        for f in dataclasses.fields(obj):
            _check_field(f"{section}.{f.name}", f, getattr(obj, f.name))
    if not isinstance(cfg.protocol, str):
        raise ConfigError(f"config protocol must be a preset name (a string); got {cfg.protocol!r}")
    if not isinstance(cfg.protocol_overrides, dict):
        raise ConfigError(f"config protocol_overrides must be a mapping; got {cfg.protocol_overrides!r}")
    if not isinstance(cfg.recipe, str):
        raise ConfigError(f"config recipe must be a recipe name (a string); got {cfg.recipe!r}")
    if not isinstance(cfg.stages, dict) or not all(isinstance(v, dict) for v in cfg.stages.values()):
        raise ConfigError(f"config stages must map stage names to mappings of overrides; got {cfg.stages!r}")
    for name in cfg.stages:
        stage_config(cfg, name)  # every override names a real key and passes validation
    names = [f.name for f in dataclasses.fields(Protocol)]
    for key in cfg.protocol_overrides:
        if key not in names:
            raise _unknown(key, names, "protocol_overrides")
    try:
        Protocol.preset(cfg.protocol, **cfg.protocol_overrides)
    except KeyError as e:
        raise ConfigError(f"config protocol: {e.args[0]}") from None
    except (TypeError, ValueError) as e:
        msg = str(e)  # "Protocol.<field> must be …, got …"
        raise ConfigError(f"config {msg.replace('Protocol.', 'protocol_overrides.', 1)}"
                          if msg.startswith("Protocol.") else f"config protocol_overrides: {msg}") from None
    from pyiqa_fast.train.stages import LOSSES, TARGET_NORMS

    if cfg.optim.loss not in LOSSES:
        raise ConfigError(f"config optim.loss must be one of {', '.join(LOSSES)}; got {cfg.optim.loss!r}")
    if cfg.train.target_norm not in TARGET_NORMS:
        raise ConfigError(f"config train.target_norm must be one of {', '.join(TARGET_NORMS)}; "
                          f"got {cfg.train.target_norm!r}")
    return cfg


def config_from_dict(d: dict[str, Any] | None) -> Config:
    """Build a :class:`Config` from nested dicts, checking every key.

    Args:
        d: Nested mapping as read from YAML; missing keys keep their defaults.

    Returns:
        The config.

    Raises:
        ConfigError: On unknown keys, a non-mapping section, or a value that is not a number where
            one is expected (types and ranges: :func:`validate_config`).

    Example:
        >>> config_from_dict({"train": {"epochs": 2}}).train.epochs
        2
    """
    if d is not None and not isinstance(d, dict):
        raise ConfigError(f"a config must be a mapping of sections, got {type(d).__name__}")
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
                setattr(section, k, _coerce(section, k, v, f"{key}.{k}"))
        elif key in ("protocol_overrides", "stages", "recipe_options"):
            if value is not None and not isinstance(value, dict):
                raise ConfigError(f"config {key} must be a mapping, got {type(value).__name__}")
            setattr(cfg, key, dict(value or {}))
        else:
            setattr(cfg, key, value)
    return cfg


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """The config as plain nested dicts (JSON/YAML serialisable)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def _yaml_problem(e: Exception) -> str:
    """``line L, column C: <what PyYAML said>`` (1-based) of a YAML error, on one line."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    what = " ".join(str(x) for x in (getattr(e, "context", None), getattr(e, "problem", None)) if x) or str(e)
    what = " ".join(what.split())
    return f"line {mark.line + 1}, column {mark.column + 1}: {what}" if mark is not None else what


def _parse_value(text: str, item: str = "") -> Any:
    try:
        import yaml
    except ImportError:  # pragma: no cover - yaml is a dependency of the train extra
        try:
            return json.loads(text)
        except ValueError:
            return text
    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"override {item!r}: the value is not valid YAML ({_yaml_problem(e)})") from None


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
        _set_path(cfg, keys, _parse_value(text, item), item)
    return cfg


def _set_path(cfg: Config, keys: list[str], value: Any, item: str) -> None:
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
        setattr(obj, last, _coerce(obj, last, value, ".".join(keys)))
    else:
        raise ConfigError(f"override {item!r}: {'.'.join(keys[:-1])} is not a mapping")


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        # model.kwargs and protocol_overrides are free-form: a nested mapping there is a value
        if isinstance(v, dict) and key not in ("model.kwargs", "protocol_overrides", "recipe_options") and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def stage_config(cfg: Config, stage: str) -> Config:
    """The configuration of one stage: ``cfg`` with ``cfg.stages[stage]`` applied (a deep copy; its
    own ``stages`` emptied). A stage without overrides gets an unchanged copy.

    Raises:
        ConfigError: An override names an unknown key or gives a bad value (as ``stages.<stage>.<key>``).
    """
    out = copy.deepcopy(cfg)
    out.stages = {}
    for path, value in _flatten(cfg.stages.get(stage, {})).items():
        if path.split(".")[0] in ("stages", "recipe"):
            raise ConfigError(f"config stages.{stage}: {path!r} cannot be set per stage")
        try:
            _set_path(out, path.split("."), value, f"stages.{stage}.{path}")
        except ConfigError as e:
            raise ConfigError(f"config stages.{stage}: {e}") from None
    if cfg.stages.get(stage):
        try:
            validate_config(out)
        except ConfigError as e:
            raise ConfigError(str(e).replace("config ", f"config stages.{stage}: ", 1)) from None
    return out


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
        ConfigError: Bad content: invalid YAML/JSON (file, line and column, what the parser said),
            an unknown key, or a value of the wrong type or out of range (:func:`validate_config`).
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
        try:
            with open(p, encoding="utf-8") as fh:
                text = fh.read()
        except UnicodeDecodeError as e:
            raise ConfigError(f"config {p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        if p.endswith(".json"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as e:
                raise ConfigError(f"config {p}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
        else:
            try:
                import yaml
            except ImportError as e:
                raise ImportError("reading YAML configs needs PyYAML: pip install pyyaml") from e
            try:
                data = yaml.safe_load(text) or {}
            except yaml.YAMLError as e:
                raise ConfigError(f"config {p}: invalid YAML at {_yaml_problem(e)}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config {p!r} must hold a mapping at the top level, not {type(data).__name__}")
    return validate_config(apply_overrides(config_from_dict(data), overrides))
