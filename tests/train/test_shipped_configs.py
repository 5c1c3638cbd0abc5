"""Every config shipped in the package (``pyiqa_fast/configs/*.yaml``, enumerated, not listed)
loads, builds its datasets from a fake folder in the dataset's official layout and trains one
step through the public ``Trainer`` API, shrunk to a tiny model and crop so no config can ship
broken (``pyiqa-fast train --config deiqt_koniq`` once failed before training with
``TypeError: koniq10k: unknown option(s) ['resize']``).

What is shrunk: the model (``deiqt_tiny`` at 8² with 4×4 patches: the fake images are 12×10),
``data.crop_size``, one step, no workers, no pretrained file, and the side of the generated
``skimage-synth`` images (its ``data.resize``). What is kept as shipped: the dataset and its
loader, the split, a release's ``data.resize``, ``patch_num``, batch size, optimiser, protocol.
"""

from __future__ import annotations

import dataclasses
import glob
import os
from pathlib import Path

import pytest
import torch

from pyiqa_fast.data import load_dataset
from pyiqa_fast.data.catalogue import CATALOGUE, get_dataset_info
from pyiqa_fast.data.synth import GENERATED
from pyiqa_fast.train import Trainer, load_config
from pyiqa_fast.train.config import default_config_dir
from pyiqa_fast.train.protocols import Protocol
from tests.data.test_datasets import FAKES, _cell, _csv, _img

scipy_io = pytest.importorskip("scipy.io")
pytest.importorskip("timm")

SHIPPED = sorted(glob.glob(os.path.join(default_config_dir(), "*.yaml")))
SYNTH_SIZE = 64  # side of the generated skimage-synth images: its minimum (shipped: 128, ~4x the time)
FAKE_IMAGES = 10  # an 80/20 split of 10 leaves 2 test images, the fewest SRCC/PLCC accept
TINY = ["model.kwargs.img_size=8", "model.kwargs.patch_size=4", "model.pretrained=null",
        "data.crop_size=8", "data.num_workers=0", "train.max_steps=1", "train.device=cpu", "train.progress=false"]
#: The tiny model of each recipe's stages (the first stage is the one that takes the step).
TINY_MODELS = {"deiqt": ["model.name=deiqt_tiny"],
               "shdiqa": ["model.name=shdiqa_student_tiny", "stages.teacher.model.name=shdiqa_teacher_tiny"]}


# ---- fake releases: the shared official-layout fakes (tests/data), grown to FAKE_IMAGES images


def _grow_koniq10k(root: Path, n: int) -> None:
    for name in ("koniq10k_distributions_sets.csv", "koniq10k_scores_and_distributions.csv"):
        lines = (root / name).read_text().splitlines()
        header, rows = lines[0].split(","), [line.split(",") for line in lines[1:]]
        first = rows[0]
        for i in range(len(rows), n):
            row = list(first)
            row[0], row[header.index("MOS_zscore")] = f"{900 + i}.jpg", str(30.0 + 5 * i)
            rows.append(row)
            _img(root / "1024x768" / row[0], 100 + i, size=(16, 12))
        _csv(root / name, header, rows)


def _grow_livec(root: Path, n: int) -> None:
    data = root / "Data"
    names = [str(c[0][0]) for c in scipy_io.loadmat(data / "AllImages_release.mat")["AllImages_release"]]
    mos = scipy_io.loadmat(data / "AllMOS_release.mat")["AllMOS_release"][0].tolist()
    kept = len(load_dataset("livec", root, check_count=False))  # the 7 trial images are left out
    for i in range(kept, n):
        names.append(f"{900 + i}.bmp")
        mos.append(20.0 + 5 * i)
        _img(root / "Images" / names[-1], 100 + i)
    scipy_io.savemat(data / "AllImages_release.mat", {"AllImages_release": _cell(names)})
    scipy_io.savemat(data / "AllMOS_release.mat", {"AllMOS_release": [mos]})
    scipy_io.savemat(data / "AllStdDev_release.mat", {"AllStdDev_release": [[1.0] * len(names)]})


def _grow_spaq(root: Path, n: int) -> None:
    path = root / "Annotations" / "MOS and Image attribute scores.csv"
    lines = path.read_text().splitlines()
    header, rows = lines[0].split(","), [line.split(",") for line in lines[1:]]
    for i in range(len(rows), n):
        row = list(rows[0])
        row[0], row[1] = f"{900 + i:05d}.jpg", str(15.0 + 5 * i)
        rows.append(row)
        _img(root / "TestImage" / row[0], 100 + i, size=(16, 12))
    _csv(path, header, rows)


