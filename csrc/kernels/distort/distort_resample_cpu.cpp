// distort, CPU: the resample operators (DISTORTIONS.md §6).
#include "kernels/distort/distort.h"

namespace pyiqa_fast::distort {

template <typename T>
OpFn<T> resample_operator(int32_t type) {
  switch (type) {
    default: return nullptr;
  }
}

template OpFn<float> resample_operator<float>(int32_t);
template OpFn<double> resample_operator<double>(int32_t);

}  // namespace pyiqa_fast::distort
