"""Seeded content-disjoint splits, meta CSVs, transforms and ``prepare`` (STYLE.md §10, METHODS.md §1.3,
§2.2)."""

from __future__ import annotations

import csv
import hashlib
import math
from pathlib import Path

import pytest
import torch

from pyiqa_fast.cli.prepare import parse_options, run_prepare
from pyiqa_fast.data import load_dataset, parse_split_name, ratio_split, read_meta_csv, split_name
from pyiqa_fast.data.meta import Record, write_meta_csv
from pyiqa_fast.data.splits import check_split
from pyiqa_fast.data.transforms import MultiCrop, RandomCrop, Resize, deiqt_transform, dpiqa_transform
from tests.data.test_datasets import fake_kadid10k, fake_koniq10k, fake_live

# ---- splits


def test_split_names_round_trip():
    assert split_name(3407, 0) == "ratio82_seed3407_split00"
    assert parse_split_name("ratio712_seed1_split12") == ("712", 1, 12)
    for bad in ("ratio82_seed1_split1", "ratio91_seed0_split00", "official"):
        with pytest.raises(ValueError, match="ratio82_seed<s>_split<kk>"):
            parse_split_name(bad)


def test_ratio_split_is_seeded_content_disjoint_and_80_20():
    keys = [f"ref{r:02d}" for r in range(30) for _ in range(4)]  # 30 references x 4 distortions
    a = ratio_split(keys, seed=0, repeat=0)
    assert a == ratio_split(keys, seed=0, repeat=0)
    assert a != ratio_split(keys, seed=0, repeat=1) and a != ratio_split(keys, seed=1, repeat=0)
    train_refs = {k for k, p in zip(keys, a, strict=True) if p == "train"}
    test_refs = {k for k, p in zip(keys, a, strict=True) if p == "test"}
    assert not train_refs & test_refs and len(train_refs) == 24 and len(test_refs) == 6
    three = ratio_split(keys, seed=5, repeat=3, ratio="712")
    assert [three.count(p) // 4 for p in ("train", "val", "test")] == [21, 3, 6]


def test_ratio_split_is_library_independent():
    # The documented procedure: units ranked by sha256("seed:repeat:unit"), first round(0.8 n) train.
    units = [f"img{i}.jpg" for i in range(10)]
    ranked = sorted(units, key=lambda u: hashlib.sha256(f"7:2:{u}".encode()).hexdigest())
    got = ratio_split(units, seed=7, repeat=2)
    assert {u for u, p in zip(units, got, strict=True) if p == "train"} == set(ranked[:8])


def test_empty_phase_is_an_error():
    with pytest.raises(ValueError, match="leave the test phase empty"):
        ratio_split(["a", "a", "b", "b"], seed=0, repeat=0)  # 2 references: round(1.6) = 2 train
    with pytest.raises(ValueError, match="empty 'test' phase"):
        check_split(["train", "train", ""], "ratio82_seed0_split00")
    with pytest.raises(ValueError, match="allowed"):
        check_split(["train", "testing"], "ratio82_seed0_split00")


def test_dataset_split_by_reference(tmp_path):
    fake_kadid10k(tmp_path)  # 3 references x 2 images
    name = "ratio82_seed3407_split04"
    train = load_dataset("kadid10k", tmp_path, split=name, phase="train", check_count=False)
    test = load_dataset("kadid10k", tmp_path, split=name, phase="test", check_count=False)
    assert len(train) + len(test) == 6 and len(test) == 2
    assert not {r.ref_name for r in train.records} & {r.ref_name for r in test.records}
    assert "phase='train'" in repr(train)


# ---- meta CSVs


def test_meta_round_trip_and_load(tmp_path):
    fake_live(tmp_path)
    recs = load_dataset("live", tmp_path, check_count=False).records
    for r in recs:
        r.splits["ratio82_seed0_split00"] = "train"
    recs[0].splits["ratio82_seed0_split00"] = "test"
    path = write_meta_csv(recs, tmp_path / "meta.csv", synthetic=True)
    with open(path) as f:
        assert next(csv.reader(f)) == ["name", "mos", "std", "ref_name", "ratio82_seed0_split00"]
    back, cols = read_meta_csv(path, synthetic=True)
    assert cols == ["ratio82_seed0_split00"]
    assert [(r.name, r.mos, r.ref_name) for r in back] == [(r.name, r.mos, r.ref_name) for r in recs]
    ds = load_dataset("live", tmp_path, split="ratio82_seed0_split00", phase="test", meta=path, check_count=False)
    assert [r.name for r in ds.records] == [recs[0].name] and ds[0]["ref"] == recs[0].ref_name


@pytest.mark.parametrize("header, match", [
    (["name", "score", "std"], r"missing column\(s\) \['mos', 'ref_name'\]; unexpected column\(s\) \['score'\]"),
    (["name", "mos", "std", "fold"], r"unexpected column\(s\) \['fold'\]"),
    (["name", "mos", "std"], r"missing column\(s\) \['ref_name'\]"),
])
def test_meta_wrong_columns(tmp_path, header, match):
    path = tmp_path / "meta.csv"
    path.write_text(",".join(header) + "\n" + ",".join(["a.png", "1", "0", "x"][:len(header)]) + "\n")
    with pytest.raises(ValueError, match=match + r".*expected header name,mos,std"):
        read_meta_csv(path, synthetic=True)


def test_meta_bad_values(tmp_path):
    path = tmp_path / "meta.csv"
    path.write_text("name,mos,std,ratio82_seed0_split00\na.png,1,,train\nb.png,2,,holdout\n")
    with pytest.raises(ValueError, match=r"meta\.csv:3: split 'ratio82_seed0_split00' holds 'holdout'"):
        read_meta_csv(path)
    path.write_text("name,mos,std\na.png,one,\n")
    with pytest.raises(ValueError, match="'one', not a number"):
        read_meta_csv(path)
    path.write_text("name,mos,std\n")
    with pytest.raises(ValueError, match="no rows"):
        read_meta_csv(path)


def test_meta_split_with_empty_phase(tmp_path):
    fake_kadid10k(tmp_path)
    recs = [Record(f"images/I{r:02d}_{t:02d}_01.png", 1.0, ref_name=f"I{r:02d}.png",
                   splits={"ratio82_seed0_split00": "train"}) for r in (1, 2, 3) for t in (1, 2)]
    path = write_meta_csv(recs, tmp_path / "meta.csv", synthetic=True)
    with pytest.raises(ValueError, match="empty 'test' phase"):
        load_dataset("kadid10k", tmp_path, split="ratio82_seed0_split00", phase="train", meta=path,
                     check_count=False)


# ---- transforms


def test_deiqt_transforms_shapes_and_determinism():
    img = torch.randint(0, 256, (3, 300, 400), dtype=torch.uint8)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    a = deiqt_transform(train=True, generator=g1)(img)
    b = deiqt_transform(train=True, generator=g2)(img)
    assert a.shape == (3, 224, 224) and a.dtype == torch.float32
    torch.testing.assert_close(a, b)
    test = deiqt_transform(train=False, dataset="koniq10k", n_crops=4)
    assert test(torch.zeros(3, 768, 1024, dtype=torch.uint8)).shape == (4, 3, 224, 224)
    with pytest.raises(ValueError, match="smaller than the crop"):
        RandomCrop(224)(torch.zeros(3, 100, 300))


def test_resize_is_hw_and_matches_pil_for_uint8():
    img = torch.randint(0, 256, (3, 768, 1024), dtype=torch.uint8)
    out = Resize((512, 384))(img)
    assert out.shape == (3, 512, 384) and out.dtype == torch.uint8  # landscape -> portrait, as DEIQT
    f = Resize((512, 384))(img.float() / 255)
    assert (f * 255 - out.float()).abs().mean() < 2.0
    assert dpiqa_transform()(img).shape == (3, 512, 512)
    assert MultiCrop(RandomCrop(8), 3)(img).shape == (3, 3, 8, 8)


# ---- prepare


def test_prepare_writes_meta_csv(tmp_path, capsys):
    fake_koniq10k(tmp_path / "k")
    with pytest.warns(UserWarning, match=r"5 content units are too few for the data-efficient column\(s\) "
                                         "train5, train10"):  # round(0.05 * 5) = round(0.1 * 5) = 0 train
        assert run_prepare("koniq10k", tmp_path / "k", out=tmp_path / "o", seed=1, repeats=3, check_count=False,
                           checksums=True) == 0
    assert "wrote" in capsys.readouterr().out
    path = tmp_path / "o" / "meta_info_koniq10k.csv"
    recs, cols = read_meta_csv(path)
    assert cols == ["official_split", "ratio82_seed1_split00", "ratio82_seed1_split01", "ratio82_seed1_split02",
                    *(f"train{p}_seed1_split{k:02d}" for p in (20, 25, 40, 60) for k in range(3))]
    assert len(recs) == 5 and all(r.splits["ratio82_seed1_split00"] in ("train", "test") for r in recs)
    first = path.read_text()
    assert run_prepare("koniq10k", tmp_path / "k", out=tmp_path / "o", seed=1, repeats=3, check_count=False,
                       checksums=True, quiet=True) == 0  # manifest now exists and matches
    assert path.read_text() == first
    (tmp_path / "k" / recs[0].name).write_bytes((tmp_path / "k" / recs[1].name).read_bytes())
    assert run_prepare("koniq10k", tmp_path / "k", out=tmp_path / "o", seed=1, repeats=3, check_count=False,
                       checksums=True, quiet=True) == 1
    with pytest.raises(ValueError, match="catalogue expects 10073"):
        run_prepare("koniq10k", tmp_path / "k", quiet=True)


def test_prepare_skip_keeps_splits_stable(tmp_path):
    fake_kadid10k(tmp_path)
    run_prepare("kadid10k", tmp_path, check_count=False, quiet=True)
    full = {r.name: r.splits for r in read_meta_csv(tmp_path / "meta_info_kadid10k.csv")[0]}
    (tmp_path / "images" / "I03_02_01.png").unlink()
    with pytest.warns(UserWarning, match="skipped 1"):
        run_prepare("kadid10k", tmp_path, check_count=False, on_error="skip", quiet=True)
    part = {r.name: r.splits for r in read_meta_csv(tmp_path / "meta_info_kadid10k.csv")[0]}
    assert len(part) == 5 and all(part[n] == full[n] for n in part)


def test_parse_options():
    assert parse_options(["keep-trial=true", "label=MOS"]) == {"keep_trial": True, "label": "MOS"}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_options(["oops"])


def test_prepare_arguments(tmp_path, capsys):
    import argparse

    from pyiqa_fast.cli.prepare import add_prepare_arguments, run_from_args

    fake_koniq10k(tmp_path)
    parser = add_prepare_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["KonIQ-10k", "--root", str(tmp_path), "--no-count-check", "--repeats", "2",
                              "-O", "label=MOS", "--skip-bad"])
    assert run_from_args(args) == 0
    assert "2 split column(s)" in capsys.readouterr().out
    recs, _ = read_meta_csv(tmp_path / "meta_info_koniq10k.csv")
    assert recs[0].mos == 2.0


