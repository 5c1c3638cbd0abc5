"""Hypothesis strategies for fuzz cases (see cases.py): mostly well-formed inputs with, at random,
bad shapes, dtypes, layouts, special values, options and edited parameter records."""

from __future__ import annotations

from hypothesis import strategies as st

from pyiqa_fast.distortions.registry import AUX_SIZE, PRESETS, SPECS
from tests.fuzz.cases import FLOATS, LAYOUTS

NAN, INF = float("nan"), float("inf")
SPECIAL_FLOATS = (NAN, INF, -INF, 1e30, -1e30, 2.0**31, 2.0**63, 1e-300, -0.0, 0.0, 0.5, -1.0, 2.5)
HUGE_INTS = (2**31 - 1, 2**31, 2**32, 2**40, 2**62, 2**63 - 1)


def often(good, bad, p_bad: float = 0.1):
    """``good`` with probability about 1 − p_bad, else ``bad`` (hypothesis favours small draws:
    those are the good ones)."""
    return st.integers(0, 999).flatmap(lambda i: bad if i >= 1000 * (1 - p_bad) else good)


def tensor_spec(shape, dtypes=FLOATS, *, layouts=LAYOUTS, lo=0, hi=256, fill=None, specials=True,
                scales=(1.0, 1.0, 1e3, 1e5), special_values=SPECIAL_FLOATS):
    """A tensor spec of ``shape`` (a strategy or a tuple)."""
    shape = shape if isinstance(shape, st.SearchStrategy) else st.just(tuple(shape))
    special = st.lists(st.tuples(st.floats(0, 1), st.sampled_from(special_values)), max_size=2)
    return st.fixed_dictionaries({
        "shape": shape.map(list),
        "dtype": st.sampled_from(dtypes) if isinstance(dtypes, tuple) else dtypes,
        "layout": st.sampled_from(layouts),
        "lo": st.just(lo), "hi": st.just(hi),
        "fill": st.just(fill) if fill else st.sampled_from(["uniform", "normal"]),
        "scale": st.sampled_from(scales),
        "specials": often(st.just([]), special) if specials else st.just([]),
    })


def bad_dtypes(good=FLOATS):
    return often(st.sampled_from(good), st.sampled_from(("bool", "uint8", "int32", "int64", "complex64")), 0.1)


@st.composite
def margin_ranking_loss_cases(draw):
    n = draw(st.integers(0, 33))
    shape = often(st.sampled_from([(n,), (n, 1)]), st.sampled_from([(n, 2), (), (n + 1,), (n, n)]), 0.15)
    int_hi = draw(st.sampled_from([10, 1000, 2**24 + 5, 2**40]))
    target_dtypes = often(st.sampled_from(FLOATS + ("int32", "int64")), st.sampled_from(("bool", "complex64")), 0.1)
    return {
        "target": "margin_ranking_loss", "seed": draw(st.integers(0, 2**31)),
        "backend": draw(st.sampled_from(["cpu", "triton", "auto"])),
        "pred": draw(tensor_spec(shape, bad_dtypes(), fill="normal")),
        "target_t": draw(tensor_spec(shape, target_dtypes, hi=int_hi, fill="normal")),
        "options": {
            "margin_scale": draw(often(st.just(0.25), st.sampled_from([0.0, 1.0, -1.0, NAN, INF, 1e30]))),
            "margin": draw(often(st.none(), st.sampled_from([0.5, 0.0, -1.0, NAN, 1e39]))),
            "reduction": draw(often(st.sampled_from(["mean", "sum"]), st.sampled_from(["none", "avg"]), 0.05)),
        },
        "grad": draw(st.booleans()),
    }


