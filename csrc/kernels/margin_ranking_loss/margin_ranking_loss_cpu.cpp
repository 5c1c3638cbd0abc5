// margin_ranking_loss — CPU kernel.
//
// Algorithm: the merge-sort formulation of PERFORMANCE.md §7. Sort the elements by (target,
// prediction): groups of equal targets become runs sorted by prediction. Merge adjacent runs
// bottom-up; every element of the lower-target run Lo is below every element of the
// higher-target run Hi, so before each merge one two-pointer pass over both (sorted by
// prediction) adds, for each a in Hi, the count C_a and centred-prediction sum S_a of the b in
// Lo with fl(p_a − p_b) ≤ m, and another adds, for each b in Lo, the count D_b of the h in Hi
// with fl(p_h − p_b) ≤ m. Tied targets live in one leaf and are never compared. The
// predicates are the loop's own, monotone in both predictions, so the pointers only move
// forward and kinks are decided exactly. Time O(n log n) (one sort, log₂(groups) levels of
// linear, branch-predictable passes), memory O(n). Counts int64, sums double. Merges of one
// level are independent and run in parallel for large n. Deterministic.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/margin_ranking_loss/margin_ranking_loss.h"

namespace pyiqa_fast::margin_ranking_loss {
namespace {

// Below this the thread-pool hand-off costs more than it saves.
constexpr int64_t kParallelThreshold = 16384;

// (target, prediction, index) of one element; sorted lexicographically.
template <typename T>
struct SortKey {
  T y, p;
  int64_t id;
};

// Order-preserving map of a float onto uint32 (−0 and +0 must be canonicalised first).
inline uint32_t ordered_bits(float value) {
  uint32_t u;
  std::memcpy(&u, &value, sizeof(u));
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// float: LSD radix sort on the 64-bit key (target bits, prediction bits), 8 bits a pass, passes
// where every key has the same byte skipped. Branch-free, so 3–5× faster than std::sort on
// random data. Equal keys keep index order.
inline void sort_by_target_then_prediction(std::vector<SortKey<float>>& keys) {
  const size_t n = keys.size();
  std::vector<uint64_t> key(n), key_tmp(n);
  std::vector<uint32_t> index(n), index_tmp(n);
  for (size_t i = 0; i < n; ++i) {
    // + 0.0f turns −0 into +0, which compare equal and must share a run.
    key[i] = (static_cast<uint64_t>(ordered_bits(keys[i].y + 0.0f)) << 32) | ordered_bits(keys[i].p + 0.0f);
    index[i] = static_cast<uint32_t>(i);
  }
  for (int shift = 0; shift < 64; shift += 8) {
    size_t count[257] = {0};
    for (size_t i = 0; i < n; ++i) ++count[((key[i] >> shift) & 0xff) + 1];
    if (count[((key[0] >> shift) & 0xff) + 1] == n) continue;  // one value: nothing to reorder
    for (int b = 0; b < 256; ++b) count[b + 1] += count[b];
    for (size_t i = 0; i < n; ++i) {
      const size_t dst = count[(key[i] >> shift) & 0xff]++;
      key_tmp[dst] = key[i];
      index_tmp[dst] = index[i];
    }
    key.swap(key_tmp);
    index.swap(index_tmp);
  }
  std::vector<SortKey<float>> sorted(n);
  for (size_t i = 0; i < n; ++i) sorted[i] = keys[index[i]];
  keys.swap(sorted);
}

// double: a comparison sort on the keys themselves (not indices into them).
inline void sort_by_target_then_prediction(std::vector<SortKey<double>>& keys) {
  std::sort(keys.begin(), keys.end(), [](const SortKey<double>& a, const SortKey<double>& b) {
    return a.y < b.y || (a.y == b.y && (a.p < b.p || (a.p == b.p && a.id < b.id)));
  });
}

template <typename T>
struct Runs {
  std::vector<int64_t> id;       // element index, in run order
  std::vector<T> value;          // its prediction
  std::vector<double> centred;   // its prediction minus the mean (limits cancellation in S)
};

// Adds the cross-run contributions of Lo = [begin, mid) and Hi = [mid, end), then merges the two
// runs by prediction into `out` (same positions).
template <typename T>
void merge_runs(const Runs<T>& in, Runs<T>& out, int64_t begin, int64_t mid, int64_t end, T m,
                std::vector<int64_t>& higher_count, std::vector<double>& higher_sum,
                std::vector<int64_t>& lower_count) {
  const T* v = in.value.data();
  // a in Hi is the higher element: partners b in Lo with fl(p_a − p_b) ≤ m form a suffix of Lo
  // that grows as p_a falls. Walking Hi downwards adds each partner's centred value once, so
  // S_a is a plain sum (a total-minus-prefix form cancels catastrophically for wide spreads).
  int64_t k = mid;
  double active_sum = 0.0;  // centred sum of Lo[k, mid)
  for (int64_t a = end - 1; a >= mid; --a) {
    while (k > begin && static_cast<T>(v[a] - v[k - 1]) <= m) active_sum += in.centred[--k];
    higher_count[in.id[a]] += mid - k;
    higher_sum[in.id[a]] += active_sum;
  }
  // b in Lo is the lower element: partners h in Hi with fl(p_h − p_b) ≤ m form a prefix of Hi.
  k = mid;
  for (int64_t b = begin; b < mid; ++b) {
    while (k < end && static_cast<T>(v[k] - v[b]) <= m) ++k;
    lower_count[in.id[b]] += k - mid;
  }
  // Merge without data-dependent branches (a select per element): random predictions would
  // mispredict an if/else about every other step.
  int64_t i = begin, j = mid, o = begin;
  while (i < mid && j < end) {
    const bool take_hi = v[j] < v[i];
    const int64_t src = take_hi ? j : i;
    out.id[o] = in.id[src];
    out.value[o] = v[src];
    out.centred[o] = in.centred[src];
    ++o;
    j += take_hi;
    i += !take_hi;
  }
  const int64_t rest = i < mid ? i : j, rest_end = i < mid ? mid : end;
  std::copy(in.id.begin() + rest, in.id.begin() + rest_end, out.id.begin() + o);
  std::copy(in.value.begin() + rest, in.value.begin() + rest_end, out.value.begin() + o);
  std::copy(in.centred.begin() + rest, in.centred.begin() + rest_end, out.centred.begin() + o);
}

}  // namespace

template <typename T>
double target_std_cpu(const T* target, int64_t stride, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(target[i * stride]);
  const double mean = sum / static_cast<double>(n);
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(target[i * stride]) - mean;
    ss += d * d;
  }
  return std::sqrt(ss / static_cast<double>(n - 1));
}

template <typename T>
Status margin_ranking_loss_fwd_cpu(const CpuParams<T>& p, const ParallelFor& parallel_for) {
  const int64_t n = p.n;
  if (n < 2 || n > 0xffffffffLL || p.pred == nullptr || p.target == nullptr || p.loss == nullptr || p.grad == nullptr) {
    return Status::kInvalidArgument;
  }
  const T m = p.margin;
  const double c = p.mean ? 2.0 / (static_cast<double>(n) * static_cast<double>(n - 1)) : 1.0;

  std::vector<T> pv(n), yv(n);
  bool non_finite = !std::isfinite(m);
  double mean_p = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    pv[i] = p.pred[i * p.pred_stride];
    yv[i] = p.target[i * p.target_stride];
    non_finite |= !std::isfinite(pv[i]) || !std::isfinite(yv[i]);
    mean_p += static_cast<double>(pv[i]);
  }
  if (non_finite) {  // documented policy: NaN loss and gradient, never a silently finite value
    *p.loss = std::numeric_limits<double>::quiet_NaN();
    std::fill(p.grad, p.grad + n, std::numeric_limits<T>::quiet_NaN());
    return Status::kOk;
  }
  mean_p /= static_cast<double>(n);

