"""ImageNet weights for a model's encoder, from a local file (never downloaded).

IQA models start their encoder from a classification checkpoint and train the rest from random
init (DEIQT: a DeiT-III ViT-S/16, ``head.*`` dropped). :func:`load_pretrained_encoder` reads such a
file in the formats users have and loads it *strictly* into the encoder module: every key of the
encoder must be in the file and every key of the file must be used, except the classifier head.
A mismatch names every missing, unexpected or differently shaped key
(:func:`~pyiqa_fast.utils.state_dict.state_dict_differences`).

Formats, per encoder ``kind``:

- ``"vit"`` (timm ``VisionTransformer`` encoders): timm's state dict (the encoder's own keys plus
  ``head.*``), as ``torch.save`` or ``.safetensors`` (the Hugging Face ``timm/<name>`` files), or
  facebookresearch/deit's checkpoint (the state dict under ``"model"``, LayerScale named
  ``blocks.N.gamma_1`` / ``gamma_2`` where timm has ``blocks.N.ls1.gamma`` / ``ls2.gamma``).

A model opts in with a ``load_pretrained(path) -> PretrainedReport`` method (see
:meth:`pyiqa_fast.models.DEIQT.load_pretrained`); ``create_model(name, pretrained=<path>)`` calls it.
How a user gets the file: README, "Train DEIQT on a real dataset".
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from pyiqa_fast.models.registry import CheckpointError
from pyiqa_fast.utils.state_dict import state_dict_differences

__all__ = [
    "DEIT3_SMALL_PATCH16_224",
    "ENCODER_KINDS",
    "EncoderWeights",
    "PretrainedReport",
    "PretrainedWeightsError",
    "PretrainedWeightsNotFoundError",
    "expand_path",
    "load_pretrained_encoder",
]


class PretrainedWeightsError(CheckpointError):
    """An encoder weights file that cannot be read or does not fit the encoder."""


class PretrainedWeightsNotFoundError(PretrainedWeightsError, FileNotFoundError):
    """The encoder weights file does not exist (a ``FileNotFoundError`` too, so the CLI prints one line)."""


@dataclass(frozen=True)
class EncoderWeights:
    """Which published checkpoint an encoder starts from, and where to get it (documentation:
    pyiqa_fast never fetches it).

    Attributes:
        description: What the weights are (architecture, training data).
        timm_name: timm model name with its pretrained tag (also the Hugging Face repo ``timm/<name>``).
        url: The original authors' download address of the same weights.
        default_file: Where the shipped configs look for the file (``~`` expanded).
    """

    description: str
    timm_name: str
    url: str | None
    default_file: str

    def hint(self) -> str:
        """Which file is expected and where to get it (one line, for a missing-file error)."""
        url = f" or the authors' {self.url}" if self.url else ""
        return (f"expected {self.description}: timm's {self.timm_name} (Hugging Face timm/{self.timm_name}){url}, "
                f"saved to {self.default_file} (where the shipped configs' model.pretrained points) or anywhere "
                "with the path passed; null trains from random init (README: Train DEIQT on a real dataset)")


#: DEIQT's encoder init (its README: "the Pre-trained ViT-S[224] weights from DeiT III"). Which
#: DeiT-III ViT-S/16 224 checkpoint (ImageNet-1k, or -21k then 1k) is not stated; this is the
#: ImageNet-21k one. ``deit3_small_patch16_224.fb_in1k`` (deit_3_small_224_1k.pth) loads the same way.
DEIT3_SMALL_PATCH16_224 = EncoderWeights(
    description="DeiT-III ViT-S/16 224 ImageNet weights (ImageNet-21k pre-trained, ImageNet-1k fine-tuned)",
    timm_name="deit3_small_patch16_224.fb_in22k_ft_in1k",
    url="https://dl.fbaipublicfiles.com/deit/deit_3_small_224_21k.pth",
    default_file="~/.cache/pyiqa_fast/weights/deit3_small_patch16_224.fb_in22k_ft_in1k.pth",
)


@dataclass(frozen=True)
class PretrainedReport:
    """What :func:`load_pretrained_encoder` did.

    Attributes:
        path: The file read (``~`` and environment variables expanded).
        format: ``"timm"`` or ``"deit"`` (facebookresearch/deit names), for ``kind="vit"``.
        loaded: Number of tensors loaded into the encoder (all of its state dict).
        renamed: Number of keys renamed to the encoder's names.
        dropped: Keys of the file left out on purpose (the classifier head).
    """

    path: str
    format: str
    loaded: int
    renamed: int
    dropped: tuple[str, ...]

    def __str__(self) -> str:
        dropped = f", dropped {', '.join(self.dropped)}" if self.dropped else ""
        renamed = f", {self.renamed} renamed" if self.renamed else ""
        return f"encoder weights from {self.path} ({self.format} format): {self.loaded} tensors{renamed}{dropped}"


# -- formats --------------------------------------------------------------------------------------

_DEIT_GAMMA = re.compile(r"^(blocks\.\d+\.)gamma_([12])$")
_CLASSIFIER = ("head.",)  # the ImageNet classifier: not part of an IQA encoder


def _convert_vit(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str, int, list[str]]:
    """timm / facebookresearch-deit ViT keys -> timm ``VisionTransformer`` keys (the encoder's)."""
    out: dict[str, torch.Tensor] = {}
    renamed, dropped = 0, []
    for key, value in state.items():
        if key.startswith(_CLASSIFIER):
            dropped.append(key)
            continue
        new = _DEIT_GAMMA.sub(r"\1ls\2.gamma", key)
        renamed += new != key
        out[new] = value
    return out, "deit" if renamed else "timm", renamed, dropped


#: Encoder kind -> converter ``state -> (state with the encoder's keys, format, renamed, dropped)``.
#: Later encoder families (a ResNet, a Swin) add an entry.
ENCODER_KINDS: dict[str, Callable[[dict[str, torch.Tensor]], tuple[dict[str, torch.Tensor], str, int, list[str]]]] = {
    "vit": _convert_vit,
}


# -- reading --------------------------------------------------------------------------------------


def expand_path(path: str | os.PathLike) -> str:
    """``path`` with ``~`` and ``$VAR`` / ``${VAR}`` expanded (an unset variable stays as written)."""
    return os.path.expandvars(os.path.expanduser(os.fspath(path)))


def _unset_variables(path: str) -> list[str]:
    return [v for v in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", path) if v not in os.environ]


def _looks_like_safetensors(path: str) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(9)
    # 8-byte little-endian header length, then the JSON header
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < os.path.getsize(path)


def _read(path: str) -> Any:
    if path.endswith(".safetensors") or _looks_like_safetensors(path):
        try:
            from safetensors.torch import load_file
        except ImportError as exc:  # pragma: no cover - safetensors comes with timm
            raise ImportError(f"reading {path} needs safetensors: pip install safetensors") from exc
        try:
            return load_file(path, device="cpu")
        except Exception as exc:
            raise PretrainedWeightsError(f"cannot read pretrained weights {path} as safetensors: {exc}") from exc
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        msg = " ".join(str(exc).split())[:300]
        raise PretrainedWeightsError(
            f"cannot read pretrained weights {path} with torch.load(weights_only=True) ({type(exc).__name__}: "
            f"{msg}); expected a torch.save'd state dict or a .safetensors file (a file that also pickles other "
            "objects must be re-saved as its plain state dict)") from exc


def _describe(obj: Any) -> str:
    if isinstance(obj, Mapping):
        keys = list(obj)
        shown = ", ".join(map(repr, keys[:5])) + (", …" if len(keys) > 5 else "")
        return f"a {type(obj).__name__} with keys [{shown}]"
    return f"a {type(obj).__name__}"


def _state_dict_of(obj: Any, path: str) -> dict[str, torch.Tensor]:
    """The tensor mapping inside a checkpoint: the object itself, or its ``"model"`` /
    ``"state_dict"`` entry (facebookresearch/deit saves ``{"model": ...}``); ``module.`` (DDP) stripped."""
    inner = obj
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict"):
            if isinstance(obj.get(key), Mapping):
                inner = obj[key]
                break
    if not isinstance(inner, Mapping) or not inner:
        raise PretrainedWeightsError(
            f"pretrained weights {path} hold {_describe(obj)}, not a state dict (a mapping of parameter names to "
            "tensors, optionally under 'model' or 'state_dict')")
    bad = [k for k, v in inner.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        shown = ", ".join(f"{k!r} ({type(inner[k]).__name__})" for k in bad[:5]) + (", …" if len(bad) > 5 else "")
        raise PretrainedWeightsError(
            f"pretrained weights {path} hold {_describe(inner)}, not a state dict: {len(bad)} entries are not "
            f"tensors keyed by name ({shown})")
    return {k.removeprefix("module."): v for k, v in inner.items()}


def load_pretrained_encoder(encoder: nn.Module, path: str | os.PathLike, *, kind: str = "vit",
                            source: EncoderWeights | None = None) -> PretrainedReport:
    """Load ImageNet weights from a local file into ``encoder``, strictly, in place.

    Args:
        encoder: The encoder module (for ``kind="vit"``: a timm ``VisionTransformer`` built with
            ``num_classes=0``, e.g. ``DEIQT.encoder``), on a real device (not ``meta``).
        path: A ``torch.save``'d state dict (bare, or under ``"model"`` / ``"state_dict"``; a
            ``module.`` prefix is stripped) or a ``.safetensors`` file. ``~`` and environment
            variables are expanded.
        kind: Encoder family, a key of :data:`ENCODER_KINDS` (how the file's names map to the encoder's).
        source: The checkpoint the encoder expects, named in the error when the file is missing.

    Returns:
        A :class:`PretrainedReport` (file, format, tensors loaded, keys renamed and dropped).

    Raises:
        ValueError: Unknown ``kind``, or an encoder on the ``meta`` device.
        PretrainedWeightsNotFoundError: The file does not exist (one line naming it, an unset
            environment variable in ``path``, and from ``source`` the file expected and where to get it).
        PretrainedWeightsError: The file cannot be read, holds no state dict, or its keys or shapes
            differ from the encoder's after conversion (every differing key named).

    Example:
        >>> model = create_model("deiqt_vit_s16")  # doctest: +SKIP
        >>> print(load_pretrained_encoder(model.encoder, "~/deit3_small.pth"))  # doctest: +SKIP
        encoder weights from /home/me/deit3_small.pth (timm format): 174 tensors, dropped head.weight, head.bias
    """
    if kind not in ENCODER_KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, ENCODER_KINDS))}; got {kind!r}")
    expected = encoder.state_dict()
    if any(t.is_meta for t in expected.values()):
        raise ValueError("encoder is on the meta device: build it on a real device before loading weights")
    file = expand_path(path)
    if not os.path.isfile(file):
        what = "is a folder, not a file" if os.path.isdir(file) else "not found"
        unset = _unset_variables(file)
        if unset:
            what += f" (environment variable {', '.join(unset)} is not set)"
        hint = f"; {source.hint()}" if source is not None else ""
        raise PretrainedWeightsNotFoundError(f"pretrained weights file {what}: {file}{hint}")
    state, fmt, renamed, dropped = ENCODER_KINDS[kind](_state_dict_of(_read(file), file))
    # Every key named: a conversion problem is read off the full list, not the first five.
    diffs = state_dict_differences(state, expected, shown=max(len(state), len(expected)))
    if diffs:
        hint = ""
        if any(k.startswith("encoder.") for k in state):
            hint = ("; its keys start with 'encoder.': a whole-model state dict (e.g. a trained pyiqa_fast model), "
                    "which create_model(..., checkpoint_path=...) loads")
        raise PretrainedWeightsError(f"pretrained weights {file} ({fmt} format) do not fit the encoder "
                                     f"({type(encoder).__name__}, kind {kind!r}): " + "; ".join(diffs) + hint)
    encoder.load_state_dict(state, strict=True)
    return PretrainedReport(path=file, format=fmt, loaded=len(state), renamed=renamed, dropped=tuple(dropped))
