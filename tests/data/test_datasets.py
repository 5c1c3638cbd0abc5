"""Dataset loaders on tiny fake folders in each official layout (catalogue in METHODS.md §1.1),
plus the bad-input paths: missing label file, missing/corrupt image, wrong count, bad options."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pyiqa_fast.data import CATALOGUE, DatasetLayoutError, get_dataset_info, list_datasets, load_dataset

scipy_io = pytest.importorskip("scipy.io")


def _img(path: Path, seed: int = 0, size: tuple[int, int] = (12, 10)) -> None:
    """A small RGB image (w x h = size) in the format of the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)


def _csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def _cell(names: list[str]) -> np.ndarray:
    cell = np.empty((len(names), 1), dtype=object)
    for i, n in enumerate(names):
        cell[i, 0] = n
    return cell


# ---- fake folders: each returns (root, expected {name: (mos, ref)} after the loader's filtering)


def fake_live(root: Path) -> dict:
    folders = [("jp2k", 2), ("jpeg", 2), ("wn", 1), ("gblur", 1), ("fastfading", 1)]
    names = [f"{f}/img{k}.bmp" for f, n in folders for k in range(1, n + 1)]
    refs = ["a.bmp", "b.bmp", "a.bmp", "c.bmp", "b.bmp", "c.bmp", "a.bmp"]
    orgs = [0, 0, 1, 0, 0, 0, 0]  # jpeg/img1 is a reference copy: dropped
    dmos = [10.0, 20.0, 0.0, 30.0, 40.0, 50.0, 60.0]
    for i, n in enumerate(names):
        _img(root / n, i)
    scipy_io.savemat(root / "dmos_realigned.mat", {"dmos_new": np.array([dmos]), "orgs": np.array([orgs]),
                                                    "dmos_std": np.ones((1, 7))})
    scipy_io.savemat(root / "refnames_all.mat", {"refnames_all": _cell(refs).T})
    return {n: (m, r) for n, m, r, o in zip(names, dmos, refs, orgs, strict=True) if not o}


def fake_csiq(root: Path) -> dict:
    rows = [("1600.AWGN.1.png", 0.1), ("1600.JPEG.2.png", 0.2), ("aerial_city.BLUR.1.png", 0.3),
            ("aerial_city.jpeg2000.3.png", 0.4), ("bridge.fnoise.1.png", 0.5), ("bridge.contrast.2.png", 0.6)]
    (root).mkdir(parents=True, exist_ok=True)
    (root / "csiq_label.txt").write_text("".join(f"{n} {m}\n" for n, m in rows))
    out = {}
    for i, (n, m) in enumerate(rows):
        rel = f"dst_imgs/{n.split('.')[1].lower()}/{n}"
        _img(root / rel, i)
        out[rel] = (m, n.split(".")[0] + ".png")
    return out


def fake_tid2013(root: Path) -> dict:
    rows = [(5.5, "i01_01_1.bmp"), (4.0, "i01_02_1.bmp"), (3.0, "i02_01_1.bmp"), (2.5, "i02_03_2.bmp"),
            (6.0, "i03_01_1.bmp"), (1.0, "i25_01_1.bmp")]
    root.mkdir(parents=True, exist_ok=True)
    (root / "mos_with_names.txt").write_text("".join(f"{m} {n}\n" for m, n in rows))
    (root / "mos_std.txt").write_text("".join(f"{0.1 * i}\n" for i in range(len(rows))))
    out = {}
    for i, (m, n) in enumerate(rows):
        on_disk = n.upper() if n.startswith("i25") else n  # the release mixes cases
        _img(root / "distorted_images" / on_disk, i)
        out[f"distorted_images/{on_disk}"] = (m, n[:3].upper() + ".BMP")
    return out


