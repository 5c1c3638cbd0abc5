"""``train.target_norm: zscore``: training on standardised MOS, stats stored in checkpoints and reused."""

from __future__ import annotations

import json

import pytest
import torch

from pyiqa_fast.data import SyntheticIQADataset, build_dataset
from pyiqa_fast.train import Trainer
from pyiqa_fast.train.trainer import dataset_mos, target_stats
from tests.train._common import TinyNet, tiny_config, tiny_factory


def _train_mos(cfg) -> torch.Tensor:
    return torch.tensor(dataset_mos(build_dataset(cfg, "train", 0)), dtype=torch.float64)


def test_stats_are_the_training_sets_and_stored(tmp_path):
    cfg = tiny_config(tmp_path, "train.target_norm=zscore")
    trainer = Trainer(cfg, model_factory=tiny_factory)
    results = trainer.fit()
    m = _train_mos(cfg)
    stats = results["repeats"][0]["target_stats"]
    assert stats["mode"] == "zscore"
    assert stats["mean"] == pytest.approx(float(m.mean()), abs=1e-12)
    assert stats["std"] == pytest.approx(float(m.std(unbiased=False)), abs=1e-12)
    assert trainer.target_stats == stats
    assert torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["target_stats"] == stats
    assert torch.load(tmp_path / "model_repeat00.pt", weights_only=True)["target_stats"] == stats
    # the reported metrics are on the MOS scale: evaluating with the stored stats reproduces them
    test = build_dataset(cfg, "test", 0)
    again = trainer.evaluate(trainer.model, test, stats)
    last = results["repeats"][0]["epochs"][-1]
    assert again["rmse"] == pytest.approx(last["rmse"], rel=1e-12)
    raw = trainer.evaluate(trainer.model, test, {"mode": "zscore", "mean": 0.0, "std": 1.0})
    assert raw["srcc"] == pytest.approx(last["srcc"]) and raw["rmse"] != pytest.approx(last["rmse"])


def test_none_is_the_default_and_unknown_is_refused(tmp_path):
    results = Trainer(tiny_config(tmp_path), model_factory=tiny_factory).fit()
    assert results["repeats"][0]["target_stats"] is None
    assert "target_norm" not in json.dumps(Trainer(tiny_config(tmp_path), model_factory=tiny_factory)
                                           .identity(TinyNet()))
    with pytest.raises(ValueError, match="target_norm"):
        Trainer(tiny_config(tmp_path, "train.target_norm=minmax"), model_factory=tiny_factory)
    assert target_stats("none", SyntheticIQADataset(8, 8)) is None


def test_resume_is_bit_identical_with_zscore(tmp_path):
    z = ("train.target_norm=zscore", "train.epochs=3")
    full = Trainer(tiny_config(tmp_path / "a", "train.max_steps=9", *z), model_factory=tiny_factory)
    full.fit()
    Trainer(tiny_config(tmp_path / "b", "train.max_steps=4", *z), model_factory=tiny_factory).fit()
    second = Trainer(tiny_config(tmp_path / "b", "train.max_steps=9", *z), model_factory=tiny_factory)
    second.fit(resume=True)
    a, b = full.model.state_dict(), second.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    ca = torch.load(tmp_path / "a" / "checkpoints" / "last.pt", weights_only=True)
    cb = torch.load(tmp_path / "b" / "checkpoints" / "last.pt", weights_only=True)
    assert ca["target_stats"] == cb["target_stats"] is not None
    assert [{k: v for k, v in h.items() if k != "time_s"} for h in ca["history"]] == \
        [{k: v for k, v in h.items() if k != "time_s"} for h in cb["history"]]


def test_resume_and_eval_use_the_stored_stats(tmp_path, monkeypatch):
    Trainer(tiny_config(tmp_path, "train.max_steps=3", "train.target_norm=zscore"), model_factory=tiny_factory).fit()
    path = tmp_path / "checkpoints" / "last.pt"
    ckpt = torch.load(path, weights_only=True)
    planted = {"mode": "zscore", "mean": 12.5, "std": 3.25}
    ckpt["target_stats"] = planted
    torch.save(ckpt, path)
    resumed = Trainer(tiny_config(tmp_path, "train.target_norm=zscore"), model_factory=tiny_factory)
    results = resumed.fit(resume=True)
    assert resumed.target_stats == planted and results["repeats"][0]["target_stats"] == planted
    # a checkpoint without the option cannot be resumed with it (and vice versa)
    from pyiqa_fast.train import CheckpointMismatchError

    with pytest.raises(CheckpointMismatchError, match="target_norm"):
        Trainer(tiny_config(tmp_path), model_factory=tiny_factory).fit(resume=True)
    # pyiqa-fast eval maps predictions back with the checkpoint's stats
    from pyiqa_fast.train import cli

    monkeypatch.setattr(Trainer, "_make_model", lambda self, cfg=None, pretrained=True: TinyNet())
    out = tmp_path / "eval.json"
    assert cli.run_eval(str(tmp_path / "model_repeat00.pt"), config=None, out=str(out)) == 2  # stores no config
    assert cli.run_eval(str(path), out=str(out)) == 0
    final = results["repeats"][0]["epochs"][-1]
    assert json.loads(out.read_text())["rmse"] == pytest.approx(final["rmse"], rel=1e-9)


def test_default_build_dataset_gives_float_images(tmp_path):
    cfg = tiny_config(tmp_path, "data.dataset=skimage-synth", "data.root=null", "data.resize=[64, 64]")
    ds = build_dataset(cfg, "test", 0)
    img = ds[0]["img"]
    assert img.dtype == torch.float32 and 0.0 <= float(img.min()) and float(img.max()) <= 1.0
    assert len(dataset_mos(ds)) == len(ds)