@st.composite
def dsm_pool_cases(draw):
    b, h, w = draw(st.integers(0, 3)), draw(st.integers(0, 20)), draw(st.integers(0, 20))
    c = draw(often(st.just(3), st.sampled_from([1, 4]), 0.1))
    shape = (b, c, h, w)
    other = draw(often(st.just(shape), st.sampled_from([(b, c, h, w + 1), (b + 1, c, h, w), (c, h, w)]), 0.1))
    dtypes = bad_dtypes(("uint8",) + FLOATS)
    ref = draw(tensor_spec(shape, dtypes))
    dist = draw(tensor_spec(other, often(st.just(ref["dtype"]), st.sampled_from(FLOATS), 0.1)))
    pool = draw(often(st.sampled_from([1, 2, 3, 4, 8, 16, 64]), st.sampled_from((0, -1, True, 2.5) + HUGE_INTS)))
    return {
        "target": "dsm_pool", "seed": draw(st.integers(0, 2**31)),
        "backend": draw(st.sampled_from(["cpu", "triton", "auto"])),
        "ref": ref, "dist": dist,
        "options": {"pool": pool, "ceil_mode": draw(often(st.booleans(), st.sampled_from([1, "yes"]), 0.05))},
        "grad": draw(st.booleans()),
    }


@st.composite
def block_attention_cases(draw):
    b, heads = draw(st.integers(0, 2)), draw(st.integers(1, 2))
    nq, nk = draw(st.integers(0, 12)), draw(st.integers(0, 12))
    d = draw(st.sampled_from([1, 2, 4, 8, 16, 32]))
    dtype = draw(bad_dtypes())
    kv_shape = draw(often(st.just((b, heads, nk, d)), st.sampled_from([(b, heads, nk, d + 1), (b, heads + 1, nk, d),
                                                                        (heads, nk, d)]), 0.1))
    lo, hi = draw(often(st.just((-2, 4)), st.sampled_from([(2**31 - 2, 2**31 + 2), (2**32 - 1, 2**32 + 1),
                                                          (-(2**40), 2**40)]), 0.15))
    group_dtypes = often(st.sampled_from(("int64", "int32")), st.sampled_from(("float32", "bool", "uint8")), 0.1)

    def groups(n):
        return tensor_spec(often(st.sampled_from([(n,), (b, n)]), st.sampled_from([(n + 1,), (b, n, 1)]), 0.1),
                           group_dtypes, lo=lo, hi=hi, specials=False)

    # Scores far beyond float32's exp range are ill-conditioned for any flash-style kernel (it
    # recomputes p = exp(s − lse)): big finite magnitudes go to v only; q and k get inf and NaN.
    qk = {"scales": (1.0, 1.0, 4.0), "special_values": (NAN, INF, -INF, -0.0, 0.0, 0.5, -1.0, 2.5), "fill": "normal"}
    return {
        "target": "block_attention", "seed": draw(st.integers(0, 2**31)),
        "backend": draw(st.sampled_from(["cpu", "triton", "auto"])),
        "q": draw(tensor_spec((b, heads, nq, d), st.just(dtype), **qk)),
        "k": draw(tensor_spec(kv_shape, st.just(dtype), **qk)),
        "v": draw(tensor_spec(kv_shape, often(st.just(dtype), st.sampled_from(FLOATS), 0.05), fill="normal")),
        "q_groups": draw(groups(nq)), "k_groups": draw(groups(nk)),
        "options": {"scale": draw(often(st.none(), st.sampled_from([0.5, 0.0, -1.0, NAN, INF, 1e39, 1e300])))},
        "grad": draw(st.booleans()),
    }


def _domain_edges(type_id: int) -> list[float]:
    d = SPECS[type_id].domain
    step = 1e-6 * max(1.0, abs(d.hi))
    return [d.lo, d.hi, d.lo - step, d.hi + step, (d.lo + d.hi) / 2, d.lo + 0.5]


