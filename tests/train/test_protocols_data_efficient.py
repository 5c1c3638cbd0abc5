"""Data-efficient protocol presets and the protocol → split-column wiring of build_dataset
(docs/design/protocols.md): the protocol's train_fraction picks the column, one fact in one place."""

from __future__ import annotations

import dataclasses

import pytest

from pyiqa_fast.data import build_dataset, load_dataset, ratio_split
from pyiqa_fast.data.build import resolve_split
from pyiqa_fast.train import Config, ConfigError, Protocol, apply_overrides, load_config, validate_config
from tests.train._common import tiny_config

PAPER_ROWS = {"shdiqa_de5": 0.05, "shdiqa_de10": 0.1, "shdiqa_de20": 0.2, "shdiqa_de25": 0.25, "shdiqa_de40": 0.4,
              "shdiqa_de60": 0.6}


def _cfg(*sets: str) -> Config:
    return validate_config(apply_overrides(Config(), list(sets)))


def test_presets_are_shdiqa_with_a_training_share():
    base = Protocol.preset("shdiqa")
    for name, fraction in PAPER_ROWS.items():
        p = Protocol.preset(name)
        assert p.train_fraction == fraction and p.repeats == 10 and p.statistic == "mean"
        assert dataclasses.replace(p, name="shdiqa", train_fraction=0.8, source=base.source) == base
        assert "SHDIQA-supp §2, Table " in p.source
    assert Protocol.preset("shdiqa_de20").split_column(3407, 9) == "train20_seed3407_split09"
    assert Protocol.preset("shdiqa_de5").split_column(0, 0) == "train5_seed0_split00"
    assert Protocol.preset("loda").split_column(3407, 0) == "ratio82_seed3407_split00"
    assert Protocol(split="official").split_column(1, 2) == "official_split"


def test_protocol_refuses_a_fraction_that_names_no_column_and_an_unknown_split():
    with pytest.raises(ValueError, match=r"Protocol\.train_fraction must be a whole percent .* got 0\.125"):
        Protocol(train_fraction=0.125)
    with pytest.raises(ValueError, match=r"Protocol\.split must be one of \('ratio82', 'official'\), got 'random'"):
        Protocol(split="random")
    with pytest.raises(ConfigError, match=r"config protocol_overrides\.train_fraction must be a whole percent .*"
                                          r"got 0\.333"):
        _cfg("protocol=shdiqa", "protocol_overrides.train_fraction=0.333")


@pytest.mark.parametrize("sets, column", [
    ((), "ratio82_seed0_split03"),  # the defaults: data.split ratio82, protocol deiqt
    (("protocol=shdiqa_de20",), "train20_seed0_split03"),  # ratio82 follows the protocol
    (("protocol=shdiqa_de40", "data.split=auto", "train.seed=3407"), "train40_seed3407_split03"),
    (("protocol=shdiqa", "protocol_overrides.train_fraction=0.25"), "train25_seed0_split03"),
    (("protocol=deiqt", "protocol_overrides.train_fraction=0.6"), "train60_seed0_split03"),  # DEIQT's Table-1 row
    (("data.split=ratio82_seed7_split00",), "ratio82_seed7_split00"),  # a named column, for every repeat
    (("protocol=shdiqa_de10", "data.split=train10_seed1_split05"), "train10_seed1_split05"),
    (("data.split=official_split",), "official_split"),
])
def test_resolve_split(sets, column):
    assert resolve_split(_cfg(*sets), 3) == column


def test_a_column_contradicting_the_protocol_or_of_no_form_is_named():
    with pytest.raises(ValueError, match=r"config data\.split 'ratio82_seed7_split00' trains on 0\.8 of the content "
                                         r"units, but protocol 'shdiqa_de20' has train_fraction 0\.2; set "
                                         r"data\.split=auto for the protocol's split \('train20_seed0_split01' for "
                                         r"repeat 1\) or protocol_overrides\.train_fraction=0\.8"):
        resolve_split(_cfg("protocol=shdiqa_de20", "data.split=ratio82_seed7_split00"), 1)
    with pytest.raises(ValueError, match=r"config data\.split must be 'auto' .* train<p>_seed<s>_split<kk> "
                                         r"\(p = 1\.\.99\); got 'train20'"):
        resolve_split(_cfg("data.split=train20"), 0)
    with pytest.raises(ValueError, match=r"is a generated split, but protocol 'deiqt' uses the official split; "
                                         r"set data\.split=auto or official_split"):
        resolve_split(_cfg("data.split=ratio82_seed0_split00", "protocol_overrides.split=official"), 0)


def test_the_demo_keeps_its_split():
    from pyiqa_fast.data.synth import PHOTOS

    cfg = load_config("deiqt_demo")
    assert [resolve_split(cfg, k) for k in range(2)] == ["ratio82_seed7_split00"] * 2
    refs = [f"{p}.png" for p in PHOTOS]  # the content units of skimage-synth
    held_out = {r for r, p in zip(refs, ratio_split(refs, 7, 0), strict=True) if p == "test"}
    assert held_out == {"astronaut.png", "chelsea.png"}  # configs/deiqt_demo.yaml


def test_build_dataset_follows_the_protocol_on_the_synthetic_set(tmp_path):
    cfg = tiny_config(tmp_path, "protocol=shdiqa_de25", "data.synthetic_size=40", "train.seed=5")
    train, test = build_dataset(cfg, "train", 2), build_dataset(cfg, "test", 2)
    assert len(train) == 10 and len(test) == 30
    names = train.dataset.names
    phases = ratio_split(names, 5, 2, "train25")
    assert sorted(train.indices) == [i for i, p in enumerate(phases) if p == "train"]
    assert sorted(test.indices) == [i for i, p in enumerate(phases) if p == "test"]
    assert set(build_dataset(cfg, "train", 3).indices) != set(train.indices)
    default = tiny_config(tmp_path, "data.synthetic_size=40", "train.seed=5")  # deiqt: 80/20, as before
    assert len(build_dataset(default, "train", 2)) == 32
    with pytest.raises(ValueError, match="the synthetic dataset has no official split"):
        build_dataset(tiny_config(tmp_path, "data.split=official_split"), "train", 0)


def test_build_dataset_follows_the_protocol_on_a_release(tmp_path, monkeypatch):
    from pyiqa_fast.data.catalogue import CATALOGUE
    from tests.data.test_data_efficient_splits import N_UNITS, big_koniq10k

    big_koniq10k(tmp_path / "k")
    monkeypatch.setitem(CATALOGUE, "koniq10k", dataclasses.replace(CATALOGUE["koniq10k"], count=N_UNITS))
    cfg = tiny_config(tmp_path, "data.dataset=koniq10k", f"data.root={tmp_path / 'k'}", "protocol=shdiqa_de20",
                      "train.seed=3407")
    for phase, n in (("train", 8), ("test", 32)):
        ds = build_dataset(cfg, phase, 1)
        assert ds.split == "train20_seed3407_split01" and len(ds) == n
        direct = load_dataset("koniq10k", tmp_path / "k", split="train20_seed3407_split01", phase=phase)
        assert [r.name for r in ds.records] == [r.name for r in direct.records]
