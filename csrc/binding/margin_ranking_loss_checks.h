// Argument checks of margin_ranking_loss shared by its CPU and CUDA bindings.
#pragma once
#include <cmath>
#include <optional>
#include <string>

#include "binding/common.h"

namespace pyiqa_fast::binding {

inline void check_margin_ranking_loss_args(const at::Tensor& pred, const at::Tensor& target, double margin_scale,
                                           const std::optional<double>& margin, c10::string_view reduction) {
  constexpr const char* op = "margin_ranking_loss";
  check_dim(op, "pred", pred, 1);
  check_dim(op, "target", target, 1);
  check_floating(op, "pred", pred);
  check_same_dtype(op, "pred", pred, "target", target);
  check_same_device(op, "pred", pred, "target", target);
  TORCH_CHECK(target.size(0) == pred.size(0), op, ": target must have the length of pred (", pred.size(0),
              "), got ", target.size(0));
  TORCH_CHECK(pred.size(0) >= 2, op,
              ": the batch size n must be >= 2 (the loss averages over n(n-1)/2 pairs), got n = ", pred.size(0));
  TORCH_CHECK(std::isfinite(margin_scale) && margin_scale >= 0.0, op,
              ": margin_scale must be a finite number >= 0, got ", margin_scale);
  TORCH_CHECK(!margin.has_value() || (std::isfinite(*margin) && *margin >= 0.0), op,
              ": margin must be a finite number >= 0, got ", margin.value_or(0.0));
  TORCH_CHECK(reduction == "mean" || reduction == "sum", op, ": reduction must be 'mean' or 'sum', got '",
              std::string(reduction), "'");
}

}  // namespace pyiqa_fast::binding
