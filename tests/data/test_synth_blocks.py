"""skimage-synth-blocks: the embedded spatially heterogeneous set (pyiqa_fast.data.synth.generate_blocks).

Small sizes, few photos and few images per photo: each generation takes well under a second.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("skimage")

from pyiqa_fast.data import get_dataset_info, load_dataset, synth  # noqa: E402
from pyiqa_fast.data.synth import PHOTOS, generate_blocks  # noqa: E402
from pyiqa_fast.distortions import BlockDegradation, resolve_partition, spec  # noqa: E402
from pyiqa_fast.distortions.registry import shdiqa4_levels, type_list  # noqa: E402
from pyiqa_fast.ops import distort  # noqa: E402

NAME = "skimage-synth-blocks"
FEW = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle")
OPTS = {"size": 64, "photos": FEW, "per_photo": 6}


def test_registered_and_items_carry_the_block_labels():
    info = get_dataset_info("skimage-blocks")
    assert info.name == NAME and info.synthetic and info.count == len(PHOTOS) * 120
    ds = load_dataset(NAME, None, **OPTS)
    assert len(ds) == len(FEW) * 6 and ds.partition == (1, 2)
    item = ds[7]
    assert sorted(item) == ["block_levels", "block_types", "img", "mos", "name", "partition", "ref"]
    assert item["img"].dtype == torch.uint8 and item["img"].shape == (3, 64, 64) and item["ref"] == "coffee.png"
    assert isinstance(item["block_types"], list) and len(item["block_types"]) == 2 and item["partition"] == (1, 2)
    assert all(isinstance(v, int) for v in item["block_types"] + item["block_levels"])
    assert 0.0 <= item["mos"] <= 100.0
    names = [spec(t).name for t in item["block_types"]]
    assert item["name"].startswith("dist/coffee.001.") and all(n in item["name"] for n in names)
    assert torch.equal(ds.block_types, torch.tensor([ds[i]["block_types"] for i in range(len(ds))]))
    assert torch.equal(ds.block_levels, torch.tensor([ds[i]["block_levels"] for i in range(len(ds))]))
    f = load_dataset(NAME, None, dtype="float", **OPTS)[7]["img"]
    assert f.dtype == torch.float32 and torch.equal(f, item["img"].float() / 255)
    assert load_dataset(NAME, None, resize=(64, 64), photos=FEW, per_photo=6)[7]["name"] == item["name"]


def test_reproducible_per_seed_and_per_photo():
    a = generate_blocks(FEW[:2], 64, per_photo=6, seed=3)
    synth._MEMORY.clear()
    b = generate_blocks(FEW[:2], 64, per_photo=6, seed=3)
    assert a is not b
    for k in ("images", "mos", "block_types", "block_levels", "level_indices", "references"):
        assert torch.equal(a[k], b[k]), k
    assert a["names"] == b["names"] and a["refs"] == b["refs"]
    c = generate_blocks(FEW[:2], 64, per_photo=6, seed=4)
    assert not torch.equal(a["images"], c["images"]) and not torch.equal(a["block_types"], c["block_types"])
    # each photo's generator is seeded by (seed, partition, photo): a subset reproduces its photos
    d = generate_blocks(FEW[1:2], 64, per_photo=6, seed=3)
    assert torch.equal(d["images"], a["images"][6:]) and torch.equal(d["mos"], a["mos"][6:])
    h = generate_blocks(FEW[:2], 64, per_photo=6, seed=3, partition="horizontal")
    assert h["partition"] == [2, 1] and not torch.equal(h["block_types"], a["block_types"])


def test_generated_through_block_degradation():
    """The images are BlockDegradation's draws applied by distort (one implementation of the model)."""
    data = generate_blocks(FEW[2:3], 64, per_photo=5, seed=1, partition="grid2x2")
    grid = resolve_partition("grid2x2")
    g = torch.Generator().manual_seed(synth._photo_seed(1, grid, FEW[2]))
    params, types, labels = BlockDegradation(grid).sample(5, g, image_size=(64, 64))
    x = synth._reference(FEW[2], 64)[None].expand(5, -1, -1, -1).contiguous()
    y = distort(x, params, block_mode="composite").clamp(0, 1).mul(255).add(0.5).floor().to(torch.uint8)
    assert torch.equal(y, data["images"]) and torch.equal(types, data["block_types"])
    assert torch.equal(labels, data["block_levels"])


@pytest.mark.parametrize("partition", ["vertical", "horizontal", "grid2x2"])
def test_blocks_carry_distinct_types_at_kept_levels(partition):
    data = generate_blocks(FEW[:2], 64, per_photo=12, seed=0, partition=partition)
    t, lab, idx = data["block_types"], data["block_levels"], data["level_indices"]
    k = resolve_partition(partition)[0] * resolve_partition(partition)[1]
    assert t.shape == lab.shape == idx.shape == (24, k)
    assert all(len(set(row)) == k for row in t.tolist())  # a different type on every block
    allowed = set(type_list("shdiqa24")) - {spec("non_eccentricity").id}  # 49x49 does not fit 64x32 / 32x32
    assert set(t.flatten().tolist()) <= allowed and len(set(t.flatten().tolist())) > k
    assert lab.min() >= 0 and lab.max() <= 3  # shdiqa4: four level labels
    for ti, li, ii in zip(t.flatten().tolist(), lab.flatten().tolist(), idx.flatten().tolist(), strict=True):
        assert shdiqa4_levels(ti)[li] == ii


