// distort on CUDA, global per-image statistics class (DISTORTIONS.md §6): colour shift. See
// distort_cuda.h for the group contract.
#include <cuda_runtime.h>

#include "common/cuda_launch.h"
#include "kernels/distort/distort_cuda.h"

namespace pyiqa_fast::distort {
namespace {

bool handles(int32_t) { return false; }
size_t workspace_bytes(const GroupArgs&) { return 0; }
Status launch(const GroupArgs&, cudaStream_t) { return Status::kUnsupportedDType; }

}  // namespace

const CudaClass kStatisticsCuda{handles, workspace_bytes, launch};

}  // namespace pyiqa_fast::distort
