"""Distortion parameter records and their sampler (DISTORTIONS.md §5.2, §10.6 [PROPOSAL]).

Parameters are drawn in a separate, replayable step (kornia's generate/apply split): a
:class:`DistortionParams` holds, per sample ``b``, block ``k`` and chain slot ``s``, the type,
its level, the level's value, a 64-bit Philox key and the per-call uniforms the operator
consumes (angles, positions, colours, blur choices). ``distort(x, params)`` is a pure function
of the image and the record, so a record replays bit-identically, on any backend, at any batch
position. Per-pixel fields (noise, jitter) are generated inside the kernels from the key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

from pyiqa_fast.distortions import philox
from pyiqa_fast.distortions.registry import AUX_SIZE, N_LEVELS, SPECS, check_preset, spec

PARTITIONS = {"whole": (1, 1), "vertical": (1, 2), "horizontal": (2, 1), "grid2x2": (2, 2)}


def resolve_partition(partition: str | tuple[int, int] | None) -> tuple[int, int]:
    """(rows, cols) of a block layout: ``"vertical"`` = split by a vertical line (1 × 2),
    ``"horizontal"`` = 2 × 1, ``"grid2x2"``, ``"whole"``/None = 1 × 1, or a (rows, cols) pair."""
    if partition is None:
        return (1, 1)
    if isinstance(partition, str):
        if partition not in PARTITIONS:
            raise ValueError(f"partition must be one of {', '.join(PARTITIONS)} or (rows, cols), got {partition!r}")
        return PARTITIONS[partition]
    if (isinstance(partition, Sequence) and len(partition) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in partition)):
        return (int(partition[0]), int(partition[1]))
    raise ValueError(f"partition must be one of {', '.join(PARTITIONS)} or (rows, cols) of positive ints, "
                     f"got {partition!r}")


def to_device(t: Tensor, device: torch.device) -> Tensor:
    """``t`` on ``device``; a host tensor goes through pinned memory without blocking, so that
    moving a batch's tables and labels never waits for the device."""
    if t.device == torch.device(device) or t.device.type != "cpu" or torch.device(device).type != "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


