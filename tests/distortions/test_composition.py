"""BlockDegradation (SHDIQA BDM, METHODS.md §3.2), DSMix (METHODS.md §4.3), create_distortion."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from pyiqa_fast.distortions import BlockDegradation, DSMix, create_distortion, sample_params, spec
from pyiqa_fast.distortions.block import token_block_map
from pyiqa_fast.distortions.params import block_bounds
from pyiqa_fast.distortions.registry import shdiqa4_levels
from pyiqa_fast.ops import distort, dsm_pool


def _photos(batch=4, size=64):
    g = torch.Generator().manual_seed(0)
    base = torch.rand(batch, 3, size // 8, size // 8, generator=g)
    return torch.nn.functional.interpolate(base, size=(size, size), mode="bilinear", align_corners=False)


@pytest.mark.parametrize("partition, blocks, expected_map", [
    ("vertical", 2, [[0] * 7 + [1] * 7] * 14),
    ("horizontal", 2, [[0] * 14] * 7 + [[1] * 14] * 7),
    ("grid2x2", 4, [[0] * 7 + [1] * 7] * 7 + [[2] * 7 + [3] * 7] * 7),
])
def test_block_degradation_outputs_and_token_map(partition, blocks, expected_map):
    bdm = BlockDegradation(partition)
    g = torch.Generator().manual_seed(1)
    x = _photos(6, 224)
    out = bdm(x, generator=g)
    assert out.degraded.shape == x.shape and out.degraded.dtype == x.dtype
    assert out.block_map.dtype == torch.int8 and out.block_map.shape == (6, 14, 14)
    assert out.block_map[0].tolist() == expected_map
    assert out.type_labels.shape == (6, blocks) and out.level_labels.shape == (6, blocks)
    for row in out.type_labels.tolist():
        assert len(set(row)) == blocks and all(0 <= t < 24 for t in row)  # distinct types per sample
    assert int(out.level_labels.min()) >= 0 and int(out.level_labels.max()) <= 3
    # The level applied is the label-th kept level of the type (DISTORTIONS.md §10.3).
    for b in range(6):
        for k in range(blocks):
            t, label = int(out.type_labels[b, k]), int(out.level_labels[b, k])
            assert int(out.params.levels[b, k, 0]) == shdiqa4_levels(t)[label]
    # Replaying the record reproduces the batch bitwise.
    assert torch.equal(distort(x, out.params), out.degraded)


def test_block_degradation_levels_drop_the_near_identity_level():
    assert shdiqa4_levels(spec("mean_shift").id) == (0, 1, 3, 4)
    assert shdiqa4_levels(spec("contrast").id) == (0, 1, 3, 4)
    assert shdiqa4_levels(spec("gaussian_blur").id) == (1, 2, 3, 4)


def test_block_degradation_is_seeded_by_the_generator_and_blocks_are_composite():
    bdm = BlockDegradation("vertical")
    x = _photos(3, 64)
    a = bdm(x, generator=torch.Generator().manual_seed(5))
    b = bdm(x, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.degraded, b.degraded) and torch.equal(a.type_labels, b.type_labels)
    for k, (y0, y1, x0, x1) in enumerate(block_bounds(64, 64, (1, 2))):
        pick = lambda t: t[:, k : k + 1].contiguous()  # noqa: E731
        whole = replace(a.params, types=pick(a.params.types), levels=pick(a.params.levels),
                        values=pick(a.params.values), seeds=pick(a.params.seeds), aux=pick(a.params.aux),
                        partition=(1, 1))
        assert torch.equal(a.degraded[..., y0:y1, x0:x1], distort(x, whole)[..., y0:y1, x0:x1])


def test_block_degradation_chains():
    bdm = BlockDegradation("vertical", max_per_block=2, chain_prob=1.0)
    out = bdm(_photos(4, 64), generator=torch.Generator().manual_seed(2))
    assert out.params.types.shape == (4, 2, 2)
    assert bool((out.params.types[..., 1] >= 0).all())
    assert bool((out.params.levels[..., 1] <= out.params.levels[..., 0]).all())
    assert torch.equal(out.params.types[..., 0].long(), out.type_labels)


@pytest.mark.parametrize("kwargs, message", [
    (dict(partition="diagonal"), "partition must be one of"),
    (dict(partition=(5, 5)), "25 blocks need as many distinct types, the type list has 24"),
    (dict(types="shdiqa24", preset="kadis"), "are not defined in preset 'kadis'"),
    (dict(levels=(0, 7)), "levels must be 'shdiqa4', 'all' or distinct level indices (ints) in 0..4"),
    (dict(max_per_block=3), "max_per_block must be 1 or 2, got 3"),
    (dict(block_mode="tiles"), "block_mode must be 'composite' or 'crop'"),
])
def test_block_degradation_errors(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        BlockDegradation(**kwargs)


@pytest.mark.parametrize("kwargs, error, fragments", [
    (dict(types=(-1, 5), preset="arniqa"), ValueError, ["types[0]", "int in [0, 28]", "got -1"]),
    (dict(types=(5, 29)), ValueError, ["types[1]", "got 29"]),
    (dict(types=(5, "gaussian_blurr")), ValueError, ["types[1]", "unknown distortion 'gaussian_blurr'"]),
    (dict(types=(5, 13, "gaussian_blur")), ValueError, ["types[2] = 'gaussian_blur' repeats types[0] = 5",
                                                        "distinct types"]),
    (dict(types=(True, 5)), TypeError, ["types[0]", "int) or name (str)", "True", "bool"]),
    (dict(types=(5.0, 13)), TypeError, ["types[0]", "5.0", "float"]),
    (dict(types=5), TypeError, ["types must be a type list name or a sequence", "int"]),
    (dict(types="shdiqa25"), ValueError, ["type list must be one of", "'shdiqa25'"]),
    (dict(levels=(1, 1, 2)), ValueError, ["distinct level indices", "(1, 1, 2)"]),
    (dict(levels=(True, 2)), ValueError, ["distinct level indices", "(True, 2)"]),
    (dict(levels=(0.5, 2)), ValueError, ["distinct level indices", "(0.5, 2)"]),
    (dict(levels="four"), ValueError, ["levels must be 'shdiqa4', 'all'", "'four'"]),
    (dict(max_per_block=True), ValueError, ["max_per_block must be 1 or 2, got True"]),
    (dict(chain_prob="0.1"), TypeError, ["chain_prob must be a real number, got str"]),
    (dict(chain_prob=float("nan")), ValueError, ["chain_prob must be in [0, 1], got nan"]),
    (dict(patch_size=0), ValueError, ["patch_size must be >= 1, got 0"]),
    (dict(patch_size=16.0), TypeError, ["patch_size must be an int, got float"]),
])
def test_block_degradation_validates_types_and_options(kwargs, error, fragments):
    with pytest.raises(error) as info:
        BlockDegradation(**kwargs)
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {info.value}"


def test_block_degradation_accepts_ids_and_names_in_order():
    bdm = BlockDegradation(types=("jpeg", 5, "lens_blur"))
    assert bdm.type_ids == (13, 5, 6)


def test_default_block_degradation_draws_only_types_that_fit_small_crops():
    # non_eccentricity needs 49×49 blocks (registry.MIN_REGION): a 64×64 crop split vertically has
    # 64×32 blocks, so it is never drawn there, and still is at 224×224.
    non_ecc = spec("non_eccentricity").id
    x = _photos(4, 64)
    for mode in ("composite", "crop"):
        bdm = BlockDegradation(block_mode=mode)
        for seed in range(20):
            out = bdm(x, generator=torch.Generator().manual_seed(seed))
            assert not bool((out.type_labels == non_ecc).any())
            assert torch.equal(out.params.types[..., 0].long(), out.type_labels)  # labels name what was applied
            for row in out.type_labels.tolist():
                assert len(set(row)) == 2
    assert not bool(BlockDegradation().fitting_types(64, 64)[non_ecc])
    _, labels, _ = BlockDegradation().sample(64, torch.Generator().manual_seed(0), image_size=(224, 224))
    assert bool((labels == non_ecc).any())
    # 2×2 blocks of a 96×96 image are 48×48 (too small), of 112×112 56×56.
    grid = BlockDegradation("grid2x2", max_per_block=2, chain_prob=1.0)
    assert int(grid.fitting_types(96, 96).sum()) == 23 and bool(grid.fitting_types(112, 112).all())
    params, labels, _ = grid.sample(64, torch.Generator().manual_seed(1), image_size=(96, 96))
    assert not bool((params.types == non_ecc).any())  # the chained second types fit, too
    params, labels, _ = grid.sample(64, torch.Generator().manual_seed(1), image_size=(112, 112))
    assert bool((params.types == non_ecc).any())


def test_block_degradation_refuses_when_too_few_types_fit():
    bdm = BlockDegradation(types=("non_eccentricity", "jpeg"))
    with pytest.raises(ValueError) as info:
        bdm(_photos(2, 64), generator=torch.Generator().manual_seed(0))
    for fragment in ("64×64 image split into 1×2 blocks", "blocks of 64×32 pixels", "non_eccentricity needs 49×49",
                     "only 1 of the 2 types fit", "the 2 distinct types the blocks need"):
        assert fragment in str(info.value), f"{fragment!r} not in {info.value}"
    assert bdm(_photos(1, 112), generator=torch.Generator().manual_seed(0)).type_labels.shape == (1, 2)


@pytest.mark.parametrize("x, error, fragment", [
    (torch.rand(3, 64, 64), ValueError, "x must have shape (B, 3, H, W), got (3, 64, 64)"),
    (torch.rand(1, 3, 64, 72), ValueError, "multiples of patch_size = 16 (one block id per token), got 64×72"),
    ([1.0], TypeError, "x must be a torch.Tensor, got list"),
])
def test_block_degradation_forward_errors(x, error, fragment):
    with pytest.raises(error) as info:
        BlockDegradation()(x)
    assert fragment in str(info.value)


def test_token_block_map_for_odd_grids():
    m = token_block_map(96, 64, (3, 2), 16)
    assert m.shape == (6, 4)
    assert m.tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3], [4, 4, 5, 5], [4, 4, 5, 5]]


# ---------------------------------------------------------------------------------------------
# DSMix
# ---------------------------------------------------------------------------------------------

def _mix_inputs(batch=8, size=32):
    g = torch.Generator().manual_seed(3)
    x = torch.rand(batch, 3, size, size, generator=g)
    types = torch.arange(batch) % 5
    levels = torch.arange(batch) % 3
    dsm = torch.rand(batch, 1, size // 8, size // 8, generator=g)
    return x, types, levels, dsm


@pytest.mark.parametrize("mix", [2, 3])
def test_dsmix_mixes_pixels_by_masks_and_weights_by_dsm_energy(mix):
    x, types, levels, dsm = _mix_inputs()
    out = DSMix(mix=mix, n_types=5, n_levels=3)(x, types, levels, dsm=dsm, generator=torch.Generator().manual_seed(0))
    assert out.mixed.shape == x.shape and out.sources.shape == (8, mix)
    assert torch.equal(out.sources[:, 0], torch.arange(8))
    assert bool((out.masks.sum(1) == 1).all())  # every pixel has exactly one visible source
    up = torch.nn.functional.interpolate(dsm, size=(32, 32), mode="bilinear", align_corners=False)
    for b in range(8):
        used = [int(s) for s in out.sources[b] if s >= 0]
        categories = {(int(types[s]), int(levels[s])) for s in used}
        assert len(categories) == len(used)  # distinct categories
        energy = torch.tensor([float((out.masks[b, j] * up[s, 0]).sum()) for j, s in enumerate(used)])
        torch.testing.assert_close(out.weights[b, : len(used)], (energy / energy.sum()).float())
        for j, s in enumerate(used):
            assert torch.equal(out.mixed[b][:, out.masks[b, j]], x[s][:, out.masks[b, j]])
    torch.testing.assert_close(out.type_targets.sum(1), torch.ones(8))
    torch.testing.assert_close(out.level_targets.sum(1), torch.ones(8))
    expected = torch.zeros(8, 5)
    for b in range(8):
        for j in range(mix):
            if out.sources[b, j] >= 0:
                expected[b, types[out.sources[b, j]]] += out.weights[b, j]
    torch.testing.assert_close(out.type_targets, expected)


def test_dsmix_area_weights_are_visible_area_shares_and_references_are_not_mixed():
    x, types, levels, _ = _mix_inputs()
    pristine = torch.zeros(8, dtype=torch.bool)
    pristine[:2] = True
    out = DSMix(mix=3, weights="area", n_types=5, n_levels=3)(x, types, levels, is_reference=pristine,
                                                               generator=torch.Generator().manual_seed(1))
    area = out.masks.flatten(2).sum(-1).float() / (32 * 32)
    torch.testing.assert_close(out.weights, area)
    assert torch.equal(out.mixed[:2], x[:2]) and bool((out.sources[:2, 1:] == -1).all())
    assert not bool(torch.isin(out.sources[2:, 1:], torch.tensor([0, 1])).any())


def test_dsmix_ground_truth_dsm_from_references_uses_dsm_pool():
    x, types, levels, _ = _mix_inputs()
    ref = torch.rand_like(x)
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    mixer = DSMix(mix=2, n_types=5, n_levels=3)
    from_ref = mixer(x, types, levels, ref=ref, generator=g1)
    given = mixer(x, types, levels, dsm=dsm_pool(ref, x, pool=8), generator=g2)
    torch.testing.assert_close(from_ref.weights, given.weights)


def test_dsmix_errors():
    x, types, levels, dsm = _mix_inputs()
    with pytest.raises(ValueError, match="mix must be 2 or 3, got 4"):
        DSMix(mix=4)
    with pytest.raises(ValueError, match="weights='dsm' needs dsm="):
        DSMix(n_types=5, n_levels=3)(x, types, levels)
    with pytest.raises(ValueError, match=r"type_labels must be in \[0, 4\)"):
        DSMix(n_types=4, n_levels=3)(x, types, levels, dsm=dsm)
    with pytest.raises(ValueError, match=r"dsm must have shape \(B, 1, h, w\) with B = 8"):
        DSMix(n_types=5, n_levels=3)(x, types, levels, dsm=dsm[:3])


def test_dsmix_signed_dsm_is_clamped_at_zero():
    # A DSM predictor's raw output dips below 0: the map clamps at 0 (DSMix's docstring), so the
    # weights stay in [0, 1] and the soft labels non-negative.
    x, types, levels, _ = _mix_inputs()
    signed = 3 * torch.randn(8, 1, 4, 4, generator=torch.Generator().manual_seed(7))
    assert float(signed.min()) < 0
    mixer = DSMix(mix=3, n_types=5, n_levels=3)
    out = mixer(x, types, levels, dsm=signed, generator=torch.Generator().manual_seed(0))
    clamped = mixer(x, types, levels, dsm=signed.clamp_min(0), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.weights, clamped.weights)
    assert float(out.weights.min()) >= 0 and float(out.weights.max()) <= 1
    assert float(out.type_targets.min()) >= 0 and float(out.level_targets.min()) >= 0
    # A map negative everywhere has no energy: the area share.
    negative = mixer(x, types, levels, dsm=-torch.ones(8, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    area = DSMix(mix=3, weights="area", n_types=5, n_levels=3)(x, types, levels,
                                                                generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(negative.weights, area.weights)


@pytest.mark.parametrize("mix", [2, 3])
@pytest.mark.parametrize("case", ["signed", "zero", "huge", "float64", "ref", "area", "pristine"])
def test_dsmix_soft_labels_sum_to_one_for_every_sample(mix, case):
    x, types, levels, dsm = _mix_inputs()
    kwargs = {"signed": dict(dsm=dsm - 0.5), "zero": dict(dsm=torch.zeros_like(dsm)),
              "huge": dict(dsm=torch.full_like(dsm, 1e38)),  # finite; its float32 energy would overflow
              "float64": dict(dsm=dsm.double() * 1e300), "ref": dict(ref=torch.rand_like(x)), "area": {},
              "pristine": dict(dsm=dsm, is_reference=torch.arange(8) < 3)}[case]
    mixer = DSMix(mix=mix, weights="area" if case == "area" else "dsm", n_types=5, n_levels=3)
    for seed in range(4):
        out = mixer(x, types, levels, generator=torch.Generator().manual_seed(seed), **kwargs)
        for targets in (out.type_targets, out.level_targets):
            assert bool(torch.isfinite(targets).all()) and float(targets.min()) >= 0
            torch.testing.assert_close(targets.sum(1), torch.ones(8))
        assert bool(((out.weights >= 0) & (out.weights <= 1)).all())


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_dsmix_refuses_non_finite_dsm(value):
    x, types, levels, dsm = _mix_inputs()
    dsm[3, 0, 1, 2] = value
    with pytest.raises(ValueError, match=f"dsm must be finite, got {value}"):
        DSMix(n_types=5, n_levels=3)(x, types, levels, dsm=dsm)
    x[2, 0, 0, 0] = value  # reaches the ground-truth map through dsm_pool(ref, x)
    with pytest.raises(ValueError, match=r"the ground-truth DSM dsm_pool\(ref, x\) must be finite"):
        DSMix(n_types=5, n_levels=3)(x, types, levels, ref=torch.rand_like(x))


@pytest.mark.parametrize("call, error, fragments", [
    (lambda m, x, t, lv, d: m(x[0], t, lv, dsm=d), ValueError, ["x must have shape (B, 3, H, W)", "(3, 32, 32)"]),
    (lambda m, x, t, lv, d: m(x[:, :2], t, lv, dsm=d), ValueError,
     ["x must have shape (B, 3, H, W)", "(8, 2, 32, 32)"]),
    (lambda m, x, t, lv, d: m(x.int(), t, lv, dsm=d), TypeError, ["x must have dtype uint8, float16", "int32"]),
    (lambda m, x, t, lv, d: m(x.bool(), t, lv, dsm=d), TypeError, ["x must have dtype", "bool"]),
    (lambda m, x, t, lv, d: m(x[..., :0], t, lv, dsm=d), ValueError, ["x must have H, W >= 1", "(8, 3, 32, 0)"]),
    (lambda m, x, t, lv, d: m(x.tolist(), t, lv, dsm=d), TypeError, ["x must be a torch.Tensor", "list"]),
    (lambda m, x, t, lv, d: m(x, t.float(), lv, dsm=d), TypeError, ["type_labels", "integer", "float32"]),
    (lambda m, x, t, lv, d: m(x, t, lv.bool(), dsm=d), TypeError, ["level_labels", "integer", "bool"]),
    (lambda m, x, t, lv, d: m(x, t.view(2, 4), lv, dsm=d), ValueError, ["type_labels", "(8,) or (8, 1)", "(2, 4)"]),
    (lambda m, x, t, lv, d: m(x, t, [0] * 8, dsm=d), TypeError, ["level_labels", "torch.Tensor", "list"]),
    (lambda m, x, t, lv, d: m(x, t, lv, dsm=d, is_reference=torch.zeros(8)), TypeError,
     ["is_reference", "bool", "float32"]),
    (lambda m, x, t, lv, d: m(x, t, lv, dsm=d, is_reference=torch.zeros(3, dtype=torch.bool)), ValueError,
     ["is_reference", "(8,) or (8, 1)", "(3,)"]),
    (lambda m, x, t, lv, d: m(x, t, lv, ref=x[..., :16]), ValueError,
     ["ref", "shape of x (8, 3, 32, 32)", "(8, 3, 32, 16)"]),
    (lambda m, x, t, lv, d: m(x, t, lv, ref=x.double()), TypeError, ["ref", "dtype of x", "float32", "float64"]),
    (lambda m, x, t, lv, d: m(x, t, lv, ref=x.to("meta")), ValueError, ["ref", "x's device", "meta"]),
    (lambda m, x, t, lv, d: m(x, t, lv, dsm=d.long()), TypeError, ["dsm", "floating-point", "int64"]),
    (lambda m, x, t, lv, d: m(x, t, lv, dsm=d[:, 0]), ValueError, ["dsm", "(B, 1, h, w)", "(8, 4, 4)"]),
    (lambda m, x, t, lv, d: m(x, t, lv, dsm=d[..., :0]), ValueError, ["dsm", "h, w >= 1", "(8, 1, 4, 0)"]),
    (lambda m, x, t, lv, d: m(x, t, lv, dsm=d.to("meta")), ValueError, ["dsm", "x's device", "meta"]),
    (lambda m, x, t, lv, d: m(x, t, lv, dsm=d.numpy()), TypeError, ["dsm", "torch.Tensor", "ndarray"]),
    (lambda m, x, t, lv, d: DSMix(eps=0.0), ValueError, ["eps", "> 0", "0.0"]),
    (lambda m, x, t, lv, d: DSMix(eps=float("nan")), ValueError, ["eps", "finite", "nan"]),
    (lambda m, x, t, lv, d: DSMix(n_types=0), ValueError, ["n_types", ">= 1", "got 0"]),
    (lambda m, x, t, lv, d: DSMix(n_levels=5.0), TypeError, ["n_levels", "int", "float"]),
    (lambda m, x, t, lv, d: DSMix(pool=True), TypeError, ["pool", "int", "bool"]),
    (lambda m, x, t, lv, d: DSMix(mix=True), ValueError, ["mix must be 2 or 3", "True"]),
])
def test_dsmix_input_errors(call, error, fragments):
    x, types, levels, dsm = _mix_inputs()
    with pytest.raises(error) as info:
        call(DSMix(n_types=5, n_levels=3), x, types, levels, dsm)
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {info.value}"


def test_dsmix_empty_batch_and_column_labels():
    x, types, levels, dsm = _mix_inputs()
    mixer = DSMix(n_types=5, n_levels=3)
    empty = mixer(x[:0], types[:0], levels[:0], dsm=dsm[:0])
    assert empty.mixed.shape == (0, 3, 32, 32) and empty.type_targets.shape == (0, 5)
    assert empty.sources.shape == (0, 3) and empty.masks.shape == (0, 3, 32, 32)
    a = mixer(x, types, levels, dsm=dsm, generator=torch.Generator().manual_seed(2))
    b = mixer(x, types.view(8, 1), levels.view(8, 1), dsm=dsm, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a.type_targets, b.type_targets)


def test_create_distortion():
    d = create_distortion("gaussian_blur", levels=2)
    x = _photos(2, 32)
    out = d(x, generator=torch.Generator().manual_seed(0))
    params = d.sample(2, generator=torch.Generator().manual_seed(0))
    assert params.levels.flatten().tolist() == [2, 2] and params.types.flatten().tolist() == [5, 5]
    assert torch.equal(out, distort(x, params))
    assert not torch.equal(out, distort(x, sample_params([5, 5], [3, 3], seed=0)))
    with pytest.raises(ValueError, match="'resize_bicubic' is not defined in preset 'arniqa'"):
        create_distortion("resize_bicubic", preset="arniqa")
    with pytest.raises(ValueError, match="levels must be indices in 0..4"):
        create_distortion("jpeg", levels=(5,))
    assert "gaussian_blur" in repr(d)


@pytest.mark.needs_cuda
def test_block_degradation_and_dsmix_never_synchronise_on_cuda():
    x = torch.rand(8, 3, 64, 64, device="cuda")
    bdm = BlockDegradation(partition="grid2x2", types=list(range(8))).cuda()
    mixer = DSMix(mix=3, n_types=24, n_levels=4)
    bdm(x)  # warm-up: kernels load, pinned pools allocate
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = bdm(x)
        mixed = mixer(out.degraded, out.type_labels[:, 0], out.level_labels[:, 0], ref=x)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert mixed.mixed.shape == x.shape and mixed.type_targets.device.type == "cuda"
