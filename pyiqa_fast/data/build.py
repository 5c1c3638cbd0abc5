"""Datasets from a run configuration: :func:`build_dataset` (what the trainer and the demo call)
and :class:`SyntheticIQADataset` (random images with a smooth MOS, for tests and smoke runs)."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset, Subset

from pyiqa_fast.data.splits import fraction_split

__all__ = ["SyntheticIQADataset", "build_dataset"]


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


def build_dataset(cfg: Any, phase: str, repeat: int) -> Dataset:
    """The ``phase`` (``"train"``/``"test"``) dataset of ``repeat`` described by a run config.

    ``data.dataset == "synthetic"`` gives :class:`SyntheticIQADataset` split by the same seeded
    content split as every release (:func:`~pyiqa_fast.data.splits.fraction_split`, the protocol's
    train fraction, seed ``train.seed``); other names go to :func:`~pyiqa_fast.data.load_dataset`
    with the split column ``<data.split>_seed<seed>_split<repeat:02d>`` when ``data.split`` is
    ``ratio82``, else ``data.split`` itself.
    """
    from pyiqa_fast.data.catalogue import get_dataset_info
    from pyiqa_fast.data.datasets import load_dataset
    from pyiqa_fast.data.transforms import Resize
    from pyiqa_fast.train.protocols import Protocol

    d = cfg.data
    if d.dataset == "synthetic":
        full = SyntheticIQADataset(d.synthetic_size, d.synthetic_image_size, seed=cfg.train.seed)
        fraction = Protocol.preset(cfg.protocol, **cfg.protocol_overrides).train_fraction
        phases = fraction_split(full.names, cfg.train.seed, repeat, fraction, name=f"synthetic split {repeat}")
        return Subset(full, [i for i, p in enumerate(phases) if p == phase])
    split = f"{d.split}_seed{cfg.train.seed}_split{repeat:02d}" if d.split == "ratio82" else d.split
    kwargs: dict[str, Any] = {"split": split, "phase": phase, "dtype": "float"}  # the model takes [0, 1]
    if d.resize:
        if get_dataset_info(d.dataset).name == "skimage-synth":
            kwargs["resize"] = tuple(d.resize)  # generated at that size
        else:  # a release read from files: resized per item (a dataset option "resize" does not exist)
            kwargs["transform"] = Resize(tuple(d.resize))
    return load_dataset(d.dataset, d.root, **kwargs)