def fake_kadid10k(root: Path) -> dict:
    rows = [[f"I{r:02d}_{t:02d}_{lv:02d}.png", f"I{r:02d}.png", 1.0 + r + 0.1 * t + 0.01 * lv, 0.25]
            for r in (1, 2, 3) for t in (1, 2) for lv in (1,)]
    _csv(root / "dmos.csv", ["dist_img", "ref_img", "dmos", "var"], rows)
    for i, r in enumerate(rows):
        _img(root / "images" / r[0], i)
    return {f"images/{r[0]}": (r[2], r[1]) for r in rows}


def fake_kadis700k(root: Path) -> dict:
    out = {}
    for i, ref in enumerate(("1000", "2000", "3000")):
        _img(root / "ref_imgs" / f"{ref}.png", i)
        for t in (1, 2):
            n = f"dist_imgs/{ref}_{t:02d}_01.bmp"
            _img(root / n, 10 * i + t)
            out[n] = (math.nan, ref)
    return out


def fake_livec(root: Path) -> dict:
    names = [f"t{k}.bmp" for k in range(1, 8)] + ["10.JPG", "11.bmp", "12.JPG", "13.JPG"]
    mos = [float(10 + k) for k in range(len(names))]
    for i, n in enumerate(names):
        _img(root / "Images" / ("trainingImages/" if n.startswith("t") else "") / n, i)
    (root / "Data").mkdir(parents=True)
    scipy_io.savemat(root / "Data/AllImages_release.mat", {"AllImages_release": _cell(names)})
    scipy_io.savemat(root / "Data/AllMOS_release.mat", {"AllMOS_release": np.array([mos])})
    scipy_io.savemat(root / "Data/AllStdDev_release.mat", {"AllStdDev_release": np.ones((1, len(names)))})
    return {f"Images/{n}": (m, None) for n, m in zip(names[7:], mos[7:], strict=True)}


def fake_koniq10k(root: Path) -> dict:
    header = ["image_name", "c1", "c2", "c3", "c4", "c5", "c_total", "MOS", "SD", "MOS_zscore", "set"]
    sets = ["training", "training", "training", "validation", "test"]
    rows = [[f"{100 + i}.jpg", 0, 0, 0, 0, 0, 5, 2.0 + 0.5 * i, 0.5, 40.0 + 10 * i, s] for i, s in enumerate(sets)]
    _csv(root / "koniq10k_distributions_sets.csv", header, rows)
    _csv(root / "koniq10k_scores_and_distributions.csv", header[:-1], [r[:-1] for r in rows])
    for i, r in enumerate(rows):
        _img(root / "1024x768" / r[0], i, size=(16, 12))
    return {f"1024x768/{r[0]}": (r[9], None) for r in rows}


def fake_spaq(root: Path) -> dict:
    rows = [[f"{i:05d}.jpg", 10.0 * i, 1, 2, 3, 4, 5] for i in range(1, 5)]
    _csv(root / "Annotations" / "MOS and Image attribute scores.csv",
         ["Image name", "MOS", "Brightness", "Colorfulness", "Contrast", "Noisiness", "Sharpness"], rows)
    for i, r in enumerate(rows):
        _img(root / "TestImage" / r[0], i)
    return {f"TestImage/{r[0]}": (r[1], None) for r in rows}


def fake_flive(root: Path) -> dict:
    rows = [["voc_emotic_ava/a.jpg", 70.0, "train"], ["voc_emotic_ava/b.jpg", 60.0, "train"],
            ["blur_dataset/c.png", 50.0, "val"], ["AVA__1.jpg", 40.0, "test"]]
    _csv(root / "labels_image.csv", ["name_image", "mos_image", "set"], rows)
    for i, r in enumerate(rows):
        _img(root / r[0], i)
    return {r[0]: (r[1], None) for r in rows}


FAKES = {"live": fake_live, "csiq": fake_csiq, "tid2013": fake_tid2013, "kadid10k": fake_kadid10k,
         "kadis700k": fake_kadis700k, "livec": fake_livec, "koniq10k": fake_koniq10k, "spaq": fake_spaq,
         "flive": fake_flive}