def _kadid_row(root: Path, line: int, **values: str) -> None:
    """Replace fields of line ``line`` (1-based, the header is line 1) of a fake dmos.csv."""
    path = root / "dmos.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    parts = lines[line - 1].split(",")
    for key, value in values.items():
        parts[header.index(key)] = value
    lines[line - 1] = ",".join(parts)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("value, shown", [("nan", "is nan, not a finite number"), ("inf", "is inf, not a finite"),
                                          ("-Infinity", "is -inf, not a finite"), ("good", "'good' is not a number")])
def test_prepare_refuses_a_bad_mos_naming_file_line_and_value(tmp_path, capsys, value, shown):
    from pyiqa_fast.cli import main

    fake_kadid10k(tmp_path)
    _kadid_row(tmp_path, 3, dmos=value)
    assert main(["prepare", "kadid10k", "--root", str(tmp_path), "--no-count-check", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"pyiqa-fast prepare: error: KADID-10k: {tmp_path / 'dmos.csv'}:3: ") and shown in err
    assert "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "meta_info_kadid10k.csv").exists()


def test_prepare_refuses_a_duplicate_image_name(tmp_path, capsys):
    from pyiqa_fast.cli import main

    fake_kadid10k(tmp_path)
    _kadid_row(tmp_path, 4, dist_img="I01_01_01.png")  # line 2 lists it already
    assert main(["prepare", "kadid10k", "--root", str(tmp_path), "--no-count-check", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "dmos.csv:4: image 'images/I01_01_01.png' is listed again (first at line 2)" in err and "\n" not in err
    assert not (tmp_path / "meta_info_kadid10k.csv").exists()


def test_label_files_with_short_rows_or_bad_bytes(tmp_path):
    fake_kadid10k(tmp_path)
    lines = (tmp_path / "dmos.csv").read_text().splitlines()
    (tmp_path / "dmos.csv").write_text("\n".join([*lines[:2], "I01_02_01.png,I01.png", *lines[3:]]) + "\n")
    with pytest.raises(ValueError, match=r"dmos\.csv:3: the row has 2 field\(s\), the header 4: no value for 'dmos'"):
        load_dataset("kadid10k", tmp_path, check_count=False)
    (tmp_path / "dmos.csv").write_bytes(b"dist_img,ref_img,dmos,var\n\xff,a,1,1\n")
    with pytest.raises(ValueError, match=r"dmos\.csv is not UTF-8 text"):
        load_dataset("kadid10k", tmp_path, check_count=False)


def test_meta_csv_refuses_non_finite_and_missing_labels(tmp_path):
    path = tmp_path / "meta.csv"
    path.write_text("name,mos,std\na.png,1,\nb.png,inf,\n")
    with pytest.raises(ValueError, match=r"meta\.csv:3: column 'mos' holds 'inf', not a finite number"):
        read_meta_csv(path)
    path.write_text("name,mos,std\na.png,1,\na.png,2,\n")
    with pytest.raises(ValueError, match=r"meta\.csv:3: duplicated name 'a\.png' \(first at line 2\)"):
        read_meta_csv(path)
    path.write_text("name,mos,std\n" + "a" * 200_000 + ".png,1,\n")
    with pytest.raises(ValueError, match=r"meta\.csv:\d+: malformed CSV: field larger than field limit"):
        read_meta_csv(path)
    # an empty mos is "missing": accepted by the reader, refused for a labelled set
    fake_kadid10k(tmp_path / "k")
    recs = [Record(f"images/I{r:02d}_{t:02d}_01.png", 1.0 if (r, t) != (2, 1) else math.nan, ref_name=f"I{r:02d}.png")
            for r in (1, 2, 3) for t in (1, 2)]
    meta = write_meta_csv(recs, tmp_path / "k" / "meta.csv", synthetic=True)
    with pytest.raises(ValueError, match=r"meta\.csv:4: DMOS of 'images/I02_01_01\.png' is nan, not a finite"):
        load_dataset("kadid10k", tmp_path / "k", meta=meta, check_count=False)


def test_prepare_argument_and_manifest_errors(tmp_path, capsys):
    from pyiqa_fast.cli import main

    fake_kadid10k(tmp_path)
    base = ["prepare", "kadid10k", "--root", str(tmp_path), "--no-count-check", "-q"]
    assert main([*base, "--seed", "-1"]) == 2
    assert "seed (--seed) must be >= 0; got -1" in capsys.readouterr().err
    (tmp_path / "kadid10k.sha256").write_text("not a digest line\n")
    assert main([*base, "--checksums"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{tmp_path / 'kadid10k.sha256'}:1: expected '<64 hex digits>  <image name>', got 'not a digest line'" \
        in err and "\n" not in err
    assert not (tmp_path / "meta_info_kadid10k.csv").exists()  # refused before writing
    assert main(["prepare", "skimage-synth", "--root", str(tmp_path), "-q"]) == 2
    assert "generated by pyiqa_fast (pyiqa_fast.data.synth), not read from release files" in capsys.readouterr().err
