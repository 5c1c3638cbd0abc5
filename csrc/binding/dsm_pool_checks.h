// Argument checks and shared helpers of dsm_pool's CPU and CUDA bindings.
#pragma once
#include <ATen/ATen.h>

#include <algorithm>

#include "binding/common.h"
#include "kernels/dsm_pool/dsm_pool.h"

namespace pyiqa_fast::binding {

inline dsm_pool::InType to_dsm_in_type(at::ScalarType t) {
  switch (t) {
    case at::kByte: return dsm_pool::InType::kUInt8;
    case at::kHalf: return dsm_pool::InType::kFloat16;
    case at::kBFloat16: return dsm_pool::InType::kBFloat16;
    case at::kFloat: return dsm_pool::InType::kFloat32;
    case at::kDouble: return dsm_pool::InType::kFloat64;
    default: TORCH_CHECK(false, "dsm_pool: no kernel for dtype ", t);
  }
}

inline dsm_pool::Strides dsm_strides(const at::Tensor& t) {
  return {t.stride(0), t.stride(1), t.stride(2), t.stride(3)};
}

// Checks ref/dist/pool and returns the map's geometry.
inline dsm_pool::Geometry check_dsm_pool_args(const at::Tensor& ref, const at::Tensor& dist, int64_t pool,
                                              bool ceil_mode) {
  constexpr const char* op = "dsm_pool";
  TORCH_CHECK(ref.dim() == 4, op, ": ref must have 4 dimensions (B, 3, H, W), got shape ", ref.sizes());
  TORCH_CHECK(ref.size(1) == 3, op, ": ref must have 3 channels (dim 1), got shape ", ref.sizes());
  TORCH_CHECK(dist.sizes() == ref.sizes(), op, ": dist must have the shape of ref (", ref.sizes(), "), got ",
              dist.sizes());
  const auto dtype = ref.scalar_type();
  TORCH_CHECK(dtype == at::kByte || dtype == at::kHalf || dtype == at::kBFloat16 || dtype == at::kFloat ||
                  dtype == at::kDouble,
              op, ": ref must be uint8, float16, bfloat16, float32 or float64, got ", dtype);
  check_same_dtype(op, "ref", ref, "dist", dist);
  check_same_device(op, "ref", ref, "dist", dist);
  TORCH_CHECK(pool >= 1, op, ": pool must be >= 1, got ", pool);
  dsm_pool::Geometry g;
  g.batch = ref.size(0);
  g.height = ref.size(2);
  g.width = ref.size(3);
  // A cell larger than the image is the whole image: pooling over max(H, W) gives the same map and
  // gradient and keeps every size product (pool², out · pool) far from int64 overflow.
  g.pool = std::min<int64_t>(pool, std::max<int64_t>({g.height, g.width, 1}));
  if (!ceil_mode) {
    TORCH_CHECK(g.height % pool == 0, op, ": H = ", g.height, " is not divisible by pool = ", pool,
                "; pass ceil_mode=True to pool the partial cells over their real pixel count");
    TORCH_CHECK(g.width % pool == 0, op, ": W = ", g.width, " is not divisible by pool = ", pool,
                "; pass ceil_mode=True to pool the partial cells over their real pixel count");
  }
  g.out_h = (g.height + g.pool - 1) / g.pool;
  g.out_w = (g.width + g.pool - 1) / g.pool;
  return g;
}

// Checks the backward's extra arguments; returns the geometry.
inline dsm_pool::Geometry check_dsm_pool_backward_args(const at::Tensor& grad, const at::Tensor& ref,
                                                       const at::Tensor& dist, int64_t pool, bool ceil_mode) {
  constexpr const char* op = "_dsm_pool_backward";
  const dsm_pool::Geometry g = check_dsm_pool_args(ref, dist, pool, ceil_mode);
  TORCH_CHECK(ref.scalar_type() != at::kByte, op, ": uint8 inputs have no gradient");
  TORCH_CHECK(grad.dim() == 4 && grad.size(0) == g.batch && grad.size(1) == 1 && grad.size(2) == g.out_h &&
                  grad.size(3) == g.out_w,
              op, ": grad must have shape [", g.batch, ", 1, ", g.out_h, ", ", g.out_w, "], got ", grad.sizes());
  check_same_dtype(op, "ref", ref, "grad", grad);
  check_same_device(op, "ref", ref, "grad", grad);
  return g;
}

// s = grad / (3 · real pixel count of the cell), computed in float (double for double) and
// rounded to the input dtype: contiguous (B, out_h, out_w).
inline at::Tensor dsm_pool_scale(const at::Tensor& grad, const dsm_pool::Geometry& g) {
  const at::ScalarType dtype = grad.scalar_type();
  const at::ScalarType compute = dtype == at::kDouble ? at::kDouble : at::kFloat;
  const auto opts = grad.options().dtype(compute);
  const at::Tensor rows = at::clamp_max(g.height - at::arange(g.out_h, opts) * g.pool, g.pool);
  const at::Tensor cols = at::clamp_max(g.width - at::arange(g.out_w, opts) * g.pool, g.pool);
  const at::Tensor divisor = (rows.unsqueeze(1) * cols.unsqueeze(0)) * 3;
  return (grad.reshape({g.batch, g.out_h, g.out_w}).to(compute) / divisor).to(dtype).contiguous();
}

}  // namespace pyiqa_fast::binding