LABEL_FILE = {"live": "dmos_realigned.mat", "csiq": "csiq_label.txt", "tid2013": "mos_with_names.txt",
              "kadid10k": "dmos.csv", "livec": "Data/AllMOS_release.mat",
              "koniq10k": "koniq10k_scores_and_distributions.csv",
              "spaq": "Annotations/MOS and Image attribute scores.csv", "flive": "labels_image.csv"}


def test_catalogue_covers_methods_1_1():
    assert list_datasets() == list(FAKES)
    counts = {n: i.count for n, i in CATALOGUE.items()}
    assert counts == {"live": 779, "csiq": 866, "tid2013": 3000, "kadid10k": 10125, "kadis700k": 700000,
                      "livec": 1162, "koniq10k": 10073, "spaq": 11125, "flive": 39810}
    assert get_dataset_info("KonIQ-10k").label == "MOS_zscore"
    assert get_dataset_info("LIVE").lower_better and not get_dataset_info("kadid10k").lower_better
    assert set(list_datasets("synthetic")) == {"live", "csiq", "tid2013", "kadid10k", "kadis700k"}


def test_unknown_dataset_suggests():
    with pytest.raises(ValueError, match="did you mean 'koniq10k'"):
        get_dataset_info("koniq10")


@pytest.mark.parametrize("name", list(FAKES))
def test_loader_reads_official_layout(tmp_path, name):
    expected = FAKES[name](tmp_path / name)
    ds = load_dataset(name, tmp_path / name, check_count=False)
    assert len(ds) == len(expected)
    assert {r.name for r in ds.records} == set(expected)
    for i in range(len(ds)):
        item = ds[i]
        mos, ref = expected[item["name"]]
        assert item["img"].dtype == torch.uint8 and item["img"].dim() == 3 and item["img"].shape[0] == 3
        assert (math.isnan(item["mos"]) and math.isnan(mos)) or item["mos"] == pytest.approx(mos)
        if get_dataset_info(name).synthetic:
            assert Path(item["ref"]).stem == Path(ref).stem
        else:
            assert "ref" not in item
    # the catalogue count is enforced by default
    with pytest.raises(ValueError, match=f"catalogue expects {get_dataset_info(name).count}"):
        load_dataset(name, tmp_path / name)


def test_image_matches_file_and_float_dtype(tmp_path):
    fake_kadid10k(tmp_path)
    ds = load_dataset("kadid10k", tmp_path, check_count=False, dtype="float")
    item = ds[0]
    ref = np.array(Image.open(tmp_path / item["name"]).convert("RGB"))
    assert item["img"].dtype == torch.float32 and tuple(item["img"].shape) == (3, 10, 12)
    torch.testing.assert_close(item["img"], torch.from_numpy(ref).permute(2, 0, 1).float() / 255)
    assert ds.mos.dtype == torch.float64 and ds.mos.shape == (len(ds),)


def test_dataloader_collates(tmp_path):
    fake_kadid10k(tmp_path)
    ds = load_dataset("kadid10k", tmp_path, check_count=False)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch["img"].shape == (3, 3, 10, 12) and batch["mos"].dtype == torch.float64
    assert len(batch["name"]) == 3 and len(batch["ref"]) == 3


def test_livec_keep_trial_and_kadis_refs(tmp_path):
    fake_livec(tmp_path / "c")
    ds = load_dataset("clive", tmp_path / "c", check_count=False, keep_trial=True)
    assert len(ds) == 11 and ds.records[0].name == "Images/trainingImages/t1.bmp"
    with pytest.raises(ValueError, match="expects 1169"):
        load_dataset("livec", tmp_path / "c", keep_trial=True)
    fake_kadis700k(tmp_path / "k")
    assert len(load_dataset("kadis", tmp_path / "k", check_count=False, part="ref")) == 3


def test_koniq_label_and_official_split(tmp_path):
    fake_koniq10k(tmp_path)
    ds = load_dataset("koniq10k", tmp_path, split="official_split", phase="train", check_count=False, label="MOS")
    assert [r.mos for r in ds.records] == [2.0, 2.5, 3.0]
    assert len(load_dataset("koniq10k", tmp_path, split="official_split", phase="val", check_count=False)) == 1
    with pytest.raises(TypeError, match="unknown option"):
        load_dataset("koniq10k", tmp_path, check_count=False, labels="MOS")
    with pytest.raises(ValueError, match="no official split"):
        fake_spaq(tmp_path / "s")
        load_dataset("spaq", tmp_path / "s", split="official_split", check_count=False)


