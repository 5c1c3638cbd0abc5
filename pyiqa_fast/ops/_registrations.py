"""Imports every op's ``ops.py``: fake kernels and autocast policies of the C++ ops.

``csrc/registration.cpp`` names each op's module with ``set_python_module``, so torch imports it
on demand even when a user calls ``torch.ops.pyiqa_fast.*`` directly.
"""

from pyiqa_fast.ops.block_attention import ops as _block_attention_ops
from pyiqa_fast.ops.distort import ops as _distort_ops
from pyiqa_fast.ops.dsm_pool import ops as _dsm_pool_ops
from pyiqa_fast.ops.margin_ranking_loss import ops as _margin_ranking_loss_ops


def register_cpp_ops() -> None:
    """Registers what every C++ op needs from Python; idempotent."""
    _block_attention_ops.register_cpp_op()
    _margin_ranking_loss_ops.register_cpp_op()
    _dsm_pool_ops.register_cpp_op()
    _distort_ops.register_cpp_op()
