// C entry points of the distort CUDA kernels compiled for the host emulator (cuda_runtime.h here),
// loaded with ctypes by tests/distortions/cuda_emu.py: the tests run the real kernel sources on
// the CPU through the shared Python schedule. Test tooling only; never part of a build.
#include <vector>

#include "kernels/distort/distort_cuda.h"

using namespace pyiqa_fast::distort;

extern "C" int emu_distort_has_type(int type) { return cuda_has_type(type) ? 1 : 0; }

extern "C" int emu_distort_group(const void* src, void* dst, int is_double, const int64_t* entries,
                                 const double* values, const double* aux, const double* ftable, const int64_t* itable,
                                 int64_t f_stride, int64_t i_stride, int64_t n, int type, int preset, int64_t max_h,
                                 int64_t max_w, int64_t max_out_h, int64_t max_out_w) {
  GroupArgs a{};
  a.src = src;
  a.dst = dst;
  a.is_double = is_double != 0;
  a.entries = entries;
  a.values = values;
  a.aux = aux;
  a.ftable = ftable;
  a.itable = itable;
  a.f_stride = f_stride;
  a.i_stride = i_stride;
  a.n = n;
  a.type = type;
  a.preset = preset;
  a.max_h = max_h;
  a.max_w = max_w;
  a.max_out_h = max_out_h;
  a.max_out_w = max_out_w;
  std::vector<unsigned char> workspace(distort_cuda_workspace_bytes(a) + 1, 0xcd);  // garbage, as cudaMalloc
  a.workspace = workspace.data();
  return static_cast<int>(launch_distort_cuda(a, nullptr));
}
