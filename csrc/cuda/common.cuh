// Helpers for the .cu files: dtype conversion, launch geometry, dtype dispatch.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

#include "launchers.h"

namespace cnnkernels::cuda {

template <typename T>
__device__ __forceinline__ float to_float(T v) {
  return static_cast<float>(v);
}
template <>
__device__ __forceinline__ float to_float<__half>(__half v) {
  return __half2float(v);
}
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

template <typename T>
__device__ __forceinline__ T from_float(float v) {
  return static_cast<T>(v);
}
template <>
__device__ __forceinline__ __half from_float<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

constexpr int THREADS = 256;

// Blocks for a grid-stride loop over n items: enough to fill the GPU, never more than the limit.
inline unsigned int blocks_for(int64_t n) {
  const int64_t blocks = (n + THREADS - 1) / THREADS;
  return static_cast<unsigned int>(std::max<int64_t>(1, std::min<int64_t>(blocks, 65535LL * 32)));
}

// Calls body(T{}) with the CUDA element type of `dtype`.
template <typename Body>
cudaError_t dispatch(DType dtype, Body&& body) {
  switch (dtype) {
    case DType::Float32:
      body(float{});
      break;
    case DType::Float16:
      body(__half{});
      break;
    case DType::BFloat16:
      body(__nv_bfloat16{});
      break;
  }
  return cudaGetLastError();
}

}  // namespace cnnkernels::cuda
