"""The distortion catalogue: ids, names, level tables per preset (DISTORTIONS.md §3, as data).

Ids 0–23 are SHDIQA's 24 types in its supplement's order (the label ids of the type head);
24–29 are the extras of §4.25. A preset (``reiqa`` default, ``kadis``, ``arniqa``) selects the
level table and the operator semantics; a type a preset does not define has no table there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PRESETS = ("reiqa", "kadis", "arniqa")
PRESET_IDS = {name: i for i, name in enumerate(PRESETS)}
N_LEVELS = 5
AUX_SIZE = 400  # per-call uniforms per slot: 100 copies × 4 (non_eccentricity) is the largest use
AUX_PER_SQUARE = 5  # color_block: x, y and the three colour channels
AUX_PER_COPY = 4  # non_eccentricity: source x, y and destination offsets x, y
# ARNIQA's Lab operators (saturate, unsharp mask, colour diffusion) quantise with trunc(255·y). A
# round trip that is exact in real arithmetic lands on the k/255 grid (white at gain 1, uint8
# inputs), and float64 pow/exp2/log2 land within ~1e-13 of it on either side depending on the math
# library (numpy under the Triton interpreter, libdevice, glibc): trunc(255·y + guard) follows the
# exact value on every backend and library (docs/design/distortions.md, "Quantisation to 1/255").
TRUNC255_GUARD = 1e-9


@dataclass(frozen=True)
class ValueRange:
    """The level values one type's operator accepts (docs/design/distortions.md, "Parameter records").

    The bounds are the operator's mathematical domain (a blur needs σ > 0, a probability lies in
    [0, 1], a count is an integer the per-call uniforms can serve), narrowed to what every backend
    computes in bounded time and memory (kernel radii, displacement sizes). Every preset's level
    table lies inside (tested).

    Attributes:
        lo: Smallest value (excluded when ``lo_open``).
        hi: Largest value (included).
        lo_open: ``lo`` itself is not allowed.
        integer: Only integral values (counts, codec qualities) are allowed.
    """

    lo: float
    hi: float
    lo_open: bool = False
    integer: bool = False

    def __str__(self) -> str:
        interval = f"{'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}]"
        return f"integers in {interval}" if self.integer else interval


@dataclass(frozen=True)
class DistortionSpec:
    """One distortion type.

    Attributes:
        id: Label id (0–23 SHDIQA's list, 24+ extras).
        name: pyiqa_fast name (snake_case, DISTORTIONS.md §3).
        title: Human-readable name (SHDIQA's where it has one).
        parameter: What the level value means.
        cost_class: DISTORTIONS.md §6 class.
        levels: ``{preset: (L1, …, L5)}`` for the presets that define the type.
        kadid_id: KADID-10k type number, if any.
    """

    id: int
    name: str
    title: str
    parameter: str
    cost_class: str
    levels: dict[str, tuple[float, ...]] = field(repr=False)
    kadid_id: int | None = None

    @property
    def domain(self) -> ValueRange:
        """The values its operator accepts (``VALUE_RANGES``)."""
        return VALUE_RANGES[self.name]

    @property
    def min_region(self) -> tuple[int, int]:
        """Smallest region (height, width) its operator accepts: the block in composite mode, the
        block or image in crop mode (``MIN_REGION``; (1, 1) for most types)."""
        return MIN_REGION.get(self.name, (1, 1))

    def values(self, preset: str) -> tuple[float, ...]:
        """The five level values of ``preset``.

        Raises:
            ValueError: The preset does not define this type.
        """
        check_preset(preset)
        if preset not in self.levels:
            have = ", ".join(self.levels)
            raise ValueError(f"distortion {self.name!r} is not defined in preset {preset!r} (defined in: {have})")
        return self.levels[preset]


def _all(values: tuple[float, ...]) -> dict[str, tuple[float, ...]]:
    return {preset: values for preset in PRESETS}


_MEAN_SHIFT = (0.15, 0.08, 0.0, -0.08, -0.15)
_CONTRAST = (0.3, 0.15, 0.0, -0.4, -0.6)
_RESIZE = {"reiqa": (2.0, 3.0, 4.0, 8.0, 16.0)}

SPECS: tuple[DistortionSpec, ...] = (
    DistortionSpec(0, "resize_bicubic", "Resize Bicubic", "down/up factor k", "resampling", _RESIZE),
    DistortionSpec(1, "resize_bilinear", "Resize Bilinear", "down/up factor k", "resampling", _RESIZE),
    DistortionSpec(2, "resize_lanczos", "Resize Lanczos", "down/up factor k", "resampling", _RESIZE),
    DistortionSpec(3, "pixelate", "Pixelate", "strength s (scale 0.95 − s^0.6)", "resampling",
                   _all((0.01, 0.05, 0.1, 0.2, 0.5)), 21),
    DistortionSpec(4, "motion_blur", "Motion Blur", "line length (px)", "separable stencil",
                   {"reiqa": (12.0, 16.0, 20.0, 24.0, 28.0), "kadis": (1.0, 2.0, 4.0, 6.0, 10.0),
                    "arniqa": (1.0, 2.0, 4.0, 6.0, 10.0)}, 3),
    DistortionSpec(5, "gaussian_blur", "Gaussian Blur", "sigma (px)", "separable stencil",
                   _all((0.1, 0.5, 1.0, 2.0, 5.0)), 1),
    DistortionSpec(6, "lens_blur", "Lens Blur", "disc radius (px)", "non-separable stencil",
                   _all((1.0, 2.0, 4.0, 6.0, 8.0)), 2),
    DistortionSpec(7, "mean_shift", "Mean Shift", "additive offset", "elementwise",
                   {"reiqa": _MEAN_SHIFT, "kadis": _MEAN_SHIFT, "arniqa": (0.0, 0.08, -0.08, 0.15, -0.15)}, 18),
    DistortionSpec(8, "contrast", "Contrast", "curve parameter p", "elementwise",
                   {"reiqa": _CONTRAST, "kadis": _CONTRAST, "arniqa": (0.0, 0.15, -0.4, 0.3, -0.6)}, 25),
    DistortionSpec(9, "unsharp_mask", "Unsharp Masking", "amount a", "separable stencil",
                   _all((1.0, 2.0, 3.0, 6.0, 12.0)), 24),
    DistortionSpec(10, "jitter", "Jitter", "displacement std (px), 5 iterations", "resampling",
                   _all((0.05, 0.1, 0.2, 0.5, 1.0)), 19),
    DistortionSpec(11, "color_block", "Color Block", "number of 32×32 blocks", "fill",
                   _all((2.0, 4.0, 6.0, 8.0, 10.0)), 23),
    DistortionSpec(12, "non_eccentricity", "Non-eccentricity", "number of 16×16 patch copies", "fill",
                   _all((20.0, 40.0, 60.0, 80.0, 100.0)), 20),
    DistortionSpec(13, "jpeg", "JPEG Compression", "IJG quality", "codec",
                   {"reiqa": (70.0, 43.0, 36.0, 24.0, 7.0), "kadis": (43.0, 36.0, 24.0, 7.0, 4.0),
                    "arniqa": (43.0, 36.0, 24.0, 7.0, 4.0)}, 10),
    DistortionSpec(14, "white_noise", "White Noise (RGB)", "variance", "elementwise + RNG",
                   _all((0.001, 0.002, 0.003, 0.005, 0.01)), 11),
    DistortionSpec(15, "white_noise_ycbcr", "White Noise (YCbCr)", "variance on Y, Cb, Cr", "elementwise + RNG",
                   _all((0.0001, 0.0005, 0.001, 0.002, 0.003)), 12),
    DistortionSpec(16, "impulse_noise", "Impulse Noise", "density d", "elementwise + RNG",
                   _all((0.001, 0.005, 0.01, 0.02, 0.03)), 13),
    DistortionSpec(17, "multiplicative_noise", "Multiplicative Noise", "variance of n in x(1+n)",
                   "elementwise + RNG", _all((0.001, 0.005, 0.01, 0.02, 0.05)), 14),
    DistortionSpec(18, "denoise", "Denoise", "noise variance before smoothing", "separable stencil",
                   {"reiqa": (0.001, 0.002, 0.003, 0.005, 0.01), "kadis": (0.01, 0.03, 0.05, 0.1, 0.15)}, 15),
    DistortionSpec(19, "brighten", "Brighten", "curve amount A", "elementwise",
                   _all((0.1, 0.2, 0.4, 0.7, 1.1)), 16),
    DistortionSpec(20, "darken", "Darken", "curve amount A", "elementwise",
                   _all((0.05, 0.1, 0.2, 0.4, 0.8)), 17),
    DistortionSpec(21, "color_diffuse", "Color Diffuse", "amount a (chroma blur sigma 1.5a + 2, gain a)",
                   "separable stencil", _all((1.0, 3.0, 6.0, 8.0, 12.0)), 4),
    DistortionSpec(22, "color_shift", "Color Shift", "green-channel shift (px)", "global statistics",
                   _all((1.0, 3.0, 6.0, 8.0, 12.0)), 5),
    DistortionSpec(23, "saturate", "Saturate", "a*, b* gain", "elementwise", _all((1.0, 2.0, 3.0, 6.0, 9.0)), 8),
    # Extras (DISTORTIONS.md §4.25), not in SHDIQA's 24.
    DistortionSpec(24, "saturate_hsv", "Saturate (HSV)", "HSV saturation gain", "elementwise",
                   _all((0.4, 0.2, 0.1, 0.0, -0.4)), 7),
    DistortionSpec(25, "resize_nearest", "Resize Nearest", "down/up factor k", "resampling",
                   {"reiqa": (2.0, 3.0, 4.0, 5.0, 6.0)}),
    DistortionSpec(26, "jpeg2000", "JPEG 2000", "compression ratio", "codec",
                   {"kadis": (16.0, 32.0, 45.0, 120.0, 400.0), "arniqa": (16.0, 32.0, 45.0, 120.0, 170.0)}, 9),
    # kadis' multi-level Otsu (MATLAB multithresh, up to 20 thresholds) is not reproduced: arniqa's
    # equal-width bins only.
    DistortionSpec(27, "quantization", "Quantization", "number of bins", "global statistics",
                   {"arniqa": (20.0, 16.0, 13.0, 10.0, 7.0)}, 22),
    DistortionSpec(28, "nonlinear_contrast", "Non-linear Contrast", "output half-range v", "elementwise",
                   {"arniqa": (0.4, 0.3, 0.2, 0.1, 0.05)}),
)

BY_NAME = {spec.name: spec for spec in SPECS}

_RESIZE_FACTOR = ValueRange(1.0, 1024.0)
# What a parameter record may hold per type (see ValueRange); ``validate_params`` checks records
# against it before any backend runs, and csrc/kernels/distort/distort_domains.h is generated from it
# (tools/gen_distort_domains.py) for the compiled kernel's own check.
VALUE_RANGES: dict[str, ValueRange] = {
    "resize_bicubic": _RESIZE_FACTOR,  # k ≥ 1: down to ⌊H/k⌋ then back (k < 1 would upsample first)
    "resize_bilinear": _RESIZE_FACTOR,
    "resize_lanczos": _RESIZE_FACTOR,
    "pixelate": ValueRange(0.0, 0.9),  # the scale 0.95 − s^0.6 stays positive
    "motion_blur": ValueRange(1.0, 128.0),  # line length in px
    "gaussian_blur": ValueRange(0.0, 32.0, lo_open=True),  # σ > 0; MATLAB window 2⌈2σ⌉ + 1 ≤ 129 taps
    "lens_blur": ValueRange(0.0, 32.0, lo_open=True),  # disc radius; (2⌈r − ½⌉ + 1)² taps
    "mean_shift": ValueRange(-1.0, 1.0),
    "contrast": ValueRange(-1.0, 1.0),
    "unsharp_mask": ValueRange(0.0, 64.0),
    "jitter": ValueRange(0.0, 32.0),  # displacement std in px
    "color_block": ValueRange(0.0, AUX_SIZE // AUX_PER_SQUARE, integer=True),
    "non_eccentricity": ValueRange(0.0, AUX_SIZE // AUX_PER_COPY, integer=True),
    "jpeg": ValueRange(1.0, 100.0, integer=True),  # IJG quality
    "white_noise": ValueRange(0.0, 1.0),  # variances
    "white_noise_ycbcr": ValueRange(0.0, 1.0),
    "impulse_noise": ValueRange(0.0, 1.0),  # density
    "multiplicative_noise": ValueRange(0.0, 1.0),
    "denoise": ValueRange(0.0, 1.0),
    "brighten": ValueRange(0.0, 4.0),
    "darken": ValueRange(0.0, 4.0),
    "color_diffuse": ValueRange(0.0, 32.0),  # chroma blur σ = 1.5a + 2 ≤ 50
    "color_shift": ValueRange(0.0, 64.0),  # shift in px
    "saturate": ValueRange(0.0, 32.0),
    "saturate_hsv": ValueRange(-1.0, 4.0),
    "resize_nearest": _RESIZE_FACTOR,
    "jpeg2000": ValueRange(1.0, 1000.0, integer=True),  # compression ratio
    "quantization": ValueRange(1.0, 256.0, integer=True),  # number of bins
    "nonlinear_contrast": ValueRange(0.0, 0.5),  # output half-range
}

# Smallest region (height, width) an operator accepts; the others take any region of at least one
# pixel. Non-eccentricity draws 16×16 sources at offsets 16..W−33 (DISTORTIONS.md §4.13).
MIN_REGION: dict[str, tuple[int, int]] = {"non_eccentricity": (49, 49)}
N_SHDIQA = 24

TYPE_LISTS = {
    "shdiqa24": tuple(range(24)),
    "reiqa26": tuple(range(24)) + (24, 25),
    "arniqa24": tuple(BY_NAME[n].id for n in (
        "gaussian_blur", "lens_blur", "motion_blur", "color_diffuse", "color_shift", "saturate_hsv", "saturate",
        "jpeg2000", "jpeg", "white_noise", "white_noise_ycbcr", "impulse_noise", "multiplicative_noise",
        "brighten", "darken", "mean_shift", "jitter", "non_eccentricity", "pixelate", "quantization",
        "color_block", "unsharp_mask", "contrast", "nonlinear_contrast")),
}

# SHDIQA's "four levels" [PROPOSAL, DISTORTIONS.md §10.3]: drop the near-identity level (L3 of the
# signed mean-shift / contrast tables, L1 otherwise); in reiqa/kadis order.
SHDIQA4_DROPPED = {BY_NAME["mean_shift"].id: 2, BY_NAME["contrast"].id: 2}


def check_preset(preset: str) -> str:
    if preset not in PRESET_IDS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    return preset


def spec(type_: int | str) -> DistortionSpec:
    """The spec of a type id or name.

    Raises:
        ValueError: Unknown id or name (the message lists the valid ones).
    """
    if isinstance(type_, str):
        if type_ not in BY_NAME:
            raise ValueError(f"unknown distortion {type_!r}; expected one of {', '.join(BY_NAME)}")
        return BY_NAME[type_]
    if isinstance(type_, bool) or not isinstance(type_, int) or not 0 <= type_ < len(SPECS):
        raise ValueError(f"distortion type id must be an int in [0, {len(SPECS) - 1}], got {type_!r}")
    return SPECS[type_]


def shdiqa4_levels(type_id: int) -> tuple[int, ...]:
    """The four level indices SHDIQA's recipe keeps for a type (DISTORTIONS.md §10.3 [PROPOSAL])."""
    dropped = SHDIQA4_DROPPED.get(type_id, 0)
    return tuple(level for level in range(N_LEVELS) if level != dropped)


def type_list(name: str) -> tuple[int, ...]:
    if name not in TYPE_LISTS:
        raise ValueError(f"type list must be one of {', '.join(TYPE_LISTS)}, got {name!r}")
    return TYPE_LISTS[name]


def list_distortions(preset: str | None = None, types: str | None = None) -> list[str]:
    """Names of the distortions, in id order.

    Args:
        preset: Keep the types this preset defines (None: all).
        types: A type list: ``"shdiqa24"``, ``"reiqa26"``, ``"arniqa24"`` (None: all). KADID-10k's 25
            would need colour quantisation (MATLAB ``rgb2ind``), which is not implemented.
    """
    ids = type_list(types) if types is not None else tuple(s.id for s in SPECS)
    if preset is not None:
        check_preset(preset)
        ids = tuple(i for i in ids if preset in SPECS[i].levels)
    return [SPECS[i].name for i in sorted(ids)]
