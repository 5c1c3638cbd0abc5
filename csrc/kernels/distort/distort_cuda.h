// distort on CUDA: one launch group of the shared GPU schedule (pyiqa_fast/ops/distort/impl/
// schedule.py) — every entry of one type at one step of a mixed table, whatever its sample, block,
// level and key. Torch-free (the binding and the host emulator test both call it).
//
// An entry reads the (3, H, W) image at src + entries[kSrc] (channel stride kSrcC, row stride
// kSrcY, x stride 1) and writes exactly its out-region [kOy0, kOy1) × [kOx0, kOx1) of
// dst + entries[kDst] (strides kDstC, kDstY), clipped to [0, 1] (NaN passes). Entries of one
// launch may share a destination image, never a destination pixel; src and dst never overlap.
#pragma once
#include <cstddef>
#include <cstdint>

#include "common/macros.h"
#include "common/status.h"

namespace pyiqa_fast::distort {

// Entry fields (int64), in the order of schedule.py.
enum EntryField : int {
  kSrc = 0, kSrcC, kSrcY, kDst, kDstC, kDstY, kH, kW, kRy0, kRy1, kRx0, kRx1, kOy0, kOy1, kOx0, kOx1,
  kRngY0, kRngX0, kSeed, kNumFields,
};

struct GroupArgs {
  const void* src;         // float, or double when is_double
  void* dst;
  bool is_double;
  const int64_t* entries;  // (n, kNumFields), device
  const double* values;    // (n), device: the level's value
  const double* aux;       // (n, 400), device: per-call uniforms
  const double* ftable;    // (n, f_stride), device: per-entry host-built taps/weights (layout per
  const int64_t* itable;   // (n, i_stride)          type, see the class file); null when empty
  int64_t f_stride, i_stride;
  int64_t n;
  int32_t type;            // registry id (distort.h Type)
  int32_t preset;          // distort.h Preset
  int64_t max_h, max_w;          // the largest image an entry sees
  int64_t max_out_h, max_out_w;  // the largest out-region
  void* workspace;         // distort_cuda_workspace_bytes(args) bytes of device memory (may be null if 0)
};

// Types with a CUDA kernel in this build.
bool cuda_has_type(int32_t type);
// Device scratch one launch of `args` needs (0 for single-pass types).
size_t distort_cuda_workspace_bytes(const GroupArgs& args);
// Launches the group on `stream`; never synchronises.
Status launch_distort_cuda(const GroupArgs& args, cudaStream_t stream);
// The CUDA error string of the last failed launch on this thread.
const char* distort_cuda_error();

// One table per cost-class file (distort_<class>_cuda.cu): handles(type), workspace, launch.
struct CudaClass {
  bool (*handles)(int32_t type);
  size_t (*workspace_bytes)(const GroupArgs&);
  Status (*launch)(const GroupArgs&, cudaStream_t);
};
extern const CudaClass kPointwiseCuda;  // distort_pointwise_cuda.cu
extern const CudaClass kStencilCuda;    // distort_stencil_cuda.cu
extern const CudaClass kResampleCuda;   // distort_resample_cuda.cu
extern const CudaClass kCodecCuda;      // distort_codec_cuda.cu
extern const CudaClass kStatisticsCuda; // distort_statistics_cuda.cu (global per-image statistics)

}  // namespace pyiqa_fast::distort
