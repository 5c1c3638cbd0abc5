"""Host-built tables of the resample class CUDA kernels (``csrc/kernels/distort/distort_resample_cuda.cu``).

resize_bicubic / resize_bilinear / resize_lanczos (0, 1, 2): four separable passes per entry,
x W→ws, y H→hs, x ws→W, y hs→H (hs, ws = max(1, ⌊H/k⌋), max(1, ⌊W/k⌋)); a pass whose size does not
change is the identity (one tap of weight 1, exact). Per entry:

- itable: header [hs, ws, (f_offset, taps, i_offset) × 4 passes], then per pass and output index i
  the pair (first input index, tap count) at i_offset + 2i;
- ftable: per pass and output index i, its weights (Pillow's normalised float64 weights,
  ``filters.pillow_weights``) at f_offset + i·taps, zero-padded to the pass's widest window.

pixelate (3), resize_nearest (25): the down∘up nearest maps composed into one source row per output
row and one source column per output column. itable per entry: [1 + max_h, rows (max_h), cols
(max_w)]; no ftable.

jitter (10) needs no table.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

from pyiqa_fast.distortions.filters import (
    FILTERS,
    matlab_nearest_map,
    pillow_nearest_map,
    pillow_weights,
    torch_nearest_map,
)
from pyiqa_fast.ops.distort.impl import schedule

_HEADER = 2 + 3 * 4


@functools.lru_cache(maxsize=512)
def _axis(n_in: int, n_out: int, name: str) -> tuple[Tensor, Tensor, Tensor]:
    """(first int64[n_out], count int64[n_out], weights float64[n_out, taps]) of one Pillow pass."""
    if n_in == n_out:
        return (torch.arange(n_out, dtype=torch.int64), torch.ones(n_out, dtype=torch.int64),
                torch.ones(n_out, 1, dtype=torch.float64))
    dense = pillow_weights(n_in, n_out, name)
    _, base = FILTERS[name]
    scale = n_in / n_out
    support = base * max(scale, 1.0)
    first, count = [], []
    for i in range(n_out):  # the window of pillow_weights (taps clipped to the image)
        centre = (i + 0.5) * scale
        lo = max(int(centre - support + 0.5), 0)
        hi = min(int(centre + support + 0.5), n_in)
        first.append(lo)
        count.append(hi - lo)
    taps = max(count)
    weights = torch.zeros(n_out, taps, dtype=torch.float64)
    for i in range(n_out):
        weights[i, :count[i]] = dense[i, first[i]:first[i] + count[i]]
    return torch.tensor(first, dtype=torch.int64), torch.tensor(count, dtype=torch.int64), weights


def _resize_tables(name: str):
    def build(group: schedule.Group) -> tuple[Tensor, Tensor]:
        e = group.host_entries
        passes = []  # per entry: four (first, count, weights)
        sizes = []
        for n in range(group.size):
            h, w = int(e[n, schedule.H]), int(e[n, schedule.W])
            k = float(group.host_values[n])
            hs, ws = max(1, int(h // k)), max(1, int(w // k))
            sizes.append((hs, ws))
            passes.append([_axis(w, ws, name), _axis(h, hs, name), _axis(ws, w, name), _axis(hs, h, name)])
        # Per pass: widest output, widest window (group-uniform offsets).
        f_off, i_off, header = 0, _HEADER, []
        layout = []
        for p in range(4):
            n_out = max(entry[p][0].shape[0] for entry in passes)
            taps = max(entry[p][2].shape[1] for entry in passes)
            layout.append((f_off, taps, i_off))
            header += [f_off, taps, i_off]
            f_off += n_out * taps
            i_off += 2 * n_out
        ftable = torch.zeros(group.size, f_off, dtype=torch.float64)
        itable = torch.zeros(group.size, i_off, dtype=torch.int64)
        for n, entry in enumerate(passes):
            itable[n, :_HEADER] = torch.tensor([*sizes[n], *header], dtype=torch.int64)
            for p, (first, count, weights) in enumerate(entry):
                fo, taps, io = layout[p]
                m = first.shape[0]
                itable[n, io:io + 2 * m] = torch.stack([first, count], 1).reshape(-1)
                ftable[n, fo:fo + m * taps].view(m, taps)[:, :weights.shape[1]] = weights
        return ftable, itable

    return build


@functools.lru_cache(maxsize=512)
def _nearest_maps(type_id: int, preset: str, h: int, w: int, value: float) -> tuple[list[int], list[int]]:
    """(rows, cols): the composed down∘up source index of every output row and column."""
    if type_id == 25:  # resize_nearest: Pillow NEAREST down to ⌊n/k⌋ and back
        hs, ws = max(1, int(h // value)), max(1, int(w // value))
        down = up = pillow_nearest_map
        down_h, down_w = down(h, hs), down(w, ws)
        up_h, up_w = up(hs, h), up(ws, w)
    else:  # pixelate
        z = 0.95 - value ** 0.6
        if preset == "kadis":
            hs, ws = max(1, math.ceil(z * h)), max(1, math.ceil(z * w))
            down_h, down_w = matlab_nearest_map(h, hs, z), matlab_nearest_map(w, ws, z)
            up_h, up_w = matlab_nearest_map(hs, h, h / hs), matlab_nearest_map(ws, w, w / ws)
        else:
            hs, ws = max(1, int(z * h)), max(1, int(z * w))
            fn = torch_nearest_map if preset == "arniqa" else pillow_nearest_map
            down_h, down_w = fn(h, hs), fn(w, ws)
            up_h, up_w = fn(hs, h), fn(ws, w)
    return [down_h[i] for i in up_h], [down_w[i] for i in up_w]


def _nearest_tables(group: schedule.Group) -> tuple[None, Tensor]:
    e = group.host_entries
    max_h, max_w = int(e[:, schedule.H].max()), int(e[:, schedule.W].max())
    itable = torch.zeros(group.size, 1 + max_h + max_w, dtype=torch.int64)
    itable[:, 0] = 1 + max_h
    for n in range(group.size):
        h, w = int(e[n, schedule.H]), int(e[n, schedule.W])
        rows, cols = _nearest_maps(group.type_id, group.preset, h, w, float(group.host_values[n]))
        itable[n, 1:1 + h] = torch.tensor(rows, dtype=torch.int64)
        itable[n, 1 + max_h:1 + max_h + w] = torch.tensor(cols, dtype=torch.int64)
    return None, itable


TABLES: dict = {
    0: _resize_tables("bicubic"),
    1: _resize_tables("bilinear"),
    2: _resize_tables("lanczos"),
    3: _nearest_tables,
    25: _nearest_tables,
}