def block_bounds(height: int, width: int, partition: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) of each block, row-major: rows split at ⌊i·H/rows⌋, columns at ⌊j·W/cols⌋."""
    rows, cols = partition
    return [(i * height // rows, (i + 1) * height // rows, j * width // cols, (j + 1) * width // cols)
            for i in range(rows) for j in range(cols)]


@dataclass(frozen=True)
class DistortionParams:
    """What ``distort`` applies to a batch: one record per (sample, block, chain slot).

    Attributes:
        types: int32 Tensor[B, K, S], type ids (``registry.SPECS``); -1 = empty slot.
        levels: int32 Tensor[B, K, S], level indices 0..4 (-1 in empty slots).
        values: float64 Tensor[B, K, S], the level's parameter value in ``preset``'s table.
        seeds: int64 Tensor[B, K, S], Philox keys (64 bits, read as unsigned).
        aux: float64 Tensor[B, K, S, AUX_SIZE], per-call uniforms in [0, 1).
        partition: (rows, cols) of the block grid; K = rows · cols.
        preset: ``reiqa``, ``kadis`` or ``arniqa``.
    """

    types: Tensor
    levels: Tensor
    values: Tensor
    seeds: Tensor
    aux: Tensor
    partition: tuple[int, int] = (1, 1)
    preset: str = "reiqa"

    def __post_init__(self) -> None:
        check_preset(self.preset)
        shape = tuple(self.types.shape)
        if len(shape) != 3:
            raise ValueError(f"DistortionParams: types must have shape (B, K, S), got {shape}")
        expected = {"types": torch.int32, "levels": torch.int32, "values": torch.float64, "seeds": torch.int64,
                    "aux": torch.float64}
        for name, dtype in expected.items():
            t = getattr(self, name)
            if not isinstance(t, Tensor) or t.dtype != dtype:
                got = t.dtype if isinstance(t, Tensor) else type(t).__name__
                raise TypeError(f"DistortionParams: {name} must be a {dtype} tensor, got {got}")
            want = shape + ((AUX_SIZE,) if name == "aux" else ())
            if tuple(t.shape) != want:
                raise ValueError(f"DistortionParams: {name} must have shape {want}, got {tuple(t.shape)}")
        rows, cols = resolve_partition(self.partition)
        if rows * cols != shape[1]:
            raise ValueError(f"DistortionParams: partition {self.partition} has {rows * cols} blocks but types "
                             f"has K = {shape[1]}")

    @property
    def batch_size(self) -> int:
        return self.types.shape[0]

    @property
    def n_blocks(self) -> int:
        return self.types.shape[1]

    def to(self, device: torch.device | str) -> DistortionParams:
        """The record with every tensor on ``device``."""
        return replace(self, **{f.name: getattr(self, f.name).to(device) for f in fields(self)
                                if isinstance(getattr(self, f.name), Tensor)})

    def validate(self, height: int | None = None, width: int | None = None, *, where: str = "DistortionParams"
                 ) -> None:
        """Checks that every backend can apply this record; see :func:`validate_params`."""
        validate_params(self, height, width, where=where)

    def select(self, index: Tensor | Sequence[int]) -> DistortionParams:
        """Rows ``index`` of the batch (replay a sample elsewhere in a batch)."""
        index = torch.as_tensor(index, dtype=torch.long, device=self.types.device)
        return replace(self, **{f.name: getattr(self, f.name).index_select(0, index) for f in fields(self)
                                if isinstance(getattr(self, f.name), Tensor)})

    @staticmethod
    def cat(records: Sequence[DistortionParams]) -> DistortionParams:
        """Concatenate records along the batch (same partition, preset and slot count)."""
        first = records[0]
        for r in records[1:]:
            if (r.partition, r.preset, r.types.shape[1:]) != (first.partition, first.preset, first.types.shape[1:]):
                raise ValueError("DistortionParams.cat: records differ in partition, preset or (K, S)")
        return replace(first, **{f.name: torch.cat([getattr(r, f.name) for r in records])
                                 for f in fields(first) if isinstance(getattr(first, f.name), Tensor)})


def _domain_tables() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(lo, hi, lo_open, integer) per type id, from ``registry.VALUE_RANGES``."""
    domains = [s.domain for s in SPECS]
    return (torch.tensor([d.lo for d in domains], dtype=torch.float64),
            torch.tensor([d.hi for d in domains], dtype=torch.float64),
            torch.tensor([d.lo_open for d in domains]), torch.tensor([d.integer for d in domains]))


_DOMAINS = _domain_tables()


def _first(mask: Tensor) -> tuple[int, ...]:
    return tuple(int(i) for i in mask.nonzero()[0])


def validate_params(params: DistortionParams, height: int | None = None, width: int | None = None, *,
                    where: str = "distort") -> None:
    """Checks a record before any kernel sees it (docs/design/distortions.md, "Parameter records").

    Records from :func:`sample_params` always pass; an edited record passes when every non-empty
    slot holds a known type defined in the record's preset, a finite value inside the type's
    :attr:`~pyiqa_fast.distortions.registry.DistortionSpec.domain` and per-call uniforms in
    [0, 1), and, given the image size, every block it distorts is at least the type's
    ``min_region``. Levels and seeds are not checked: no kernel reads the levels, and every
    64-bit key is valid.

    Args:
        params: The record.
        height, width: Image size (None: skip the region check).
        where: Prefix of the error message (the caller's name).

    Raises:
        ValueError: The first offending entry, named by sample b, block k, slot s, type, field,
            value and the allowed range.
    """
    validate_table(params.types, params.values, params.aux, params.preset, where=where)
    if height is None or width is None:
        return
    types = params.types.cpu()
    for k, (y0, y1, x0, x1) in enumerate(block_bounds(height, width, params.partition)):
        if y1 == y0 or x1 == x0:
            continue  # an empty block is not distorted
        for type_id in types[:, k].unique().tolist():
            if type_id < 0:
                continue
            min_h, min_w = SPECS[type_id].min_region
            if y1 - y0 < min_h or x1 - x0 < min_w:
                b, s = _first(types[:, k] == type_id)
                raise ValueError(f"{where}: {SPECS[type_id].name} needs a region of at least {min_h}×{min_w} pixels, "
                                 f"got {y1 - y0}×{x1 - x0} (block {k} of a {height}×{width} image: "
                                 f"params.types[b={b}, k={k}, s={s}])")


