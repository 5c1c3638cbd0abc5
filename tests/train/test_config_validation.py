"""Config validation at construction (every entry point: CLI, demo, a hand-built Config) and
``data.resize`` for datasets read from files."""

from __future__ import annotations

import pytest
import torch

from pyiqa_fast.data import build_dataset
from pyiqa_fast.train import ConfigError, Trainer, validate_config
from pyiqa_fast.train.config import Config, apply_overrides, config_from_dict
from tests.train._common import tiny_config, tiny_factory


@pytest.mark.parametrize("override, message", [
    ("train.epochs=0", "config train.epochs must be an integer >= 1; got 0"),
    ("data.batch_size=0", "config data.batch_size must be an integer >= 1; got 0"),
    ("data.patch_num=0", "config data.patch_num must be an integer >= 1; got 0"),
    ("optim.eps=0", "config optim.eps must be a number > 0; got 0"),
    ("optim.clip_grad=-1", "config optim.clip_grad must be a number >= 0 or null; got -1"),
    ("train.eval_every=0", "config train.eval_every must be an integer >= 1; got 0"),
    ("train.amp=2", "config train.amp must be true or false; got 2"),
    ("train.target_norm=minmax", "config train.target_norm must be one of none, zscore; got 'minmax'"),
])
def test_trainer_validates_a_hand_built_config(tmp_path, override, message):
    with pytest.raises(ConfigError) as err:
        Trainer(tiny_config(tmp_path, override), model_factory=tiny_factory)
    assert str(err.value) == message


def test_defaults_and_nulls_are_valid():
    validate_config(Config())
    validate_config(apply_overrides(Config(), ["data.root=null", "train.max_steps=null", "optim.clip_grad=null",
                                               "optim.lr=1e-4", "optim.warmup_epochs=0"]))
    with pytest.raises(ConfigError, match="a config must be a mapping of sections, got list"):
        config_from_dict([1, 2])  # e.g. an edited checkpoint's "config"
    with pytest.raises(ConfigError, match="protocol_overrides must be a mapping, got int"):
        config_from_dict({"protocol_overrides": 3})


def test_resize_of_a_dataset_read_from_files(tmp_path, monkeypatch):
    import dataclasses

    from pyiqa_fast.data.catalogue import CATALOGUE
    from tests.data.test_datasets import fake_kadid10k

    fake_kadid10k(tmp_path / "k")
    monkeypatch.setitem(CATALOGUE, "kadid10k", dataclasses.replace(CATALOGUE["kadid10k"], count=6))  # the fake
    cfg = tiny_config(tmp_path, "data.dataset=kadid10k", f"data.root={tmp_path / 'k'}", "data.split=ratio82",
                      "data.resize=[16, 20]")
    ds = build_dataset(cfg, "train", 0)  # was: TypeError unknown option(s) ['resize']
    img = ds[0]["img"]
    assert img.dtype == torch.float32 and tuple(img.shape) == (3, 16, 20)


def test_too_small_test_set_or_images_are_named_before_training(tmp_path):
    with pytest.raises(ValueError, match=r"the test set of repeat 0 has 1 image\(s\); SRCC/PLCC need at least 2"):
        Trainer(tiny_config(tmp_path, "data.synthetic_size=3", "data.batch_size=1"), model_factory=tiny_factory).fit()
    assert not (tmp_path / "checkpoints").exists()
    with pytest.raises(ValueError, match=r"a dataset image of 20x20 pixels is smaller than data.crop_size 24; lower"):
        Trainer(tiny_config(tmp_path, "data.crop_size=24"), model_factory=tiny_factory).fit()
