// margin_ranking_loss — CPU kernel.
//
// Algorithm (PERFORMANCE.md §7): sort by target into groups of equal targets and by prediction
// into ranks; an ascending sweep over target groups with Fenwick trees of counts and centred
// prediction sums gives, for each element a, C_a and S_a over strictly lower targets; a
// descending sweep with a count tree gives D_a over strictly higher targets. Querying a group
// before inserting it excludes tied pairs. Thresholds come from a binary search over the sorted
// predictions with the loop's own predicate fl(p_high − p_low) ≤ m (monotone, so exact at
// kinks). Time O(n log n), memory O(n). Counts in int64, sums in double; the two sorts and the
// two sweeps are independent and run in parallel for large n. Deterministic.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "kernels/margin_ranking_loss/margin_ranking_loss.h"

namespace pyiqa_fast::margin_ranking_loss {
namespace {

// Below this the thread-pool hand-off costs more than the second sort or sweep.
constexpr int64_t kParallelThreshold = 8192;

template <typename V>
class Fenwick {
 public:
  explicit Fenwick(int64_t n) : tree_(n + 1, V(0)) {}
  void add(int64_t index, V value) {
    for (int64_t i = index + 1; i < static_cast<int64_t>(tree_.size()); i += i & (-i)) tree_[i] += value;
  }
  V prefix(int64_t count) const {  // sum over indices [0, count)
    V s = V(0);
    for (int64_t i = count; i > 0; i -= i & (-i)) s += tree_[i];
    return s;
  }

 private:
  std::vector<V> tree_;
};

void run_two(int64_t n, const ParallelFor& parallel_for, const std::function<void(int64_t)>& task) {
  auto body = [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) task(t);
  };
  if (n >= kParallelThreshold && parallel_for) {
    parallel_for(0, 2, body);
  } else {
    body(0, 2);
  }
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
  if (n < 2 || p.pred == nullptr || p.target == nullptr || p.loss == nullptr || p.grad == nullptr) {
    return Status::kInvalidArgument;
  }
  const T m = p.margin;
  const double c = p.mean ? 2.0 / (static_cast<double>(n) * static_cast<double>(n - 1)) : 1.0;

  std::vector<T> pv(n), yv(n);
  bool has_nan = std::isnan(m);
  double mean_p = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    pv[i] = p.pred[i * p.pred_stride];
    yv[i] = p.target[i * p.target_stride];
    has_nan |= std::isnan(pv[i]) || std::isnan(yv[i]);
    mean_p += static_cast<double>(pv[i]);
  }
  if (has_nan) {
    *p.loss = std::numeric_limits<double>::quiet_NaN();
    std::fill(p.grad, p.grad + n, std::numeric_limits<T>::quiet_NaN());
    return Status::kOk;
  }
  mean_p /= static_cast<double>(n);

  // Stable sorts: by target (groups of ties are contiguous) and by prediction (ranks).
  std::vector<int64_t> by_target(n), by_pred(n);
  std::iota(by_target.begin(), by_target.end(), 0);
  std::iota(by_pred.begin(), by_pred.end(), 0);
  run_two(n, parallel_for, [&](int64_t task) {
    if (task == 0) {
      std::stable_sort(by_target.begin(), by_target.end(), [&](int64_t a, int64_t b) { return yv[a] < yv[b]; });
    } else {
      std::stable_sort(by_pred.begin(), by_pred.end(), [&](int64_t a, int64_t b) { return pv[a] < pv[b]; });
    }
  });
  std::vector<T> sorted_p(n);
  std::vector<int64_t> rank(n);
  for (int64_t k = 0; k < n; ++k) {
    sorted_p[k] = pv[by_pred[k]];
    rank[by_pred[k]] = k;
  }
  std::vector<int64_t> group_start{0};  // boundaries of equal-target runs in by_target
  for (int64_t k = 1; k < n; ++k) {
    if (yv[by_target[k]] != yv[by_target[k - 1]]) group_start.push_back(k);
  }
  group_start.push_back(n);
  const int64_t groups = static_cast<int64_t>(group_start.size()) - 1;

  std::vector<int64_t> higher_count(n), lower_count(n);  // C_a, D_a
  std::vector<double> higher_sum(n);                      // S_a of centred predictions
  run_two(n, parallel_for, [&](int64_t task) {
    if (task == 0) {  // ascending: a is the higher element, partners have strictly lower targets
      Fenwick<int64_t> counts(n);
      Fenwick<double> sums(n);
      int64_t inserted = 0;
      double inserted_sum = 0.0;
      for (int64_t g = 0; g < groups; ++g) {
        for (int64_t k = group_start[g]; k < group_start[g + 1]; ++k) {
          const int64_t a = by_target[k];
          const T pa = pv[a];
          // First rank whose prediction makes the pair active: fl(pa − v) ≤ m, monotone in v.
          const int64_t first = std::partition_point(sorted_p.begin(), sorted_p.end(),
                                                     [&](T v) { return !(static_cast<T>(pa - v) <= m); }) -
                                sorted_p.begin();
          higher_count[a] = inserted - counts.prefix(first);
          higher_sum[a] = inserted_sum - sums.prefix(first);
        }
        for (int64_t k = group_start[g]; k < group_start[g + 1]; ++k) {
          const int64_t a = by_target[k];
          const double centred = static_cast<double>(pv[a]) - mean_p;
          counts.add(rank[a], 1);
          sums.add(rank[a], centred);
          ++inserted;
          inserted_sum += centred;
        }
      }
    } else {  // descending: a is the lower element, partners have strictly higher targets
      Fenwick<int64_t> counts(n);
      for (int64_t g = groups - 1; g >= 0; --g) {
        for (int64_t k = group_start[g]; k < group_start[g + 1]; ++k) {
          const int64_t a = by_target[k];
          const T pa = pv[a];
          // Ranks [0, end) hold the partners with fl(v − pa) ≤ m, monotone in v.
          const int64_t end = std::partition_point(sorted_p.begin(), sorted_p.end(),
                                                   [&](T v) { return static_cast<T>(v - pa) <= m; }) -
                              sorted_p.begin();
          lower_count[a] = counts.prefix(end);
        }
        for (int64_t k = group_start[g]; k < group_start[g + 1]; ++k) counts.add(rank[by_target[k]], 1);
      }
    }
  });

  // Each active pair contributes m + p_low − p_high (centred values limit cancellation).
  const double md = static_cast<double>(m);
  double total = 0.0;
  for (int64_t a = 0; a < n; ++a) {
    const double centred = static_cast<double>(pv[a]) - mean_p;
    total += static_cast<double>(higher_count[a]) * (md - centred) + higher_sum[a];
    p.grad[a] = static_cast<T>(c * static_cast<double>(lower_count[a] - higher_count[a]));
  }
  double tied_pairs = 0.0;
  for (int64_t g = 0; g < groups; ++g) {
    const double size = static_cast<double>(group_start[g + 1] - group_start[g]);
    tied_pairs += size * (size - 1.0) / 2.0;
  }
  *p.loss = c * (total + md * tied_pairs);
  return Status::kOk;
}

template double target_std_cpu<float>(const float*, int64_t, int64_t);
template double target_std_cpu<double>(const double*, int64_t, int64_t);
template Status margin_ranking_loss_fwd_cpu<float>(const CpuParams<float>&, const ParallelFor&);
template Status margin_ranking_loss_fwd_cpu<double>(const CpuParams<double>&, const ParallelFor&);

}  // namespace pyiqa_fast::margin_ranking_loss
