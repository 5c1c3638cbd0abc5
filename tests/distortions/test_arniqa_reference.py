"""Sanity tests of the ARNIQA per-image re-implementation (tests/references/arniqa.py).

Not parity tests of pyiqa_fast: they check that the baseline itself is what DISTORTIONS.md says
(shapes, ranges, seeded determinism, closed-form tone curves, the A2 disc kernel, MATLAB motion
kernels), so the operators' arniqa/compat tests and the bench can rely on it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

pytest.importorskip("kornia")
skimage_data = pytest.importorskip("skimage.data")

from tests.references import arniqa as A  # noqa: E402


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    """A 64×80 crop of scikit-image's astronaut, float32 CHW in [0, 1]."""
    img = skimage_data.astronaut()[100:228:2, 150:310:2]
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float() / 255


@pytest.mark.parametrize("name", sorted(A.FUNCTIONS))
def test_every_level_keeps_shape_dtype_and_range(photo, name):
    fn = A.FUNCTIONS[name]
    before = photo.clone()
    for level in range(5):
        torch.manual_seed(level)
        y = fn(photo, level)
        assert y.shape == photo.shape and y.dtype == torch.float32, (level, y.shape, y.dtype)
        assert torch.isfinite(y).all(), level
        # ARNIQA does not clip inside lens_blur, and its disc kernel (bug A2) has negative rim taps:
        # small overshoots there (the pipeline clips after every operator). Everything else stays in.
        tol = 0.05 if name == "lens_blur" else 1e-6
        assert float(y.min()) >= -tol and float(y.max()) <= 1 + tol, (level, float(y.min()), float(y.max()))
    assert torch.equal(photo, before), "the function modified its input"


@pytest.mark.parametrize("name", sorted(A.FUNCTIONS))
def test_seeded_determinism(photo, name):
    fn = A.FUNCTIONS[name]
    torch.manual_seed(123)
    a = fn(photo, 3)
    torch.manual_seed(123)
    b = fn(photo, 3)
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["white_noise", "jitter", "color_block", "non_eccentricity", "impulse_noise"])
def test_random_operators_differ_across_seeds(photo, name):
    torch.manual_seed(1)
    a = A.FUNCTIONS[name](photo, 4)
    torch.manual_seed(2)
    b = A.FUNCTIONS[name](photo, 4)
    assert not torch.equal(a, b)


@pytest.mark.parametrize("level", range(5))
def test_contrast_closed_form(photo, level):
    p = A.level_value("contrast", level)
    beta = -(0.05 + 0.25 * p) / 0.042
    x = photo.double()
    expected = (0.5 + (1 - beta / 4) * (x - 0.5) + beta * (x - 0.5) ** 3).clamp(0, 1)
    torch.testing.assert_close(A.contrast(photo, level).double(), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("level", range(5))
def test_darken_closed_form(photo, level):
    amount = A.level_value("darken", level)
    x = photo.double()
    expected = (x - 2 * amount * x * (1 - x)).clamp(0, 1)
    torch.testing.assert_close(A.darken(photo, level).double(), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("level", range(5))
def test_brighten_tone_curve_closed_form(photo, level):
    """g(x) = clip(x + 2A·x(1 − x)) is the RGB curve; the output mixes (2·g(RGB) + J₂)/3."""
    amount = A.level_value("brighten", level)
    x = photo.double()
    g = (x + 2 * amount * x * (1 - x)).clamp(0, 1)
    torch.testing.assert_close(A.curves(photo, 0.5 + amount / 2), g, atol=1e-6, rtol=0)
    y = A.brighten(photo, level).double()
    j2 = 3 * y - 2 * g  # the Lab-L part must itself be an image in [0, 1]
    assert float(j2.min()) > -1e-5 and float(j2.max()) < 1 + 1e-5
    # Black and white are fixed points of both parts.
    ends = torch.stack([torch.zeros(3, 2, 2), torch.ones(3, 2, 2)])
    for e in ends:
        torch.testing.assert_close(A.brighten(e, level), e, atol=1e-5, rtol=0)


def test_mean_shift_closed_form(photo):
    for level in range(5):
        m = A.level_value("mean_shift", level)
        torch.testing.assert_close(A.mean_shift(photo, level), (photo + m).clamp(0, 1), atol=1e-7, rtol=0)


def test_disc_kernel_bug_a2():
    """ARNIQA's disc: full 3×3 at r = 1; at r = 2 only 13 of MATLAB's 21 taps are non-zero, and
    for r ≥ 2 some rim taps are negative (the all-or-nothing sqrt of bug A2)."""
    for r in (1, 2, 4, 6, 8):
        h = A.fspecial_disk(r)
        assert h.shape == (2 * r + 1, 2 * r + 1)
        assert math.isclose(h.sum(), 1.0, rel_tol=1e-12)
        assert (h >= 0).all() == (r == 1)
        np.testing.assert_allclose(h, h[::-1, ::-1])
    assert (A.fspecial_disk(1) > 0).sum() == 9
    assert (A.fspecial_disk(2) > 0).sum() == 13
    for bad in (1.5, 0):
        with pytest.raises(ValueError, match="rad must be an integer >= 1"):
            A.fspecial_disk(bad)


@pytest.mark.parametrize("length", [2, 4, 6, 10])
@pytest.mark.parametrize("angle", [0, 90])
def test_motion_kernel_axis_aligned_matches_matlab_rule(length, angle):
    """Even length at 0°/90°: length + 1 taps, interior 1/len, end taps 1/(2·len) (§2.3)."""
    h = A.fspecial_motion(length, angle)
    line = h.ravel()
    assert h.shape == ((1, length + 1) if angle == 0 else (length + 1, 1))
    expected = np.full(length + 1, 1 / length)
    expected[[0, -1]] = 1 / (2 * length)
    np.testing.assert_allclose(line, expected, atol=1e-12)


def test_gaussian_blur_level0_is_identity(photo):
    torch.testing.assert_close(A.gaussian_blur(photo, 0), photo, atol=1e-6, rtol=0)


def test_impulse_rate(photo):
    torch.manual_seed(0)
    d = A.level_value("impulse_noise", 4)
    y = A.impulse_noise(photo, 4)
    changed = ((y == 0) | (y == 1)) & (photo != y)
    n = photo.numel()
    # ⌊d·n⌋ draws with replacement; a few land on their own value or repeat.
    assert 0.9 * d * n <= int(changed.sum()) <= d * n


def test_reiqa_style_resize_sizes(photo):
    """Level 4 (k = 16) goes through a 5×4 image: the result is smooth (few distinct rows)."""
    y = A.resize_bilinear(photo, 4)
    assert y.shape == photo.shape
    assert float((y[:, 1:] - y[:, :-1]).abs().max()) < float((photo[:, 1:] - photo[:, :-1]).abs().max())
