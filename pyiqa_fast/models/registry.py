"""Model registry: ``@register_model`` factories, ``PretrainedCfg`` records, local-only weights.

timm-style (STYLE.md §9): a factory ``fn(pretrained=False, checkpoint_path=None, **kw)`` is
registered under its function name (the architecture id, e.g. ``deiqt_vit_s16``); its pretrained
configurations are keyed ``arch.tag`` (``deiqt_vit_s16.koniq``), the untagged ``arch`` entry being
the architecture's defaults (input size, normalisation, paper). pyiqa_fast never downloads:
weights come from ``checkpoint_path=`` or from a :class:`PretrainedCfg` whose ``file`` exists on
this machine. An encoder's ImageNet initialisation (``create_model(name, pretrained=<path>)``) comes
from a local file too (:mod:`pyiqa_fast.models.pretrained`).
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from pyiqa_fast._backends import BACKEND_NAMES
from pyiqa_fast.utils.state_dict import state_dict_differences

__all__ = [
    "CheckpointError",
    "PretrainedCfg",
    "UnknownModelError",
    "create_model",
    "get_pretrained_cfg",
    "list_models",
    "load_checkpoint",
    "register_model",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class UnknownModelError(ValueError):
    """A model id (architecture or ``arch.tag``) that the registry does not know."""


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, unreadable, or does not match the model's parameters."""


@dataclass(frozen=True)
class PretrainedCfg:
    """What a set of weights is and how to feed the model it belongs to.

    Attributes:
        file: Local path of the weights (``~`` and env vars expanded); None if none exist yet.
        url: Where the weights were published (documentation only: never fetched).
        hf_hub_id: Hugging Face Hub id (documentation only: never fetched).
        sha256: Expected checksum of ``file`` (checked when set).
        input_size: ``(C, H, W)`` the model takes.
        crop_mode: How test images are brought to ``input_size`` (e.g. ``"random_crops"``).
        mean: Per-channel normalisation mean applied to [0, 1] RGB.
        std: Per-channel normalisation std.
        score_range: ``(low, high)`` of the training labels the scores follow; None if untrained.
        lower_better: Whether a lower score means better quality.
        train_dataset: Dataset the weights were trained on.
        protocol: Evaluation protocol preset name (METHODS.md §1.3).
        reported_srcc_plcc: ``(SRCC, PLCC)`` the weights reach on their test split.
        license: Licence of the weights.
        paper: Citation of the method.
    """

    file: str | None = None
    url: str | None = None
    hf_hub_id: str | None = None
    sha256: str | None = None
    input_size: tuple[int, int, int] = (3, 224, 224)
    crop_mode: str | None = None
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    score_range: tuple[float, float] | None = None
    lower_better: bool = False
    train_dataset: str | None = None
    protocol: str | None = None
    reported_srcc_plcc: tuple[float, float] | None = None
    license: str | None = None
    paper: str | None = None

    @property
    def has_weights(self) -> bool:
        """True when ``file`` names an existing file on this machine."""
        return self.file is not None and os.path.isfile(_expand(self.file))


# arch -> factory; arch -> {tag: cfg} ("" is the untagged default); old id -> new id.
_ENTRYPOINTS: dict[str, Callable[..., nn.Module]] = {}
_PRETRAINED_CFGS: dict[str, dict[str, PretrainedCfg]] = {}
_ALIASES: dict[str, str] = {}
_DEPRECATED: dict[str, str] = {}


