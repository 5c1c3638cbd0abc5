// pyiqa_fast._C: build information only. Importing this module runs the static TORCH_LIBRARY
// registrars of registration.cpp and csrc/binding/*.cpp; no function here takes tensors, so the
// module does not link torch_python.
#include <pybind11/pybind11.h>

#include "kernels/distort/distort.h"
#include "kernels/distort/distort_cuda.h"

namespace py = pybind11;

#ifndef PYIQA_FAST_WITH_CUDA
#define PYIQA_FAST_WITH_CUDA 0
#endif
#ifndef PYIQA_FAST_WITH_OPENMP
#define PYIQA_FAST_WITH_OPENMP 0
#endif

PYBIND11_MODULE(_C, m) {
  m.doc() = "pyiqa_fast compiled kernels (ops are registered under torch.ops.pyiqa_fast)";
  m.def("build_info", [] {
    py::dict info;
    info["version"] = PYIQA_FAST_VERSION;
    info["git_commit"] = PYIQA_FAST_GIT_COMMIT;
    info["torch_version"] = PYIQA_FAST_TORCH_VERSION;
    info["with_cuda"] = static_cast<bool>(PYIQA_FAST_WITH_CUDA);
#if PYIQA_FAST_WITH_CUDA
    info["cuda_version"] = PYIQA_FAST_CUDA_VERSION;
    info["cuda_archs"] = PYIQA_FAST_CUDA_ARCHS;
#else
    info["cuda_version"] = py::none();
    info["cuda_archs"] = py::none();
#endif
    info["with_openmp"] = static_cast<bool>(PYIQA_FAST_WITH_OPENMP);
#ifndef PYIQA_FAST_WITH_LIBJPEG
#define PYIQA_FAST_WITH_LIBJPEG 0
#endif
    info["with_libjpeg"] = static_cast<bool>(PYIQA_FAST_WITH_LIBJPEG);
    info["compiler"] = PYIQA_FAST_COMPILER;
    info["cxx_standard"] = __cplusplus;
    info["build_type"] = PYIQA_FAST_BUILD_TYPE;
    py::list cpu_kernels, cuda_kernels;
    cpu_kernels.append("margin_ranking_loss");
    cpu_kernels.append("dsm_pool");
    cpu_kernels.append("block_attention");
    cpu_kernels.append("distort");
#if PYIQA_FAST_WITH_CUDA
    cuda_kernels.append("margin_ranking_loss");
    cuda_kernels.append("dsm_pool");
    cuda_kernels.append("block_attention");
    cuda_kernels.append("distort");
#endif
    info["cpu_kernels"] = cpu_kernels;
    py::list distort_cpu_types;  // type ids with a C++ operator (ops/distort/impl/cpu.py)
    for (int32_t t = 0; t < pyiqa_fast::distort::kNumTypes; ++t) {
      if (pyiqa_fast::distort::cpu_operator<float>(t) != nullptr) distort_cpu_types.append(t);
    }
    info["distort_cpu_types"] = distort_cpu_types;
    py::list distort_cuda_types;  // type ids with a CUDA kernel (ops/distort/impl/cuda.py)
#if PYIQA_FAST_WITH_CUDA
    for (int32_t t = 0; t < pyiqa_fast::distort::kNumTypes; ++t) {
      if (pyiqa_fast::distort::cuda_has_type(t)) distort_cuda_types.append(t);
    }
#endif
    info["distort_cuda_types"] = distort_cuda_types;
    info["cuda_kernels"] = cuda_kernels;
    return info;
  }, "Versions, options and kernels this extension was built with.");
}
