"""distort, resample class (DISTORTIONS.md §4.1–4.4, 4.11–4.13, 4.23, 4.25; tests per §10.5):
cpu vs reference, closed forms against Pillow / scipy / torch, parity with faithful ReIQA functions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage
from skimage import data

from pyiqa_fast.distortions import sample_params
from pyiqa_fast.distortions.registry import PRESETS
from pyiqa_fast.ops import distort
from pyiqa_fast.ops.distort.impl.cpu import cpu_types
from pyiqa_fast.ops.distort.impl.reference import resample as ref
from tests.references import reiqa_resample as reiqa

OPS = ("resize_bicubic", "resize_bilinear", "resize_lanczos", "resize_nearest", "pixelate", "jitter", "color_block",
       "non_eccentricity", "color_shift")
RESIZE_ONLY = {"resize_bicubic", "resize_bilinear", "resize_lanczos", "resize_nearest"}
needs_cpu = pytest.mark.skipif(not {0, 1, 2, 3, 10, 11, 12, 22, 25} <= cpu_types(), reason="C++ kernels not built")


def photo(h: int, w: int, which: str = "astronaut") -> np.ndarray:
    """A real photo (uint8 HWC) resized to (h, w) with Pillow."""
    img = getattr(data, which)()
    return np.asarray(Image.fromarray(img).resize((w, h), Image.BILINEAR))


def as_batch(arrays, dtype=torch.float64) -> torch.Tensor:
    return torch.stack([torch.from_numpy(np.array(a)).permute(2, 0, 1) for a in arrays]).to(dtype) / 255


def presets_of(name: str) -> tuple[str, ...]:
    return ("reiqa",) if name in RESIZE_ONLY else PRESETS


# ----------------------------------------------------------------------------------------------
# cpu vs reference


@needs_cpu
@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cpu_matches_reference(name, dtype):
    h, w = {"non_eccentricity": (61, 75), "jitter": (19, 27)}.get(name, (37, 53))
    x = as_batch([photo(h, w), photo(h, w, "chelsea"), photo(h, w, "coffee"), photo(h, w)], dtype)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for preset in presets_of(name):
        # compat only changes color_shift (bug R2); elsewhere one preset checks that it changes nothing
        for compat in (False, True) if name == "color_shift" or preset == "reiqa" else (False,):
            p = sample_params([name] * 5, [0, 1, 2, 3, 4], preset=preset, seed=11)
            xb = torch.cat([x, x[:1]])
            out_ref = distort(xb, p, backend="reference", compat=compat)
            out_cpu = distort(xb, p, backend="cpu", compat=compat)
            err = (out_ref - out_cpu).abs().max().item()
            assert err <= tol, (preset, compat, err)


@needs_cpu
@pytest.mark.parametrize("block_mode", ["composite", "crop"])
@pytest.mark.parametrize("partition", ["vertical", "grid2x2"])
def test_block_modes(block_mode, partition):
    h, w = (101, 103) if partition == "grid2x2" else (57, 101)
    x = as_batch([photo(h, w, "coffee"), photo(h, w)])
    k = 4 if partition == "grid2x2" else 2
    names = ["resize_lanczos", "jitter", "color_block", "non_eccentricity", "color_shift", "pixelate"]
    for preset in PRESETS:
        types = [[names[(b + i) % len(names)] for i in range(k)] for b in range(2)]
        if preset != "reiqa":
            types = [[t if t not in RESIZE_ONLY else "pixelate" for t in row] for row in types]
        if partition == "vertical":  # vertical blocks of a 57-px-high image are too narrow for 49×49 copies
            types = [[t if t != "non_eccentricity" else "color_block" for t in row] for row in types]
        p = sample_params(types, [[3] * k] * 2, preset=preset, partition=partition, seed=5)
        a = distort(x, p, backend="reference", block_mode=block_mode)
        c = distort(x, p, backend="cpu", block_mode=block_mode)
        assert (a - c).abs().max().item() <= 1e-12


@needs_cpu
@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_range_constant_inputs_and_tiny(name, fill):
    for preset in presets_of(name):
        big = (20, 24) if name == "jitter" else (64, 64)
        sizes = [big] if name == "non_eccentricity" else [big, (1, 1), (2, 3), (5, 1)]
        for h, w in sizes:
            x = torch.full((2, 3, h, w), fill, dtype=torch.float32)
            p = sample_params([name] * 2, [4, 2], preset=preset, seed=3)
            for backend in ("cpu", "reference"):
                y = distort(x, p, backend=backend)
                assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1
                if name not in ("color_block",):
                    assert (y - fill).abs().max() <= 1e-6, (name, preset, h, w, backend)


def test_non_eccentricity_rejects_small_regions():
    p = sample_params(["non_eccentricity"], [0], seed=0)
    with pytest.raises(ValueError, match="non_eccentricity"):
        distort(torch.rand(1, 3, 48, 64), p, backend="reference")


# ----------------------------------------------------------------------------------------------
# Closed forms: Pillow resampling, nearest maps, scipy B-spline interpolation, numpy statistics


@pytest.mark.parametrize("name,mode", [("bicubic", Image.BICUBIC), ("bilinear", Image.BILINEAR),
                                       ("lanczos", Image.LANCZOS)])
def test_resize_matches_pillow_float_mode(name, mode):
    img = photo(45, 67, "chelsea")
    x = as_batch([img])[0]
    for k in (2, 3, 4, 8, 16):
        hs, ws = max(1, 45 // k), max(1, 67 // k)
        ours = ref.pillow_resize(ref.pillow_resize(x, hs, ws, name), 45, 67, name)
        for c in range(3):
            chan = Image.fromarray(x[c].numpy().astype(np.float32), mode="F")
            theirs = np.asarray(chan.resize((ws, hs), mode).resize((67, 45), mode))
            assert np.abs(ours[c].numpy() - theirs).max() <= 1e-5, (name, k)


@needs_cpu
@pytest.mark.parametrize("name,mode", [("resize_bicubic", Image.BICUBIC), ("resize_bilinear", Image.BILINEAR),
                                       ("resize_lanczos", Image.LANCZOS), ("resize_nearest", Image.NEAREST)])
def test_resize_uint8_parity_with_reiqa(name, mode):
    img = photo(96, 128)
    p = sample_params([name] * 5, [0, 1, 2, 3, 4], seed=0)
    x = torch.from_numpy(np.stack([img] * 5)).permute(0, 3, 1, 2).contiguous()
    outs = {(backend, compat): distort(x, p, backend=backend, compat=compat).permute(0, 2, 3, 1).numpy()
            for backend in ("cpu", "reference") for compat in (False, True)}
    for b in range(5):
        k = float(p.values[b, 0, 0])
        theirs = np.asarray(reiqa.imresizedist(Image.fromarray(img), k, mode)).astype(np.int64)
        for backend in ("cpu", "reference"):
            # compat: Pillow's uint8 arithmetic emulated exactly.
            assert np.array_equal(outs[backend, True][b].astype(np.int64), theirs), (name, k, backend)
            # default: float, no intermediate rounding or clipping (the clip cuts bicubic/Lanczos
            # overshoot at strong edges): a few LSB, rarely more at clipped edges.
            diff = np.abs(outs[backend, False][b].astype(np.int64) - theirs)
            if name == "resize_nearest":
                assert diff.max() == 0, k
            else:
                assert np.percentile(diff, 95) <= 4 and diff.mean() < 1.0, (name, k, diff.max())


def test_nearest_maps_match_pillow_and_torch():
    for n_in, n_out in [(224, 112), (224, 74), (37, 224), (53, 17), (224, 198), (65, 224), (4, 3), (3, 4), (1, 5)]:
        row = Image.fromarray(np.arange(n_in, dtype=np.int32).reshape(1, n_in).astype(np.float32), mode="F")
        pil = np.asarray(row.resize((n_out, 1), Image.NEAREST))[0].astype(int).tolist()
        assert ref.pillow_nearest_map(n_in, n_out) == pil
        src = torch.arange(n_in, dtype=torch.float32).view(1, 1, 1, n_in)
        tt = torch.nn.functional.interpolate(src, size=(1, n_out), mode="nearest").view(-1).long().tolist()
        assert ref.torch_nearest_map(n_in, n_out) == tt


def test_matlab_nearest_map_closed_form():
    # scale 0.5: MATLAB picks source ⌊(i + 0.5)/z⌋ = 2i + 1; upscaling by 2 repeats each source.
    assert ref.matlab_nearest_map(8, 4, 0.5) == [1, 3, 5, 7]
    assert ref.matlab_nearest_map(4, 8, 2.0) == [0, 0, 1, 1, 2, 2, 3, 3]
    # ⌈z·n⌉ outputs can reach past the last source: mirrored back into the image.
    m = ref.matlab_nearest_map(224, math.ceil(0.2902 * 224), 0.2902)
    assert len(m) == 66 and max(m) < 224 and m[-1] == 447 - int(65.5 / 0.2902)


def test_pixelate_sizes_closed_form():
    sizes = [int((0.95 - s ** 0.6) * 224) for s in (0.01, 0.05, 0.1, 0.2, 0.5)]
    assert sizes == [198, 175, 156, 127, 65]


def test_spline_sampling_matches_scipy_map_coordinates():
    rng = np.random.default_rng(0)
    img = photo(29, 41, "coffee")[..., 0].astype(np.float64) / 255
    h, w = img.shape
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    dy, dx = rng.normal(0, 3, (h, w)), rng.normal(0, 3, (h, w))
    theirs = ndimage.map_coordinates(img, [yy - dy, xx - dx], order=3, mode="reflect")
    x = torch.from_numpy(img)[None]
    coef = ref.spline_prefilter_last(ref.spline_prefilter_last(x).transpose(-1, -2)).transpose(-1, -2)
    ours = ref._sample(coef, torch.from_numpy(yy - dy), torch.from_numpy(xx - dx), ref._bspline_weights, 4,
                       ref._reflect_index)[0].numpy()
    assert np.abs(ours - theirs).max() <= 1e-6
    theirs_coef = ndimage.spline_filter(img, order=3, mode="reflect")
    assert np.abs(coef[0].numpy() - theirs_coef).max() <= 1e-12


def test_percentile_and_gradient_match_numpy():
    rng = np.random.default_rng(1)
    for n in (1, 2, 7, 100, 1001):
        v = rng.random(n)
        for q in (1, 99, 50):
            assert abs(ref.np_percentile(torch.from_numpy(v), q) - np.percentile(v, q)) <= 1e-15
    g = rng.random((6, 9))
    for dim in (0, 1):
        assert np.allclose(ref.np_gradient(torch.from_numpy(g), dim).numpy(), np.gradient(g, axis=dim), atol=1e-15)


# ----------------------------------------------------------------------------------------------
# Parity with the faithful ReIQA functions


def _uniforms(p, b):
    return p.aux[b, 0, 0].numpy()


def test_pixelate_parity_with_reiqa():
    img = photo(90, 131, "chelsea")
    p = sample_params(["pixelate"] * 5, [0, 1, 2, 3, 4], seed=0)
    ours = distort(torch.from_numpy(np.stack([img] * 5)).permute(0, 3, 1, 2).contiguous(), p, backend="reference")
    for b in range(5):
        theirs = np.asarray(reiqa.impixelate(Image.fromarray(img), float(p.values[b, 0, 0])))
        assert np.array_equal(ours[b].permute(1, 2, 0).numpy(), theirs)


@pytest.mark.parametrize("name,fn", [("color_block", reiqa.imcolorblock),
                                     ("non_eccentricity", reiqa.imnoneccentricity)])
def test_fill_parity_with_reiqa(name, fn):
    img = photo(80, 96, "coffee")
    p = sample_params([name] * 5, [0, 1, 2, 3, 4], seed=2)
    x = torch.from_numpy(np.stack([img] * 5)).permute(0, 3, 1, 2).contiguous()
    for backend in ("reference", "cpu"):
        ours = distort(x, p, backend=backend)
        for b in range(5):
            theirs = np.asarray(fn(Image.fromarray(img), _uniforms(p, b), int(p.values[b, 0, 0])))
            assert np.array_equal(ours[b].permute(1, 2, 0).numpy(), theirs), (backend, b)


def test_color_shift_compat_parity_with_reiqa():
    img = photo(70, 90, "astronaut")
    p = sample_params(["color_shift"] * 5, [0, 1, 2, 3, 4], seed=4)
    ours = distort(as_batch([img] * 5), p, backend="reference", compat=True)
    for b in range(5):
        theirs = np.asarray(reiqa.imcolorshift(Image.fromarray(img), _uniforms(p, b)[:2], float(p.values[b, 0, 0])))
        mine = np.floor(ours[b].permute(1, 2, 0).numpy() * 255)
        assert np.abs(mine - theirs).max() <= 1, b


def test_color_shift_default_is_a_2d_shift():
    # An edge-free mask is impossible; instead check the shift geometry on a ramp image where
    # G′ − G is predictable: green = column index, so G(y, x − s₁) − G = −s₁/W inside the image.
    h, w = 40, 50
    x = torch.zeros(1, 3, h, w, dtype=torch.float64)
    x[0, 1] = torch.arange(w, dtype=torch.float64) / w
    x[0, 0] = torch.rand(h, w, generator=torch.Generator().manual_seed(0))
    p = sample_params(["color_shift"], [4], seed=9)
    ctx_aux = p.aux[0, 0, 0]
    s0, s1 = ref.color_shift_vector(ctx_aux, 12.0)
    assert s0 >= 0 and s1 >= 0 and round(math.hypot(s0, s1)) in (11, 12, 13)
    y = distort(x, p, backend="reference")
    mask = ref.color_shift_mask(x[0], "reiqa")
    inner = (slice(None), slice(s1 + 1, None))
    expect = x[0, 1] - mask * s1 / w
    assert torch.allclose(y[0, 1][inner], expect[inner], atol=1e-12)


def test_jitter_statistics():
    # Displacement N(0, a²) per iteration: on a horizontal ramp the arniqa (bilinear, exact on a
    # ramp) output − input is −(Σ displacements)/slope: zero mean, variance between a² (the last
    # iteration alone; earlier errors are averaged by the interpolation) and 5a² (no averaging).
    h, w = 64, 200
    x = torch.zeros(1, 3, h, w, dtype=torch.float64)
    x[0, :] = (torch.arange(w, dtype=torch.float64) / w + 0.25) / 2
    p = sample_params(["jitter"], [4], preset="arniqa", seed=1)
    y = distort(x, p, backend="cpu")
    d = (y - x)[0, 0, :, 20:-20] * 2 * w
    n = d.numel()
    var = d.var().item()
    assert abs(d.mean().item()) < 4 * math.sqrt(5 / n)
    assert 1.0 + 4 * math.sqrt(2 / n) < var < 5.0 - 4 * 5 * math.sqrt(2 / n)
