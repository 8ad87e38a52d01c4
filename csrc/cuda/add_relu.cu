// Residual add + ReLU on the GPU: one grid-stride pass; fp32 uses 16-byte loads and stores when the
// three pointers allow it.
#include "../add_relu.h"
#include "common.cuh"

namespace cnnkernels::cuda {
namespace {

template <typename T>
// No __restrict__: the in-place op passes y == a (each element is read, then written, by one thread).
__global__ void add_relu_forward_kernel(const T* a, const T* b, T* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    y[i] = from_float<T>(add_relu::forward(to_float(a[i]), to_float(b[i])));
  }
}

__global__ void add_relu_forward_float4_kernel(const float4* a, const float4* b, float4* y, int64_t n4) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n4; i += int64_t(gridDim.x) * blockDim.x) {
    const float4 va = a[i], vb = b[i];
    y[i] = make_float4(add_relu::forward(va.x, vb.x), add_relu::forward(va.y, vb.y), add_relu::forward(va.z, vb.z),
                       add_relu::forward(va.w, vb.w));
  }
}

template <typename T>
__global__ void add_relu_backward_kernel(const T* __restrict__ dy, const T* __restrict__ y, T* __restrict__ dx,
                                         int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    dx[i] = from_float<T>(add_relu::backward(to_float(dy[i]), to_float(y[i])));
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

cudaError_t add_relu_forward(DType dtype, const void* a, const void* b, void* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (dtype == DType::Float32 && n % 4 == 0 && aligned16(a) && aligned16(b) && aligned16(y)) {
    add_relu_forward_float4_kernel<<<blocks_for(n / 4), THREADS, 0, stream>>>(
        static_cast<const float4*>(a), static_cast<const float4*>(b), static_cast<float4*>(y), n / 4);
    return cudaGetLastError();
  }
  return dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    add_relu_forward_kernel<T><<<blocks_for(n), THREADS, 0, stream>>>(static_cast<const T*>(a),
                                                                       static_cast<const T*>(b), static_cast<T*>(y), n);
  });
}

cudaError_t add_relu_backward(DType dtype, const void* dy, const void* y, void* dx, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    add_relu_backward_kernel<T><<<blocks_for(n), THREADS, 0, stream>>>(
        static_cast<const T*>(dy), static_cast<const T*>(y), static_cast<T*>(dx), n);
  });
}

}  // namespace cnnkernels::cuda
