"""Backend capability records and backend selection (STYLE.md §5).

Every op has up to four backends, ``reference`` / ``cpu`` / ``cuda`` / ``triton``, each described
by a :class:`Backend` record in ``pyiqa_fast/ops/<op>/impl/<backend>.py``. ``backend="auto"``
walks a per-device priority list and takes the first backend with no reason to refuse; an
explicit backend never falls back and raises :class:`BackendUnavailableError` naming every
reason.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

BACKEND_NAMES = ("reference", "cpu", "cuda", "triton")
_VALID_CHOICES = ("auto",) + BACKEND_NAMES
_default_backend: str | None = None


class BackendUnavailableError(RuntimeError):
    """An explicitly requested backend cannot run these inputs (or ``auto`` found none)."""


@dataclass(frozen=True)
class Backend:
    """What one implementation of an op can do.

    Attributes:
        name: One of ``reference``, ``cpu``, ``cuda``, ``triton``.
        run: The implementation; takes the op's validated arguments.
        devices: Device types it runs on (``"cpu"``, ``"cuda"``).
        dtypes: Input dtypes it accepts.
        supports_backward: Whether it provides gradients.
        deterministic: Whether identical inputs give bitwise identical outputs.
        tolerances: Per-dtype ``(atol, rtol)`` of its forward against the float64 reference.
        availability: Returns ``(available, reason)`` for this process (build, device, imports).
        limits: Op-specific refusals for concrete inputs: returns a list of reasons.
        min_compute_capability: Lowest CUDA compute capability, if any.
        interpreter_only_on_cpu: True for Triton: CPU tensors only under ``TRITON_INTERPRET=1``;
            ``auto`` never chooses it while the interpreter is on, on any device.
    """

    name: str
    run: Callable[..., Any]
    devices: tuple[str, ...]
    dtypes: tuple[torch.dtype, ...]
    supports_backward: bool
    deterministic: bool
    tolerances: Mapping[torch.dtype, tuple[float, float]]
    availability: Callable[[], tuple[bool, str]]
    limits: Callable[..., list[str]] = field(default=lambda **_: [])
    min_compute_capability: tuple[int, int] | None = None
    interpreter_only_on_cpu: bool = False

    def is_available(self) -> tuple[bool, str]:
        """``(True, "")`` or ``(False, reason)`` for this process."""
        return self.availability()

    def not_supported_reasons(
        self,
        device: torch.device,
        dtype: torch.dtype,
        needs_backward: bool,
        **inputs: Any,
    ) -> list[str]:
        """Every reason this backend refuses inputs on ``device`` of ``dtype``; empty if it runs."""
        reasons = []
        available, why = self.is_available()
        if not available:
            reasons.append(why)
        if device.type not in self.devices:
            reasons.append(f"runs on {'/'.join(self.devices)} tensors, got a {device.type} tensor")
        elif device.type == "cpu" and self.interpreter_only_on_cpu and not triton_interpreter_enabled():
            reasons.append("runs on CPU tensors only under the Triton interpreter (TRITON_INTERPRET=1)")
        if dtype not in self.dtypes:
            names = ", ".join(str(d).removeprefix("torch.") for d in self.dtypes)
            reasons.append(f"supports dtypes {names}, got {str(dtype).removeprefix('torch.')}")
        if needs_backward and not self.supports_backward:
            reasons.append("has no backward, and an input requires grad")
        if not self.deterministic and torch.are_deterministic_algorithms_enabled():
            reasons.append("is not deterministic, and torch.use_deterministic_algorithms(True) is set")
        if self.min_compute_capability is not None and device.type == "cuda" and available:
            cc = torch.cuda.get_device_capability(device)
            if cc < self.min_compute_capability:
                want = ".".join(map(str, self.min_compute_capability))
                reasons.append(f"needs compute capability >= {want}, device has {cc[0]}.{cc[1]}")
        reasons.extend(self.limits(device=device, dtype=dtype, **inputs))
        return reasons


@dataclass(frozen=True)
class OpBackends:
    """The backends of one op and the order in which ``auto`` tries them per device type."""

    op: str
    backends: Mapping[str, Backend]
    auto_order: Mapping[str, Sequence[str]]

    def resolve(
        self,
        requested: str,
        device: torch.device,
        dtype: torch.dtype,
        needs_backward: bool,
        **inputs: Any,
    ) -> Backend:
        """Picks the backend for these inputs.

        Args:
            requested: ``"auto"`` or a backend name. ``"auto"`` is replaced by the process
                default (:func:`set_default_backend`, ``PYIQA_FAST_BACKEND``) when one is set.
            device: Device of the inputs.
            dtype: Dtype of the inputs.
            needs_backward: Whether an input requires grad.
            **inputs: Op-specific facts for the backends' ``limits`` (sizes, options).

        Raises:
            ValueError: ``requested`` is not a known backend name.
            BackendUnavailableError: The explicit backend refuses, or ``auto`` found none.
        """
        if requested not in _VALID_CHOICES:
            raise ValueError(
                f"{self.op}: backend must be one of {', '.join(repr(c) for c in _VALID_CHOICES)}, "
                f"got {requested!r}"
            )
        if requested == "auto":
            requested = get_default_backend()
        if requested != "auto":
            backend = self.backends.get(requested)
            if backend is None:
                raise BackendUnavailableError(
                    f"{self.op}(backend={requested!r}): cannot run — {self.op} has no {requested} "
                    f"backend; available: {', '.join(self.backends)}"
                )
            reasons = backend.not_supported_reasons(device, dtype, needs_backward, **inputs)
            if reasons:
                candidates = [*self.auto_order.get(device.type, ()), *self.backends]
                works = [
                    name
                    for name in dict.fromkeys(candidates)
                    if name != requested
                    and not self.backends[name].not_supported_reasons(device, dtype, needs_backward, **inputs)
                ]
                hint = f"; use backend={works[0]!r} (or 'auto')" if works else ""
                raise BackendUnavailableError(
                    f"{self.op}(backend={requested!r}): cannot run — " + "; ".join(reasons) + hint
                )
            return backend
        refusals = []
        if device.type not in self.auto_order:
            devices = sorted({d for b in self.backends.values() for d in b.devices})
            raise BackendUnavailableError(
                f"{self.op}(backend='auto'): no backend runs on {device.type} tensors; {self.op} runs on "
                f"{'/'.join(devices)} tensors (meta tensors: trace the op with torch.compile or FakeTensorMode, "
                "which use its fake kernel)"
            )
        for name in self.auto_order.get(device.type, ()):
            backend = self.backends[name]
            reasons = backend.not_supported_reasons(device, dtype, needs_backward, **inputs)
            if backend.interpreter_only_on_cpu and triton_interpreter_enabled():
                reasons.append("TRITON_INTERPRET is set, and auto never picks the interpreter")
            if not reasons:
                return backend
            refusals.append(f"{name}: " + "; ".join(reasons))
        raise BackendUnavailableError(
            f"{self.op}(backend='auto'): no backend can run a {device.type} "
            f"{str(dtype).removeprefix('torch.')} input — " + " | ".join(refusals)
        )

    def availability(self) -> dict[str, tuple[bool, str]]:
        """``{backend: (available, reason)}`` for this process, independent of inputs."""
        return {name: backend.is_available() for name, backend in self.backends.items()}


def triton_interpreter_enabled() -> bool:
    """Whether Triton kernels run in the CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def set_default_backend(name: str | None) -> None:
    """Sets the backend that ``backend="auto"`` means in this process.

    An explicit ``backend=`` argument always wins. The default behaves like an explicit choice
    (it raises rather than falls back); ``None`` or ``"auto"`` restores automatic selection.

    Args:
        name: ``"reference"``, ``"cpu"``, ``"cuda"``, ``"triton"``, ``"auto"`` or ``None``.

    Raises:
        ValueError: ``name`` is not a backend name.
    """
    global _default_backend
    if name is not None and name not in _VALID_CHOICES:
        raise ValueError(
            f"set_default_backend: name must be one of {', '.join(repr(c) for c in _VALID_CHOICES)} "
            f"or None, got {name!r}"
        )
    _default_backend = None if name in (None, "auto") else name


def get_default_backend() -> str:
    """The process default for ``auto``: :func:`set_default_backend`, else ``PYIQA_FAST_BACKEND``."""
    if _default_backend is not None:
        return _default_backend
    env = _ENV_DEFAULT
    if env not in _VALID_CHOICES:
        raise ValueError(
            f"PYIQA_FAST_BACKEND must be one of {', '.join(repr(c) for c in _VALID_CHOICES)}, got {env!r}"
        )
    return env


# Read once: the environment is process configuration, and reading it per call would make
# torch.compile guard on it.
_ENV_DEFAULT = os.environ.get("PYIQA_FAST_BACKEND", "auto") or "auto"
