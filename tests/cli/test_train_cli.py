"""``pyiqa-fast list`` and ``pyiqa-fast score`` (after a seconds-long ``train`` of the demo config)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pyiqa_fast.cli import main
from pyiqa_fast.cli.demo import QUICK_OVERRIDES


@pytest.mark.parametrize("what, expected", [("models", "deiqt_vit_s16"), ("metrics", "srcc"),
                                            ("datasets", "koniq10k"), ("protocols", "deiqt"),
                                            ("distortions", "gaussian_blur")])
def test_list(what, expected, capsys):
    assert main(["list", what]) == 0
    assert expected in capsys.readouterr().out


def test_train_then_score_images(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--config", "deiqt_demo", "--quiet", "--set", f"train.out_dir={out}"]
    for override in QUICK_OVERRIDES:
        args += ["--set", override]
    assert main(args) == 0
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    paths = []
    for name, array in (("clean", clean), ("noisy", np.clip(clean + rng.normal(0, 60, clean.shape), 0, 255))):
        paths.append(str(tmp_path / f"{name}.png"))
        Image.fromarray(array.astype(np.uint8)).save(paths[-1])
    capsys.readouterr()
    assert main(["score", "--checkpoint", str(out / "checkpoints" / "last.pt"), *paths]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["image", "score"] and len(lines) == 3
    scores = [float(line.split()[-1]) for line in lines[1:]]
    assert all(np.isfinite(scores))
    assert main(["score", "--checkpoint", str(out / "checkpoints" / "last.pt"), str(tmp_path / "missing.png")]) == 2
    assert "no such image file" in capsys.readouterr().err
