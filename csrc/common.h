// Shared by the CPU (.cpp) and CUDA (.cu) kernels: plain C++, no torch headers.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#if defined(__CUDACC__)
#define CNNK_HD __host__ __device__ __forceinline__
#else
#define CNNK_HD inline
#endif

namespace cnnkernels {

// NaN test. (Max-pool's NaN rule depends on it: never build these kernels with -ffast-math or
// -ffinite-math-only, which fold `v != v` to false.)
template <typename T>
CNNK_HD bool is_nan(T v) {
  return v != v;
}

}  // namespace cnnkernels
