"""Backend selection rules (STYLE.md §5) on synthetic capability records."""

from __future__ import annotations

import pytest
import torch

from pyiqa_fast import BackendUnavailableError, get_default_backend, set_default_backend
from pyiqa_fast._backends import Backend, OpBackends

CPU = torch.device("cpu")


def record(name, *, available=True, devices=("cpu",), dtypes=(torch.float32,), backward=True,
           deterministic=True, limit=None):
    def limits(n, **_):
        return [f"takes n <= {limit}, got n = {n}"] if limit is not None and n > limit else []

    return Backend(
        name=name, run=lambda: name, devices=devices, dtypes=dtypes, supports_backward=backward,
        deterministic=deterministic, tolerances={},
        availability=lambda: (available, "" if available else f"{name} is not built"),
        limits=limits,
    )


def backends(**records):
    return OpBackends(op="toy", backends=records, auto_order={"cpu": tuple(records)})


def test_auto_takes_the_first_backend_without_reasons():
    op = backends(cpu=record("cpu", available=False), reference=record("reference"))
    assert op.resolve("auto", CPU, torch.float32, False, n=4).name == "reference"


def test_auto_skips_no_backward_and_nondeterministic_and_limits():
    op = backends(
        cpu=record("cpu", backward=False),
        cuda=record("cuda", deterministic=False),
        triton=record("triton", limit=10),
        reference=record("reference"),
    )
    assert op.resolve("auto", CPU, torch.float32, needs_backward=False, n=4).name == "cpu"
    assert op.resolve("auto", CPU, torch.float32, needs_backward=True, n=4).name == "cuda"
    torch.use_deterministic_algorithms(True)
    try:
        assert op.resolve("auto", CPU, torch.float32, needs_backward=True, n=4).name == "triton"
        assert op.resolve("auto", CPU, torch.float32, needs_backward=True, n=11).name == "reference"
    finally:
        torch.use_deterministic_algorithms(False)


def test_explicit_backend_never_falls_back_and_names_every_reason():
    op = backends(cpu=record("cpu", available=False, dtypes=(torch.float64,), limit=2), reference=record("reference"))
    with pytest.raises(BackendUnavailableError) as info:
        op.resolve("cpu", CPU, torch.float32, True, n=4)
    message = str(info.value)
    for fragment in ("toy(backend='cpu'): cannot run", "cpu is not built", "supports dtypes float64, got float32",
                     "takes n <= 2, got n = 4", "use backend='reference'"):
        assert fragment in message


def test_auto_with_nothing_left_lists_each_refusal():
    op = backends(cpu=record("cpu", dtypes=(torch.float64,)), reference=record("reference", devices=("cuda",)))
    with pytest.raises(BackendUnavailableError) as info:
        op.resolve("auto", CPU, torch.float32, False, n=4)
    assert "cpu: supports dtypes float64" in str(info.value)
    assert "reference: runs on cuda tensors, got a cpu tensor" in str(info.value)


def test_unknown_names_are_rejected():
    op = backends(reference=record("reference"))
    expected = "backend must be one of 'auto', 'reference', 'cpu', 'cuda', 'triton', got 'gpu'"
    with pytest.raises(ValueError, match=expected):
        op.resolve("gpu", CPU, torch.float32, False, n=4)
    with pytest.raises(BackendUnavailableError, match="toy has no cuda backend"):
        op.resolve("cuda", CPU, torch.float32, False, n=4)
    with pytest.raises(ValueError, match="set_default_backend: name must be one of"):
        set_default_backend("gpu")


def test_default_backend_replaces_auto_but_not_an_explicit_choice():
    op = backends(cpu=record("cpu"), reference=record("reference"))
    set_default_backend("reference")
    try:
        assert get_default_backend() == "reference"
        assert op.resolve("auto", CPU, torch.float32, False, n=4).name == "reference"
        assert op.resolve("cpu", CPU, torch.float32, False, n=4).name == "cpu"
    finally:
        set_default_backend(None)
    assert get_default_backend() == "auto"
    assert op.resolve("auto", CPU, torch.float32, False, n=4).name == "cpu"


def test_auto_on_a_device_no_backend_runs_on_says_which_devices_do():
    # Was "no backend can run a meta float32 input — " with nothing after the dash.
    op = backends(cpu=record("cpu"), reference=record("reference"))
    with pytest.raises(BackendUnavailableError, match=r"no backend runs on meta tensors; toy runs on cpu tensors"):
        op.resolve("auto", torch.device("meta"), torch.float32, False, n=4)


@pytest.mark.parametrize("op", ["distort", "dsm_pool", "margin_ranking_loss"])
def test_public_ops_refuse_meta_tensors_with_a_reason(op):
    from pyiqa_fast.distortions import sample_params
    from pyiqa_fast.ops import distort, dsm_pool, margin_ranking_loss

    m = lambda *shape: torch.rand(*shape, device="meta")  # noqa: E731
    call = {"distort": lambda: distort(m(1, 3, 8, 8), sample_params([5], [1], seed=0)),
            "dsm_pool": lambda: dsm_pool(m(1, 3, 8, 8), m(1, 3, 8, 8)),
            "margin_ranking_loss": lambda: margin_ranking_loss(m(8), m(8))}[op]
    with pytest.raises(BackendUnavailableError, match=rf"{op}\(backend='auto'\): no backend runs on meta tensors; "
                                                      rf"{op} runs on cpu/cuda tensors"):
        call()
