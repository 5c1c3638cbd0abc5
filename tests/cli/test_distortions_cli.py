"""``pyiqa-fast distortions grid|list``."""

from __future__ import annotations

import numpy as np
from PIL import Image

from pyiqa_fast.cli import main


def test_grid_draws_every_type_and_level_on_a_photo(tmp_path, capsys):
    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (80, 120, 3), dtype=np.uint8)).save(photo)
    out = tmp_path / "grid.png"
    assert main(["distortions", "grid", "--image", str(photo), "--out", str(out), "--size", "56"]) == 0
    grid = Image.open(out)
    # 2 panels of 12 rows of (label + 5 tiles), a header, and the block example strip.
    assert grid.size == (2 * (190 + 5 * 60), 22 + 12 * 60 + 56 + 5 * 22)
    pixels = np.asarray(grid.convert("L"))
    assert pixels.std() > 20  # pictures, not a blank canvas
    assert "wrote" in capsys.readouterr().out


def test_grid_errors_are_one_line(tmp_path, capsys):
    assert main(["distortions", "grid", "--image", "no_such_photo", "--out", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pyiqa-fast distortions: error: --image 'no_such_photo': no such file") and "\n" not in err
    assert main(["distortions", "grid", "--size", "20", "--out", str(tmp_path / "g.png")]) == 2
    assert "--size must be >= 49" in capsys.readouterr().err


def test_list_prints_the_catalogue(capsys):
    assert main(["distortions", "list", "--types", "shdiqa24"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 25 and "gaussian_blur" in lines[6] and "0.1, 0.5, 1, 2, 5" in lines[6]


def test_distort_one_image_whole_and_per_block(tmp_path, capsys):
    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(photo)
    out = tmp_path / "blurred.png"
    assert main(["distort", str(photo), "-o", str(out), "--type", "gaussian_blur", "--level", "4"]) == 0
    blurred = np.asarray(Image.open(out)).astype(float)
    assert blurred.shape == (64, 96, 3) and blurred.std() < np.asarray(Image.open(photo)).std()
    out2 = tmp_path / "blocks.png"
    assert main(["distort", str(photo), "-o", str(out2), "--partition", "vertical", "--type", "mean_shift",
                 "--level", "0", "--type", "darken", "--level", "4"]) == 0
    halves = np.asarray(Image.open(out2)).astype(float)
    assert halves[:, :48].mean() > halves[:, 48:].mean()
    assert main(["distort", str(photo), "-o", str(out2), "--partition", "vertical", "--type", "jpeg",
                 "--level", "0"]) == 2
    assert "--type and --level need 2 value(s) each" in capsys.readouterr().err
