"""Re-implementations of ReIQA's pointwise / Lab operators (``datasets/iqa_distortions.py``),
written from DISTORTIONS.md §4 and the upstream algorithm descriptions: uint8 H×W×3 in → uint8
out, with the same numpy / scipy / scikit-image calls and the same truncating casts. The random
operators take a ``numpy.random.Generator`` (upstream uses the global numpy state); they are
compared statistically, not pixel by pixel. Test oracles only.
"""

from __future__ import annotations

import numpy as np
from scipy import interpolate
from skimage import color, filters


def _curvefit(xx: np.ndarray, coef: float) -> np.ndarray:
    spline = interpolate.UnivariateSpline(np.array([0, 0.5, 1]), np.array([0, coef, 1]), k=2)
    return np.clip(spline(xx), 0, 1)


def contrast(im: np.ndarray, param: float) -> np.ndarray:
    """imcontrastc: UnivariateSpline (k = 3, default smoothing) through 5 points."""
    x = im.astype(np.float32) / 255.0
    xs = [0, 0.3, 0.5, 0.7, 1]
    ys = [0, 0.25 - param / 4, 0.5, 0.75 + param / 4, 1]
    yy = interpolate.UnivariateSpline(xs, ys)(x)
    return (np.clip(yy, 0, 1) * 255).astype(np.uint8)


def brighten(im: np.ndarray, amount: float) -> np.ndarray:
    """imbrighten: (2·curve(RGB) + lab2rgb(curve(L)))/3."""
    x = np.float32(im / 255.0)
    lab = color.rgb2lab(x)
    lab[:, :, 0] = _curvefit(lab[:, :, 0] / 100.0, 0.5 + 0.5 * amount) * 100.0
    j = (2 * _curvefit(x, 0.5 + 0.5 * amount) + np.clip(color.lab2rgb(lab), 0, 1)) / 3.0
    return np.clip(j * 255.0, 0, 255).astype(np.uint8)


def darken(im: np.ndarray, param: float) -> np.ndarray:
    """imdarken: UnivariateSpline (k = 2) through (0,0), (½, ½ − A/2), (1,1)."""
    x = im.astype(np.float32) / 255.0
    yy = interpolate.UnivariateSpline([0, 0.5, 1], [0, 0.5 - param / 2, 1], k=2)(x)
    return (np.clip(yy, 0, 1) * 255).astype(np.uint8)


def mean_shift(im: np.ndarray, amount: float) -> np.ndarray:
    """immeanshift."""
    x = np.float32(im / 255.0) + amount
    return np.clip(x * 255.0, 0, 255).astype(np.uint8)


def saturate(im: np.ndarray, amount: float) -> np.ndarray:
    """imsaturate: a*, b* × amount."""
    lab = color.rgb2lab(im)
    lab[:, :, 1:] *= amount
    return np.uint8(np.clip(color.lab2rgb(lab) * 255.0, 0, 255))


def saturate_hsv(im: np.ndarray, amount: float) -> np.ndarray:
    """imcolorsaturate: HSV S × amount."""
    hsv = color.rgb2hsv(im)
    hsv[:, :, 1] *= amount
    return np.uint8(np.clip(color.hsv2rgb(hsv) * 255.0, 0, 255))


def color_diffuse(im: np.ndarray, amount: float) -> np.ndarray:
    """imcolordiffuse: all Lab channels blurred (skimage gaussian, σ = 1.5a + 2) and scaled, L restored."""
    lab = color.rgb2lab(im)
    lum = lab[:, :, 0].copy()
    lab = filters.gaussian(lab, sigma=1.5 * amount + 2, channel_axis=-1) * amount
    lab[:, :, 0] = lum
    return np.uint8(np.clip(255 * color.lab2rgb(lab), 0, 255))


def _laplacian_sharpen(lab: np.ndarray, param: float) -> np.ndarray:
    lum = lab[:, :, 0]
    gy = np.gradient(lum, axis=0)
    gx = np.gradient(lum, axis=1)
    lap = np.gradient(gx, axis=1) + np.gradient(gy, axis=0)
    lab[:, :, 0] = np.clip(lum - param * lap, 0, 100)
    return lab


def unsharp_mask(im: np.ndarray, param: float) -> np.ndarray:
    """imsharpenHi as it is (bug R1): float32 0..255 values into rgb2lab."""
    lab = _laplacian_sharpen(color.rgb2lab(im.astype(np.float32)), param)
    return (255 * color.lab2rgb(lab)).astype(np.uint8)


def unsharp_mask_fixed(im: np.ndarray, param: float) -> np.ndarray:
    """imsharpenHi with R1 fixed (the image read as [0, 1]): pyiqa_fast's reiqa default."""
    lab = _laplacian_sharpen(color.rgb2lab(im), param)
    return (255 * color.lab2rgb(lab)).astype(np.uint8)


def white_noise(im: np.ndarray, var: float, rng: np.random.Generator) -> np.ndarray:
    """imnoisegauss."""
    x = np.float32(im / 255.0) + rng.normal(0, var**0.5, im.shape)
    return np.clip(x * 255.0, 0, 255).astype(np.uint8)


def white_noise_ycbcr(im: np.ndarray, var: float, rng: np.random.Generator) -> np.ndarray:
    """imnoisecolormap: studio YCbCr ÷ 255, noise, back, no YCbCr clipping."""
    ycbcr = color.rgb2ycbcr(im) / 255.0
    noisy = ycbcr + rng.normal(0, var**0.5, ycbcr.shape)
    return np.clip(color.ycbcr2rgb(noisy * 255.0) * 255.0, 0, 255).astype(np.uint8)


def impulse_noise(im: np.ndarray, prob: float, rng: np.random.Generator) -> np.ndarray:
    """imnoiseimpulse: one uniform per pixel, black below d/2, white above 1 − d/2."""
    out = im.copy()
    probs = rng.random(out.shape[:2])
    out[probs < prob / 2] = 0
    out[probs > 1 - prob / 2] = 255
    return out


def multiplicative_noise(im: np.ndarray, var: float, rng: np.random.Generator) -> np.ndarray:
    """imnoisemultiplicative: x + x·n, n ~ N(0, v)."""
    x = np.float32(im / 255.0)
    x = x + x * rng.normal(0, var**0.5, im.shape)
    return np.clip(x * 255.0, 0, 255).astype(np.uint8)