  // One sort by (target, prediction): groups of ties are runs sorted by prediction.
  std::vector<SortKey<T>> keys(n);
  for (int64_t i = 0; i < n; ++i) keys[i] = {yv[i], pv[i], i};
  sort_by_target_then_prediction(keys);
  Runs<T> runs{std::vector<int64_t>(n), std::vector<T>(n), std::vector<double>(n)};
  std::vector<int64_t> bounds{0};
  double tied_pairs = 0.0;
  for (int64_t k = 0; k < n; ++k) {
    runs.id[k] = keys[k].id;
    runs.value[k] = keys[k].p;
    runs.centred[k] = static_cast<double>(keys[k].p) - mean_p;
    if (k > 0 && keys[k].y != keys[k - 1].y) bounds.push_back(k);
  }
  Runs<T> scratch = runs;
  bounds.push_back(n);
  for (size_t g = 0; g + 1 < bounds.size(); ++g) {
    const double size = static_cast<double>(bounds[g + 1] - bounds[g]);
    tied_pairs += size * (size - 1.0) / 2.0;
  }

  std::vector<int64_t> higher_count(n, 0), lower_count(n, 0);  // C_a, D_a
  std::vector<double> higher_sum(n, 0.0);                       // S_a
  while (bounds.size() > 2) {
    const int64_t pairs = static_cast<int64_t>(bounds.size() - 1) / 2;
    auto merge_pairs = [&](int64_t first, int64_t last) {
      for (int64_t q = first; q < last; ++q) {
        merge_runs(runs, scratch, bounds[2 * q], bounds[2 * q + 1], bounds[2 * q + 2], m, higher_count, higher_sum,
                   lower_count);
      }
    };
    if (n >= kParallelThreshold && pairs > 1 && parallel_for) {
      parallel_for(0, pairs, merge_pairs);
    } else {
      merge_pairs(0, pairs);
    }
    std::vector<int64_t> next;
    for (size_t r = 0; r + 1 < bounds.size(); r += 2) next.push_back(bounds[r]);
    if ((bounds.size() - 1) % 2 == 1) {  // an odd run out is carried to the next level as is
      const int64_t tail = bounds[bounds.size() - 2];
      std::copy(runs.id.begin() + tail, runs.id.end(), scratch.id.begin() + tail);
      std::copy(runs.value.begin() + tail, runs.value.end(), scratch.value.begin() + tail);
      std::copy(runs.centred.begin() + tail, runs.centred.end(), scratch.centred.begin() + tail);
    }
    next.push_back(n);
    bounds.swap(next);
    std::swap(runs, scratch);
  }

  // Each active pair contributes m + p_low − p_high (centred values limit cancellation).
  const double md = static_cast<double>(m);
  double total = 0.0;
  for (int64_t a = 0; a < n; ++a) {
    const double centred = static_cast<double>(pv[a]) - mean_p;
    total += static_cast<double>(higher_count[a]) * (md - centred) + higher_sum[a];
    p.grad[a] = static_cast<T>(c * static_cast<double>(lower_count[a] - higher_count[a]));
  }
  *p.loss = c * (total + md * tied_pairs);
  return Status::kOk;
}

template double target_std_cpu<float>(const float*, int64_t, int64_t);
template double target_std_cpu<double>(const double*, int64_t, int64_t);
template Status margin_ranking_loss_fwd_cpu<float>(const CpuParams<float>&, const ParallelFor&);
template Status margin_ranking_loss_fwd_cpu<double>(const CpuParams<double>&, const ParallelFor&);

}  // namespace pyiqa_fast::margin_ranking_loss
