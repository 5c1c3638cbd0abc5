// block_attention on CPU tensors: checks, fp16/bf16 upcast to fp32, at::parallel_for over the
// (sample, head) pairs, each pair a call of the torch-free kernel.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <atomic>
#include <limits>
#include <tuple>

#include "binding/block_attention_checks.h"
#include "kernels/block_attention/block_attention.h"

namespace pyiqa_fast::binding {
namespace {

// The kernel reads the feature dimension contiguously; any other stride is kept.
at::Tensor compute_view(const at::Tensor& x, at::ScalarType compute) {
  at::Tensor y = x.to(compute);
  return y.stride(-1) == 1 ? y : y.contiguous();
}

template <typename T>
block_attention::CpuParams<T> cpu_params(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                         const at::Tensor& q_groups, const at::Tensor& k_groups, double scale) {
  block_attention::CpuParams<T> p;
  p.batch = q.size(0);
  p.heads = q.size(1);
  p.q_len = q.size(2);
  p.k_len = k.size(2);
  p.head_dim = q.size(3);
  p.q = q.data_ptr<T>();
  p.k = k.data_ptr<T>();
  p.v = v.data_ptr<T>();
  for (int i = 0; i < 3; ++i) {
    p.q_stride[i] = q.stride(i);
    p.k_stride[i] = k.stride(i);
    p.v_stride[i] = v.stride(i);
  }
  p.q_groups = q_groups.data_ptr<int32_t>();
  p.q_groups_stride = q_groups.size(0) == 1 ? 0 : q_groups.stride(0);
  p.k_groups = k_groups.data_ptr<int32_t>();
  p.k_groups_stride = k_groups.size(0) == 1 ? 0 : k_groups.stride(0);
  p.scale = static_cast<T>(scale);
  return p;
}

// Runs body(begin, end) -> Status over the pairs on at::parallel_for; the first failure wins.
template <typename Body>
void for_pairs(const char* op, int64_t pairs, const Body& body) {
  std::atomic<int> failure{static_cast<int>(Status::kOk)};
  at::parallel_for(0, pairs, 1, [&](int64_t begin, int64_t end) {
    const Status s = body(begin, end);
    if (s != Status::kOk) failure.store(static_cast<int>(s));
  });
  check_status(op, static_cast<Status>(failure.load()));
}

std::tuple<at::Tensor, at::Tensor> block_attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                       const at::Tensor& q_groups, const at::Tensor& k_groups,
                                                       double scale) {
  constexpr const char* op = "block_attention";
  check_block_attention_args(op, q, k, v, q_groups, k_groups, scale);
  TORCH_CHECK(q.device().is_cpu(), op, ": the CPU kernel got q on ", q.device());
  const at::ScalarType compute = q.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const at::Tensor qc = compute_view(q, compute), kc = compute_view(k, compute), vc = compute_view(v, compute);
  const at::Tensor qg = block_attention_groups_int32(q_groups, op, "q_groups"),
                   kg = block_attention_groups_int32(k_groups, op, "k_groups");
  at::Tensor out = at::empty(q.sizes(), q.options().dtype(compute));
  at::Tensor lse = at::empty({q.size(0), q.size(1), q.size(2)}, q.options().dtype(compute));
  if (k.size(2) == 0) {  // nothing to attend to
    out.zero_();
    lse.fill_(-std::numeric_limits<double>::infinity());
  } else if (out.numel() > 0) {
    AT_DISPATCH_FLOATING_TYPES(compute, "block_attention_cpu", [&] {
      auto params = cpu_params<scalar_t>(qc, kc, vc, qg, kg, scale);
      params.out = out.data_ptr<scalar_t>();
      params.lse = lse.data_ptr<scalar_t>();
      for_pairs(op, params.batch * params.heads, [&](int64_t begin, int64_t end) {
        return block_attention::block_attention_fwd_cpu<scalar_t>(params, begin, end);
      });
    });
  }
  return {out.to(q.scalar_type()), lse};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> block_attention_backward_cpu(
    const at::Tensor& grad_out, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& out,
    const at::Tensor& lse, const at::Tensor& q_groups, const at::Tensor& k_groups, double scale) {
  constexpr const char* op = "_block_attention_backward";
  check_block_attention_args(op, q, k, v, q_groups, k_groups, scale);
  check_block_attention_backward_args(op, grad_out, q, out, lse);
  TORCH_CHECK(q.device().is_cpu(), op, ": the CPU kernel got q on ", q.device());
  const at::ScalarType compute = q.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const at::Tensor qc = compute_view(q, compute), kc = compute_view(k, compute), vc = compute_view(v, compute);
  const at::Tensor gc = compute_view(grad_out, compute);
  const at::Tensor oc = out.to(compute).contiguous(), lc = lse.to(compute).contiguous();
  const at::Tensor qg = block_attention_groups_int32(q_groups, op, "q_groups"),
                   kg = block_attention_groups_int32(k_groups, op, "k_groups");
  at::Tensor grad_q = at::empty(q.sizes(), q.options().dtype(compute));
  at::Tensor grad_k = at::zeros(k.sizes(), k.options().dtype(compute));
  at::Tensor grad_v = at::zeros(v.sizes(), v.options().dtype(compute));
  if (q.numel() > 0 && k.numel() > 0) {
    AT_DISPATCH_FLOATING_TYPES(compute, "block_attention_backward_cpu", [&] {
      block_attention::CpuBwdParams<scalar_t> params;
      params.fwd = cpu_params<scalar_t>(qc, kc, vc, qg, kg, scale);
      params.fwd.out = oc.data_ptr<scalar_t>();
      params.fwd.lse = lc.data_ptr<scalar_t>();
      params.grad_out = gc.data_ptr<scalar_t>();
      for (int i = 0; i < 3; ++i) params.grad_out_stride[i] = gc.stride(i);
      params.grad_q = grad_q.data_ptr<scalar_t>();
      params.grad_k = grad_k.data_ptr<scalar_t>();
      params.grad_v = grad_v.data_ptr<scalar_t>();
      for_pairs(op, params.fwd.batch * params.fwd.heads, [&](int64_t begin, int64_t end) {
        return block_attention::block_attention_bwd_cpu<scalar_t>(params, begin, end);
      });
    });
  } else {
    grad_q.zero_();
  }
  const at::ScalarType dtype = q.scalar_type();
  return {grad_q.to(dtype), grad_k.to(dtype), grad_v.to(dtype)};
}

}  // namespace

TORCH_LIBRARY_IMPL(pyiqa_fast, CPU, m) {
  m.impl("block_attention", &block_attention_cpu);
  m.impl("_block_attention_backward", &block_attention_backward_cpu);
}

}  // namespace pyiqa_fast::binding
