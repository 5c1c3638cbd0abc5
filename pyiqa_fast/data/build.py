"""Datasets from a run configuration: :func:`build_dataset` (what the trainer and the demo call),
:func:`resolve_split` (the split column a config and repeat select: the protocol's train fraction,
docs/design/protocols.md) and :class:`SyntheticIQADataset` (random images with a smooth MOS, for
tests and smoke runs)."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset, Subset

from pyiqa_fast.data.splits import parse_split_name, ratio_split, split_fractions

__all__ = ["SyntheticIQADataset", "build_dataset", "resolve_split"]

#: ``data.split`` values meaning "the protocol's split": ``auto``, and ``ratio82`` (the config
#: default, kept so existing configs read what they read before; it follows the protocol too).
PROTOCOL_SPLIT = ("auto", "ratio82")


class SyntheticIQADataset(Dataset):
    """Random images whose MOS is a smooth function of their content (tests and demos).

    Args:
        n: Number of images.
        size: Image side.
        seed: Generator seed.

    Items are ``{"image": Tensor[3, size, size] float32 in [0, 1], "mos": float, "name": str}``.
    """

    def __init__(self, n: int = 64, size: int = 40, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        base = torch.rand(n, 1, 1, 1, generator=g)
        noise = torch.rand(n, 3, size, size, generator=g)
        self.images = (0.6 * base + 0.4 * noise).clamp(0, 1)
        self.mos = (100.0 * base.flatten() + 5.0 * torch.randn(n, generator=g)).tolist()
        self.names = [f"synthetic_{i:05d}" for i in range(n)]

    def __len__(self) -> int:
        return len(self.mos)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"image": self.images[i], "mos": float(self.mos[i]), "name": self.names[i]}


def resolve_split(cfg: Any, repeat: int) -> str:
    """The split column :func:`build_dataset` reads for ``repeat`` (docs/design/protocols.md).

    ``data.split`` is ``auto`` or ``ratio82``: the protocol's column,
    :meth:`~pyiqa_fast.train.protocols.Protocol.split_column` with seed ``train.seed`` —
    ``ratio82_seed<s>_split<kk>`` for a train fraction of 0.8, ``train<p>_seed<s>_split<kk>``
    otherwise, ``official_split`` for an official-split protocol. ``official_split`` or a column
    name (``ratio82_seed7_split00``, ``train20_seed0_split03`` …) is used as given, for every
    repeat; a generated column must train on the protocol's fraction, so that the fraction a result
    records is the one it was trained with.

    Raises:
        ValueError: ``data.split`` of no accepted form, or a column whose train fraction differs
            from the protocol's (both named, with the fix).

    Example:
        >>> from pyiqa_fast.train import Config, apply_overrides
        >>> resolve_split(apply_overrides(Config(), ["protocol=shdiqa_de20", "train.seed=1"]), 3)
        'train20_seed1_split03'
    """
    from pyiqa_fast.train.protocols import Protocol

    protocol = Protocol.preset(cfg.protocol, **cfg.protocol_overrides)
    value = cfg.data.split
    if value in PROTOCOL_SPLIT:
        return protocol.split_column(cfg.train.seed, repeat)
    if value == "official_split":
        return value
    try:
        train, _ = split_fractions(value)
    except ValueError:
        raise ValueError(f"config data.split must be 'auto' (the protocol's split; 'ratio82', the default, is the "
                         "same), 'official_split', or a split column ratio82_seed<s>_split<kk>, ratio712_seed<s>_"
                         f"split<kk> or train<p>_seed<s>_split<kk> (p = 1..99); got {value!r}") from None
    if protocol.split == "official":
        raise ValueError(f"config data.split {value!r} is a generated split, but protocol {protocol.name!r} uses "
                         "the official split; set data.split=auto or official_split")
    if train != protocol.train_fraction:
        raise ValueError(f"config data.split {value!r} trains on {train:g} of the content units, but protocol "
                         f"{protocol.name!r} has train_fraction {protocol.train_fraction:g}; set data.split=auto for "
                         f"the protocol's split ({protocol.split_column(cfg.train.seed, repeat)!r} for repeat "
                         f"{repeat}) or protocol_overrides.train_fraction={train:g} to keep this column")
    return value


def build_dataset(cfg: Any, phase: str, repeat: int) -> Dataset:
    """The ``phase`` (``"train"``/``"test"``) dataset of ``repeat`` described by a run config.

    The split column is :func:`resolve_split`'s (the protocol's train fraction, seed ``train.seed``,
    unless ``data.split`` names a column). ``data.dataset == "synthetic"`` gives
    :class:`SyntheticIQADataset` split by that column's seeded content split, like every release
    (:func:`~pyiqa_fast.data.splits.ratio_split`); other names go to
    :func:`~pyiqa_fast.data.load_dataset` with that column.

    Raises:
        ValueError: As :func:`resolve_split`; ``official_split`` for the synthetic set.
    """
    from pyiqa_fast.data.catalogue import get_dataset_info
    from pyiqa_fast.data.datasets import load_dataset
    from pyiqa_fast.data.synth import GENERATED
    from pyiqa_fast.data.transforms import Resize

    d = cfg.data
    split = resolve_split(cfg, repeat)
    if d.dataset == "synthetic":
        if split == "official_split":
            raise ValueError("config data.split: the synthetic dataset has no official split; use auto or a column "
                             "such as ratio82_seed<s>_split<kk>")
        full = SyntheticIQADataset(d.synthetic_size, d.synthetic_image_size, seed=cfg.train.seed)
        ratio, seed, rep = parse_split_name(split)
        phases = ratio_split(full.names, seed, rep, ratio)
        return Subset(full, [i for i, p in enumerate(phases) if p == phase])
    kwargs: dict[str, Any] = {"split": split, "phase": phase, "dtype": "float"}  # the model takes [0, 1]
    if d.resize:
        if get_dataset_info(d.dataset).name in GENERATED:
            kwargs["resize"] = tuple(d.resize)  # generated at that size
        else:  # a release read from files: resized per item (a dataset option "resize" does not exist)
            kwargs["transform"] = Resize(tuple(d.resize))
    return load_dataset(d.dataset, d.root, **kwargs)
