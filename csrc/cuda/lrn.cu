// LRN on the GPU; the backward recomputes the scales from x: it reads only x and dy.
//  - Window sizes 1-9, NCHW, or channels_last with C a multiple of a 16-byte pack: sliding kernels. A
//    thread walks down the channels of its pixels a chunk of V channels at a time, holding the window in
//    registers, so x (and dy) are read from memory once. NCHW: a thread has P pixels 32 apart, so a warp's
//    loads of one channel are coalesced and a thread's P loads share one address; channels_last: one
//    pixel, and a chunk is one 16-byte load. Runs of chunks give enough warps when N * H * W is small
//    (the window's halo is then read twice).
//  - Otherwise: a thread per element re-reads the window (from the caches).
// The steady state (whole chunks inside [0, C), every pixel of the warp present) has no bounds checks;
// the first chunks of a run, its last ones and partial pixel groups take the same code with checks.
#include <type_traits>

#include "common.cuh"
#include "lrn.h"

namespace cnnkernels::cuda {
namespace {

using LrnShape = lrn::Shape;
using LrnParams = lrn::Params<float>;

// ---- s^-beta

// The hardware's approximate 1/sqrt and sqrt (one MUFU instruction each, a few ulp; flush-to-zero).
// (Under the CPU emulation of these kernels: the exact ones.)
__device__ __forceinline__ float approx_rsqrt(float v) {
#ifdef __CUDA_ARCH__
  float r;
  asm("rsqrt.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(v));
  return r;
#else
  return 1.f / std::sqrt(v);
#endif
}
__device__ __forceinline__ float approx_sqrt(float v) {
#ifdef __CUDA_ARCH__
  float r;
  asm("sqrt.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(v));
  return r;
#else
  return std::sqrt(v);
#endif
}

// s^-beta. kFast is lrn::Power::ThreeQuarters, whose s >=
// k >= FLT_MIN is never subnormal: s^-3/4 = r * sqrt(r) and s^-7/4 = s^-3/4 * r * r with r = 1/sqrt(s),
// approximate (within ~1e-6 relative, no branch), 0 for s = inf as pow gives. Else pow and a division,
// exactly (lrn.h).
template <bool kFast>
__device__ __forceinline__ float inv_pow(float s, float beta) {
  if constexpr (kFast) {
    const float r = approx_rsqrt(s);
    return r * approx_sqrt(r);
  } else {
    return lrn::inv_pow(s, beta);
  }
}

// The backward's t = dy * x * s^(-beta-1), with dy * s^-beta (dx's first term) on the way.
template <bool kFast>
__device__ __forceinline__ float backward_t(float dy, float x, float s, float beta, float& dy_inv) {
  if constexpr (kFast) {
    const float r = approx_rsqrt(s);
    dy_inv = dy * (r * approx_sqrt(r));
    return dy_inv * x * (r * r);
  } else {
    const float inv = lrn::inv_pow(s, beta);
    dy_inv = dy * inv;
    return lrn::backward_term(dy, x, inv, s);
  }
}

// ---- a thread per element (any window size, any layout)

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

template <typename T, bool kFast>
__global__ void lrn_forward_kernel(const T* __restrict__ x, T* __restrict__ y, LrnShape s, LrnParams p) {
  const int64_t n = s.N * s.C * s.S;
  for (int64_t i = grid_thread(); i < n; i += grid_threads()) {
    const Element e = locate(i, s);
    const float scale = lrn::scale(window_sum_squares(x, e, e.c, s, p), p.alpha_over_size, p.k);
    y[i] = from_float<T>(lrn::forward(to_float(x[i]), inv_pow<kFast>(scale, p.beta)));
  }
}

template <typename T, bool kFast>
__global__ void lrn_backward_kernel(const T* __restrict__ dy, const T* __restrict__ x, T* __restrict__ dx, LrnShape s,
                                    LrnParams p) {
  const int64_t n = s.N * s.C * s.S;
  const float coef = 2.f * p.alpha_over_size * p.beta;
  for (int64_t i = grid_thread(); i < n; i += grid_threads()) {
    const Element e = locate(i, s);
    const int64_t lo = max(int64_t(0), e.c - lrn::backward_window_before(p.size));
    const int64_t hi = min(s.C - 1, e.c + lrn::backward_window_after(p.size));
    float sum_t = 0.f, dy_inv_c = 0.f;
    for (int64_t j = lo; j <= hi; ++j) {
      const int64_t at = e.channel0 + j * e.channel_stride;
      const float scale = lrn::scale(window_sum_squares(x, e, j, s, p), p.alpha_over_size, p.k);
      float dy_inv;
      sum_t += backward_t<kFast>(to_float(dy[at]), to_float(x[at]), scale, p.beta, dy_inv);
      if (j == e.c) dy_inv_c = dy_inv;
    }
    dx[i] = from_float<T>(dy_inv_c - coef * to_float(x[i]) * sum_t);  // lrn::backward
  }
}

// ---- sliding down the channels

// A sliding launch's work: warp item w is pixel group w % groups of image w / (groups * runs), and the
// chunks [r * run_chunks, (r + 1) * run_chunks) of run r = w / groups % runs. Chunks are V channels
// (the last one partial when V does not divide C); a group is the 32 * P pixels of a warp.
struct SlidingWork {
  int32_t C = 0, S = 0;
  uint32_t items = 0, chunks = 0, run_chunks = 0;
  FastDivisor groups{1}, runs{1};
};

// Where a lane's elements are: channel c of its pixel q at c * channel_stride + 32 * q (NCHW: pixels
// 32 apart) from its pointers, or (channels_last, P = 1) chunk k as one pack at k * V.
template <int P, int V, bool kPacked>
struct Lanes {
  int64_t offset;          // of channel 0 of the lane's first pixel
  int32_t C, channel_stride;
  int32_t kb, ke;          // the run's chunks [kb, ke)
  bool valid[P];           // the pixel exists
  bool full;               // every pixel of the warp's group exists: the same for the whole warp

  __device__ __forceinline__ Lanes(uint32_t item, const SlidingWork& w) {
    const uint32_t run_of_image = w.groups.div(item), n = w.runs.div(run_of_image);
    const uint32_t group = item - run_of_image * w.groups.divisor, run = run_of_image - n * w.runs.divisor;
    constexpr int GROUP = 32 * P;
    const int32_t pixel = int32_t(group) * GROUP + int32_t(threadIdx.x % 32);
    C = w.C;
    offset = kPacked ? (int64_t(n) * w.S + pixel) * w.C : int64_t(n) * w.C * w.S + pixel;
    channel_stride = kPacked ? 1 : w.S;
#pragma unroll
    for (int q = 0; q < P; ++q) valid[q] = pixel + 32 * q < w.S;
    full = (int32_t(group) + 1) * GROUP <= w.S;
    kb = int32_t(run * w.run_chunks);
    ke = min(int32_t(w.chunks), kb + int32_t(w.run_chunks));
  }

  // Channel c (any, even negative) of pixel q; 0 outside the tensor.
  template <typename T>
  __device__ __forceinline__ float load_channel(const T* p, int32_t c, int q) const {
    return c >= 0 && c < C && valid[q] ? to_float(p[c * channel_stride + 32 * q]) : 0.f;
  }

  // Chunk k; kChecked: channels past C and missing pixels read 0.
  template <bool kChecked, typename T>
  __device__ __forceinline__ void load(const T* p, int32_t k, float (&v)[P][V]) const {
    if constexpr (kPacked) {
      Pack<T, V> pack;
      const bool inside = !kChecked || (valid[0] && k * V < C);  // C is a multiple of V
      if (inside) pack = reinterpret_cast<const Pack<T, V>*>(p)[k];
#pragma unroll
      for (int u = 0; u < V; ++u) v[0][u] = inside ? to_float(pack.v[u]) : 0.f;
    } else {
#pragma unroll
      for (int u = 0; u < V; ++u) {
#pragma unroll
        for (int q = 0; q < P; ++q) {
          v[q][u] = kChecked ? load_channel(p, k * V + u, q) : to_float(p[(k * V + u) * channel_stride + 32 * q]);
        }
      }
    }
  }

  template <bool kChecked, typename T>
  __device__ __forceinline__ void store(T* p, int32_t k, const float (&v)[P][V]) const {
    if constexpr (kPacked) {
      Pack<T, V> pack;
#pragma unroll
      for (int u = 0; u < V; ++u) pack.v[u] = from_float<T>(v[0][u]);
      if (!kChecked || valid[0]) reinterpret_cast<Pack<T, V>*>(p)[k] = pack;
    } else {
#pragma unroll
      for (int u = 0; u < V; ++u) {
#pragma unroll
        for (int q = 0; q < P; ++q) {
          const int32_t c = k * V + u;
          if (!kChecked || (c < C && valid[q])) p[c * channel_stride + 32 * q] = from_float<T>(v[q][u]);
        }
      }
    }
  }
};

// v[.][0, N - V) <- v[.][V, N): the window moves a chunk on (registers: N and V are compile-time).
template <int P, int N, int V>
__device__ __forceinline__ void shift(float (&v)[P][N]) {
#pragma unroll
  for (int q = 0; q < P; ++q) {
#pragma unroll
    for (int i = 0; i + V < N; ++i) v[q][i] = v[q][i + V];
  }
}

template <int P, int N, int V>
__device__ __forceinline__ void put_last(float (&v)[P][N], const float (&chunk)[P][V]) {
#pragma unroll
  for (int q = 0; q < P; ++q) {
#pragma unroll
    for (int u = 0; u < V; ++u) v[q][N - V + u] = chunk[q][u];
  }
}

// Sum of v[from, from + N) squared.
template <int N, int LEN>
__device__ __forceinline__ float sum_of_squares(const float (&v)[LEN], int from) {
  float s = 0.f;
#pragma unroll
  for (int d = 0; d < N; ++d) s += v[from + d] * v[from + d];
  return s;
}
// out[i] = v[i] + ... + v[i + N - 1] for every i < M, with van Herk's and Gil-Werman's prefix and suffix
// sums over blocks of N: about 3 additions per window instead of N - 1.
template <int N, int M, int LEN>
__device__ __forceinline__ void window_sums(const float (&v)[LEN], float (&out)[M]) {
  static_assert(M + N - 1 <= LEN, "windows past the array");
  constexpr int SPAN = M + N - 1;
  float prefix[SPAN], suffix[SPAN];  // over v's block of N: from its start to j, from j to its end
#pragma unroll
  for (int j = 0; j < SPAN; ++j) prefix[j] = j % N == 0 ? v[j] : prefix[j - 1] + v[j];
#pragma unroll
  for (int j = SPAN - 1; j >= 0; --j) suffix[j] = j % N == N - 1 || j == SPAN - 1 ? v[j] : v[j] + suffix[j + 1];
#pragma unroll
  for (int i = 0; i < M; ++i) out[i] = i % N == 0 ? prefix[i + N - 1] : suffix[i] + prefix[i + N - 1];
}

// A sliding kernel's run: advance(k, checked) loads chunk k, write(m, checked) writes chunk m = k - LAG
// once chunk k is loaded (its windows reach LAG chunks ahead). Chunks [kb, kb + LAG) only load; then the
// steady state (chunk k inside [0, C) and every pixel of the warp present) runs unchecked, the rest
// checked, up to ke + LAG.
template <int P, int V, bool kPacked, typename Advance, typename Write>
__device__ __forceinline__ void slide(const Lanes<P, V, kPacked>& at, int LAG, Advance&& advance, Write&& write) {
  const int32_t steady = at.kb + LAG, end = at.ke + LAG;
  const int32_t tail = at.full ? max(steady, min(end, at.C / V)) : steady;
  int32_t k = at.kb;
  for (; k < steady; ++k) advance(k, std::true_type{});
  for (; k < tail; ++k) {
    advance(k, std::false_type{});
    write(k - LAG, std::false_type{});
  }
  for (; k < end; ++k) {
    advance(k, std::true_type{});
    write(k - LAG, std::true_type{});
  }
}

template <typename T, int SIZE, int P, int V, bool kPacked, bool kFast>
__global__ void lrn_forward_sliding_kernel(const T* __restrict__ x, T* __restrict__ y, SlidingWork work, LrnParams p) {
  constexpr int B = SIZE / 2, A = (SIZE - 1) / 2;  // channels before / after c in its window
  constexpr int LAG = (A + V - 1) / V;  // chunk k - LAG is written once chunk k is loaded: its windows reach A past it
  constexpr int LEN = B + (LAG + 1) * V;  // w: x over channels [(k - LAG) V - B, (k + 1) V) once chunk k is loaded
  for (int64_t item = grid_thread() / 32; item < work.items; item += grid_threads() / 32) {
    const Lanes<P, V, kPacked> at(uint32_t(item), work);
    const T* xp = x + at.offset;
    T* yp = y + at.offset;
    float w[P][LEN];
    const int32_t c0 = at.kb * V - LEN;  // the channel at w[0] before the first chunk: as if chunk kb - 1 was loaded
#pragma unroll
    for (int q = 0; q < P; ++q) {
#pragma unroll
      for (int i = 0; i < LEN; ++i) w[q][i] = i >= LEN - B ? at.load_channel(xp, c0 + i, q) : 0.f;
    }
    auto advance = [&](int32_t k, auto checked) {
      float chunk[P][V];
      at.template load<decltype(checked)::value>(xp, k, chunk);
      shift<P, LEN, V>(w);
      put_last(w, chunk);
    };
    auto write = [&](int32_t m, auto checked) {  // chunk m = k - LAG: its channel m V + i has window w[i, i + SIZE)
      float out[P][V];
#pragma unroll
      for (int i = 0; i < V; ++i) {
#pragma unroll
        for (int q = 0; q < P; ++q) {
          const float scale = lrn::scale(sum_of_squares<SIZE>(w[q], i), p.alpha_over_size, p.k);
          out[q][i] = lrn::forward(w[q][i + B], inv_pow<kFast>(scale, p.beta));
        }
      }
      at.template store<decltype(checked)::value>(yp, m, out);
    };
    slide(at, LAG, advance, write);
  }
}

// At most 80 registers (three blocks per SM, for the loads in flight), but for 16-bit packs of 8
// channels and for windows wider than 5, which take more (at 80, they spill to the stack).
template <typename T, int SIZE, int P, int V, bool kPacked, bool kFast>
__global__ void __launch_bounds__(THREADS, V >= 8 || SIZE > 5 ? 2 : 3) lrn_backward_sliding_kernel(const T* __restrict__ dy, const T* __restrict__ x, T* __restrict__ dx,
                                            SlidingWork work, LrnParams p) {
  constexpr int B = SIZE / 2, A = (SIZE - 1) / 2;
  // dx_c needs t over c's backward window [c - A, c + B], and t_j needs x over [j - B, j + A]: chunk
  // k - LAG is written once chunk k is loaded.
  constexpr int LAG = (A + B + V - 1) / V;
  // Once chunk k is loaded, for the channels [(k - LAG) V, (k + 1) V): xs and dys hold x and dy,
  // dyinv dy * s^-beta, and ts t shifted by A (ts[i] is t at channel (k - LAG) V - A + i).
  constexpr int LEN = (LAG + 1) * V;
  const float coef = 2.f * p.alpha_over_size * p.beta;
  for (int64_t item = grid_thread() / 32; item < work.items; item += grid_threads() / 32) {
    const Lanes<P, V, kPacked> at(uint32_t(item), work);
    const T* xp = x + at.offset;
    const T* dyp = dy + at.offset;
    T* dxp = dx + at.offset;
    float xs[P][LEN], dys[P][LEN], dyinv[P][LEN], ts[P][LEN];
    const int32_t c0 = at.kb * V - LEN;  // the channel at index 0 before the first chunk: as if chunk kb - 1 was loaded
#pragma unroll
    for (int q = 0; q < P; ++q) {
#pragma unroll
      for (int i = 0; i < LEN; ++i) {
        xs[q][i] = i >= LEN - A - B ? at.load_channel(xp, c0 + i, q) : 0.f;
        dys[q][i] = i >= LEN - A ? at.load_channel(dyp, c0 + i, q) : 0.f;
        dyinv[q][i] = ts[q][i] = 0.f;
      }
    }
    auto advance = [&](int32_t k, auto checked) {  // loads chunk k, and computes t for channels k V - A + [0, V)
      constexpr bool kChecked = decltype(checked)::value;
      float x_chunk[P][V], dy_chunk[P][V];
      at.template load<kChecked>(xp, k, x_chunk);
      at.template load<kChecked>(dyp, k, dy_chunk);
      shift<P, LEN, V>(xs);
      shift<P, LEN, V>(dys);
      shift<P, LEN, V>(dyinv);
      shift<P, LEN, V>(ts);
      put_last(xs, x_chunk);
      put_last(dys, dy_chunk);
#pragma unroll
      for (int u = 0; u < V; ++u) {
        constexpr int J = LAG * V - A;  // index in xs of the channel k V - A
#pragma unroll
        for (int q = 0; q < P; ++q) {
          const float scale = lrn::scale(sum_of_squares<SIZE>(xs[q], J - B + u), p.alpha_over_size, p.k);
          const float t = backward_t<kFast>(dys[q][J + u], xs[q][J + u], scale, p.beta, dyinv[q][J + u]);
          const int32_t j = k * V - A + u;
          ts[q][LAG * V + u] = kChecked && (j < 0 || j >= at.C) ? 0.f : t;  // no channel there: no t
        }
      }
    };
    auto write = [&](int32_t m, auto checked) {  // chunk m = k - LAG: channel m V + i at xs[i], its t window ts[i, i + SIZE)
      float out[P][V];
#pragma unroll
      for (int q = 0; q < P; ++q) {
        float sum_t[V];
        window_sums<SIZE>(ts[q], sum_t);
#pragma unroll
        for (int i = 0; i < V; ++i) out[q][i] = dyinv[q][i] - coef * xs[q][i] * sum_t[i];  // lrn::backward
      }
      at.template store<decltype(checked)::value>(dxp, m, out);
    };
    slide(at, LAG, advance, write);
  }
}

// ---- choosing and launching

// Window sizes with compile-time (sliding) kernels.
constexpr int64_t MAX_SLIDING_SIZE = 9;

// Calls body(std::integral_constant<int, SIZE>{}) for SIZE in [1, MAX_SLIDING_SIZE].
template <typename Body>
void with_window_size(int64_t size, Body&& body) {
  switch (size) {
    case 1: body(std::integral_constant<int, 1>{}); break;
    case 2: body(std::integral_constant<int, 2>{}); break;
    case 3: body(std::integral_constant<int, 3>{}); break;
    case 4: body(std::integral_constant<int, 4>{}); break;
    case 5: body(std::integral_constant<int, 5>{}); break;
    case 6: body(std::integral_constant<int, 6>{}); break;
    case 7: body(std::integral_constant<int, 7>{}); break;
    case 8: body(std::integral_constant<int, 8>{}); break;
    case 9: body(std::integral_constant<int, 9>{}); break;
  }
}

// NCHW sliding: P pixels a thread and chunks of V channels (P * V loads in flight per tensor, one
// address per channel). channels_last: one pixel, a 16-byte pack.
constexpr int NCHW_P = 2, NCHW_V = 4;

// The sliding launch for a shape, or none (items == 0) when a sliding kernel cannot take it: a window
// over 9 channels, an image of 2^31 elements or more (32-bit offsets inside an image), or
// channels_last with C not a whole number of packs or a pointer not aligned to one.
template <typename T>
SlidingWork sliding_work(const LrnShape& s, int64_t size, std::initializer_list<const void*> pointers) {
  constexpr int V_PACKED = pack16<T>;
  const int P = s.channels_last ? 1 : NCHW_P, V = s.channels_last ? V_PACKED : NCHW_V;
  const bool fits = size <= MAX_SLIDING_SIZE && s.C * s.S < (int64_t(1) << 31) &&
                    (!s.channels_last || (s.C % V_PACKED == 0 && aligned16(pointers)));
  const int64_t groups = (s.S + 32 * P - 1) / (32 * P), chunks = (s.C + V - 1) / V;
  // Runs of chunks: about two waves of 32 warps per SM on a 132-SM GPU, no run under 32 channels.
  constexpr int64_t TARGET_WARPS = 2 * 32 * 132, MIN_RUN = 32;
  const int64_t wanted = (TARGET_WARPS + s.N * groups - 1) / (s.N * groups);
  const int64_t count = std::max<int64_t>(1, std::min(wanted, s.C / MIN_RUN));
  const int64_t run_chunks = (chunks + count - 1) / count, runs = (chunks + run_chunks - 1) / run_chunks;
  const int64_t items = s.N * groups * runs;
  if (!fits || items >= (int64_t(1) << 32)) return SlidingWork{};
  return {int32_t(s.C), int32_t(s.S), uint32_t(items), uint32_t(chunks), uint32_t(run_chunks),
          FastDivisor(uint32_t(groups)), FastDivisor(uint32_t(runs))};
}

// Grid for a sliding launch: a warp per item.
inline unsigned int sliding_blocks(const SlidingWork& w) { return blocks_for(int64_t(w.items) * 32); }

}  // namespace

cudaError_t lrn_forward(DType dtype, const void* x, void* y, LrnShape shape, LrnParams params, lrn::Power power,
                        cudaStream_t stream) {
  if (shape.N * shape.C * shape.S == 0) return cudaSuccess;
  return dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    const auto X = static_cast<const T*>(x);
    const auto Y = static_cast<T*>(y);
    const SlidingWork work = sliding_work<T>(shape, params.size, {x, y});
    lrn::with_power(power, [&](auto fast) {
      constexpr bool kFast = decltype(fast)::value;
      if (work.items == 0) {
        lrn_forward_kernel<T, kFast><<<blocks_for(shape.N * shape.C * shape.S), THREADS, 0, stream>>>(X, Y, shape, params);
        return;
      }
      with_window_size(params.size, [&](auto size) {
        constexpr int SIZE = decltype(size)::value;
        if (shape.channels_last) {
          lrn_forward_sliding_kernel<T, SIZE, 1, pack16<T>, true, kFast>
              <<<sliding_blocks(work), THREADS, 0, stream>>>(X, Y, work, params);
        } else {
          lrn_forward_sliding_kernel<T, SIZE, NCHW_P, NCHW_V, false, kFast>
              <<<sliding_blocks(work), THREADS, 0, stream>>>(X, Y, work, params);
        }
      });
    });
  });
}

cudaError_t lrn_backward(DType dtype, const void* dy, const void* x, void* dx, LrnShape shape, LrnParams params,
                         lrn::Power power, cudaStream_t stream) {
  if (shape.N * shape.C * shape.S == 0) return cudaSuccess;
  return dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    const auto DY = static_cast<const T*>(dy);
    const auto X = static_cast<const T*>(x);
    const auto DX = static_cast<T*>(dx);
    const SlidingWork work = sliding_work<T>(shape, params.size, {dy, x, dx});
    lrn::with_power(power, [&](auto fast) {
      constexpr bool kFast = decltype(fast)::value;
      if (work.items == 0) {
        lrn_backward_kernel<T, kFast>
            <<<blocks_for(shape.N * shape.C * shape.S), THREADS, 0, stream>>>(DY, X, DX, shape, params);
        return;
      }
      with_window_size(params.size, [&](auto size) {
        constexpr int SIZE = decltype(size)::value;
        if (shape.channels_last) {
          lrn_backward_sliding_kernel<T, SIZE, 1, pack16<T>, true, kFast>
              <<<sliding_blocks(work), THREADS, 0, stream>>>(DY, X, DX, work, params);
        } else {
          lrn_backward_sliding_kernel<T, SIZE, NCHW_P, NCHW_V, false, kFast>
              <<<sliding_blocks(work), THREADS, 0, stream>>>(DY, X, DX, work, params);
        }
      });
    });
  });
}

}  // namespace cnnkernels::cuda
