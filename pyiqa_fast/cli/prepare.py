"""``pyiqa-fast prepare <dataset> --root DIR``: verify a local copy and write its meta CSV.

Reads the official label files, checks the catalogue count, checks (and with ``verify`` decodes)
every image, and writes ``meta_info_<name>.csv`` (pyiqa format, STYLE.md §10) with
``official_split`` where the release has one and ``ratio82_seed<s>_split00 .. <repeats-1>``.
Splits are generated on the full official list, so skipping a bad file never reshuffles them.
Optionally writes (or checks against) a sha256 manifest of the images.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

from pyiqa_fast.data.catalogue import get_dataset_info
from pyiqa_fast.data.datasets import load_dataset, read_official
from pyiqa_fast.data.meta import write_meta_csv
from pyiqa_fast.data.splits import check_split, ratio_split, split_name


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
                checksums: bool = False, options: dict[str, Any] | None = None, quiet: bool = False) -> int:
    """Verify a dataset folder and write its meta CSV.

    Args:
        dataset: Catalogue name (``pyiqa_fast.data.list_datasets()``).
        root: The release folder.
        out: Output folder for ``meta_info_<name>.csv`` (default: ``root``).
        seed: Seed of the generated splits (default 3407, LoDa's).
        repeats: Number of ``ratio82`` splits (``split00`` ..).
        verify: Decode-check every image with Pillow (slow on large sets).
        on_error: ``"raise"`` or ``"skip"`` (skip and report missing/corrupt files).
        check_count: Require the catalogue count.
        checksums: Write ``<name>.sha256`` (one ``<sha256>  <name>`` line per image) next to the
            CSV, or, if it already exists, check the images against it.
        options: Per-dataset options (see :func:`pyiqa_fast.data.read_official`).
        quiet: Print nothing on success.

    Returns:
        0 on success, 1 when a checksum differs.

    Raises:
        DatasetLayoutError, ValueError, OSError: As :func:`pyiqa_fast.data.load_dataset` (labels that
            are not finite numbers, an image listed twice: ``file:line`` and the value); bad
            ``repeats``/``seed``; a malformed checksum manifest (``file:line``).
    """
    info = get_dataset_info(dataset)
    root = Path(root).expanduser()
    out_dir = Path(out).expanduser() if out is not None else root
    options = dict(options or {})
    if not 1 <= repeats <= 100:
        raise ValueError(f"repeats (--repeats) must be in 1..100; got {repeats}")
    if seed < 0:
        raise ValueError(f"seed (--seed) must be >= 0; got {seed}")

    records = read_official(info.name, root, check_count=check_count, **options)  # labels first: cheap
    ds = load_dataset(info.name, root, check_count=check_count, on_error=on_error, verify=verify, **options)
    kept = {r.name for r in ds.records}
    keys = [(r.ref_name or r.name) if info.synthetic else r.name for r in records]
    columns = [split_name(seed, k) for k in range(repeats)]
    for col, k in zip(columns, range(repeats), strict=True):
        for r, p in zip(records, ratio_split(keys, seed, k), strict=True):
            r.splits[col] = p
    records = [r for r in records if r.name in kept]
    for col in (["official_split"] if any("official_split" in r.splits for r in records) else []) + columns:
        check_split([r.splits.get(col, "") for r in records], col, need=("train",) if col == "official_split"
                    else ("train", "test"))
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
        print(f"  {columns[0]}: train {first.count('train')}, test {first.count('test')} "
              f"({'by reference image' if info.synthetic else 'by image'}); {repeats} split column(s)")
        print(f"  wrote {path}")
    return status


def add_prepare_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``prepare`` options to a (sub)parser; :func:`run_from_args` runs the parsed result."""
    parser.add_argument("dataset", help="catalogue name: live, csiq, tid2013, kadid10k, kadis700k, livec, koniq10k, "
                                        "spaq, flive (aliases accepted)")
    parser.add_argument("--root", required=True, help="the official release folder (nothing is downloaded)")
    parser.add_argument("-o", "--out", default=None, help="folder for meta_info_<name>.csv (default: --root)")
    parser.add_argument("--seed", type=int, default=3407, help="seed of the ratio82 splits (default 3407)")
    parser.add_argument("--repeats", type=int, default=10, help="ratio82 split columns split00.. (default 10)")
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
    return run_prepare(args.dataset, args.root, out=args.out, seed=args.seed, repeats=args.repeats,
                       verify=args.verify, on_error=args.on_error, check_count=args.check_count,
                       checksums=args.checksums, options=parse_options(args.option), quiet=args.quiet)
