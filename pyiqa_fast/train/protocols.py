"""Evaluation protocols as named presets (METHODS.md §1.3, docs/design/protocols.md).

A :class:`Protocol` fixes the split (family and training fraction), the number of repeats, the
statistic over repeats, the epoch selection rule and the test-time input. ``select="best_test_plcc"``
is what the official DEIQT and DP-IQA code do (choose the epoch on the test split); results record
which rule they used.

The protocol's ``train_fraction`` is the one place a run's training share is set: with
``data.split: auto`` (or the default ``ratio82``) :func:`pyiqa_fast.data.build_dataset` reads the
column :meth:`Protocol.split_column` names, ``ratio82_seed<s>_split<kk>`` at 0.8 and
``train<p>_seed<s>_split<kk>`` otherwise (``shdiqa_de20`` → ``train20_…``).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import statistics
from dataclasses import dataclass
from typing import Any

from pyiqa_fast.data.splits import split_name, train_ratio

__all__ = ["Protocol", "PROTOCOLS", "list_protocols", "aggregate", "select_epoch"]

_STATISTICS = ("median", "mean", "max", "min")
_SELECT = ("best_test_plcc", "best_test_srcc", "last")
_CROPS = ("random", "five", "center", "resize")
_SPLITS = ("ratio82", "official")


@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol.

    Args:
        name: Preset name (or ``"custom"``).
        split: Split family: ``"ratio82"``, the seeded content-disjoint random split of
            :mod:`pyiqa_fast.data.splits` (``train_fraction`` of the units train, the rest test;
            80/20 by default, hence the name), or ``"official"``, the release's own split.
        train_fraction: Fraction of images (or reference images) used for training, a whole
            percent (it names the split column: 0.8 → ``ratio82_…``, 0.2 → ``train20_…``).
        content_disjoint: Split by reference image where the dataset has references.
        repeats: Number of random splits.
        statistic: ``median``, ``mean``, ``max`` or ``min`` over repeats.
        select: Epoch selection per repeat: ``best_test_plcc``, ``best_test_srcc`` or ``last``.
        test_crops: Number of test crops whose scores are averaged per image.
        test_crop_mode: ``random`` (seeded per image), ``five`` (4 corners + centre), ``center``,
            or ``resize`` (whole image resized to the crop size).
        plcc_fit: ``"none"`` (raw Pearson) or ``"logistic4"``.
        source: Where the row comes from (METHODS.md tag).

    Example:
        >>> Protocol.preset("dsmix").statistic
        'median'
    """

    name: str = "custom"
    split: str = "ratio82"
    train_fraction: float = 0.8
    content_disjoint: bool = True
    repeats: int = 10
    statistic: str = "median"
    select: str = "best_test_plcc"
    test_crops: int = 1
    test_crop_mode: str = "random"
    plcc_fit: str = "none"
    source: str = ""

    def __post_init__(self) -> None:
        if self.statistic not in _STATISTICS:
            raise ValueError(f"Protocol.statistic must be one of {_STATISTICS}, got {self.statistic!r}")
        if self.select not in _SELECT:
            raise ValueError(f"Protocol.select must be one of {_SELECT}, got {self.select!r}")
        if self.split not in _SPLITS:
            raise ValueError(f"Protocol.split must be one of {_SPLITS}, got {self.split!r}")
        if self.test_crop_mode not in _CROPS:
            raise ValueError(f"Protocol.test_crop_mode must be one of {_CROPS}, got {self.test_crop_mode!r}")
        for name in ("repeats", "test_crops"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Protocol.{name} must be an integer >= 1, got {value!r}")
        if not isinstance(self.train_fraction, (int, float)) or isinstance(self.train_fraction, bool) \
                or not 0.0 < self.train_fraction < 1.0:
            raise ValueError(f"Protocol.train_fraction must be a number in (0, 1), got {self.train_fraction!r}")
        try:
            train_ratio(self.train_fraction)
        except ValueError:
            raise ValueError(f"Protocol.train_fraction must be a whole percent (0.01, 0.02, …, 0.99; it names the "
                             f"split column train<p>_seed<s>_split<kk>), got {self.train_fraction!r}") from None

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> Protocol:
        """The named preset, optionally with fields replaced.

        Raises:
            KeyError: Unknown name (with close names).
        """
        if name not in PROTOCOLS:
            close = difflib.get_close_matches(name, list(PROTOCOLS), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise KeyError(f"unknown protocol {name!r}{hint} (available: {', '.join(PROTOCOLS)})")
        return dataclasses.replace(PROTOCOLS[name], **overrides) if overrides else PROTOCOLS[name]

    def split_column(self, seed: int, repeat: int) -> str:
        """The split column of ``repeat`` under this protocol with split seed ``seed``.

        Example:
            >>> Protocol.preset("shdiqa_de20").split_column(3407, 1)
            'train20_seed3407_split01'
            >>> Protocol.preset("deiqt").split_column(3407, 1)
            'ratio82_seed3407_split01'
        """
        if self.split == "official":
            return "official_split"
        return split_name(seed, repeat, train_ratio(self.train_fraction))

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for result files)."""
        return dataclasses.asdict(self)


PROTOCOLS: dict[str, Protocol] = {
    "deiqt": Protocol("deiqt", repeats=10, statistic="median", select="best_test_plcc", test_crops=25,
                      test_crop_mode="random", source="CODE narthchin/DEIQT:main.py (statistic: PROPOSAL)"),
    "shdiqa": Protocol("shdiqa", repeats=10, statistic="mean", select="last", test_crops=25,
                       test_crop_mode="random", source="PAPER SHDIQA-supp §2 (selection, crops: PROPOSAL)"),
    "dsmix": Protocol("dsmix", repeats=10, statistic="median", select="last", test_crops=5,
                      test_crop_mode="five", source="PAPER DSMix §4.2 (selection: PROPOSAL)"),
    "dpiqa": Protocol("dpiqa", repeats=5, statistic="median", select="best_test_plcc", test_crops=1,
                      test_crop_mode="resize", source="PAPER DP-IQA §4.2; CODE RomGai/DP-IQA:train_dpiqa.py"),
    "loda": Protocol("loda", repeats=10, statistic="median", select="last", test_crops=15,
                     test_crop_mode="random", source="CODE NeosXu/LoDa:scripts/benchmark (statistic: PROPOSAL)"),
}

# SHDIQA's data-efficient rows: the shdiqa preset with a smaller training share, the other images
# (reference images for synthetic sets) the test set; docs/design/protocols.md. Table 1 (KonIQ,
# LIVEC): 20/40/60 %, 10 repeats, mean; which images it tests on is not stated. Table 2 (KonIQ,
# SPAQ): 5/10/25 %, "tested on the other images"; its repeats are not stated (10, as Table 1).
_DATA_EFFICIENT = {5: "Table 2; repeats", 10: "Table 2; repeats", 20: "Table 1; test set", 25: "Table 2; repeats",
                   40: "Table 1; test set", 60: "Table 1; test set"}
for _percent, _unstated in _DATA_EFFICIENT.items():
    PROTOCOLS[f"shdiqa_de{_percent}"] = dataclasses.replace(
        PROTOCOLS["shdiqa"], name=f"shdiqa_de{_percent}", train_fraction=_percent / 100,
        source=f"PAPER SHDIQA-supp §2, {_unstated}, selection, crops: PROPOSAL")
del _percent, _unstated


def list_protocols() -> list[str]:
    """Names of the protocol presets."""
    return list(PROTOCOLS)


def aggregate(values: list[float], statistic: str) -> float:
    """Combine per-repeat values with ``median``/``mean``/``max``/``min`` (NaN for no values)."""
    vals = [float(v) for v in values]
    if not vals:
        return math.nan
    if statistic == "median":
        return float(statistics.median(vals))
    if statistic == "mean":
        return float(statistics.fmean(vals))
    if statistic == "max":
        return max(vals)
    if statistic == "min":
        return min(vals)
    raise ValueError(f"unknown statistic {statistic!r}")


def select_epoch(history: list[dict[str, Any]], select: str) -> dict[str, Any] | None:
    """The evaluated epoch a protocol reports from a repeat's per-epoch records.

    Args:
        history: Records with ``"plcc"``/``"srcc"`` keys (records without them are skipped).
        select: ``best_test_plcc`` (ties: the earliest), ``best_test_srcc`` or ``last``.
    """
    evaluated = [h for h in history if h.get("plcc") is not None]
    if not evaluated:
        return None
    if select == "last":
        return evaluated[-1]
    key = "plcc" if select == "best_test_plcc" else "srcc"
    best = evaluated[0]
    for h in evaluated[1:]:
        if h[key] > best[key]:
            best = h
    return best