@pytest.mark.parametrize("name", list(LABEL_FILE))
def test_missing_label_file_names_it_and_shows_layout(tmp_path, name):
    FAKES[name](tmp_path)
    (tmp_path / LABEL_FILE[name]).unlink()
    if name == "koniq10k":
        (tmp_path / "koniq10k_distributions_sets.csv").unlink()
    with pytest.raises(DatasetLayoutError) as info:
        load_dataset(name, tmp_path, check_count=False)
    msg = str(info.value)
    assert str(tmp_path / LABEL_FILE[name]) in msg and "Expected layout" in msg
    assert Path(LABEL_FILE[name]).name in get_dataset_info(name).layout


def test_missing_root(tmp_path):
    with pytest.raises(DatasetLayoutError, match="dataset folder"):
        load_dataset("csiq", tmp_path / "nowhere")


def test_missing_image_raises_or_skips_and_reports(tmp_path):
    expected = fake_csiq(tmp_path)
    gone = sorted(expected)[0]
    (tmp_path / gone).unlink()
    with pytest.raises(DatasetLayoutError, match=r"1 of 6 listed images missing") as info:
        load_dataset("csiq", tmp_path, check_count=False)
    assert str(tmp_path / gone) in str(info.value)
    with pytest.warns(UserWarning, match=r"skipped 1 of 6 image\(s\): " + gone.replace(".", r"\.")):
        ds = load_dataset("csiq", tmp_path, check_count=False, on_error="skip")
    assert len(ds) == 5 and ds.skipped == [(gone, "missing")]


def test_corrupt_image(tmp_path):
    expected = fake_tid2013(tmp_path)
    bad = sorted(expected)[1]
    (tmp_path / bad).write_bytes(b"BM not really a bitmap")
    ds = load_dataset("tid2013", tmp_path, check_count=False)  # no decoding up front
    idx = [r.name for r in ds.records].index(bad)
    with pytest.raises(OSError, match=Path(bad).name + ": cannot decode image file"):
        ds[idx]
    with pytest.raises(OSError, match=Path(bad).name):
        load_dataset("tid2013", tmp_path, check_count=False, verify=True)
    with pytest.warns(UserWarning, match="corrupt"):
        ds = load_dataset("tid2013", tmp_path, check_count=False, verify=True, on_error="skip")
    assert len(ds) == 5 and ds.skipped[0][0] == bad


def test_malformed_label_files(tmp_path):
    fake_kadid10k(tmp_path / "k")
    _csv(tmp_path / "k" / "dmos.csv", ["dist_img", "ref", "dmos", "var"], [["I01_01_01.png", "I01.png", 3, 0]])
    with pytest.raises(ValueError, match="no column 'ref_img'"):
        load_dataset("kadid10k", tmp_path / "k", check_count=False)
    fake_csiq(tmp_path / "c")
    (tmp_path / "c" / "csiq_label.txt").write_text("1600.AWGN.1.png zero\n")
    with pytest.raises(ValueError, match="'zero' is not a number"):
        load_dataset("csiq", tmp_path / "c", check_count=False)


def test_argument_errors(tmp_path):
    fake_flive(tmp_path)
    with pytest.raises(ValueError, match="phase needs a split"):
        load_dataset("flive", tmp_path, phase="train", check_count=False)
    with pytest.raises(ValueError, match="dtype"):
        load_dataset("flive", tmp_path, dtype="half", check_count=False)
    with pytest.raises(ValueError, match="on_error"):
        load_dataset("flive", tmp_path, on_error="ignore", check_count=False)
    with pytest.raises(ValueError, match="not 'official_split' or of the form"):
        load_dataset("flive", tmp_path, split="random80", check_count=False)
