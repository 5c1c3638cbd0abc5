"""Datasets, meta CSVs, splits and transforms (STYLE.md §10, METHODS.md §1.1, §1.3, §2.2,
docs/design/protocols.md).

Data are read from local folders in the layout of each official release; nothing is downloaded.
The embedded ``skimage-synth`` and ``skimage-synth-blocks`` are generated from scikit-image's photos
(:mod:`pyiqa_fast.data.synth`, docs/design/datasets.md).

Example:
    >>> from pyiqa_fast.data import list_datasets
    >>> list_datasets("synthetic")
    ['live', 'csiq', 'tid2013', 'kadid10k', 'kadis700k']
"""

from __future__ import annotations

from pyiqa_fast.data.build import SyntheticIQADataset, build_dataset, resolve_split
from pyiqa_fast.data.catalogue import CATALOGUE, DatasetInfo, get_dataset_info, list_datasets
from pyiqa_fast.data.datasets import DatasetLayoutError, IQADataset, load_dataset, read_official
from pyiqa_fast.data.meta import Record, read_meta_csv, write_meta_csv
from pyiqa_fast.data.splits import (
    fraction_split,
    parse_split_name,
    ratio_split,
    split_fractions,
    split_name,
    train_ratio,
)

__all__ = [
    "CATALOGUE",
    "DatasetInfo",
    "DatasetLayoutError",
    "IQADataset",
    "Record",
    "SyntheticIQADataset",
    "build_dataset",
    "fraction_split",
    "get_dataset_info",
    "list_datasets",
    "load_dataset",
    "parse_split_name",
    "ratio_split",
    "read_meta_csv",
    "read_official",
    "resolve_split",
    "split_fractions",
    "split_name",
    "train_ratio",
    "write_meta_csv",
]
