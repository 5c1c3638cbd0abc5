"""distort, pointwise class (+ the Lab stencils unsharp_mask, color_diffuse): cpu against the
reference, closed forms, block semantics, extreme inputs, and ReIQA parity (DISTORTIONS.md §10.5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pyiqa_fast.distortions import sample_params
from pyiqa_fast.distortions.registry import BY_NAME
from pyiqa_fast.ops import distort
from pyiqa_fast.ops.distort.impl import cpu as cpu_impl
from tests.references import reiqa_pointwise as up

# scikit-image warns when ReIQA-style Lab round trips clip negative Z (upstream behaviour, kept).
pytestmark = pytest.mark.filterwarnings("ignore:Conversion from CIE-LAB:UserWarning")

skimage_data = pytest.importorskip("skimage.data")

# name -> presets the operator is defined in
OPS = {
    "mean_shift": ("reiqa", "kadis", "arniqa"),
    "contrast": ("reiqa", "kadis", "arniqa"),
    "unsharp_mask": ("reiqa", "kadis", "arniqa"),
    "white_noise": ("reiqa", "kadis", "arniqa"),
    "white_noise_ycbcr": ("reiqa", "kadis", "arniqa"),
    "impulse_noise": ("reiqa", "kadis", "arniqa"),
    "multiplicative_noise": ("reiqa", "kadis", "arniqa"),
    "brighten": ("reiqa", "kadis", "arniqa"),
    "darken": ("reiqa", "kadis", "arniqa"),
    "color_diffuse": ("reiqa", "kadis", "arniqa"),
    "saturate": ("reiqa", "kadis", "arniqa"),
    "saturate_hsv": ("reiqa", "kadis", "arniqa"),
    "quantization": ("arniqa",),
    "nonlinear_contrast": ("arniqa",),
}
LAB = {"unsharp_mask", "brighten", "color_diffuse", "saturate"}
QUANTISED = {("color_diffuse", "arniqa"), ("saturate", "arniqa")}  # trunc(255·y)/255
CASES = [(name, preset) for name, presets in OPS.items() for preset in presets]


def _need_cpu(name: str) -> None:
    if BY_NAME[name].id not in cpu_impl.cpu_types():
        pytest.skip(f"no C++ kernel for {name} in this build")


def photo(h: int = 37, w: int = 53, which: str = "astronaut") -> np.ndarray:
    """A real photo, subsampled and cropped small: uint8 (h, w, 3)."""
    img = getattr(skimage_data, which)()
    step = max(1, min(img.shape[0] // (2 * h), img.shape[1] // (2 * w)))
    img = img[::step, ::step][:h, :w]
    return np.ascontiguousarray(img[..., :3])


def batch(dtype=torch.float64, h=37, w=53) -> torch.Tensor:
    imgs = [photo(h, w, n) for n in ("astronaut", "chelsea", "coffee")]
    x = torch.stack([torch.from_numpy(i).permute(2, 0, 1) for i in imgs]).to(torch.float64) / 255
    return x.to(dtype)


def _compare(name: str, preset: str, y: torch.Tensor, ref: torch.Tensor, tol: float, fraction: float = 0.02) -> None:
    diff = (y.double() - ref.double()).abs()
    if (name, preset) in QUANTISED:
        # trunc(255·y) flips by one step where 255·y lands within rounding of an integer.
        bad = diff > tol
        assert float(diff.max()) <= 1 / 255 + tol
        assert float(bad.double().mean()) <= fraction
    else:
        assert float(diff.max()) <= tol, f"{name}/{preset}: max diff {float(diff.max())}"


@pytest.mark.parametrize(("name", "preset"), CASES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cpu_matches_reference_every_level(name, preset, dtype):
    _need_cpu(name)
    x = batch(torch.float64)
    x5 = torch.cat([x, x[:2]])  # 5 samples, one per level
    jitter = 0.0 if (name, preset) not in QUANTISED else 1e-3
    x5 = (x5 * (1 - 2 * jitter) + jitter).to(dtype)
    p = sample_params([name] * 5, list(range(5)), preset=preset, seed=3)
    y = distort(x5, p, backend="cpu")
    ref = distort(x5.double(), p, backend="reference")  # the float64 answer
    if dtype == torch.float64:
        tol = 1e-10 if name in ("unsharp_mask", "color_diffuse") else 1e-12
    else:
        tol = 1e-4 if name in LAB else 1e-5
    if name == "quantization" and dtype == torch.float32:  # bins of 255·x formed in float32
        ref = distort(x5, p, backend="reference")
        tol = 1e-6
    assert y.dtype == dtype and bool(torch.isfinite(y).all())
    _compare(name, preset, y, ref, tol)


@pytest.mark.parametrize(("name", "preset"), CASES)
@pytest.mark.parametrize(("block_mode", "partition"), [("composite", "grid2x2"), ("crop", "vertical")])
def test_blocks(name, preset, block_mode, partition):
    _need_cpu(name)
    x = batch(torch.float64)[:1]
    k = 2 if partition == "vertical" else 4
    others = [n for n in ("contrast", "darken", "saturate_hsv", "mean_shift") if preset in OPS[n] and n != name]
    others = others or ["nonlinear_contrast" if name != "nonlinear_contrast" else "quantization"]
    types = [[name] + [others[i % len(others)] for i in range(k - 1)]]
    p = sample_params(types, [[4] + [1] * (k - 1)], preset=preset, partition=partition, seed=11)
    y = distort(x, p, backend="cpu", block_mode=block_mode)
    ref = distort(x, p, backend="reference", block_mode=block_mode)
    tol = 1e-10 if name in ("unsharp_mask", "color_diffuse") else 1e-12
    _compare(name, preset, y, ref, tol)
    if block_mode == "composite":  # block 0 equals the whole-image operator there
        whole = distort(x, sample_params([name], [4], preset=preset, seed=11), backend="reference")
        p0 = sample_params([name], [4], preset=preset, seed=11)
        if p0.seeds[0, 0, 0] == p.seeds[0, 0, 0] or name not in ("white_noise", "white_noise_ycbcr", "impulse_noise",
                                                                 "multiplicative_noise"):
            h, w = x.shape[-2:]
            y1, x1 = (h if partition == "vertical" else h // 2), w // 2
            _compare(name, preset, y[..., :y1, :x1], whole[..., :y1, :x1], tol)


@pytest.mark.parametrize(("name", "preset"), CASES)
@pytest.mark.parametrize("shape", [(1, 1), (13, 2)])
def test_tiny_and_extreme_inputs(name, preset, shape):
    _need_cpu(name)
    for fill in (0.0, 1.0, None):
        x = torch.rand(2, 3, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        if fill is not None:
            x.fill_(fill)
        p = sample_params([name] * 2, [0, 4], preset=preset, seed=5)
        for dtype in (torch.float64, torch.float32):
            y = distort(x.to(dtype), p, backend="cpu")
            ref = distort(x.to(dtype), p, backend="reference")
            assert bool(torch.isfinite(y).all()) and float(y.min()) >= 0 and float(y.max()) <= 1
            tol = 1e-10 if dtype == torch.float64 else 1e-4
            _compare(name, preset, y, ref, tol, fraction=1.0)


def test_closed_forms():
    x = torch.linspace(0, 1, 101, dtype=torch.float64).view(1, 1, 1, -1).expand(1, 3, 2, -1).contiguous()
    for level, p_val in enumerate((0.3, 0.15, 0.0, -0.4, -0.6)):
        y = distort(x, sample_params(["contrast"], [level], seed=0))
        beta = -(0.05 + 0.25 * p_val) / 0.042
        f = (0.5 + (1 - beta / 4) * (x - 0.5) + beta * (x - 0.5) ** 3).clamp(0, 1)
        assert float((y - f).abs().max()) <= 1e-6
        # the curve passes through the five control points
        for xi, yi in ((0.3, 0.25 - p_val / 4), (0.7, 0.75 + p_val / 4), (0.5, 0.5)):
            assert abs(0.5 + (1 - beta / 4) * (xi - 0.5) + beta * (xi - 0.5) ** 3 - yi) < 1e-12
    assert abs(-(0.05 + 0.25 * 0.3) / 0.042 + 2.9762) < 1e-4
    for level, a in enumerate((0.05, 0.1, 0.2, 0.4, 0.8)):
        y = distort(x, sample_params(["darken"], [level], seed=0))
        assert float((y - (x - 2 * a * x * (1 - x)).clamp(0, 1)).abs().max()) <= 1e-6
    grey = x.clone()  # brighten on grey = the tone curve on RGB and on L (a*, b* ≈ 0)
    for level, v in enumerate((0.4, 0.3, 0.2, 0.1, 0.05)):
        y = distort(x, sample_params(["nonlinear_contrast"], [level], preset="arniqa", seed=0))
        assert float((y - (0.5 - v + 2 * v * x)).abs().max()) <= 1e-6
    y = distort(grey, sample_params(["saturate"], [0], seed=0))  # S = 1: identity up to round trip
    assert float((y - grey).abs().max()) <= 1e-6
    y = distort(grey, sample_params(["saturate_hsv"], [3], seed=0))  # f = 0 on grey: identity
    assert float((y - grey).abs().max()) <= 1e-12


def test_quantization_closed_form():
    x = torch.linspace(0, 1, 256, dtype=torch.float64).view(1, 1, 1, -1).expand(1, 3, 1, -1).contiguous()
    for level, n in enumerate((20, 16, 13, 10, 7)):
        y = distort(x, sample_params(["quantization"], [level], preset="arniqa", seed=0))
        edges = [0] + [255 * i // n for i in range(1, n)] + [256]
        idx = torch.tensor([sum(e < v for e in edges) for v in (x[0, 0, 0] * 255).tolist()], dtype=torch.float64)
        expected = (idx - idx.min()) / (idx.max() - idx.min())
        assert float((y[0, 0, 0] - expected).abs().max()) <= 1e-12
        assert len(torch.unique(y)) == n + 1
    with pytest.raises(ValueError):
        sample_params(["quantization"], [0], preset="kadis", seed=0)


def test_saturate_arniqa_truncation_on_uint8_grid():
    # trunc(255·y) after the Lab round trip: float32 and uint8 inputs on the k/255 grid (and white)
    # at S = 1 land within float32 rounding of the step edges; cpu does the round trip in float64
    # (as the GPU backends) and truncates where the reference does (a float32 one: 527 of 3840 off).
    grid = (torch.arange(3 * 16 * 16, dtype=torch.float64).view(1, 3, 16, 16) % 256) / 255
    image = torch.cat([grid, grid.roll(1, 1), grid.roll(2, 1), torch.ones_like(grid), grid.flip(-1)])
    params = sample_params(["saturate"] * 5, [0, 1, 2, 3, 4], preset="arniqa", seed=0)
    x32 = image.float()
    expected = distort(x32.double(), params, backend="reference")
    assert float((distort(x32, params, backend="cpu").double() - expected).abs().max()) <= 1e-6
    x8 = (image * 255).round().to(torch.uint8)
    assert torch.equal(distort(x8, params, backend="cpu"), distort(x8, params, backend="reference"))


def test_color_diffuse_windows():
    # reiqa's σ = 20 window has 161 taps: a point of chroma spreads 80 px, kadis' 81 taps 40 px.
    x = torch.full((1, 3, 1, 201), 0.5, dtype=torch.float64)
    flat = distort(x, sample_params(["color_diffuse"], [4], seed=0), backend="reference")
    x[0, 0, 0, 100] = 0.6
    for preset, reach in (("reiqa", 80), ("kadis", 40)):
        y = distort(x, sample_params(["color_diffuse"], [4], preset=preset, seed=0), backend="reference")
        changed = ((y - flat).abs() > 1e-9).any(1)[0, 0].nonzero().flatten()
        assert int(changed.min()) == 100 - reach and int(changed.max()) == 100 + reach
        if BY_NAME["color_diffuse"].id in cpu_impl.cpu_types():
            yc = distort(x, sample_params(["color_diffuse"], [4], preset=preset, seed=0), backend="cpu")
            assert float((yc - y).abs().max()) <= 1e-12


def _to_uint8_floor(y: torch.Tensor) -> np.ndarray:
    return np.floor(y[0].permute(1, 2, 0).numpy() * 255 + 1e-9).astype(np.int64)


DETERMINISTIC = {
    "contrast": up.contrast, "brighten": up.brighten, "darken": up.darken, "mean_shift": up.mean_shift,
    "saturate": up.saturate, "saturate_hsv": up.saturate_hsv, "color_diffuse": up.color_diffuse,
    "unsharp_mask": up.unsharp_mask_fixed,
}


@pytest.mark.parametrize("name", list(DETERMINISTIC))
def test_reiqa_parity_deterministic(name):
    """Default reiqa (float, no truncation) against ReIQA's uint8 functions: ≤ 1 LSB."""
    im = photo(48, 64, "coffee")
    x = torch.from_numpy(im).permute(2, 0, 1)[None].double() / 255
    for level, value in enumerate(BY_NAME[name].values("reiqa")):
        y = distort(x, sample_params([name], [level], seed=0))
        ours = _to_uint8_floor(y)
        theirs = DETERMINISTIC[name](im.copy(), value).astype(np.int64)
        diff = np.abs(ours - theirs)
        # Lab gains up to 12x amplify float32-vs-float64 differences of skimage at a few pixels.
        assert np.mean(diff > 1) <= (0.002 if name in LAB else 0.0), (name, level, int(diff.max()))


