"""The distort op as a whole (DISTORTIONS.md §5, §8.5, §10.5): Philox, the parameter record,
reproducibility, block semantics, ranges, dtypes, errors, opcheck and torch.compile, for every
SHDIQA type. Per-operator maths is tested in test_{pointwise,stencil,resample,codec}.py."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyiqa_fast import BackendUnavailableError
from pyiqa_fast.distortions import SPECS, DistortionParams, list_distortions, philox, sample_params, spec
from pyiqa_fast.distortions.params import AUX_SIZE, block_bounds
from pyiqa_fast.ops import distort
from tests._utils import assert_close

SHDIQA = list(range(24))
NAMES = {t: SPECS[t].name for t in range(len(SPECS))}
# Types whose output at a pixel depends only on that pixel (and its Philox draws).
POINTWISE = [spec(n).id for n in ("mean_shift", "contrast", "white_noise", "white_noise_ycbcr", "impulse_noise",
                                  "multiplicative_noise", "brighten", "darken", "saturate")]
PLACED = [spec("color_block").id, spec("non_eccentricity").id]
RANDOM_FIELD = [spec(n).id for n in ("white_noise", "white_noise_ycbcr", "impulse_noise", "multiplicative_noise",
                                     "denoise", "jitter")]
# fp64 agreement of cpu and reference (DISTORTIONS.md §10.5); JPEG: two libjpeg builds (Pillow's and
# the system's) may round a few samples differently.
FP64_ATOL = {spec("jpeg").id: 2 / 255}


def photo(size=(64, 64), batch=1, dtype=torch.float32):
    """Crops of scikit-image's photographs (real content: edges, flat areas, colour)."""
    from skimage import data

    images = [data.astronaut(), data.coffee(), data.chelsea()]
    out = []
    for b in range(batch):
        img = torch.from_numpy(images[b % 3]).permute(2, 0, 1)
        y0, x0 = 40 + (13 * b) % 120, 100 + (7 * b) % 120
        out.append(img[:, y0 : y0 + size[0], x0 : x0 + size[1]])
    return (torch.stack(out).to(torch.float64) / 255).to(dtype)


def single_type_params(type_id, level, batch=1, seed=0, preset="reiqa"):
    return sample_params([type_id] * batch, [level] * batch, preset=preset, seed=seed)


# ---------------------------------------------------------------------------------------------
# Philox and the record
# ---------------------------------------------------------------------------------------------

