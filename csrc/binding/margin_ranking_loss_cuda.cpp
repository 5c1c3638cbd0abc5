// margin_ranking_loss on CUDA tensors: checks, device guard, current stream, launcher call.
// Host-compiled: includes only c10/cuda headers, never the CUDA kernels' sources.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <optional>
#include <tuple>

#include "binding/margin_ranking_loss_checks.h"
#include "kernels/margin_ranking_loss/margin_ranking_loss.h"

namespace pyiqa_fast::binding {
namespace {

constexpr const char* kOp = "margin_ranking_loss";

std::tuple<at::Tensor, at::Tensor> margin_ranking_loss_cuda(const at::Tensor& pred, const at::Tensor& target,
                                                            double margin_scale, std::optional<double> margin,
                                                            c10::string_view reduction) {
  check_margin_ranking_loss_args(pred, target, margin_scale, margin, reduction);
  TORCH_CHECK(pred.is_cuda(), kOp, ": the CUDA kernel got pred on ", pred.device());
  const int64_t n = pred.size(0);
  TORCH_CHECK(n <= margin_ranking_loss::kCudaMaxN, kOp, ": the CUDA kernel supports n <= 2^30, got n = ", n);

  const c10::cuda::CUDAGuard guard(pred.device());
  at::Tensor loss = at::empty({}, pred.options());
  at::Tensor grad = at::empty({n}, pred.options());
  const int64_t blocks = margin_ranking_loss::cuda_num_blocks(n);
  at::Tensor partials = blocks > 1 ? at::empty({blocks}, pred.options().dtype(at::kDouble)) : at::Tensor();

  margin_ranking_loss::CudaParams params;
  params.n = n;
  params.pred = pred.data_ptr();
  params.pred_stride = pred.stride(0);
  params.target = target.data_ptr();
  params.target_stride = target.stride(0);
  params.dtype = to_kernel_dtype(pred.scalar_type());
  params.has_margin = margin.has_value();
  params.margin = margin.value_or(0.0);
  params.margin_scale = margin_scale;
  params.mean = reduction == "mean";
  params.loss = loss.data_ptr();
  params.grad = grad.data_ptr();
  params.partials = blocks > 1 ? partials.data_ptr<double>() : nullptr;
  const Status status = margin_ranking_loss::launch_margin_ranking_loss_fwd(
      params, c10::cuda::getCurrentCUDAStream(pred.device().index()).stream());
  TORCH_CHECK(status == Status::kOk, kOp, ": kernel failed: ", status_string(status), " (",
              margin_ranking_loss::margin_ranking_loss_cuda_error(), ")");
  return {loss, grad};
}

}  // namespace

TORCH_LIBRARY_IMPL(pyiqa_fast, CUDA, m) { m.impl("margin_ranking_loss", &margin_ranking_loss_cuda); }

}  // namespace pyiqa_fast::binding
