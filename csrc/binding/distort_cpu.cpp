// distort on CPU tensors: checks, conversion to contiguous planar float (double for float64),
// at::parallel_for over samples (or over rows inside each operator when the batch is smaller
// than the thread pool), conversion back (uint8: round half up, ⌊255·y + 0.5⌋).
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <atomic>
#include <string>

#include "binding/common.h"
#include "kernels/distort/distort.h"

namespace pyiqa_fast::binding {
namespace {

constexpr const char* kOp = "distort";

void check_table(const char* name, const at::Tensor& t, at::ScalarType dtype, at::IntArrayRef shape) {
  TORCH_CHECK(t.scalar_type() == dtype, kOp, ": ", name, " must be ", dtype, ", got ", t.scalar_type());
  TORCH_CHECK(t.sizes() == shape, kOp, ": ", name, " must have shape ", shape, ", got ", t.sizes());
  TORCH_CHECK(t.device().is_cpu(), kOp, ": ", name, " must be on the CPU, got ", t.device());
}

void row_parallel(int64_t n, void* ctx, void (*body)(void*, int64_t, int64_t)) {
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) { body(ctx, begin, end); });
}

template <typename T>
void run(const at::Tensor& x, at::Tensor& y, const distort::SampleTable& base, const at::Tensor& types,
         const at::Tensor& values, const at::Tensor& seeds, const at::Tensor& aux) {
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3), plane = 3 * H * W;
  const int64_t per_sample = base.n_blocks * base.n_slots;
  const bool by_sample = B >= at::get_num_threads();
  std::atomic<int> status{static_cast<int>(Status::kOk)};
  std::atomic<int64_t> failed{-1};  // a sample whose kernel returned an error
  auto body = [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      distort::SampleTable t = base;
      t.types = types.data_ptr<int32_t>() + b * per_sample;
      t.values = values.data_ptr<double>() + b * per_sample;
      t.seeds = seeds.data_ptr<int64_t>() + b * per_sample;
      t.aux = aux.data_ptr<double>() + b * per_sample * distort::kAuxSize;
      t.parallel = by_sample ? nullptr : &row_parallel;
      const Status s = distort::distort_sample_cpu<T>(t, x.data_ptr<T>() + b * plane, y.data_ptr<T>() + b * plane,
                                                      H, W);
      if (s != Status::kOk) {
        status = static_cast<int>(s);
        failed = b;
      }
    }
  };
  if (by_sample) {
    // Samples cost from 0.05 to 25 ms (a mixed table): threads take the next sample from a shared
    // counter instead of a fixed contiguous share, so no thread idles while another finishes.
    std::atomic<int64_t> next{0};
    at::parallel_for(0, at::get_num_threads(), 1, [&](int64_t, int64_t) {
      for (int64_t b = next++; b < B; b = next++) body(b, b + 1);
    });
  } else {
    body(0, B);
  }
  const auto s = static_cast<Status>(status.load());
  TORCH_CHECK(s != Status::kUnsupportedDType, kOp,
              ": the cpu backend has no kernel for a (type, preset) pair in params (use backend='reference')");
  TORCH_CHECK(s == Status::kOk, kOp, ": the kernel of sample ", failed.load(), " failed (", status_string(s),
              "): a block below an operator's minimum region? (the Python API checks regions first)");
}

at::Tensor distort_cpu(const at::Tensor& x, const at::Tensor& types, const at::Tensor& values,
                       const at::Tensor& seeds, const at::Tensor& aux, int64_t rows, int64_t cols, int64_t preset,
                       bool crop, bool compat) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == 3, kOp, ": x must have shape (B, 3, H, W), got ", x.sizes());
  TORCH_CHECK(x.device().is_cpu(), kOp, ": the CPU kernel got x on ", x.device());
  const auto dtype = x.scalar_type();
  TORCH_CHECK(dtype == at::kByte || dtype == at::kHalf || dtype == at::kBFloat16 || dtype == at::kFloat ||
                  dtype == at::kDouble,
              kOp, ": x must be uint8, float16, bfloat16, float32 or float64, got ", dtype);
  TORCH_CHECK(types.dim() == 3, kOp, ": types must have shape (B, K, S), got ", types.sizes());
  const int64_t B = x.size(0), K = types.size(1), S = types.size(2);
  check_table("types", types, at::kInt, {B, K, S});
  check_table("values", values, at::kDouble, {B, K, S});
  check_table("seeds", seeds, at::kLong, {B, K, S});
  check_table("aux", aux, at::kDouble, {B, K, S, distort::kAuxSize});
  TORCH_CHECK(rows >= 1 && cols >= 1 && rows * cols == K, kOp, ": rows × cols must equal K = ", K, ", got ", rows,
              " × ", cols);
  TORCH_CHECK(preset >= 0 && preset <= 2, kOp, ": preset must be 0 (reiqa), 1 (kadis) or 2 (arniqa), got ", preset);
  const at::Tensor types_c = types.contiguous(), values_c = values.contiguous(), seeds_c = seeds.contiguous(),
                   aux_c = aux.contiguous();
  // The Python layer validates records first (validate_params names the entry); a direct call of
  // the op gets the same table's check here, so no kernel sees a value it could overrun with.
  const int64_t bad = distort::first_invalid_slot(types_c.data_ptr<int32_t>(), values_c.data_ptr<double>(),
                                                  aux_c.data_ptr<double>(), types_c.numel());
  if (bad >= 0) {
    const int32_t type = types_c.data_ptr<int32_t>()[bad];
    TORCH_CHECK(type >= -1 && type < distort::kNumTypes, kOp, ": types[", bad / (K * S), ", ", bad / S % K, ", ",
                bad % S, "] = ", type, " is not a type id (expected -1 or [0, ", distort::kNumTypes - 1, "])");
    TORCH_CHECK(false, kOp, ": the record's slot [", bad / (K * S), ", ", bad / S % K, ", ", bad % S, "] (type ",
                type, ", value ", values_c.data_ptr<double>()[bad],
                ") holds a value or per-call uniform outside its type's range (validate_params names it)");
  }

  const bool is_double = dtype == at::kDouble;
  // Read-only: a float32/float64 contiguous input is used in place, never written.
  // Kernels read planar (B, 3, H, W) rows: every layout (channels-last, transposed, expanded) is
  // made contiguous first; `to` keeps the input's strides, so the uint8 path needs it too.
  const at::Tensor xf = dtype == at::kByte ? x.contiguous().to(at::kFloat).div_(255.0f)
                                           : x.to(is_double ? at::kDouble : at::kFloat).contiguous();
  at::Tensor yf = at::empty_like(xf, xf.options().memory_format(at::MemoryFormat::Contiguous));
  if (yf.numel() != 0) {
    distort::SampleTable base{nullptr, nullptr, nullptr, nullptr, K, S, rows, cols,
                              static_cast<distort::Preset>(preset), crop, compat, nullptr};
    if (is_double) {
      run<double>(xf, yf, base, types_c, values_c, seeds_c, aux_c);
    } else {
      run<float>(xf, yf, base, types_c, values_c, seeds_c, aux_c);
    }
  }
  if (dtype == at::kByte) return yf.mul_(255.0f).add_(0.5f).floor_().clamp_(0, 255).to(at::kByte);
  return yf.scalar_type() == dtype ? yf : yf.to(dtype);
}

}  // namespace

TORCH_LIBRARY_IMPL(pyiqa_fast, CPU, m) { m.impl("distort", &distort_cpu); }

}  // namespace pyiqa_fast::binding
