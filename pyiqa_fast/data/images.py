"""The one image-file reader of the package: every dataset item, ``pyiqa-fast score`` and the
distortion CLI read files with :func:`read_image` (and ``load_dataset(verify=True)`` checks them
with :func:`verify_image`).

Files are decoded with Pillow and returned as ``Tensor[3, H, W]`` RGB, uint8 in [0, 255] or
float32 in [0, 1], whatever the file's mode:

- ``RGB``: as stored (16-bit-per-channel PNG/TIFF: Pillow keeps the high byte of each sample).
- ``L``, ``1`` (grey) and ``P`` (palette): grey replicated to R = G = B; the palette looked up.
- ``RGBA``, ``LA``, ``PA``, ``RGBa``, ``RGBX``: the colour channels as stored, **alpha dropped**
  (not composited on a background: transparent pixels keep their stored colour; ``RGBa`` is
  un-premultiplied first).
- ``CMYK``, ``YCbCr``, ``HSV``: Pillow's conversion to RGB (no colour management: ICC profiles
  are ignored, as for RGB files).
- ``I;16`` (16-bit grey PNG/TIFF): ``value / 65535``, replicated (``I`` from a PNG, as older
  Pillow versions open 16-bit PNGs: the same).
- ``F`` (32-bit float TIFF): the values themselves, replicated; refused unless finite and in [0, 1].
- Anything else (``LAB``, 32-bit integer ``I`` TIFFs, ``La``, …): refused, naming the mode.

Images above :data:`MAX_IMAGE_PIXELS` pixels are refused before they are decoded (a
decompression bomb, or a file no IQA pipeline here expects). Every failure is an
:class:`ImageReadError` whose one-line message starts with the file name.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import torch

__all__ = ["MAX_IMAGE_PIXELS", "ImageReadError", "read_image", "verify_image"]

#: The largest image (width × height) any reader here decodes; larger files are refused as a
#: probable decompression bomb. Pillow's own default (``PIL.Image.MAX_IMAGE_PIXELS``, about
#: 9459 × 9459); Pillow's guard is checked as well, so lowering Pillow's limit also applies.
MAX_IMAGE_PIXELS = 89_478_485

# Modes Pillow converts to RGB correctly (8 bits per channel; alpha dropped, see the table above).
_EIGHT_BIT_MODES = ("RGB", "L", "1", "P", "PA", "LA", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "HSV")
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


class ImageReadError(OSError):
    """An image file that cannot be read as RGB: undecodable, too large, or of a mode refused
    here; the message starts with the file name and says why."""


def _too_large(path: Path, pixels: int | None, width: int | None = None, height: int | None = None,
               limit: int | None = None) -> ImageReadError:
    limit = MAX_IMAGE_PIXELS if limit is None else limit
    size = f"{width}x{height} = {pixels:,} pixels" if width is not None else \
        f"{pixels:,} pixels" if pixels is not None else "its size"
    return ImageReadError(f"{path}: image of {size} exceeds the limit of {limit:,} pixels "
                          "(pyiqa_fast.data.images.MAX_IMAGE_PIXELS; a decompression bomb?); refusing to decode it")


def _open(path: str | os.PathLike):
    """The opened (not yet decoded) Pillow image, after the size check."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            # Pillow checks its own limit in open(), before the size is visible: take it from the message.
            found = re.search(r"\((\d+) pixels\)", str(exc))
            limit = min(MAX_IMAGE_PIXELS, Image.MAX_IMAGE_PIXELS or MAX_IMAGE_PIXELS)
            raise _too_large(path, int(found.group(1)) if found else None, limit=limit) from None
        except FileNotFoundError:
            raise
        except UnidentifiedImageError as exc:
            raise ImageReadError(f"{path}: cannot decode image file: {exc}") from None
        except (OSError, ValueError, SyntaxError) as exc:
            # errno set: the file system (permissions, a folder); else Pillow on a corrupt header
            what = "cannot read image file" if getattr(exc, "errno", None) is not None else "cannot decode image file"
            raise ImageReadError(f"{path}: {what}: {exc}") from None
    width, height = im.size
    if width * height > MAX_IMAGE_PIXELS:
        im.close()
        raise _too_large(path, width * height, width, height)
    return im


def _refuse_mode(path: Path, im) -> ImageReadError:
    return ImageReadError(f"{path}: Pillow mode {im.mode!r} ({im.format or 'unknown'} file) is not supported: "
                          f"expected 8-bit {'/'.join(_EIGHT_BIT_MODES)}, 16-bit greyscale (I;16) or float (F) "
                          "in [0, 1]; convert it to 8- or 16-bit RGB")


def _high_depth(im) -> bool:
    """True for modes read through float32 (16-bit and float greyscale)."""
    return im.mode in _SIXTEEN_BIT_MODES or im.mode == "F" or (im.mode == "I" and im.format == "PNG")


