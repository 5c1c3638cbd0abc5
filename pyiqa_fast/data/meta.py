"""Meta CSVs in pyiqa format (STYLE.md §10).

One row per image: ``name, mos, std`` (+ ``ref_name`` for synthetic sets), then one column per
split (``official_split``, ``ratio82_seed<s>_split<kk>``, ``train<p>_seed<s>_split<kk>`` …, see
:mod:`pyiqa_fast.data.splits`) holding ``train``/``val``/``test`` or empty. ``name`` is the image
path relative to the dataset root (``/``-separated); missing ``mos`` or ``std`` values are written
empty and read as NaN. No pickled split files.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from pyiqa_fast.data.splits import PHASES, SPLIT_PATTERN

BASE_COLUMNS = ("name", "mos", "std", "ref_name")


@dataclass
class Record:
    """One labelled image.

    Attributes:
        name: Path relative to the dataset root, ``/``-separated (e.g. ``"1024x768/826373.jpg"``).
        mos: Label on the dataset's raw scale (NaN for unlabelled sets).
        std: Standard deviation of the ratings where the release gives one, else NaN.
        ref_name: Reference image name for synthetic sets, else None.
        splits: ``{split column: "train"|"val"|"test"|""}``.
        where: Where the record was read (``"<file>:<line>"``, or a MATLAB variable and index), for
            error messages; not compared, not written.
    """

    name: str
    mos: float
    std: float = math.nan
    ref_name: str | None = None
    splits: dict[str, str] = field(default_factory=dict)
    where: str = field(default="", compare=False, repr=False)


def _is_split_column(col: str) -> bool:
    return col == "official_split" or SPLIT_PATTERN.match(col) is not None


def _fmt(x: float) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else repr(float(x))


def write_meta_csv(records: list[Record], path: str | Path, synthetic: bool) -> Path:
    """Write ``records`` as a pyiqa-format meta CSV (atomically: temp file + rename).

    Args:
        records: Rows; every record's ``splits`` keys become columns (union, in first-seen order).
        path: Output file.
        synthetic: Write the ``ref_name`` column.

    Returns:
        The written path.
    """
    path = Path(path)
    split_cols: list[str] = []
    for r in records:
        for c in r.splits:
            if c not in split_cols:
                split_cols.append(c)
    header = ["name", "mos", "std"] + (["ref_name"] if synthetic else []) + split_cols
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in records:
            row = [r.name, _fmt(r.mos), _fmt(r.std)] + ([r.ref_name or ""] if synthetic else [])
            w.writerow(row + [r.splits.get(c, "") for c in split_cols])
    tmp.replace(path)
    return path


def _float(value: str, path: Path, line: int, col: str) -> float:
    """An empty field is a missing value (NaN); anything else must be a finite number."""
    if value.strip() == "":
        return math.nan
    try:
        x = float(value)
    except ValueError:
        raise ValueError(f"{path}:{line}: column {col!r} holds {value!r}, not a number") from None
    if not math.isfinite(x):
        raise ValueError(f"{path}:{line}: column {col!r} holds {value!r}, not a finite number "
                         "(leave the field empty for a missing value)")
    return x


def _read_rows(path: Path, reader, synthetic: bool | None, expected: str) -> tuple[list[Record], list[str]]:
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ValueError(f"meta CSV {path} is empty; expected header {expected}") from None
    required = ["name", "mos"] + (["ref_name"] if synthetic else [])
    missing = [c for c in required if c not in header]
    unexpected = [c for c in header if c not in BASE_COLUMNS and not _is_split_column(c)]
    if missing or unexpected or len(set(header)) != len(header):
        parts = ([f"missing column(s) {missing}"] if missing else []) + \
                ([f"unexpected column(s) {unexpected}"] if unexpected else []) + \
                (["duplicated column names"] if len(set(header)) != len(header) else [])
        raise ValueError(f"meta CSV {path}: {'; '.join(parts)}; expected header {expected} "
                         "(split columns: official_split, ratio82_seed<s>_split<kk>, ratio712_seed<s>_split<kk> or "
                         "train<p>_seed<s>_split<kk>)")
    idx = {c: i for i, c in enumerate(header)}
    split_cols = [c for c in header if _is_split_column(c)]
    records: list[Record] = []
    first: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not row or all(not v.strip() for v in row):
            continue
        if len(row) != len(header):
            raise ValueError(f"{path}:{line}: {len(row)} fields, header has {len(header)}")
        name = row[idx["name"]].strip()
        if not name:
            raise ValueError(f"{path}:{line}: empty name")
        if name in first:
            raise ValueError(f"{path}:{line}: duplicated name {name!r} (first at line {first[name]})")
        first[name] = line
        splits = {}
        for c in split_cols:
            v = row[idx[c]].strip()
            if v not in (*PHASES, ""):
                raise ValueError(f"{path}:{line}: split {c!r} holds {v!r}; allowed train, val, test or empty")
            splits[c] = v
        ref = row[idx["ref_name"]].strip() or None if "ref_name" in idx else None
        if synthetic and ref is None:
            raise ValueError(f"{path}:{line}: empty ref_name (synthetic sets need it for content-disjoint "
                             "splits)")
        records.append(Record(name, _float(row[idx["mos"]], path, line, "mos"),
                              _float(row[idx["std"]], path, line, "std") if "std" in idx else math.nan,
                              ref, splits, where=f"{path}:{line}"))
    return records, split_cols


def read_meta_csv(path: str | Path, synthetic: bool | None = None) -> tuple[list[Record], list[str]]:
    """Read and validate a meta CSV.

    Args:
        path: The CSV file.
        synthetic: If True, a ``ref_name`` column is required (content-disjoint splits need it).

    Returns:
        ``(records, split_columns)``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: Missing ``name``/``mos`` (or ``ref_name``) columns, an unexpected column, a
            label that is not a finite number (empty: missing, NaN), a duplicated name, a split value
            other than train/val/test/empty, or a file that is not UTF-8 CSV (each names ``file:line``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"meta CSV {path} does not exist")
    expected = "name,mos,std" + (",ref_name" if synthetic else "[,ref_name]") + ",<split columns>"
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            records, split_cols = _read_rows(path, reader, synthetic, expected)
        except UnicodeDecodeError as exc:
            raise ValueError(f"meta CSV {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except csv.Error as exc:
            raise ValueError(f"{path}:{reader.line_num}: malformed CSV: {exc}") from None
    if not records:
        raise ValueError(f"meta CSV {path} has a header but no rows")
    return records, split_cols
