"""Triton kernels of pyiqa_fast: ``@triton.jit`` kernels and their launchers, one module per op.

No side effects on import; registration with torch.library lives in ``pyiqa_fast/ops/<op>/ops.py``.
"""
