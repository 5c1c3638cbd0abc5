"""``pyiqa_fast.data.images.read_image``: every Pillow mode to RGB (or a clear refusal), the
decompression-bomb limit, and the dataset items that go through it."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pyiqa_fast.data import images, load_dataset
from pyiqa_fast.data.images import MAX_IMAGE_PIXELS, ImageReadError, read_image, verify_image

RNG = np.random.default_rng(0)
GREY16 = RNG.integers(0, 65536, (6, 7), dtype=np.uint16)
GREY16[0, :2] = (0, 65535)  # both ends of the range
RGB8 = RNG.integers(0, 256, (6, 7, 3), dtype=np.uint8)


def _png_header(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims ``width`` x ``height`` (8-bit grey) with a tiny IDAT: opening it
    reads the size, decoding it would allocate width * height bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def test_16_bit_png_is_scaled_by_65535_not_clipped(tmp_path):
    path = tmp_path / "grey16.png"
    Image.fromarray(GREY16).save(path)
    assert Image.open(path).mode == "I;16"
    f = read_image(path, "float")
    expected = torch.from_numpy(GREY16.astype(np.float32) / 65535)
    assert f.dtype == torch.float32 and f.shape == (3, 6, 7)
    torch.testing.assert_close(f, expected.expand(3, -1, -1), rtol=0, atol=1e-7)
    u = read_image(path)
    assert u.dtype == torch.uint8
    assert torch.equal(u[0], torch.from_numpy(np.rint(GREY16 / 257).astype(np.uint8)))
    assert (u == 255).float().mean() < 0.1  # the old path clipped 99.5 % of the pixels to 255


def test_float_tiff_in_unit_range_is_read_as_such(tmp_path):
    values = RNG.random((5, 4)).astype(np.float32)
    values[0, 0], values[0, 1] = 0.0, 1.0
    path = tmp_path / "float.tif"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode == "F"
    f = read_image(path, "float")
    assert torch.equal(f, torch.from_numpy(values).expand(3, -1, -1))
    assert torch.equal(read_image(path)[1], torch.from_numpy(np.rint(values * 255).astype(np.uint8)))


@pytest.mark.parametrize("values, match", [
    (np.full((3, 3), 2.5, np.float32), r"values in \[2\.5, 2\.5\]; expected \[0, 1\]"),
    (np.array([[0.5, np.nan], [0.1, np.inf]], np.float32), r"holds 2 non-finite value\(s\)"),
])
def test_float_tiff_outside_unit_range_is_refused(tmp_path, values, match):
    path = tmp_path / "float.tif"
    Image.fromarray(values).save(path)
    with pytest.raises(ImageReadError, match=str(path) + ": float image .*" + match):
        read_image(path)


@pytest.mark.parametrize("mode", ["L", "1", "LA", "RGBA", "P", "CMYK", "YCbCr"])
def test_8_bit_modes_become_rgb(tmp_path, mode):
    rgb = Image.fromarray(RGB8)
    if mode == "1":
        source = rgb.convert("L").point(lambda v: 255 if v > 127 else 0).convert("1")
    elif mode in ("LA", "RGBA"):
        source = rgb.convert(mode[:-1])
        source.putalpha(Image.fromarray(RNG.integers(0, 256, (6, 7), dtype=np.uint8)))
    elif mode == "P":
        source = rgb.quantize(16)
    else:
        source = rgb.convert(mode)
    path = tmp_path / f"img_{mode}.{'jpg' if mode == 'CMYK' else 'png' if mode != 'YCbCr' else 'tif'}"
    source.save(path, **({"quality": 100} if mode == "CMYK" else {}))
    assert Image.open(path).mode == mode
    img = read_image(path)
    assert img.dtype == torch.uint8 and img.shape == (3, 6, 7)
    with Image.open(path) as im:
        # grey replicated, palette looked up, alpha dropped (not composited), CMYK/YCbCr by Pillow
        colour = im.convert("L" if mode in ("L", "1", "LA") else "RGBA" if mode == "RGBA" else "RGB")
        want = np.asarray(colour)
    if want.ndim == 2:
        assert torch.equal(img, torch.from_numpy(want.copy()).expand(3, -1, -1))
    else:
        assert torch.equal(img, torch.from_numpy(want[..., :3].copy()).permute(2, 0, 1))
    assert torch.equal(read_image(path, "float"), img.float() / 255)


@pytest.mark.parametrize("mode, suffix", [("LAB", "tif"), ("I", "tif")])
def test_unsupported_modes_are_refused_by_name(tmp_path, mode, suffix):
    path = tmp_path / f"img.{suffix}"
    Image.new(mode, (4, 3)).save(path)
    with pytest.raises(ImageReadError, match=f"{path}: Pillow mode '{mode}' .* is not supported"):
        read_image(path)
    with pytest.raises(ImageReadError, match=f"Pillow mode '{mode}'"):
        verify_image(path)


def test_resize_keeps_16_bit_precision(tmp_path):
    path = tmp_path / "grey16.png"
    Image.fromarray(GREY16).save(path)
    small = read_image(path, "float", size=(3, 4))
    assert small.shape == (3, 3, 4) and small.dtype == torch.float32
    assert 0.0 <= float(small.min()) and float(small.max()) <= 1.0
    assert len(torch.unique(small)) > 1 and not torch.equal(small, small.mul(255).round() / 255)  # not 8-bit


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    _png_header(path, 100_000, 100_000)
    with pytest.raises(ImageReadError) as err:
        read_image(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: image of ") and "10,000,000,000 pixels" in msg
    assert f"limit of {MAX_IMAGE_PIXELS:,} pixels" in msg and "\n" not in msg
    with pytest.raises(ImageReadError, match="decompression bomb"):
        verify_image(path)


def test_the_limit_is_the_named_constant(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    _png_header(path, 30, 20)
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 500)
    with pytest.raises(ImageReadError, match=r"30x20 = 600 pixels exceeds the limit of 500 pixels"):
        read_image(path)
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 600)
    with pytest.raises(ImageReadError, match="cannot decode"):  # past the size check: the IDAT is too short
        read_image(path)
    # Pillow's own guard (checked inside Image.open, as a warning past its limit, an error past twice it)
    for pillow_limit in (550, 250):
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pillow_limit)
        with pytest.raises(ImageReadError, match=f"600 pixels exceeds the limit of {pillow_limit} pixels"):
            read_image(path)


def test_dataset_items_use_the_reader(tmp_path):
    from tests.data.test_datasets import fake_kadid10k

    expected = fake_kadid10k(tmp_path)
    name = sorted(expected)[0]
    Image.fromarray(GREY16).save(tmp_path / name)  # a 16-bit greyscale file in the set
    ds = load_dataset("kadid10k", tmp_path, check_count=False, dtype="float", verify=True)
    item = ds[[r.name for r in ds.records].index(name)]
    torch.testing.assert_close(item["img"][2], torch.from_numpy(GREY16.astype(np.float32) / 65535), rtol=0,
                               atol=1e-7)
    _png_header(tmp_path / name, 100_000, 100_000)
    with pytest.raises(ImageReadError, match="KADID-10k: image file corrupt or unreadable .*exceeds the limit"):
        load_dataset("kadid10k", tmp_path, check_count=False, verify=True)
    ds = load_dataset("kadid10k", tmp_path, check_count=False)
    with pytest.raises(ImageReadError, match=f"KADID-10k: {tmp_path / name}: image of .* exceeds the limit"):
        ds[[r.name for r in ds.records].index(name)]