GROW = {"koniq10k": _grow_koniq10k, "livec": _grow_livec, "spaq": _grow_spaq}


def fake_release(name: str, root: Path, monkeypatch) -> None:
    """A fake ``name`` release of FAKE_IMAGES images under ``root``; the catalogue count follows it."""
    if name not in FAKES:
        pytest.fail(f"a shipped config uses dataset {name!r}, which has no fake folder in tests/data/test_datasets.py")
    FAKES[name](root)
    if len(load_dataset(name, root, check_count=False)) < FAKE_IMAGES:
        if name not in GROW:
            pytest.fail(f"the fake {name!r} folder is too small for a 2-image test split: add a grower to GROW")
        GROW[name](root, FAKE_IMAGES)
    n = len(load_dataset(name, root, check_count=False))
    monkeypatch.setitem(CATALOGUE, name, dataclasses.replace(CATALOGUE[name], count=n))


# ---- tests


def test_configs_are_shipped():
    names = [Path(p).stem for p in SHIPPED]
    assert {"deiqt_demo", "deiqt_koniq", "deiqt_livec"} <= set(names)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: Path(p).stem)
def test_shipped_config_trains_one_step(path, tmp_path, monkeypatch):
    shipped = load_config(path)  # as shipped: valid
    dataset = shipped.data.dataset
    overrides = [*TINY, *TINY_MODELS[shipped.recipe], f"train.out_dir={tmp_path / 'run'}"]
    if dataset != "synthetic":
        info = get_dataset_info(dataset)
        if info.name in GENERATED:  # embedded: generated (at data.resize), root is only a cache folder
            overrides.append(f"data.resize=[{SYNTH_SIZE}, {SYNTH_SIZE}]")
            if shipped.data.root is not None:
                overrides.append(f"data.root={tmp_path / 'cache'}")
        else:
            fake_release(info.name, tmp_path / "data", monkeypatch)
            overrides.append(f"data.root={tmp_path / 'data'}")
    cfg = load_config(path, overrides)
    assert (cfg.data.dataset, cfg.data.split) == (dataset, shipped.data.split)
    trainer = Trainer(cfg)
    results = trainer.fit()
    assert results["stopped_early"] is True
    assert os.path.isfile(trainer.ckpt_path) and trainer.ckpt_path.startswith(str(tmp_path / "run"))
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


@pytest.mark.parametrize("name, crops", [("deiqt_koniq", 25), ("deiqt_livec", 10)])
def test_deiqt_paper_configs_test_on_patch_num_crops(name, crops):
    # DEIQT averages PATCH_NUM random test crops: its KonIQ default 25, its LIVEC config 10.
    cfg = load_config(name)
    assert Protocol.preset(cfg.protocol, **cfg.protocol_overrides).test_crops == crops == cfg.data.patch_num


@pytest.mark.parametrize("name", ["deiqt_koniq", "deiqt_livec"])
def test_paper_configs_start_from_deit3_and_say_where_to_get_it(name, tmp_path, monkeypatch):
    from pyiqa_fast.models import PretrainedWeightsNotFoundError, create_model
    from pyiqa_fast.models.pretrained import DEIT3_SMALL_PATCH16_224

    cfg = load_config(name)
    assert cfg.model.pretrained == DEIT3_SMALL_PATCH16_224.default_file
    monkeypatch.setenv("HOME", str(tmp_path))  # no weights there
    with pytest.raises(PretrainedWeightsNotFoundError) as info:  # what the trainer's model factory calls
        create_model(cfg.model.name, pretrained=cfg.model.pretrained, **cfg.model.kwargs)
    msg = str(info.value)
    expected = tmp_path / ".cache/pyiqa_fast/weights/deit3_small_patch16_224.fb_in22k_ft_in1k.pth"
    assert msg.startswith(f"pretrained weights file not found: {expected}; expected DeiT-III ViT-S/16")
    assert "timm/deit3_small_patch16_224.fb_in22k_ft_in1k" in msg and "\n" not in msg


def test_model_pretrained_is_validated():
    from pyiqa_fast.train import ConfigError

    assert load_config(None).model.pretrained is None  # the dataclass default: random init
    assert load_config("deiqt_koniq", ["model.pretrained=null"]).model.pretrained is None
    with pytest.raises(ConfigError, match=r"config model.pretrained must be a file path \(a non-empty string\) or "
                                          r"null; got ''"):
        load_config("deiqt_koniq", ["model.pretrained="])
    with pytest.raises(ConfigError, match="config model.pretrained must be a string or null; got 3"):
        load_config("deiqt_koniq", ["model.pretrained=3"])
