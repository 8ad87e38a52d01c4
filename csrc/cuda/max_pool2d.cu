// Max-pool 2-D on the GPU. Forward: one thread per output element, writing the one-byte argmax
// only when training. Backward: one thread per input element gathers the gradients of the windows
// whose argmax it is (max_pool2d::window_with_tap_at): no atomics, no zero-fill pass, deterministic.
#include "../max_pool2d.h"
#include "common.cuh"

namespace cnnkernels::cuda {
namespace {

using max_pool2d::end_tap;
using max_pool2d::first_tap;
using max_pool2d::takes_over;
using max_pool2d::window_with_tap_at;

// Offset of (n, c, h, w) in a tensor of spatial size (height, width).
__device__ __forceinline__ int64_t offset(const PoolShape& s, int64_t n, int64_t c, int64_t h, int64_t w,
                                          int64_t height, int64_t width) {
  return s.channels_last ? ((n * height + h) * width + w) * s.C + c : ((n * s.C + c) * height + h) * width + w;
}

// (n, c, h, w) of element i of a tensor of spatial size (height, width).
__device__ __forceinline__ void coordinates(const PoolShape& s, int64_t i, int64_t height, int64_t width, int64_t& n,
                                            int64_t& c, int64_t& h, int64_t& w) {
  if (s.channels_last) {
    c = i % s.C;
    w = (i / s.C) % width;
    h = (i / (s.C * width)) % height;
    n = i / (s.C * width * height);
  } else {
    w = i % width;
    h = (i / width) % height;
    c = (i / (width * height)) % s.C;
    n = i / (width * height * s.C);
  }
}

template <typename T, typename index_t>
__global__ void max_pool2d_forward_kernel(const T* __restrict__ x, T* __restrict__ y, index_t* __restrict__ argmax,
                                          PoolShape s, PoolWindow k) {
  const int64_t total = s.N * s.C * s.OH * s.OW;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t n, c, oh, ow;  // (n, c, oh, ow) is an element of the pooled output
    coordinates(s, i, s.OH, s.OW, n, c, oh, ow);
    const int64_t h0 = oh * k.stride_h - k.pad_h, w0 = ow * k.stride_w - k.pad_w;
    const int64_t ki0 = first_tap(h0, k.dilation_h), ki1 = end_tap(h0, k.dilation_h, k.kernel_h, s.H);
    const int64_t kj0 = first_tap(w0, k.dilation_w), kj1 = end_tap(w0, k.dilation_w, k.kernel_w, s.W);
    float best = -INFINITY;
    int64_t best_tap = (ki0 < ki1 && kj0 < kj1) ? ki0 * k.kernel_w + kj0 : 0;
    for (int64_t ki = ki0; ki < ki1; ++ki) {
      for (int64_t kj = kj0; kj < kj1; ++kj) {
        const float v = to_float(x[offset(s, n, c, h0 + ki * k.dilation_h, w0 + kj * k.dilation_w, s.H, s.W)]);
        if (takes_over(v, best)) {
          best = v;
          best_tap = ki * k.kernel_w + kj;
        }
      }
    }
    y[i] = from_float<T>(best);
    if (argmax != nullptr) argmax[i] = static_cast<index_t>(best_tap);
  }
}

template <typename T, typename index_t>
__global__ void max_pool2d_backward_kernel(const T* __restrict__ dy, const index_t* __restrict__ argmax,
                                           T* __restrict__ dx, PoolShape s, PoolWindow k) {
  const int64_t total = s.N * s.C * s.H * s.W;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t n, c, ih, iw;  // (n, c, ih, iw) is an element of the input gradient
    coordinates(s, i, s.H, s.W, n, c, ih, iw);
    float sum = 0.f;
    for (int64_t ki = 0; ki < k.kernel_h; ++ki) {
      const int64_t oh = window_with_tap_at(ih, ki, k.stride_h, k.pad_h, k.dilation_h, s.OH);
      if (oh < 0) continue;
      for (int64_t kj = 0; kj < k.kernel_w; ++kj) {
        const int64_t ow = window_with_tap_at(iw, kj, k.stride_w, k.pad_w, k.dilation_w, s.OW);
        if (ow < 0) continue;
        const int64_t o = offset(s, n, c, oh, ow, s.OH, s.OW);
        if (static_cast<int64_t>(argmax[o]) == ki * k.kernel_w + kj) sum += to_float(dy[o]);
      }
    }
    dx[i] = from_float<T>(sum);
  }
}

}  // namespace

cudaError_t max_pool2d_forward(DType dtype, const void* x, void* y, void* argmax, int argmax_bytes, PoolShape shape,
                               PoolWindow window, cudaStream_t stream) {
  const int64_t n = shape.N * shape.C * shape.OH * shape.OW;
  if (n == 0) return cudaSuccess;
  return dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    if (argmax_bytes == 4) {
      max_pool2d_forward_kernel<T, int32_t><<<blocks_for(n), THREADS, 0, stream>>>(
          static_cast<const T*>(x), static_cast<T*>(y), static_cast<int32_t*>(argmax), shape, window);
    } else {
      max_pool2d_forward_kernel<T, uint8_t><<<blocks_for(n), THREADS, 0, stream>>>(
          static_cast<const T*>(x), static_cast<T*>(y), static_cast<uint8_t*>(argmax), shape, window);
    }
  });
}

cudaError_t max_pool2d_backward(DType dtype, const void* dy, const void* argmax, int argmax_bytes, void* dx,
                                PoolShape shape, PoolWindow window, cudaStream_t stream) {
  const int64_t n = shape.N * shape.C * shape.H * shape.W;
  if (n == 0) return cudaSuccess;
  return dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    if (argmax_bytes == 4) {
      max_pool2d_backward_kernel<T, int32_t><<<blocks_for(n), THREADS, 0, stream>>>(
          static_cast<const T*>(dy), static_cast<const int32_t*>(argmax), static_cast<T*>(dx), shape, window);
    } else {
      max_pool2d_backward_kernel<T, uint8_t><<<blocks_for(n), THREADS, 0, stream>>>(
          static_cast<const T*>(dy), static_cast<const uint8_t*>(argmax), static_cast<T*>(dx), shape, window);
    }
  });
}

}  // namespace cnnkernels::cuda
