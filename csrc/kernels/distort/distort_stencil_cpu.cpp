// distort, CPU: the stencil operators (DISTORTIONS.md §6).
#include "kernels/distort/distort.h"

namespace pyiqa_fast::distort {

template <typename T>
OpFn<T> stencil_operator(int32_t type) {
  switch (type) {
    default: return nullptr;
  }
}

template OpFn<float> stencil_operator<float>(int32_t);
template OpFn<double> stencil_operator<double>(int32_t);

}  // namespace pyiqa_fast::distort