def validate_table(types: Tensor, values: Tensor, aux: Tensor, preset: str, *, where: str = "distort") -> None:
    """:func:`validate_params` on the raw tables of a record (types int Tensor[B, K, S], values
    float64 Tensor[B, K, S], aux float64 Tensor[B, K, S, AUX_SIZE]; any device), without the region
    check: what the GPU schedule runs when the op is called directly."""
    types = types.cpu()
    known = (types == -1) | ((types >= 0) & (types < len(SPECS)))
    if not bool(known.all()):
        b, k, s = _first(~known)
        raise ValueError(f"{where}: params.types[b={b}, k={k}, s={s}] = {int(types[b, k, s])} is not a type id: "
                         f"expected -1 (empty slot) or an id in [0, {len(SPECS) - 1}]")
    used = types >= 0
    ids = types.clamp(min=0).long()
    in_preset = torch.tensor([preset in s.levels for s in SPECS])[ids]
    if not bool((in_preset | ~used).all()):
        b, k, s = _first(used & ~in_preset)
        type_spec = SPECS[int(types[b, k, s])]
        raise ValueError(f"{where}: params.types[b={b}, k={k}, s={s}] = {type_spec.id} ({type_spec.name}) is not "
                         f"defined in preset {preset!r} (defined in: {', '.join(type_spec.levels)})")
    values = values.cpu()
    lo, hi, lo_open, integer = (t[ids] for t in _DOMAINS)
    ok = torch.isfinite(values) & (values <= hi) & torch.where(lo_open, values > lo, values >= lo)
    ok &= ~integer | (values == values.floor())
    if not bool((ok | ~used).all()):
        b, k, s = _first(used & ~ok)
        type_spec = SPECS[int(types[b, k, s])]
        raise ValueError(f"{where}: params.values[b={b}, k={k}, s={s}] = {float(values[b, k, s])!r} is outside the "
                         f"range of {type_spec.name} ({type_spec.parameter}): expected {type_spec.domain}")
    aux = aux.cpu()
    aux_ok = ((aux >= 0) & (aux < 1)).all(-1)
    if not bool((aux_ok | ~used).all()):
        b, k, s = _first(used & ~aux_ok)
        row = aux[b, k, s]
        i = int((~((row >= 0) & (row < 1))).nonzero()[0])
        raise ValueError(f"{where}: params.aux[b={b}, k={k}, s={s}, {i}] = {float(row[i])!r} ("
                         f"{SPECS[int(types[b, k, s])].name}'s per-call uniforms) is outside the expected [0, 1)")


def _type_id(value: int | str) -> int:
    return spec(value).id if isinstance(value, str) else int(value)


def _as_table(name: str, value, dtype: torch.dtype) -> Tensor:
    if isinstance(value, Tensor):
        if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"sample_params: {name} must hold integers, got {value.dtype}")
        return value.detach().to("cpu", torch.int64)
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        return torch.tensor([_type_id(value) if name == "types" else int(value)], dtype=torch.int64)

    def convert(v):
        if isinstance(v, (list, tuple)):
            return [convert(u) for u in v]
        if isinstance(v, bool) or not isinstance(v, (int, str)):
            raise TypeError(f"sample_params: {name} must hold ints{' or names' if name == 'types' else ''}, "
                            f"got {v!r}")
        return _type_id(v) if name == "types" else int(v)

    return torch.tensor(convert(list(value)), dtype=torch.int64)


def _to_bks(name: str, t: Tensor) -> Tensor:
    if t.dim() == 1:
        return t.view(-1, 1, 1)
    if t.dim() == 2:
        return t.unsqueeze(-1)
    if t.dim() == 3:
        return t
    raise ValueError(f"sample_params: {name} must have shape (B,), (B, K) or (B, K, S), got {tuple(t.shape)}")


def _base_seed(seed: int | torch.Generator | None) -> int:
    if seed is None:
        return int(torch.randint(0, 2**62, (1,)).item())
    if isinstance(seed, torch.Generator):
        return int(torch.randint(0, 2**62, (1,), generator=seed).item())
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"sample_params: seed must be an int, a torch.Generator or None, got {type(seed).__name__}")
    return seed


