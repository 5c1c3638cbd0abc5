"""``skimage-synth``: an embedded, download-free synthetic IQA set (a smoke-scale stand-in, not a benchmark).

The references are the colour photographs that ship inside scikit-image (:data:`PHOTOS`: astronaut,
coffee, chelsea, rocket, motorcycle, immunohistochemistry, retina, hubble_deep_field), centre-cropped
to a square and resized (antialiased) to ``size`` pixels. Each is distorted with
:func:`pyiqa_fast.ops.distort` at SHDIQA's 24 types × 5 levels (``reiqa`` preset, parameters from
:func:`pyiqa_fast.distortions.sample_params` with a fixed seed): 8 × 120 = 960 labelled images.

Pseudo-MOS (full-reference, *not* human ratings)::

    mos = 100 · clip(SSIM(distorted, clean), 0, 1)

with SSIM of Wang et al. (2004): 11×11 Gaussian window, σ = 1.5, K1 = 0.01, K2 = 0.03, data range
1, computed on each RGB channel (valid region, no padding) and averaged over channels and pixels
(:func:`ssim`, which matches ``skimage.metrics.structural_similarity(..., gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=0)``). Higher is better, range 0..100.

Splits are content-disjoint by reference photo (``ratio82_seed<s>_split<kk>``,
``train<p>_seed<s>_split<kk>`` …, as for every synthetic set, :mod:`pyiqa_fast.data.splits`). With 8
photos a ratio82 split holds 6 train and 2 test references (240 test images): correlations on it are
noisy and say nothing about real BIQA benchmarks. Use it for smoke tests, demos and CI — never report it as a result.

Generation is deterministic for given arguments (photos, size, seed, types) and takes seconds on a
CPU (types without a C++ kernel in a build fall back to the slower reference backend); the result is
cached in memory per process and, when ``root`` is given, in ``<root>/skimage_synth_<key>.pt``.

Example:
    >>> from pyiqa_fast.data import load_dataset
    >>> ds = load_dataset("skimage-synth", None, split="ratio82_seed0_split00", phase="test",
    ...                   size=64)  # doctest: +SKIP
    >>> sorted(ds[0])  # doctest: +SKIP
    ['img', 'mos', 'name', 'ref']
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["PHOTOS", "SkimageSynthDataset", "generate", "load_skimage_synth", "ssim"]

#: The colour photographs of ``skimage.data`` used as references (all ship with scikit-image).
PHOTOS: tuple[str, ...] = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle", "immunohistochemistry",
                           "retina", "hubble_deep_field")

_MEMORY: dict[str, dict[str, Any]] = {}
#: Entries of a cache file; one lacking any (or unreadable) is regenerated, with a warning.
_CACHE_KEYS = frozenset({"images", "mos", "names", "refs", "references", "photos"})


def _photo(name: str) -> np.ndarray:
    import skimage.data

    if name == "motorcycle":
        return skimage.data.stereo_motorcycle()[0]
    if name not in PHOTOS and not hasattr(skimage.data, name):
        raise ValueError(f"skimage-synth: unknown photo {name!r}; available: {', '.join(PHOTOS)}")
    img = np.asarray(getattr(skimage.data, name)())
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] < 3:
        raise ValueError(f"skimage-synth: photo {name!r} has shape {img.shape}, not an RGB image")
    return img[..., :3].astype(np.uint8)


def _reference(name: str, size: int) -> torch.Tensor:
    """Tensor[3, size, size] float32 in [0, 1]: the centre square of the photo, antialiased resize."""
    img = torch.from_numpy(_photo(name).copy()).permute(2, 0, 1).float().div_(255.0)
    h, w = img.shape[1:]
    s = min(h, w)
    img = img[:, (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    if s != size:
        img = F.interpolate(img[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
    # round to 8 bits: the reference is what a uint8 item would hold
    return img.clamp_(0, 1).mul_(255).round_().div_(255)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def ssim(x: torch.Tensor, y: torch.Tensor, *, win: int = 11, sigma: float = 1.5, k1: float = 0.01,
         k2: float = 0.03) -> torch.Tensor:
    """Mean SSIM per image (Wang et al. 2004), per channel then averaged; data range 1.

    Args:
        x: Tensor[B, C, H, W] in [0, 1].
        y: Same shape.

    Returns:
        Tensor[B] float64 (computed in float32; the valid-region mean, as skimage with ``gaussian_weights=True,
        use_sample_covariance=False``).
    """
    x, y = x.float(), y.float()  # float32: agrees with skimage's float64 to ~1e-6, several times faster
    h, w = x.shape[-2:]
    if h < win or w < win:
        raise ValueError(f"ssim: images of {h}x{w} are smaller than the {win}x{win} window")
    g = _gaussian_window(win, sigma).to(x.device, torch.float32)

    def band(n: int) -> torch.Tensor:  # [n - win + 1, n]: valid 1-D filtering as a matrix (BLAS, not conv)
        m = torch.zeros(n - win + 1, n, dtype=torch.float32, device=x.device)
        for i in range(win):
            m.diagonal(i).copy_(g[i].expand(n - win + 1))
        return m

    bh, bw = band(h), band(w).T

    def blur(t: torch.Tensor) -> torch.Tensor:
        return bh @ t @ bw

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = k1 ** 2, k2 ** 2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.double().mean(dim=(1, 2, 3))  # the valid region: skimage's map cropped by (win - 1) // 2


def _key(photos: Sequence[str], size: int, seed: int, types: str, preset: str) -> str:
    blob = json.dumps({"photos": list(photos), "size": size, "seed": seed, "types": types, "preset": preset,
                       "v": 1}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def generate(photos: Sequence[str] = PHOTOS, size: int = 256, seed: int = 0, types: str = "shdiqa24",
             preset: str = "reiqa", root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Generate (or fetch from the memory/disk cache) the whole set.

    Args:
        photos: Names of ``skimage.data`` photos (default :data:`PHOTOS`).
        size: Side of the square references and distorted images (at least 64).
        seed: Seed of the distortion parameters.
        types: Type list of :func:`pyiqa_fast.distortions.list_distortions` (``"shdiqa24"``).
        preset: Level table (``"reiqa"``).
        root: Optional cache folder (created if needed).

    Returns:
        ``{"images": Tensor[N, 3, size, size] uint8, "mos": Tensor[N] float64, "names": list[str],
        "refs": list[str], "references": Tensor[R, 3, size, size] uint8, "photos": list[str]}``,
        ordered photo-major, then type id, then level.
    """
    from pyiqa_fast.distortions import list_distortions, sample_params
    from pyiqa_fast.ops import distort

    photos = list(photos)
    if not photos:
        raise ValueError("skimage-synth: photos is empty")
    if len(set(photos)) != len(photos):
        raise ValueError(f"skimage-synth: duplicate photos in {photos}")
    if int(size) < 64:
        raise ValueError(f"skimage-synth: size must be >= 64; got {size}")
    size = int(size)
    key = _key(photos, size, int(seed), types, preset)
    if key in _MEMORY:
        return _MEMORY[key]
    path = Path(root).expanduser() / f"skimage_synth_{key}.pt" if root is not None else None
    if path is not None and path.is_file():
        try:
            data = torch.load(path, weights_only=True)
        except Exception as exc:  # noqa: BLE001 - an empty, truncated or foreign file: a cache miss
            data = f"unreadable ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
        if isinstance(data, dict) and _CACHE_KEYS <= set(data):
            _MEMORY[key] = data
            return data
        why = data if isinstance(data, str) else "not a skimage-synth cache"
        warnings.warn(f"skimage-synth: ignoring the cache file {path}: {why}; regenerating it", stacklevel=2)
    names_t = list_distortions(preset=preset, types=types)
    clean = torch.stack([_reference(p, size) for p in photos])  # [R, 3, S, S] float, 8-bit values
    r = len(photos)
    out = torch.empty(r, len(names_t), 5, 3, size, size, dtype=torch.uint8)
    mos = torch.empty(r, len(names_t), 5, dtype=torch.float64)
    x = clean.repeat_interleave(5, dim=0)  # [R*5, 3, S, S]: photo-major, level-minor
    levels = list(range(5)) * r
    for t, tname in enumerate(names_t):
        params = sample_params([tname] * (5 * r), levels, preset=preset, seed=int(seed) * 1_000_003 + t)
        y = distort(x, params, backend="auto").clamp_(0, 1)
        y8 = y.mul(255).add_(0.5).floor_().clamp_(0, 255).to(torch.uint8)
        out[:, t] = y8.view(r, 5, 3, size, size)
        s = ssim(y8.float().div_(255), x)
        mos[:, t] = (100.0 * s.clamp(0, 1)).view(r, 5)
    names = [f"dist/{p}.{tn}.{lv + 1}.png" for p in photos for tn in names_t for lv in range(5)]
    refs = [f"{p}.png" for p in photos for _ in names_t for _ in range(5)]
    data = {"images": out.view(-1, 3, size, size), "mos": mos.flatten(), "names": names, "refs": refs,
            "references": clean.mul(255).round_().to(torch.uint8), "photos": photos}
    _MEMORY[key] = data
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(data, tmp)
        os.replace(tmp, path)
    return data


