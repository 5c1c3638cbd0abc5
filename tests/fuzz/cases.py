"""Fuzz cases: JSON descriptions drawn by hypothesis in the test process, run in a child process.

A case names a target (a public op, ``BlockDegradation`` or ``DSMix``), a backend and its inputs as
*tensor specs* (shape, dtype, layout, fill, special values) and plain options, many of them bad on
purpose. :func:`run_case` calls the target through the backend and through ``backend="reference"``
on the same inputs and returns a verdict:

- ``ok``: both refused with a named exception (:data:`CLEAR_ERRORS`) and a non-empty message, the
  backend reported itself unavailable, or both returned results that agree (same shape and dtype,
  values within the dtype's tolerance or the flash-attention rule against float64);
- ``defect``: any other exception type, an empty message, one side refusing what the other ran, or a
  difference. A signal or a hang never returns: the parent sees the child die or time out.

``distort`` has an exact contract with its reference only in float64 (docs/design/distortions.md); other
dtypes and layouts are held to the contiguous result of the same backend, the input's dtype, and
finite output inside the image range.
"""

from __future__ import annotations

import traceback
from typing import Any

import torch
from torch import Tensor

DTYPES = {name: getattr(torch, name) for name in
          ("bool", "uint8", "int32", "int64", "float16", "bfloat16", "float32", "float64", "complex64")}
FLOATS = ("float16", "bfloat16", "float32", "float64")
LAYOUTS = ("contiguous", "channels_last", "transposed", "sliced", "expanded", "offset")
# Exceptions a caller can act on. RuntimeError is not among them: the public API must not pass a
# kernel's or torch's internal failure through (BackendUnavailableError subclasses it and is named).
CLEAR_ERRORS = (ValueError, TypeError, NotImplementedError)
TOLERANCE = {torch.float64: 1e-9, torch.float32: 2e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}


# ---- tensors from specs -----------------------------------------------------------------------

def relayout(t: Tensor, layout: str) -> Tensor:
    """``t``'s values in another memory layout (``expanded`` repeats row 0 along dim 0)."""
    if layout == "channels_last" and t.dim() == 4:
        return t.contiguous(memory_format=torch.channels_last)
    if layout == "transposed" and t.dim() >= 2:
        return t.transpose(-1, -2).contiguous().transpose(-1, -2)
    if layout == "sliced" and t.dim() >= 1:
        wide = torch.zeros(*t.shape[:-1], 2 * t.shape[-1], dtype=t.dtype)
        wide[..., ::2] = t
        return wide[..., ::2]
    if layout == "expanded" and t.dim() >= 1 and t.shape[0] >= 1:
        return t[:1].expand_as(t)
    if layout == "offset":
        buffer = torch.empty(t.numel() + 1, dtype=t.dtype)
        return buffer[1:].view(t.shape).copy_(t)
    return t


def make_tensor(spec: dict[str, Any] | None, gen: torch.Generator) -> Any:
    """A tensor from a spec ``{shape, dtype, layout, fill, lo, hi, specials}`` or ``{values, dtype,
    layout}``; None stays None and a non-dict is passed through (a bad argument of the wrong type)."""
    if spec is None or not isinstance(spec, dict):
        return spec
    dtype = DTYPES[spec["dtype"]]
    if "values" in spec:
        return relayout(torch.tensor(spec["values"], dtype=dtype), spec.get("layout", "contiguous"))
    shape = tuple(spec["shape"])
    lo, hi = spec.get("lo", 0), spec.get("hi", 256)
    if dtype == torch.bool:
        t = torch.rand(shape, generator=gen) < 0.5
    elif not dtype.is_floating_point and not dtype.is_complex:
        t = torch.randint(lo, hi, shape, generator=gen, dtype=torch.int64).to(dtype)
    elif dtype.is_complex:
        t = torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)
    else:
        base = torch.rand(shape, generator=gen, dtype=torch.float64)
        if spec.get("fill") == "normal":
            base = torch.randn(shape, generator=gen, dtype=torch.float64) * spec.get("scale", 1.0)
        t = base.to(dtype)
    flat = t.view(-1)
    for position, value in spec.get("specials", ()) if dtype.is_floating_point else ():
        if flat.numel():
            flat[int(position * flat.numel()) % flat.numel()] = value
    return relayout(t, spec.get("layout", "contiguous"))


