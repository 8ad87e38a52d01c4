// Max-pool 2-D on the GPU.
//  Forward: a thread per output position (channels_last: per output position and 16-byte pack of
//  channels), writing the one-byte argmax only when training.
//  Backward: a thread per input position (pack) gathers the gradients of the windows whose argmax
//  it is (max_pool2d::window_with_tap_at): no atomics, no zero-fill pass, deterministic.
// Fast paths: the window's geometry as compile-time constants (max_pool2d::with_window: 3x3/2,
// 3x3/1, 2x2/2), index arithmetic in 32 bits when every tensor has fewer than 2^31 elements, and
// 16-byte packs of channels when channels_last and C allows.
#include <limits>

#include "common.cuh"
#include "max_pool2d.h"

namespace cnnkernels::cuda {
namespace {

using max_pool2d::end_tap;
using max_pool2d::first_tap;
using max_pool2d::PoolShape;
using max_pool2d::PoolWindow;
using max_pool2d::takes_over;
using max_pool2d::window_with_tap_at;

// Division by one of a launch's sizes: FastDivisor's multiply and shift for 32-bit indices, plain
// division for 64-bit ones.
struct Divisor {
  FastDivisor fast;
  int64_t value;

  explicit Divisor(int64_t d = 1) : fast(d < (int64_t(1) << 31) ? uint32_t(d) : 1u), value(d) {}
  template <typename index_t>
  __device__ __forceinline__ index_t div(index_t n) const {
    if constexpr (sizeof(index_t) == 4) {
      return index_t(fast.div(uint32_t(n)));
    } else {
      return n / value;
    }
  }
};

// The work items' index space: positions (row, col) of a rows x cols tensor and, channels_last,
// packs of V channels (packs per position).
struct ItemSpace {
  Divisor packs, cols, rows;
};

// Where work item i is, and how to address the other tensor of the pair: item i is position
// (row, col) (and, channels_last, pack i % packs of V channels), and (r, c) of the other tensor, of
// size other_rows x other_cols, is at base + (r * other_cols + c) * step.
template <typename index_t, int V>
struct Item {
  index_t row, col, base, step;

