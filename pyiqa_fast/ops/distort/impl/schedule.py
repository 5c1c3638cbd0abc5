"""The GPU backends' schedule of a mixed distortion table: launch groups, not per-sample loops.

The ``cuda`` and ``triton`` backends of ``distort`` share this planner; they differ only in the
per-type launchers they pass to :func:`run`. A table of B samples × K blocks × S slots becomes a
short sequence of *steps*: step j applies the j-th non-empty operator of every (sample, block)
chain. Inside a step the chains are independent, so every type present in the step is one
launch over all its entries (whatever their samples, blocks, levels and keys): at most
(types in the table) launches per step, and one step for the usual one-operator chains. The
table lives on the host (``sample_params`` makes it there), so planning never waits for the
device; the entry tables of all groups reach the device in one pinned, non-blocking copy.

Buffers (compute dtype: float64 for float64 inputs, else float32):

- ``pool``: the input converted to the compute dtype (B, 3, H, W), followed by two scratch
  images per chain of more than one operator (ping-pong between its steps);
- ``out``: the result (B, 3, H, W).

Every launch reads ``group.src`` (the pool) and writes ``group.dst`` (the pool's scratch, or
``out`` at a chain's last step); an operator writes exactly its entry's out-region, clipped to
[0, 1] (NaN passes), and nothing else, since the entries of one launch may share an image.

Entry fields (int64, one row per entry; offsets in elements of the flat buffers):

======  ==========================================================================================
SRC     offset of the operator's pixel (c=0, y=0, x=0) in ``src``
SRC_C   channel stride in ``src``;   SRC_Y: row stride (x stride is 1)
DST     offset of the operator's pixel (0, 0, 0) in ``dst``; DST_C, DST_Y: strides
H, W    size of the image the operator sees (the whole image in composite mode, the block in
        crop mode); reads are clamped to it (replicate borders where the operator has them)
RY0..   region (y0, y1, x0, x1), half-open, in the operator's coordinates: the block (positions of
        colour blocks and patch copies, statistics domain; the whole image it sees in crop mode)
OY0..   out-region (y0, y1, x0, x1): the pixels to write (the block at a chain's last step in
        composite mode, the whole image before it)
RNG_Y0  image coordinates of the operator's pixel (0, 0) (per-pixel Philox counters)
RNG_X0
SEED    the slot's 64-bit Philox key
======  ==========================================================================================

Plus per entry: ``values`` float64 [N] (the level's value) and ``aux`` float64 [N, 400] (the
per-call uniforms). Semantics of every operator: the reference backend (DISTORTIONS.md §8.5 for
the two block modes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from pyiqa_fast.distortions.params import block_bounds, to_device, validate_table
from pyiqa_fast.distortions.registry import PRESETS

(SRC, SRC_C, SRC_Y, DST, DST_C, DST_Y, H, W, RY0, RY1, RX0, RX1, OY0, OY1, OX0, OX1, RNG_Y0, RNG_X0,
 SEED) = range(19)
N_FIELDS = 19
# Entries per launch at most: the launch grid's entry axis (CUDA grid.y / Triton axis 1) stops at
# 65535 (e.g. 1024 samples × 8×8 blocks of one type), and the global operators (resize, jitter,
# colour shift) take whole-image temporaries per entry, bounded by slicing at LAUNCH_TEMP_BYTES of
# one image per entry (a 4×4 composite table at 1024² would otherwise ask for 24 GiB).
MAX_LAUNCH_ENTRIES = 65535
LAUNCH_TEMP_BYTES = 512 << 20


@dataclass(frozen=True)
class Group:
    """One launch: every entry of one type at one step that writes to the same buffer.

    Attributes:
        type_id: The distortion type (``registry.SPECS``).
        preset: ``reiqa``, ``kadis`` or ``arniqa``.
        compat: The op's compat flag.
        src: Flat buffer read by every entry (compute dtype, device).
        dst: Flat buffer written by every entry (compute dtype, device).
        entries: int64 Tensor[N, N_FIELDS] on the device (fields above).
        values: float64 Tensor[N] on the device.
        aux: float64 Tensor[N, 400] on the device.
        host_entries: The same three on the host, for launch geometry and host-built filter
            taps (reading them never synchronises with the device).
        host_values:
        host_aux:
    """

    type_id: int
    preset: str
    compat: bool
    src: Tensor
    dst: Tensor
    entries: Tensor
    values: Tensor
    aux: Tensor
    host_entries: Tensor
    host_values: Tensor
    host_aux: Tensor

    @property
    def size(self) -> int:
        return self.host_entries.shape[0]

    def max_extent(self, lo: int, hi: int) -> int:
        """Largest ``entries[:, hi] - entries[:, lo]`` (e.g. the tallest out-region: OY0, OY1)."""
        return int((self.host_entries[:, hi] - self.host_entries[:, lo]).max())


Launcher = Callable[[Group], None]


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def run(x: Tensor, types: Tensor, values: Tensor, seeds: Tensor, aux: Tensor, rows: int, cols: int, preset: int,
        crop: bool, compat: bool, launchers: Mapping[int, Launcher]) -> Tensor:
    """``distort`` on ``x``'s device through ``launchers`` (type id → launcher); the op's schema.

    Args:
        x: Tensor[B, 3, H, W], any supported dtype and strides.
        types, values, seeds, aux: The table (``DistortionParams`` fields; read on the host).
        rows, cols, preset, crop, compat: As the op.
        launchers: One launcher per type id of the table.

    Returns:
        Tensor[B, 3, H, W] of x's dtype, contiguous.
    """
    # The public API validated the record already; a direct call of the op gets the same check.
    validate_table(types, values, aux, PRESETS[preset])
    device = x.device
    batch, _, height, width = x.shape
    dtype = compute_dtype(x.dtype)
    types_h = types.detach().cpu().to(torch.int64)
    values_h = values.detach().cpu().to(torch.float64)
    seeds_h = seeds.detach().cpu().to(torch.int64)
    aux_h = aux.detach().cpu().to(torch.float64)
    blocks = list(block_bounds(height, width, (rows, cols)))
    n_blocks = len(blocks)
    plane, image = height * width, 3 * height * width

    # Chains: (b, k, [slots]) with at least one operator; scratch for chains of two or more.
    chains = []
    scratch_elems = 0
    for b in range(batch):
        for k, (y0, y1, x0, x1) in enumerate(blocks):
            if y1 == y0 or x1 == x0:
                continue
            slots = [s for s in range(types_h.shape[2]) if int(types_h[b, k, s]) >= 0]
            if not slots:
                continue
            size = image if not crop else 3 * (y1 - y0) * (x1 - x0)
            scratch = batch * image + scratch_elems if len(slots) > 1 else -1
            if len(slots) > 1:
                scratch_elems += 2 * size
            chains.append((b, k, slots, scratch, size))

    pool = torch.empty(batch * image + scratch_elems, dtype=dtype, device=device)
    work = pool[:batch * image].view(batch, 3, height, width)
    if x.dtype == torch.uint8:
        work.copy_(x.to(dtype) / 255)
    else:
        work.copy_(x)
    out = torch.empty((batch, 3, height, width), dtype=dtype, device=device)
    covered = sum((y1 - y0) * (x1 - x0) for _, k, *_ in chains for y0, y1, x0, x1 in [blocks[k]])
    if covered != batch * plane:
        out.copy_(work)  # samples or blocks without an operator pass through
    out_flat = out.view(-1)

    # Entry rows per (step, type, writes-out).
    groups: dict[tuple[int, int, bool], list[tuple[list[int], int, int]]] = {}
    for b, k, slots, scratch, size in chains:
        y0, y1, x0, x1 = blocks[k]
        bh, bw = y1 - y0, x1 - x0
        for step, s in enumerate(slots):
            last = step == len(slots) - 1
            if crop:
                h, w, region = bh, bw, (0, bh, 0, bw)
                out_region, rng = region, (y0, x0)
                in_view = (b * image + y0 * width + x0, plane, width)
                scratch_view = lambda i: (scratch + i * size, bh * bw, bw)  # noqa: E731
            else:
                h, w, region = height, width, (y0, y1, x0, x1)
                out_region, rng = (region if last else (0, height, 0, width)), (0, 0)
                in_view = (b * image, plane, width)
                scratch_view = lambda i: (scratch + i * size, plane, width)  # noqa: E731
            src = in_view if step == 0 else scratch_view((step - 1) % 2)
            dst = in_view if last else scratch_view(step % 2)  # out has the input's layout
            row = [*src, *dst, h, w, *region, *out_region, *rng, int(seeds_h[b, k, s])]
            groups.setdefault((step, int(types_h[b, k, s]), last), []).append((row, b * n_blocks + k, s))

    # One upload of every group's entries, values and uniforms; each group launches on its slice.
    ordered = sorted(groups.items())
    host_entries = torch.tensor([r for _, rows_ in ordered for r, _, _ in rows_], dtype=torch.int64)
    n_slots = types_h.shape[2]
    flat = torch.tensor([bk * n_slots + s for _, rows_ in ordered for _, bk, s in rows_], dtype=torch.int64)
    host_values = values_h.reshape(-1)[flat]
    host_aux = aux_h.reshape(batch * n_blocks * n_slots, -1)[flat]
    entries, values_d, aux_d = (to_device(t, device) for t in (host_entries, host_values, host_aux))
    per_launch = max(1, min(MAX_LAUNCH_ENTRIES, LAUNCH_TEMP_BYTES // (image * pool.element_size())))
    start = 0
    for (_step, type_id, last), rows_ in ordered:
        end = start + len(rows_)
        for lo in range(start, end, per_launch):
            part = slice(lo, min(lo + per_launch, end))
            group = Group(
                type_id=type_id, preset=PRESETS[preset], compat=compat, src=pool, dst=out_flat if last else pool,
                entries=entries[part], values=values_d[part], aux=aux_d[part], host_entries=host_entries[part],
                host_values=host_values[part], host_aux=host_aux[part])
            launchers[type_id](group)
        start = end

    if x.dtype == torch.uint8:
        return torch.floor(out * 255 + 0.5).clamp_(0, 255).to(torch.uint8)
    return out if out.dtype == x.dtype else out.to(x.dtype)

