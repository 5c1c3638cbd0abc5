// distort on CUDA tensors: one launch group of the shared GPU schedule (schedule.py), as the
// private op _distort_cuda_group. Checks, device guard, workspace, current stream. Host-compiled:
// includes only c10/cuda headers, never the kernels' sources.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "kernels/distort/distort.h"
#include "kernels/distort/distort_cuda.h"

namespace pyiqa_fast::binding {
namespace {

constexpr const char* kOp = "_distort_cuda_group";

void check_table(const at::Tensor& t, const char* name, at::ScalarType dtype, const at::Tensor& src, int64_t rows) {
  TORCH_CHECK(t.scalar_type() == dtype, kOp, ": ", name, " must be ", dtype, ", got ", t.scalar_type());
  TORCH_CHECK(t.numel() == 0 || (t.device() == src.device() && t.is_contiguous()), kOp, ": ", name,
              " must be contiguous on ", src.device(), ", got ", t.device(), t.is_contiguous() ? "" : " (strided)");
  TORCH_CHECK(t.numel() == 0 || t.size(0) == rows, kOp, ": ", name, " must have ", rows, " rows, got ", t.size(0));
}

void distort_cuda_group(const at::Tensor& src, const at::Tensor& dst, const at::Tensor& entries,
                        const at::Tensor& values, const at::Tensor& aux, const at::Tensor& ftable,
                        const at::Tensor& itable, int64_t type, int64_t preset, at::IntArrayRef maxima) {
  TORCH_CHECK(src.is_cuda() && dst.device() == src.device(), kOp, ": src and dst must be on one CUDA device, got ",
              src.device(), " and ", dst.device());
  TORCH_CHECK(src.scalar_type() == dst.scalar_type() &&
              (src.scalar_type() == at::kFloat || src.scalar_type() == at::kDouble),
              kOp, ": src and dst must both be float32 or float64, got ", src.scalar_type(), " and ", dst.scalar_type());
  TORCH_CHECK(src.is_contiguous() && dst.is_contiguous(), kOp, ": src and dst must be contiguous flat buffers");
  TORCH_CHECK(entries.dim() == 2 && entries.size(1) == distort::kNumFields, kOp, ": entries must be (N, ",
              static_cast<int>(distort::kNumFields), "), got ", entries.sizes());
  const int64_t n = entries.size(0);
  check_table(entries, "entries", at::kLong, src, n);
  check_table(values, "values", at::kDouble, src, n);
  check_table(aux, "aux", at::kDouble, src, n);
  check_table(ftable, "ftable", at::kDouble, src, n);
  check_table(itable, "itable", at::kLong, src, n);
  TORCH_CHECK(maxima.size() == 4, kOp, ": maxima must be (max_h, max_w, max_out_h, max_out_w), got ", maxima);
  TORCH_CHECK(distort::cuda_has_type(static_cast<int32_t>(type)), kOp, ": no CUDA kernel for type ", type);
  if (n == 0) return;
  const c10::cuda::CUDAGuard guard(src.device());
  distort::GroupArgs a{};
  a.src = src.data_ptr();
  a.dst = dst.data_ptr();
  a.is_double = src.scalar_type() == at::kDouble;
  a.entries = entries.data_ptr<int64_t>();
  a.values = values.data_ptr<double>();
  a.aux = aux.data_ptr<double>();
  a.ftable = ftable.numel() ? ftable.data_ptr<double>() : nullptr;
  a.itable = itable.numel() ? itable.data_ptr<int64_t>() : nullptr;
  a.f_stride = ftable.numel() ? ftable.size(1) : 0;
  a.i_stride = itable.numel() ? itable.size(1) : 0;
  a.n = n;
  a.type = static_cast<int32_t>(type);
  a.preset = static_cast<int32_t>(preset);
  a.max_h = maxima[0];
  a.max_w = maxima[1];
  a.max_out_h = maxima[2];
  a.max_out_w = maxima[3];
  const size_t bytes = distort::distort_cuda_workspace_bytes(a);
  at::Tensor workspace;
  if (bytes > 0) {
    workspace = at::empty({static_cast<int64_t>(bytes)}, src.options().dtype(at::kByte));
    a.workspace = workspace.data_ptr();
  }
  const Status status =
      distort::launch_distort_cuda(a, c10::cuda::getCurrentCUDAStream(src.device().index()).stream());
  TORCH_CHECK(status == Status::kOk, kOp, ": kernel for type ", type, " failed: ", status_string(status), " (",
              distort::distort_cuda_error(), ")");
}

}  // namespace

TORCH_LIBRARY_IMPL(pyiqa_fast, CUDA, m) { m.impl("_distort_cuda_group", &distort_cuda_group); }

}  // namespace pyiqa_fast::binding
