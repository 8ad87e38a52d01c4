// Max-pool 2-D on the GPU.
//  Fast paths (max_pool2d::with_window's 3x3/2, 3x3/1, 2x2/2; every tensor under 2^31 elements;
//  NCHW, or channels_last with C a multiple of a 16-byte pack and aligned pointers):
//  - Forward: a thread computes a tile of R x CW outputs of one plane (NCHW) or of one pack of
//    channels (channels_last). It loads the tile's inputs once, every one before any comparison, at
//    positions clamped into the input, then takes the maximum of each input row over each window's
//    columns and the maximum of those over the window's rows (separable: a row serves every window
//    that overlaps it; with stride 1, neighbouring windows also share the maximum of their common
//    pair). Only the one-byte argmax of training is written besides the values.
//  - Backward: a thread owns a block of inputs, BR x BC cells of stride_h x stride_w inputs, reads
//    the (dy, argmax) of every window covering the block once and sums, for each input, the
//    gradients of the windows whose argmax it is, in the windows' order: no atomics, deterministic.
//  General path (any window, padding, dilation; 64-bit indices; int32 argmax; odd layouts): a thread
//  per output (forward) or input (backward) position, and, channels_last, per pack of channels when
//  C and the pointers allow.
#include <cstring>
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

constexpr int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// ---------------------------------------------------------------------------------------------
// Fast paths

// The pack at p + i * n elements, i and n unsigned 32-bit (one IMAD.WIDE.U32 for the address).
template <typename T, int V>
__device__ __forceinline__ Pack<T, V> load(const T* p, unsigned i, unsigned n) {
  const char* bytes = reinterpret_cast<const char*>(p) + wide_product(i, n * unsigned(sizeof(T)));
  return *reinterpret_cast<const Pack<T, V>*>(bytes);
}

// A window's running maximum and its tap. later<exact>(a, b): b's taps come after a's in the window's
// scan order. Exact, PyTorch's rule (max_pool2d::takes_over), which composes: any grouping of
// consecutive taps gives the sequential scan's answer. Not exact, a plain `>`: the same answer
// unless a NaN is among the values (the caller checks that; see forward_tile).
struct Best {
  float value;
  int tap;
};
template <bool exact>
__device__ __forceinline__ Best later(const Best& a, const Best& b) {
  if constexpr (exact) {
    return takes_over(b.value, a.value) ? b : a;
  } else {
    return b.value > a.value ? b : a;
  }
}

// out[q] = the maximum over window q of K consecutive elements of s, windows S apart.
template <bool exact, int K, int S, int N>
__device__ __forceinline__ void windows(const Best* s, Best* out) {
  if constexpr (K == 3 && S == 1) {  // neighbours share their common pair
#pragma unroll
    for (int q = 0; q < N; q += 2) {
      const Best pair = later<exact>(s[q + 1], s[q + 2]);
      out[q] = later<exact>(s[q], pair);
      if (q + 1 < N) out[q + 1] = later<exact>(pair, s[q + 3]);
    }
  } else {
#pragma unroll
    for (int q = 0; q < N; ++q) {
      Best b = s[q * S];
#pragma unroll
      for (int k = 1; k < K; ++k) b = later<exact>(b, s[q * S + k]);
      out[q] = b;
    }
  }
}

// f, a value of T widened to float, back to T: exact, so bf16 is the upper half of f's bits, taken
// by an IMAD.HI.U32 on the FMA pipe (a conversion would take the ALU's).
template <typename T>
__device__ __forceinline__ T narrow(float f) {
#ifdef __CUDA_ARCH__
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __ushort_as_bfloat16(static_cast<unsigned short>(__umulhi(__float_as_uint(f), 0x10000u)));
  }
#endif
  return from_float<T>(f);
}

// Byte j of w, zero-extended: one PRMT (a shift and a mask otherwise).
__device__ __forceinline__ unsigned byte_of(unsigned w, int j) {
#ifdef __CUDA_ARCH__
  return __byte_perm(w, 0u, 0x4440u + unsigned(j));
#else
  return (w >> (8 * j)) & 0xFFu;
#endif
}

