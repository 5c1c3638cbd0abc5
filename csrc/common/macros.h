// Host/device qualifiers and small helpers shared by every kernel. Torch-free.
#pragma once

#if defined(__CUDACC__)
#define PYIQA_FAST_HOST_DEVICE __host__ __device__
#define PYIQA_FAST_DEVICE __device__
#define PYIQA_FAST_INLINE __forceinline__
#else
#define PYIQA_FAST_HOST_DEVICE
#define PYIQA_FAST_DEVICE
#define PYIQA_FAST_INLINE inline
#endif

#define PYIQA_FAST_RESTRICT __restrict__

// The forward declaration CUDA itself uses, so launcher headers stay includable without the
// CUDA toolkit (the CPU-only build and the host compiler of the bindings).
typedef struct CUstream_st* cudaStream_t;

namespace pyiqa_fast {

// Element types a launcher can be asked to run on; the binding maps torch dtypes onto these.
enum class DType { kFloat16, kBFloat16, kFloat32, kFloat64 };

}  // namespace pyiqa_fast