class SkimageSynthDataset(torch.utils.data.Dataset):
    """The selected items of ``skimage-synth``; build it with :func:`load_skimage_synth`.

    Items are ``{"img": Tensor[3, S, S] uint8 (or float32 in [0, 1]), "mos": float, "name": str,
    "ref": str}`` like :class:`~pyiqa_fast.data.IQADataset`'s, ``transform`` applied to ``img``.
    A smoke-scale stand-in, not a benchmark (see the module docstring).
    """

    def __init__(self, info: Any, root: Path | None, records: list[Any], index: list[int], images: torch.Tensor,
                 split: str | None, phase: str | None, transform: Callable[[torch.Tensor], Any] | None,
                 dtype: str) -> None:
        self.info, self.root, self.records, self._index, self._images = info, root, records, index, images
        self.split, self.phase, self.transform, self.dtype = split, phase, transform, dtype
        self.skipped: list[tuple[str, str]] = []

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, Any]:
        rec = self.records[i]
        img = self._images[self._index[i]]
        img = img.to(torch.float32).div_(255.0) if self.dtype == "float" else img.clone()
        if self.transform is not None:
            img = self.transform(img)
        return {"img": img, "mos": float(rec.mos), "name": rec.name, "ref": rec.ref_name}

    @property
    def mos(self) -> torch.Tensor:
        """Tensor[N] float64: the labels of the selected records, in order."""
        return torch.tensor([r.mos for r in self.records], dtype=torch.float64)

    def __repr__(self) -> str:
        sel = f", split={self.split!r}, phase={self.phase!r}" if self.split else ""
        return f"SkimageSynthDataset(n={len(self)}{sel})"


