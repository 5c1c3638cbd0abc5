"""Baselines of bench_distort on batched PyTorch: the reference's maths over a whole batch of one
type with per-sample parameter tensors (PERFORMANCE.md §5.1 (b)), run eager and under
``torch.compile``; kornia's nearest equivalents (§5.1 (c)) and torchvision's nvJPEG round trip
(§5.1 (e)).

``BATCHED[name](x, values, aux) -> y``: x float Tensor[B, 3, H, W] in [0, 1] on any device,
values float64 Tensor[B] (the levels' values of the reiqa preset), aux float64 Tensor[B, 400];
the output is clipped to [0, 1]. Deterministic types equal the reference backend (checked in
tests/test_bench.py); random types draw with torch's generator instead of Philox (their cost is
what is measured). Types with no batched form are absent (non-eccentricity's sequential copies,
jitter's recursive spline prefilter, JPEG): bench_distort names the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from pyiqa_fast.distortions import filters

Batched = Callable[[Tensor, Tensor, Tensor], Tensor]
BATCHED: dict[str, Batched] = {}


def _register(name: str):
    def wrap(fn: Batched) -> Batched:
        BATCHED[name] = fn
        return fn

    return wrap


def _per_sample(v: Tensor, x: Tensor) -> Tensor:
    return v.to(x.device, x.dtype).view(-1, 1, 1, 1)


# ---------------------------------------------------------------------------------------------
# Colour (DISTORTIONS.md §2.2), batched over (B, 3, H, W).

_XYZ = torch.tensor([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169],
                     [0.019334, 0.119193, 0.950227]], dtype=torch.float64)
_WHITE = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)
_D = 6.0 / 29.0


def _mat(m: Tensor, x: Tensor) -> Tensor:
    return torch.einsum("ij,bjhw->bihw", m.to(x), x)


def rgb_to_lab(x: Tensor) -> Tensor:
    lin = torch.where(x > 0.04045, ((x + 0.055) / 1.055).clamp_min(0) ** 2.4, x / 12.92)
    t = _mat(_XYZ, lin) / _WHITE.to(x).view(1, 3, 1, 1)
    f = torch.where(t > _D**3, t.clamp_min(_D**3).pow(1 / 3), t / (3 * _D**2) + 4 / 29)
    return torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


def lab_to_rgb(lab: Tensor) -> Tensor:
    fy = (lab[:, 0] + 16) / 116
    f = torch.stack([fy + lab[:, 1] / 500, fy, (fy - lab[:, 2] / 200).clamp_min(0)], 1)
    xyz = torch.where(f > _D, f**3, 3 * _D**2 * (f - 4 / 29)) * _WHITE.to(lab).view(1, 3, 1, 1)
    lin = _mat(torch.linalg.inv(_XYZ), xyz)
    return torch.where(lin > 0.0031308, 1.055 * lin.clamp_min(0.0031308) ** (1 / 2.4) - 0.055, lin * 12.92).clamp(0, 1)


def _tone(x: Tensor, amount: Tensor) -> Tensor:
    return (x + 2 * amount * x * (1 - x)).clamp(0, 1)


# ---------------------------------------------------------------------------------------------
# Filters with per-sample kernels: one grouped convolution over the batch.


def _grouped_conv(x: Tensor, kernels: Tensor) -> Tensor:
    """Correlation of each sample's 3 channels with its own odd 2-D kernel (B, kh, kw), replicate borders."""
    b, c, h, w = x.shape
    kh, kw = kernels.shape[-2:]
    padded = F.pad(x.reshape(1, b * c, h, w), (kw // 2, kw // 2, kh // 2, kh // 2), mode="replicate")
    weight = kernels.to(x).repeat_interleave(c, 0).unsqueeze(1)
    return F.conv2d(padded, weight, groups=b * c).view(b, c, h, w)


def _separable(x: Tensor, taps: Tensor) -> Tensor:
    """Per-sample symmetric 1-D taps (B, k) along x then y."""
    x = _grouped_conv(x, taps.unsqueeze(1))
    return _grouped_conv(x, taps.unsqueeze(2))


def _pad_taps(rows: list[list[float]]) -> Tensor:
    """Centred 1-D tap lists of different odd lengths → (B, max) zero-padded at both ends."""
    width = max(len(r) for r in rows)
    return torch.tensor([[0.0] * ((width - len(r)) // 2) + r + [0.0] * ((width - len(r)) // 2) for r in rows],
                        dtype=torch.float64)


def _pad_kernels(kernels: list[Tensor]) -> Tensor:
    size = max(k.shape[0] for k in kernels)
    return torch.stack([F.pad(k, [(size - k.shape[0]) // 2] * 4) for k in kernels])


def _box_passes(x: Tensor, radii: list[float], passes: int) -> Tensor:
    """Pillow's extended-box blur: ``passes`` passes per axis, x first, replicate padding before each."""
    taps = _pad_taps([filters.pillow_box_taps(r) for r in radii])
    for _ in range(passes):
        x = _grouped_conv(x, taps.unsqueeze(1))
    for _ in range(passes):
        x = _grouped_conv(x, taps.unsqueeze(2))
    return x


# ---------------------------------------------------------------------------------------------
# Operators (reiqa preset).


@_register("mean_shift")
def mean_shift(x: Tensor, values: Tensor, aux: Tensor) -> Tensor:
    return (x + _per_sample(values, x)).clamp(0, 1)


@_register("contrast")
def contrast(x: Tensor, values: Tensor, aux: Tensor) -> Tensor:
    beta = -(0.05 + 0.25 * _per_sample(values, x)) / 0.042
    d = x - 0.5
    return (0.5 + (1 - beta / 4) * d + beta * d**3).clamp(0, 1)


@_register("darken")
def darken(x: Tensor, values: Tensor, aux: Tensor) -> Tensor:
    return _tone(x, -_per_sample(values, x))


@_register("brighten")
def brighten(x: Tensor, values: Tensor, aux: Tensor) -> Tensor:
    a = _per_sample(values, x)
    lab = rgb_to_lab(x)
    lab = torch.cat([100 * _tone(lab[:, :1] / 100, a), lab[:, 1:]], 1)
    return ((2 * _tone(x, a) + lab_to_rgb(lab)) / 3).clamp(0, 1)


@_register("saturate")
def saturate(x: Tensor, values: Tensor, aux: Tensor) -> Tensor:
    lab = rgb_to_lab(x)
    return lab_to_rgb(torch.cat([lab[:, :1], lab[:, 1:] * _per_sample(values, x)], 1))


@_register("white_noise")
def white_noise(x: Tensor, values: Tensor, aux: Tensor) -> Tensor:
    return (x + _per_sample(values, x).sqrt() * torch.randn_like(x)).clamp(0, 1)


@_register("multiplicative_noise")
def multiplicative_noise(x: Tensor, values: Tensor, aux: Tensor) -> Tensor:
    return (x + x * _per_sample(values, x).sqrt() * torch.randn_like(x)).clamp(0, 1)


@_register("impulse_noise")
def impulse_noise(x: Tensor, values: Tensor, aux: Tensor) -> Tensor:
    u = torch.rand_like(x[:, :1])
    half = _per_sample(values, x) / 2
    return torch.where(u < half, 0.0, torch.where(u > 1 - half, 1.0, x))


_STUDIO = torch.tensor([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]],
                       dtype=torch.float64) / 255
_STUDIO_OFFSET = torch.tensor([16.0, 128.0, 128.0], dtype=torch.float64) / 255


@_register("white_noise_ycbcr")
def white_noise_ycbcr(x: Tensor, values: Tensor, aux: Tensor) -> Tensor:
    off = _STUDIO_OFFSET.to(x).view(1, 3, 1, 1)
    ycc = _mat(_STUDIO, x) + off + _per_sample(values, x).sqrt() * torch.randn_like(x)
    return _mat(torch.linalg.inv(_STUDIO), ycc - off).clamp(0, 1)


@_register("gaussian_blur")
def gaussian_blur(x: Tensor, values: Tensor, aux: Tensor) -> Tensor:
    return _box_passes(x, [filters.pillow_gaussian_radius(float(v), 3) for v in values], 3).clamp(0, 1)


@_register("lens_blur")
def lens_blur(x: Tensor, values: Tensor, aux: Tensor) -> Tensor:
    return _grouped_conv(x, _pad_kernels([filters.cached_kernel("disk", float(v)) for v in values])).clamp(0, 1)


def _motion_line(length: int, horizontal: bool) -> Tensor:
    if length % 2 == 0:
        taps = [0.5 / length] + [1.0 / length] * (length - 1) + [0.5 / length]
    else:
        taps = [1.0 / length] * length
    k = torch.zeros(len(taps), len(taps), dtype=torch.float64)
    if horizontal:
        k[len(taps) // 2] = torch.tensor(taps, dtype=torch.float64)
    else:
        k[:, len(taps) // 2] = torch.tensor(taps, dtype=torch.float64)
    return k


@_register("motion_blur")
def motion_blur(x: Tensor, values: Tensor, aux: Tensor) -> Tensor:
    kernels = [_motion_line(int(v), float(a) < 0.5) for v, a in zip(values, aux[:, 0], strict=True)]
    return _grouped_conv(x, _pad_kernels(kernels)).clamp(0, 1)


@_register("denoise")
def denoise(x: Tensor, values: Tensor, aux: Tensor) -> Tensor:
    noisy = (x + _per_sample(values, x).sqrt() * torch.randn_like(x)).clamp(0, 1)
    gaussian = _box_passes(noisy, [filters.pillow_gaussian_radius(3.0, 3)] * x.shape[0], 3)
    box = _box_passes(noisy, [2.0] * x.shape[0], 1)
    return torch.where(_per_sample(aux[:, 0], x) < 0.5, gaussian, box).clamp(0, 1)


@_register("color_diffuse")
def color_diffuse(x: Tensor, values: Tensor, aux: Tensor) -> Tensor:
    rows = []
    for v in values.tolist():
        sigma = 1.5 * v + 2
        r = int(4 * sigma + 0.5)
        g = [math.exp(-0.5 * d * d / sigma**2) for d in range(-r, r + 1)]
        rows.append([t / sum(g) for t in g])
    lab = rgb_to_lab(x)
    ab = _separable(lab[:, 1:], _pad_taps(rows))
    return lab_to_rgb(torch.cat([lab[:, :1], ab * _per_sample(values, x)], 1))


def _nearest_gather(x: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """out[b, c, i, j] = x[b, c, rows[b, i], cols[b, j]]."""
    b, c, h, w = x.shape
    y = torch.gather(x, 2, rows.to(x.device).view(b, 1, h, 1).expand(b, c, h, w))
    return torch.gather(y, 3, cols.to(x.device).view(b, 1, 1, w).expand(b, c, h, w))


@_register("pixelate")
def pixelate(x: Tensor, values: Tensor, aux: Tensor) -> Tensor:
    h, w = x.shape[-2:]
    rows, cols = [], []
    for v in values.tolist():
        z = 0.95 - v**0.6
        sh, sw = max(1, int(z * h)), max(1, int(z * w))
        down_r, down_c = filters.pillow_nearest_map(h, sh), filters.pillow_nearest_map(w, sw)
        rows.append([down_r[i] for i in filters.pillow_nearest_map(sh, h)])
        cols.append([down_c[j] for j in filters.pillow_nearest_map(sw, w)])
    return _nearest_gather(x, torch.tensor(rows), torch.tensor(cols))


def _resize(name: str) -> Batched:
    def run(x: Tensor, values: Tensor, aux: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        out = torch.empty_like(x)
        for v in values.unique().tolist():  # one batched matmul chain per level
            idx = (values == v).nonzero().view(-1).to(x.device)
            hs, ws = max(1, int(h // v)), max(1, int(w // v))
            y = x[idx]
            for n_out, dim in ((ws, -1), (hs, -2), (w, -1), (h, -2)):
                n_in = y.shape[dim]
                if n_in == n_out:
                    continue
                m = filters.pillow_weights(n_in, n_out, name).to(x)
                y = y @ m.T if dim == -1 else m @ y
            out[idx] = y.clamp(0, 1)
        return out

    return run


for _name in ("bicubic", "bilinear", "lanczos"):
    BATCHED[f"resize_{_name}"] = _resize(_name)


@_register("color_block")
def color_block(x: Tensor, values: Tensor, aux: Tensor) -> Tensor:
    b, _, h, w = x.shape
    sh, sw = min(32, h), min(32, w)
    ys = torch.arange(h, device=x.device).view(1, -1, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, -1)
    out = x.clone()
    u = aux.to(x.device)
    for i in range(int(values.max())):
        live = (values.to(x.device) > i).view(-1, 1, 1)
        x0 = torch.floor(u[:, 5 * i] * (w - sw)).long().view(-1, 1, 1)
        y0 = torch.floor(u[:, 5 * i + 1] * (h - sh)).long().view(-1, 1, 1)
        colour = (torch.floor(u[:, 5 * i + 2 : 5 * i + 5] * 256) / 255).to(x.dtype).view(b, 3, 1, 1)
        inside = live & (ys >= y0) & (ys < y0 + sh) & (xs >= x0) & (xs < x0 + sw)
        out = torch.where(inside.unsqueeze(1), colour, out)
    return out


# ---------------------------------------------------------------------------------------------
# kornia (its nearest equivalents, DISTORTIONS.md §9: not the same maths) and torchvision nvJPEG.


def kornia_ops() -> dict[str, Batched]:
    """kornia's batched ops with per-sample parameters for the types it has an equivalent of."""
    import kornia

    def gaussian(x, values, aux):
        sigma = values.to(x).view(-1, 1).expand(-1, 2)
        size = 2 * math.ceil(3 * float(values.max())) + 1
        return kornia.filters.gaussian_blur2d(x, (size, size), sigma, border_type="replicate")

    def motion(x, values, aux):
        size = int(values.max()) | 1
        angle = torch.where(aux[:, 0] < 0.5, 0.0, 90.0).to(x)
        return kornia.filters.motion_blur(x, size, angle, torch.zeros_like(angle), border_type="replicate")

    return {
        "mean_shift": lambda x, v, a: kornia.enhance.adjust_brightness(x, v.to(x), clip_output=True),
        "contrast": lambda x, v, a: kornia.enhance.adjust_contrast(x, (1 - v).to(x), clip_output=True),
        "saturate": lambda x, v, a: kornia.enhance.adjust_saturation(x, v.to(x)),
        "gaussian_blur": gaussian,
        "motion_blur": motion,
        "white_noise": lambda x, v, a: (x + v.to(x).sqrt().view(-1, 1, 1, 1) * torch.randn_like(x)).clamp(0, 1),
        "jpeg": lambda x, v, a: kornia.enhance.jpeg_codec_differentiable(x, v.to(x)),
    }


def nvjpeg_round_trip(x: Tensor, qualities: Tensor) -> Tensor:
    """torchvision CUDA ``encode_jpeg`` + ``decode_jpeg``, one call per quality (PERFORMANCE.md §5.1 (e))."""
    from torchvision.io import decode_jpeg, encode_jpeg

    u8 = torch.floor(x * 255 + 0.5).clamp(0, 255).to(torch.uint8)
    out = torch.empty_like(x)
    for q in qualities.unique().tolist():
        idx = (qualities == q).nonzero().view(-1).tolist()
        encoded = encode_jpeg([u8[i] for i in idx], quality=int(q))
        for i, img in zip(idx, decode_jpeg(encoded, device=x.device), strict=True):
            out[i] = img.to(x.dtype) / 255
    return out
