// Helpers for the thin torch layer: argument checks whose messages name the op, the argument,
// the expected and the actual value.
#pragma once
#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <string>

#include "common/macros.h"
#include "common/status.h"

namespace pyiqa_fast::binding {

inline DType to_kernel_dtype(at::ScalarType t) {
  switch (t) {
    case at::kHalf: return DType::kFloat16;
    case at::kBFloat16: return DType::kBFloat16;
    case at::kFloat: return DType::kFloat32;
    case at::kDouble: return DType::kFloat64;
    default: TORCH_CHECK(false, "pyiqa_fast: no kernel dtype for ", t);
  }
}

inline void check_floating(const char* op, const char* name, const at::Tensor& t) {
  TORCH_CHECK(at::isFloatingType(t.scalar_type()), op, ": ", name,
              " must be float16, bfloat16, float32 or float64, got ", t.scalar_type());
}

inline void check_dim(const char* op, const char* name, const at::Tensor& t, int64_t dim) {
  TORCH_CHECK(t.dim() == dim, op, ": ", name, " must have ", dim, " dimension(s), got shape ", t.sizes());
}

inline void check_same_dtype(const char* op, const char* a, const at::Tensor& ta, const char* b,
                             const at::Tensor& tb) {
  TORCH_CHECK(ta.scalar_type() == tb.scalar_type(), op, ": ", b, " must have the dtype of ", a, " (",
              ta.scalar_type(), "), got ", tb.scalar_type());
}

inline void check_same_device(const char* op, const char* a, const at::Tensor& ta, const char* b,
                              const at::Tensor& tb) {
  TORCH_CHECK(ta.device() == tb.device(), op, ": ", b, " must be on the device of ", a, " (", ta.device(),
              "), got ", tb.device());
}

inline void check_status(const char* op, Status s) {
  TORCH_CHECK(s == Status::kOk, op, ": kernel failed: ", status_string(s));
}

}  // namespace pyiqa_fast::binding
