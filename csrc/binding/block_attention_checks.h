// Argument checks of block_attention shared by its CPU and CUDA bindings, and the one form the
// kernels take group ids in.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "binding/common.h"

namespace pyiqa_fast::binding {

inline void check_block_attention_groups(const char* op, const char* name, const at::Tensor& groups,
                                         const at::Tensor& q, int64_t length) {
  TORCH_CHECK(!at::isFloatingType(groups.scalar_type()) && !at::isComplexType(groups.scalar_type()) &&
                  groups.scalar_type() != at::kBool,
              op, ": ", name, " must be an integer tensor of group ids, got ", groups.scalar_type());
  TORCH_CHECK(groups.dim() == 1 || groups.dim() == 2, op, ": ", name,
              " must have shape (N,) or (B, N), got shape ", groups.sizes());
  TORCH_CHECK(groups.size(-1) == length, op, ": ", name, " must have ", length,
              " entries per row (the token count), got shape ", groups.sizes());
  TORCH_CHECK(groups.dim() == 1 || groups.size(0) == q.size(0), op, ": ", name, " of shape (B, N) must have B = ",
              q.size(0), " rows, got shape ", groups.sizes());
  check_same_device(op, "q", q, name, groups);
}

// q (B, H, Nq, d), k and v (B, H, Nk, d) of one floating dtype and device; group ids per token.
inline void check_block_attention_args(const char* op, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                       const at::Tensor& q_groups, const at::Tensor& k_groups, double scale) {
  check_dim(op, "q", q, 4);
  check_dim(op, "k", k, 4);
  check_dim(op, "v", v, 4);
  check_floating(op, "q", q);
  check_same_dtype(op, "q", q, "k", k);
  check_same_dtype(op, "q", q, "v", v);
  check_same_device(op, "q", q, "k", k);
  check_same_device(op, "q", q, "v", v);
  TORCH_CHECK(k.size(0) == q.size(0) && k.size(1) == q.size(1) && k.size(3) == q.size(3), op,
              ": k must have q's batch, heads and head_dim (", q.size(0), ", ", q.size(1), ", ", q.size(3),
              "), got shape ", k.sizes());
  TORCH_CHECK(v.sizes() == k.sizes(), op, ": v must have the shape of k (", k.sizes(), "), got ", v.sizes());
  TORCH_CHECK(q.size(3) >= 1, op, ": head_dim (q.size(3)) must be >= 1, got ", q.size(3));
  check_block_attention_groups(op, "q_groups", q_groups, q, q.size(2));
  check_block_attention_groups(op, "k_groups", k_groups, q, k.size(2));
  TORCH_CHECK(std::isfinite(scale), op, ": scale must be finite, got ", scale);
}

// The backward's extra inputs: grad_out and out shaped like q, lse (B, H, Nq).
inline void check_block_attention_backward_args(const char* op, const at::Tensor& grad_out, const at::Tensor& q,
                                                const at::Tensor& out, const at::Tensor& lse) {
  TORCH_CHECK(grad_out.sizes() == q.sizes(), op, ": grad_out must have the shape of q (", q.sizes(), "), got ",
              grad_out.sizes());
  TORCH_CHECK(out.sizes() == q.sizes(), op, ": out must have the shape of q (", q.sizes(), "), got ", out.sizes());
  TORCH_CHECK(lse.dim() == 3 && lse.size(0) == q.size(0) && lse.size(1) == q.size(1) && lse.size(2) == q.size(2), op,
              ": lse must have shape (B, H, Nq) = (", q.size(0), ", ", q.size(1), ", ", q.size(2), "), got ",
              lse.sizes());
  for (const at::Tensor* t : {&grad_out, &out, &lse}) {
    TORCH_CHECK(at::isFloatingType(t->scalar_type()), op, ": grad_out, out and lse must be floating point, got ",
                t->scalar_type());
    check_same_device(op, "q", q, "grad_out/out/lse", *t);
  }
}

// Group ids as the kernels read them: int32, (1 or B, N) contiguous. Ids are compared only for
// equality and sign, so every negative id becomes -1 (global) and wider ids above int32's range are
// refused, never truncated (0 and 2^32 would become one group): exactly on the CPU, on the device
// without a host synchronisation (an asynchronous assert).
inline at::Tensor block_attention_groups_int32(const at::Tensor& groups, const char* op = "block_attention",
                                               const char* name = "group ids") {
  const at::Tensor rows = groups.dim() == 1 ? groups.unsqueeze(0) : groups;
  const at::ScalarType t = groups.scalar_type();
  if (groups.numel() == 0 || !(t == at::kLong || t == at::kUInt32 || t == at::kUInt64)) {
    return rows.to(at::kInt).contiguous();
  }
  const at::Tensor too_big = rows.gt(std::numeric_limits<int32_t>::max());
  if (groups.device().is_cpu()) {
    const at::Tensor bad = too_big.flatten().nonzero();
    if (bad.size(0) > 0) {
      const int64_t i = bad[0].item<int64_t>(), n = rows.size(1);
      TORCH_CHECK_VALUE(false, op, ": ", name, " must be ids below 2^31 (the kernels compare int32 ids), got ",
                        rows.flatten()[i].item<int64_t>(), " at [", i / n, ", ", i % n, "]");
    }
  } else {
    at::_assert_async(too_big.any().logical_not(), std::string(op) + ": " + name + " must be ids below 2^31");
  }
  return rows.clamp_min(-1).to(at::kInt).contiguous();
}

}  // namespace pyiqa_fast::binding