// The tiles of a launch: item i is pack i % packs of channels (channels_last; NCHW one "pack") of
// tile (i / packs) % cols along the width, of tile row (i / packs / cols) % rows of image or plane
// i / packs / cols / rows. (Neighbouring threads: neighbouring packs, then tiles along a row.)
struct Tiles {
  Divisor packs, cols, rows;
  int64_t items;
};

struct TileAt {
  int outer, row, col, pack;  // outer: the plane (NCHW) or image (channels_last)
};

template <bool channels_last>
__device__ __forceinline__ TileAt locate(int i, const Tiles& t) {
  const int tile = channels_last ? t.packs.div(i) : i;
  const int tile_row = t.cols.div(tile);
  const int outer = t.rows.div(tile_row);
  return {outer, tile_row - outer * int(t.rows.value), tile - tile_row * int(t.cols.value),
          channels_last ? i - tile * int(t.packs.value) : 0};
}

inline Tiles tiles_of(const PoolShape& s, int64_t rows, int64_t cols, int V) {
  const int64_t packs = s.channels_last ? s.C / V : 1, outer = s.channels_last ? s.N : s.N * s.C;
  return {Divisor(packs), Divisor(cols), Divisor(rows), outer * rows * cols * packs};
}

// Forward, window KH x KW, stride SH x SW, padding at most 1: the tile of R x CW outputs of V channels
// at `at`. Input rows and columns outside the input are clamped to the nearest inside: the window
// holds that position too, and the clamped tap is named by the position it reads, so the duplicate
// changes neither the maximum nor the tap PyTorch's scan picks. Not exact (a plain `>`), it returns
// whether a NaN may have been among the inputs (their sum is NaN: a NaN, or inf - inf): then the
// caller computes the tile again, exactly.
template <typename T>
struct ForwardArgs {
  const T* __restrict__ x;
  T* __restrict__ y;
  uint8_t* __restrict__ argmax;
  PoolShape s;
  Tiles tiles;
  int pad_h, pad_w;
};

template <bool exact, typename T, int V, bool channels_last, int KH, int KW, int SH, int SW, int R, int CW,
          bool training>
