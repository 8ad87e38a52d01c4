// LRN on the GPU; the backward recomputes the scales from x: it reads only x and dy.
//  - NCHW, window sizes 1-9: a thread per pixel slides down the channels, holding the window in
//    registers, so every element of x (and dy) is read from memory once and coalesced across the
//    warp (neighbouring threads, neighbouring pixels).
//  - channels_last and other sizes: a thread per element re-reads the window (from the caches).
#include <type_traits>

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

// ---- a thread per pixel, sliding down the channels (NCHW)

// v[0] <- v[1] <- ... <- v[N-1] <- value: registers, as N is a compile-time constant.
template <int N>
__device__ __forceinline__ void shift_in(float (&v)[N], float value) {
#pragma unroll
  for (int i = 0; i + 1 < N; ++i) v[i] = v[i + 1];
  v[N - 1] = value;
}

template <int N>
__device__ __forceinline__ float sum_of(const float (&v)[N]) {
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < N; ++i) s += v[i];
  return s;
}

template <int N>
__device__ __forceinline__ float sum_of_squares(const float (&v)[N]) {
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < N; ++i) s += v[i] * v[i];
  return s;
}

template <typename T>
__device__ __forceinline__ float load_channel(const T* p, int64_t c, int64_t C, int64_t S) {
  return (c >= 0 && c < C) ? to_float(p[c * S]) : 0.f;  // channels outside [0, C) count as zero
}

template <typename T, int SIZE>
__global__ void lrn_forward_sliding_kernel(const T* __restrict__ x, T* __restrict__ y, LrnShape s, LrnParams p) {
  constexpr int B = SIZE / 2, A = (SIZE - 1) / 2;  // channels before / after c in its window
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < s.N * s.S; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t offset = (i / s.S) * s.C * s.S + i % s.S;  // channel 0 of pixel i
    float win[SIZE];  // x over channels [c - B, c + A]
#pragma unroll
    for (int m = 0; m < SIZE; ++m) win[m] = 0.f;
    for (int64_t c = -A; c < s.C; ++c) {  // the first A steps only fill the window
      shift_in(win, load_channel(x + offset, c + A, s.C, s.S));
      if (c < 0) continue;
      const float scale = lrn::scale(sum_of_squares(win), p.alpha_over_size, p.k);
      const float inv = inv_pow_s(scale, p.beta);
      y[offset + c * s.S] = from_float<T>(lrn::forward(win[B], inv));
    }
  }
}

template <typename T, int SIZE>
__global__ void lrn_backward_sliding_kernel(const T* __restrict__ dy, const T* __restrict__ x, T* __restrict__ dx,
                                            LrnShape s, LrnParams p) {
  constexpr int B = SIZE / 2, A = (SIZE - 1) / 2;
  const float coef = 2.f * p.alpha_over_size * p.beta;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < s.N * s.S; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t offset = (i / s.S) * s.C * s.S + i % s.S;
    // Step j computes t_j = dy_j x_j s_j^(-beta-1) from x over [j - B, j + A] (win), then dx_c for
    // c = j - B, whose backward window [c - A, c + B] = [j - SIZE + 1, j] is what t holds.
    float win[SIZE], t[SIZE], dys[B + 1], invs[B + 1];
#pragma unroll
    for (int m = 0; m < SIZE; ++m) win[m] = t[m] = 0.f;
#pragma unroll
    for (int m = 0; m <= B; ++m) dys[m] = invs[m] = 0.f;
    for (int64_t j = -A; j < s.C + B; ++j) {
      shift_in(win, load_channel(x + offset, j + A, s.C, s.S));
      const float dyj = load_channel(dy + offset, j, s.C, s.S);
      const float scale = lrn::scale(sum_of_squares(win), p.alpha_over_size, p.k);
      const float inv = inv_pow_s(scale, p.beta);
      shift_in(t, (j >= 0 && j < s.C) ? lrn::backward_term(dyj, win[B], inv, scale) : 0.f);
      shift_in(dys, dyj);
      shift_in(invs, inv);
      const int64_t c = j - B;  // x_c left the window's front: win[0]
      if (c >= 0) dx[offset + c * s.S] = from_float<T>(lrn::backward(dys[0], win[0], invs[0], sum_of(t), coef));
    }
  }
}

// Calls body(std::integral_constant<int, SIZE>{}) for the sizes with a sliding kernel; false otherwise.
template <typename Body>
bool with_window_size(int64_t size, Body&& body) {
  switch (size) {
    case 1: body(std::integral_constant<int, 1>{}); return true;
    case 2: body(std::integral_constant<int, 2>{}); return true;
    case 3: body(std::integral_constant<int, 3>{}); return true;
    case 4: body(std::integral_constant<int, 4>{}); return true;
    case 5: body(std::integral_constant<int, 5>{}); return true;
    case 6: body(std::integral_constant<int, 6>{}); return true;
    case 7: body(std::integral_constant<int, 7>{}); return true;
    case 8: body(std::integral_constant<int, 8>{}); return true;
    case 9: body(std::integral_constant<int, 9>{}); return true;
    default: return false;
  }
}

}  // namespace

cudaError_t lrn_forward(DType dtype, const void* x, void* y, LrnShape shape, LrnParams params, cudaStream_t stream) {
  const int64_t n = shape.N * shape.C * shape.S;
  if (n == 0) return cudaSuccess;
  return dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    const bool sliding = !shape.channels_last && with_window_size(params.size, [&](auto size) {
      lrn_forward_sliding_kernel<T, decltype(size)::value><<<blocks_for(shape.N * shape.S), THREADS, 0, stream>>>(
          static_cast<const T*>(x), static_cast<T*>(y), shape, params);
    });
    if (!sliding) {
      lrn_forward_kernel<T><<<blocks_for(n), THREADS, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y), shape,
                                                                    params);
    }
  });
}

cudaError_t lrn_backward(DType dtype, const void* dy, const void* x, void* dx, LrnShape shape, LrnParams params,
                         cudaStream_t stream) {
  const int64_t n = shape.N * shape.C * shape.S;
  if (n == 0) return cudaSuccess;
  return dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    const bool sliding = !shape.channels_last && with_window_size(params.size, [&](auto size) {
      lrn_backward_sliding_kernel<T, decltype(size)::value><<<blocks_for(shape.N * shape.S), THREADS, 0, stream>>>(
          static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<T*>(dx), shape, params);
    });
    if (!sliding) {
      lrn_backward_kernel<T><<<blocks_for(n), THREADS, 0, stream>>>(
          static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<T*>(dx), shape, params);
    }
  });
}

}  // namespace cnnkernels::cuda
