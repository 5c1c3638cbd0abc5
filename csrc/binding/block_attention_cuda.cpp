// block_attention and _block_attention_backward on CUDA tensors: checks, the sorted-order group
// layout (ATen ops on the device, no host sync), device guard, current stream, launcher calls.
// Host-compiled: includes only c10/cuda and ATen headers, never the CUDA kernels' sources.
//
// Stride policy: q, k, v and grad_out are read in place with any (sample, head, token) strides as
// long as the feature dimension is contiguous (otherwise one contiguous copy); out and lse are
// read contiguous (the forward's own outputs already are). Outputs are contiguous.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <limits>
#include <tuple>

#include "binding/block_attention_checks.h"
#include "kernels/block_attention/block_attention.h"

namespace pyiqa_fast::binding {
namespace {

namespace ba = pyiqa_fast::block_attention;

constexpr const char* kFwd = "block_attention";
constexpr const char* kBwd = "_block_attention_backward";

void check_cuda_args(const char* op, const at::Tensor& q) {
  TORCH_CHECK(q.is_cuda(), op, ": the CUDA kernel got q on ", q.device());
  TORCH_CHECK(ba::cuda_supports_head_dim(q.size(3)), op,
              ": the CUDA kernel supports head_dim 32, 64 or 128, got head_dim = ", q.size(3));
  TORCH_CHECK(q.size(2) <= ba::kCudaMaxLen, op, ": the CUDA kernel supports at most ", ba::kCudaMaxLen,
              " query tokens, got ", q.size(2));
}

void check_cuda_key_len(const char* op, const at::Tensor& k) {
  TORCH_CHECK(k.size(2) <= ba::kCudaMaxLen, op, ": the CUDA kernel supports at most ", ba::kCudaMaxLen,
              " key tokens, got ", k.size(2));
}

at::Tensor feature_contiguous(const at::Tensor& t) { return t.stride(3) == 1 ? t : t.contiguous(); }

at::ScalarType accumulate_type(const at::Tensor& q) {
  return q.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

// The kernels' view of a group-id tensor: per layout row, `order` = stable argsort of the ids and
// `sorted` = the ids in that order. Negative ids (global tokens) sort first, each group becomes
// one contiguous run; stability fixes the order inside a group (so the summation order, and the
// result, depends only on the ids). Any negative id counts as global in the kernels, so negative
// ids need no normalisation to −1.
struct Layout {
  at::Tensor order;    // (G, N) int32, G = 1 or B
  at::Tensor sorted;   // (G, N) int32, nondecreasing per row
  int64_t stride = 0;  // between rows; 0 when one row is shared by the batch
};

Layout make_layout(const at::Tensor& groups) {
  const at::Tensor g = block_attention_groups_int32(groups);
  auto [sorted, order] = at::sort(g, /*stable=*/true, /*dim=*/1, /*descending=*/false);
  return {order.to(at::kInt).contiguous(), sorted.contiguous(), g.size(0) == 1 ? 0 : g.size(1)};
}

void set_strides(int64_t (&dst)[3], const at::Tensor& t) {
  for (int i = 0; i < 3; ++i) dst[i] = t.stride(i);
}

// Inputs and layouts of both directions.
ba::CudaParams make_params(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& q_groups,
                           const at::Tensor& k_groups, double scale, Layout* q_layout, Layout* k_layout) {
  *q_layout = make_layout(q_groups);
  // Self-attention passes one tensor for both: sort it once.
  *k_layout = q_groups.is_same(k_groups) ? *q_layout : make_layout(k_groups);
  ba::CudaParams p;
  p.batch = q.size(0);
  p.heads = q.size(1);
  p.q_len = q.size(2);
  p.k_len = k.size(2);
  p.head_dim = q.size(3);
  p.dtype = to_kernel_dtype(q.scalar_type());
  p.q = q.data_ptr();
  set_strides(p.q_stride, q);
  p.k = k.data_ptr();
  set_strides(p.k_stride, k);
  p.v = v.data_ptr();
  set_strides(p.v_stride, v);
  p.q_order = q_layout->order.data_ptr<int32_t>();
  p.q_sorted = q_layout->sorted.data_ptr<int32_t>();
  p.q_layout_stride = q_layout->stride;
  p.k_order = k_layout->order.data_ptr<int32_t>();
  p.k_sorted = k_layout->sorted.data_ptr<int32_t>();
  p.k_layout_stride = k_layout->stride;
  p.scale = scale;
  return p;
}

std::tuple<at::Tensor, at::Tensor> block_attention_cuda(const at::Tensor& q_in, const at::Tensor& k_in,
                                                        const at::Tensor& v_in, const at::Tensor& q_groups,
                                                        const at::Tensor& k_groups, double scale) {
  check_block_attention_args(kFwd, q_in, k_in, v_in, q_groups, k_groups, scale);
  check_cuda_args(kFwd, q_in);
  check_cuda_key_len(kFwd, k_in);
  const c10::cuda::CUDAGuard guard(q_in.device());
  const int64_t B = q_in.size(0), H = q_in.size(1), Nq = q_in.size(2), Nk = k_in.size(2), D = q_in.size(3);
  at::Tensor out = at::empty({B, H, Nq, D}, q_in.options());
  at::Tensor lse = at::empty({B, H, Nq}, q_in.options().dtype(accumulate_type(q_in)));
  if (out.numel() == 0) return {out, lse};
  if (Nk == 0) {  // no key at all: every row is empty
    out.zero_();
    lse.fill_(-std::numeric_limits<double>::infinity());
    return {out, lse};
  }

  const at::Tensor q = feature_contiguous(q_in), k = feature_contiguous(k_in), v = feature_contiguous(v_in);
  Layout q_layout, k_layout;
  ba::CudaParams params = make_params(q, k, v, q_groups, k_groups, scale, &q_layout, &k_layout);
  params.out = out.data_ptr();
  params.lse = lse.data_ptr();
  const Status status =
      ba::launch_block_attention_fwd(params, c10::cuda::getCurrentCUDAStream(q.device().index()).stream());
  TORCH_CHECK(status == Status::kOk, kFwd, ": kernel failed: ", status_string(status), " (",
              ba::block_attention_cuda_error(), ")");
  return {out, lse};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> block_attention_backward_cuda(
    const at::Tensor& grad_out_in, const at::Tensor& q_in, const at::Tensor& k_in, const at::Tensor& v_in,
    const at::Tensor& out_in, const at::Tensor& lse_in, const at::Tensor& q_groups, const at::Tensor& k_groups,
    double scale) {
  check_block_attention_args(kBwd, q_in, k_in, v_in, q_groups, k_groups, scale);
  check_cuda_args(kBwd, q_in);
  check_cuda_key_len(kBwd, k_in);
  TORCH_CHECK(grad_out_in.sizes() == q_in.sizes(), kBwd, ": grad_out must have the shape of q (", q_in.sizes(),
              "), got ", grad_out_in.sizes());
  TORCH_CHECK(out_in.sizes() == q_in.sizes(), kBwd, ": out must have the shape of q (", q_in.sizes(), "), got ",
              out_in.sizes());
  check_same_dtype(kBwd, "q", q_in, "grad_out", grad_out_in);
  check_same_dtype(kBwd, "q", q_in, "out", out_in);
  const at::ScalarType acc = accumulate_type(q_in);
  TORCH_CHECK(lse_in.dim() == 3 && lse_in.size(0) == q_in.size(0) && lse_in.size(1) == q_in.size(1) &&
                  lse_in.size(2) == q_in.size(2),
              kBwd, ": lse must have shape (", q_in.size(0), ", ", q_in.size(1), ", ", q_in.size(2), "), got ",
              lse_in.sizes());
  TORCH_CHECK(lse_in.scalar_type() == acc, kBwd, ": lse must be ", acc, " for ", q_in.scalar_type(),
              " inputs, got ", lse_in.scalar_type());
  check_same_device(kBwd, "q", q_in, "grad_out", grad_out_in);
  check_same_device(kBwd, "q", q_in, "out", out_in);
  check_same_device(kBwd, "q", q_in, "lse", lse_in);
  const c10::cuda::CUDAGuard guard(q_in.device());
  const int64_t B = q_in.size(0), H = q_in.size(1), Nq = q_in.size(2), Nk = k_in.size(2), D = q_in.size(3);
  at::Tensor grad_q = at::empty({B, H, Nq, D}, q_in.options());
  at::Tensor grad_k = at::empty({B, H, Nk, D}, q_in.options());
  at::Tensor grad_v = at::empty({B, H, Nk, D}, q_in.options());
  if (Nq == 0 || Nk == 0) {  // no pair at all (or nothing to write)
    grad_q.zero_();
    grad_k.zero_();
    grad_v.zero_();
    return {grad_q, grad_k, grad_v};
  }
  if (B * H == 0) return {grad_q, grad_k, grad_v};

  const at::Tensor q = feature_contiguous(q_in), k = feature_contiguous(k_in), v = feature_contiguous(v_in);
  const at::Tensor grad_out = feature_contiguous(grad_out_in);
  const at::Tensor out = out_in.contiguous(), lse = lse_in.contiguous();
  at::Tensor delta = at::empty({B, H, Nq}, q_in.options().dtype(acc));
  Layout q_layout, k_layout;
  ba::CudaBwdParams params;
  params.fwd = make_params(q, k, v, q_groups, k_groups, scale, &q_layout, &k_layout);
  params.fwd.out = out.data_ptr();
  params.fwd.lse = lse.data_ptr();
  params.grad_out = grad_out.data_ptr();
  set_strides(params.grad_out_stride, grad_out);
  params.grad_q = grad_q.data_ptr();
  params.grad_k = grad_k.data_ptr();
  params.grad_v = grad_v.data_ptr();
  params.delta = delta.data_ptr();
  const Status status =
      ba::launch_block_attention_bwd(params, c10::cuda::getCurrentCUDAStream(q.device().index()).stream());
  TORCH_CHECK(status == Status::kOk, kBwd, ": kernel failed: ", status_string(status), " (",
              ba::block_attention_cuda_error(), ")");
  return {grad_q, grad_k, grad_v};
}

}  // namespace

TORCH_LIBRARY_IMPL(pyiqa_fast, CUDA, m) {
  m.impl("block_attention", &block_attention_cuda);
  m.impl("_block_attention_backward", &block_attention_backward_cuda);
}

}  // namespace pyiqa_fast::binding
