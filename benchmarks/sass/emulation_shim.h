// Runs the CUDA kernels of csrc/cuda/*.cu as plain C++ on the CPU, one thread after another, so the
// tests check their index math, layouts, tie and NaN rules and grid-stride loops without a GPU.
// (It cannot check what needs threads to run together: these kernels use no shared memory or
// barriers.) The .cu files are compiled with __global__/__device__ defined away and each
// kernel<<<grid, block, 0, stream>>>(args) rewritten to emulate_launch<kernel>(grid, block, args).
// With emulated_record_only set, a launch is recorded instead (which kernel instantiation, grid,
// block): benchmarks/sass asks the launchers which kernels a shape runs.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#define __launch_bounds__(...)

using std::max;
using std::min;

#define __grid_constant__  // (kernel arguments are ordinary arguments here)

// Launches cannot fail here. (A macro, not a definition of cudaGetLastError: in a process that has
// loaded the CUDA runtime, that symbol would bind to the real one, which reports no device.)
inline cudaError_t emulated_last_error() { return cudaSuccess; }
#define cudaGetLastError emulated_last_error

inline thread_local uint3 emulated_block_idx, emulated_thread_idx;
inline thread_local dim3 emulated_grid_dim, emulated_block_dim;
#define blockIdx emulated_block_idx
#define threadIdx emulated_thread_idx
#define gridDim emulated_grid_dim
#define blockDim emulated_block_dim

extern unsigned emulated_max_blocks;  // fewer blocks than asked for: exercises the grid-stride loops
extern bool emulated_record_only;
void emulated_record(const char* kernel, unsigned grid, unsigned block);

template <auto Kernel, typename... Args>
void emulate_launch(unsigned grid, unsigned block, Args... args) {
  if (emulated_record_only) {  // __PRETTY_FUNCTION__ names Kernel with its template arguments
    emulated_record(__PRETTY_FUNCTION__, grid, block);
    return;
  }
  grid = std::min(grid, emulated_max_blocks);
  emulated_grid_dim = dim3(grid);
  emulated_block_dim = dim3(block);
  for (unsigned b = 0; b < grid; ++b) {
    for (unsigned t = 0; t < block; ++t) {
      emulated_block_idx = make_uint3(b, 0, 0);
      emulated_thread_idx = make_uint3(t, 0, 0);
      Kernel(args...);
    }
  }
}
