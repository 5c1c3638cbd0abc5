// Kernel launches through one macro, so that tools/cuda_host_emu can run the same source on the
// CPU (PYIQA_FAST_CUDA_HOST_EMU: each block on std::threads) for tests on GPU-less machines.
#pragma once

#if defined(PYIQA_FAST_CUDA_HOST_EMU)
#define PYIQA_FAST_LAUNCH(kernel, grid, block, smem, stream, ...) \
  emu_launch_grid(kernel, dim3(grid), dim3(block), smem, __VA_ARGS__)
#else
#define PYIQA_FAST_LAUNCH(kernel, grid, block, smem, stream, ...) \
  kernel<<<grid, block, smem, stream>>>(__VA_ARGS__)
#endif
