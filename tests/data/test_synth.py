"""skimage-synth: the embedded smoke-scale set (pyiqa_fast.data.synth). Small sizes, a few photos: fast."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("skimage")

from pyiqa_fast.data import get_dataset_info, load_dataset  # noqa: E402
from pyiqa_fast.data.synth import generate, ssim  # noqa: E402

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle")
OPTS = {"size": 64, "photos": PHOTOS}


def test_registered_and_items_follow_the_loader_convention():
    assert get_dataset_info("skimage-synth").synthetic
    ds = load_dataset("skimage-synth", None, **OPTS)
    assert len(ds) == len(PHOTOS) * 24 * 5
    item = ds[7]
    assert sorted(item) == ["img", "mos", "name", "ref"]
    assert item["img"].dtype == torch.uint8 and item["img"].shape == (3, 64, 64)
    assert 0.0 <= item["mos"] <= 100.0 and item["ref"] == "astronaut.png"
    f = load_dataset("skimage-synth", None, dtype="float", **OPTS)[7]["img"]
    assert f.dtype == torch.float32 and torch.equal(f, item["img"].float() / 255)


def test_deterministic_and_disk_cache(tmp_path):
    a = generate(PHOTOS[:2], 64, seed=3)
    from pyiqa_fast.data import synth

    synth._MEMORY.clear()
    b = generate(PHOTOS[:2], 64, seed=3, root=tmp_path)
    assert torch.equal(a["images"], b["images"]) and torch.equal(a["mos"], b["mos"]) and a["names"] == b["names"]
    assert list(tmp_path.glob("skimage_synth_*.pt"))
    synth._MEMORY.clear()
    c = generate(PHOTOS[:2], 64, seed=3, root=tmp_path)  # read back from the folder
    assert torch.equal(a["images"], c["images"])
    assert not torch.equal(a["images"], generate(PHOTOS[:2], 64, seed=4)["images"])


def test_a_broken_cache_file_is_regenerated(tmp_path):
    from pyiqa_fast.data import synth

    synth._MEMORY.clear()  # written to the folder only when generated
    a = generate(PHOTOS[:2], 64, seed=3, root=tmp_path)
    (cache,) = tmp_path.glob("skimage_synth_*.pt")
    for broken in (b"", cache.read_bytes()[:500]):
        cache.write_bytes(broken)
        synth._MEMORY.clear()
        with pytest.warns(UserWarning, match=f"ignoring the cache file {cache}: unreadable"):
            b = generate(PHOTOS[:2], 64, seed=3, root=tmp_path)
        assert torch.equal(a["images"], b["images"]) and cache.stat().st_size > 1000  # rewritten
    torch.save({"images": 1}, cache)
    synth._MEMORY.clear()
    with pytest.warns(UserWarning, match="not a skimage-synth cache"):
        generate(PHOTOS[:2], 64, seed=3, root=tmp_path)


def test_splits_are_disjoint_by_reference_and_seeded():
    split = "ratio82_seed0_split00"
    tr = load_dataset("skimage-synth", None, split=split, phase="train", **OPTS)
    te = load_dataset("skimage-synth", None, split=split, phase="test", **OPTS)
    r_tr, r_te = {r.ref_name for r in tr.records}, {r.ref_name for r in te.records}
    assert r_tr and r_te and not r_tr & r_te and len(r_tr | r_te) == len(PHOTOS)
    assert len(tr) + len(te) == len(PHOTOS) * 120 and all(x["ref"] in r_te for x in (te[0], te[len(te) - 1]))
    again = load_dataset("skimage-synth", None, split=split, phase="test", **OPTS)
    assert [r.name for r in again.records] == [r.name for r in te.records]
    with pytest.raises(ValueError):
        load_dataset("skimage-synth", None, split="official_split", **OPTS)


@pytest.mark.parametrize("kind", ["gaussian_blur", "white_noise", "jpeg", "pixelate"])
def test_pseudo_mos_falls_with_level(kind):
    ds = load_dataset("skimage-synth", None, **OPTS)
    for photo in PHOTOS[:3]:
        mos = [r.mos for r in ds.records if r.name.startswith(f"dist/{photo}.{kind}.")]
        assert len(mos) == 5 and all(a >= b for a, b in zip(mos, mos[1:], strict=False)), (photo, mos)
        assert mos[0] > mos[-1]


def test_ssim_matches_scikit_image():
    from skimage.metrics import structural_similarity

    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 40, 48, generator=g)
    y = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    ours = ssim(x, y)
    for i in range(2):
        ref = structural_similarity(x[i].numpy(), y[i].numpy(), channel_axis=0, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, data_range=1.0)
        assert abs(float(ours[i]) - float(ref)) < 1e-5
    assert abs(float(ssim(x, x)[0]) - 1.0) < 1e-6
