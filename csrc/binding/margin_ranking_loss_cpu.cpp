// margin_ranking_loss on CPU tensors: checks, dtype dispatch (fp16/bf16 computed in fp32), the
// margin, and at::parallel_for handed to the kernel for the independent merges of each level.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <optional>
#include <tuple>

#include "binding/margin_ranking_loss_checks.h"
#include "kernels/margin_ranking_loss/margin_ranking_loss.h"

namespace pyiqa_fast::binding {
namespace {

constexpr const char* kOp = "margin_ranking_loss";

// Rounds through float to a 16-bit type, as c10::Half / c10::BFloat16 convert a double.
float round_to(double value, at::ScalarType dtype) {
  switch (dtype) {
    case at::kHalf: return static_cast<float>(static_cast<c10::Half>(static_cast<float>(value)));
    case at::kBFloat16: return static_cast<float>(static_cast<c10::BFloat16>(static_cast<float>(value)));
    default: return static_cast<float>(value);
  }
}

// The margin exactly as the reference evaluates `margin_scale * target.std()` in the input dtype:
// the std rounded to the dtype, the product in torch's op-math type (float below fp64), rounded.
template <typename T>
T resolve_margin(const at::Tensor& target_ct, at::ScalarType dtype, double margin_scale,
                 const std::optional<double>& margin) {
  if (dtype == at::kDouble) {
    return static_cast<T>(margin.has_value() ? *margin
                                             : margin_scale * margin_ranking_loss::target_std_cpu<T>(
                                                                  target_ct.data_ptr<T>(), target_ct.stride(0),
                                                                  target_ct.size(0)));
  }
  if (margin.has_value()) return static_cast<T>(round_to(*margin, dtype));
  const float std = round_to(
      margin_ranking_loss::target_std_cpu<T>(target_ct.data_ptr<T>(), target_ct.stride(0), target_ct.size(0)), dtype);
  return static_cast<T>(round_to(static_cast<float>(margin_scale) * std, dtype));
}

std::tuple<at::Tensor, at::Tensor> margin_ranking_loss_cpu(const at::Tensor& pred, const at::Tensor& target,
                                                           double margin_scale, std::optional<double> margin,
                                                           c10::string_view reduction) {
  check_margin_ranking_loss_args(pred, target, margin_scale, margin, reduction);
  TORCH_CHECK(pred.device().is_cpu(), kOp, ": the CPU kernel got pred on ", pred.device());
  TORCH_CHECK(pred.size(0) <= 0xffffffffLL, kOp, ": the CPU kernel supports n < 2^32, got n = ", pred.size(0));
  const bool wide = pred.scalar_type() == at::kDouble;
  const at::ScalarType compute = wide ? at::kDouble : at::kFloat;
  // fp16/bf16 are upcast once (n elements); strided fp32/fp64 inputs are read in place.
  const at::Tensor pred_ct = pred.to(compute);
  const at::Tensor target_ct = target.to(compute);
  at::Tensor grad_ct = at::empty({pred.size(0)}, pred.options().dtype(compute));
  double loss = 0.0;

  margin_ranking_loss::ParallelFor parallel_for = [](int64_t begin, int64_t end,
                                                     const std::function<void(int64_t, int64_t)>& body) {
    at::parallel_for(begin, end, 1, body);
  };
  AT_DISPATCH_FLOATING_TYPES(compute, "margin_ranking_loss_cpu", [&] {
    margin_ranking_loss::CpuParams<scalar_t> params;
    params.n = pred.size(0);
    params.pred = pred_ct.data_ptr<scalar_t>();
    params.pred_stride = pred_ct.stride(0);
    params.target = target_ct.data_ptr<scalar_t>();
    params.target_stride = target_ct.stride(0);
    params.margin = resolve_margin<scalar_t>(target_ct, pred.scalar_type(), margin_scale, margin);
    params.mean = reduction == "mean";
    params.loss = &loss;
    params.grad = grad_ct.data_ptr<scalar_t>();
    check_status(kOp, margin_ranking_loss::margin_ranking_loss_fwd_cpu<scalar_t>(params, parallel_for));
  });
  return {at::scalar_tensor(loss, pred.options()), grad_ct.to(pred.scalar_type())};
}

}  // namespace

TORCH_LIBRARY_IMPL(pyiqa_fast, CPU, m) { m.impl("margin_ranking_loss", &margin_ranking_loss_cpu); }

}  // namespace pyiqa_fast::binding