__device__ __forceinline__ bool forward_tile(const ForwardArgs<T>& args, int item) {
  constexpr int ROWS = (R - 1) * SH + KH, COLS = (CW - 1) * SW + KW;
  const T* __restrict__ x = args.x;
  T* __restrict__ y = args.y;
  uint8_t* __restrict__ argmax = args.argmax;
  const PoolShape& s = args.s;
  const TileAt at = locate<channels_last>(item, args.tiles);
  const int pad_h = args.pad_h, pad_w = args.pad_w;
  const int H = int(s.H), W = int(s.W), OH = int(s.OH), OW = int(s.OW);
  const unsigned step = channels_last ? unsigned(s.C) : 1u;  // between neighbouring positions
  const int oh0 = at.row * R, ow0 = at.col * CW, h0 = oh0 * SH - pad_h, w0 = ow0 * SW - pad_w;
  const T* xs = x + (unsigned(at.outer * H * W) * step + at.pack * V);
  int hc[ROWS], wc[COLS];  // (h0, w0 >= -1: only the first row and column can fall before the input)
#pragma unroll
  for (int t = 0; t < ROWS; ++t) hc[t] = t == 0 ? min(max(h0, 0), H - 1) : min(h0 + t, H - 1);
  const T* column[COLS];
#pragma unroll
  for (int c = 0; c < COLS; ++c) {
    wc[c] = c == 0 ? min(max(w0, 0), W - 1) : min(w0 + c, W - 1);
    column[c] = xs + unsigned(wc[c]) * step;
  }
  float v[ROWS][COLS][V];
#pragma unroll
  for (int t = 0; t < ROWS; ++t) {
#pragma unroll
    for (int c = 0; c < COLS; ++c) {
      const Pack<T, V> p = load<T, V>(column[c], unsigned(hc[t]), unsigned(W) * step);
#pragma unroll
      for (int j = 0; j < V; ++j) v[t][c][j] = to_float(p.v[j]);
    }
  }
  Pack<T, V> out[R][CW];
  Pack<uint8_t, V> taps[R][CW];
#pragma unroll
  for (int j = 0; j < V; ++j) {
    // Taps count from the tile's corner (row-major, rows KW apart); window (qr, qc)'s own start
    // KW * qr * SH + qc * SW further.
    Best rows[CW][ROWS];
#pragma unroll
    for (int t = 0; t < ROWS; ++t) {
      Best e[COLS], m[CW];
#pragma unroll
      for (int c = 0; c < COLS; ++c) e[c] = {v[t][c][j], wc[c] - w0};
      windows<exact, KW, SW, CW>(e, m);
#pragma unroll
      for (int qc = 0; qc < CW; ++qc) rows[qc][t] = {m[qc].value, m[qc].tap + KW * (hc[t] - h0)};
    }
#pragma unroll
    for (int qc = 0; qc < CW; ++qc) {
      Best m[R];
      windows<exact, KH, SH, R>(rows[qc], m);
#pragma unroll
      for (int qr = 0; qr < R; ++qr) {
        out[qr][qc].v[j] = narrow<T>(m[qr].value);
        taps[qr][qc].v[j] = uint8_t(m[qr].tap - (KW * qr * SH + qc * SW));
      }
    }
  }
  // A row past the output's last is stored to the last, before it (rows go last to first), so the
  // last row's own values land last: no test per output.
  bool col_inside[CW];
#pragma unroll
  for (int qc = 0; qc < CW; ++qc) col_inside[qc] = ow0 + qc < OW;
#pragma unroll
  for (int qr = R - 1; qr >= 0; --qr) {
    const unsigned o = (unsigned(at.outer * OH + min(oh0 + qr, OH - 1)) * OW + ow0) * step + at.pack * V;
#pragma unroll
    for (int qc = 0; qc < CW; ++qc) {
      if (!col_inside[qc]) continue;
      *reinterpret_cast<Pack<T, V>*>(y + o + qc * step) = out[qr][qc];
      if constexpr (training) *reinterpret_cast<Pack<uint8_t, V>*>(argmax + o + qc * step) = taps[qr][qc];
    }
  }
  if constexpr (exact) {
    return false;
  } else {
    float sum[3] = {v[0][0][0], 0.f, 0.f};  // (three chains, so that the adds overlap)
#pragma unroll
    for (int t = 0; t < ROWS; ++t) {
#pragma unroll
      for (int c = 0; c < COLS; ++c) {
#pragma unroll
        for (int j = 0; j < V; ++j) {
          const int e = (t * COLS + c) * V + j;
          if (e == 0) continue;
          sum[e % 3] = e < 3 ? v[t][c][j] : sum[e % 3] + v[t][c][j];
        }
      }
    }
    return is_nan(sum[0] + sum[1] + sum[2]);
  }
}

#ifdef __CUDACC__
#define CNNK_NOINLINE __noinline__
#else
#define CNNK_NOINLINE
#endif

// The tile again, exactly: out of line, so that the loop over tiles without NaNs does not carry its
// code (the arguments stay where the launch put them: __grid_constant__).
template <typename T, int V, bool channels_last, int KH, int KW, int SH, int SW, int R, int CW, bool training>
__device__ CNNK_NOINLINE void forward_tile_exact(const ForwardArgs<T>* args, int item) {
  forward_tile<true, T, V, channels_last, KH, KW, SH, SW, R, CW, training>(*args, item);
}

template <typename T, int V, bool channels_last, int KH, int KW, int SH, int SW, int R, int CW, bool training>
__global__ void forward_tile_kernel(const __grid_constant__ ForwardArgs<T> args) {
  for (int64_t item = grid_thread(); item < args.tiles.items; item += grid_threads()) {
    if (forward_tile<false, T, V, channels_last, KH, KW, SH, SW, R, CW, training>(args, int(item))) {
      forward_tile_exact<T, V, channels_last, KH, KW, SH, SW, R, CW, training>(&args, int(item));
    }
  }
}

