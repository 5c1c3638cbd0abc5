// distort: the 24 SHDIQA distortion types (+ extras) on planar float/double images, driven by a
// per-(sample, block, slot) table (DISTORTIONS.md). Torch-free.
//
// Layout: every operator reads a contiguous planar image src (3, h, w) and writes dst (3, h, w)
// (never in place), at least inside `out_region`; it may write more. The dispatcher
// (distort_cpu.cpp) clips [0, 1] after every operator, chains slots, and assembles blocks in
// the two semantics of DISTORTIONS.md §8.5:
//   composite: src is the whole image, `region` the block; out[R_k] = T_k(x)[R_k];
//   crop:      src is the block cut out alone, `region` all of it; rng_y0/rng_x0 = its origin.
// Per-pixel random fields are keyed by image coordinates (rng origin + local y, x).
#pragma once
#include <cstdint>
#include <type_traits>

#include "common/macros.h"
#include "common/status.h"
#include "kernels/distort/distort_domains.h"

namespace pyiqa_fast::distort {


enum class Preset : int32_t { kReiqa = 0, kKadis = 1, kArniqa = 2 };

enum Type : int32_t {
  kResizeBicubic = 0, kResizeBilinear, kResizeLanczos, kPixelate, kMotionBlur, kGaussianBlur, kLensBlur,
  kMeanShift, kContrast, kUnsharpMask, kJitter, kColorBlock, kNonEccentricity, kJpeg, kWhiteNoise,
  kWhiteNoiseYcbcr, kImpulseNoise, kMultiplicativeNoise, kDenoise, kBrighten, kDarken, kColorDiffuse,
  kColorShift, kSaturate, kSaturateHsv, kResizeNearest, kJpeg2000, kQuantization, kNonlinearContrast,
};

struct Rect {
  int64_t y0, y1, x0, x1;  // half-open
  int64_t height() const { return y1 - y0; }
  int64_t width() const { return x1 - x0; }
};

// Row-level parallelism offered by the caller (the binding passes at::parallel_for when the batch
// is smaller than the thread pool); nullptr = run serially. body(ctx, begin, end).
using ParallelFor = void (*)(int64_t n, void* ctx, void (*body)(void*, int64_t, int64_t));

template <typename T>
struct OpArgs {
  const T* src;            // (3, h, w) contiguous
  T* dst;                  // (3, h, w) contiguous, distinct from src
  int64_t h, w;
  Rect region;             // the block (semantics: positions, statistics domain)
  Rect out_region;         // pixels the operator must write
  int64_t rng_y0, rng_x0;  // image coordinates of src(0, 0)
  double value;            // the level's parameter value (registry.py tables)
  Preset preset;
  bool compat;             // reproduce the reference bugs (DISTORTIONS.md §7)
  uint64_t seed;           // Philox key of this slot
  const double* aux;       // kAuxSize per-call uniforms
  ParallelFor parallel;    // may be nullptr
};

// Runs body(begin, end) over [0, n) through args.parallel (or serially).
template <typename T, typename F>
void parallel_range(const OpArgs<T>& args, int64_t n, F&& body) {
  using Body = std::remove_reference_t<F>;
  if (args.parallel == nullptr || n <= 1) {
    body(int64_t{0}, n);
    return;
  }
  args.parallel(n, const_cast<void*>(static_cast<const void*>(&body)),
                [](void* ctx, int64_t begin, int64_t end) { (*static_cast<Body*>(ctx))(begin, end); });
}

// numpy.gradient at index i of a line of n samples with stride s starting at f: central differences
// inside, one-sided at the two ends, 0 for n < 2 (unsharp_mask's Laplacian, color_shift's edges).
template <typename T>
inline T np_gradient(const T* f, int64_t i, int64_t n, int64_t s) {
  if (n < 2) return T(0);
  if (i == 0) return f[s] - f[0];
  if (i == n - 1) return f[i * s] - f[(i - 1) * s];
  return (f[(i + 1) * s] - f[(i - 1) * s]) / T(2);
}

// One operator per type. Returns kInvalidArgument for an image below the operator's minimum
// size (the Python layer checks first and names the operator) and kUnsupportedDType for a
// (type, preset) pair the CPU kernel does not implement.
template <typename T>
using OpFn = Status (*)(const OpArgs<T>&);

template <typename T>
OpFn<T> cpu_operator(int32_t type);

// The per-type operator tables, one per cost-class file; nullptr = not in that file.
template <typename T> OpFn<T> pointwise_operator(int32_t type);  // distort_pointwise_cpu.cpp
template <typename T> OpFn<T> stencil_operator(int32_t type);    // distort_stencil_cpu.cpp
template <typename T> OpFn<T> resample_operator(int32_t type);   // distort_resample_cpu.cpp
template <typename T> OpFn<T> codec_operator(int32_t type);      // distort_codec_cpu.cpp

struct SampleTable {
  const int32_t* types;   // (K, S)
  const double* values;   // (K, S)
  const int64_t* seeds;   // (K, S)
  const double* aux;      // (K, S, kAuxSize)
  int64_t n_blocks, n_slots, rows, cols;
  Preset preset;
  bool crop;
  bool compat;
  ParallelFor parallel;   // may be nullptr
};

// Index of the first of n slots (types, values, aux: kAuxSize per slot) that is not empty and
// holds an unknown type, a value outside its type's kValueDomains entry or a per-call uniform
// outside [0, 1); -1 if every slot is valid. The Python layer checks the same table first
// (validate_params) and names the entry; this keeps direct calls of the op memory-safe.
int64_t first_invalid_slot(const int32_t* types, const double* values, const double* aux, int64_t n);

// Distorts one sample: in/out (3, H, W) contiguous. Thread-safe; allocates its scratch.
template <typename T>
Status distort_sample_cpu(const SampleTable& table, const T* in, T* out, int64_t H, int64_t W);

}  // namespace pyiqa_fast::distort
