"""Host-built tables of the codec class CUDA kernels (see the package docstring).

jpeg (13), read by ``jpeg_mcu_kernel`` in ``csrc/kernels/distort/distort_codec_cuda.cu``: an int64
itable row of ``JPEG_ITABLE`` values per entry,

- [0, 224): libjpeg-turbo's islow DCT as integer matrices (``jpeg_matrices``): the forward row matrix
  [u, x] (outputs 0 and 4 pre-shifted by PASS1_BITS), the forward column matrix [v, y], the inverse
  matrix [out, in], then the forward passes' rounding addends and shifts (8 each, row pass then
  column pass);
- [224, 736): the entry's quantisation (``jpeg_quant_tables``): (luma, chroma) × (quantval,
  reciprocal, correction, shift) × 64 coefficients in natural order.
"""

from __future__ import annotations

import torch

from pyiqa_fast.distortions.jpeg_tables import JPEG_MATRICES, jpeg_matrices, jpeg_quant_tables

JPEG = 13
JPEG_ITABLE = JPEG_MATRICES + 2 * 4 * 64

_MATRICES = jpeg_matrices()


def jpeg_tables(group):
    """itable [N, JPEG_ITABLE] of a jpeg group (layout above)."""
    quality = torch.round(group.host_values).long()
    quant = jpeg_quant_tables(quality).reshape(quality.shape[0], -1)
    return None, torch.cat([_MATRICES.expand(quality.shape[0], -1), quant], 1).contiguous()


TABLES: dict = {JPEG: jpeg_tables}