def _grad_inputs(args: list[Any]) -> list[Tensor]:
    return [a for a in args if isinstance(a, Tensor) and a.dtype.is_floating_point]


# ---- comparing outcomes -----------------------------------------------------------------------

def _difference(got: Tensor, same: Tensor, exact: Tensor | None, what: str, tol_floor: float = 0.0) -> str | None:
    """None if ``got`` agrees with the same-dtype reference ``same`` (or, failing that, is within
    twice the reference's own error of the float64 reference ``exact``); else the difference."""
    if not isinstance(got, Tensor) or not isinstance(same, Tensor):
        return None if got == same else f"{what}: {got!r} != {same!r}"
    if got.shape != same.shape or got.dtype != same.dtype:
        return f"{what}: {tuple(got.shape)} {got.dtype} != reference {tuple(same.shape)} {same.dtype}"
    if not got.dtype.is_floating_point:
        return None if torch.equal(got, same) else f"{what}: integer results differ"
    a, b = got.detach().double(), same.detach().double()
    tol = max(TOLERANCE[got.dtype], tol_floor)
    # Non-finite where the reference is non-finite (inf and NaN alike), close elsewhere.
    pattern_differs = bool((a.isfinite() ^ b.isfinite()).any())
    finite = a.isfinite() & b.isfinite()
    # Relative to the tensor's scale: huge inputs cancel in float32 as they do in any kernel.
    atol = tol * max(1.0, b[finite].abs().max().item() if bool(finite.any()) else 1.0)
    if not pattern_differs and bool(torch.isclose(a[finite], b[finite], rtol=tol, atol=atol).all()):
        return None
    if exact is not None:  # below float64: the flash-attention rule against the float64 reference
        e = exact.detach().double()
        if pattern_differs:  # the reference overflowed its dtype where the backend did not
            if bool((a.isfinite() ^ e.isfinite()).any()):
                return f"{what}: finite where the float64 reference is not, or the reverse"
            both = a.isfinite() & e.isfinite()
            return None if bool(torch.isclose(a[both], e[both], rtol=tol, atol=atol).all()) else (
                f"{what}: differs from the float64 reference where the same-dtype one overflowed")
        err = (a - e)[finite].abs().max() if bool(finite.any()) else 0.0
        ref_err = (b - e)[finite].abs().max() if bool(finite.any()) else 0.0
        if err <= 2 * ref_err + atol:
            return None
    worst = (a - b)[finite].abs().max().item() if bool(finite.any()) else 0.0
    return (f"{what}: differs from the reference (max |Δ| {worst:.3g} where both are finite; finite in one "
            f"only: {int((a.isfinite() ^ b.isfinite()).sum())} of {a.numel()})")


def _flatten(result: Any) -> list[Any]:
    if isinstance(result, tuple):  # NamedTuples included
        out = []
        for r in result:
            out.extend(_flatten(r))
        return out
    if hasattr(result, "types") and hasattr(result, "aux"):  # a DistortionParams
        return [result.types, result.levels, result.values, result.seeds, result.aux]
    return [result]


def _attempt(call, grad: bool) -> tuple[str, Any]:
    """("ok", (outputs, gradients)) or ("error", exception)."""
    try:
        args, outputs = call()
        outputs, grads = _flatten(outputs), []
        if grad:
            inputs = [a for a in _grad_inputs(args) if a.requires_grad]
            first = outputs[0]
            if inputs and isinstance(first, Tensor) and first.requires_grad:
                weight = torch.linspace(-1, 1, max(first.numel(), 1), dtype=torch.float64).view(-1)[: first.numel()]
                loss = (first.double().reshape(-1) * weight).sum()
                grads = list(torch.autograd.grad(loss, inputs, allow_unused=True))
        return "ok", (outputs, grads)
    except Exception as error:  # noqa: BLE001 - classifying every exception is the point
        return "error", error


