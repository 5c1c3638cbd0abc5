"""Faithful re-implementations of ReIQA's stencil distortions (``datasets/iqa_distortions.py``),
written from DISTORTIONS.md §4.5–§4.7 and §4.19: PIL/uint8 in, uint8 out, with the upstream
library calls (Pillow filters, ``scipy.ndimage.convolve`` into uint8 = truncation).

Images are numpy uint8 arrays (H, W, 3).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage


def fspecial_disk(rad: float) -> np.ndarray:
    """MATLAB ``fspecial('disk', rad)`` as its closed formula (the one ReIQA ports)."""
    crad = math.ceil(rad - 0.5)
    x, y = np.meshgrid(np.arange(-crad, crad + 1), np.arange(-crad, crad + 1))
    maxxy = np.maximum(abs(x), abs(y)).astype(np.float64)
    minxy = np.minimum(abs(x), abs(y)).astype(np.float64)
    r2 = rad * rad
    m1 = np.where(r2 < (maxxy + 0.5) ** 2 + (minxy - 0.5) ** 2, minxy - 0.5,
                  np.sqrt(np.maximum(r2 - (maxxy + 0.5) ** 2, 0.0)))
    m2 = np.where(r2 > (maxxy - 0.5) ** 2 + (minxy + 0.5) ** 2, minxy + 0.5,
                  np.sqrt(np.maximum(r2 - (maxxy - 0.5) ** 2, 0.0)))
    a1, a2 = np.arcsin(m1 / rad), np.arcsin(m2 / rad)
    sgrid = (r2 * (0.5 * (a2 - a1) + 0.25 * (np.sin(2 * a2) - np.sin(2 * a1)))
             - (maxxy - 0.5) * (m2 - m1) + (m1 - minxy + 0.5))
    ring = (((r2 < (maxxy + 0.5) ** 2 + (minxy + 0.5) ** 2) & (r2 > (maxxy - 0.5) ** 2 + (minxy - 0.5) ** 2))
            | ((minxy == 0) & (maxxy - 0.5 < rad) & (maxxy + 0.5 >= rad)))
    sgrid = np.where(ring, sgrid, 0.0) + ((maxxy + 0.5) ** 2 + (minxy + 0.5) ** 2 < r2)
    sgrid[crad, crad] = min(math.pi * r2, math.pi / 2)
    sgrid[crad, crad] = min(sgrid[crad, crad], 1.0)
    return sgrid / sgrid.sum()


def _convolve_u8(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    out = np.zeros_like(img)
    for c in range(3):
        out[:, :, c] = ndimage.convolve(img[:, :, c], kernel, mode="nearest")  # uint8 output: truncation
    return out


def imblurgauss(img: np.ndarray, sigma: float) -> np.ndarray:
    """Pillow ``GaussianBlur(radius=σ)`` on the uint8 image."""
    return np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(radius=sigma)))


def imblurlens(img: np.ndarray, radius: float) -> np.ndarray:
    """``fspecial('disk')`` kernel, ``ndimage.convolve(mode='nearest')`` per channel into uint8."""
    return _convolve_u8(img, fspecial_disk(radius))


def imblurmotion(img: np.ndarray, k: int, angle: int) -> np.ndarray:
    """ReIQA's k×k motion kernel: one column (angle 0 → vertical blur) or row (angle 90 →
    horizontal) of 1/k at index ⌊(k−1)/2⌋, ``ndimage.convolve(mode='nearest')`` into uint8."""
    kernel = np.zeros((k, k))
    if angle == 0:
        kernel[:, (k - 1) // 2] = 1.0 / k
    else:
        kernel[(k - 1) // 2, :] = 1.0 / k
    return _convolve_u8(img, kernel)


def imdenoise(img: np.ndarray, var: float, gaussian: bool, noise: np.ndarray) -> np.ndarray:
    """Add N(0, var) noise (given, standard normal (H, W, 3)), clip, truncate to uint8, then Pillow
    ``GaussianBlur(3)`` or ``BoxBlur(2)``."""
    noisy = np.clip(img / 255.0 + math.sqrt(var) * noise, 0, 1)
    noisy = (noisy * 255).astype(np.uint8)
    flt = ImageFilter.GaussianBlur(radius=3) if gaussian else ImageFilter.BoxBlur(2)
    return np.asarray(Image.fromarray(noisy).filter(flt))