@st.composite
def record_specs(draw, batch: int, partition: str | None):
    preset = draw(st.sampled_from(PRESETS))
    defined = [s.id for s in SPECS if preset in s.levels]
    k = {None: 1, "vertical": 2, "horizontal": 2, "grid2x2": 4}[partition]
    slots = draw(st.integers(1, 2))
    type_ids = st.sampled_from(defined + [-1])
    types = [[[draw(type_ids) for _ in range(slots)] for _ in range(k)] for _ in range(batch)]
    levels = [[[draw(st.integers(0, 4)) for _ in range(slots)] for _ in range(k)] for _ in range(batch)]
    n = batch * k * slots
    edit_type = draw(st.sampled_from(defined))
    edit = st.one_of(
        st.tuples(st.just("values"), st.integers(0, n - 1),
                  st.sampled_from(_domain_edges(edit_type) + list(SPECIAL_FLOATS))),
        st.tuples(st.just("aux"), st.integers(0, n * AUX_SIZE - 1),
                  st.sampled_from([-0.01, 0.0, 0.999999, 1.0, 1.5, NAN])),
        st.tuples(st.just("types"), st.integers(0, n - 1), st.sampled_from([-2, -1, 29, 40, 2**31 - 1, edit_type])),
        st.tuples(st.just("seeds"), st.integers(0, n - 1), st.sampled_from([-1, 0, 2**63 - 1, -(2**63)])),
    )
    return {"types": types, "levels": levels, "partition": partition, "preset": preset,
            "seed": draw(st.integers(0, 2**31)), "edits": draw(often(st.just([]), st.lists(edit, min_size=1,
                                                                                           max_size=2), 0.5)),
            "layout": draw(often(st.just("contiguous"), st.sampled_from(["transposed", "sliced", "expanded"]), 0.2))}


@st.composite
def distort_cases(draw):
    batch = draw(st.integers(1, 2))
    partition = draw(st.sampled_from([None, "vertical", "horizontal", "grid2x2"]))
    backend = draw(often(st.just("cpu"), st.just("triton"), 0.2))
    big = 56 if backend == "cpu" else 20  # non_eccentricity needs 49×49; the interpreter is slow
    h, w = draw(st.integers(2, big)), draw(st.integers(2, big))
    bad_shapes = st.sampled_from([(batch, 1, h, w), (3, h, w), (batch + 1, 3, h, w)])
    x_shape = draw(often(st.just((batch, 3, h, w)), bad_shapes, 0.05))
    dtype = draw(often(st.just("float64"), st.sampled_from(("uint8",) + FLOATS), 0.5))
    return {
        "target": "distort", "seed": draw(st.integers(0, 2**31)), "backend": backend,
        "x": draw(tensor_spec(x_shape, often(st.just(dtype), st.sampled_from(("int32", "bool")), 0.05),
                              layouts=LAYOUTS if dtype != "float64" else ("contiguous",), fill="uniform",
                              specials=dtype != "uint8")),
        "record": draw(record_specs(batch, partition)),
        "options": {"block_mode": draw(often(st.just("composite"), st.sampled_from(["crop", "tiles"]), 0.3))},
    }


