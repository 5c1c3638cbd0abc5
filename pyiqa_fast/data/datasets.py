"""Loaders for the official releases of the catalogue datasets (read locally, never downloaded).

:func:`load_dataset` reads a dataset's official label file(s) from ``root``, checks the image count
against the catalogue (METHODS.md §1.1), checks that every image file exists, attaches a split
column (read from a meta CSV or generated, :mod:`pyiqa_fast.data.splits`) and returns an
:class:`IQADataset` whose items are dicts::

    {"img": Tensor[3, H, W] uint8 (or float32 in [0, 1]), "mos": float, "name": str,
     "ref": str  # synthetic sets only}

Every missing file is reported by name with the expected layout; with ``on_error="skip"`` missing
(and, with ``verify=True``, undecodable) files are skipped *and reported* (a warning and
``dataset.skipped``), never dropped silently. A label that is not a finite number (NaN, inf, text)
or an image listed twice is an error naming ``file:line`` and the value. Images are read by
:func:`pyiqa_fast.data.images.read_image` (16-bit, float, grey, palette, alpha: converted to RGB,
or refused with the reason).
"""

from __future__ import annotations

import csv
import inspect
import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pyiqa_fast.data.catalogue import DatasetInfo, get_dataset_info
from pyiqa_fast.data.images import ImageReadError, read_image, verify_image
from pyiqa_fast.data.meta import Record, read_meta_csv
from pyiqa_fast.data.splits import PHASES, check_split, parse_split_name, ratio_split, required_phases

IMAGE_EXTENSIONS = (".bmp", ".png", ".jpg", ".jpeg", ".tif", ".tiff")


class DatasetLayoutError(FileNotFoundError):
    """A file or folder of an official release is missing; the message names it and shows the layout."""


# --------------------------------------------------------------------------------------------------
# helpers


def _layout_error(info: DatasetInfo, root: Path, missing: Path | str, extra: str = "") -> DatasetLayoutError:
    return DatasetLayoutError(
        f"{info.title}: missing {missing}{extra}\nExpected layout under {root}:\n{info.layout}")


def _need(info: DatasetInfo, root: Path, rel: str, is_dir: bool = False) -> Path:
    path = root / rel
    if not (path.is_dir() if is_dir else path.is_file()):
        raise _layout_error(info, root, path)
    return path


def _loadmat(path: Path) -> dict[str, Any]:
    try:
        from scipy.io import loadmat
    except ImportError as exc:  # pragma: no cover - scipy is a test dependency
        raise ImportError(f"reading {path} (a MATLAB .mat file) needs scipy: "
                          "python -m pip install scipy") from exc
    try:
        return loadmat(str(path))
    except Exception as exc:  # noqa: BLE001 - scipy raises several types for bad files
        raise ValueError(f"cannot read MATLAB file {path}: {exc}") from exc


def _mat_field(info: DatasetInfo, path: Path, mat: dict[str, Any], key: str) -> np.ndarray:
    if key not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{info.title}: {path} has no variable {key!r} (has {keys})\n"
                         f"Expected layout:\n{info.layout}")
    return mat[key]


def _flat_numbers(a: np.ndarray) -> list[float]:
    return [float(x) for x in np.asarray(a, dtype=np.float64).ravel()]


def _cellstr(a: Any) -> list[str]:
    """Flatten a MATLAB cell array of strings as returned by ``scipy.io.loadmat``."""
    out: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, str):
            out.append(x.strip())
        elif isinstance(x, bytes):
            out.append(x.decode().strip())
        elif isinstance(x, np.ndarray) and x.dtype.kind in "US":
            out.extend(str(s).strip() for s in x.ravel())
        elif isinstance(x, np.ndarray):
            for y in x.ravel():
                walk(y)
        else:
            out.append(str(x).strip())

    walk(a)
    return out


