// Host emulation of the few CUDA runtime pieces the block_attention kernels and their standalone test
// use (tools/cuda_host_emu/run_block_attention.sh). Test tooling only; never part of a build.
// One block at a time, blockDim.x std::threads, std::barrier for __syncthreads and warp shuffles.
#pragma once
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <barrier>
#include <thread>
#include <vector>
#include <cstring>
#include <cstdlib>
#include <cmath>
#include <algorithm>
#include <functional>
#include <mutex>
#include <cstdio>
#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __forceinline__
#undef __launch_bounds__
#undef __align__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __shared__ static

#define cudaGetErrorString emu_cudaGetErrorString
#define cudaGetLastError emu_cudaGetLastError
#define cudaFuncSetAttribute emu_cudaFuncSetAttribute
#define cudaMalloc emu_cudaMalloc
#define cudaFree emu_cudaFree
#define cudaMemcpy emu_cudaMemcpy
#define cudaMemset emu_cudaMemset
#define cudaDeviceSynchronize emu_cudaDeviceSynchronize
inline const char* cudaGetErrorString(cudaError_t) { return "emu error"; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
template <typename F> inline cudaError_t cudaFuncSetAttribute(F, cudaFuncAttribute, int v) { return v <= 227 * 1024 ? cudaSuccess : cudaErrorInvalidValue; }
inline cudaError_t cudaMalloc(void** p, size_t n) { *p = std::malloc(n); std::memset(*p, 0xcd, n); return cudaSuccess; }
template <typename T> inline cudaError_t cudaMalloc(T** p, size_t n) { return cudaMalloc(reinterpret_cast<void**>(p), n); }
inline cudaError_t cudaFree(void* p) { std::free(p); return cudaSuccess; }
inline cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind) { std::memcpy(d, s, n); return cudaSuccess; }
inline cudaError_t cudaMemset(void* d, int v, size_t n) { std::memset(d, v, n); return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

struct emu_dim { unsigned x = 0, y = 0, z = 0; };
inline thread_local emu_dim threadIdx, blockIdx;
inline emu_dim blockDim, gridDim;
inline std::barrier<>* emu_block_barrier;
inline std::vector<std::barrier<>*> emu_warp_barriers;
inline double emu_slots[1024];
alignas(16) inline unsigned char emu_dynamic_smem[256 * 1024];

inline void __syncthreads() { emu_block_barrier->arrive_and_wait(); }
template <typename T> T emu_exchange(T v, int src_lane) {
  const int w = threadIdx.x / 32, lane = threadIdx.x % 32;
  auto* bar = emu_warp_barriers[w];
  emu_slots[threadIdx.x] = 0; std::memcpy(&emu_slots[threadIdx.x], &v, sizeof(T));
  bar->arrive_and_wait();
  T out; std::memcpy(&out, &emu_slots[w * 32 + src_lane], sizeof(T));
  bar->arrive_and_wait();
  (void)lane;
  return out;
}
template <typename T> T __shfl_xor_sync(unsigned, T v, int off) { return emu_exchange(v, (threadIdx.x % 32) ^ off); }
template <typename T> T __shfl_down_sync(unsigned, T v, int off) {
  int src = threadIdx.x % 32 + off; if (src >= 32) src = threadIdx.x % 32; return emu_exchange(v, src);
}
using std::min; using std::max;
inline double __longlong_as_double(long long v) { double d; std::memcpy(&d, &v, 8); return d; }

template <typename Arg>
void emu_launch(void (*kernel)(Arg), long long blocks, int threads, size_t smem, const Arg& arg) {
  if (smem > sizeof(emu_dynamic_smem)) { std::printf("EMU: smem too large\n"); std::abort(); }
  blockDim.x = threads; blockDim.y = blockDim.z = 1; gridDim.x = blocks;
  for (long long b = 0; b < blocks; ++b) {
    std::memset(emu_dynamic_smem, 0x7f, smem);  // garbage: NaN-ish floats
    std::barrier<> block_bar(threads);
    std::vector<std::barrier<>*> warps;
    for (int w = 0; w < threads / 32; ++w) warps.push_back(new std::barrier<>(32));
    emu_block_barrier = &block_bar; emu_warp_barriers = warps;
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) ts.emplace_back([&, t] {
      threadIdx.x = t; blockIdx.x = static_cast<unsigned>(b);
      kernel(arg);
      // a thread that returned leaves its barriers (the delta kernel's early return)
      emu_warp_barriers[t / 32]->arrive_and_drop();
      emu_block_barrier->arrive_and_drop();
    });
    for (auto& th : ts) th.join();
    for (auto* w : warps) delete w;
  }
}

