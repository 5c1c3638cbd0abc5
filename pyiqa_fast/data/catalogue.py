"""The dataset catalogue of METHODS.md §1.1, as data.

Each :class:`DatasetInfo` records what a loader must find in the official release (image count,
label file and column, scale, ``lower_better``), where the release comes from and under which
licence, and the expected folder layout (shown verbatim in every "file missing" error).
Nothing is downloaded: data are read from a local folder (STYLE.md §10).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DatasetInfo:
    """One catalogue entry.

    Attributes:
        name: Canonical id (lower case, e.g. ``"koniq10k"``).
        title: Human-readable name.
        kind: ``"synthetic"`` (distorted copies of reference images; splits by reference) or
            ``"authentic"`` (in-the-wild photos; splits by image).
        count: Number of labelled images the loader must find (METHODS.md §1.1).
        refs: Number of reference images (synthetic sets), else 0.
        label: The label column/field the loader reads by default.
        label_kind: ``"MOS"``, ``"DMOS"`` or ``"none"`` (unlabelled).
        score_range: Nominal range of the default label.
        lower_better: True where a larger label means worse quality (DMOS of LIVE, CSIQ).
        year: Publication year.
        license: Licence / terms of the official release, in short.
        url: Where the official release is obtained (by the user; never downloaded here).
        layout: The expected folder layout under ``root`` (shown in errors).
        aliases: Other accepted names.
        checksums: ``{relative path: sha256}`` of the label files, where recorded (none are yet;
            ``pyiqa-fast prepare --checksums`` writes a manifest of a local copy).
        notes: Protocol-relevant remarks.
    """

    name: str
    title: str
    kind: str
    count: int
    refs: int
    label: str
    label_kind: str
    score_range: tuple[float, float] | None
    lower_better: bool
    year: int
    license: str
    url: str
    layout: str
    aliases: tuple[str, ...] = ()
    checksums: dict[str, str] = field(default_factory=dict)
    notes: str = ""

    @property
    def synthetic(self) -> bool:
        """True for synthetic (reference-based) sets, whose splits are by reference image."""
        return self.kind == "synthetic"


_LIVE_LAYOUT = """\
<root>/                         LIVE IQA Release 2 ("databaserelease2")
  dmos_realigned.mat            dmos_new, orgs (and dmos_std): 1x982, in folder order below
  refnames_all.mat              refnames_all: 1x982 cell of reference names
  jp2k/img1.bmp .. img227.bmp
  jpeg/img1.bmp .. img233.bmp
  wn/img1.bmp .. img174.bmp
  gblur/img1.bmp .. img174.bmp
  fastfading/img1.bmp .. img174.bmp
  refimgs/*.bmp                 29 references (optional)
  (entries with orgs == 1 are reference copies and are dropped: 982 - 203 = 779)"""

_CSIQ_LAYOUT = """\
<root>/                         CSIQ
  csiq_label.txt                866 lines "<name> <dmos>", e.g. "1600.AWGN.1.png 0.0620"
                                (the HyperIQA/DEIQT label file; the official csiq.DMOS.xlsx is not read)
  dst_imgs_all/1600.AWGN.1.png ..   all distorted images in one folder, or the official
  dst_imgs/<type>/1600.AWGN.1.png   per-type folders awgn, blur, contrast, fnoise, jpeg, jpeg2000
  src_imgs/1600.png ..          30 references (optional)"""

_TID_LAYOUT = """\
<root>/                         TID2013
  mos_with_names.txt            3000 lines "<mos> <name>", e.g. "5.51429 i01_01_1.bmp"
  mos_std.txt                   3000 lines, same order (optional)
  distorted_images/i01_01_1.bmp ..
  reference_images/I01.BMP ..   25 references (optional)"""

_KADID_LAYOUT = """\
<root>/                         KADID-10k ("kadid10k")
  dmos.csv                      columns dist_img, ref_img, dmos, var (10,125 rows)
  images/I01_01_01.png ..       distorted images (and the 81 references I01.png ..)"""

_KADIS_LAYOUT = """\
<root>/                         KADIS-700k ("kadis700k")
  ref_imgs/*.png                140,000 pristine images            (part="ref")
  dist_imgs/<ref stem>_*.bmp    700,000 distorted images generated  (part="dist")
                                with the official MATLAB code shipped with the release"""

_LIVEC_LAYOUT = """\
<root>/                         LIVE In the Wild Image Quality Challenge ("ChallengeDB_release")
  Data/AllImages_release.mat    AllImages_release: 1169x1 cell of names
  Data/AllMOS_release.mat       AllMOS_release: 1x1169
  Data/AllStdDev_release.mat    AllStdDev_release: 1x1169 (optional)
  Images/*.JPG, *.bmp           the 1,162 test images
  Images/trainingImages/t1.bmp .. t7.bmp   the 7 trial images (entries 0..6; dropped by default)"""

_KONIQ_LAYOUT = """\
<root>/                         KonIQ-10k
  koniq10k_scores_and_distributions.csv   image_name, c1..c5, c_total, MOS, SD, MOS_zscore
  koniq10k_distributions_sets.csv         the same plus "set" (training/validation/test) (optional;
                                          gives the official_split column)
  1024x768/*.jpg                10,073 images (image_dir="512x384" for a resized copy)"""

_SPAQ_LAYOUT = """\
<root>/                         SPAQ
  Annotations/MOS and Image attribute scores.csv   a CSV export of the official .xlsx
                                (columns "Image name", "MOS", ...); the .xlsx itself is read
                                only when openpyxl is installed
  TestImage/00001.jpg .. 11125.jpg   (image_dir="512x384" etc. for DEIQT's resized copy)"""

_FLIVE_LAYOUT = """\
<root>/                         FLIVE / PaQ-2-PiQ ("database" folder of the release)
  labels_image.csv              columns name_image (or name), mos_image (or mos); optional
                                "set" (train/val/test) or "is_valid" for the official_split column
  <paths named in the CSV>      e.g. voc_emotic_ava/..., blur_dataset/..., AVA__*.jpg (39,810 images)"""


CATALOGUE: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            "live", "LIVE IQA Release 2", "synthetic", 779, 29, "dmos_new", "DMOS", (0.0, 100.0), True, 2005,
            "free for research (LIVE copyright notice)", "https://live.ece.utexas.edu/research/quality/subjective.htm",
            _LIVE_LAYOUT, aliases=("liveiqa", "live_iqa"),
            notes="DSMix says 799, the release has 779; DEIQT uses dmos_realigned without references."),
        DatasetInfo(
            "csiq", "CSIQ", "synthetic", 866, 30, "dmos", "DMOS", (0.0, 1.0), True, 2009,
            "free for research", "https://s2.smu.edu/~eclarson/csiq.html", _CSIQ_LAYOUT,
            notes="6 distortion types."),
        DatasetInfo(
            "tid2013", "TID2013", "synthetic", 3000, 25, "mos", "MOS", (0.0, 9.0), False, 2013,
            "free for research", "https://www.ponomarenko.info/tid2013.htm", _TID_LAYOUT,
            aliases=("tid",), notes="24 distortion types x 5 levels."),
        DatasetInfo(
            "kadid10k", "KADID-10k", "synthetic", 10125, 81, "dmos", "DMOS", (1.0, 5.0), False, 2019,
            "CC BY 4.0 (images: Pixabay licence)", "https://database.mmsp-kn.de/kadid-10k-database.html",
            _KADID_LAYOUT, aliases=("kadid", "kadid-10k"),
            notes="25 types x 5 levels; despite the name, larger dmos is better."),
        DatasetInfo(
            "kadis700k", "KADIS-700k", "synthetic", 700000, 140000, "", "none", None, False, 2019,
            "CC BY 4.0 (images: Pixabay licence)", "https://database.mmsp-kn.de/kadid-10k-database.html",
            _KADIS_LAYOUT, aliases=("kadis", "kadis-700k"),
            notes="Unlabelled (mos is NaN); part='ref' gives the 140,000 references."),
        DatasetInfo(
            "livec", "LIVE Challenge (CLIVE)", "authentic", 1162, 0, "AllMOS_release", "MOS", (0.0, 100.0),
            False, 2016, "free for research (LIVE copyright notice)",
            "https://live.ece.utexas.edu/research/ChallengeDB/index.html", _LIVEC_LAYOUT,
            aliases=("clive", "live_challenge", "livechallenge", "live_wild"),
            notes="The release has 1,169 entries; the first 7 are trial images (keep_trial=True keeps them: "
                  "DP-IQA)."),
        DatasetInfo(
            "koniq10k", "KonIQ-10k", "authentic", 10073, 0, "MOS_zscore", "MOS", (0.0, 100.0), False, 2020,
            "CC BY-NC-ND 4.0 (annotations); images: YFCC100m licences",
            "https://database.mmsp-kn.de/koniq-10k-database.html", _KONIQ_LAYOUT, aliases=("koniq", "koniq-10k"),
            notes="DEIQT trains on MOS_zscore (0-100); label='MOS' gives the 1-5 scale."),
        DatasetInfo(
            "spaq", "SPAQ", "authentic", 11125, 0, "MOS", "MOS", (0.0, 100.0), False, 2020,
            "free for research", "https://github.com/h4nwei/SPAQ", _SPAQ_LAYOUT,
            notes="DEIQT pre-resizes to 512x384 offline."),
        DatasetInfo(
            "flive", "FLIVE / PaQ-2-PiQ", "authentic", 39810, 0, "mos", "MOS", (0.0, 100.0), False, 2020,
            "free for research", "https://github.com/baidut/PaQ-2-PiQ", _FLIVE_LAYOUT,
            aliases=("livefb", "paq2piq", "paq-2-piq")),
    )
}

#: Sets generated in the package, not read from a release (not in METHODS.md §1.1, hence not in
#: :data:`CATALOGUE` nor :func:`list_datasets`); :func:`get_dataset_info` and ``load_dataset`` know them.
EMBEDDED: dict[str, DatasetInfo] = {
    "skimage-synth": DatasetInfo(
        "skimage-synth", "skimage-synth (embedded smoke-scale stand-in, not a benchmark)", "synthetic", 960, 8,
        "ssim", "MOS", (0.0, 100.0), False, 2025, "scikit-image's sample photos (see skimage.data)",
        "(generated by pyiqa_fast.data.synth; nothing to download)",
        "<root>/ (optional cache folder; None keeps the set in memory)\n"
        "  skimage_synth_<key>.pt    written on first use",
        aliases=("skimagesynth", "skimage"),
        notes="8 scikit-image photos x 24 SHDIQA types x 5 levels; pseudo-MOS = 100 * SSIM vs the clean "
              "photo (pyiqa_fast.data.synth)."),
    "skimage-synth-blocks": DatasetInfo(
        "skimage-synth-blocks", "skimage-synth-blocks (embedded spatially heterogeneous smoke-scale set, not a "
        "benchmark)", "synthetic", 960, 8, "ssim", "MOS", (0.0, 100.0), False, 2025,
        "scikit-image's sample photos (see skimage.data)", "(generated by pyiqa_fast.data.synth; nothing to download)",
        "<root>/ (optional cache folder; None keeps the set in memory)\n"
        "  skimage_synth_blocks_<key>.pt    written on first use",
        aliases=("skimagesynthblocks", "skimage-blocks"),
        notes="SHDIQA's demo set: 8 scikit-image photos x 120 images, a distinct SHDIQA type and level per "
              "block (BlockDegradation; vertical 1x2 by default); pseudo-MOS = 100 * SSIM of the whole image vs "
              "the clean photo; items carry block_types, block_levels, partition (docs/design/datasets.md)."),
}


def _norm(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "").replace(" ", "")


_LOOKUP: dict[str, str] = {}
for _info in (*CATALOGUE.values(), *EMBEDDED.values()):
    for _key in (_info.name, *_info.aliases):
        _LOOKUP[_norm(_key)] = _info.name


def get_dataset_info(name: str) -> DatasetInfo:
    """The catalogue entry of ``name`` (case, ``-`` and ``_`` ignored; aliases accepted).

    Args:
        name: e.g. ``"koniq10k"``, ``"KonIQ-10k"``, ``"clive"``.

    Returns:
        The :class:`DatasetInfo`.

    Raises:
        ValueError: Unknown name; the message lists close names and all known ones.

    Example:
        >>> get_dataset_info("CLIVE").name
        'livec'
    """
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str; got {type(name).__name__}")
    key = _norm(name)
    if key not in _LOOKUP:
        close = difflib.get_close_matches(key, list(_LOOKUP), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(_LOOKUP[c]) for c in dict.fromkeys(close))}?" if close else ""
        raise ValueError(f"unknown dataset {name!r}{hint} Available: {', '.join([*CATALOGUE, *EMBEDDED])}")
    return CATALOGUE.get(_LOOKUP[key]) or EMBEDDED[_LOOKUP[key]]


def list_datasets(kind: str | None = None) -> list[str]:
    """Catalogue ids, optionally only ``kind="synthetic"`` or ``"authentic"``.

    Example:
        >>> list_datasets("authentic")
        ['livec', 'koniq10k', 'spaq', 'flive']
    """
    if kind not in (None, "synthetic", "authentic"):
        raise ValueError(f"kind must be None, 'synthetic' or 'authentic'; got {kind!r}")
    return [n for n, info in CATALOGUE.items() if kind is None or info.kind == kind]
