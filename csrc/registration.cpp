// The one TORCH_LIBRARY block of the pyiqa_fast namespace: every C++ op's schema. Fake kernels,
// autograd and autocast are registered from Python (pyiqa_fast/ops/<op>/ops.py), which torch
// imports on demand: set_python_module applies to the defs that follow it.
#include <torch/library.h>

TORCH_LIBRARY(pyiqa_fast, m) {
  m.set_python_module("pyiqa_fast.ops.margin_ranking_loss.ops");
  // DP-IQA margin ranking loss; returns (loss, ∂loss/∂pred) computed in the same pass, so the
  // backward is a scale by grad_output (no private backward op needed).
  m.def("margin_ranking_loss(Tensor pred, Tensor target, float margin_scale, float? margin, str reduction)"
        " -> (Tensor, Tensor)");
}
