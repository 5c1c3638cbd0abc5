// block_attention autograd, in C++ like margin_ranking_loss's (one device-independent Autograd
// kernel for the CPU and CUDA ops): saves q, k, v, out, lse and the groups; the backward calls
// the private `_block_attention_backward` op, which recomputes the probabilities from lse.
// Double backward is not implemented: the private op's Autograd kernel says so if reached.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd_not_implemented_fallback.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include <tuple>

namespace pyiqa_fast::binding {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class BlockAttentionFunction : public torch::autograd::Function<BlockAttentionFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               const at::Tensor& q_groups, const at::Tensor& k_groups, double scale) {
    static const auto op = c10::Dispatcher::singleton()
                               .findSchemaOrThrow("pyiqa_fast::block_attention", "")
                               .typed<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                                         const at::Tensor&, const at::Tensor&,
                                                                         const at::Tensor&, double)>();
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [out, lse] = op.call(q, k, v, q_groups, k_groups, scale);
    ctx->save_for_backward({q, k, v, out, lse, q_groups, k_groups});
    ctx->saved_data["scale"] = scale;
    ctx->mark_non_differentiable({lse});
    return {out, lse};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    static const auto op =
        c10::Dispatcher::singleton()
            .findSchemaOrThrow("pyiqa_fast::_block_attention_backward", "")
            .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
                const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                const at::Tensor&, const at::Tensor&, const at::Tensor&, double)>();
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& out = saved[3];
    const at::Tensor grad_out = grad_outputs[0].defined() ? grad_outputs[0] : at::zeros_like(out);
    auto [grad_q, grad_k, grad_v] =
        op.call(grad_out, saved[0], saved[1], saved[2], out, saved[4], saved[5], saved[6],
                ctx->saved_data["scale"].toDouble());
    return {grad_q, grad_k, grad_v, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

std::tuple<at::Tensor, at::Tensor> block_attention_autograd(const at::Tensor& q, const at::Tensor& k,
                                                            const at::Tensor& v, const at::Tensor& q_groups,
                                                            const at::Tensor& k_groups, double scale) {
  auto outputs = BlockAttentionFunction::apply(q, k, v, q_groups, k_groups, scale);
  return {outputs[0], outputs[1]};
}

}  // namespace

TORCH_LIBRARY_IMPL(pyiqa_fast, Autograd, m) {
  m.impl("block_attention", &block_attention_autograd);
  m.impl("_block_attention_backward", torch::autograd::autogradNotImplementedFallback());
}

}  // namespace pyiqa_fast::binding
