// distort on the CPU: the per-sample dispatcher. Chains the slots of each block, clips after
// every operator and assembles the blocks (composite or crop semantics, distort.h). The
// operators live in one file per cost class (DISTORTIONS.md §6).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/distort/distort.h"

namespace pyiqa_fast::distort {
namespace {

template <typename T>
void clip_region(T* img, int64_t h, int64_t w, const Rect& r) {
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t y = r.y0; y < r.y1; ++y) {
      T* row = img + (c * h + y) * w;
      for (int64_t x = r.x0; x < r.x1; ++x) {
        const T v = row[x];
        row[x] = v < T(0) ? T(0) : (v > T(1) ? T(1) : v);  // NaN passes through
      }
    }
  }
}

// Copies rect `from` of a (3, sh, sw) image into rect `to` (same size) of a (3, dh, dw) image.
template <typename T>
void copy_rect(const T* src, int64_t sh, int64_t sw, const Rect& from, T* dst, int64_t dh, int64_t dw,
               const Rect& to) {
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t y = 0; y < from.height(); ++y) {
      std::memcpy(dst + (c * dh + to.y0 + y) * dw + to.x0, src + (c * sh + from.y0 + y) * sw + from.x0,
                  sizeof(T) * static_cast<size_t>(from.width()));
    }
  }
}

// Applies the non-empty slots of block k in order to `image` (3, h, w); returns the buffer
// holding the result (image itself if the block has no distortion).
template <typename T>
Status run_chain(const SampleTable& t, int64_t k, const T* image, int64_t h, int64_t w, const Rect& region,
                 const Rect& last_out, int64_t rng_y0, int64_t rng_x0, std::vector<T>& ping, std::vector<T>& pong,
                 T* last_dst, const T** result) {
  const T* cur = image;
  int64_t last = -1;
  for (int64_t s = 0; s < t.n_slots; ++s) {
    if (t.types[k * t.n_slots + s] >= 0) last = s;
  }
  const Rect full{0, h, 0, w};
  for (int64_t s = 0; s <= last; ++s) {
    const int64_t slot = k * t.n_slots + s;
    const int32_t type = t.types[slot];
    if (type < 0) continue;
    OpFn<T> op = cpu_operator<T>(type);
    if (op == nullptr) return Status::kUnsupportedDType;
    T* dst = (s == last && last_dst != nullptr) ? last_dst : (cur == ping.data()) ? pong.data() : ping.data();
    OpArgs<T> a{cur, dst, h, w, region, s == last ? last_out : full, rng_y0, rng_x0, t.values[slot], t.preset,
                t.compat, static_cast<uint64_t>(t.seeds[slot]), t.aux + slot * kAuxSize, t.parallel};
    const Status status = op(a);
    if (status != Status::kOk) return status;
    clip_region(dst, h, w, a.out_region);
    cur = dst;
  }
  *result = cur;
  return Status::kOk;
}

}  // namespace

int64_t first_invalid_slot(const int32_t* types, const double* values, const double* aux, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const int32_t type = types[i];
    if (type == -1) continue;
    if (type < 0 || type >= kNumTypes) return i;
    const ValueDomain& d = kValueDomains[type];
    const double v = values[i];
    // Written so that NaN fails every comparison.
    if (!(std::isfinite(v) && v <= d.hi && (d.lo_open ? v > d.lo : v >= d.lo))) return i;
    if (d.integer && v != std::floor(v)) return i;
    for (int64_t j = 0; j < kAuxSize; ++j) {
      const double u = aux[i * kAuxSize + j];
      if (!(u >= 0.0 && u < 1.0)) return i;
    }
  }
  return -1;
}

template <typename T>
OpFn<T> cpu_operator(int32_t type) {
  if (type < 0 || type >= kNumTypes) return nullptr;
  for (OpFn<T> (*table)(int32_t) : {pointwise_operator<T>, stencil_operator<T>, resample_operator<T>,
                                    codec_operator<T>}) {
    if (OpFn<T> op = table(type)) return op;
  }
  return nullptr;
}

template <typename T>
Status distort_sample_cpu(const SampleTable& t, const T* in, T* out, int64_t H, int64_t W) {
  const int64_t plane = 3 * H * W;
  std::vector<T> ping, pong, block;
  for (int64_t k = 0; k < t.n_blocks; ++k) {
    const int64_t i = k / t.cols, j = k % t.cols;
    const Rect r{i * H / t.rows, (i + 1) * H / t.rows, j * W / t.cols, (j + 1) * W / t.cols};
    if (r.height() == 0 || r.width() == 0) continue;
    const T* result = nullptr;
    if (!t.crop) {  // composite: whole image in, the block's pixels out
      ping.resize(plane);
      pong.resize(plane);
      // One block: the last operator writes the output directly (it may write past its block).
      T* last_dst = t.n_blocks == 1 ? out : nullptr;
      const Status s = run_chain<T>(t, k, in, H, W, r, r, 0, 0, ping, pong, last_dst, &result);
      if (s != Status::kOk) return s;
      if (result != out) copy_rect(result, H, W, r, out, H, W, r);
    } else {  // crop: the block alone, RNG keyed by image coordinates
      const int64_t h = r.height(), w = r.width();
      const Rect full{0, h, 0, w};
      block.resize(3 * h * w);
      ping.resize(3 * h * w);
      pong.resize(3 * h * w);
      copy_rect(in, H, W, r, block.data(), h, w, full);
      const Status s = run_chain<T>(t, k, block.data(), h, w, full, full, r.y0, r.x0, ping, pong, nullptr, &result);
      if (s != Status::kOk) return s;
      copy_rect(result, h, w, full, out, H, W, r);
    }
  }
  return Status::kOk;
}

template OpFn<float> cpu_operator<float>(int32_t);
template OpFn<double> cpu_operator<double>(int32_t);
template Status distort_sample_cpu<float>(const SampleTable&, const float*, float*, int64_t, int64_t);
template Status distort_sample_cpu<double>(const SampleTable&, const double*, double*, int64_t, int64_t);

}  // namespace pyiqa_fast::distort
