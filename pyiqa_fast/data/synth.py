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

``skimage-synth-blocks`` (:func:`generate_blocks`) is its spatially heterogeneous variant, the
SHDIQA demo set: the same photos, each image with a *different* distortion (type, level) per
spatial block, drawn and applied by SHDIQA's Block-wise Degradation Model
(:class:`~pyiqa_fast.distortions.BlockDegradation`: distinct ``shdiqa24`` types, ``shdiqa4``
levels, only types that fit the blocks; vertical 1×2 by default, horizontal or 2×2 on request).
Default 8 × 120 = 960 images; the same pseudo-MOS rule on the whole image; items also carry
``block_types``, ``block_levels`` and ``partition`` (docs/design/datasets.md).

Example:
    >>> from pyiqa_fast.data import load_dataset
    >>> ds = load_dataset("skimage-synth", None, split="ratio82_seed0_split00", phase="test",
    ...                   size=64)  # doctest: +SKIP
    >>> sorted(ds[0])  # doctest: +SKIP
    ['img', 'mos', 'name', 'ref']
    >>> ds = load_dataset("skimage-synth-blocks", None, split="ratio82_seed7_split00", phase="test",
    ...                   size=128)  # doctest: +SKIP
    >>> {k: v for k, v in ds[0].items() if k.startswith(("block", "part"))}  # doctest: +SKIP
    {'block_types': [3, 9], 'block_levels': [0, 0], 'partition': (1, 2)}
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

__all__ = ["PHOTOS", "SkimageSynthBlocksDataset", "SkimageSynthDataset", "generate", "generate_blocks",
           "load_skimage_synth", "load_skimage_synth_blocks", "ssim"]

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


def _check_photos_size(photos: Sequence[str], size: int, label: str) -> tuple[list[str], int]:
    """``photos`` as a list and ``size`` as an int, checked (names are checked when loaded)."""
    if isinstance(photos, str):
        raise ValueError(f"{label}: photos must be a sequence of photo names, not the str {photos!r}; "
                         f"e.g. [{photos!r}]")
    photos = list(photos)
    if not photos:
        raise ValueError(f"{label}: photos is empty")
    if len(set(photos)) != len(photos):
        raise ValueError(f"{label}: duplicate photos in {photos}")
    if isinstance(size, bool) or int(size) < 64:
        raise ValueError(f"{label}: size must be >= 64; got {size}")
    return photos, int(size)


def _cache_get(key: str, path: Path | None, keys: frozenset[str], label: str) -> dict[str, Any] | None:
    """The set cached under ``key`` in memory or in the file ``path``, or None (a miss).

    A file lacking any of ``keys``, or unreadable, is a miss with a warning (it is regenerated).
    """
    if key in _MEMORY:
        return _MEMORY[key]
    if path is not None and path.is_file():
        try:
            data = torch.load(path, weights_only=True)
        except Exception as exc:  # noqa: BLE001 - an empty, truncated or foreign file: a cache miss
            data = f"unreadable ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
        if isinstance(data, dict) and keys <= set(data):
            _MEMORY[key] = data
            return data
        why = data if isinstance(data, str) else f"not a {label} cache"
        warnings.warn(f"{label}: ignoring the cache file {path}: {why}; regenerating it", stacklevel=3)
    return None


def _cache_put(key: str, path: Path | None, data: dict[str, Any]) -> None:
    _MEMORY[key] = data
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(data, tmp)
        os.replace(tmp, path)  # atomic: a reader never sees a half-written cache


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

    photos, size = _check_photos_size(photos, size, "skimage-synth")
    key = _key(photos, size, int(seed), types, preset)
    path = Path(root).expanduser() / f"skimage_synth_{key}.pt" if root is not None else None
    cached = _cache_get(key, path, _CACHE_KEYS, "skimage-synth")
    if cached is not None:
        return cached
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
    _cache_put(key, path, data)
    return data


#: The embedded sets, generated in memory at the size a config asks for (``resize``), not read from files.
GENERATED = ("skimage-synth", "skimage-synth-blocks")

#: Entries of a skimage-synth-blocks cache file (skimage-synth's and the block labels).
_BLOCK_CACHE_KEYS = _CACHE_KEYS | {"block_types", "block_levels", "level_indices", "partition"}


