"""Faithful re-implementations of the ReIQA resample-class distortions (``datasets/iqa_distortions.py``),
written from DISTORTIONS.md §4.1–4.4, 4.11–4.13, 4.23 (not copied): PIL uint8 in → uint8 out with the
numpy / scipy / scikit-image / Pillow calls upstream uses. Random draws are passed in so that a test
can feed the same values as pyiqa_fast's parameter record."""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import filters


def imresizedist(img: Image.Image, k: int, resample=Image.BICUBIC) -> Image.Image:
    """§4.1–4.3: down to (max(1, ⌊W/k⌋), max(1, ⌊H/k⌋)) and back with the same Pillow filter."""
    w, h = img.size
    small = img.resize((max(1, int(w / k)), max(1, int(h / k))), resample)
    return small.resize((w, h), resample)


def impixelate(img: Image.Image, strength: float) -> Image.Image:
    """§4.4: z = 0.95 − s^0.6, Pillow NEAREST down to (⌊z·W⌋, ⌊z·H⌋) and back."""
    z = 0.95 - strength ** 0.6
    w, h = img.size
    small = img.resize((int(z * w), int(z * h)), Image.NEAREST)
    return small.resize((w, h), Image.NEAREST)


def imjitter(img: Image.Image, displacements: list[tuple[np.ndarray, np.ndarray]]) -> Image.Image:
    """§4.11: per iteration (d_y, d_x): every channel resampled at (y − d_y, x − d_x) with
    ``map_coordinates(order=3, mode='reflect')`` on 0..255 floats, clip after each; truncate."""
    x = np.asarray(img).astype(np.float64)
    h, w = x.shape[:2]
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    for dy, dx in displacements:
        coords = [yy - dy, xx - dx]
        x = np.stack([ndimage.map_coordinates(x[..., c], coords, order=3, mode="reflect") for c in range(3)], -1)
        x = np.clip(x, 0, 255)
    return Image.fromarray(x.astype(np.uint8))


def imcolorblock(img: Image.Image, uniforms: np.ndarray, n: int) -> Image.Image:
    """§4.12: n 32×32 squares, square i from uniforms[5i..5i+4]: x = ⌊U·(W − 32)⌋,
    y = ⌊U·(H − 32)⌋, colour ⌊U·256⌋ (the randint(0, 256) draw)."""
    x = np.array(img)
    h, w = x.shape[:2]
    for i in range(n):
        u = uniforms[5 * i:5 * i + 5]
        px, py = int(u[0] * (w - 32)), int(u[1] * (h - 32))
        x[py:py + 32, px:px + 32] = np.floor(u[2:5] * 256).astype(np.uint8)
    return Image.fromarray(x)


def imnoneccentricity(img: Image.Image, uniforms: np.ndarray, n: int) -> Image.Image:
    """§4.13: n sequential 16×16 copies; numpy reads the source slice before the assignment."""
    x = np.array(img)
    h, w = x.shape[:2]
    for i in range(n):
        u = uniforms[4 * i:4 * i + 4]
        xs = int(u[0] * (w - 48)) + 16
        ys = int(u[1] * (h - 48)) + 16
        xd = int(np.floor((u[2] - 0.5) * 16 + xs))
        yd = int(np.floor((u[3] - 0.5) * 16 + ys))
        x[yd:yd + 16, xd:xd + 16] = x[ys:ys + 16, xs:xs + 16].copy()
    return Image.fromarray(x)


def _mapmm(e: np.ndarray) -> np.ndarray:
    lo, hi = e.min(), e.max()
    return e if hi == lo else (e - lo) / (hi - lo)


def imcolorshift(img: Image.Image, u: np.ndarray, amount: float) -> Image.Image:
    """§4.23 as upstream, bug R2 included (``np.roll`` of the flattened padded green channel)."""
    x = np.asarray(img).astype(np.float64) / 255
    g = 0.2989 * x[..., 0] + 0.5870 * x[..., 1] + 0.1140 * x[..., 2]
    gy, gx = np.gradient(g)
    e = np.hypot(gy, gx)
    e = filters.gaussian(e, sigma=4, mode="nearest", preserve_range=True)
    e = _mapmm(np.clip(_mapmm(e), 0.1, 1))
    e = _mapmm(np.clip(e, np.percentile(e, 1), np.percentile(e, 99)))
    s = np.round(u / np.linalg.norm(u) * amount).astype(int)
    p = int(s.max())
    green = np.pad(x[..., 1], p, mode="symmetric")
    green = np.roll(green, tuple(s))[p:p + x.shape[0], p:p + x.shape[1]]
    out = x.copy()
    out[..., 1] = e * green + (1 - e) * x[..., 1]
    return Image.fromarray((np.clip(out, 0, 1) * 255).astype(np.uint8))