def slot_seeds(base_seed: int, shape: tuple[int, int, int]) -> Tensor:
    """64-bit Philox keys of every (sample, block, slot) derived from one base seed."""
    b, k, s = (torch.arange(n, dtype=torch.int64) for n in shape)
    key = base_seed % 2**64  # any Python int; the key is its low 64 bits, stored as int64
    key = torch.tensor(key - 2**64 if key >= 2**63 else key, dtype=torch.int64)
    r = philox.draw(key, b.view(-1, 1, 1), k.view(1, -1, 1), s.view(1, 1, -1), philox.DOMAIN_SEED)
    return r[0] | (r[1] << 32)  # wraps into int64: the bits are the key


def call_uniforms(seeds: Tensor) -> Tensor:
    """Per-call uniforms aux[..., i] = uniform(Philox(seed, (i // 4, 0, 0, 1))[i % 4])."""
    counters = torch.arange(AUX_SIZE // 4, dtype=torch.int64)
    words = philox.draw(seeds.unsqueeze(-1), counters, 0, 0, philox.DOMAIN_CALL)
    return philox.uniform(torch.stack(words, dim=-1)).flatten(-2)


def sample_params(
    types,
    levels,
    *,
    preset: str = "reiqa",
    partition: str | tuple[int, int] | None = None,
    seed: int | torch.Generator | None = None,
) -> DistortionParams:
    """Draws a replayable parameter record for the given types and levels.

    Args:
        types: Type ids or names, shape (B,) (one per sample), (B, K) (one per block) or
            (B, K, S) (a chain of S per block, applied in order; -1 = empty slot). A scalar
            means one sample.
        levels: Level indices 0..4, the shape of ``types`` (or a scalar broadcast to it).
        preset: ``"reiqa"`` (default), ``"kadis"`` or ``"arniqa"``: the level table.
        partition: Block layout: None/``"whole"`` (K = 1), ``"vertical"``, ``"horizontal"``,
            ``"grid2x2"`` or (rows, cols); K must equal rows · cols.
        seed: Base seed (int), a ``torch.Generator`` to draw it from, or None (from torch's
            global generator). Slot keys are derived from (seed, sample, block, slot).

    Returns:
        A :class:`DistortionParams` on the CPU.

    Raises:
        ValueError: Unknown type, level outside 0..4, a type the preset does not define, shapes
            that disagree, or K ≠ rows · cols.
        TypeError: Non-integer tables or a bad seed.
    """
    check_preset(preset)
    rows, cols = resolve_partition(partition)
    type_table = _to_bks("types", _as_table("types", types, torch.int64))
    level_table = _as_table("levels", levels, torch.int64)
    if level_table.numel() == 1 and type_table.numel() != 1:
        level_table = level_table.reshape(()).expand(type_table.shape)
    level_table = _to_bks("levels", level_table)
    if level_table.shape != type_table.shape:
        raise ValueError(f"sample_params: levels must have the shape of types {tuple(type_table.shape)}, "
                         f"got {tuple(level_table.shape)}")
    if type_table.shape[1] != rows * cols:
        raise ValueError(f"sample_params: partition {partition!r} has {rows * cols} blocks, types has "
                         f"K = {type_table.shape[1]}")
    empty = type_table == -1
    bad = (~empty) & ((type_table < 0) | (type_table >= len(SPECS)))
    if bad.any():
        raise ValueError(f"sample_params: types must be ids in [0, {len(SPECS) - 1}] or -1 (empty slot), "
                         f"got {int(type_table[bad][0])}")
    bad = (~empty) & ((level_table < 0) | (level_table >= N_LEVELS))
    if bad.any():
        raise ValueError(f"sample_params: levels must be in [0, {N_LEVELS - 1}], got {int(level_table[bad][0])}")
    values = torch.zeros(type_table.shape, dtype=torch.float64)
    for type_id in type_table.unique().tolist():
        if type_id < 0:
            continue
        table = torch.tensor(SPECS[type_id].values(preset), dtype=torch.float64)  # raises for a missing preset
        where = type_table == type_id
        values[where] = table[level_table[where]]
    seeds = slot_seeds(_base_seed(seed), tuple(type_table.shape))
    return DistortionParams(
        types=type_table.to(torch.int32),
        levels=torch.where(empty, -1, level_table).to(torch.int32),
        values=values,
        seeds=seeds,
        aux=call_uniforms(seeds),
        partition=(rows, cols),
        preset=preset,
    )
