#!/usr/bin/env bash
# Runs csrc/tests/test_block_attention.cpp's CUDA branch on the CPU, without a GPU: the kernel file
# is compiled as host C++ with cuda_runtime.h here (one block at a time, blockDim.x std::threads,
# std::barrier for __syncthreads and warp shuffles, host memory for cudaMalloc). A correctness
# check of the index arithmetic and the algorithm only: no races, timing or device numerics are
# checked (that is compute-sanitizer's and the GPU run's job). Slow (minutes: 256 threads/block).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-/tmp/cuda_host_emu}
mkdir -p "$out"
sed -e 's/extern __shared__ __align__(16) unsigned char smem_raw\[\];/unsigned char* smem_raw = emu_dynamic_smem;/' \
    -e 's/kernel<<<static_cast<unsigned>(blocks), kThreads, smem, stream>>>(arg);/emu_launch(kernel, blocks, kThreads, smem, arg);/' \
    "$root/csrc/kernels/block_attention/block_attention_cuda.cu" > "$out/block_attention_emu.cpp"
grep -q emu_launch "$out/block_attention_emu.cpp" || { echo "launch line not found: update the sed"; exit 1; }
flags=(-std=c++20 -O2 -I "$root/tools/cuda_host_emu" -I "$root/csrc" -isystem /usr/local/cuda/include
       -include "$root/tools/cuda_host_emu/cuda_runtime.h")
g++ "${flags[@]}" -x c++ -c "$out/block_attention_emu.cpp" -o "$out/kernel.o"
g++ "${flags[@]}" -DPYIQA_FAST_WITH_CUDA=1 -c "$root/csrc/tests/test_block_attention.cpp" -o "$out/test.o"
g++ "$out/test.o" "$out/kernel.o" -o "$out/test_block_attention_emu" -lpthread
stdbuf -oL "$out/test_block_attention_emu"
