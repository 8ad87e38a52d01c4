// LRN on the GPU. One thread per element; the window sums over channels are re-read from x (the
// neighbouring threads of a warp read neighbouring addresses in both layouts, and the re-reads hit
// the caches). The backward recomputes each neighbour's scale from x: it reads only x and dy.
#include "../lrn.h"
#include "common.cuh"

namespace cnnkernels::cuda {
namespace {

// (n, c, pixel) of element i, as the offset of channel 0 at that pixel, the channel, and the
// distance between channels.
struct Element {
  int64_t channel0, c, channel_stride;
};

__device__ __forceinline__ Element locate(int64_t i, const LrnShape& s) {
  if (s.channels_last) {
    const int64_t c = i % s.C;
    return {i - c, c, 1};
  }
  const int64_t c = (i / s.S) % s.C;
  return {i - c * s.S, c, s.S};
}

__device__ __forceinline__ float inv_pow_s(float s, float beta) {
  return beta == 0.75f ? lrn::inv_pow_075(s) : lrn::inv_pow(s, beta);
}

// Sum of x^2 over the forward window of channel c.
template <typename T>
__device__ __forceinline__ float window_sum_squares(const T* x, const Element& e, int64_t c, const LrnShape& s,
                                                    const LrnParams& p) {
  const int64_t lo = max(int64_t(0), c - lrn::window_before(p.size));
  const int64_t hi = min(s.C - 1, c + lrn::window_after(p.size));
  float sum = 0.f;
  for (int64_t j = lo; j <= hi; ++j) {
    const float v = to_float(x[e.channel0 + j * e.channel_stride]);
    sum += v * v;
  }
  return sum;
}

template <typename T>
__global__ void lrn_forward_kernel(const T* __restrict__ x, T* __restrict__ y, LrnShape s, LrnParams p) {
  const int64_t n = s.N * s.C * s.S;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const Element e = locate(i, s);
    const float scale = lrn::scale(window_sum_squares(x, e, e.c, s, p), p.alpha_over_size, p.k);
    y[i] = from_float<T>(lrn::forward(to_float(x[i]), inv_pow_s(scale, p.beta)));
  }
}

template <typename T>
__global__ void lrn_backward_kernel(const T* __restrict__ dy, const T* __restrict__ x, T* __restrict__ dx,
                                    LrnShape s, LrnParams p) {
  const int64_t n = s.N * s.C * s.S;
  const float coef = 2.f * p.alpha_over_size * p.beta;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const Element e = locate(i, s);
    const int64_t lo = max(int64_t(0), e.c - lrn::backward_window_before(p.size));
    const int64_t hi = min(s.C - 1, e.c + lrn::backward_window_after(p.size));
    float sum_t = 0.f, inv_c = 0.f;
    for (int64_t j = lo; j <= hi; ++j) {
      const int64_t at = e.channel0 + j * e.channel_stride;
      const float scale = lrn::scale(window_sum_squares(x, e, j, s, p), p.alpha_over_size, p.k);
      const float inv = inv_pow_s(scale, p.beta);
      sum_t += lrn::backward_term(to_float(dy[at]), to_float(x[at]), inv, scale);
      if (j == e.c) inv_c = inv;
    }
    dx[i] = from_float<T>(lrn::backward(to_float(dy[i]), to_float(x[i]), inv_c, sum_t, coef));
  }
}

}  // namespace

cudaError_t lrn_forward(DType dtype, const void* x, void* y, LrnShape shape, LrnParams params, cudaStream_t stream) {
  const int64_t n = shape.N * shape.C * shape.S;
  if (n == 0) return cudaSuccess;
  return dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    lrn_forward_kernel<T><<<blocks_for(n), THREADS, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y), shape,
                                                                  params);
  });
}

cudaError_t lrn_backward(DType dtype, const void* dy, const void* x, void* dx, LrnShape shape, LrnParams params,
                         cudaStream_t stream) {
  const int64_t n = shape.N * shape.C * shape.S;
  if (n == 0) return cudaSuccess;
  return dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    lrn_backward_kernel<T><<<blocks_for(n), THREADS, 0, stream>>>(
        static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<T*>(dx), shape, params);
  });
}

}  // namespace cnnkernels::cuda