def _read_text(info: DatasetInfo, path: Path) -> str:
    """A label file's text (UTF-8, a BOM allowed); an undecodable file is named."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{info.title}: {path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                         "is it the release's label file?") from None


def _read_csv(info: DatasetInfo, path: Path,
              required: list[list[str]]) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    """``(line number, row)`` of each row of a CSV and, per group of alternative names in
    ``required``, the column found; a row lacking a required field is an error naming its line."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        try:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            rows = []
            for row in reader:
                rows.append((reader.line_num, row))
        except UnicodeDecodeError as exc:
            raise ValueError(f"{info.title}: {path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                             "is it the release's label file?") from None
        except csv.Error as exc:
            raise ValueError(f"{info.title}: {path}:{reader.line_num}: malformed CSV: {exc}") from None
    found = []
    for alternatives in required:
        col = next((c for c in alternatives if c in header), None)
        if col is None:
            raise ValueError(f"{info.title}: {path} has no column {' or '.join(repr(c) for c in alternatives)} "
                             f"(header: {header})\nExpected layout:\n{info.layout}")
        found.append(col)
    for line, row in rows:
        short = [c for c in found if row.get(c) is None]
        if short:
            raise ValueError(f"{info.title}: {path}:{line}: the row has {sum(v is not None for v in row.values())} "
                             f"field(s), the header {len(header)}: no value for {', '.join(map(repr, short))}")
    return rows, found


def _number(info: DatasetInfo, where: str, value: Any, what: str = "label") -> float:
    """``float(value)``, or a ValueError naming ``where`` (``"<file>:<line>"``), ``what`` and the value."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{info.title}: {where}: {what} {value!r} is not a number") from None


def _check_records(info: DatasetInfo, records: list[Record], source: Path | str) -> None:
    """Refuse labels that are not finite numbers (a labelled set) or infinite stds, and an image
    listed twice, naming the line (``Record.where``) and the value.

    Raises:
        ValueError: The first such record.
    """
    labelled = info.label_kind != "none"
    first: dict[str, str] = {}
    for r in records:
        where = r.where or str(source)
        if labelled and not math.isfinite(r.mos):
            raise ValueError(f"{info.title}: {where}: {info.label_kind} of {r.name!r} is {r.mos!r}, not a finite "
                             "number; fix or remove the entry")
        if math.isinf(r.std):
            raise ValueError(f"{info.title}: {where}: std of {r.name!r} is {r.std!r}; expected a finite number "
                             "(or none)")
        if not r.name or r.name.endswith("/"):
            raise ValueError(f"{info.title}: {where}: empty image name {r.name!r}")
        if r.name in first:
            before = first[r.name]
            file, _, line = before.rpartition(":")
            if line.isdigit() and where.startswith(file + ":"):
                before = f"line {line}"  # the same file
            raise ValueError(f"{info.title}: {where}: image {r.name!r} is listed again (first at {before}); "
                             "each image must appear once")
        first[r.name] = where


class _CaseInsensitiveDir:
    """Resolve names in one folder ignoring case (TID2013 mixes ``i01``/``I01``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._map: dict[str, str] | None = None

    def rel(self, name: str) -> str:
        if (self.folder / name).exists():
            return name
        if self._map is None:
            self._map = {n.lower(): n for n in os.listdir(self.folder)} if self.folder.is_dir() else {}
        return self._map.get(name.lower(), name)


# --------------------------------------------------------------------------------------------------
# readers: (root, info, **options) -> (records, expected count, label file)

_LIVE_FOLDERS = (("jp2k", 227), ("jpeg", 233), ("wn", 174), ("gblur", 174), ("fastfading", 174))


def _read_live(root: Path, info: DatasetInfo) -> tuple[list[Record], int, Path]:
    dpath = _need(info, root, "dmos_realigned.mat")
    dm = _loadmat(dpath)
    labels = _flat_numbers(_mat_field(info, dpath, dm, "dmos_new"))
    orgs = _flat_numbers(_mat_field(info, dpath, dm, "orgs"))
    stds = _flat_numbers(dm["dmos_std"]) if "dmos_std" in dm else [math.nan] * len(labels)
    rpath = _need(info, root, "refnames_all.mat")
    refs = _cellstr(_mat_field(info, rpath, _loadmat(rpath), "refnames_all"))
    if not len(labels) == len(orgs) == len(refs) == len(stds):
        raise ValueError(f"{info.title}: dmos_new ({len(labels)}), orgs ({len(orgs)}), dmos_std ({len(stds)}) and "
                         f"refnames_all ({len(refs)}) differ in length")
    names: list[str] = []
    full = len(labels) == sum(n for _, n in _LIVE_FOLDERS)
    for folder, official in _LIVE_FOLDERS:
        d = _need(info, root, folder, is_dir=True)
        if full:
            n = official
        else:  # a subset/modified copy (check_count=False): the folder's highest img<k>.bmp
            ks = [int(p.stem[3:]) for p in d.glob("img*.bmp") if p.stem[3:].isdigit()]
            n = max(ks, default=0)
        names += [f"{folder}/img{k}.bmp" for k in range(1, n + 1)]
    if len(names) != len(labels):
        raise ValueError(f"{info.title}: the image folders hold {len(names)} img<k>.bmp entries, "
                         f"dmos_realigned.mat has {len(labels)}\nExpected layout:\n{info.layout}")
    records = [Record(n, m, s, r, where=f"{dpath} (dmos_new[{i}])")
               for i, (n, m, s, r, o) in enumerate(zip(names, labels, stds, refs, orgs, strict=True)) if o == 0]
    return records, info.count, dpath


def _read_csiq(root: Path, info: DatasetInfo) -> tuple[list[Record], int, Path]:
    lpath = _need(info, root, "csiq_label.txt")
    flat = (root / "dst_imgs_all").is_dir()
    if not flat and not (root / "dst_imgs").is_dir():
        raise _layout_error(info, root, f"{root / 'dst_imgs_all'} (or {root / 'dst_imgs'})")
    records = []
    for line_no, line in enumerate(_read_text(info, lpath).splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise ValueError(f"{info.title}: {lpath}, line {line_no}: expected '<name> <dmos>', got {line!r}")
        name, dmos = parts
        pieces = name.split(".")
        if len(pieces) < 3:
            raise ValueError(f"{info.title}: {lpath}, line {line_no}: name {name!r} is not '<ref>.<TYPE>.<level>.png'")
        rel = f"dst_imgs_all/{name}" if flat else f"dst_imgs/{pieces[1].lower()}/{name}"
        where = f"{lpath}:{line_no}"
        records.append(Record(rel, _number(info, where, dmos, "DMOS"), math.nan, f"{pieces[0]}.png", where=where))
    return records, info.count, lpath


def _read_tid2013(root: Path, info: DatasetInfo) -> tuple[list[Record], int, Path]:
    lpath = _need(info, root, "mos_with_names.txt")
    _need(info, root, "distorted_images", is_dir=True)
    folder = _CaseInsensitiveDir(root / "distorted_images")
    rows = [(k, line.split()) for k, line in enumerate(_read_text(info, lpath).splitlines(), start=1)
            if line.strip()]
    spath = root / "mos_std.txt"
    stds = [math.nan] * len(rows)
    if spath.is_file():
        vals = [v for v in _read_text(info, spath).split()]
        if len(vals) != len(rows):
            raise ValueError(f"{info.title}: {spath} has {len(vals)} values, {lpath} has {len(rows)} lines")
        stds = [_number(info, f"{spath} (value {i + 1})", v, "std") for i, v in enumerate(vals)]
    records = []
    for (line_no, parts), std in zip(rows, stds, strict=True):
        where = f"{lpath}:{line_no}"
        if len(parts) != 2:
            raise ValueError(f"{info.title}: {where}: expected '<mos> <name>', got {' '.join(parts)!r}")
        mos, name = parts
        records.append(Record(f"distorted_images/{folder.rel(name)}", _number(info, where, mos, "MOS"),
                              std, f"{name[:3].upper()}.BMP", where=where))
    return records, info.count, lpath


def _read_kadid10k(root: Path, info: DatasetInfo) -> tuple[list[Record], int, Path]:
    lpath = _need(info, root, "dmos.csv")
    _need(info, root, "images", is_dir=True)
    rows, (dist, ref, dmos, var) = _read_csv(info, lpath, [["dist_img"], ["ref_img"], ["dmos"], ["var"]])
    records = []
    for i, r in rows:
        where = f"{lpath}:{i}"
        v = _number(info, where, r[var], "var")
        records.append(Record(f"images/{r[dist].strip()}", _number(info, where, r[dmos], "DMOS"),
                              math.sqrt(v) if v >= 0 else math.nan, r[ref].strip(), where=where))
    return records, info.count, lpath


def _read_kadis700k(root: Path, info: DatasetInfo, *, part: str = "dist") -> tuple[list[Record], int, Path]:
    if part not in ("dist", "ref"):
        raise ValueError(f"KADIS-700k: part must be 'dist' or 'ref'; got {part!r}")
    folder = "dist_imgs" if part == "dist" else "ref_imgs"
    d = _need(info, root, folder, is_dir=True)
    files = sorted(p.relative_to(root).as_posix() for p in d.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise _layout_error(info, root, f"images in {d}",
                            " (dist_imgs/ is empty until the release's MATLAB code has generated them)"
                            if part == "dist" else "")
    if part == "dist":
        records = [Record(f, math.nan, math.nan, Path(f).stem.split("_")[0]) for f in files]
    else:
        records = [Record(f, math.nan, math.nan, Path(f).stem) for f in files]
    return records, info.count if part == "dist" else info.refs, d


def _read_livec(root: Path, info: DatasetInfo, *, keep_trial: bool = False) -> tuple[list[Record], int, Path]:
    ipath = _need(info, root, "Data/AllImages_release.mat")
    mpath = _need(info, root, "Data/AllMOS_release.mat")
    _need(info, root, "Images", is_dir=True)
    names = _cellstr(_mat_field(info, ipath, _loadmat(ipath), "AllImages_release"))
    mos = _flat_numbers(_mat_field(info, mpath, _loadmat(mpath), "AllMOS_release"))
    spath = root / "Data" / "AllStdDev_release.mat"
    std = (_flat_numbers(_mat_field(info, spath, _loadmat(spath), "AllStdDev_release")) if spath.is_file()
           else [math.nan] * len(mos))
    if not len(names) == len(mos) == len(std):
        raise ValueError(f"{info.title}: AllImages_release ({len(names)}), AllMOS_release ({len(mos)}) and "
                         f"AllStdDev_release ({len(std)}) differ in length")
    records = []
    for i, (n, m, s) in enumerate(zip(names, mos, std, strict=True)):
        if i < 7 and not keep_trial:
            continue  # the 7 trial images (DEIQT, LoDa)
        rel = f"Images/{n}"
        if not (root / rel).is_file() and (root / "Images" / "trainingImages" / n).is_file():
            rel = f"Images/trainingImages/{n}"
        records.append(Record(rel, m, s, where=f"{mpath} (AllMOS_release[{i}])"))
    return records, info.count + (7 if keep_trial else 0), mpath


def _read_koniq10k(root: Path, info: DatasetInfo, *, label: str = "MOS_zscore",
                   image_dir: str = "1024x768") -> tuple[list[Record], int, Path]:
    if label not in ("MOS_zscore", "MOS"):
        raise ValueError(f"KonIQ-10k: label must be 'MOS_zscore' or 'MOS'; got {label!r}")
    sets = root / "koniq10k_distributions_sets.csv"
    lpath = sets if sets.is_file() else _need(info, root, "koniq10k_scores_and_distributions.csv")
    _need(info, root, image_dir, is_dir=True)
    cols = [["image_name"], [label], ["SD"]] + ([["set"]] if lpath == sets else [])
    rows, found = _read_csv(info, lpath, cols)
    phase = {"training": "train", "train": "train", "validation": "val", "val": "val", "test": "test"}
    records = []
    for i, r in rows:
        where = f"{lpath}:{i}"
        rec = Record(f"{image_dir}/{r['image_name'].strip()}", _number(info, where, r[label], label),
                     _number(info, where, r["SD"], "SD") if label == "MOS" else math.nan, where=where)
        if lpath == sets:
            value = r["set"].strip().lower()
            if value not in phase:
                raise ValueError(f"{info.title}: {where}: set {r['set']!r} is not training/validation/test")
            rec.splits["official_split"] = phase[value]
        records.append(rec)
    return records, info.count, lpath


def _read_spaq(root: Path, info: DatasetInfo, *, image_dir: str = "TestImage") -> tuple[list[Record], int, Path]:
    base = root / "Annotations" / "MOS and Image attribute scores"
    csv_path, xlsx_path = base.with_suffix(".csv"), base.with_suffix(".xlsx")
    _need(info, root, image_dir, is_dir=True)
    if csv_path.is_file():
        rows, (name_col, mos_col) = _read_csv(info, csv_path, [["Image name", "Image_name", "name"], ["MOS", "mos"]])
        lpath = csv_path
    elif xlsx_path.is_file():
        try:
            import openpyxl
        except ImportError:
            raise _layout_error(info, root, csv_path,
                                f" ({xlsx_path} exists, but reading .xlsx needs openpyxl: export it to CSV "
                                "or python -m pip install openpyxl)") from None
        sheet = openpyxl.load_workbook(xlsx_path, read_only=True).worksheets[0]
        table = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        header = [h.strip() for h in table[0]]
        if "Image name" not in header or "MOS" not in header:
            raise ValueError(f"{info.title}: {xlsx_path} has no 'Image name'/'MOS' columns (header {header})")
        rows = [(i, dict(zip(header, row, strict=False))) for i, row in enumerate(table[1:], start=2) if any(row)]
        name_col, mos_col, lpath = "Image name", "MOS", xlsx_path
    else:
        raise _layout_error(info, root, csv_path)
    records = [Record(f"{image_dir}/{(r.get(name_col) or '').strip()}",
                      _number(info, f"{lpath}:{i}", r.get(mos_col), "MOS"), where=f"{lpath}:{i}")
               for i, r in rows]
    return records, info.count, lpath


def _read_flive(root: Path, info: DatasetInfo) -> tuple[list[Record], int, Path]:
    lpath = _need(info, root, "labels_image.csv")
    rows, (name_col, mos_col) = _read_csv(info, lpath, [["name_image", "name"], ["mos_image", "mos"]])
    header = set(rows[0][1]) if rows else set()
    phase = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
             "test": "test", "testing": "test"}
    records = []
    for i, r in rows:
        where = f"{lpath}:{i}"
        rec = Record(r[name_col].strip(), _number(info, where, r[mos_col], "MOS"), where=where)
        if "set" in header:
            value = (r["set"] or "").strip().lower()
            if value not in phase:
                raise ValueError(f"{info.title}: {where}: set {r['set']!r} is not train/val/test")
            rec.splits["official_split"] = phase[value]
        elif "is_valid" in header:
            rec.splits["official_split"] = "val" if (r["is_valid"] or "").strip().lower() in ("true", "1") else "train"
        records.append(rec)
    return records, info.count, lpath


READERS: dict[str, Callable[..., tuple[list[Record], int, Path]]] = {
    "live": _read_live, "csiq": _read_csiq, "tid2013": _read_tid2013, "kadid10k": _read_kadid10k,
    "kadis700k": _read_kadis700k, "livec": _read_livec, "koniq10k": _read_koniq10k, "spaq": _read_spaq,
    "flive": _read_flive,
}


def read_official(name: str, root: str | Path, check_count: bool = True, **options: Any) -> list[Record]:
    """Records from a dataset's official label files (no image is opened or checked here).

    Args:
        name: Catalogue name (see :func:`~pyiqa_fast.data.list_datasets`).
        root: The release folder (layout in the catalogue entry and in every error message).
        check_count: Require the catalogue count (METHODS.md §1.1).
        **options: Per-dataset options: ``livec``: ``keep_trial`` (False); ``koniq10k``: ``label``
            (``"MOS_zscore"``/``"MOS"``), ``image_dir`` (``"1024x768"``); ``spaq``: ``image_dir``
            (``"TestImage"``); ``kadis700k``: ``part`` (``"dist"``/``"ref"``).

    Returns:
        ``list[Record]`` with paths relative to ``root``.

    Raises:
        DatasetLayoutError: A label file or image folder is missing (names it, shows the layout).
        ValueError: Malformed label file, or a count differing from the catalogue.
        TypeError: An option the dataset does not have.
    """
    info = get_dataset_info(name)
    if info.name not in READERS:
        raise ValueError(f"{info.title}: generated by pyiqa_fast (pyiqa_fast.data.synth), not read from release "
                         f"files; load_dataset({info.name!r}, root=None) builds it; there is nothing to read")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise _layout_error(info, root, f"dataset folder {root}")
    reader = READERS[info.name]
    allowed = [p for p, v in inspect.signature(reader).parameters.items() if v.kind is v.KEYWORD_ONLY]
    unknown = [k for k in options if k not in allowed]
    if unknown:
        raise TypeError(f"{info.name}: unknown option(s) {unknown}; this dataset accepts {allowed or 'none'}")
    records, expected, source = reader(root, info, **options)
    _check_records(info, records, source)
    if check_count and len(records) != expected:
        raise ValueError(f"{info.title}: {source} lists {len(records)} images, the catalogue expects {expected} "
                         "(METHODS.md §1.1); pass check_count=False for a subset or modified copy")
    return records


# --------------------------------------------------------------------------------------------------
# the dataset


class IQADataset(torch.utils.data.Dataset):
    """A map-style dataset over labelled images; build it with :func:`load_dataset`.

    Items are dicts ``{"img": Tensor[3, H, W], "mos": float, "name": str}`` plus ``"ref": str``
    for synthetic sets. ``img`` is uint8 in [0, 255] (``dtype="uint8"``) or float32 in [0, 1]
    (``dtype="float"``), on the CPU, before ``transform``; ``transform`` receives and returns a
    tensor (e.g. :func:`pyiqa_fast.data.transforms.deiqt_transform`). Images differ in size
    across sets (and within CLIVE/SPAQ/FLIVE): batch after a fixed-size crop/resize transform.

    Attributes:
        info: The catalogue entry.
        root: The dataset folder.
        records: The selected records (after split/phase filtering and skipping).
        split: Split column used, or None.
        phase: Phase selected, or None.
        skipped: ``[(name, reason)]`` of files skipped with ``on_error="skip"``.
    """

    def __init__(self, info: DatasetInfo, root: Path, records: list[Record], split: str | None,
                 phase: str | None, transform: Callable[[torch.Tensor], Any] | None, dtype: str,
                 skipped: list[tuple[str, str]]) -> None:
        self.info, self.root, self.records = info, root, records
        self.split, self.phase, self.transform, self.dtype = split, phase, transform, dtype
        self.skipped = skipped

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rec = self.records[index]
        path = self.root / rec.name
        try:
            img = read_image(path, self.dtype)
        except FileNotFoundError:
            raise _layout_error(self.info, self.root, path) from None
        except ImageReadError as exc:
            raise ImageReadError(f"{self.info.title}: {exc} (load with verify=True, on_error='skip' to skip and "
                                 "report such files)") from None
        if self.transform is not None:
            img = self.transform(img)
        item: dict[str, Any] = {"img": img, "mos": float(rec.mos), "name": rec.name}
        if self.info.synthetic:
            item["ref"] = rec.ref_name
        return item

    @property
    def mos(self) -> torch.Tensor:
        """Tensor[N] float64: the labels of the selected records, in order."""
        return torch.tensor([r.mos for r in self.records], dtype=torch.float64)

    def __repr__(self) -> str:
        sel = f", split={self.split!r}, phase={self.phase!r}" if self.split else ""
        return f"IQADataset({self.info.name!r}, n={len(self)}{sel}, root={str(self.root)!r})"


def content_keys(info: DatasetInfo, records: list[Record]) -> list[str]:
    """One content unit per record for a content-disjoint split: the reference image of a synthetic
    set (every distorted version of a reference shares its phase), the image itself otherwise.

    Raises:
        ValueError: A synthetic-set record without ``ref_name``.
    """
    if info.synthetic:
        missing = [r.name for r in records if not r.ref_name]
        if missing:
            raise ValueError(f"{info.title}: content-disjoint splits need ref_name for every record; "
                             f"{len(missing)} have none (first: {missing[0]!r})")
        return [r.ref_name for r in records]  # type: ignore[misc]
    return [r.name for r in records]


def _attach_split(info: DatasetInfo, records: list[Record], split: str) -> None:
    if split == "official_split":
        if not any("official_split" in r.splits for r in records):
            raise ValueError(f"{info.title}: no official split in the files read (KonIQ-10k needs "
                             "koniq10k_distributions_sets.csv; FLIVE a 'set' or 'is_valid' column); use "
                             "ratio82_seed<s>_split<kk> or train<p>_seed<s>_split<kk>")
        return
    ratio, seed, repeat = parse_split_name(split)
    if all(split in r.splits for r in records):
        return  # from a meta CSV
    for r, p in zip(records, ratio_split(content_keys(info, records), seed, repeat, ratio), strict=True):
        r.splits[split] = p


def load_dataset(name: str, root: str | Path, split: str | None = None, phase: str | None = None, *,
                 meta: str | Path | None = None, transform: Callable[[torch.Tensor], Any] | None = None,
                 dtype: str = "uint8", check_count: bool = True, on_error: str = "raise", verify: bool = False,
                 **options: Any) -> IQADataset:
    """Load a catalogue dataset from its official files in a local folder.

    Args:
        name: Catalogue name, case-insensitive, aliases accepted (``"koniq10k"``, ``"clive"``, …).
        root: The release folder; the expected layout is in the catalogue entry and in every error.
            For the embedded ``"skimage-synth"`` and ``"skimage-synth-blocks"`` (:mod:`pyiqa_fast.data.synth`):
            None or a cache folder.
        split: None (all images), ``"official_split"`` (KonIQ-10k with the sets CSV; FLIVE with a
            set column), or ``"ratio82_seed<s>_split<kk>"`` / ``"ratio712_seed<s>_split<kk>"`` /
            ``"train<p>_seed<s>_split<kk>"`` (``p`` % train, the rest test: the data-efficient
            protocols): read from ``meta`` when it has that column, else generated
            (content-disjoint by reference image for synthetic sets; :mod:`pyiqa_fast.data.splits`).
        phase: ``"train"``, ``"val"`` or ``"test"`` (needs ``split``); None keeps every phase.
        meta: A pyiqa-format meta CSV (``pyiqa-fast prepare`` writes one) to read records and
            split columns from instead of the official label files.
        transform: Applied to each ``img`` tensor.
        dtype: ``"uint8"`` (Tensor[3, H, W] uint8, 0..255) or ``"float"`` (float32, 0..1).
        check_count: Require the catalogue image count (METHODS.md §1.1).
        on_error: ``"raise"`` on the first missing (or, with ``verify``, undecodable) image file,
            or ``"skip"``: leave such files out, warn with their number and names, and list them
            in ``dataset.skipped``.
        verify: Open every image with Pillow's ``verify()`` up front (slow on large sets).
        **options: Per-dataset options, see :func:`read_official`.

    Returns:
        An :class:`IQADataset`.

    Raises:
        DatasetLayoutError: A label file, folder or image is missing (named, with the layout).
        ValueError: Wrong count, malformed label/meta file, bad split name, or an empty phase.

    Example:
        >>> ds = load_dataset("koniq10k", "/data/koniq10k", split="ratio82_seed3407_split00",
        ...                   phase="train")  # doctest: +SKIP
        >>> ds[0]["img"].shape, ds[0]["mos"]  # doctest: +SKIP
        (torch.Size([3, 768, 1024]), 77.38)
    """
    info = get_dataset_info(name)
    if info.name in ("skimage-synth", "skimage-synth-blocks"):  # embedded: generated (pyiqa_fast.data.synth)
        if dtype not in ("uint8", "float") or (phase is not None and (phase not in PHASES or split is None)):
            raise ValueError(f"bad dtype {dtype!r} or phase {phase!r} (a phase needs a split)")
        if meta is not None:
            raise TypeError(f"{info.name} is generated; it reads no meta CSV")
        from pyiqa_fast.data.synth import load_skimage_synth, load_skimage_synth_blocks

        load = load_skimage_synth if info.name == "skimage-synth" else load_skimage_synth_blocks
        allowed = [n for n, q in inspect.signature(load).parameters.items()
                   if q.kind is q.KEYWORD_ONLY and n not in ("transform", "dtype")]
        unknown = sorted(set(options) - set(allowed))
        if unknown:  # named here: Python's "unexpected keyword argument" would name the private loader
            raise TypeError(f"{info.name}: unknown option(s) {unknown}; this dataset accepts {', '.join(allowed)}")
        return load(info, root, split, phase, transform=transform, dtype=dtype, **options)  # type: ignore[return-value,operator]
    root = Path(root).expanduser()
    if dtype not in ("uint8", "float"):
        raise ValueError(f"dtype must be 'uint8' or 'float'; got {dtype!r}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip'; got {on_error!r}")
    if phase is not None and phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES} or None; got {phase!r}")
    if phase is not None and split is None:
        raise ValueError("phase needs a split (e.g. split='ratio82_seed3407_split00')")
    if meta is not None:
        if options:
            raise TypeError(f"options {sorted(options)} apply to the official files, not to a meta CSV")
        records, _ = read_meta_csv(meta, synthetic=info.synthetic)
        _check_records(info, records, meta)
        if check_count and len(records) != info.count:
            raise ValueError(f"{info.title}: {meta} lists {len(records)} images, the catalogue expects {info.count}; "
                             "pass check_count=False for a subset")
    else:
        records = read_official(info.name, root, check_count=check_count, **options)

    if split is not None:
        _attach_split(info, records, split)
        column = [r.splits.get(split, "") for r in records]
        check_split(column, split, need=required_phases(split) + ((phase,) if phase else ()))
        if phase is not None:
            records = [r for r, p in zip(records, column, strict=True) if p == phase]

    skipped: list[tuple[str, str]] = []
    kept: list[Record] = []
    for r in records:
        path = root / r.name
        reason = None
        if not path.is_file():
            reason = "missing"
        elif verify:
            try:
                verify_image(path)
            except ImageReadError as exc:
                reason = f"corrupt or unreadable ({exc})"
        if reason is None:
            kept.append(r)
        elif on_error == "skip":
            skipped.append((r.name, reason))
        elif reason == "missing":
            n_missing = sum(not (root / q.name).is_file() for q in records)
            raise _layout_error(info, root, f"image file {path}",
                                f" ({n_missing} of {len(records)} listed images missing; on_error='skip' skips "
                                "and reports them)")
        else:
            raise ImageReadError(f"{info.title}: image file {reason}; on_error='skip' skips and reports it")
    if skipped:
        shown = ", ".join(f"{n} ({why})" for n, why in skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        warnings.warn(f"{info.title}: skipped {len(skipped)} of {len(records)} image(s): {shown}", stacklevel=2)
    if not kept:
        raise ValueError(f"{info.title}: no image left to load" + (f" in phase {phase!r}" if phase else ""))
    return IQADataset(info, root, kept, split, phase, transform, dtype, skipped)
