"""Data-efficient splits ``train<p>_seed<s>_split<kk>`` (docs/design/protocols.md) for every kind of
loader: fraction, content-disjointness, complement, repeats, reproducibility, nesting, the
documented library-independent order, meta CSVs, ``prepare`` and the bad-name messages."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from pyiqa_fast.cli.prepare import default_train_percents, parse_train_percents, run_prepare
from pyiqa_fast.data import load_dataset, parse_split_name, ratio_split, read_meta_csv, split_name
from pyiqa_fast.data.meta import write_meta_csv
from pyiqa_fast.data.splits import ratio_fractions, required_phases, split_fractions, train_ratio
from tests.data.test_datasets import _cell, _csv, _img, fake_kadis700k, scipy_io

N_UNITS = 40  # content units per fake: 5 % of them is 2, so every paper fraction leaves both phases non-empty
PERCENTS = (5, 10, 20, 25, 40, 60)


# ---- fakes of the official layouts with N_UNITS content units (tests/data/test_datasets.py has tiny ones)


def big_kadid10k(root: Path) -> None:
    rows = [[f"I{r:02d}_{t:02d}_01.png", f"I{r:02d}.png", 1.0 + r / 10 + t, 0.25]
            for r in range(1, N_UNITS + 1) for t in (1, 2)]
    _csv(root / "dmos.csv", ["dist_img", "ref_img", "dmos", "var"], rows)
    for i, r in enumerate(rows):
        _img(root / "images" / r[0], i, size=(2, 2))


def big_csiq(root: Path) -> None:
    rows = [(f"ref{r:02d}.{kind}.1.png", 0.01 * r) for r in range(N_UNITS) for kind in ("AWGN", "JPEG")]
    root.mkdir(parents=True, exist_ok=True)
    (root / "csiq_label.txt").write_text("".join(f"{n} {m}\n" for n, m in rows))
    for i, (n, _) in enumerate(rows):
        _img(root / "dst_imgs" / n.split(".")[1].lower() / n, i, size=(2, 2))


def big_koniq10k(root: Path) -> None:
    header = ["image_name", "c1", "c2", "c3", "c4", "c5", "c_total", "MOS", "SD", "MOS_zscore"]
    rows = [[f"{100 + i}.jpg", 0, 0, 0, 0, 0, 5, 2.0, 0.5, 40.0 + i] for i in range(N_UNITS)]
    _csv(root / "koniq10k_scores_and_distributions.csv", header, rows)
    for i, r in enumerate(rows):
        _img(root / "1024x768" / r[0], i, size=(2, 2))


def big_spaq(root: Path) -> None:
    rows = [[f"{i:05d}.jpg", float(i)] for i in range(1, N_UNITS + 1)]
    _csv(root / "Annotations" / "MOS and Image attribute scores.csv", ["Image name", "MOS"], rows)
    for i, r in enumerate(rows):
        _img(root / "TestImage" / r[0], i, size=(2, 2))


def big_livec(root: Path) -> None:
    names = [f"t{k}.bmp" for k in range(1, 8)] + [f"{k}.bmp" for k in range(10, 10 + N_UNITS)]
    for i, n in enumerate(names):
        _img(root / "Images" / ("trainingImages/" if n.startswith("t") else "") / n, i, size=(2, 2))
    (root / "Data").mkdir(parents=True)
    scipy_io.savemat(root / "Data/AllImages_release.mat", {"AllImages_release": _cell(names)})
    scipy_io.savemat(root / "Data/AllMOS_release.mat", {"AllMOS_release": np.arange(len(names), dtype=float)[None]})


BIG = {"kadid10k": big_kadid10k, "csiq": big_csiq, "koniq10k": big_koniq10k, "spaq": big_spaq, "livec": big_livec}
SYNTHETIC = {"kadid10k", "csiq"}


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, Path]:
    out = {}
    for name, make in BIG.items():
        out[name] = tmp_path_factory.mktemp(name)
        make(out[name])
    return out


def _units(name: str, ds) -> set[str]:
    return {r.ref_name if name in SYNTHETIC else r.name for r in ds.records}


def _phases(name: str, root: Path, split: str) -> tuple[set[str], set[str], int]:
    train = load_dataset(name, root, split=split, phase="train", check_count=False)
    test = load_dataset(name, root, split=split, phase="test", check_count=False)
    return _units(name, train), _units(name, test), len(train) + len(test)


# ---- every loader


@pytest.mark.parametrize("name", sorted(BIG))
def test_data_efficient_split_of_every_loader(roots, name):
    root = roots[name]
    everything = load_dataset(name, root, check_count=False)
    units = _units(name, everything)
    assert len(units) == N_UNITS
    per_repeat: dict[int, dict[int, set[str]]] = {}
    for k in range(3):
        for p in PERCENTS:
            split = f"train{p}_seed3407_split{k:02d}"
            train, test, n = _phases(name, root, split)
            assert abs(len(train) - p / 100 * N_UNITS) <= 1, (split, len(train))
            assert not train & test and train | test == units  # content-disjoint; test is the complement
            assert n == len(everything)  # every distorted version goes with its reference
            per_repeat.setdefault(k, {})[p] = train
        # nested: a repeat's smaller training sets lie inside its larger ones, and inside ratio82's
        ratio82_train, _, _ = _phases(name, root, f"ratio82_seed3407_split{k:02d}")
        chain = [per_repeat[k][p] for p in PERCENTS] + [ratio82_train]
        assert all(a <= b for a, b in zip(chain, chain[1:], strict=False))
    for p in PERCENTS:
        assert len({frozenset(per_repeat[k][p]) for k in range(3)}) == 3, p  # repeats differ
    assert _phases(name, root, "train20_seed3407_split01")[0] == per_repeat[1][20]  # reproducible
    assert _phases(name, root, "train20_seed1_split01")[0] != per_repeat[1][20]  # the seed matters


def test_the_order_is_the_documented_sha256_order(roots):
    # library-independent: units ranked by sha256("seed:repeat:unit"), the first round(p/100 * n) train
    ds = load_dataset("kadid10k", roots["kadid10k"], split="train25_seed7_split02", phase="train", check_count=False)
    refs = [f"I{r:02d}.png" for r in range(1, N_UNITS + 1)]
    ranked = sorted(refs, key=lambda u: hashlib.sha256(f"7:2:{u}".encode()).hexdigest())
    assert {r.ref_name for r in ds.records} == set(ranked[:round(0.25 * N_UNITS)])


def test_train80_is_ratio82_and_712_trains_on_train70():
    keys = [f"img{i}" for i in range(57)]
    assert ratio_split(keys, 3, 4, "train80") == ratio_split(keys, 3, 4, "82")
    seventy = ratio_split(keys, 3, 4, "train70")
    with_val = ratio_split(keys, 3, 4, "712")
    assert [k for k, p in zip(keys, seventy, strict=True) if p == "train"] == \
        [k for k, p in zip(keys, with_val, strict=True) if p == "train"]


# ---- names


def test_names_round_trip_and_fractions():
    assert split_name(3407, 0, "train5") == "train5_seed3407_split00"
    assert split_name(0, 12, train_ratio(0.6)) == "train60_seed0_split12"
    assert split_name(1, 2, train_ratio(0.8)) == "ratio82_seed1_split02"  # 80 % train is the ratio82 column
    assert parse_split_name("train25_seed9_split03") == ("train25", 9, 3)
    assert parse_split_name("ratio82_seed9_split03") == ("82", 9, 3)
    assert split_fractions("train99_seed0_split00") == (0.99, 0.0) and ratio_fractions("712") == (0.7, 0.1)
    assert required_phases("train5_seed0_split00") == ("train", "test")
    assert required_phases("ratio712_seed0_split00") == ("train", "val", "test")
    assert required_phases("official_split") == ("train",)
    assert [train_ratio(p / 100) for p in (1, 29, 58, 99)] == ["train1", "train29", "train58", "train99"]


@pytest.mark.parametrize("bad", ["train0_seed1_split00", "train100_seed1_split00", "train05_seed1_split00",
                                 "train20_seed1_split1", "train20_split00", "Train20_seed1_split00",
                                 "train_seed1_split00"])
def test_bad_split_names_name_the_value_and_the_forms(bad):
    with pytest.raises(ValueError, match=rf"split '{bad}' is not 'official_split' or of the form .*"
                                         r"train<p>_seed<s>_split<kk> \(p = 1\.\.99\)"):
        parse_split_name(bad)


def test_bad_ratio_and_fraction_arguments():
    for bad in ("train0", "train05", "train100", "91", "ratio82"):
        with pytest.raises(ValueError, match=rf"ratio must be '82', '712' or 'train<p>' .*; got '{bad}'"):
            split_name(0, 0, bad)
    for bad in (0.125, 0.0, 1.0, 0.995, -0.2, True, "0.2"):
        with pytest.raises(ValueError, match=rf"train_fraction must be a whole percent in 0\.01\.\.0\.99 .*; "
                                             rf"got {bad!r}"):
            train_ratio(bad)


def test_a_bad_name_through_load_dataset(roots):
    with pytest.raises(ValueError, match=r"split 'train20_seed1_split7' is not 'official_split' or of the form"):
        load_dataset("spaq", roots["spaq"], split="train20_seed1_split7", phase="train", check_count=False)


def test_too_few_units_for_a_fraction_names_the_column():
    with pytest.raises(ValueError, match=r"split train5_seed0_split00: 10 distinct content unit\(s\) leave the train "
                                         "phase empty"):
        ratio_split([f"r{i}" for i in range(10)], 0, 0, "train5")  # round(0.5) = 0


# ---- meta CSVs and prepare


def test_meta_csv_column_is_read_not_regenerated(roots, tmp_path):
    recs = load_dataset("spaq", roots["spaq"], check_count=False).records
    for i, r in enumerate(recs):
        r.splits["train10_seed0_split00"] = "train" if i < 3 else "test"  # not what generation would give
    meta = write_meta_csv(recs, tmp_path / "meta.csv", synthetic=False)
    assert read_meta_csv(meta)[1] == ["train10_seed0_split00"]
    ds = load_dataset("spaq", roots["spaq"], split="train10_seed0_split00", phase="train", meta=meta,
                      check_count=False)
    assert [r.name for r in ds.records] == [r.name for r in recs[:3]]


def test_prepare_writes_the_data_efficient_columns_as_the_loader_generates_them(roots, tmp_path):
    assert default_train_percents() == list(PERCENTS)  # read from the shdiqa_de* presets
    run_prepare("csiq", roots["csiq"], out=tmp_path, seed=5, repeats=2, verify=False, check_count=False, quiet=True)
    recs, cols = read_meta_csv(tmp_path / "meta_info_csiq.csv", synthetic=True)
    assert cols == [f"ratio82_seed5_split{k:02d}" for k in range(2)] + \
        [f"train{p}_seed5_split{k:02d}" for p in PERCENTS for k in range(2)]
    for col in ("train5_seed5_split01", "train60_seed5_split00"):
        on_demand = load_dataset("csiq", roots["csiq"], split=col, check_count=False).records
        assert [r.splits[col] for r in recs] == [r.splits[col] for r in on_demand]


def test_prepare_train_percents_option(roots, tmp_path, capsys):
    from pyiqa_fast.cli import main

    base = ["prepare", "koniq10k", "--root", str(roots["koniq10k"]), "-o", str(tmp_path), "--no-count-check",
            "--no-verify", "--repeats", "1"]
    assert main([*base, "--train-percents", "20,80,20"]) == 0  # 80 % is ratio82; duplicates once
    assert "1 split column(s) per fraction: ratio82, train20" in capsys.readouterr().out
    assert read_meta_csv(tmp_path / "meta_info_koniq10k.csv")[1] == ["ratio82_seed3407_split00",
                                                                     "train20_seed3407_split00"]
    assert main([*base, "--train-percents", "none", "-q"]) == 0
    assert read_meta_csv(tmp_path / "meta_info_koniq10k.csv")[1] == ["ratio82_seed3407_split00"]
    assert main([*base, "--train-percents", "1", "-q"]) == 2  # asked for: an empty phase is an error
    assert "split train1_seed3407_split00: 40 distinct content unit(s) leave the train phase empty" \
        in capsys.readouterr().err
    for bad in ("0", "5,x", "", "100"):
        with pytest.raises(ValueError, match=rf"--train-percents expects comma-separated whole percents 1\.\.99 "
                                             rf".*; got '{bad}'"):
            parse_train_percents(bad)
    with pytest.raises(ValueError, match=r"train_percents \(--train-percents\) must be whole percents 1\.\.99; "
                                         r"got \[20, 0\.5\]"):
        run_prepare("koniq10k", roots["koniq10k"], out=tmp_path, train_percents=[20, 0.5], quiet=True)


def test_prepare_unlabelled_set_gets_no_data_efficient_columns_by_default(tmp_path):
    fake_kadis700k(tmp_path)
    run_prepare("kadis700k", tmp_path, repeats=1, verify=False, check_count=False, quiet=True)
    assert read_meta_csv(tmp_path / "meta_info_kadis700k.csv", synthetic=True)[1] == ["ratio82_seed3407_split00"]
