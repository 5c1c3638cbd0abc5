"""``optests.generate_opcheck_tests`` over the op tests (STYLE.md §7.4).

Every test method below runs as itself and again under each of torch's operator checks
(``test_schema``, ``test_autograd_registration``, ``test_faketensor``,
``test_aot_dispatch_dynamic``), for every ``pyiqa_fast`` op it calls. Expected failures live
in ``tests/optests_failures_dict.json`` (empty: none expected); regenerate its formatting with
``PYTORCH_OPCHECK_ACCEPT=1``.
"""

from __future__ import annotations

import unittest
from pathlib import Path

import torch
from torch.testing._internal.optests import generate_opcheck_tests

from pyiqa_fast.ops import block_attention, distort, dsm_pool, margin_ranking_loss, partition_groups

TRITON_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: the interpreter


def _inputs(n, dtype, device, levels=4):
    g = torch.Generator().manual_seed(n)
    pred = torch.randn(n, generator=g, dtype=dtype).to(device).requires_grad_(True)
    target = torch.randint(0, levels, (n,), generator=g).to(device, dtype)
    return pred, target


class TestMarginRankingLossOps(unittest.TestCase):
    def _check(self, backend, device, dtype):
        pred, target = _inputs(37, dtype, device)
        loss = margin_ranking_loss(pred, target, backend=backend)
        loss.backward()
        self.assertEqual(pred.grad.shape, pred.shape)

    def test_cpu_float64(self):
        self._check("cpu", "cpu", torch.float64)

    def test_cpu_float32_fixed_margin_sum(self):
        pred, target = _inputs(16, torch.float32, "cpu")
        margin_ranking_loss(pred, target, margin=0.5, reduction="sum", backend="cpu").backward()

    def test_triton_float32(self):
        self._check("triton", TRITON_DEVICE, torch.float32)

    @unittest.skipUnless(torch.cuda.is_available(), "needs a CUDA device")
    def test_cuda_float32(self):
        self._check("cuda", "cuda", torch.float32)


class TestDsmPoolOps(unittest.TestCase):
    def _check(self, backend, device, dtype, shape=(2, 3, 16, 8), pool=8, ceil_mode=False):
        g = torch.Generator().manual_seed(0)
        ref = torch.rand(shape, generator=g, dtype=dtype).to(device).requires_grad_(True)
        dist = torch.rand(shape, generator=g, dtype=dtype).to(device).requires_grad_(True)
        out = dsm_pool(ref, dist, pool=pool, ceil_mode=ceil_mode, backend=backend)
        out.sum().backward()
        self.assertEqual(ref.grad.shape, ref.shape)

    def test_cpu_float64(self):
        self._check("cpu", "cpu", torch.float64)

    def test_cpu_float32_ceil_mode(self):
        self._check("cpu", "cpu", torch.float32, shape=(1, 3, 7, 5), pool=3, ceil_mode=True)

    def test_triton_float32(self):
        self._check("triton", TRITON_DEVICE, torch.float32)

    @unittest.skipUnless(torch.cuda.is_available(), "needs a CUDA device")
    def test_cuda_float32(self):
        self._check("cuda", "cuda", torch.float32)


class TestBlockAttentionOps(unittest.TestCase):
    def _check(self, backend, device, dtype, per_sample=False):
        g = torch.Generator().manual_seed(0)
        q, k, v = (torch.randn(2, 2, 17, 16, generator=g, dtype=dtype).to(device).requires_grad_(True)
                   for _ in range(3))
        groups = partition_groups("grid2x2", grid=(4, 4)).to(device)
        if per_sample:
            groups = torch.stack([groups, groups.flip(0)])
        out = block_attention(q, k, v, groups, groups, backend=backend)
        out.sum().backward()
        self.assertEqual(q.grad.shape, q.shape)

    def test_cpu_float64(self):
        self._check("cpu", "cpu", torch.float64)

    def test_cpu_float32_per_sample_groups(self):
        self._check("cpu", "cpu", torch.float32, per_sample=True)

    def test_triton_float32(self):
        self._check("triton", TRITON_DEVICE, torch.float32)

    @unittest.skipUnless(torch.cuda.is_available(), "needs a CUDA device")
    def test_cuda_float32(self):
        self._check("cuda", "cuda", torch.float32)


class TestDistortOps(unittest.TestCase):
    def _check(self, dtype, partition, crop):
        from pyiqa_fast.distortions import sample_params

        x = torch.rand(2, 3, 24, 20, generator=torch.Generator().manual_seed(0)).to(dtype)
        k = 1 if partition == "whole" else 2
        p = sample_params([[7] * k, [14] * k], [[0] * k, [3] * k], partition=partition, seed=0)
        out = distort(x, p, backend="cpu", block_mode="crop" if crop else "composite")
        self.assertEqual(out.shape, x.shape)

    def test_cpu_float32(self):
        self._check(torch.float32, "whole", False)

    def test_cpu_uint8_vertical_crop(self):
        self._check(torch.uint8, "vertical", True)


generate_opcheck_tests(
    TestDistortOps,
    ["pyiqa_fast"],
    str(Path(__file__).resolve().parents[1] / "optests_failures_dict.json"),
)
generate_opcheck_tests(
    TestMarginRankingLossOps,
    ["pyiqa_fast"],
    str(Path(__file__).resolve().parents[1] / "optests_failures_dict.json"),
)
generate_opcheck_tests(
    TestDsmPoolOps,
    ["pyiqa_fast"],
    str(Path(__file__).resolve().parents[1] / "optests_failures_dict.json"),
)
generate_opcheck_tests(
    TestBlockAttentionOps,
    ["pyiqa_fast"],
    str(Path(__file__).resolve().parents[1] / "optests_failures_dict.json"),
)