def test_pseudo_mos_is_ssim_of_the_whole_image_and_varies():
    data = generate_blocks(FEW[:3], 64, per_photo=8, seed=0)
    mos = data["mos"]
    assert mos.dtype == torch.float64 and ((0 <= mos) & (mos <= 100)).all() and mos.std() > 5
    refs = data["references"].float().div(255).repeat_interleave(8, dim=0)
    expect = 100 * synth.ssim(data["images"].float().div(255), refs).clamp(0, 1)
    assert torch.allclose(mos, expect, atol=1e-9)


@pytest.mark.parametrize("split", ["ratio82_seed0_split00", "train40_seed3_split01"])
def test_splits_are_disjoint_by_reference_photo(split):
    tr = load_dataset(NAME, None, split=split, phase="train", **OPTS)
    te = load_dataset(NAME, None, split=split, phase="test", **OPTS)
    r_tr, r_te = {r.ref_name for r in tr.records}, {r.ref_name for r in te.records}
    assert r_tr and r_te and not r_tr & r_te and r_tr | r_te == {f"{p}.png" for p in FEW}
    assert len(tr) + len(te) == len(FEW) * 6 and all(te[i]["ref"] in r_te for i in range(len(te)))
    assert torch.equal(te.block_types, torch.tensor([te[i]["block_types"] for i in range(len(te))]))
    again = load_dataset(NAME, None, split=split, phase="test", **OPTS)
    assert [r.name for r in again.records] == [r.name for r in te.records]


def test_the_demo_split_tests_on_astronaut_and_chelsea():
    te = load_dataset(NAME, None, split="ratio82_seed7_split00", phase="test", size=64, per_photo=2)
    assert {r.ref_name for r in te.records} == {"astronaut.png", "chelsea.png"} and len(te) == 4


def test_disk_cache_round_trip_and_a_foreign_file(tmp_path):
    synth._MEMORY.clear()
    a = generate_blocks(FEW[:2], 64, per_photo=4, seed=5, root=tmp_path)
    (cache,) = tmp_path.glob("skimage_synth_blocks_*.pt")
    synth._MEMORY.clear()
    b = generate_blocks(FEW[:2], 64, per_photo=4, seed=5, root=tmp_path)  # read back from the folder
    assert torch.equal(a["images"], b["images"]) and torch.equal(a["block_types"], b["block_types"])
    assert b["partition"] == [1, 2] and b["names"] == a["names"]
    ds = load_dataset(NAME, tmp_path, photos=FEW[:2], size=64, per_photo=4, seed=5)
    assert ds[0]["block_types"] == a["block_types"][0].tolist()
    torch.save({"images": 1}, cache)
    synth._MEMORY.clear()
    with pytest.warns(UserWarning, match="not a skimage-synth-blocks cache"):
        c = generate_blocks(FEW[:2], 64, per_photo=4, seed=5, root=tmp_path)
    assert torch.equal(a["images"], c["images"])
    synth._MEMORY.clear()
    assert torch.equal(generate_blocks(FEW[:2], 64, per_photo=4, seed=5, root=tmp_path)["mos"], a["mos"])


@pytest.mark.parametrize(("options", "error", "match"), [
    ({"partition": "whole"}, ValueError, r"partition must have at least 2 blocks .* got 'whole' = 1×1"),
    ({"partition": "diagonal"}, ValueError, r"skimage-synth-blocks: partition must be one of .* got 'diagonal'"),
    ({"per_photo": 0}, ValueError, "per_photo must be >= 1; got 0"),
    ({"per_photo": 2.5}, TypeError, r"per_photo must be an int; got 2.5 \(float\)"),
    ({"seed": "x"}, TypeError, r"seed must be an int; got 'x' \(str\)"),
    ({"levels": "five"}, ValueError, "skimage-synth-blocks: BlockDegradation: levels must be 'shdiqa4'"),
    ({"types": ["jpeg", "jpeg"]}, ValueError, r"types\[1\] = 'jpeg' repeats types\[0\]"),
    ({"types": [True, 3]}, TypeError, r"types\[0\] must be a type id"),
    ({"block_mode": "paste"}, ValueError, "block_mode must be 'composite' or 'crop', got 'paste'"),
    ({"partition": (1, 2), "types": ["non_eccentricity", "jpeg"]}, ValueError,
     "a 64×64 image split into 1×2 blocks has blocks of 64×32 pixels"),
    ({"photos": "astronaut"}, ValueError, "photos must be a sequence of photo names, not the str 'astronaut'"),
    ({"size": 32}, ValueError, "size must be >= 64; got 32"),
    ({"resize": (64, 96)}, ValueError, r"images are square; resize must be \(s, s\)"),
    ({"bogus": 1}, TypeError, r"skimage-synth-blocks: unknown option\(s\) \['bogus'\]; this dataset accepts size"),
])
def test_bad_options_are_named(options, error, match):
    kwargs = {"size": 64, "photos": FEW[:1], "per_photo": 2, **options}
    with pytest.raises(error, match=match):
        load_dataset(NAME, None, **kwargs)


def test_bad_split_and_phase():
    with pytest.raises(ValueError, match="skimage-synth-blocks has no official split"):
        load_dataset(NAME, None, split="official_split", **OPTS)
    with pytest.raises(ValueError, match="a phase needs a split"):
        load_dataset(NAME, None, phase="test", **OPTS)
    with pytest.raises(TypeError, match="skimage-synth-blocks is generated; it reads no meta CSV"):
        load_dataset(NAME, None, meta="x.csv", **OPTS)
