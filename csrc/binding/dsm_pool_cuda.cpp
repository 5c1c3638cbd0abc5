// dsm_pool on CUDA tensors: checks, device guard, current stream, launcher call. Any strides
// are read in place. Host-compiled: includes only c10/cuda headers, never the kernels' sources.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <tuple>

#include "binding/dsm_pool_checks.h"

namespace pyiqa_fast::binding {
namespace {

constexpr const char* kOp = "dsm_pool";

at::Tensor dsm_pool_cuda(const at::Tensor& ref, const at::Tensor& dist, int64_t pool, bool ceil_mode) {
  const dsm_pool::Geometry g = check_dsm_pool_args(ref, dist, pool, ceil_mode);
  TORCH_CHECK(ref.is_cuda(), kOp, ": the CUDA kernel got ref on ", ref.device());
  TORCH_CHECK(pool <= dsm_pool::kCudaMaxPool, kOp, ": the CUDA kernel supports pool <= ", dsm_pool::kCudaMaxPool,
              ", got ", pool);
  const c10::cuda::CUDAGuard guard(ref.device());
  const at::ScalarType out_dtype = ref.scalar_type() == at::kByte ? at::kFloat : ref.scalar_type();
  at::Tensor out = at::empty({g.batch, 1, g.out_h, g.out_w}, ref.options().dtype(out_dtype));
  if (out.numel() == 0) return out;
  dsm_pool::CudaFwdParams p;
  p.geo = g;
  p.in_type = to_dsm_in_type(ref.scalar_type());
  p.ref = ref.data_ptr();
  p.ref_strides = dsm_strides(ref);
  p.dist = dist.data_ptr();
  p.dist_strides = dsm_strides(dist);
  p.out = out.data_ptr();
  const Status status =
      dsm_pool::launch_dsm_pool_fwd(p, c10::cuda::getCurrentCUDAStream(ref.device().index()).stream());
  TORCH_CHECK(status == Status::kOk, kOp, ": kernel failed: ", status_string(status), " (",
              dsm_pool::dsm_pool_cuda_error(), ")");
  return out;
}

std::tuple<at::Tensor, at::Tensor> dsm_pool_backward_cuda(const at::Tensor& grad, const at::Tensor& ref,
                                                          const at::Tensor& dist, int64_t pool, bool ceil_mode) {
  const dsm_pool::Geometry g = check_dsm_pool_backward_args(grad, ref, dist, pool, ceil_mode);
  TORCH_CHECK(ref.is_cuda(), "_dsm_pool_backward: the CUDA kernel got ref on ", ref.device());
  const c10::cuda::CUDAGuard guard(ref.device());
  at::Tensor grad_ref = at::empty(ref.sizes(), ref.options());  // contiguous NCHW
  at::Tensor grad_dist = at::empty(ref.sizes(), ref.options());
  if (grad_ref.numel() == 0) return {grad_ref, grad_dist};
  const at::Tensor scale = dsm_pool_scale(grad, g);
  dsm_pool::CudaBwdParams p;
  p.geo = g;
  p.in_type = to_dsm_in_type(ref.scalar_type());
  p.ref = ref.data_ptr();
  p.ref_strides = dsm_strides(ref);
  p.dist = dist.data_ptr();
  p.dist_strides = dsm_strides(dist);
  p.scale = scale.data_ptr();
  p.grad_ref = grad_ref.data_ptr();
  p.grad_dist = grad_dist.data_ptr();
  const Status status =
      dsm_pool::launch_dsm_pool_bwd(p, c10::cuda::getCurrentCUDAStream(ref.device().index()).stream());
  TORCH_CHECK(status == Status::kOk, "_dsm_pool_backward: kernel failed: ", status_string(status), " (",
              dsm_pool::dsm_pool_cuda_error(), ")");
  return {grad_ref, grad_dist};
}

}  // namespace

TORCH_LIBRARY_IMPL(pyiqa_fast, CUDA, m) {
  m.impl("dsm_pool", &dsm_pool_cuda);
  m.impl("_dsm_pool_backward", &dsm_pool_backward_cuda);
}

}  // namespace pyiqa_fast::binding