def _describe(error: BaseException) -> str:
    where = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    at = f" at {where.filename.rsplit('/', 2)[-1]}:{where.lineno}" if where else ""
    return f"{type(error).__name__}{at}: {str(error)[:300]}"


def verdict(got: tuple[str, Any], same: tuple[str, Any], exact: tuple[str, Any] | None, *,
            check=None, finite_inputs: bool = True, tol_floor: float = 0.0) -> dict[str, str]:
    """Classifies a backend's outcome against the reference's (see the module docstring). With
    non-finite inputs only refusals, shapes and dtypes are compared: which entries an inf or NaN
    reaches depends on the algorithm (a kernel that skips masked keys never computes 0·inf)."""
    from pyiqa_fast import BackendUnavailableError

    kind, value = got
    if kind == "error":
        if isinstance(value, BackendUnavailableError) and str(value):
            return {"status": "ok", "outcome": "unavailable"}
        if not isinstance(value, CLEAR_ERRORS) or not str(value).strip():
            return {"status": "defect", "detail": f"unclear error: {_describe(value)}"}
        if same[0] != "error":
            return {"status": "defect", "detail": f"refused what the reference ran: {_describe(value)}"}
        return {"status": "ok", "outcome": f"refused ({type(value).__name__})", "message": str(value)[:200]}
    if same[0] == "error":
        return {"status": "defect", "detail": f"ran what the reference refused: {_describe(same[1])}"}
    (outputs, grads), (same_outputs, same_grads) = value, same[1]
    if not finite_inputs:
        if len(outputs) != len(same_outputs):
            return {"status": "defect", "detail": f"{len(outputs)} outputs != the reference's {len(same_outputs)}"}
        for i, (g, r) in enumerate(zip(outputs, same_outputs, strict=True)):
            if isinstance(g, Tensor) and (g.shape != r.shape or g.dtype != r.dtype):
                return {"status": "defect", "detail": f"output {i}: {tuple(g.shape)} {g.dtype} != reference "
                                                      f"{tuple(r.shape)} {r.dtype}"}
        return {"status": "ok", "outcome": "ran (non-finite input)"}
    if check is not None:
        problem = check(outputs)
        if problem:
            return {"status": "defect", "detail": problem}
    exact_outputs, exact_grads = exact[1] if exact is not None and exact[0] == "ok" else ([], [])
    # Gradients are compared where the forward is finite: past an inf or NaN input the contract is
    # a non-finite result, not which one (the kernels' prefix sums give NaN where pairs give inf).
    finite = all(not isinstance(t, Tensor) or not t.dtype.is_floating_point or bool(t.isfinite().all())
                 for t in same_outputs)
    pairs = [("output", outputs, same_outputs, exact_outputs)]
    if finite:
        pairs.append(("gradient", grads, same_grads, exact_grads))
    for kind, got_list, same_list, exact_list in pairs:
        if len(got_list) != len(same_list):
            return {"status": "defect", "detail": f"{len(got_list)} {kind}s != the reference's {len(same_list)}"}
        for i, (g, s) in enumerate(zip(got_list, same_list, strict=True)):
            if (g is None) != (s is None):
                return {"status": "defect", "detail": f"{kind} {i}: missing on one side"}
            e = exact_list[i] if i < len(exact_list) else None
            problem = None if g is None else _difference(
                g, s, e if isinstance(e, Tensor) and isinstance(g, Tensor) and e.shape == g.shape else None,
                f"{kind} {i}", tol_floor)
            if problem:
                return {"status": "defect", "detail": problem}
    return {"status": "ok", "outcome": "agrees"}


# ---- targets ----------------------------------------------------------------------------------

