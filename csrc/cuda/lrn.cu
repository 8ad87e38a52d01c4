// LRN on the GPU; the backward recomputes the scales from x: it reads only x and dy.
//  - NCHW, window sizes 1-9: a thread per pixel and run of channels slides down the channels,
//    holding the window in registers, so x (and dy) are read from memory once, coalesced across
//    the warp (neighbouring threads, neighbouring pixels). Runs of channels (with the window's
//    halo read twice, from the cache) give enough threads when N * H * W is small.
//  - channels_last, sizes 1-9, C a multiple of a 16-byte pack: a thread per pixel and pack of
//    channels reads its pack and the neighbouring packs (the window's halo, from the cache).
//  - otherwise: a thread per element re-reads the window (from the caches).
#include <type_traits>

#include "common.cuh"
#include "lrn.h"

namespace cnnkernels::cuda {
namespace {

using LrnShape = lrn::Shape;
using LrnParams = lrn::Params<float>;

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

using lrn::inv_pow_s;

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

template <typename T, bool kBeta075>
__global__ void lrn_forward_kernel(const T* __restrict__ x, T* __restrict__ y, LrnShape s, LrnParams p) {
  const int64_t n = s.N * s.C * s.S;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const Element e = locate(i, s);
    const float scale = lrn::scale(window_sum_squares(x, e, e.c, s, p), p.alpha_over_size, p.k);
    y[i] = from_float<T>(lrn::forward(to_float(x[i]), inv_pow_s<kBeta075>(scale, p.beta)));
  }
}

template <typename T, bool kBeta075>
__global__ void lrn_backward_kernel(const T* __restrict__ dy, const T* __restrict__ x, T* __restrict__ dx, LrnShape s,
                                    LrnParams p) {
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
      const float inv = inv_pow_s<kBeta075>(scale, p.beta);
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

// Channels a sliding thread loads together before using them: loads in flight, against the latency.
constexpr int AHEAD = 8;

// Runs of channels per pixel: enough threads to fill the GPU a few times over, each run at least
// MIN_RUN channels so that the re-read halo stays small.
struct Runs {
  int64_t count, length;
};
inline Runs channel_runs(const LrnShape& s) {
  constexpr int64_t TARGET_THREADS = 1 << 19, MIN_RUN = 32;
  const int64_t pixels = std::max<int64_t>(1, s.N * s.S);
  const int64_t wanted = (TARGET_THREADS + pixels - 1) / pixels;
  const int64_t count = std::max<int64_t>(1, std::min(wanted, s.C / MIN_RUN));
  const int64_t length = (s.C + count - 1) / count;
  return {(s.C + length - 1) / length, length};
}

// Work item i: pixel i % S of image i / (S * runs), channels [begin, end) of run i / S % runs.
struct Run {
  int64_t offset, begin, end;  // offset: channel 0 of the pixel
};
__device__ __forceinline__ Run locate_run(int64_t i, const LrnShape& s, Runs runs) {
  const int64_t pixel = i % s.S, run = i / s.S % runs.count, n = i / (s.S * runs.count);
  const int64_t begin = run * runs.length;
  return {n * s.C * s.S + pixel, begin, min(s.C, begin + runs.length)};
}

template <typename T, int SIZE, bool kBeta075>
__global__ void lrn_forward_sliding_kernel(const T* __restrict__ x, T* __restrict__ y, LrnShape s, LrnParams p,
                                           Runs runs) {
  constexpr int B = SIZE / 2, A = (SIZE - 1) / 2;  // channels before / after c in its window
  for (int64_t i = grid_thread(); i < s.N * s.S * runs.count; i += grid_threads()) {
    const Run r = locate_run(i, s, runs);
    float win[SIZE];  // x over channels [j - SIZE + 1, j]: the window of c = j - A
#pragma unroll
    for (int m = 0; m < SIZE; ++m) win[m] = 0.f;
    const int64_t stop = r.end + A;
    for (int64_t j0 = r.begin - B; j0 < stop; j0 += AHEAD) {  // the first SIZE - 1 steps only fill the window
      float ahead[AHEAD];
#pragma unroll
      for (int q = 0; q < AHEAD; ++q) ahead[q] = j0 + q < stop ? load_channel(x + r.offset, j0 + q, s.C, s.S) : 0.f;
#pragma unroll
      for (int q = 0; q < AHEAD; ++q) {
        const int64_t c = j0 + q - A;
        if (c + A >= stop) break;
        shift_in(win, ahead[q]);
        if (c < r.begin) continue;
        const float scale = lrn::scale(sum_of_squares(win), p.alpha_over_size, p.k);
        y[r.offset + c * s.S] = from_float<T>(lrn::forward(win[B], inv_pow_s<kBeta075>(scale, p.beta)));
      }
    }
  }
}

template <typename T, int SIZE, bool kBeta075>
__global__ void lrn_backward_sliding_kernel(const T* __restrict__ dy, const T* __restrict__ x, T* __restrict__ dx,
                                            LrnShape s, LrnParams p, Runs runs) {
  constexpr int B = SIZE / 2, A = (SIZE - 1) / 2;
  const float coef = 2.f * p.alpha_over_size * p.beta;
  for (int64_t i = grid_thread(); i < s.N * s.S * runs.count; i += grid_threads()) {
    const Run r = locate_run(i, s, runs);
    // Step j computes t_j = dy_j x_j s_j^(-beta-1) from x over [j - B, j + A] (win), then dx_c for
    // c = j - B, whose backward window [c - A, c + B] = [j - SIZE + 1, j] is what t holds. The
    // first SIZE - 1 steps only fill win; t is right from step begin - A on.
    float win[SIZE], t[SIZE], dys[B + 1], invs[B + 1];
#pragma unroll
    for (int m = 0; m < SIZE; ++m) win[m] = t[m] = 0.f;
#pragma unroll
    for (int m = 0; m <= B; ++m) dys[m] = invs[m] = 0.f;
    const int64_t first_dy = r.begin - A, stop = r.end + B;
    for (int64_t j0 = r.begin - A - (SIZE - 1); j0 < stop; j0 += AHEAD) {
      float x_ahead[AHEAD], dy_ahead[AHEAD];
#pragma unroll
      for (int q = 0; q < AHEAD; ++q) {
        const int64_t j = j0 + q;
        x_ahead[q] = j < stop ? load_channel(x + r.offset, j + A, s.C, s.S) : 0.f;
        dy_ahead[q] = j < stop && j >= first_dy ? load_channel(dy + r.offset, j, s.C, s.S) : 0.f;
      }
#pragma unroll
      for (int q = 0; q < AHEAD; ++q) {
        const int64_t j = j0 + q;
        if (j >= stop) break;
        shift_in(win, x_ahead[q]);
        const float scale = lrn::scale(sum_of_squares(win), p.alpha_over_size, p.k);
        const float inv = inv_pow_s<kBeta075>(scale, p.beta);
        shift_in(t, (j >= 0 && j < s.C) ? lrn::backward_term(dy_ahead[q], win[B], inv, scale) : 0.f);
        shift_in(dys, dy_ahead[q]);
        shift_in(invs, inv);
        const int64_t c = j - B;  // x_c left the window's front: win[0]
        if (c >= r.begin)
          dx[r.offset + c * s.S] = from_float<T>(lrn::backward(dys[0], win[0], invs[0], sum_of(t), coef));
      }
    }
  }
}

// ---- channels_last: a thread per pixel and 16-byte pack of V channels

// x (or dy) over channels [c0 - H * V, c0 + (H + 1) * V) of one pixel, as floats: its own pack and
// H packs each side (zeros outside [0, C); C is a multiple of V).
template <typename T, int V, int H>
__device__ __forceinline__ void load_packs(const T* pixel, int64_t c0, int64_t C, float (&v)[(2 * H + 1) * V]) {
#pragma unroll
  for (int q = -H; q <= H; ++q) {
    const int64_t c = c0 + q * V;
    Pack<T, V> pack;
    if (c >= 0 && c < C) pack = *reinterpret_cast<const Pack<T, V>*>(pixel + c);
#pragma unroll
    for (int m = 0; m < V; ++m) v[(q + H) * V + m] = (c >= 0 && c < C) ? to_float(pack.v[m]) : 0.f;
  }
}

__host__ __device__ constexpr int packs_to_cover(int channels, int V) { return (channels + V - 1) / V; }

template <typename T, int SIZE, int V, bool kBeta075>
__global__ void lrn_forward_packed_kernel(const T* __restrict__ x, T* __restrict__ y, LrnShape s, LrnParams p) {
  constexpr int B = SIZE / 2, A = (SIZE - 1) / 2, H = packs_to_cover(B, V);
  const int64_t packs = s.C / V;
  for (int64_t i = grid_thread(); i < s.N * s.S * packs; i += grid_threads()) {
    const int64_t c0 = i % packs * V;
    float v[(2 * H + 1) * V];
    load_packs<T, V, H>(x + (i * V - c0), c0, s.C, v);
    Pack<T, V> out;
#pragma unroll
    for (int m = 0; m < V; ++m) {
      float sum = 0.f;
#pragma unroll
      for (int d = -B; d <= A; ++d) sum += v[H * V + m + d] * v[H * V + m + d];
      const float scale = lrn::scale(sum, p.alpha_over_size, p.k);
      out.v[m] = from_float<T>(lrn::forward(v[H * V + m], inv_pow_s<kBeta075>(scale, p.beta)));
    }
    reinterpret_cast<Pack<T, V>*>(y)[i] = out;
  }
}

template <typename T, int SIZE, int V, bool kBeta075>
__global__ void lrn_backward_packed_kernel(const T* __restrict__ dy, const T* __restrict__ x, T* __restrict__ dx,
                                           LrnShape s, LrnParams p) {
  constexpr int B = SIZE / 2, A = (SIZE - 1) / 2;
  constexpr int HX = packs_to_cover(A + B, V), HD = packs_to_cover(B, V);  // x: t's windows' windows
  constexpr int J0 = -A, J1 = V - 1 + B;  // t_j over the channels [c0 + J0, c0 + J1] the pack's dx need
  const float coef = 2.f * p.alpha_over_size * p.beta;
  const int64_t packs = s.C / V;
  for (int64_t i = grid_thread(); i < s.N * s.S * packs; i += grid_threads()) {
    const int64_t c0 = i % packs * V, pixel = i * V - c0;
    float xv[(2 * HX + 1) * V], dyv[(2 * HD + 1) * V];
    load_packs<T, V, HX>(x + pixel, c0, s.C, xv);
    load_packs<T, V, HD>(dy + pixel, c0, s.C, dyv);
    float t[J1 - J0 + 1], inv_own[V];
#pragma unroll
    for (int j = J0; j <= J1; ++j) {  // channels outside [0, C) have x = dy = 0: t_j = 0
      float sum = 0.f;
#pragma unroll
      for (int d = -B; d <= A; ++d) sum += xv[HX * V + j + d] * xv[HX * V + j + d];
      const float scale = lrn::scale(sum, p.alpha_over_size, p.k);
      const float inv = inv_pow_s<kBeta075>(scale, p.beta);
      t[j - J0] = lrn::backward_term(dyv[HD * V + j], xv[HX * V + j], inv, scale);
      if (j >= 0 && j < V) inv_own[j] = inv;
    }
    Pack<T, V> out;
#pragma unroll
    for (int m = 0; m < V; ++m) {
      float sum_t = 0.f;
#pragma unroll
      for (int j = m - A; j <= m + B; ++j) sum_t += t[j - J0];
      out.v[m] = from_float<T>(lrn::backward(dyv[HD * V + m], xv[HX * V + m], inv_own[m], sum_t, coef));
    }
    reinterpret_cast<Pack<T, V>*>(dx)[i] = out;
  }
}

// Window sizes with compile-time kernels (sliding, packed).
constexpr int64_t MAX_FIXED_SIZE = 9;

// Calls body(std::integral_constant<int, SIZE>{}) for SIZE in [1, MAX_FIXED_SIZE]; false otherwise.
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

// The kernel for a shape: sliding (NCHW), packed (channels_last) or element-wise.
enum class LrnKernel { Sliding, Packed, PerElement };
template <typename T>
LrnKernel choose(const LrnShape& s, int64_t size, std::initializer_list<const void*> pointers) {
  if (size > MAX_FIXED_SIZE) return LrnKernel::PerElement;
  if (!s.channels_last) return LrnKernel::Sliding;
  return s.C % pack16<T> == 0 && aligned16(pointers) ? LrnKernel::Packed : LrnKernel::PerElement;
}

}  // namespace

cudaError_t lrn_forward(DType dtype, const void* x, void* y, LrnShape shape, LrnParams params, lrn::Power power,
                        cudaStream_t stream) {
  if (shape.N * shape.C * shape.S == 0) return cudaSuccess;
  return dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    constexpr int V = pack16<T>;
    const auto X = static_cast<const T*>(x);
    const auto Y = static_cast<T*>(y);
    const LrnKernel kernel = choose<T>(shape, params.size, {x, y});
    lrn::with_power(power, [&](auto beta075) {
      constexpr bool B075 = decltype(beta075)::value;
      switch (kernel) {
        case LrnKernel::Sliding: {
          const Runs runs = channel_runs(shape);
          with_window_size(params.size, [&](auto size) {
            lrn_forward_sliding_kernel<T, decltype(size)::value, B075>
                <<<blocks_for(shape.N * shape.S * runs.count), THREADS, 0, stream>>>(X, Y, shape, params, runs);
          });
          break;
        }
        case LrnKernel::Packed:
          with_window_size(params.size, [&](auto size) {
            lrn_forward_packed_kernel<T, decltype(size)::value, V, B075>
                <<<blocks_for(shape.N * shape.S * shape.C / V), THREADS, 0, stream>>>(X, Y, shape, params);
          });
          break;
        case LrnKernel::PerElement:
          lrn_forward_kernel<T, B075>
              <<<blocks_for(shape.N * shape.C * shape.S), THREADS, 0, stream>>>(X, Y, shape, params);
          break;
      }
    });
  });
}

