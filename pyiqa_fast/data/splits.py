"""Seeded, content-disjoint train/val/test splits (STYLE.md §10, METHODS.md §1.3, docs/design/protocols.md).

Split columns are named ``<ratio>_seed<s>_split<kk>``, ``s`` >= 0, ``kk`` = 00..99 (the repeat):

- ``ratio82``: 80 % train / 20 % test (the full-data protocols of DEIQT, DSMix, DP-IQA, LoDa);
- ``ratio712``: 70 / 10 / 20 with a validation phase;
- ``train<p>``, ``p`` = 1..99 written without a leading zero (``train5``, ``train20``): ``p`` % train,
  the other units test (the data-efficient protocols: ``train20_seed3407_split00``).

Procedure (library-independent, so a column is the same on every machine and version):

1. The *units* are the distinct content keys: the reference image name for synthetic sets (all
   distorted versions of one reference land in the same phase), the image name for authentic sets.
2. Units are sorted by ``sha256(f"{seed}:{repeat}:{unit}")`` (hex digest, ties impossible in
   practice) — a seeded random permutation that does not depend on NumPy's or torch's generators.
3. The first ``round(t * n)`` units (Python ``round``, as DEIQT's ``int(round(0.8 * N))``) are
   ``train``, the next ``round(v * n)`` ``val``, the rest ``test``; ``(t, v)`` = (0.8, 0) for
   ``ratio82``, (0.7, 0.1) for ``ratio712``, (p / 100, 0) for ``train<p>``.

The order depends on the seed and the repeat only, not on the fractions, so the splits of one
``(seed, repeat)`` are nested: the training units of ``train20`` are among those of ``train40``,
of ``ratio712`` (= ``train70``'s) and of ``ratio82`` (= ``train80``'s), and a test set always
contains the test sets of the larger fractions. A data-efficient comparison across fractions thus
varies the amount of training data, not the draw.

An empty phase is an error, never a silent degenerate split.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

SPLIT_PATTERN = re.compile(r"^(ratio82|ratio712|train[1-9][0-9]?)_seed(\d+)_split(\d{2})$")
PHASES = ("train", "val", "test")
_RATIOS = {"82": (0.8, 0.0), "712": (0.7, 0.1)}
_TRAIN_RATIO = re.compile(r"^train([1-9][0-9]?)$")
_FORMS = "ratio82_seed<s>_split<kk>, ratio712_seed<s>_split<kk> or train<p>_seed<s>_split<kk> (p = 1..99)"


def ratio_fractions(ratio: str) -> tuple[float, float]:
    """``(train, val)`` fractions of a ratio code: ``"82"``, ``"712"`` or ``"train<p>"``.

    Raises:
        ValueError: Any other code (named, with the accepted forms).

    Example:
        >>> ratio_fractions("712"), ratio_fractions("train25")
        ((0.7, 0.1), (0.25, 0.0))
    """
    if ratio in _RATIOS:
        return _RATIOS[ratio]
    m = _TRAIN_RATIO.match(ratio) if isinstance(ratio, str) else None
    if m is None:
        raise ValueError(f"ratio must be '82', '712' or 'train<p>' with p = 1..99 (no leading zero); got {ratio!r}")
    return int(m.group(1)) / 100, 0.0


def train_ratio(train_fraction: float) -> str:
    """The ratio code of a train/test split with ``train_fraction`` of the units training:
    ``"82"`` for 0.8 (the ``ratio82`` columns), else ``"train<p>"``.

    Raises:
        ValueError: ``train_fraction`` is not a whole percent in 0.01..0.99.

    Example:
        >>> train_ratio(0.8), train_ratio(0.05)
        ('82', 'train5')
    """
    ok = isinstance(train_fraction, (int, float)) and not isinstance(train_fraction, bool)
    percent = round(train_fraction * 100) if ok else 0
    if not ok or not 1 <= percent <= 99 or percent / 100 != train_fraction:
        raise ValueError(f"train_fraction must be a whole percent in 0.01..0.99 (a split column is named "
                         f"by it, train<p>_seed<s>_split<kk>); got {train_fraction!r}")
    return "82" if percent == 80 else f"train{percent}"


def split_name(seed: int, repeat: int, ratio: str = "82") -> str:
    """Column name of one generated split.

    Args:
        seed: Non-negative seed.
        repeat: Repeat index 0..99.
        ratio: ``"82"``, ``"712"`` or ``"train<p>"`` (:func:`train_ratio` gives it for a fraction).

    Example:
        >>> split_name(3407, 3), split_name(0, 12, "train20")
        ('ratio82_seed3407_split03', 'train20_seed0_split12')
    """
    ratio_fractions(ratio)  # checks the code
    if not 0 <= int(repeat) <= 99 or int(seed) < 0:
        raise ValueError(f"need seed >= 0 and 0 <= repeat <= 99; got seed={seed}, repeat={repeat}")
    return f"{'ratio' if ratio in _RATIOS else ''}{ratio}_seed{int(seed)}_split{int(repeat):02d}"


def parse_split_name(name: str) -> tuple[str, int, int]:
    """``(ratio, seed, repeat)`` of a generated split name (``ratio`` as :func:`split_name` takes it).

    Raises:
        ValueError: ``name`` is not of one of the forms in the module docstring.

    Example:
        >>> parse_split_name("ratio82_seed0_split09"), parse_split_name("train5_seed1_split00")
        (('82', 0, 9), ('train5', 1, 0))
    """
    m = SPLIT_PATTERN.match(name) if isinstance(name, str) else None
    if m is None:
        raise ValueError(f"split {name!r} is not 'official_split' or of the form {_FORMS}, kk = 00..99")
    family = m.group(1)
    return family.removeprefix("ratio"), int(m.group(2)), int(m.group(3))


def split_fractions(name: str) -> tuple[float, float]:
    """``(train, val)`` fractions of a generated split name.

    Example:
        >>> split_fractions("train40_seed3407_split02")
        (0.4, 0.0)
    """
    return ratio_fractions(parse_split_name(name)[0])


def required_phases(split: str) -> tuple[str, ...]:
    """Phases a split column must not leave empty: ``train`` for ``official_split`` (releases differ
    in which phases they have), ``train``/``val``/``test`` for a generated split with a validation
    fraction, else ``train``/``test``."""
    if split == "official_split":
        return ("train",)
    return ("train", "val", "test") if split_fractions(split)[1] else ("train", "test")


def ratio_split(keys: Sequence[str], seed: int, repeat: int, ratio: str = "82") -> list[str]:
    """Assign each item a phase, content-disjointly.

    Args:
        keys: One content key per item (reference name for synthetic sets, image name otherwise);
            items sharing a key always share a phase.
        seed: Non-negative seed.
        repeat: Repeat index 0..99.
        ratio: ``"82"`` (80/20 train/test), ``"712"`` (70/10/20 train/val/test) or ``"train<p>"``
            (``p`` % train, the rest test).

    Returns:
        ``list[str]`` of ``"train"``/``"val"``/``"test"``, aligned with ``keys``.

    Raises:
        ValueError: Too few distinct keys for every phase to be non-empty.

    Example:
        >>> ratio_split(["a", "a", "b", "c", "d", "e"], seed=0, repeat=0).count("test") in (1, 2)
        True
    """
    name = split_name(seed, repeat, ratio)  # checks ratio, seed and repeat
    train_frac, val_frac = ratio_fractions(ratio)
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
