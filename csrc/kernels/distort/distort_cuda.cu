// distort on CUDA: the dispatcher from a launch group's type to its cost-class file
// (DISTORTIONS.md §6). The schedule (which groups, in which order, which buffers) is the shared
// GPU schedule in pyiqa_fast/ops/distort/impl/schedule.py; see distort_cuda.h.
#include <cuda_runtime.h>

#include "kernels/distort/distort_cuda.h"

namespace pyiqa_fast::distort {
namespace {

thread_local const char* g_last_error = "no error";

const CudaClass* class_of(int32_t type) {
  for (const CudaClass* c : {&kPointwiseCuda, &kStencilCuda, &kResampleCuda, &kCodecCuda, &kStatisticsCuda}) {
    if (c->handles(type)) return c;
  }
  return nullptr;
}

}  // namespace

bool cuda_has_type(int32_t type) { return class_of(type) != nullptr; }

size_t distort_cuda_workspace_bytes(const GroupArgs& args) {
  const CudaClass* c = class_of(args.type);
  return c == nullptr ? 0 : c->workspace_bytes(args);
}

Status launch_distort_cuda(const GroupArgs& args, cudaStream_t stream) {
  const CudaClass* c = class_of(args.type);
  if (c == nullptr) return Status::kUnsupportedDType;
  if (args.n == 0) return Status::kOk;
  const Status status = c->launch(args, stream);
  if (status != Status::kOk) {  // refused before any launch: say which limit
    g_last_error = status == Status::kInvalidArgument
                       ? "the group exceeds a launch limit (65535 entries; images below 2^30 px a side, below "
                         "21845 rows for the separable stencils) or has malformed tables"
                       : "no kernel for this type, preset and dtype";
    return status;
  }
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    g_last_error = cudaGetErrorString(err);
    return Status::kLaunchFailed;
  }
  return Status::kOk;
}

const char* distort_cuda_error() { return g_last_error; }

}  // namespace pyiqa_fast::distort