cudaError_t lrn_backward(DType dtype, const void* dy, const void* x, void* dx, LrnShape shape, LrnParams params,
                         lrn::Power power, cudaStream_t stream) {
  if (shape.N * shape.C * shape.S == 0) return cudaSuccess;
  return dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    constexpr int V = pack16<T>;
    const auto DY = static_cast<const T*>(dy);
    const auto X = static_cast<const T*>(x);
    const auto DX = static_cast<T*>(dx);
    const LrnKernel kernel = choose<T>(shape, params.size, {dy, x, dx});
    lrn::with_power(power, [&](auto beta075) {
      constexpr bool B075 = decltype(beta075)::value;
      switch (kernel) {
        case LrnKernel::Sliding: {
          const Runs runs = channel_runs(shape);
          with_window_size(params.size, [&](auto size) {
            lrn_backward_sliding_kernel<T, decltype(size)::value, B075>
                <<<blocks_for(shape.N * shape.S * runs.count), THREADS, 0, stream>>>(DY, X, DX, shape, params, runs);
          });
          break;
        }
        case LrnKernel::Packed:
          with_window_size(params.size, [&](auto size) {
            lrn_backward_packed_kernel<T, decltype(size)::value, V, B075>
                <<<blocks_for(shape.N * shape.S * shape.C / V), THREADS, 0, stream>>>(DY, X, DX, shape, params);
          });
          break;
        case LrnKernel::PerElement:
          lrn_backward_kernel<T, B075>
              <<<blocks_for(shape.N * shape.C * shape.S), THREADS, 0, stream>>>(DY, X, DX, shape, params);
          break;
      }
    });
  });
}

}  // namespace cnnkernels::cuda