@st.composite
def block_degradation_cases(draw):
    patch = draw(often(st.sampled_from([1, 4, 8]), st.sampled_from([0, 16, 3]), 0.15))
    tiles = max(patch, 1) if isinstance(patch, int) and patch > 0 else 1
    h, w = draw(st.integers(1, 14)) * tiles, draw(st.integers(1, 14)) * tiles
    h += draw(often(st.just(0), st.just(1), 0.05))
    # A type list and a preset that defines its types; else a bad list or a mismatch.
    types, preset = draw(often(st.sampled_from([("shdiqa24", "reiqa"), ("reiqa26", "reiqa"), ("arniqa24", "arniqa"),
                                                ((5, 7, 13, 19), "kadis"), (("jpeg", "mean_shift"), "arniqa")]),
                               st.tuples(st.sampled_from([(-1, 5), (5, 5), (7, 11, 13, 29), "nope", (True, 5),
                                                          "arniqa24"]),
                                         st.sampled_from(["reiqa", "kadis", "tid"]))))
    options = {
        "partition": draw(often(st.sampled_from(["vertical", "horizontal", "grid2x2", "whole"]),
                                st.sampled_from([(3, 3), (1, 1), "diagonal"]), 0.15)),
        "types": types, "preset": preset,
        "levels": draw(often(st.sampled_from(["shdiqa4", "all", (0, 1), (4, 2, 0)]),
                             st.sampled_from([(5,), (), (1, 1), "most"]))),
        "block_mode": draw(often(st.sampled_from(["composite", "crop"]), st.just("tiles"), 0.05)),
        "max_per_block": draw(often(st.sampled_from([1, 2]), st.sampled_from([3, 0]), 0.05)),
        "chain_prob": draw(often(st.sampled_from([0.1, 0.0, 1.0]), st.sampled_from([1.5, NAN]), 0.05)),
        "patch_size": patch,
    }
    batch = draw(st.integers(0, 2))
    return {
        "target": "block_degradation", "seed": draw(st.integers(0, 2**31)), "backend": "cpu", "options": options,
        "x": draw(tensor_spec(often(st.just((batch, 3, h, w)), st.just((3, h, w)), 0.05),
                              often(st.sampled_from(("uint8",) + FLOATS), st.just("int32"), 0.05), fill="uniform",
                              specials=False)),
    }


@st.composite
def dsmix_cases(draw):
    n_types, n_levels = draw(often(st.just(25), st.sampled_from([3, 0]), 0.1)), draw(st.sampled_from([5, 1]))
    options = {
        "mix": draw(often(st.sampled_from([2, 3]), st.sampled_from([4, True]), 0.1)),
        "weights": draw(often(st.sampled_from(["dsm", "area"]), st.just("uniform"), 0.05)),
        "n_types": n_types, "n_levels": n_levels,
        "pool": draw(often(st.sampled_from([8, 4, 1]), st.sampled_from([0, 2**62]), 0.1)),
        "eps": draw(often(st.just(1e-8), st.sampled_from([0.0, NAN]), 0.05)),
    }
    b, h, w = draw(st.integers(0, 4)), draw(st.integers(1, 3)) * 8, draw(st.integers(1, 3)) * 8
    dtype = draw(st.sampled_from(("uint8",) + FLOATS))
    labels = tensor_spec(often(st.just((b,)), st.sampled_from([(b, 1), (b + 1,)]), 0.1),
                         often(st.just("int64"), st.sampled_from(("int32", "float32")), 0.1),
                         lo=draw(often(st.just(0), st.just(-1), 0.05)),
                         hi=draw(often(st.just(max(min(n_types, n_levels), 1)), st.just(30), 0.05)), specials=False)
    source = draw(st.sampled_from(["dsm", "ref", "none"]))
    return {
        "target": "dsmix", "seed": draw(st.integers(0, 2**31)), "backend": "cpu", "options": options,
        "x": draw(tensor_spec((b, 3, h, w), st.just(dtype), fill="uniform", specials=False)),
        "type_labels": draw(labels), "level_labels": draw(labels),
        "dsm": draw(tensor_spec((b, 1, h // 8 + 1, w // 8), FLOATS, fill="normal")) if source == "dsm" else None,
        "ref": draw(tensor_spec((b, 3, h, w), st.just(dtype), fill="uniform", specials=False))
        if source == "ref" else None,
        "is_reference": draw(often(st.none(), tensor_spec((b,), st.just("bool"), specials=False), 0.5)),
    }


TARGETS = {
    "margin_ranking_loss": margin_ranking_loss_cases(),
    "dsm_pool": dsm_pool_cases(),
    "block_attention": block_attention_cases(),
    "distort": distort_cases(),
    "block_degradation": block_degradation_cases(),
    "dsmix": dsmix_cases(),
}
