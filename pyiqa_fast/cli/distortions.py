"""``pyiqa-fast distortions``: list the catalogue and draw pictures of every type and level.

``grid`` draws one row per type (its five levels left to right, mildest-to-strongest in table
order) on a real photo, plus, with ``--block-example``, SHDIQA's block-wise degradation in its
three partitions with the blocks outlined and labelled.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pyiqa_fast.distortions import SPECS, BlockDegradation, list_distortions, sample_params
from pyiqa_fast.distortions.params import block_bounds
from pyiqa_fast.distortions.registry import type_list

TILE_GAP = 4
LABEL_W = 190
HEADER_H = 22


def load_photo(image: str, size: int) -> torch.Tensor:
    """Tensor[3, size, size] in [0, 1]: a file (read by :func:`pyiqa_fast.data.images.read_image`), or
    a scikit-image photo by name (``astronaut``…), centre-cropped to a square and resized (Pillow bicubic)."""
    from PIL import Image

    from pyiqa_fast.data.images import read_image

    path = Path(image)
    if path.exists():  # any mode to 8-bit RGB, or refused with the reason
        pil = Image.fromarray(read_image(path).permute(1, 2, 0).numpy())
    else:
        try:
            from skimage import data
        except ImportError as exc:
            raise ValueError(f"--image {image!r}: no such file (and scikit-image is not installed for named "
                             "photos)") from exc
        loader = getattr(data, image, None)
        if loader is None:
            raise ValueError(f"--image {image!r}: no such file and not a scikit-image photo name "
                             "(astronaut, coffee, chelsea, rocket, …)")
        array = loader()
        if array.ndim != 3:
            raise ValueError(f"--image {image!r}: scikit-image's {image} is not an RGB photo")
        pil = Image.fromarray(array[..., :3])
    side = min(pil.size)
    left, top = (pil.width - side) // 2, (pil.height - side) // 2
    pil = pil.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BICUBIC)
    return torch.frombuffer(bytearray(pil.tobytes()), dtype=torch.uint8).view(size, size, 3).permute(2, 0, 1) / 255


def _to_pil(img: torch.Tensor):
    from PIL import Image

    array = (img.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    return Image.fromarray(array)


def draw_grid(photo: torch.Tensor, preset: str = "reiqa", types: str = "shdiqa24", columns: int = 2,
              seed: int = 0, block_example: bool = True, backend: str = "auto"):
    """A PIL image: every type of ``types`` at its five levels on ``photo`` (Tensor[3, S, S])."""
    from PIL import Image, ImageDraw

    ids = [i for i in type_list(types) if preset in SPECS[i].levels]
    size = photo.shape[-1]
    batch = photo.unsqueeze(0).expand(len(ids) * 5, -1, -1, -1).contiguous()
    params = sample_params([i for i in ids for _ in range(5)], [lv for _ in ids for lv in range(5)], preset=preset,
                           seed=seed)
    from pyiqa_fast.ops import distort

    out = distort(batch, params, backend=backend)
    per_col = -(-len(ids) // columns)
    panel_w = LABEL_W + 5 * (size + TILE_GAP)
    row_h = size + TILE_GAP
    extra_h = (size + 5 * HEADER_H) if block_example else 0
    canvas = Image.new("RGB", (columns * panel_w, HEADER_H + per_col * row_h + extra_h), "white")
    draw = ImageDraw.Draw(canvas)
    for c in range(columns):
        for lv in range(5):
            draw.text((c * panel_w + LABEL_W + lv * (size + TILE_GAP) + size // 2 - 10, 4), f"L{lv + 1}", fill="black")
    for n, type_id in enumerate(ids):
        col, row = divmod(n, per_col)
        x0, y0 = col * panel_w, HEADER_H + row * row_h
        spec = SPECS[type_id]
        draw.text((x0 + 4, y0 + size // 2 - 14), f"{type_id} {spec.name}", fill="black")
        values = ", ".join(f"{v:g}" for v in spec.levels[preset])
        draw.text((x0 + 4, y0 + size // 2 + 2), values, fill="gray")
        for lv in range(5):
            canvas.paste(_to_pil(out[n * 5 + lv]), (x0 + LABEL_W + lv * (size + TILE_GAP), y0))
    if block_example:
        y0 = HEADER_H + per_col * row_h + HEADER_H
        draw.text((4, y0 - HEADER_H + 4), f"SHDIQA block-wise degradation ({preset}, composite, four levels "
                  "0..3): original, vertical, horizontal, 2x2 grid", fill="black")
        canvas.paste(_to_pil(photo), (LABEL_W, y0))
        g = torch.Generator().manual_seed(seed)
        for j, partition in enumerate(("vertical", "horizontal", "grid2x2")):
            # BlockDegradation draws only the types that fit its blocks (non_eccentricity: 49 px);
            # patch_size 1: the tile needs no token map.
            bdm = BlockDegradation(partition, types=tuple(ids), preset=preset, patch_size=1, backend=backend)
            result = bdm(photo.unsqueeze(0), generator=g)
            x0 = LABEL_W + (j + 1) * (size + TILE_GAP)
            canvas.paste(_to_pil(result.degraded[0]), (x0, y0))
            for k, (by0, by1, bx0, bx1) in enumerate(block_bounds(size, size, bdm.partition)):
                draw.rectangle((x0 + bx0, y0 + by0, x0 + bx1 - 1, y0 + by1 - 1), outline="yellow")
                draw.text((x0 + bx0 + 3, y0 + by0 + 2), str(k), fill="yellow")
                # Legend under the tile: block id, type, level label (0..3 = the kept levels).
                name = SPECS[int(result.type_labels[0, k])].name
                level = int(result.level_labels[0, k])
                draw.text((x0, y0 + size + 2 + 12 * k), f"{k}: {name} lvl {level}", fill="black")
    return canvas


def run_grid(image: str, out: str, preset: str, types: str, size: int, seed: int, block_example: bool,
             backend: str) -> int:
    largest = max(SPECS, key=lambda s: s.min_region)
    if size < max(largest.min_region):
        raise ValueError(f"--size must be >= {max(largest.min_region)} ({largest.name}'s minimum region), got {size}")
    canvas = draw_grid(load_photo(image, size), preset=preset, types=types, seed=seed, block_example=block_example,
                       backend=backend)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out)
    print(f"wrote {out} ({canvas.width}×{canvas.height})")
    return 0


def run_list(preset: str | None, types: str | None) -> int:
    names = list_distortions(preset=preset, types=types)
    print(f"{'id':>3}  {'name':<22} {'class':<22} levels ({preset or 'reiqa'})")
    for name in names:
        s = next(sp for sp in SPECS if sp.name == name)
        table = s.levels.get(preset or "reiqa")
        values = ", ".join(f"{v:g}" for v in table) if table else "—"
        print(f"{s.id:>3}  {s.name:<22} {s.cost_class:<22} {values}")
    return 0


def run_distort(image: str, out: str, types: list[str], levels: list[int], preset: str, partition: str | None,
                block_mode: str, seed: int, backend: str) -> int:
    """Distorts one image (a file or a scikit-image photo name) and writes it as PNG/JPEG/….

    One type and level: the whole image. With ``--partition``, one type and level per block
    (row-major), in ``block_mode``.
    """
    from PIL import Image

    from pyiqa_fast.distortions.params import resolve_partition
    from pyiqa_fast.ops import distort

    rows, cols = resolve_partition(partition)
    if len(types) != rows * cols or len(levels) != rows * cols:
        raise ValueError(f"--type and --level need {rows * cols} value(s) each for partition {partition or 'whole'}, "
                         f"got {len(types)} and {len(levels)}")
    from pyiqa_fast.data.images import read_image

    path = Path(image)
    if path.exists():
        x = read_image(path).unsqueeze(0)  # any mode to 8-bit RGB, or refused with the reason
    else:
        photo = load_photo(image, 512)  # a scikit-image photo name (errors name the argument)
        x = (photo * 255 + 0.5).to(torch.uint8).unsqueeze(0)
    params = sample_params([types], [levels], preset=preset, partition=(rows, cols), seed=seed)
    y = distort(x.contiguous(), params, block_mode=block_mode, backend=backend)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(y[0].permute(1, 2, 0).contiguous().numpy()).save(out)
    applied = ", ".join(f"{t} L{lv + 1}" for t, lv in zip(types, levels, strict=True))
    print(f"wrote {out} ({x.shape[3]}×{x.shape[2]}, {applied})")
    return 0
