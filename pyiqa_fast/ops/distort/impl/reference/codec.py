"""Reference operators, codec class (DISTORTIONS.md §6): JPEG and JPEG 2000 through Pillow.

Both codecs work on uint8 samples: the float image is quantised with round-half-up,
⌊255x + 0.5⌋ (not ``torch.round``, which rounds half to even), coded and decoded, and the
decoded samples are returned ÷255 in the input's dtype and device.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image, features
from torch import Tensor

from pyiqa_fast.ops.distort.impl.reference import OpContext, register


def to_pil(img: Tensor) -> Image.Image:
    """Tensor[3, h, w] in [0, 1] → RGB PIL image of ⌊255x + 0.5⌋ clamped to [0, 255] (NaN → 0)."""
    samples = torch.floor(img * 255 + 0.5).nan_to_num(0.0).clamp(0, 255)
    array = samples.to(torch.uint8).permute(1, 2, 0).contiguous().cpu().numpy()
    return Image.fromarray(array, "RGB")


def from_pil(image: Image.Image, like: Tensor) -> Tensor:
    """RGB PIL image → Tensor[3, h, w] of samples ÷255 with ``like``'s dtype and device."""
    array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return (torch.from_numpy(array.copy()).permute(2, 0, 1).to(like.dtype) / 255).to(like.device)


def _round_trip(img: Tensor, **save_args) -> Tensor:
    with io.BytesIO() as buffer:
        to_pil(img).save(buffer, **save_args)
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            decoded.load()
            return from_pil(decoded, img)


@register("jpeg")
def jpeg(img: Tensor, ctx: OpContext) -> Tensor:
    """§4.14: Pillow ``save(format='JPEG', quality=q)`` + ``open`` (libjpeg-turbo: IJG tables,
    JFIF YCbCr, 4:2:0, islow DCT, fancy upsampling), on ⌊255x + 0.5⌋ samples; every preset.

    The 8×8 grid is anchored at the origin of the image given (the block in crop mode)."""
    return _round_trip(img, format="JPEG", quality=int(round(ctx.value)))


def jpeg2000_resolutions(height: int, width: int) -> int:
    """Wavelet resolutions for an h×w image: ARNIQA's 8, fewer where OpenJPEG would refuse the
    image (it needs min(h, w) ≥ 2^(resolutions − 1)) [PROPOSAL for images under 128 px]."""
    return max(1, min(8, 1 + (min(height, width).bit_length() - 1)))


@register("jpeg2000")
def jpeg2000(img: Tensor, ctx: OpContext) -> Tensor:
    """§4.25: JPEG 2000 at compression ratio r through Pillow/OpenJPEG, ARNIQA's call:
    ``save(format='JPEG2000', quality_mode='rates', quality_layers=[r], num_resolutions=8)``
    (LRCP progression, Pillow's default reversible 5/3 wavelet), on ⌊255x + 0.5⌋ samples (ARNIQA
    truncates: bug fixed, §2). ``arniqa`` is ARNIQA's operator; ``kadis`` (MATLAB
    ``imwrite(..., 'jp2', 'CompressionRatio', r)``) uses the same OpenJPEG call at KADIS's ratios
    [PROPOSAL: MATLAB's encoder is not reproduced]. Images under 128 px on a side get fewer
    resolutions (``jpeg2000_resolutions``). Not defined for ``reiqa``.
    """
    if ctx.preset not in ("kadis", "arniqa"):
        raise ValueError(f"jpeg2000 is not defined for preset {ctx.preset!r} (only kadis and arniqa)")
    if not features.check("jpg_2000"):
        raise RuntimeError("jpeg2000 needs Pillow built with OpenJPEG (PIL.features.check('jpg_2000') is False)")
    resolutions = jpeg2000_resolutions(img.shape[-2], img.shape[-1])
    return _round_trip(img, format="JPEG2000", quality_mode="rates", quality_layers=[int(round(ctx.value))],
                       num_resolutions=resolutions, progression="LRCP")