def _supported(im) -> bool:
    return im.mode in _EIGHT_BIT_MODES or _high_depth(im)


def verify_image(path: str | os.PathLike) -> None:
    """Check a file without decoding its pixels: size limit, a supported mode, Pillow's ``verify()``.

    Args:
        path: The image file.

    Raises:
        FileNotFoundError: No such file.
        ImageReadError: Too large, unsupported mode, or corrupt (the message says which).
    """
    path = Path(path)
    with _open(path) as im:
        if not _supported(im):
            raise _refuse_mode(path, im)
        try:
            im.verify()
        except Exception as exc:  # noqa: BLE001 - Pillow raises several types for corrupt files
            raise ImageReadError(f"{path}: corrupt image file: {exc}") from None


def read_image(path: str | os.PathLike, dtype: str = "uint8", size: tuple[int, int] | None = None) -> torch.Tensor:
    """Read an image file as RGB, whatever its mode (see the module docstring for each mode).

    Args:
        path: The image file.
        dtype: ``"uint8"`` (0..255; higher bit depths rounded to 8 bits) or ``"float"`` (float32 in
            [0, 1]: ``uint8 / 255`` for 8-bit files, the full precision of 16-bit and float files).
        size: Optional ``(h, w)`` to resize to with Pillow's bicubic filter (on the 8-bit RGB image
            for 8-bit files, per channel in float32 for 16-bit and float files).

    Returns:
        ``Tensor[3, H, W]`` (uint8 or float32), contiguous, on the CPU.

    Raises:
        FileNotFoundError: No such file.
        ImageReadError: Undecodable, larger than :data:`MAX_IMAGE_PIXELS`, of a refused mode, or a
            float image with values outside [0, 1] (the message names the file and says why).
        ValueError: ``dtype`` or ``size`` is invalid.

    Example:
        >>> read_image("photo.png", "float").shape  # doctest: +SKIP
        torch.Size([3, 384, 512])
    """
    from PIL import Image

    if dtype not in ("uint8", "float"):
        raise ValueError(f"dtype must be 'uint8' or 'float'; got {dtype!r}")
    if size is not None and (len(size) != 2 or any(int(s) < 1 for s in size)):
        raise ValueError(f"size must be (h, w) with h, w >= 1; got {size!r}")
    path = Path(path)
    with _open(path) as im:
        if not _supported(im):
            raise _refuse_mode(path, im)
        try:
            if _high_depth(im):
                grey = _grey_float(path, im)
                if size is not None:
                    grey = np.asarray(Image.fromarray(grey).resize(
                        (int(size[1]), int(size[0])), Image.Resampling.BICUBIC), dtype=np.float32)
                    grey = np.clip(grey, 0.0, 1.0)  # bicubic overshoot at edges
                img = torch.from_numpy(np.ascontiguousarray(grey)).expand(3, -1, -1).contiguous()
                if dtype == "uint8":
                    img = img.mul(255).round_().to(torch.uint8)
                return img
            rgb = im if im.mode == "RGB" else im.convert("RGB")
            if size is not None:
                rgb = rgb.resize((int(size[1]), int(size[0])), Image.Resampling.BICUBIC)  # (h, w) → PIL (w, h)
            img = torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1).contiguous()
        except ImageReadError:
            raise
        except Exception as exc:  # noqa: BLE001 - Pillow raises several types for truncated/corrupt data
            raise ImageReadError(f"{path}: cannot decode image file: {exc}") from None
    if dtype == "float":
        img = img.to(torch.float32).div_(255.0)
    return img


def _grey_float(path: Path, im) -> np.ndarray:
    """float32 [H, W] in [0, 1] of a 16-bit or float greyscale image."""
    a = np.array(im)  # a writable copy
    if im.mode == "F":
        a = a.astype(np.float32, copy=False)
        if not np.isfinite(a).all():
            raise ImageReadError(f"{path}: float image (mode F) holds {int((~np.isfinite(a)).sum())} non-finite "
                                 "value(s) (NaN/inf); expected values in [0, 1]")
        lo, hi = float(a.min()), float(a.max())
        if lo < 0.0 or hi > 1.0:
            raise ImageReadError(f"{path}: float image (mode F) has values in [{lo:.6g}, {hi:.6g}]; expected [0, 1] "
                                 "(rescale it, or save it as 8- or 16-bit)")
        return a
    a = a.astype(np.int64)
    lo, hi = int(a.min()), int(a.max())
    if lo < 0 or hi > 65535:  # mode I from a PNG is 16-bit; anything else is not
        raise ImageReadError(f"{path}: 16-bit image (mode {im.mode}) has values in [{lo}, {hi}]; expected [0, 65535]")
    return (a.astype(np.float32) / np.float32(65535.0)).astype(np.float32)
