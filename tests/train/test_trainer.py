"""Trainer: configs, overrides, schedule, protocols, results file, plot, bit-identical resume."""

from __future__ import annotations

import json
import os

import pytest
import torch

from pyiqa_fast.train import (
    ConfigError,
    OptimConfig,
    Protocol,
    Trainer,
    apply_overrides,
    load_config,
    lr_at_step,
)
from pyiqa_fast.train.config import Config, default_config_dir
from tests.train._common import tiny_config, tiny_factory


@pytest.mark.parametrize("name", sorted(f[:-5] for f in os.listdir(default_config_dir()) if f.endswith(".yaml")))
def test_shipped_configs_load(name):
    cfg = load_config(name)
    Protocol.preset(cfg.protocol, **cfg.protocol_overrides)


def test_overrides_and_errors():
    cfg = load_config("deiqt_koniq", ["optim.lr=1e-4", "data.resize=[384, 512]", "model.kwargs.drop_path_rate=0.1",
                                      "train.max_steps=null"])
    assert cfg.optim.lr == 1e-4 and cfg.data.resize == [384, 512]
    assert cfg.model.kwargs == {"normalize_input": True, "drop_path_rate": 0.1}
    with pytest.raises(ConfigError, match="did you mean lr"):
        apply_overrides(Config(), ["optim.lrr=1"])
    with pytest.raises(ConfigError, match="a.b=c"):
        apply_overrides(Config(), ["optim.lr"])
    with pytest.raises(FileNotFoundError, match="deiqt_koniq"):
        load_config("no_such_config")
    with pytest.raises(KeyError, match="did you mean deiqt"):
        Protocol.preset("deiq")


def test_deiqt_schedule():
    o, n = OptimConfig(), 100
    assert lr_at_step(0, n, o) == pytest.approx(2e-7)
    assert lr_at_step(150, n, o) == pytest.approx(2e-7 + 0.5 * (2e-4 - 2e-7))
    assert lr_at_step(300, n, o) == pytest.approx(2e-5)  # the step counts from t = 0 (METHODS.md §2.3)
    assert lr_at_step(600, n, o) == pytest.approx(2e-6)
    assert lr_at_step(899, n, o) == pytest.approx(2e-6)
    assert lr_at_step(5000, n, o) == pytest.approx(2e-7)  # floored at min_lr


def test_fit_writes_results_and_plot(tmp_path):
    cfg = tiny_config(tmp_path, "protocol_overrides={repeats: 2, test_crops: 2, statistic: mean}")
    res = Trainer(cfg, model_factory=tiny_factory).fit()
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["protocol"]["name"] == "deiqt" and on_disk["protocol"]["statistic"] == "mean"
    assert on_disk["seed"] == 0 and "torch" in on_disk["versions"] and on_disk["plcc_fit"] == "none"
    assert len(on_disk["repeats"]) == 2
    for rep in on_disk["repeats"]:
        assert [e["epoch"] for e in rep["epochs"]] == [0, 1]
        assert all({"srcc", "plcc", "krcc", "rmse", "train_loss", "lr"} <= set(e) for e in rep["epochs"])
        assert rep["selected"]["plcc"] == max(e["plcc"] for e in rep["epochs"])
    s = res["summary"]
    assert s["plcc"] == pytest.approx(sum(s["plcc_per_repeat"]) / 2)
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_resume_is_bit_identical(tmp_path):
    full = Trainer(tiny_config(tmp_path / "a", "train.max_steps=4", "train.epochs=3"), model_factory=tiny_factory)
    full.fit()
    first = Trainer(tiny_config(tmp_path / "b", "train.max_steps=2", "train.epochs=3"), model_factory=tiny_factory)
    first.fit()
    second = Trainer(tiny_config(tmp_path / "b", "train.max_steps=4", "train.epochs=3"), model_factory=tiny_factory)
    second.fit(resume=True)
    a, b = full.model.state_dict(), second.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    ca = torch.load(tmp_path / "a" / "checkpoints" / "last.pt", weights_only=True)
    cb = torch.load(tmp_path / "b" / "checkpoints" / "last.pt", weights_only=True)
    assert ca["step"] == cb["step"] == 4
    assert ca["history"] == [{**h, "time_s": ca["history"][i]["time_s"]} for i, h in enumerate(cb["history"])]
    for sa, sb in zip(ca["optimizer"]["state"].values(), cb["optimizer"]["state"].values(), strict=True):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
