"""``pyiqa-fast prepare <dataset> --root DIR``: verify a local copy and write its meta CSV.

Reads the official label files, checks the catalogue count, checks (and with ``verify`` decodes)
every image, and writes ``meta_info_<name>.csv`` (pyiqa format, STYLE.md §10) with
``official_split`` where the release has one, ``ratio82_seed<s>_split00 .. <repeats-1>`` and the
data-efficient ``train<p>_seed<s>_split<kk>`` columns of the protocol presets' training fractions
(5, 10, 20, 25, 40, 60 %, labelled sets; docs/design/protocols.md). Splits are generated on the full official
list, so skipping a bad file never reshuffles them.
Optionally writes (or checks against) a sha256 manifest of the images.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyiqa_fast.data.catalogue import get_dataset_info
from pyiqa_fast.data.datasets import content_keys, load_dataset, read_official
from pyiqa_fast.data.meta import write_meta_csv
from pyiqa_fast.data.splits import check_split, ratio_split, required_phases, split_name, train_ratio


def parse_options(pairs: list[str] | None) -> dict[str, Any]:
    """``["keep_trial=true", "label=MOS"]`` → ``{"keep_trial": True, "label": "MOS"}``."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--option expects KEY=VALUE; got {pair!r}")
        low = value.lower()
        out[key.replace("-", "_")] = True if low == "true" else False if low == "false" else value
    return out


def default_train_percents() -> list[int]:
    """Training percents of the protocol presets other than 80 (``shdiqa_de5`` … ``shdiqa_de60``):
    the data-efficient columns ``prepare`` writes by default, read from the presets so that a new
    preset's fraction needs no second edit here."""
    from pyiqa_fast.train.protocols import PROTOCOLS

    return sorted({round(p.train_fraction * 100) for p in PROTOCOLS.values()
                   if p.split == "ratio82" and p.train_fraction != 0.8})


def parse_train_percents(text: str) -> list[int]:
    """``"5,10,20"`` → ``[5, 10, 20]``; ``"none"`` → ``[]`` (``--train-percents``).

    Raises:
        ValueError: Not a comma-separated list of whole percents 1..99 (the value is named).
    """
    if text.strip().lower() == "none":
        return []
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or not all(1 <= v <= 99 for v in values):
        raise ValueError(f"--train-percents expects comma-separated whole percents 1..99 (e.g. 5,10,20) or 'none'; "
                         f"got {text!r}")
    return values


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_manifest(manifest: Path) -> dict[str, str]:
    """``{name: sha256}`` of a ``<sha256>  <name>`` manifest; a malformed line is an error naming it."""
    try:
        text = manifest.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"checksum manifest {manifest} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    expected: dict[str, str] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        if not name or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()):
            raise ValueError(f"{manifest}:{line_no}: expected '<64 hex digits>  <image name>', got {line!r} "
                             "(delete the file to write a new manifest)")
        expected[name] = digest.lower()
    return expected


