"""Runs a batch of fuzz cases (a JSON list on stdin) and prints one JSON verdict per line, flushed,
so that the parent knows which case a crash or a hang interrupted: the first one without a line."""

from __future__ import annotations

import json
import os
import sys

import torch

if not torch.cuda.is_available():  # as tests/conftest.py: before any Triton kernel is imported
    os.environ.setdefault("TRITON_INTERPRET", "1")

from tests.fuzz.cases import run_case  # noqa: E402


def main() -> None:
    torch.manual_seed(0)
    for i, case in enumerate(json.load(sys.stdin)):
        print(json.dumps({"index": i, **run_case(case)}), flush=True)


if __name__ == "__main__":
    main()
