// dsm_pool on CPU tensors: checks, dtype dispatch, at::parallel_for over the kernel's strips
// (forward) and rows (backward). Any strides are read in place (the kernel has fast loops for
// NCHW rows and channels-last pixels); no input is copied.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <atomic>
#include <tuple>
#include <vector>

#include "binding/dsm_pool_checks.h"

namespace pyiqa_fast::binding {
namespace {

constexpr const char* kOp = "dsm_pool";
constexpr int64_t kGrainElements = 1 << 15;  // input elements per parallel task, at least

template <typename T, typename A>
void run_fwd(const at::Tensor& ref, const at::Tensor& dist, const dsm_pool::Geometry& g, at::Tensor& out) {
  dsm_pool::CpuFwdParams<T, A> p;
  p.geo = g;
  p.ref = reinterpret_cast<const T*>(ref.data_ptr());
  p.ref_strides = dsm_strides(ref);
  p.dist = reinterpret_cast<const T*>(dist.data_ptr());
  p.dist_strides = dsm_strides(dist);
  p.out = out.data_ptr<A>();
  const int64_t per_item = 6 * g.pool * std::max<int64_t>(g.width, 1);
  std::atomic<int> failed{0};
  at::parallel_for(0, g.batch * g.out_h, std::max<int64_t>(1, kGrainElements / per_item),
                   [&](int64_t begin, int64_t end) {
                     std::vector<A> scratch(static_cast<size_t>(g.width) + 1);
                     if (dsm_pool::dsm_pool_fwd_cpu<T, A>(p, begin, end, scratch.data()) != Status::kOk) failed = 1;
                   });
  check_status(kOp, failed ? Status::kInvalidArgument : Status::kOk);
}

at::Tensor dsm_pool_cpu(const at::Tensor& ref, const at::Tensor& dist, int64_t pool, bool ceil_mode) {
  const dsm_pool::Geometry g = check_dsm_pool_args(ref, dist, pool, ceil_mode);
  TORCH_CHECK(ref.device().is_cpu(), kOp, ": the CPU kernel got ref on ", ref.device());
  const at::ScalarType dtype = ref.scalar_type();
  const at::ScalarType out_dtype = dtype == at::kByte ? at::kFloat : dtype;
  // The kernel accumulates and writes float (double for double); 16-bit maps are rounded once
  // at the end (the map is 1/(3p²) of an input).
  at::Tensor out = at::empty({g.batch, 1, g.out_h, g.out_w}, ref.options().dtype(dtype == at::kDouble ? at::kDouble
                                                                                                       : at::kFloat));
  if (out.numel() != 0) {
    switch (dtype) {
      case at::kByte: run_fwd<uint8_t, float>(ref, dist, g, out); break;
      case at::kHalf: run_fwd<dsm_pool::Half, float>(ref, dist, g, out); break;
      case at::kBFloat16: run_fwd<dsm_pool::BFloat16, float>(ref, dist, g, out); break;
      case at::kFloat: run_fwd<float, float>(ref, dist, g, out); break;
      case at::kDouble: run_fwd<double, double>(ref, dist, g, out); break;
      default: TORCH_CHECK(false, kOp, ": unsupported dtype ", dtype);
    }
  }
  return out.scalar_type() == out_dtype ? out : out.to(out_dtype);
}

template <typename T>
void run_bwd(const at::Tensor& ref, const at::Tensor& dist, const at::Tensor& scale, const dsm_pool::Geometry& g,
             at::Tensor& grad_ref, at::Tensor& grad_dist) {
  dsm_pool::CpuBwdParams<T> p;
  p.geo = g;
  p.ref = reinterpret_cast<const T*>(ref.data_ptr());
  p.ref_strides = dsm_strides(ref);
  p.dist = reinterpret_cast<const T*>(dist.data_ptr());
  p.dist_strides = dsm_strides(dist);
  p.scale = reinterpret_cast<const T*>(scale.data_ptr());
  p.grad_ref = reinterpret_cast<T*>(grad_ref.data_ptr());
  p.grad_dist = reinterpret_cast<T*>(grad_dist.data_ptr());
  const int64_t per_item = 6 * std::max<int64_t>(g.width, 1);
  std::atomic<int> failed{0};
  at::parallel_for(0, g.batch * g.height, std::max<int64_t>(1, kGrainElements / per_item),
                   [&](int64_t begin, int64_t end) {
                     if (dsm_pool::dsm_pool_bwd_cpu<T>(p, begin, end) != Status::kOk) failed = 1;
                   });
  check_status("_dsm_pool_backward", failed ? Status::kInvalidArgument : Status::kOk);
}

std::tuple<at::Tensor, at::Tensor> dsm_pool_backward_cpu(const at::Tensor& grad, const at::Tensor& ref,
                                                         const at::Tensor& dist, int64_t pool, bool ceil_mode) {
  const dsm_pool::Geometry g = check_dsm_pool_backward_args(grad, ref, dist, pool, ceil_mode);
  TORCH_CHECK(ref.device().is_cpu(), "_dsm_pool_backward: the CPU kernel got ref on ", ref.device());
  at::Tensor grad_ref = at::empty(ref.sizes(), ref.options());  // contiguous NCHW
  at::Tensor grad_dist = at::empty(ref.sizes(), ref.options());
  if (grad_ref.numel() == 0) return {grad_ref, grad_dist};
  const at::Tensor scale = dsm_pool_scale(grad, g);
  switch (ref.scalar_type()) {
    case at::kHalf: run_bwd<dsm_pool::Half>(ref, dist, scale, g, grad_ref, grad_dist); break;
    case at::kBFloat16: run_bwd<dsm_pool::BFloat16>(ref, dist, scale, g, grad_ref, grad_dist); break;
    case at::kFloat: run_bwd<float>(ref, dist, scale, g, grad_ref, grad_dist); break;
    case at::kDouble: run_bwd<double>(ref, dist, scale, g, grad_ref, grad_dist); break;
    default: TORCH_CHECK(false, "_dsm_pool_backward: unsupported dtype ", ref.scalar_type());
  }
  return {grad_ref, grad_dist};
}

}  // namespace

TORCH_LIBRARY_IMPL(pyiqa_fast, CPU, m) {
  m.impl("dsm_pool", &dsm_pool_cpu);
  m.impl("_dsm_pool_backward", &dsm_pool_backward_cpu);
}

}  // namespace pyiqa_fast::binding