def test_reiqa_parity_unsharp_compat():
    """compat=True reproduces R1 (0..255 floats into rgb2lab)."""
    im = photo(48, 64, "chelsea")
    x = torch.from_numpy(im).permute(2, 0, 1)[None].double() / 255
    for level, value in enumerate((1, 2, 3, 6, 12)):
        p = sample_params(["unsharp_mask"], [level], seed=0)
        ours = _to_uint8_floor(distort(x, p, compat=True))
        theirs = up.unsharp_mask(im.copy(), value).astype(np.int64)
        assert np.mean(np.abs(ours - theirs) > 1) <= 0.01
        assert np.abs(ours - im.astype(np.int64)).mean() > 30  # the level-independent remap
        assert not torch.equal(distort(x, p, compat=True), distort(x, p))


RANDOM = {
    "white_noise": up.white_noise, "white_noise_ycbcr": up.white_noise_ycbcr,
    "impulse_noise": up.impulse_noise, "multiplicative_noise": up.multiplicative_noise,
}


@pytest.mark.parametrize("name", list(RANDOM))
def test_reiqa_parity_random(name):
    """Mean and variance of the change per channel agree with ReIQA's within 4σ (same image)."""
    im = photo(96, 128, "astronaut")
    x = torch.from_numpy(im).permute(2, 0, 1)[None].double() / 255
    rng = np.random.default_rng(0)
    for level in (0, 4):
        value = BY_NAME[name].values("reiqa")[level]
        y = distort(x, sample_params([name], [level], seed=1))
        ours_u8 = _to_uint8_floor(y)
        theirs_u8 = RANDOM[name](im.copy(), value, rng).astype(np.int64)
        n = im[..., 0].size
        if name == "impulse_noise":  # heavy-tailed: compare the rates of black and white pixels
            for target in (0, 255):
                ra, rb = (ours_u8 == target).all(-1).mean(), (theirs_u8 == target).all(-1).mean()
                assert abs(ra - rb) <= 4 * math.sqrt((ra + rb) / n) + 1e-9, (level, target, ra, rb)
            continue
        ours, theirs = ours_u8.astype(np.float64) - im, theirs_u8.astype(np.float64) - im
        for c in range(3):
            a, b = ours[..., c].ravel(), theirs[..., c].ravel()
            se = math.sqrt((a.var() + b.var()) / n) + 1e-9
            assert abs(a.mean() - b.mean()) <= 4 * se + 0.02, (name, level, c)
            va, vb = a.var(), b.var()
            assert abs(va - vb) <= 4 * math.sqrt(2 * (va**2 + vb**2) / n) + 0.05 * max(va, vb) + 0.5, (name, level, c)