// ---------------------------------------------------------------------------------------------
// 2-D/3-D grids and blocks with any kernel arguments (PYIQA_FAST_LAUNCH in common/cuda_launch.h;
// the distort kernels). Blocks run one at a time; threadIdx.x is the fastest-varying index.
template <typename... KArgs, typename... Args>
void emu_launch_grid(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, Args... args) {
  if (smem > sizeof(emu_dynamic_smem)) { std::printf("EMU: smem too large\n"); std::abort(); }
  const int threads = static_cast<int>(block.x * block.y * block.z);
  const long long blocks = static_cast<long long>(grid.x) * grid.y * grid.z;
  blockDim.x = block.x; blockDim.y = block.y; blockDim.z = block.z;
  gridDim.x = grid.x; gridDim.y = grid.y; gridDim.z = grid.z;
  // One pool of blockDim threads runs the blocks in turn (thread creation dominated the cost).
  // Between blocks all threads meet at `gate`; thread 0 then makes the block's barriers afresh,
  // since threads that return early leave them (arrive_and_drop), as on the device.
  std::barrier<> gate(threads);
  std::barrier<>* block_bar = nullptr;
  std::vector<std::barrier<>*> warps;
  auto fresh = [&] {
    delete block_bar;
    for (auto* w : warps) delete w;
    warps.clear();
    block_bar = new std::barrier<>(threads);
    for (int w = 0; w < (threads + 31) / 32; ++w) warps.push_back(new std::barrier<>(std::min(32, threads - 32 * w)));
    emu_block_barrier = block_bar; emu_warp_barriers = warps;
    std::memset(emu_dynamic_smem, 0x7f, smem);
  };
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) ts.emplace_back([&, t] {
    threadIdx.x = t % block.x; threadIdx.y = (t / block.x) % block.y; threadIdx.z = t / (block.x * block.y);
    for (long long b = 0; b < blocks; ++b) {
      gate.arrive_and_wait();
      if (t == 0) fresh();
      gate.arrive_and_wait();
      blockIdx.x = static_cast<unsigned>(b % grid.x);
      blockIdx.y = static_cast<unsigned>((b / grid.x) % grid.y);
      blockIdx.z = static_cast<unsigned>(b / (static_cast<long long>(grid.x) * grid.y));
      kernel(static_cast<KArgs>(args)...);
      emu_warp_barriers[t / 32]->arrive_and_drop();
      emu_block_barrier->arrive_and_drop();
    }
  });
  for (auto& th : ts) th.join();
  delete block_bar;
  for (auto* w : warps) delete w;
}
template <typename T> inline T atomicAdd(T* address, T v) {
  static std::mutex m; std::lock_guard<std::mutex> lock(m); T old = *address; *address = old + v; return old;
}
template <typename T> inline T atomicMax(T* address, T v) {
  static std::mutex m; std::lock_guard<std::mutex> lock(m); T old = *address; if (v > old) *address = v; return old;
}
template <typename T> inline T atomicMin(T* address, T v) {
  static std::mutex m; std::lock_guard<std::mutex> lock(m); T old = *address; if (v < old) *address = v; return old;
}
inline void __syncwarp(unsigned = 0xffffffffu) { emu_warp_barriers[(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)) / 32]->arrive_and_wait(); }
