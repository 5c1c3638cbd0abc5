"""libjpeg-turbo's JPEG arithmetic as tables, for the GPU emulations of ``jpeg`` (DISTORTIONS.md §4.14).

Both GPU backends reproduce libjpeg-turbo's integer pipeline (islow DCT, 16-bit reciprocal
quantisation), which is what Pillow runs: each islow 1-D pass is an integer-linear map followed
by one rounding shift, so it is an 8×8 integer matrix derived here from the C butterflies
(jfdctint.c, jidctint.c); the quantisation tables follow ``jpeg_set_quality`` and
``compute_reciprocal`` (jcdctmgr.c).
"""

from __future__ import annotations

import torch

JPEG_MATRICES = 224  # elements of jpeg_matrices()

# jfdctint.c / jidctint.c constants, FIX(x) = round(x · 2¹³).
_FIX = dict(c0298=2446, c0390=3196, c0541=4433, c0765=6270, c0899=7373, c1175=9633, c1501=12299, c1847=15137,
            c1961=16069, c2053=16819, c2562=20995, c3072=25172)


def _fdct_forms(d):
    """jpeg_fdct_islow's 1-D pass on the linear forms d[0..7], before its rounding shift (outputs 0
    and 4: tmp10 ± tmp11, not yet shifted)."""
    f = _FIX
    tmp0, tmp7, tmp1, tmp6 = d[0] + d[7], d[0] - d[7], d[1] + d[6], d[1] - d[6]
    tmp2, tmp5, tmp3, tmp4 = d[2] + d[5], d[2] - d[5], d[3] + d[4], d[3] - d[4]
    tmp10, tmp13, tmp11, tmp12 = tmp0 + tmp3, tmp0 - tmp3, tmp1 + tmp2, tmp1 - tmp2
    o = [None] * 8
    o[0], o[4] = tmp10 + tmp11, tmp10 - tmp11
    z1 = (tmp12 + tmp13) * f["c0541"]
    o[2], o[6] = z1 + tmp13 * f["c0765"], z1 - tmp12 * f["c1847"]
    z1, z2, z3, z4 = tmp4 + tmp7, tmp5 + tmp6, tmp4 + tmp6, tmp5 + tmp7
    z5 = (z3 + z4) * f["c1175"]
    tmp4, tmp5, tmp6, tmp7 = tmp4 * f["c0298"], tmp5 * f["c2053"], tmp6 * f["c3072"], tmp7 * f["c1501"]
    z1, z2 = -z1 * f["c0899"], -z2 * f["c2562"]
    z3, z4 = -z3 * f["c1961"] + z5, -z4 * f["c0390"] + z5
    o[7], o[5], o[3], o[1] = tmp4 + z1 + z3, tmp5 + z2 + z4, tmp6 + z2 + z3, tmp7 + z1 + z4
    return o


def _idct_forms(c):
    """jpeg_idct_islow's 1-D pass on the linear forms c[0..7], before its rounding shift."""
    f = _FIX
    z1 = (c[2] + c[6]) * f["c0541"]
    tmp2, tmp3 = z1 - c[6] * f["c1847"], z1 + c[2] * f["c0765"]
    tmp0, tmp1 = (c[0] + c[4]) * 8192, (c[0] - c[4]) * 8192
    tmp10, tmp13, tmp11, tmp12 = tmp0 + tmp3, tmp0 - tmp3, tmp1 + tmp2, tmp1 - tmp2
    tmp0, tmp1, tmp2, tmp3 = c[7], c[5], c[3], c[1]
    z1, z2, z3, z4 = tmp0 + tmp3, tmp1 + tmp2, tmp0 + tmp2, tmp1 + tmp3
    z5 = (z3 + z4) * f["c1175"]
    tmp0, tmp1, tmp2, tmp3 = tmp0 * f["c0298"], tmp1 * f["c2053"], tmp2 * f["c3072"], tmp3 * f["c1501"]
    z1, z2 = -z1 * f["c0899"], -z2 * f["c2562"]
    z3, z4 = -z3 * f["c1961"] + z5, -z4 * f["c0390"] + z5
    tmp0, tmp1, tmp2, tmp3 = tmp0 + z1 + z3, tmp1 + z2 + z4, tmp2 + z2 + z3, tmp3 + z1 + z4
    return [tmp10 + tmp3, tmp11 + tmp2, tmp12 + tmp1, tmp13 + tmp0, tmp13 - tmp0, tmp12 - tmp1, tmp11 - tmp2,
            tmp10 - tmp3]


def jpeg_matrices() -> torch.Tensor:
    """int64[224]: each islow 1-D pass is an integer-linear map followed by one rounding shift, so
    an 8×8 integer matrix (derived from the butterflies above) and a per-output (addend, shift)."""
    eye = [torch.eye(8, dtype=torch.int64)[k] for k in range(8)]
    fwd = torch.stack(_fdct_forms(eye))
    inv = torch.stack(_idct_forms(eye))
    rows = fwd.clone()
    rows[[0, 4]] *= 4  # LEFT_SHIFT(tmp10 ± tmp11, PASS1_BITS), exact
    s1 = torch.tensor([0, 11, 11, 11, 0, 11, 11, 11])  # CONST_BITS − PASS1_BITS
    s2 = torch.tensor([2, 15, 15, 15, 2, 15, 15, 15])  # PASS1_BITS; CONST_BITS + PASS1_BITS

    def add(s):
        return torch.where(s > 0, 1 << (s - 1).clamp(min=0), 0)

    return torch.cat([rows.reshape(-1), fwd.reshape(-1), inv.reshape(-1), add(s1), s1, add(s2), s2])


# ITU-T T.81 Annex K tables K.1 (luminance), K.2 (chrominance), natural order.
_LUMA = torch.tensor([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99])
_CHROMA = torch.tensor([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32)


def jpeg_quant_tables(quality: torch.Tensor) -> torch.Tensor:
    """int64[N, 2, 4, 64]: per quality (luma, chroma) × (quantval, reciprocal, correction, shift).

    jpeg_set_quality(q, force_baseline=TRUE), and libjpeg-turbo's compute_reciprocal for the divisor
    8·quantval (jcdctmgr.c, 16-bit DCTELEM: the quotient of |x| is ((|x| + correction)·reciprocal) >> shift)."""
    q = quality.clamp(1, 100)
    scale = torch.where(q < 50, 5000 // q, 200 - 2 * q)
    base = torch.stack([_LUMA, _CHROMA])
    qv = ((base[None] * scale[:, None, None] + 50) // 100).clamp(1, 255)
    d = qv * 8
    b = torch.floor(torch.log2(d.double())).long()  # d ≤ 2040: exact
    r = 16 + b
    fq, fr = (1 << r) // d, (1 << r) % d
    c = d // 2
    pow2 = fr == 0
    fq = torch.where(pow2, fq >> 1, torch.where(fr > d // 2, fq + 1, fq))
    r = torch.where(pow2, r - 1, r)
    c = torch.where(~pow2 & (fr <= d // 2), c + 1, c)
    return torch.stack([qv, fq, c, r], 2)