def _to_double(a: Any) -> Any:
    if isinstance(a, Tensor) and a.dtype.is_floating_point:
        return a.detach().double().requires_grad_(a.requires_grad)
    return a


def _op_caller(op, tensors: list[Any], options: dict[str, Any], backend: str, grad: tuple[bool, ...],
               double: bool = False):
    def call():
        args = [_to_double(t) if double else t for t in tensors]
        args = [a.detach().clone().requires_grad_(True) if wants and isinstance(a, Tensor)
                and a.dtype.is_floating_point else a for a, wants in zip(args, grad, strict=True)]
        return args, op(*args, **options, backend=backend)
    return call


def run_op(case: dict[str, Any], op, names: tuple[str, ...], differentiable: tuple[str, ...]) -> dict[str, str]:
    """An op called positionally on the case's tensors ``names`` with ``case["options"]``; with
    ``case["grad"]``, the gradients of its ``differentiable`` arguments are compared too."""
    gen = torch.Generator().manual_seed(case["seed"])
    tensors = [make_tensor(case[name], gen) for name in names]
    grad = tuple(bool(case.get("grad")) and name in differentiable for name in names)
    options = case.get("options", {})
    got = _attempt(_op_caller(op, tensors, options, case["backend"], grad), any(grad))
    same = _attempt(_op_caller(op, tensors, options, "reference", grad), any(grad))
    exact = None
    if any(isinstance(t, Tensor) and t.dtype in (torch.float16, torch.bfloat16, torch.float32) for t in tensors):
        exact = _attempt(_op_caller(op, tensors, options, "reference", grad, double=True), any(grad))
    return verdict(got, same, exact, finite_inputs=all_finite(tensors))


def all_finite(tensors: list[Any]) -> bool:
    return all(bool(t.isfinite().all()) for t in tensors if isinstance(t, Tensor) and t.dtype.is_floating_point)


def _record(spec: dict[str, Any]):
    """A :class:`DistortionParams` from ``{types, levels, partition, preset, seed, edits, layout}``;
    edits ``[field, flat index, value]`` write into the tables as research code does."""
    from dataclasses import replace

    from pyiqa_fast.distortions import sample_params

    p = sample_params(spec["types"], spec["levels"], partition=spec.get("partition"), preset=spec["preset"],
                      seed=spec["seed"])
    for field, index, value in spec.get("edits", ()):  # index None: every entry
        flat = getattr(p, field).view(-1)
        if index is None:
            flat.fill_(value)
        else:
            flat[index % flat.numel()] = value
    if spec.get("layout", "contiguous") != "contiguous":  # tables with other strides, same values
        p = replace(p, **{f: relayout(getattr(p, f), spec["layout"]) for f in ("types", "values", "seeds", "aux")})
    return p


def _image_check(x: Tensor):
    def check(outputs: list[Any]) -> str | None:
        y = outputs[0]
        if y.shape != x.shape or y.dtype != x.dtype:
            return f"output {tuple(y.shape)} {y.dtype} for input {tuple(x.shape)} {x.dtype}"
        if y.dtype.is_floating_point and x.isfinite().all() and not bool(y.isfinite().all()):
            return "non-finite output for a finite image"
        if y.dtype.is_floating_point and bool(((x >= 0) & (x <= 1)).all()) and not bool(((y >= 0) & (y <= 1)).all()):
            return f"output outside [0, 1]: [{y.min().item():.3g}, {y.max().item():.3g}]"
        return None
    return check


def run_distort(case: dict[str, Any]) -> dict[str, str]:
    from pyiqa_fast.ops import distort

    gen = torch.Generator().manual_seed(case["seed"])
    x = make_tensor(case["x"], gen)
    options = case.get("options", {})

    def call(backend: str, image):
        def run():
            return [image], distort(image, _record(case["record"]), **options, backend=backend)
        return run

    got = _attempt(call(case["backend"], x), False)
    finite = all_finite([x])
    if isinstance(x, Tensor) and x.dtype == torch.float64 and x.is_contiguous():
        return verdict(got, _attempt(call("reference", x), False), None, check=_image_check(x), finite_inputs=finite)
    # Other dtypes and layouts: the same backend on the contiguous image is the oracle.
    base = x.contiguous() if isinstance(x, Tensor) else x
    return verdict(got, _attempt(call(case["backend"], base), False), None,
                   check=_image_check(x) if isinstance(x, Tensor) else None, finite_inputs=finite)


