"""Seeded, content-disjoint train/val/test splits (STYLE.md §10, METHODS.md §1.3).

Split columns are named ``ratio82_seed<s>_split<kk>`` (80 % train / 20 % test) or
``ratio712_seed<s>_split<kk>`` (70 / 10 / 20 with a validation phase), ``kk`` = 00..99.

Procedure (library-independent, so a column is the same on every machine and version):

1. The *units* are the distinct content keys: the reference image name for synthetic sets (all
   distorted versions of one reference land in the same phase), the image name for authentic sets.
2. Units are sorted by ``sha256(f"{seed}:{repeat}:{unit}")`` (hex digest, ties impossible in
   practice) — a seeded random permutation that does not depend on NumPy's or torch's generators.
3. The first ``round(0.8 * n)`` units (Python ``round``, as DEIQT's ``int(round(0.8 * N))``) are
   ``train``, the rest ``test``; for ``ratio712`` the first ``round(0.7 n)`` are train, the next
   ``round(0.1 n)`` val, the rest test.

An empty phase is an error, never a silent degenerate split.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

SPLIT_PATTERN = re.compile(r"^ratio(82|712)_seed(\d+)_split(\d{2})$")
PHASES = ("train", "val", "test")
_RATIOS = {"82": (0.8, 0.0), "712": (0.7, 0.1)}


def split_name(seed: int, repeat: int, ratio: str = "82") -> str:
    """Column name of one generated split.

    Example:
        >>> split_name(3407, 3)
        'ratio82_seed3407_split03'
    """
    if ratio not in _RATIOS:
        raise ValueError(f"ratio must be one of {sorted(_RATIOS)}; got {ratio!r}")
    if not 0 <= int(repeat) <= 99 or int(seed) < 0:
        raise ValueError(f"need seed >= 0 and 0 <= repeat <= 99; got seed={seed}, repeat={repeat}")
    return f"ratio{ratio}_seed{int(seed)}_split{int(repeat):02d}"


def parse_split_name(name: str) -> tuple[str, int, int]:
    """``(ratio, seed, repeat)`` of a generated split name.

    Raises:
        ValueError: ``name`` is not of the form ``ratio82_seed<s>_split<kk>`` / ``ratio712_...``.

    Example:
        >>> parse_split_name("ratio82_seed0_split09")
        ('82', 0, 9)
    """
    m = SPLIT_PATTERN.match(name)
    if m is None:
        raise ValueError(f"split {name!r} is not 'official_split' or of the form ratio82_seed<s>_split<kk> "
                         "(or ratio712_seed<s>_split<kk>), kk = 00..99")
    return m.group(1), int(m.group(2)), int(m.group(3))


def ratio_split(keys: Sequence[str], seed: int, repeat: int, ratio: str = "82") -> list[str]:
    """Assign each item a phase, content-disjointly.

    Args:
        keys: One content key per item (reference name for synthetic sets, image name otherwise);
            items sharing a key always share a phase.
        seed: Non-negative seed.
        repeat: Repeat index 0..99.
        ratio: ``"82"`` (train/test) or ``"712"`` (train/val/test).

    Returns:
        ``list[str]`` of ``"train"``/``"val"``/``"test"``, aligned with ``keys``.

    Raises:
        ValueError: Too few distinct keys for every phase to be non-empty.

    Example:
        >>> ratio_split(["a", "a", "b", "c", "d", "e"], seed=0, repeat=0).count("test") in (1, 2)
        True
    """
    name = split_name(seed, repeat, ratio)  # checks ratio, seed and repeat
    train_frac, val_frac = _RATIOS[ratio]
    return fraction_split(keys, seed, repeat, train_frac, val_frac, name=name)


def fraction_split(keys: Sequence[str], seed: int, repeat: int, train: float, val: float = 0.0, *,
                   name: str = "split") -> list[str]:
    """:func:`ratio_split` for any fractions: the first ``round(train·n)`` units of the seeded
    sha256 order are ``train``, the next ``round(val·n)`` ``val``, the rest ``test``.

    Raises:
        ValueError: A fraction outside [0, 1), or too few distinct keys for every phase.
    """
    if not (0.0 < train < 1.0 and 0.0 <= val < 1.0 and train + val < 1.0):
        raise ValueError(f"split {name}: need 0 < train < 1, 0 <= val and train + val < 1; "
                         f"got train={train}, val={val}")
    units = sorted(set(keys), key=lambda u: hashlib.sha256(f"{seed}:{repeat}:{u}".encode()).hexdigest())
    n = len(units)
    n_train = int(round(train * n))
    n_val = int(round(val * n))
    sizes = {"train": n_train, "val": n_val, "test": n - n_train - n_val}
    wanted = ("train", "val", "test") if val else ("train", "test")
    empty = [p for p in wanted if sizes[p] <= 0]
    if empty:
        raise ValueError(f"split {name}: {n} distinct content unit(s) leave the {'/'.join(empty)} phase empty; "
                         "too few for these ratios")
    phase_of = {}
    for i, u in enumerate(units):
        phase_of[u] = "train" if i < n_train else "val" if i < n_train + n_val else "test"
    return [phase_of[k] for k in keys]


def check_split(phases: Sequence[str], split: str, need: Sequence[str] = ("train", "test")) -> None:
    """Raise if a split column has an unknown value or an empty required phase.

    Args:
        phases: The column's values (``""`` = item not in this split).
        split: The column name (for the message).
        need: Phases that must be non-empty.

    Raises:
        ValueError: Naming the split and the empty phase or the bad value.
    """
    bad = sorted({p for p in phases if p not in (*PHASES, "")})
    if bad:
        raise ValueError(f"split {split!r} has values {bad}; allowed: train, val, test or empty")
    for p in need:
        if p not in phases:
            raise ValueError(f"split {split!r} has an empty {p!r} phase")