def _photo_seed(seed: int, partition: tuple[int, int], photo: str) -> int:
    """A 63-bit generator seed per (seed, partition, photo): a photo's images do not depend on which
    other photos are generated (a subset of :data:`PHOTOS` reproduces those photos' images), and
    two partitions do not draw the same types in the same order (their sets can be concatenated)."""
    blob = f"blocks:{seed}:{partition[0]}x{partition[1]}:{photo}".encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "big") >> 1


def generate_blocks(photos: Sequence[str] = PHOTOS, size: int = 256, per_photo: int = 120,
                    partition: str | tuple[int, int] = "vertical", seed: int = 0,
                    types: str | Sequence[int | str] = "shdiqa24", levels: str | Sequence[int] = "shdiqa4",
                    preset: str = "reiqa", block_mode: str = "composite",
                    root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Generate (or fetch from the memory/disk cache) ``skimage-synth-blocks``: each image one photo
    with a different distortion per spatial block (SHDIQA's Block-wise Degradation Model).

    The draws are :class:`~pyiqa_fast.distortions.BlockDegradation`'s (``sample`` with the image
    size, so only the types that fit the blocks are drawn: docs/design/distortions.md,
    "Composition"), applied by :func:`pyiqa_fast.ops.distort` in ``block_mode``: per photo,
    ``per_photo`` images, each block a distinct type at one of the kept levels, from a generator
    seeded by (``seed``, partition, photo). Pseudo-MOS = 100 · clip(SSIM(whole distorted image, clean), 0, 1),
    as ``skimage-synth``.

    Args:
        photos: Names of ``skimage.data`` photos (default :data:`PHOTOS`).
        size: Side of the square references and distorted images (at least 64).
        per_photo: Distorted images per photo (default 120: 8 × 120 = 960, skimage-synth's count).
        partition: ``"vertical"`` (default, SHDIQA's: 1 × 2 blocks side by side), ``"horizontal"``
            (2 × 1), ``"grid2x2"`` or (rows, cols) with at least 2 blocks.
        seed: Seed of the draws (types, levels, distortion parameters), not of the split.
        types: ``BlockDegradation``'s type list (``"shdiqa24"``, or distinct ids / names).
        levels: ``BlockDegradation``'s levels (``"shdiqa4"``: labels 0..3; ``"all"``; or indices).
        preset: Level table (``"reiqa"``).
        block_mode: ``"composite"`` (default) or ``"crop"`` (docs/design/distortions.md, "Block semantics").
        root: Optional cache folder (created if needed).

    Returns:
        skimage-synth's entries (``images`` uint8 Tensor[N, 3, S, S], ``mos`` float64 Tensor[N],
        ``names``, ``refs``, ``references``, ``photos``; photo-major, then draw order) and
        ``block_types`` (int64 Tensor[N, K]: type ids, row-major blocks, = BlockDegradation's
        ``type_labels``), ``block_levels`` (int64 Tensor[N, K]: level labels, indices into the
        kept levels, = its ``level_labels``), ``level_indices`` (int64 Tensor[N, K]: the level
        index 0..4 applied), ``partition`` ([rows, cols]).

    Raises:
        ValueError: Bad photos, size, per_photo < 1, partition (fewer than 2 blocks), or an option
            ``BlockDegradation`` refuses (its message, prefixed); fewer types fit the blocks than
            there are blocks.
        TypeError: per_photo or seed not an int, or an option of the wrong type that
            ``BlockDegradation`` refuses.
    """
    import numbers

    from pyiqa_fast.distortions import BlockDegradation, resolve_partition
    from pyiqa_fast.distortions.registry import SPECS
    from pyiqa_fast.ops import distort

    label = "skimage-synth-blocks"
    photos, size = _check_photos_size(photos, size, label)
    for name, value in (("per_photo", per_photo), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{label}: {name} must be an int; got {value!r} ({type(value).__name__})")
    if per_photo < 1:
        raise ValueError(f"{label}: per_photo must be >= 1; got {per_photo}")
    try:
        grid = resolve_partition(partition)
    except ValueError as exc:
        raise ValueError(f"{label}: {exc}") from None
    if grid[0] * grid[1] < 2:
        raise ValueError(f"{label}: partition must have at least 2 blocks (a spatially heterogeneous set); got "
                         f"{partition!r} = {grid[0]}×{grid[1]}; skimage-synth is the one-block set")
    try:
        bdm = BlockDegradation(grid, types, levels, preset, block_mode)
        bdm.fitting_types(size, size)  # refuse a size whose blocks fit too few types before any work
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{label}: {exc}") from None
    canon_levels = levels if isinstance(levels, str) else [int(v) for v in levels]
    blob = json.dumps({"set": label, "photos": photos, "size": size, "per_photo": int(per_photo),
                       "partition": list(grid), "seed": int(seed), "types": list(bdm.type_ids),
                       "levels": canon_levels, "preset": bdm.preset, "block_mode": block_mode, "v": 1}, sort_keys=True)
    key = hashlib.sha256(blob.encode()).hexdigest()[:16]
    path = Path(root).expanduser() / f"skimage_synth_blocks_{key}.pt" if root is not None else None
    cached = _cache_get(key, path, _BLOCK_CACHE_KEYS, label)
    if cached is not None:
        return cached

    n, k = per_photo, bdm.n_blocks
    clean = torch.stack([_reference(p, size) for p in photos])  # [R, 3, S, S] float, 8-bit values
    out = torch.empty(len(photos), n, 3, size, size, dtype=torch.uint8)
    mos = torch.empty(len(photos), n, dtype=torch.float64)
    types_t = torch.empty(len(photos), n, k, dtype=torch.int64)
    labels_t, level_idx = torch.empty_like(types_t), torch.empty_like(types_t)
    for r, photo in enumerate(photos):  # one photo per call: bounded memory at any size
        g = torch.Generator().manual_seed(_photo_seed(int(seed), grid, photo))
        # BlockDegradation.forward is sample + distort + the token block map; the map depends on a
        # model's patch size, not on the data, so it is not stored (docs/design/distortions.md).
        params, types_t[r], labels_t[r] = bdm.sample(n, g, image_size=(size, size))
        level_idx[r] = params.levels[:, :, 0].long()
        x = clean[r:r + 1].expand(n, -1, -1, -1).contiguous()
        y = distort(x, params, block_mode=bdm.block_mode, backend=bdm.backend).clamp_(0, 1)
        out[r] = y.mul_(255).add_(0.5).floor_().clamp_(0, 255).to(torch.uint8)
        mos[r] = 100.0 * ssim(out[r].float().div_(255), x).clamp(0, 1)
    width = max(3, len(str(n - 1)))
    names = [f"dist/{p}.{i:0{width}d}." + "+".join(f"{SPECS[t].name}.{lv + 1}" for t, lv in
                                                   zip(types_t[r, i].tolist(), level_idx[r, i].tolist(), strict=True))
             + ".png" for r, p in enumerate(photos) for i in range(n)]
    refs = [f"{p}.png" for p in photos for _ in range(n)]
    data = {"images": out.view(-1, 3, size, size), "mos": mos.flatten(), "names": names, "refs": refs,
            "references": clean.mul(255).round_().to(torch.uint8), "photos": photos,
            "block_types": types_t.view(-1, k), "block_levels": labels_t.view(-1, k),
            "level_indices": level_idx.view(-1, k), "partition": list(grid)}
    _cache_put(key, path, data)
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


class SkimageSynthBlocksDataset(SkimageSynthDataset):
    """The selected items of ``skimage-synth-blocks``; build it with :func:`load_skimage_synth_blocks`.

    Items are :class:`SkimageSynthDataset`'s plus the block labels of the image (blocks row-major,
    as ``BlockDegradation``): ``"block_types"`` (list[int] of K type ids, ``registry.SPECS``),
    ``"block_levels"`` (list[int] of K level labels: indices into the kept levels, 0..3 with
    ``shdiqa4``) and ``"partition"`` ((rows, cols)). ``transform`` applies to ``img`` only, so a
    crop or flip moves the blocks; :attr:`partition` and ``block_bounds`` give them in the stored
    image. A smoke-scale stand-in, not a benchmark (see the module docstring).
    """

    def __init__(self, info: Any, root: Path | None, records: list[Any], index: list[int], data: dict[str, Any],
                 split: str | None, phase: str | None, transform: Callable[[torch.Tensor], Any] | None,
                 dtype: str) -> None:
        super().__init__(info, root, records, index, data["images"], split, phase, transform, dtype)
        self._types, self._levels = data["block_types"], data["block_levels"]
        self.partition: tuple[int, int] = (int(data["partition"][0]), int(data["partition"][1]))

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = super().__getitem__(i)
        j = self._index[i]
        item.update(block_types=self._types[j].tolist(), block_levels=self._levels[j].tolist(),
                    partition=self.partition)
        return item

    @property
    def block_types(self) -> torch.Tensor:
        """int64 Tensor[N, K]: the type ids of the selected records' blocks, in order."""
        return self._types[self._index]

    @property
    def block_levels(self) -> torch.Tensor:
        """int64 Tensor[N, K]: the level labels of the selected records' blocks, in order."""
        return self._levels[self._index]

    def __repr__(self) -> str:
        sel = f", split={self.split!r}, phase={self.phase!r}" if self.split else ""
        return f"SkimageSynthBlocksDataset(n={len(self)}, partition={self.partition}{sel})"


def _side(size: int, resize: Sequence[int] | int | None, label: str) -> int:
    """The image side: ``resize=(s, s)`` (the trainer's ``data.resize``) overrides ``size``."""
    if resize is None:
        return size
    sides = {int(v) for v in (resize if isinstance(resize, (list, tuple)) else (resize,))}
    if len(sides) != 1:
        raise ValueError(f"{label}: images are square; resize must be (s, s), got {resize!r}")
    return sides.pop()


def _select(info: Any, data: dict[str, Any], split: str | None, phase: str | None) -> tuple[list[Any], list[int]]:
    """(records, their indices into ``data``) of ``split``/``phase``, split by reference photo."""
    from pyiqa_fast.data.datasets import _attach_split
    from pyiqa_fast.data.meta import Record
    from pyiqa_fast.data.splits import check_split, required_phases

    records = [Record(n, float(m), float("nan"), r) for n, m, r in
               zip(data["names"], data["mos"].tolist(), data["refs"], strict=True)]
    index = list(range(len(records)))
    if split is not None:
        if split == "official_split":
            raise ValueError(f"{info.name} has no official split; use ratio82_seed<s>_split<kk> or "
                             "train<p>_seed<s>_split<kk>")
        _attach_split(info, records, split)  # content key = ref_name (the photo): content-disjoint
        column = [r.splits.get(split, "") for r in records]
        check_split(column, split, need=required_phases(split) + ((phase,) if phase else ()))
        if phase is not None:
            index = [i for i, p in enumerate(column) if p == phase]
            records = [records[i] for i in index]
    return records, index


def load_skimage_synth(info: Any, root: str | os.PathLike | None, split: str | None, phase: str | None, *,
                       transform: Callable[[torch.Tensor], Any] | None = None, dtype: str = "uint8",
                       size: int = 256, resize: Sequence[int] | None = None, photos: Sequence[str] = PHOTOS,
                       seed: int = 0, types: str = "shdiqa24", preset: str = "reiqa") -> SkimageSynthDataset:
    """What :func:`pyiqa_fast.data.load_dataset` returns for ``"skimage-synth"`` (arguments checked there).

    Options: ``size`` (side, default 256; ``resize=(s, s)`` is accepted as a synonym, for the
    trainer's ``data.resize``), ``photos``, ``seed`` (distortion parameters, not the split),
    ``types``, ``preset``. ``root`` is an optional cache folder (None: memory only).
    """
    data = generate(photos, _side(size, resize, "skimage-synth"), seed, types, preset, root)
    records, index = _select(info, data, split, phase)
    return SkimageSynthDataset(info, Path(root) if root is not None else None, records, index, data["images"],
                               split, phase, transform, dtype)


def load_skimage_synth_blocks(info: Any, root: str | os.PathLike | None, split: str | None, phase: str | None, *,
                              transform: Callable[[torch.Tensor], Any] | None = None, dtype: str = "uint8",
                              size: int = 256, resize: Sequence[int] | None = None,
                              photos: Sequence[str] = PHOTOS, per_photo: int = 120,
                              partition: str | tuple[int, int] = "vertical", seed: int = 0,
                              types: str | Sequence[int | str] = "shdiqa24", levels: str | Sequence[int] = "shdiqa4",
                              preset: str = "reiqa", block_mode: str = "composite") -> SkimageSynthBlocksDataset:
    """What :func:`pyiqa_fast.data.load_dataset` returns for ``"skimage-synth-blocks"`` (arguments checked there).

    Options: ``size`` (or ``resize=(s, s)``), ``photos``, ``per_photo``, ``partition``, ``seed``,
    ``types``, ``levels``, ``preset``, ``block_mode``: as :func:`generate_blocks`. ``root`` is an
    optional cache folder (None: memory only).
    """
    data = generate_blocks(photos, _side(size, resize, "skimage-synth-blocks"), per_photo, partition, seed, types,
                           levels, preset, block_mode, root)
    records, index = _select(info, data, split, phase)
    return SkimageSynthBlocksDataset(info, Path(root) if root is not None else None, records, index, data,
                                     split, phase, transform, dtype)
