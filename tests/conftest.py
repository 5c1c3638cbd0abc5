"""Test configuration: Triton interpreter on GPU-less machines, options, markers, seeding."""

from __future__ import annotations

import os

import torch

# Before any kernel module is imported: triton.jit picks the interpreter at decoration time.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import random  # noqa: E402

import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--device", default=os.environ.get("PYIQA_FAST_TEST_DEVICE"),
                     help="run only tests for this device type (cpu or cuda)")
    parser.addoption("--dtype", default=os.environ.get("PYIQA_FAST_TEST_DTYPE"),
                     help="run only parametrisations with this dtype (e.g. float32)")
    parser.addoption("--backend", default=os.environ.get("PYIQA_FAST_TEST_BACKEND"),
                     help="run only parametrisations with this backend")


def pytest_collection_modifyitems(config, items):
    no_cuda = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is False)")
    no_triton_gpu = pytest.mark.skip(reason="needs Triton on a CUDA device (bf16 and compiled kernels)")
    wanted = {key: config.getoption(key) for key in ("device", "dtype", "backend")}
    keep, drop = [], []
    for item in items:
        if "needs_cuda" in item.keywords and not torch.cuda.is_available():
            item.add_marker(no_cuda)
        if "needs_triton_gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(no_triton_gpu)
        params = getattr(item, "callspec", None)
        params = {k: str(v).removeprefix("torch.") for k, v in (params.params if params else {}).items()}
        if any(value and key in params and params[key] != value for key, value in wanted.items()):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    torch.manual_seed(0)
    yield
