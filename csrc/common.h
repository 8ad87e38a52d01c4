// Shared by the CPU (.cpp) and CUDA (.cu) kernels: plain C++, no torch headers.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define CNNK_HD __host__ __device__ __forceinline__
#else
#define CNNK_HD inline
#endif

namespace cnnkernels {

// NaN test that survives -ffast-math style optimisations of `v != v`.
template <typename T>
CNNK_HD bool is_nan(T v) {
  return v != v;
}

}  // namespace cnnkernels