def load_skimage_synth(info: Any, root: str | os.PathLike | None, split: str | None, phase: str | None, *,
                       transform: Callable[[torch.Tensor], Any] | None = None, dtype: str = "uint8",
                       size: int = 256, resize: Sequence[int] | None = None, photos: Sequence[str] = PHOTOS,
                       seed: int = 0, types: str = "shdiqa24", preset: str = "reiqa") -> SkimageSynthDataset:
    """What :func:`pyiqa_fast.data.load_dataset` returns for ``"skimage-synth"`` (arguments checked there).

    Options: ``size`` (side, default 256; ``resize=(s, s)`` is accepted as a synonym, for the
    trainer's ``data.resize``), ``photos``, ``seed`` (distortion parameters, not the split),
    ``types``, ``preset``. ``root`` is an optional cache folder (None: memory only).
    """
    from pyiqa_fast.data.datasets import _attach_split
    from pyiqa_fast.data.meta import Record
    from pyiqa_fast.data.splits import check_split, required_phases

    if resize is not None:
        sides = {int(v) for v in (resize if isinstance(resize, (list, tuple)) else (resize,))}
        if len(sides) != 1:
            raise ValueError(f"skimage-synth: images are square; resize must be (s, s), got {resize!r}")
        size = sides.pop()
    data = generate(photos, size, seed, types, preset, root)
    records = [Record(n, float(m), float("nan"), r) for n, m, r in
               zip(data["names"], data["mos"].tolist(), data["refs"], strict=True)]
    index = list(range(len(records)))
    if split is not None:
        if split == "official_split":
            raise ValueError("skimage-synth has no official split; use ratio82_seed<s>_split<kk> or "
                             "train<p>_seed<s>_split<kk>")
        _attach_split(info, records, split)
        column = [r.splits.get(split, "") for r in records]
        check_split(column, split, need=required_phases(split) + ((phase,) if phase else ()))
        if phase is not None:
            index = [i for i, p in enumerate(column) if p == phase]
            records = [records[i] for i in index]
    return SkimageSynthDataset(info, Path(root) if root is not None else None, records, index, data["images"],
                               split, phase, transform, dtype)
