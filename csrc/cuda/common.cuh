// Helpers for the .cu files: dtype conversion, launch geometry, dtype dispatch.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "launch.h"

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

// V consecutive elements moved as one load or store (16 bytes when V = 16 / sizeof(T)).
template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

// Elements of T in a 16-byte pack.
template <typename T>
constexpr int pack16 = 16 / sizeof(T);

// Whether every pointer (nullptr: an output not written) allows 16-byte accesses.
inline bool aligned16(std::initializer_list<const void*> pointers) {
  for (const void* p : pointers) {
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  }
  return true;
}

// Index of this thread in the grid, and the grid's size, for grid-stride loops.
__device__ __forceinline__ int64_t grid_thread() { return blockIdx.x * int64_t(blockDim.x) + threadIdx.x; }
__device__ __forceinline__ int64_t grid_threads() { return int64_t(gridDim.x) * blockDim.x; }

// n / d for 0 <= n, d < 2^31 with a multiply and a shift instead of a division (the
// round-up method of Granlund and Montgomery; PyTorch's IntDivider does the same): memory-bound
// kernels that locate each element can otherwise spend more time dividing than moving bytes.
struct FastDivisor {
  uint32_t divisor, magic, shift;

  explicit FastDivisor(uint32_t d = 1) : divisor(d), magic(0), shift(0) {
    while ((1u << shift) < d) ++shift;
    magic = uint32_t(((uint64_t(1) << 32) * ((uint64_t(1) << shift) - d)) / d + 1);
  }
  __host__ __device__ __forceinline__ uint32_t div(uint32_t n) const {
#ifdef __CUDA_ARCH__
    return (__umulhi(n, magic) + n) >> shift;  // n < 2^31: the sum fits 32 bits (ptxas makes 64-bit math of it)
#else
    return uint32_t((((uint64_t(n) * magic) >> 32) + n) >> shift);
#endif
  }
};

// a * b as 64 bits for unsigned 32-bit a and b: one IMAD.WIDE.U32. (From the C++ product ptxas also
// adds the zero high word of the operands: an ALU instruction per address in a kernel that forms
// many.)
__host__ __device__ __forceinline__ uint64_t wide_product(uint32_t a, uint32_t b) {
#ifdef __CUDA_ARCH__
  uint64_t product;
  asm("mul.wide.u32 %0, %1, %2;" : "=l"(product) : "r"(a), "r"(b));
  return product;
#else
  return uint64_t(a) * b;
#endif
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
    case DType::Float32: body(float{}); break;
    case DType::Float16: body(__half{}); break;
    case DType::BFloat16: body(__nv_bfloat16{}); break;
  }
  return cudaGetLastError();
}

}  // namespace cnnkernels::cuda