  __device__ __forceinline__ Item(index_t i, const PoolShape& s, const ItemSpace& space, index_t other_rows,
                                  index_t other_cols) {
    const index_t packs = index_t(space.packs.value), cols = index_t(space.cols.value);
    const index_t pixel = s.channels_last ? space.packs.div(i) : i;  // NCHW: one "pack" per position
    const index_t plane_row = space.cols.div(pixel);                 // (image or plane, row)
    const index_t plane = space.rows.div(plane_row);                 // channels_last: image; NCHW: n * C + c
    col = pixel - plane_row * cols;
    row = plane_row - plane * index_t(space.rows.value);
    if (s.channels_last) {
      base = plane * other_rows * other_cols * index_t(s.C) + (i - pixel * packs) * V;
      step = index_t(s.C);
    } else {
      base = plane * other_rows * other_cols;
      step = 1;
    }
  }
};

inline ItemSpace item_space(const PoolShape& s, int64_t rows, int64_t cols, int V) {
  return {Divisor(s.channels_last ? s.C / V : 1), Divisor(cols), Divisor(rows)};
}

// Items of a launch over positions of a tensor of spatial size rows x cols: NCHW one per element,
// channels_last one per pack of V channels. (Item i's own elements start at i * V either way.)
__host__ __device__ inline int64_t items(const PoolShape& s, int64_t rows, int64_t cols, int V) {
  return s.N * s.C / V * rows * cols;
}

template <typename T, typename index_t, typename arg_t, int V, typename Window>
__global__ void max_pool2d_forward_kernel(const T* __restrict__ x, T* __restrict__ y, arg_t* __restrict__ argmax,
                                          PoolShape s, ItemSpace space, Window k) {
  const index_t H = s.H, W = s.W, OH = s.OH, OW = s.OW, kw = k.kw(), dh = k.dh(), dw = k.dw();
  const int64_t total = items(s, s.OH, s.OW, V);
  for (int64_t item = grid_thread(); item < total; item += grid_threads()) {  // 64 bits: item + stride may pass 2^31
    const index_t i = index_t(item);
    const Item<index_t, V> at(i, s, space, H, W);  // (oh, ow) = (at.row, at.col); x through at.base
    const index_t h0 = at.row * index_t(k.sh()) - index_t(k.ph()), w0 = at.col * index_t(k.sw()) - index_t(k.pw());
    const index_t ki0 = first_tap(h0, dh), kj0 = first_tap(w0, dw);
    const bool empty = ki0 >= end_tap(h0, dh, index_t(k.kh()), H) || kj0 >= end_tap(w0, dw, kw, W);
    float best[V];
    arg_t best_tap[V];
#pragma unroll
    for (int j = 0; j < V; ++j) {
      best[j] = -INFINITY;
      best_tap[j] = empty ? 0 : arg_t(ki0 * kw + kj0);  // PyTorch's argmax when every value is -inf
    }
#pragma unroll
    for (index_t ki = 0; ki < index_t(k.kh()); ++ki) {
      const index_t h = h0 + ki * dh;
      if (h < 0 || h >= H) continue;
#pragma unroll
      for (index_t kj = 0; kj < kw; ++kj) {
        const index_t w = w0 + kj * dw;
        if (w < 0 || w >= W) continue;
        const Pack<T, V> v = *reinterpret_cast<const Pack<T, V>*>(x + at.base + (h * W + w) * at.step);
#pragma unroll
        for (int j = 0; j < V; ++j) {
          const float f = to_float(v.v[j]);
          if (takes_over(f, best[j])) {
            best[j] = f;
            best_tap[j] = arg_t(ki * kw + kj);
          }
        }
      }
    }
    Pack<T, V> out;
#pragma unroll
    for (int j = 0; j < V; ++j) out.v[j] = from_float<T>(best[j]);
    reinterpret_cast<Pack<T, V>*>(y)[i] = out;
    if (argmax != nullptr) {
      Pack<arg_t, V> taps;
#pragma unroll
      for (int j = 0; j < V; ++j) taps.v[j] = best_tap[j];
      reinterpret_cast<Pack<arg_t, V>*>(argmax)[i] = taps;
    }
  }
}

template <typename T, typename index_t, typename arg_t, int V, typename Window>
__global__ void max_pool2d_backward_kernel(const T* __restrict__ dy, const arg_t* __restrict__ argmax,
                                           T* __restrict__ dx, PoolShape s, ItemSpace space, Window k) {
  const index_t H = s.H, W = s.W, OH = s.OH, OW = s.OW, kw = k.kw();
  const int64_t total = items(s, s.H, s.W, V);
  for (int64_t item = grid_thread(); item < total; item += grid_threads()) {
    const index_t i = index_t(item);
    const Item<index_t, V> at(i, s, space, OH, OW);  // (ih, iw) = (at.row, at.col); dy, argmax through at.base
    float sum[V];
#pragma unroll
    for (int j = 0; j < V; ++j) sum[j] = 0.f;
    auto gather = [&](index_t oh, index_t ow, index_t tap) {  // adds dy of window (oh, ow) where tap is its argmax
      const index_t o = at.base + (oh * OW + ow) * at.step;
      const Pack<arg_t, V> taps = *reinterpret_cast<const Pack<arg_t, V>*>(argmax + o);
      const Pack<T, V> g = *reinterpret_cast<const Pack<T, V>*>(dy + o);
#pragma unroll
      for (int j = 0; j < V; ++j) {
        if (index_t(taps.v[j]) == tap) sum[j] += to_float(g.v[j]);
      }
    };
    if constexpr (Window::fixed) {
      // The windows over (ih, iw) directly: oh with oh * SH <= ih + ph < oh * SH + KH, at most
      // ceil(KH / SH) of them (2 x 2 for 3x3/2), each tap ih + ph - oh * SH.
      constexpr index_t KH = Window::fixed_kh, KW = Window::fixed_kw, SH = Window::fixed_sh, SW = Window::fixed_sw;
      const index_t th = at.row + index_t(k.ph()), tw = at.col + index_t(k.pw());
      const index_t oh0 = th >= KH ? (th - KH) / SH + 1 : 0, oh1 = min(th / SH, OH - 1);
      const index_t ow0 = tw >= KW ? (tw - KW) / SW + 1 : 0, ow1 = min(tw / SW, OW - 1);
#pragma unroll
      for (index_t oh = oh0; oh < oh0 + (KH + SH - 1) / SH; ++oh) {
        if (oh > oh1) break;
#pragma unroll
        for (index_t ow = ow0; ow < ow0 + (KW + SW - 1) / SW; ++ow) {
          if (ow > ow1) break;
          gather(oh, ow, (th - oh * SH) * KW + (tw - ow * SW));
        }
      }
    } else {
#pragma unroll
      for (index_t ki = 0; ki < index_t(k.kh()); ++ki) {
        const index_t oh = window_with_tap_at(at.row, ki, index_t(k.sh()), index_t(k.ph()), index_t(k.dh()), OH);
        if (oh < 0) continue;
#pragma unroll
        for (index_t kj = 0; kj < kw; ++kj) {
          const index_t ow = window_with_tap_at(at.col, kj, index_t(k.sw()), index_t(k.pw()), index_t(k.dw()), OW);
          if (ow >= 0) gather(oh, ow, ki * kw + kj);
        }
      }
    }
    Pack<T, V> out;
#pragma unroll
    for (int j = 0; j < V; ++j) out.v[j] = from_float<T>(sum[j]);
    reinterpret_cast<Pack<T, V>*>(dx)[i] = out;
  }
}

// Calls body(index_t{}, arg_t{}, integral_constant<int, V>{}, window) for the fastest kernel that
// fits: 32-bit indices when every tensor has fewer than 2^31 elements; one-byte argmax (windows of
// at most 256 positions) with compile-time window geometry; 16-byte packs of channels when
// channels_last, C is a multiple of the pack and every pointer is aligned to it. Else 64-bit
// indices, run-time geometry, one element per thread.
template <typename T, typename Body>
void with_kernel_choice(const PoolShape& s, const PoolWindow& window, int argmax_bytes,
                        std::initializer_list<const void*> pointers, Body&& body) {
  using max_pool2d::Window;
  const int64_t largest = s.N * s.C * std::max(s.H * s.W, s.OH * s.OW);
  constexpr int V = pack16<T>;
  const bool packed = s.channels_last && s.C % V == 0 && aligned16(pointers);
  if (largest > std::numeric_limits<int32_t>::max() || argmax_bytes == 4) {
    const Window<0, 0, 0, 0> generic{window};
    if (argmax_bytes == 4) {
      body(int64_t{}, int32_t{}, std::integral_constant<int, 1>{}, generic);
    } else {
      body(int64_t{}, uint8_t{}, std::integral_constant<int, 1>{}, generic);
    }
    return;
  }
  max_pool2d::with_window(window, [&](const auto& w) {
    if (packed) {
      body(int32_t{}, uint8_t{}, std::integral_constant<int, V>{}, w);
    } else {
      body(int32_t{}, uint8_t{}, std::integral_constant<int, 1>{}, w);
    }
  });
}

}  // namespace

cudaError_t max_pool2d_forward(DType dtype, const void* x, void* y, void* argmax, int argmax_bytes, PoolShape shape,
                               PoolWindow window, cudaStream_t stream) {
  if (shape.N * shape.C * shape.OH * shape.OW == 0) return cudaSuccess;
  return dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    with_kernel_choice<T>(shape, window, argmax_bytes, {x, y, argmax},
                          [&](auto index, auto arg, auto v, const auto& w) {
                            using index_t = decltype(index);
                            using arg_t = decltype(arg);
                            constexpr int V = decltype(v)::value;
                            using Window = std::decay_t<decltype(w)>;
                            max_pool2d_forward_kernel<T, index_t, arg_t, V, Window>
                                <<<blocks_for(items(shape, shape.OH, shape.OW, V)), THREADS, 0, stream>>>(
                                    static_cast<const T*>(x), static_cast<T*>(y), static_cast<arg_t*>(argmax), shape,
                                    item_space(shape, shape.OH, shape.OW, V), w);
                          });
  });
}

cudaError_t max_pool2d_backward(DType dtype, const void* dy, const void* argmax, int argmax_bytes, void* dx,
                                PoolShape shape, PoolWindow window, cudaStream_t stream) {
  if (shape.N * shape.C * shape.H * shape.W == 0) return cudaSuccess;
  return dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    with_kernel_choice<T>(shape, window, argmax_bytes, {dy, argmax, dx},
                          [&](auto index, auto arg, auto v, const auto& w) {
                            using index_t = decltype(index);
                            using arg_t = decltype(arg);
                            constexpr int V = decltype(v)::value;
                            using Window = std::decay_t<decltype(w)>;
                            max_pool2d_backward_kernel<T, index_t, arg_t, V, Window>
                                <<<blocks_for(items(shape, shape.H, shape.W, V)), THREADS, 0, stream>>>(
                                    static_cast<const T*>(dy), static_cast<const arg_t*>(argmax), static_cast<T*>(dx),
                                    shape, item_space(shape, shape.H, shape.W, V), w);
                          });
  });
}

}  // namespace cnnkernels::cuda