def test_impulse_rates_and_kinds():
    x = torch.full((1, 3, 128, 128), 0.5, dtype=torch.float64)
    d = 0.03
    for preset in ("reiqa", "kadis", "arniqa"):
        y = distort(x, sample_params(["impulse_noise"], [4], preset=preset, seed=2))
        n = y[0, 0].numel() * (1 if preset == "reiqa" else 3)
        vals = y[0] if preset != "reiqa" else y[0, :1]
        for target in (0.0, 1.0):
            rate = float((vals == target).double().mean())
            assert abs(rate - d / 2) <= 4 * math.sqrt(d / 2 / n), (preset, target, rate)
        grey = bool(((y[0] == y[0, :1]).all(0) | (y[0] == 0.5).all(0)).all())
        assert grey == (preset == "reiqa")


def test_multiplicative_kadis_uniform():
    x = torch.full((1, 3, 128, 128), 0.5, dtype=torch.float64)
    v = 0.05
    y = distort(x, sample_params(["multiplicative_noise"], [4], preset="kadis", seed=2))
    n = y / 0.5 - 1
    assert float(n.abs().max()) <= math.sqrt(3 * v) + 1e-12
    assert abs(float(n.var()) - v) <= 0.05 * v


def test_white_noise_ycbcr_kadis_clips_ycbcr():
    """kadis clips the noisy YCbCr (matters near white, Y = 235/255), reiqa does not; arniqa is full range."""
    def run(fill, preset):
        x = torch.full((1, 3, 64, 64), fill, dtype=torch.float64)
        return distort(x, sample_params(["white_noise_ycbcr"], [4], preset=preset, seed=0), backend="reference")

    assert torch.equal(run(0.5, "kadis"), run(0.5, "reiqa"))  # |noise| < 0.4: nothing to clip
    assert not torch.equal(run(1.0, "kadis"), run(1.0, "reiqa"))
    assert not torch.equal(run(0.5, "arniqa"), run(0.5, "reiqa"))


def test_reproducible_and_batch_position_independent():
    x = batch(torch.float32)
    for name, presets in OPS.items():
        if BY_NAME[name].id not in cpu_impl.cpu_types():
            continue
        p = sample_params([name] * 3, [4] * 3, preset=presets[0], seed=9)
        a = distort(x, p, backend="cpu")
        b = distort(x, p, backend="cpu")
        assert torch.equal(a, b)
        p1 = sample_params([name], [4], preset=presets[0], seed=9)
        if name not in RANDOM:  # deterministic ops: any position gives the single-image answer
            assert torch.equal(distort(x[1:2], p1, backend="cpu"), a[1:2])
