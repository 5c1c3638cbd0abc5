// distort, CPU: the codec operators (DISTORTIONS.md §6).
#include "kernels/distort/distort.h"

namespace pyiqa_fast::distort {

template <typename T>
OpFn<T> codec_operator(int32_t type) {
  switch (type) {
    default: return nullptr;
  }
}

template OpFn<float> codec_operator<float>(int32_t);
template OpFn<double> codec_operator<double>(int32_t);

}  // namespace pyiqa_fast::distort