// Backward, window KH x KW, stride SH x SW, padding P (both sides): a thread owns the inputs of BR x
// BC cells of SH x SW inputs, rows [h0, h0 + BR * SH) and columns [w0, w0 + BC * SW), and the
// windows whose taps reach them: window rows oh0 + LO_R ... oh0 + HI_R (oh0 = h0 / SH), likewise the
// columns. Their (dy, argmax) are read once; a window outside the output reads as argmax 0xFF, which
// no tap matches. Each input sums the gradients of the windows whose argmax it is in the windows'
// row-major order (the outputs' order, PyTorch's and the CPU kernels': the same sums, bit for bit);
// where windows cannot overlap (2x2/2), the one that can reach an input gives it its gradient
// unchanged, as the CPU kernel does. `vector`: NCHW, a block row is stored as one pack (W a multiple
// of BC * SW, dx aligned to it).
template <typename T, int V, bool channels_last, int KH, int KW, int SH, int SW, int P, int BR, int BC, bool vector>
__global__ void backward_block_kernel(const T* __restrict__ dy, const uint8_t* __restrict__ argmax, T* __restrict__ dx,
                                      PoolShape s, Tiles tiles) {
  constexpr int BH = BR * SH, BW = BC * SW;
  constexpr int LO_R = floor_div(P - KH, SH) + 1, HI_R = floor_div(BH - 1 + P, SH), NR = HI_R - LO_R + 1;
  constexpr int LO_C = floor_div(P - KW, SW) + 1, HI_C = floor_div(BW - 1 + P, SW), NC = HI_C - LO_C + 1;
  constexpr bool disjoint = KH <= SH && KW <= SW;
  using grad_t = std::conditional_t<disjoint, T, float>;  // what a block input takes from a window
  const unsigned H = s.H, W = s.W, OH = s.OH, OW = s.OW;
  const unsigned step = channels_last ? unsigned(s.C) : 1u;
  for (int64_t item = grid_thread(); item < tiles.items; item += grid_threads()) {
    const TileAt at = locate<channels_last>(int(item), tiles);
    const unsigned h0 = at.row * BH, w0 = at.col * BW, oh0 = at.row * BR + LO_R, ow0 = at.col * BC + LO_C;
    grad_t g[NR][NC][V];
    unsigned a[NR][NC][V];
#pragma unroll
    for (int r = 0; r < NR; ++r) {
      const unsigned oh = oh0 + r;
      // window (oh, ow0), which may be the one before the first: a signed offset
      const unsigned orow = ((at.outer * OH + oh) * OW + ow0) * step + at.pack * V;
      const int o = int(orow);
      const T* gr = dy + o;
      const uint8_t* ar = argmax + o;
#pragma unroll
      for (int c = 0; c < NC; ++c) {
        const bool inside = oh < OH && ow0 + c < OW;  // (unsigned: a window before the first is past the last)
        Pack<T, V> gp;
        if constexpr (V == 1) {  // a byte loaded into its own register: no masking before the comparisons
          unsigned t = 0xFFu;
          gp.v[0] = from_float<T>(0.f);
          if (inside) {
            t = ar[c];
            gp.v[0] = gr[c];
          }
          a[r][c][0] = t;
        } else {  // the argmax pack as words, one default per word, bytes taken out one by one
          constexpr int WORDS = V / 4;
          Pack<unsigned, WORDS> words;
#pragma unroll
          for (int k = 0; k < WORDS; ++k) words.v[k] = ~0u;
          constexpr int G_WORDS = V * int(sizeof(T)) / 4;  // the gradients too: one default per word
          Pack<unsigned, G_WORDS> g_words;
#pragma unroll
          for (int k = 0; k < G_WORDS; ++k) g_words.v[k] = 0u;
          if (inside) {  // (an offset mod 2^32, right for the windows inside: one IMAD.WIDE.U32 per address)
            const unsigned oc = orow + c * step;
            g_words = *reinterpret_cast<const Pack<unsigned, G_WORDS>*>(reinterpret_cast<const char*>(dy) +
                                                                       wide_product(oc, sizeof(T)));
            words = *reinterpret_cast<const Pack<unsigned, WORDS>*>(argmax + wide_product(oc, 1u));
          }
          static_assert(sizeof(gp) == sizeof(g_words));
          memcpy(&gp, &g_words, sizeof(gp));
#pragma unroll
          for (int j = 0; j < V; ++j) a[r][c][j] = byte_of(words.v[j / 4], j % 4);
        }
#pragma unroll
        for (int j = 0; j < V; ++j) {
          if constexpr (disjoint) {
            g[r][c][j] = gp.v[j];
          } else {
            g[r][c][j] = to_float(gp.v[j]);
          }
        }
      }
    }
    Pack<T, V> out[BH][BW];
#pragma unroll
    for (int dr = 0; dr < BH; ++dr) {
#pragma unroll
      for (int dc = 0; dc < BW; ++dc) {
#pragma unroll
        for (int j = 0; j < V; ++j) {
          float sum = 0.f;
          T only = from_float<T>(0.f);
#pragma unroll
          for (int r = 0; r < NR; ++r) {
            const int kh = P + dr - SH * (LO_R + r);  // the tap row of window row r at input row dr
            if (kh < 0 || kh >= KH) continue;
#pragma unroll
            for (int c = 0; c < NC; ++c) {
              const int kw = P + dc - SW * (LO_C + c);
              if (kw < 0 || kw >= KW) continue;
              const bool hit = a[r][c][j] == unsigned(kh * KW + kw);
              if constexpr (disjoint) {
                only = hit ? g[r][c][j] : only;
              } else if (hit) {
                sum += g[r][c][j];
              }
            }
          }
          if constexpr (disjoint) {  // 0 + the one gradient, as PyTorch's sum: -0.0 becomes +0.0
            out[dr][dc].v[j] = from_float<T>(to_float(only) + 0.f);
          } else {
            out[dr][dc].v[j] = from_float<T>(sum);
          }
        }
      }
    }
    // A row past the input's last is stored to the last, before it (rows go last to first), so the
    // last row's own values land last: no test per element.
    bool col_inside[BW];
#pragma unroll
    for (int dc = 0; dc < BW; ++dc) col_inside[dc] = vector || w0 + dc < W;
#pragma unroll
    for (int dr = BH - 1; dr >= 0; --dr) {
      T* row = dx + ((at.outer * H + min(h0 + dr, H - 1)) * W + w0) * step + at.pack * V;
      if constexpr (vector) {
        Pack<T, BW> v;
#pragma unroll
        for (int dc = 0; dc < BW; ++dc) v.v[dc] = out[dr][dc].v[0];
        *reinterpret_cast<Pack<T, BW>*>(row) = v;
      } else {
#pragma unroll
        for (int dc = 0; dc < BW; ++dc) {
          if (col_inside[dc]) *reinterpret_cast<Pack<T, V>*>(row + dc * step) = out[dr][dc];
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// General path

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

template <typename T, typename index_t, typename arg_t, int V>
__global__ void forward_general_kernel(const T* __restrict__ x, T* __restrict__ y, arg_t* __restrict__ argmax,
                                       PoolShape s, ItemSpace space, PoolWindow k) {
  const index_t H = s.H, W = s.W, kw = k.kernel_w, dh = k.dilation_h, dw = k.dilation_w;
  const int64_t total = items(s, s.OH, s.OW, V);
  for (int64_t item = grid_thread(); item < total; item += grid_threads()) {  // 64 bits: item + stride may pass 2^31
    const index_t i = index_t(item);
    const Item<index_t, V> at(i, s, space, H, W);  // (oh, ow) = (at.row, at.col); x through at.base
    const index_t h0 = at.row * index_t(k.stride_h) - index_t(k.pad_h);
    const index_t w0 = at.col * index_t(k.stride_w) - index_t(k.pad_w);
    const index_t ki0 = first_tap(h0, dh), kj0 = first_tap(w0, dw);
    const bool empty = ki0 >= end_tap(h0, dh, index_t(k.kernel_h), H) || kj0 >= end_tap(w0, dw, kw, W);
    float best[V];
    arg_t best_tap[V];
#pragma unroll
    for (int j = 0; j < V; ++j) {
      best[j] = -INFINITY;
      best_tap[j] = empty ? 0 : arg_t(ki0 * kw + kj0);  // PyTorch's argmax when every value is -inf
    }
    for (index_t ki = 0; ki < index_t(k.kernel_h); ++ki) {
      const index_t h = h0 + ki * dh;
      if (h < 0 || h >= H) continue;
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

template <typename T, typename index_t, typename arg_t, int V>
__global__ void backward_general_kernel(const T* __restrict__ dy, const arg_t* __restrict__ argmax,
                                        T* __restrict__ dx, PoolShape s, ItemSpace space, PoolWindow k) {
  const index_t OH = s.OH, OW = s.OW, kw = k.kernel_w;
  const int64_t total = items(s, s.H, s.W, V);
  for (int64_t item = grid_thread(); item < total; item += grid_threads()) {
    const index_t i = index_t(item);
    const Item<index_t, V> at(i, s, space, OH, OW);  // (ih, iw) = (at.row, at.col); dy, argmax through at.base
    float sum[V];
#pragma unroll
    for (int j = 0; j < V; ++j) sum[j] = 0.f;
    // Taps last to first: the covering windows in the outputs' order (a later tap is an earlier window),
    // PyTorch's and the CPU kernels' order of the sum, so that it is theirs bit for bit.
    for (index_t ki = index_t(k.kernel_h) - 1; ki >= 0; --ki) {
      const index_t oh = window_with_tap_at(at.row, ki, index_t(k.stride_h), index_t(k.pad_h), index_t(k.dilation_h), OH);
      if (oh < 0) continue;
      for (index_t kj = kw - 1; kj >= 0; --kj) {
        const index_t ow =
            window_with_tap_at(at.col, kj, index_t(k.stride_w), index_t(k.pad_w), index_t(k.dilation_w), OW);
        if (ow < 0) continue;
        const index_t o = at.base + (oh * OW + ow) * at.step;  // window (oh, ow) has tap (ki, kj) here
        const Pack<arg_t, V> taps = *reinterpret_cast<const Pack<arg_t, V>*>(argmax + o);
        const Pack<T, V> g = *reinterpret_cast<const Pack<T, V>*>(dy + o);
#pragma unroll
        for (int j = 0; j < V; ++j) {
          if (index_t(taps.v[j]) == ki * kw + kj) sum[j] += to_float(g.v[j]);
        }
      }
    }
    Pack<T, V> out;
#pragma unroll
    for (int j = 0; j < V; ++j) out.v[j] = from_float<T>(sum[j]);
    reinterpret_cast<Pack<T, V>*>(dx)[i] = out;
  }
}

// ---------------------------------------------------------------------------------------------
// Launchers

// The fast paths' tiles (forward: R x CW outputs; backward: BR x BC cells of stride inputs) per
// window, layout and element size: NCHW, enough outputs per thread that the separable maximum and
// the shared windows pay, and (backward) enough inputs that each window's (dy, argmax) serves several;
// channels_last, a thread's pack of channels is already 16 bytes wide per position, and only 3x3/1
// fp32 takes more than one position (2 outputs forward, 2 x 2 inputs backward: ~100 registers; the
// 16-bit types would need twice as many).
template <int KH, int S, bool channels_last, int BYTES>
struct FastTiles {
  static constexpr bool wide = KH == 3 && S == 1 && BYTES == 4;  // channels_last 3x3/1 fp32
  static constexpr int R = channels_last ? 1 : (KH == 3 ? (S == 1 ? 8 : 4) : 2);
  static constexpr int CW = channels_last ? (wide ? 2 : 1) : (KH == 3 ? (S == 1 ? 4 : 2) : 1);
  static constexpr int BR = channels_last ? (wide ? 2 : 1) : (KH == 3 && S == 1 ? 4 : 2);
  static constexpr int BC = channels_last ? (wide ? 2 : 1) : (KH == 3 && S == 1 ? 4 : 2);
};

// Whether the fast paths take the launch: a fixed window (max_pool2d::with_window), every tensor under
// 2^31 elements (32-bit indices), the one-byte argmax, and NCHW or channels_last in 16-byte packs.
template <typename T>
bool fast_path(const PoolShape& s, const PoolWindow& w, int argmax_bytes, bool packed) {
  const int64_t largest = s.N * s.C * std::max(s.H * s.W, s.OH * s.OW);
  return largest <= std::numeric_limits<int32_t>::max() && argmax_bytes == 1 && (!s.channels_last || packed) &&
         w.pad_h == w.pad_w;
}

// The general path: 32-bit indices when every tensor has fewer than 2^31 elements and the argmax is
// one byte, 16-byte packs of channels when channels_last allows; else 64 bits, one element per thread.
template <typename T, typename Body>
void with_general_choice(const PoolShape& s, int argmax_bytes, bool packed, Body&& body) {
  const int64_t largest = s.N * s.C * std::max(s.H * s.W, s.OH * s.OW);
  if (largest > std::numeric_limits<int32_t>::max() || argmax_bytes == 4) {
    if (argmax_bytes == 4) {
      body(int64_t{}, int32_t{}, std::integral_constant<int, 1>{});
    } else {
      body(int64_t{}, uint8_t{}, std::integral_constant<int, 1>{});
    }
  } else if (packed) {
    body(int32_t{}, uint8_t{}, std::integral_constant<int, pack16<T>>{});
  } else {
    body(int32_t{}, uint8_t{}, std::integral_constant<int, 1>{});
  }
}

// The launchers' one choice: fast(Window<...>{}) when a fast path takes the call (fast_path, and a
// compile-time window), else general(index type, argmax type, pack) as with_general_choice picks them.
template <typename T, typename Fast, typename General>
void with_path(const PoolShape& s, const PoolWindow& window, int argmax_bytes, bool packed, Fast&& fast,
               General&& general) {
  bool done = false;
  if (fast_path<T>(s, window, argmax_bytes, packed)) {
    max_pool2d::with_window(window, [&](const auto& w) {
      using Window = std::decay_t<decltype(w)>;
      if constexpr (Window::fixed) {
        fast(w);
        done = true;
      }
    });
  }
  if (!done) with_general_choice<T>(s, argmax_bytes, packed, general);
}

template <typename T>
void forward(const T* x, T* y, void* argmax, int argmax_bytes, const PoolShape& s, const PoolWindow& window,
             cudaStream_t stream) {
  constexpr int V = pack16<T>;
  const bool packed = s.channels_last && s.C % V == 0 && aligned16({x, y, argmax});
  with_path<T>(s, window, argmax_bytes, packed, [&](auto fixed) {
    using Window = decltype(fixed);
    constexpr int KH = Window::fixed_kh, KW = Window::fixed_kw, SH = Window::fixed_sh, SW = Window::fixed_sw;
    auto launch = [&](auto layout, auto training) {
      constexpr bool cl = decltype(layout)::value;
      constexpr int v = cl ? V : 1;
      using Tile = FastTiles<KH, SH, cl, int(sizeof(T))>;
      const Tiles tiles = tiles_of(s, (s.OH + Tile::R - 1) / Tile::R, (s.OW + Tile::CW - 1) / Tile::CW, v);
      forward_tile_kernel<T, v, cl, KH, KW, SH, SW, Tile::R, Tile::CW, decltype(training)::value>
          <<<blocks_for(tiles.items), THREADS, 0, stream>>>(ForwardArgs<T>{
              x, y, static_cast<uint8_t*>(argmax), s, tiles, int(window.pad_h), int(window.pad_w)});
    };
    auto with_training = [&](auto layout) {
      if (argmax != nullptr) {
        launch(layout, std::true_type{});
      } else {
        launch(layout, std::false_type{});
      }
    };
    if (s.channels_last) {
      with_training(std::true_type{});
    } else {
      with_training(std::false_type{});
    }
  }, [&](auto index, auto arg, auto v) {
    using arg_t = decltype(arg);
    constexpr int v_ = decltype(v)::value;
    forward_general_kernel<T, decltype(index), arg_t, v_><<<blocks_for(items(s, s.OH, s.OW, v_)), THREADS, 0, stream>>>(
        x, y, static_cast<arg_t*>(argmax), s, item_space(s, s.OH, s.OW, v_), window);
  });
}

template <typename T>
void backward(const T* dy, const void* argmax, int argmax_bytes, T* dx, const PoolShape& s, const PoolWindow& window,
              cudaStream_t stream) {
  constexpr int V = pack16<T>;
  const bool packed = s.channels_last && s.C % V == 0 && aligned16({dy, argmax, dx});
  with_path<T>(s, window, argmax_bytes, packed, [&](auto fixed) {
    using Window = decltype(fixed);
    constexpr int KH = Window::fixed_kh, KW = Window::fixed_kw, SH = Window::fixed_sh, SW = Window::fixed_sw;
    auto launch = [&](auto layout, auto pad, auto vector) {
      constexpr bool cl = decltype(layout)::value;
      constexpr int v = cl ? V : 1;
      using Tile = FastTiles<KH, SH, cl, int(sizeof(T))>;
      const Tiles tiles = tiles_of(s, (s.H + Tile::BR * SH - 1) / (Tile::BR * SH),
                                   (s.W + Tile::BC * SW - 1) / (Tile::BC * SW), v);
      backward_block_kernel<T, v, cl, KH, KW, SH, SW, decltype(pad)::value, Tile::BR, Tile::BC,
                            decltype(vector)::value><<<blocks_for(tiles.items), THREADS, 0, stream>>>(
          dy, static_cast<const uint8_t*>(argmax), dx, s, tiles);
    };
    auto with_pad = [&](auto layout, auto vector) {
      if (window.pad_h == 1) {
        launch(layout, std::integral_constant<int, 1>{}, vector);
      } else {
        launch(layout, std::integral_constant<int, 0>{}, vector);
      }
    };
    constexpr int row = FastTiles<KH, SH, false, int(sizeof(T))>::BC * SW;  // NCHW: inputs per block row
    const bool vector = !s.channels_last && s.W % row == 0 && reinterpret_cast<uintptr_t>(dx) % (row * sizeof(T)) == 0;
    if (s.channels_last) {
      with_pad(std::true_type{}, std::false_type{});
    } else if (vector) {
      with_pad(std::false_type{}, std::true_type{});
    } else {
      with_pad(std::false_type{}, std::false_type{});
    }
  }, [&](auto index, auto arg, auto v) {
    using arg_t = decltype(arg);
    constexpr int v_ = decltype(v)::value;
    backward_general_kernel<T, decltype(index), arg_t, v_><<<blocks_for(items(s, s.H, s.W, v_)), THREADS, 0, stream>>>(
        dy, static_cast<const arg_t*>(argmax), dx, s, item_space(s, s.H, s.W, v_), window);
  });
}

}  // namespace

cudaError_t max_pool2d_forward(DType dtype, const void* x, void* y, void* argmax, int argmax_bytes, PoolShape shape,
                               PoolWindow window, cudaStream_t stream) {
  if (shape.N * shape.C * shape.OH * shape.OW == 0) return cudaSuccess;
  return dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    forward<T>(static_cast<const T*>(x), static_cast<T*>(y), argmax, argmax_bytes, shape, window, stream);
  });
}

cudaError_t max_pool2d_backward(DType dtype, const void* dy, const void* argmax, int argmax_bytes, void* dx,
                                PoolShape shape, PoolWindow window, cudaStream_t stream) {
  if (shape.N * shape.C * shape.H * shape.W == 0) return cudaSuccess;
  return dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    backward<T>(static_cast<const T*>(dy), argmax, argmax_bytes, static_cast<T*>(dx), shape, window, stream);
  });
}

}  // namespace cnnkernels::cuda