def test_philox_matches_random123_known_answers():
    t = lambda v: torch.tensor([v])  # noqa: E731
    cases = [((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
             ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
             ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
              (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))]
    for counter, key, expected in cases:
        words = philox.philox4x32_10(*map(t, counter), *map(t, key))
        assert tuple(int(w) for w in words) == expected


def test_philox_uniforms_and_normals_have_the_right_moments():
    xs, ys = philox.pixel_grid(256, 256)
    r = philox.draw(torch.tensor(12345), xs, ys, 0)
    u = philox.uniform(r[0])
    assert 0 <= float(u.min()) and float(u.max()) < 1
    assert abs(float(u.mean()) - 0.5) < 4 * (1 / 12 / u.numel()) ** 0.5
    n0, n1 = philox.box_muller(r[0], r[1])
    n = torch.cat([n0.flatten(), n1.flatten()])
    assert abs(float(n.mean())) < 4 / n.numel() ** 0.5
    assert abs(float(n.var()) - 1) < 4 * (2 / n.numel()) ** 0.5
    assert abs(float(torch.corrcoef(torch.stack([n0.flatten(), n1.flatten()]))[0, 1])) < 4 / n0.numel() ** 0.5


def test_sample_params_takes_values_from_the_preset_tables():
    p = sample_params(["jpeg", "motion_blur", 5], [0, 4, 2], preset="kadis", seed=1)
    assert p.types.flatten().tolist() == [13, 4, 5]
    assert p.values.flatten().tolist() == [43.0, 10.0, 1.0]
    assert p.aux.shape == (3, 1, 1, AUX_SIZE) and 0 <= float(p.aux.min()) and float(p.aux.max()) < 1
    q = sample_params(["jpeg", "motion_blur", 5], [0, 4, 2], preset="kadis", seed=1)
    for name in ("types", "levels", "values", "seeds", "aux"):
        assert torch.equal(getattr(p, name), getattr(q, name)), name
    r = sample_params(["jpeg", "motion_blur", 5], [0, 4, 2], preset="kadis", seed=2)
    assert not torch.equal(p.seeds, r.seeds)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert torch.equal(sample_params([1], [1], seed=g1).seeds, sample_params([1], [1], seed=g2).seeds)


@pytest.mark.parametrize("kwargs, message", [
    (dict(types=["blurry"], levels=[0]), "unknown distortion 'blurry'"),
    (dict(types=[99], levels=[0]), "types must be ids in [0, 28] or -1"),
    (dict(types=[5], levels=[5]), "levels must be in [0, 4], got 5"),
    (dict(types=[0], levels=[0], preset="kadis"), "'resize_bicubic' is not defined in preset 'kadis'"),
    (dict(types=[0], levels=[0], preset="matlab"), "preset must be one of reiqa, kadis, arniqa, got 'matlab'"),
    (dict(types=[[0, 1]], levels=[[0, 1, 2]]), "levels must have the shape of types (1, 2, 1), got (1, 3, 1)"),
    (dict(types=[[0, 1, 2]], levels=0, partition="vertical"), "partition 'vertical' has 2 blocks, types has K = 3"),
    (dict(types=[0], levels=[0], partition="diagonal"), "partition must be one of"),
    (dict(types=[0.5], levels=[0]), "types must hold ints or names"),
    (dict(types=[0], levels=[0], seed=1.5), "seed must be an int, a torch.Generator or None"),
])
def test_sample_params_errors_name_the_argument(kwargs, message):
    with pytest.raises((ValueError, TypeError)) as info:
        sample_params(kwargs.pop("types"), kwargs.pop("levels"), **kwargs)
    assert message in str(info.value)


def test_list_distortions_and_presets():
    assert list_distortions(types="shdiqa24") == [SPECS[i].name for i in range(24)]
    assert "resize_bicubic" not in list_distortions(preset="kadis")
    assert "denoise" not in list_distortions(preset="arniqa")
    assert len(list_distortions(types="arniqa24")) == 24


# ---------------------------------------------------------------------------------------------
# Backends, reproducibility, ranges
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("type_id", SHDIQA, ids=lambda t: NAMES[t])
def test_cpu_matches_reference_in_float64_at_every_level(type_id):
    x = photo((53, 61), batch=5, dtype=torch.float64)
    p = sample_params([type_id] * 5, list(range(5)), seed=type_id)
    expected = distort(x, p, backend="reference")
    assert_close(distort(x, p, backend="cpu"), expected, atol=FP64_ATOL.get(type_id, 1e-10), rtol=0,
                 what=f"{NAMES[type_id]} cpu vs reference, float64")


@pytest.mark.parametrize("type_id", SHDIQA, ids=lambda t: NAMES[t])
def test_same_record_is_bitwise_reproducible_at_any_batch_position(type_id):
    x = photo((56, 56), batch=3)
    p = sample_params([type_id] * 3, [4, 2, 3], seed=5)
    first = distort(x, p, backend="cpu")
    assert torch.equal(first, distort(x, p, backend="cpu"))
    order = [2, 0, 1]
    shuffled = distort(x[order], p.select(order), backend="cpu")
    assert torch.equal(shuffled, first[order])
    alone = distort(x[1:2], p.select([1]), backend="cpu")
    assert torch.equal(alone[0], first[1])


@pytest.mark.parametrize("type_id", SHDIQA, ids=lambda t: NAMES[t])
def test_outputs_stay_in_range_on_extreme_inputs(type_id):
    constant = torch.stack([torch.zeros(3, 52, 50), torch.ones(3, 52, 50), torch.full((3, 52, 50), 0.5)])
    x = torch.cat([constant, photo((52, 50), batch=2)])
    for level in range(5):
        y = distort(x, single_type_params(type_id, level, batch=5, seed=level), backend="cpu")
        assert torch.isfinite(y).all() and float(y.min()) >= 0 and float(y.max()) <= 1, (NAMES[type_id], level)


@pytest.mark.parametrize("type_id", [t for t in SHDIQA if NAMES[t] != "non_eccentricity"], ids=lambda t: NAMES[t])
def test_tiny_and_odd_images(type_id):
    for size in ((1, 1), (2, 3), (7, 5), (37, 53)):
        x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        p = single_type_params(type_id, 4, batch=2, seed=3)
        y = distort(x, p, backend="cpu")
        assert y.shape == x.shape and torch.isfinite(y).all()
        assert_close(y, distort(x, p, backend="reference"), atol=FP64_ATOL.get(type_id, 1e-10), rtol=0,
                     what=f"{NAMES[type_id]} at {size}")


def test_minimum_size_error_names_the_operator_and_the_minimum():
    p = single_type_params(spec("non_eccentricity").id, 0)
    with pytest.raises(ValueError, match=r"non_eccentricity needs a region of at least 49×49 pixels, got 48×64"):
        distort(torch.rand(1, 3, 48, 64), p)
    p = sample_params([[12, 5]], [[0, 0]], partition="vertical", seed=0)
    with pytest.raises(ValueError, match=r"got 64×40 \(block 0 of a 64×80 image"):
        distort(torch.rand(1, 3, 64, 80), p)


def test_dtypes_uint8_half_bfloat16():
    x = photo((40, 44), batch=2)
    p = sample_params([5, 14], [3, 3], seed=0)
    x8 = (x * 255).round().to(torch.uint8)
    y8 = distort(x8, p, backend="cpu")
    assert y8.dtype == torch.uint8 and torch.equal(y8, distort(x8, p, backend="reference"))
    y32 = distort(x8.float() / 255, p, backend="cpu")
    assert torch.equal(y8, torch.floor(y32 * 255 + 0.5).to(torch.uint8))
    for dtype in (torch.float16, torch.bfloat16):
        y = distort(x.to(dtype), p, backend="cpu")
        assert y.dtype == dtype
        assert torch.equal(y, distort(x.to(dtype).float(), p, backend="cpu").to(dtype))


def test_non_contiguous_and_channels_last_inputs():
    base = photo((48, 96), batch=2)
    p = sample_params([5, 21], [2, 2], seed=0)
    expected = distort(base[:, :, :, ::2].contiguous(), p, backend="cpu")
    assert torch.equal(distort(base[:, :, :, ::2], p, backend="cpu"), expected)
    cl = base.contiguous(memory_format=torch.channels_last)
    assert torch.equal(distort(cl, p, backend="cpu"), distort(base, p, backend="cpu"))


def test_float32_agrees_with_float64():
    x = photo((52, 56), batch=24)
    types = [t for t in SHDIQA]
    p = sample_params(types, [t % 5 for t in types], seed=11)
    y32 = distort(x, p, backend="cpu")
    y64 = distort(x.double(), p, backend="reference")
    for b, t in enumerate(types):
        # JPEG: the float32 image can round to a different uint8 sample than the float64 one.
        atol = 2 / 255 if NAMES[t] == "jpeg" else 1e-4
        assert_close(y32[b], y64[b], atol=atol, rtol=0, what=f"{NAMES[t]} float32 vs float64 reference")


# ---------------------------------------------------------------------------------------------
# Block semantics (§8.5)
# ---------------------------------------------------------------------------------------------

def _block_as_whole(p: DistortionParams, k: int) -> DistortionParams:
    """The record that applies block k's chain to the whole image."""
    pick = lambda t: t[:, k : k + 1].contiguous()  # noqa: E731
    return replace(p, types=pick(p.types), levels=pick(p.levels), values=pick(p.values), seeds=pick(p.seeds),
                   aux=pick(p.aux), partition=(1, 1))


@pytest.mark.parametrize("partition", ["vertical", "horizontal", "grid2x2", (3, 2)])
def test_composite_blocks_equal_the_whole_image_operator_restricted(partition):
    x = photo((100, 104), batch=6)
    rows, cols = {"vertical": (1, 2), "horizontal": (2, 1), "grid2x2": (2, 2)}.get(partition, partition)
    n_blocks = rows * cols
    # Colour blocks and patch copies are placed inside the block (§8.5), not the whole image.
    pool = [t for t in SHDIQA if t not in PLACED]
    g = torch.Generator().manual_seed(3)
    types = torch.stack([torch.tensor(pool)[torch.randperm(len(pool), generator=g)[:n_blocks]] for _ in range(6)])
    levels = torch.randint(0, 5, types.shape, generator=g)
    p = sample_params(types, levels, partition=partition, seed=9)
    y = distort(x, p, backend="cpu")
    for k, (y0, y1, x0, x1) in enumerate(block_bounds(100, 104, (rows, cols))):
        whole = distort(x, _block_as_whole(p, k), backend="cpu")
        assert torch.equal(y[:, :, y0:y1, x0:x1], whole[:, :, y0:y1, x0:x1]), f"block {k}"


@pytest.mark.parametrize("type_id", PLACED, ids=lambda t: NAMES[t])
def test_placed_operators_draw_positions_inside_each_block(type_id):
    x = photo((100, 120), batch=3)
    p = sample_params([[type_id] * 2] * 3, [[4, 4]] * 3, partition="vertical", seed=1)
    composite = distort(x, p, backend="cpu")
    assert torch.equal(distort(x, p, backend="cpu", block_mode="crop"), composite)
    for k, (y0, y1, x0, x1) in enumerate(block_bounds(100, 120, (1, 2))):
        inside = (composite[..., y0:y1, x0:x1] != x[..., y0:y1, x0:x1]).flatten(1).any(1)
        assert bool(inside.all()), f"block {k} unchanged"
    assert_close(distort(x.double(), p, backend="reference"), composite, atol=1e-6, rtol=0, what=NAMES[type_id])


@pytest.mark.parametrize("type_id", SHDIQA, ids=lambda t: NAMES[t])
def test_one_block_covering_the_image_is_the_whole_image_operator_in_both_modes(type_id):
    x = photo((60, 64), batch=2)
    p = single_type_params(type_id, 3, batch=2, seed=4)
    whole = distort(x, p, backend="cpu")
    assert torch.equal(distort(x, p, backend="cpu", block_mode="crop"), whole)
    assert torch.equal(distort(x, p, backend="reference", block_mode="crop"),
                       distort(x, p, backend="reference"))


def test_crop_blocks_are_the_operator_on_the_cut_out_block():
    x = photo((64, 120), batch=2)
    deterministic = [t for t in SHDIQA if t not in RANDOM_FIELD]
    for first in range(0, len(deterministic), 2):
        types = [[deterministic[first], deterministic[(first + 1) % len(deterministic)]]] * 2
        p = sample_params(types, [[4, 2], [1, 3]], partition="vertical", seed=first)
        y = distort(x, p, backend="cpu", block_mode="crop")
        for k, (y0, y1, x0, x1) in enumerate(block_bounds(64, 120, (1, 2))):
            alone = distort(x[:, :, y0:y1, x0:x1], _block_as_whole(p, k), backend="cpu")
            assert torch.equal(y[:, :, y0:y1, x0:x1], alone), (types[0], k)


@pytest.mark.parametrize("type_id", POINTWISE, ids=lambda t: NAMES[t])
def test_random_fields_are_keyed_by_image_coordinates(type_id):
    x = photo((64, 64), batch=1)
    p = sample_params([[type_id] * 4], [[4] * 4], partition="grid2x2", seed=2)
    p = replace(p, seeds=p.seeds[:, :1].expand(-1, 4, -1).contiguous(),
                aux=p.aux[:, :1].expand(-1, 4, -1, -1).contiguous())
    composite = distort(x, p, backend="cpu")
    assert torch.equal(distort(x, p, backend="cpu", block_mode="crop"), composite)
    whole = distort(x, _block_as_whole(p, 0), backend="cpu")
    assert torch.equal(composite, whole)


def test_chains_apply_in_order_with_a_clip_between():
    x = photo((50, 50), batch=1)
    p = sample_params([[[7, 8]]], [[[0, 3]]], seed=0)  # mean shift +0.15 then less contrast
    first = distort(x, _slot(p, 0), backend="cpu")
    expected = distort(first, _slot(p, 1), backend="cpu")
    assert torch.equal(distort(x, p, backend="cpu"), expected)
    assert_close(distort(x.double(), p, backend="reference"), expected, atol=1e-5, rtol=0, what="chain")
    empty = sample_params([[[-1, -1]]], [[[-1, -1]]], seed=0)
    assert torch.equal(distort(x, empty, backend="cpu"), x)


def _slot(p: DistortionParams, s: int) -> DistortionParams:
    pick = lambda t: t[:, :, s : s + 1].contiguous()  # noqa: E731
    return replace(p, types=pick(p.types), levels=pick(p.levels), values=pick(p.values), seeds=pick(p.seeds),
                   aux=pick(p.aux))


@settings(max_examples=12, deadline=None)
@given(height=st.integers(49, 70), width=st.integers(49, 90), partition=st.sampled_from(["whole", "vertical",
                                                                                         "horizontal"]),
       crop=st.booleans(), seed=st.integers(0, 2**40), data=st.data())
def test_hypothesis_cpu_matches_reference(height, width, partition, crop, seed, data):
    k = 1 if partition == "whole" else 2
    if partition == "vertical" and width < 98 or partition == "horizontal" and height < 98:
        types_pool = [t for t in SHDIQA if NAMES[t] != "non_eccentricity"]
    else:
        types_pool = SHDIQA
    types = data.draw(st.lists(st.lists(st.sampled_from(types_pool), min_size=k, max_size=k), min_size=1,
                               max_size=2))
    levels = data.draw(st.lists(st.lists(st.integers(0, 4), min_size=k, max_size=k), min_size=len(types),
                                max_size=len(types)))
    p = sample_params(types, levels, partition=partition, seed=seed)
    x = torch.rand(len(types), 3, height, width, generator=torch.Generator().manual_seed(seed % 1000),
                   dtype=torch.float64)
    mode = "crop" if crop else "composite"
    atol = max(FP64_ATOL.get(t, 1e-10) for row in types for t in row)
    assert_close(distort(x, p, backend="cpu", block_mode=mode), distort(x, p, backend="reference", block_mode=mode),
                 atol=atol, rtol=0, what=f"types {types} levels {levels} {partition} {mode}")


# ---------------------------------------------------------------------------------------------
# Errors, registrations
# ---------------------------------------------------------------------------------------------

def test_api_errors_name_the_argument():
    x = torch.rand(2, 3, 16, 16)
    p = sample_params([5, 5], [0, 0], seed=0)
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got list"):
        distort([1], p)
    with pytest.raises(ValueError, match=r"x must have shape \(B, 3, H, W\), got \(2, 4, 16, 16\)"):
        distort(torch.rand(2, 4, 16, 16), p)
    with pytest.raises(TypeError, match="x must have dtype .*, got int32"):
        distort(x.int(), p)
    with pytest.raises(TypeError, match="params must be a DistortionParams"):
        distort(x, {"types": 1})
    with pytest.raises(ValueError, match="params has batch size 2, x has 3"):
        distort(torch.rand(3, 3, 16, 16), p)
    with pytest.raises(ValueError, match="block_mode must be one of composite, crop, got 'tiles'"):
        distort(x, p, block_mode="tiles")
    with pytest.raises(TypeError, match="x requires grad, but distort is forward-only"):
        distort(x.requires_grad_(True), p)
    with pytest.raises(ValueError, match="backend must be one of"):
        distort(x.detach(), p, backend="gpu")
    with pytest.raises(BackendUnavailableError, match="runs on cpu tensors"):
        distort(x.detach().to("meta"), p, backend="cpu")


def test_cpp_op_checks_its_tables():
    x = torch.rand(1, 3, 8, 8)
    p = sample_params([5], [0], seed=0)
    op = torch.ops.pyiqa_fast.distort
    with pytest.raises(RuntimeError, match="types must be Int"):
        op(x, p.types.long(), p.values, p.seeds, p.aux, 1, 1, 0, False, False)
    with pytest.raises(RuntimeError, match=r"aux must have shape \[1, 1, 1, 400\]"):
        op(x, p.types, p.values, p.seeds, p.aux[..., :10], 1, 1, 0, False, False)
    with pytest.raises(RuntimeError, match=r"types\[0, 0, 0\] = 40 is not a type id \(expected -1 or \[0, 28\]\)"):
        op(x, p.types + 35, p.values, p.seeds, p.aux, 1, 1, 0, False, False)
    # The compiled kernel checks the generated copy of the value table itself (direct calls).
    with pytest.raises(RuntimeError, match=r"slot \[0, 0, 0\] \(type 5, value inf\) holds a value"):
        op(x, p.types, torch.full_like(p.values, float("inf")), p.seeds, p.aux, 1, 1, 0, False, False)
    with pytest.raises(RuntimeError, match=r"slot \[0, 0, 0\] \(type 5, value 0.1\) holds a value or per-call"):
        op(x, p.types, p.values, p.seeds, p.aux - 0.5, 1, 1, 0, False, False)
    with pytest.raises(RuntimeError, match="rows × cols must equal K = 1, got 1 × 2"):
        op(x, p.types, p.values, p.seeds, p.aux, 1, 2, 0, False, False)


def test_opcheck_and_compile():
    x = photo((40, 40), batch=2)
    p = sample_params([[5, 14], [21, 13]], [[1, 2], [3, 4]], partition="vertical", seed=0)
    args = (x, p.types, p.values, p.seeds, p.aux, 1, 2, 0, False, False)
    torch.library.opcheck(torch.ops.pyiqa_fast.distort.default, args)

    @torch.compile(fullgraph=True, backend="aot_eager")
    def compiled(img, types, values, seeds, aux):
        return torch.ops.pyiqa_fast.distort(img * 1.0, types, values, seeds, aux, 1, 2, 0, False, False)

    assert torch.equal(compiled(*args[:5]), distort(x, p, backend="cpu"))


def test_auto_uses_cpu_and_falls_back_to_reference_for_reference_only_types():
    from pyiqa_fast.ops.distort.api import BACKENDS

    p = sample_params([5], [0], seed=0)
    assert BACKENDS.resolve("auto", torch.device("cpu"), torch.float32, False, types=p.types).name == "cpu"
    p2k = sample_params([spec("jpeg2000").id], [0], preset="kadis", seed=0)
    assert BACKENDS.resolve("auto", torch.device("cpu"), torch.float32, False, types=p2k.types).name == "reference"
    with pytest.raises(BackendUnavailableError, match="has no C\\+\\+ kernel for jpeg2000"):
        distort(torch.rand(1, 3, 32, 32), p2k, backend="cpu")


def test_kadis_denoise_names_the_missing_network_on_every_backend():
    p = sample_params([spec("denoise").id], [0], preset="kadis", seed=0)
    with pytest.raises(ValueError, match="DnCNN"):
        distort(torch.rand(1, 3, 16, 16), p)
    with pytest.raises(BackendUnavailableError, match="has no kadis kernel for denoise"):
        distort(torch.rand(1, 3, 16, 16), p, backend="cpu")