def register_model(fn: Callable[..., nn.Module] | None = None, *,
                   default_cfgs: Mapping[str, PretrainedCfg] | None = None,
                   aliases: Iterable[str] = (), deprecated_names: Iterable[str] = ()):
    """Register a model factory under its function name.

    Args:
        fn: The factory, ``fn(pretrained=False, checkpoint_path=None, **kw) -> nn.Module``.
        default_cfgs: Pretrained configurations keyed ``"tag"`` or ``"arch.tag"``; ``""`` (or the
            bare arch) is the architecture default. A default with no weights is added if absent.
        aliases: Other ids that resolve to this architecture silently.
        deprecated_names: Former ids that still resolve, with a ``FutureWarning``.

    Example:
        >>> @register_model(default_cfgs={"": PretrainedCfg()})
        ... def my_net(pretrained=False, **kw): ...
    """

    def decorate(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        arch = factory.__name__
        if arch in _ENTRYPOINTS or arch in _ALIASES or arch in _DEPRECATED:
            raise ValueError(f"model {arch!r} is already registered")
        _ENTRYPOINTS[arch] = factory
        cfgs: dict[str, PretrainedCfg] = {}
        for key, cfg in (default_cfgs or {}).items():
            key_arch, _, tag = key.rpartition(".") if "." in key else (arch, "", key)
            if key == arch:
                tag = ""
            elif key_arch != arch:
                raise ValueError(f"pretrained cfg {key!r} does not belong to {arch!r}")
            cfgs[tag] = cfg
        cfgs.setdefault("", PretrainedCfg())
        _PRETRAINED_CFGS[arch] = cfgs
        for alias in aliases:
            _ALIASES[alias] = arch
        for old in deprecated_names:
            _DEPRECATED[old] = arch
        return factory

    return decorate(fn) if fn is not None else decorate


def _known_ids() -> list[str]:
    return sorted(_ENTRYPOINTS) + sorted(_ALIASES) + sorted(_DEPRECATED)


def _resolve_arch(arch: str) -> str:
    if arch in _ENTRYPOINTS:
        return arch
    if arch in _ALIASES:
        return _ALIASES[arch]
    if arch in _DEPRECATED:
        new = _DEPRECATED[arch]
        warnings.warn(f"model id {arch!r} is renamed {new!r}; the old id will be removed",
                      FutureWarning, stacklevel=3)
        return new
    close = difflib.get_close_matches(arch, _known_ids(), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise UnknownModelError(f"unknown model {arch!r}.{hint} Known models: {', '.join(list_models())}"
                            f" (list_models() lists them; list_models(pretrained=True) those with weights)")


def _split(name: str) -> tuple[str, str]:
    arch, _, tag = name.partition(".")
    return arch, tag


def get_pretrained_cfg(name: str) -> PretrainedCfg:
    """The :class:`PretrainedCfg` of ``"arch"`` (defaults) or ``"arch.tag"``.

    Raises:
        UnknownModelError: Unknown architecture or tag (the message lists the known ones).
    """
    arch, tag = _split(name)
    arch = _resolve_arch(arch)
    cfgs = _PRETRAINED_CFGS[arch]
    if tag not in cfgs:
        tags = ", ".join(f"{arch}.{t}" for t in sorted(cfgs) if t) or "none"
        raise UnknownModelError(f"unknown pretrained tag {tag!r} for {arch!r}; known tags: {tags}")
    return cfgs[tag]


def list_models(filter: str | Iterable[str] = "", pretrained: bool = False) -> list[str]:  # noqa: A002
    """Registered model ids, sorted.

    Args:
        filter: Shell-style pattern(s) (``"deiqt*"``); empty keeps everything.
        pretrained: List ``arch.tag`` ids whose weights file exists locally instead of architectures.

    Example:
        >>> "deiqt_vit_s16" in list_models("deiqt*")
        True
    """
    if pretrained:
        names = [f"{arch}.{tag}" for arch, cfgs in _PRETRAINED_CFGS.items()
                 for tag, cfg in cfgs.items() if tag and cfg.has_weights]
    else:
        names = list(_ENTRYPOINTS)
    patterns = [filter] if isinstance(filter, str) else list(filter)
    patterns = [p for p in patterns if p]
    if patterns:
        names = [n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns)]
    return sorted(names)


def create_model(name: str, pretrained: bool | str | os.PathLike | None = False,
                 checkpoint_path: str | os.PathLike | None = None,
                 pretrained_cfg_overlay: Mapping[str, Any] | None = None, backend: str = "auto",
                 **kwargs: Any) -> nn.Module:
    """Build a registered model, optionally loading local weights.

    Args:
        name: ``"arch"`` or ``"arch.tag"`` (see :func:`list_models`).
        pretrained: ``True``: load the whole-model weights file named by the tag's
            :class:`PretrainedCfg`. A path (``str`` or ``os.PathLike``; ``~`` and environment
            variables expanded): initialise the model's *encoder* from that ImageNet checkpoint
            (timm or facebookresearch/deit format, classifier head dropped) through the model's
            ``load_pretrained`` method; the rest keeps its random init. ``False``/``None``: random
            init. Never downloads.
        checkpoint_path: Load this local whole-model state dict instead (takes precedence over
            ``pretrained=True``; combined with a ``pretrained`` path it is an error).
        pretrained_cfg_overlay: Fields replacing those of the resolved :class:`PretrainedCfg`.
        backend: Backend of the fused ops the model calls (``"auto"``, ``"reference"``, ``"cpu"``,
            ``"cuda"``, ``"triton"``).
        **kwargs: Architecture arguments passed to the factory.

    Returns:
        The model in train mode (as ``torch.nn`` modules are built), with ``pretrained_cfg`` set,
        and ``pretrained_report`` (a :class:`~pyiqa_fast.models.pretrained.PretrainedReport`, or
        None) saying what a ``pretrained`` path loaded.

    Raises:
        UnknownModelError: Unknown architecture or tag; the message lists the known ones.
        CheckpointError: The weights file is missing or its keys/shapes do not match (for a
            ``pretrained`` path: :class:`~pyiqa_fast.models.pretrained.PretrainedWeightsError`,
            and ``PretrainedWeightsNotFoundError``, also a ``FileNotFoundError``, for a missing file).
        TypeError: ``pretrained`` is neither a bool, None nor a path.
        ValueError: ``pretrained`` is an empty path, or a path together with ``checkpoint_path``,
            or a path for a model without a ``load_pretrained`` method.

    Example:
        >>> model = create_model("deiqt_tiny").eval()
        >>> model = create_model("deiqt_vit_s16", pretrained="~/.cache/pyiqa_fast/weights/"
        ...                      "deit3_small_patch16_224.fb_in22k_ft_in1k.pth")  # doctest: +SKIP
    """
    encoder_file: str | os.PathLike | None = None
    if pretrained is not None and not isinstance(pretrained, bool):
        if not isinstance(pretrained, (str, os.PathLike)):
            raise TypeError(f"pretrained must be a bool, None or a path to encoder weights; got "
                            f"{type(pretrained).__name__} {pretrained!r}")
        if not os.fspath(pretrained).strip():
            raise ValueError("pretrained must be a path to encoder weights, True/False or None; got ''")
        if checkpoint_path is not None:
            raise ValueError(f"pretrained={os.fspath(pretrained)!r} (encoder weights) and "
                             f"checkpoint_path={os.fspath(checkpoint_path)!r} (the whole model) were both given; "
                             "the whole-model checkpoint would overwrite the encoder: pass one")
        encoder_file, pretrained = pretrained, False
    pretrained = bool(pretrained)
    arch, tag = _split(name)
    arch = _resolve_arch(arch)
    cfg = get_pretrained_cfg(f"{arch}.{tag}" if tag else arch)
    if pretrained_cfg_overlay:
        cfg = dataclasses.replace(cfg, **dict(pretrained_cfg_overlay))
    if pretrained and checkpoint_path is None:
        if cfg.file is None:
            raise CheckpointError(
                f"no local weights are known for {name!r} (its PretrainedCfg has file=None); pass "
                "checkpoint_path=... or pretrained_cfg_overlay={'file': ...}. pyiqa_fast never downloads.")
        checkpoint_path = _expand(cfg.file)
    model = _ENTRYPOINTS[arch](pretrained=pretrained, checkpoint_path=checkpoint_path, pretrained_cfg=cfg,
                               backend=backend, **kwargs)
    model.pretrained_report = None
    if encoder_file is not None:
        load = getattr(model, "load_pretrained", None)
        if not callable(load):
            raise ValueError(f"pretrained={os.fspath(encoder_file)!r}: model {name!r} ({type(model).__name__}) "
                             "has no encoder to initialise from a file (no load_pretrained method)")
        model.pretrained_report = load(encoder_file)
    return model


def check_backend(backend: str) -> str:
    """Validate a ``backend=`` choice passed to a model (resolved later, per op call)."""
    choices = ("auto",) + BACKEND_NAMES
    if backend not in choices:
        raise ValueError(f"backend must be one of {', '.join(choices)}, got {backend!r}")
    return backend


def _expand(path: str | os.PathLike) -> str:
    return os.path.expandvars(os.path.expanduser(os.fspath(path)))


def _read_state_dict(path: str) -> dict[str, torch.Tensor]:
    if path.endswith(".safetensors"):
        try:
            from safetensors.torch import load_file
        except ImportError as exc:  # pragma: no cover - safetensors comes with timm
            raise ImportError(f"reading {path} needs safetensors: pip install safetensors") from exc
        return load_file(path, device="cpu")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    # Unwrap the usual containers ({"model": ...} is what DEIQT's official code saves).
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"checkpoint {path} does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_checkpoint(model: nn.Module, checkpoint_path: str | os.PathLike, sha256: str | None = None,
                    n_listed: int = 5) -> nn.Module:
    """Load a local state dict into ``model`` strictly, with an error that says what differs.

    Args:
        model: The module to fill (in place).
        checkpoint_path: A ``torch.save``d state dict (optionally under ``"model"``/``"state_dict"``,
            ``module.`` prefixes stripped) or a ``.safetensors`` file.
        sha256: Expected checksum of the file, if known.
        n_listed: How many missing/unexpected/mismatched keys the error lists.

    Returns:
        ``model``.

    Raises:
        CheckpointError: The file is missing or unreadable, its checksum differs, or its keys or
            shapes do not match the model's (the message names the file and lists a few keys).
    """
    path = _expand(checkpoint_path)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint file not found: {path}")
    if sha256 is not None:
        import hashlib

        hasher = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                hasher.update(chunk)
        digest = hasher.hexdigest()
        if digest != sha256:
            raise CheckpointError(f"checkpoint {path} has sha256 {digest}, expected {sha256}")
    state = _read_state_dict(path)
    diffs = state_dict_differences(state, model.state_dict(), n_listed)
    if diffs:
        raise CheckpointError(f"checkpoint {path} does not match {type(model).__name__}: " + "; ".join(diffs))
    model.load_state_dict(state, strict=True)
    return model


def build_model(cls: Callable[..., nn.Module], default_cfg: PretrainedCfg, pretrained: bool,
                checkpoint_path: str | os.PathLike | None, pretrained_cfg: PretrainedCfg | None,
                arch_kwargs: dict[str, Any], kwargs: dict[str, Any]) -> nn.Module:
    """What every registered factory does: ``cls`` with its config's input normalisation, the
    architecture and user kwargs, its ``pretrained_cfg`` set, and ``checkpoint_path`` loaded strictly
    (checksummed when ``pretrained``).

    Raises:
        CheckpointError: ``pretrained=True`` without a weights file, or the file does not fit.
    """
    cfg = pretrained_cfg or default_cfg
    model = cls(**{"mean": cfg.mean, "std": cfg.std, **arch_kwargs, **kwargs})
    model.pretrained_cfg = cfg
    if checkpoint_path is not None:
        load_checkpoint(model, checkpoint_path, sha256=cfg.sha256 if pretrained else None)
    elif pretrained:
        raise CheckpointError("pretrained=True needs a local weights file: pass checkpoint_path=..., or use "
                              "create_model with a tag whose PretrainedCfg names one")
    return model