def run_block_degradation(case: dict[str, Any]) -> dict[str, str]:
    from pyiqa_fast.distortions import BlockDegradation

    gen = torch.Generator().manual_seed(case["seed"])
    x = make_tensor(case["x"], gen)

    def call(backend: str, image):
        def run():
            module = BlockDegradation(**case["options"], backend=backend)
            return [image], module(image, generator=torch.Generator().manual_seed(case["seed"]))
        return run

    exact = isinstance(x, Tensor) and x.dtype == torch.float64 and x.is_contiguous()
    oracle = ("reference", x) if exact else (case["backend"], x.contiguous() if isinstance(x, Tensor) else x)
    return verdict(_attempt(call(case["backend"], x), False), _attempt(call(*oracle), False), None,
                   check=_image_check(x) if isinstance(x, Tensor) else None)


def run_dsmix(case: dict[str, Any]) -> dict[str, str]:
    from pyiqa_fast.distortions import DSMix

    gen = torch.Generator().manual_seed(case["seed"])
    x = make_tensor(case["x"], gen)
    labels = [make_tensor(case[name], gen) for name in ("type_labels", "level_labels")]
    keywords = {name: make_tensor(case.get(name), gen) for name in ("dsm", "ref", "is_reference")}

    def call(backend: str):
        def run():
            module = DSMix(**case["options"], backend=backend)
            out = module(x, *labels, **keywords, generator=torch.Generator().manual_seed(case["seed"]))
            return [x], out
        return run

    def check(outputs: list[Any]) -> str | None:
        type_targets, level_targets = outputs[1], outputs[2]
        for name, t in (("type_targets", type_targets), ("level_targets", level_targets)):
            if t.numel() and not (bool(t.isfinite().all()) and bool((t >= 0).all())
                                  and torch.allclose(t.sum(1), torch.ones(()), atol=1e-5)):
                return f"{name} are not finite non-negative rows summing to 1"
        return None

    # Labels are float32 whatever x's dtype, but weighed by DSMs computed in it.
    tol_floor = TOLERANCE.get(x.dtype, 0.0) if isinstance(x, Tensor) else 0.0
    return verdict(_attempt(call(case["backend"]), False), _attempt(call("reference"), False), None, check=check,
                   tol_floor=tol_floor)


def run_case(case: dict[str, Any]) -> dict[str, str]:
    """The verdict on one case (never raises)."""
    from pyiqa_fast.ops import block_attention, dsm_pool, margin_ranking_loss

    target = case["target"]
    if target == "selftest":  # the harness's own test: how a crash or a hang looks to the parent
        import os
        import signal
        import time

        if case["fail"] == "signal":
            os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(case.get("sleep_s", 0))
        return {"status": "defect" if case["fail"] == "defect" else "ok", "detail": "selftest", "outcome": "ran"}
    try:
        if target == "margin_ranking_loss":
            return run_op(case, margin_ranking_loss, ("pred", "target_t"), ("pred",))
        if target == "dsm_pool":
            return run_op(case, dsm_pool, ("ref", "dist"), ("ref", "dist"))
        if target == "block_attention":
            return run_op(case, block_attention, ("q", "k", "v", "q_groups", "k_groups"), ("q", "k", "v"))
        if target == "distort":
            return run_distort(case)
        if target == "block_degradation":
            return run_block_degradation(case)
        if target == "dsmix":
            return run_dsmix(case)
    except Exception as error:  # noqa: BLE001 - a harness failure is reported, not hidden
        return {"status": "defect", "detail": f"harness: {_describe(error)}"}
    raise ValueError(f"unknown fuzz target {target!r}")