def run_prepare(dataset: str, root: str | Path, out: str | Path | None = None, seed: int = 3407,
                repeats: int = 10, verify: bool = True, on_error: str = "raise", check_count: bool = True,
                checksums: bool = False, options: dict[str, Any] | None = None, quiet: bool = False,
                train_percents: Sequence[int] | None = None) -> int:
    """Verify a dataset folder and write its meta CSV.

    Args:
        dataset: Catalogue name (``pyiqa_fast.data.list_datasets()``).
        root: The release folder.
        out: Output folder for ``meta_info_<name>.csv`` (default: ``root``).
        seed: Seed of the generated splits (default 3407, LoDa's).
        repeats: Number of splits (``split00`` ..) per training fraction.
        verify: Decode-check every image with Pillow (slow on large sets).
        on_error: ``"raise"`` or ``"skip"`` (skip and report missing/corrupt files).
        check_count: Require the catalogue count.
        checksums: Write ``<name>.sha256`` (one ``<sha256>  <name>`` line per image) next to the
            CSV, or, if it already exists, check the images against it.
        options: Per-dataset options (see :func:`pyiqa_fast.data.read_official`).
        quiet: Print nothing on success.
        train_percents: Training percents (1..99) of the data-efficient ``train<p>_seed<s>_split<kk>``
            columns written next to ``ratio82``; None: :func:`default_train_percents` (5, 10, 20,
            25, 40, 60) for a labelled set, none for an unlabelled one, and a default percent
            leaving a phase empty on this (small) set is left out with a warning; given
            explicitly, such a percent is an error.

    Returns:
        0 on success, 1 when a checksum differs.

    Raises:
        DatasetLayoutError, ValueError, OSError: As :func:`pyiqa_fast.data.load_dataset` (labels that
            are not finite numbers, an image listed twice: ``file:line`` and the value); bad
            ``repeats``/``seed``/``train_percents`` (a requested fraction leaving a phase empty
            included); a malformed checksum manifest (``file:line``).
    """
    info = get_dataset_info(dataset)
    root = Path(root).expanduser()
    out_dir = Path(out).expanduser() if out is not None else root
    options = dict(options or {})
    if not 1 <= repeats <= 100:
        raise ValueError(f"repeats (--repeats) must be in 1..100; got {repeats}")
    if seed < 0:
        raise ValueError(f"seed (--seed) must be >= 0; got {seed}")
    explicit = train_percents is not None
    # the data-efficient protocols measure label efficiency: none by default for an unlabelled set
    # (KADIS-700k, where 60 more columns would also multiply a 700k-row CSV)
    percents = list(train_percents) if explicit else default_train_percents() if info.label_kind != "none" else []
    bad = [p for p in percents if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= 99]
    if bad:
        raise ValueError(f"train_percents (--train-percents) must be whole percents 1..99; got {percents}")

    records = read_official(info.name, root, check_count=check_count, **options)  # labels first: cheap
    ds = load_dataset(info.name, root, check_count=check_count, on_error=on_error, verify=verify, **options)
    kept = {r.name for r in ds.records}
    keys = content_keys(info, records)
    ratios = list(dict.fromkeys(["82", *(train_ratio(p / 100) for p in percents)]))  # 80 % is ratio82
    columns, left_out = [], []
    for ratio in ratios:
        try:
            generated = {split_name(seed, k, ratio): ratio_split(keys, seed, k, ratio) for k in range(repeats)}
        except ValueError:  # a phase would be empty: the message names the column
            if ratio == "82" or explicit:
                raise
            left_out.append(ratio)
            continue
        for col, phases in generated.items():
            columns.append(col)
            for r, p in zip(records, phases, strict=True):
                r.splits[col] = p
    if left_out:
        warnings.warn(f"{info.title}: {len(set(keys))} content units are too few for the data-efficient column(s) "
                      f"{', '.join(left_out)} (a phase would be empty); not written", stacklevel=2)
    records = [r for r in records if r.name in kept]
    for col in (["official_split"] if any("official_split" in r.splits for r in records) else []) + columns:
        check_split([r.splits.get(col, "") for r in records], col, need=required_phases(col))
    manifest = out_dir / f"{info.name}.sha256"
    expected = _read_manifest(manifest) if checksums and manifest.is_file() else None  # before writing anything
    path = write_meta_csv(records, out_dir / f"meta_info_{info.name}.csv", synthetic=info.synthetic)

    status = 0
    if checksums:
        if expected is not None:
            bad = [r.name for r in records if r.name in expected and _sha256(root / r.name) != expected[r.name]]
            absent = [r.name for r in records if r.name not in expected]
            if bad or absent:
                status = 1
                print(f"pyiqa-fast prepare: {len(bad)} checksum mismatch(es) {bad[:5]}, {len(absent)} image(s) not in "
                      f"{manifest} {absent[:5]}", file=sys.stderr)
        else:
            manifest.write_text("".join(f"{_sha256(root / r.name)}  {r.name}\n" for r in records), encoding="utf-8")

    if not quiet:
        mos = ds.mos
        labelled = mos[~mos.isnan()]
        rng = f"{labelled.min().item():.4g}..{labelled.max().item():.4g}" if labelled.numel() else "unlabelled"
        first = [r.splits[columns[0]] for r in records]
        print(f"{info.title}: {len(records)} images ({info.kind}, label {info.label or '-'} {rng}); "
              f"{len(ds.skipped)} skipped")
        written = [f"ratio{r}" if r == "82" else r for r in ratios if r not in left_out]
        print(f"  {columns[0]}: train {first.count('train')}, test {first.count('test')} "
              f"({'by reference image' if info.synthetic else 'by image'}); {repeats} split column(s) per "
              f"fraction: {', '.join(written)}")
        print(f"  wrote {path}")
    return status


def add_prepare_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``prepare`` options to a (sub)parser; :func:`run_from_args` runs the parsed result."""
    parser.add_argument("dataset", help="catalogue name: live, csiq, tid2013, kadid10k, kadis700k, livec, koniq10k, "
                                        "spaq, flive (aliases accepted)")
    parser.add_argument("--root", required=True, help="the official release folder (nothing is downloaded)")
    parser.add_argument("-o", "--out", default=None, help="folder for meta_info_<name>.csv (default: --root)")
    parser.add_argument("--seed", type=int, default=3407, help="seed of the generated splits (default 3407)")
    parser.add_argument("--repeats", type=int, default=10, help="split columns split00.. per fraction (default 10)")
    parser.add_argument("--train-percents", default=None, metavar="P,P,...",
                        help="training percents of the data-efficient train<p>_seed<s>_split<kk> columns written "
                             "next to ratio82 (default: the protocol presets', 5,10,20,25,40,60, for a labelled "
                             "set; 'none': ratio82 only)")
    parser.add_argument("--no-verify", dest="verify", action="store_false", help="do not decode-check every image")
    parser.add_argument("--skip-bad", dest="on_error", action="store_const", const="skip", default="raise",
                        help="skip and report missing/corrupt images instead of stopping")
    parser.add_argument("--no-count-check", dest="check_count", action="store_false",
                        help="accept an image count other than the catalogue's")
    parser.add_argument("--checksums", action="store_true", help="write <name>.sha256, or check against it")
    parser.add_argument("-O", "--option", action="append", metavar="KEY=VALUE",
                        help="dataset option, e.g. keep_trial=true (livec), label=MOS, image_dir=512x384, part=ref")
    parser.add_argument("-q", "--quiet", action="store_true")
    return parser


def run_from_args(args: argparse.Namespace) -> int:
    """Run :func:`run_prepare` on arguments parsed with :func:`add_prepare_arguments`."""
    percents = None if args.train_percents is None else parse_train_percents(args.train_percents)
    return run_prepare(args.dataset, args.root, out=args.out, seed=args.seed, repeats=args.repeats,
                       verify=args.verify, on_error=args.on_error, check_count=args.check_count,
                       checksums=args.checksums, options=parse_options(args.option), quiet=args.quiet,
                       train_percents=percents)
