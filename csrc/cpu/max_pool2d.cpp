// Max-pool 2-D on the CPU: forward writes the output and, when asked, the compact argmax; the
// backward scatters within a plane (NCHW) or gathers along the channels (channels_last), see below.
// NCHW loops run over output pixels of one plane; channels_last loops run over the contiguous
// channels of one pixel (vectorised).
#include "../max_pool2d.h"

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include <algorithm>
#include <bit>
#include <limits>
#include <type_traits>
#include <vector>

#include "../prepare/max_pool2d.h"
#include "round_sum.h"

namespace cnnkernels {
namespace {

using max_pool2d::end_tap;
using max_pool2d::first_tap;
using max_pool2d::takes_over;
using max_pool2d::with_window;

// Interior windows along one dimension, [lo, hi): o * stride - pad >= 0 and
// o * stride - pad + (kernel - 1) * dilation < in, so every tap lands inside the input.
inline std::pair<int64_t, int64_t> interior(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t pad,
                                            int64_t dilation) {
  const int64_t lo = std::min(out, (pad + stride - 1) / stride);
  const int64_t last_start = in - 1 - (kernel - 1) * dilation + pad;
  return {lo, last_start < 0 ? lo : std::clamp(last_start / stride + 1, lo, out)};
}

// One output row at a time. Columns whose windows lie wholly inside the input run taps-outer,
// columns-inner: each column's running max is its own dependency chain, so the chains overlap
// (a running max per output, tap after tap, is latency-bound), and the compiler vectorises them.
// Edge columns run one by one. fp16/bf16 planes are widened to float first, once per plane: read
// through the conversion, the compiler keeps the loop scalar and branches on every comparison,
// which random data mispredicts.
template <typename scalar_t, typename index_t, typename Win>
void forward_nchw(const scalar_t* x, scalar_t* y, index_t* argmax, const PoolShape& s, const Win& w) {
  using acc_t = at::opmath_type<scalar_t>;
  constexpr acc_t lowest = -std::numeric_limits<acc_t>::infinity();
  constexpr bool widen = !std::is_same_v<acc_t, scalar_t>;
  const int64_t rows = s.N * s.C * s.OH;  // (plane, oh) is a row of the pooled output
  const auto [ow_lo, ow_hi] = interior(s.W, s.OW, w.kw(), w.sw(), w.pw(), w.dw());
  at::parallel_for(0, rows, std::max<int64_t>(1, 4096 / s.OW), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> best(s.OW);
    std::vector<int32_t> best_tap(s.OW);
    std::vector<acc_t> wide(widen ? s.H * s.W : 0);  // the current plane, widened
    int64_t widened = -1;
    for (int64_t row = begin; row < end; ++row) {
      const int64_t plane = row / s.OH, oh = row % s.OH;
      const scalar_t* xs = x + plane * s.H * s.W;
      if (widen && plane != widened) {
        for (int64_t i = 0; i < s.H * s.W; ++i) wide[i] = static_cast<acc_t>(xs[i]);
        widened = plane;
      }
      const auto* xp = [&] {
        if constexpr (widen)
          return static_cast<const acc_t*>(wide.data());
        else
          return xs;
      }();
      const int64_t h0 = oh * w.sh() - w.ph();
      const int64_t ki0 = first_tap(h0, w.dh()), ki1 = end_tap(h0, w.dh(), w.kh(), s.H);
      auto edge_column = [&](int64_t ow) {
        const int64_t w0 = ow * w.sw() - w.pw();
        const int64_t kj0 = first_tap(w0, w.dw()), kj1 = end_tap(w0, w.dw(), w.kw(), s.W);
        acc_t b = lowest;
        int32_t bt = (ki0 < ki1 && kj0 < kj1) ? static_cast<int32_t>(ki0 * w.kw() + kj0) : 0;
        for (int64_t ki = ki0; ki < ki1; ++ki) {
          const auto* xr = xp + (h0 + ki * w.dh()) * s.W + w0;
          for (int64_t kj = kj0; kj < kj1; ++kj) {
            const acc_t v = static_cast<acc_t>(xr[kj * w.dw()]);
            if (takes_over(v, b)) {
              b = v;
              bt = static_cast<int32_t>(ki * w.kw() + kj);
            }
          }
        }
        best[ow] = b;
        best_tap[ow] = bt;
      };
      for (int64_t ow = 0; ow < ow_lo; ++ow) edge_column(ow);
      for (int64_t ow = ow_hi; ow < s.OW; ++ow) edge_column(ow);
      std::fill(best.begin() + ow_lo, best.begin() + ow_hi, lowest);
      std::fill(best_tap.begin() + ow_lo, best_tap.begin() + ow_hi, ki0 < ki1 ? static_cast<int32_t>(ki0 * w.kw()) : 0);
      for (int64_t ki = ki0; ki < ki1; ++ki) {
        const auto* xr = xp + (h0 + ki * w.dh()) * s.W - w.pw();
        for (int64_t kj = 0; kj < w.kw(); ++kj) {
          const auto* xc = xr + kj * w.dw();
          const int32_t tap = static_cast<int32_t>(ki * w.kw() + kj);
          if (argmax == nullptr) {  // inference: the maximum only
            for (int64_t ow = ow_lo; ow < ow_hi; ++ow) {
              const acc_t v = static_cast<acc_t>(xc[ow * w.sw()]);
              best[ow] = takes_over(v, best[ow]) ? v : best[ow];
            }
            continue;
          }
          for (int64_t ow = ow_lo; ow < ow_hi; ++ow) {
            const acc_t v = static_cast<acc_t>(xc[ow * w.sw()]);
            const bool take = takes_over(v, best[ow]);
            best[ow] = take ? v : best[ow];
            best_tap[ow] = take ? tap : best_tap[ow];
          }
        }
      }
      scalar_t* yr = y + row * s.OW;
      for (int64_t ow = 0; ow < s.OW; ++ow) yr[ow] = static_cast<scalar_t>(best[ow]);
      if (argmax) {
        index_t* ar = argmax + row * s.OW;
        for (int64_t ow = 0; ow < s.OW; ++ow) ar[ow] = static_cast<index_t>(best_tap[ow]);
      }
    }
  });
}

template <typename scalar_t, typename index_t, typename Win>
void forward_channels_last(const scalar_t* x, scalar_t* y, index_t* argmax, const PoolShape& s, const Win& w) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t C = s.C;
  at::parallel_for(0, s.N * s.OH, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> best(C);
    std::vector<int32_t> best_tap(C);
    for (int64_t row = begin; row < end; ++row) {  // (n, oh)
      const int64_t n = row / s.OH, oh = row % s.OH;
      const int64_t h0 = oh * w.sh() - w.ph();
      const int64_t ki0 = first_tap(h0, w.dh()), ki1 = end_tap(h0, w.dh(), w.kh(), s.H);
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const int64_t w0 = ow * w.sw() - w.pw();
        const int64_t kj0 = first_tap(w0, w.dw()), kj1 = end_tap(w0, w.dw(), w.kw(), s.W);
        const int32_t first = (ki0 < ki1 && kj0 < kj1) ? static_cast<int32_t>(ki0 * w.kw() + kj0) : 0;
        std::fill(best.begin(), best.end(), -std::numeric_limits<acc_t>::infinity());
        if (argmax) std::fill(best_tap.begin(), best_tap.end(), first);
        for (int64_t ki = ki0; ki < ki1; ++ki) {
          for (int64_t kj = kj0; kj < kj1; ++kj) {
            const scalar_t* xc = x + ((n * s.H + h0 + ki * w.dh()) * s.W + w0 + kj * w.dw()) * C;
            const int32_t tap = static_cast<int32_t>(ki * w.kw() + kj);
            if (argmax == nullptr) {  // inference: the maximum only
              for (int64_t c = 0; c < C; ++c) {
                const acc_t v = static_cast<acc_t>(xc[c]);
                best[c] = takes_over(v, best[c]) ? v : best[c];
              }
              continue;
            }
            for (int64_t c = 0; c < C; ++c) {
              const acc_t v = static_cast<acc_t>(xc[c]);
              const bool take = takes_over(v, best[c]);
              best[c] = take ? v : best[c];
              best_tap[c] = take ? tap : best_tap[c];
            }
          }
        }
        const int64_t o = (row * s.OW + ow) * C;
        for (int64_t c = 0; c < C; ++c) y[o + c] = static_cast<scalar_t>(best[c]);
        if (argmax) {
          for (int64_t c = 0; c < C; ++c) argmax[o + c] = static_cast<index_t>(best_tap[c]);
        }
      }
    }
  });
}

// dy where the tap is the argmax, else +0, as a bitwise AND: no branch (on random data a branch
// mispredicts half the time, and none lets the compiler vectorise), and a NaN elsewhere stays out.
template <typename acc_t, typename scalar_t, typename index_t>
inline acc_t gradient_if(index_t argmax, index_t tap, scalar_t dy) {
  if constexpr (std::is_same_v<scalar_t, c10::BFloat16>) {  // float's upper half: mask 16 bits, then widen
    const auto keep = static_cast<uint16_t>(0 - static_cast<int>(argmax == tap));
    return std::bit_cast<float>(static_cast<uint32_t>(dy.x & keep) << 16);
  } else {
    using bits_t = std::conditional_t<sizeof(acc_t) == 8, uint64_t, uint32_t>;
    const bits_t keep = bits_t(0) - static_cast<bits_t>(argmax == tap);
    return std::bit_cast<acc_t>(std::bit_cast<bits_t>(static_cast<acc_t>(dy)) & keep);
  }
}

// NCHW backward: scatters within a plane. Each output's gradient is added at its argmax, in output
// order, in a zeroed plane that stays in cache: dx's own for fp32/fp64, and for fp16/bf16 where
// windows cannot overlap (Window::disjoint: each input gets one gradient at most, added to zero
// exactly); else a float plane, converted once. (A gather along the plane's rows was slower: its
// per-tap tests come in runs of OW, too short to vectorise well.) A tap outside the
// window, or in the padding, is what no forward of ours writes: it is skipped, never written
// outside dx.
template <typename scalar_t, typename index_t, typename Win>
void backward_nchw(const scalar_t* dy, const index_t* argmax, scalar_t* dx, const PoolShape& s, const Win& w) {
  using acc_t = at::opmath_type<scalar_t>;
  const bool direct = std::is_same_v<acc_t, scalar_t> || w.disjoint();
  const auto taps = static_cast<uint64_t>(w.kh() * w.kw());
  std::vector<int64_t> offsets(taps);  // of each tap from its window's corner
  for (uint64_t t = 0; t < taps; ++t) offsets[t] = (t / w.kw()) * w.dh() * s.W + (t % w.kw()) * w.dw();
  const int64_t* offset = offsets.data();  // (a plain pointer: the compiler keeps it in a register)
  const auto [oh_lo, oh_hi] = interior(s.H, s.OH, w.kh(), w.sh(), w.ph(), w.dh());
  const auto [ow_lo, ow_hi] = interior(s.W, s.OW, w.kw(), w.sw(), w.pw(), w.dw());
  at::parallel_for(0, s.N * s.C, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> buffer(direct ? 0 : s.H * s.W);
    for (int64_t p = begin; p < end; ++p) {
      const scalar_t* dyp = dy + p * s.OH * s.OW;
      const index_t* ap = argmax + p * s.OH * s.OW;
      auto scatter = [&](auto* plane) {  // plane: zeroed
        using plane_t = std::remove_pointer_t<decltype(plane)>;
        for (int64_t oh = 0; oh < s.OH; ++oh) {
          const int64_t h0 = oh * w.sh() - w.ph();
          const scalar_t* dyr = dyp + oh * s.OW;
          const index_t* ar = ap + oh * s.OW;
          auto add_checked = [&](int64_t ow) {  // a window that reaches into the padding
            const auto tap = static_cast<uint64_t>(ar[ow]);
            if (tap >= taps) return;
            const int64_t ih = h0 + static_cast<int64_t>(tap / w.kw()) * w.dh();
            const int64_t iw = ow * w.sw() - w.pw() + static_cast<int64_t>(tap % w.kw()) * w.dw();
            if (ih >= 0 && ih < s.H && iw >= 0 && iw < s.W) plane[ih * s.W + iw] += static_cast<acc_t>(dyr[ow]);
          };
          // In the outputs' order (PyTorch's: the same sums): the left edge, the interior, the right edge.
          const bool inside = oh >= oh_lo && oh < oh_hi;
          for (int64_t ow = 0; ow < (inside ? ow_lo : s.OW); ++ow) add_checked(ow);
          if (!inside) continue;
          plane_t* corner = plane + h0 * s.W - w.pw();
          for (int64_t ow = ow_lo; ow < ow_hi; ++ow) {
            const auto tap = static_cast<uint64_t>(ar[ow]);
            if (tap >= taps) continue;
            plane_t& target = corner[ow * w.sw() + offset[tap]];
            if constexpr (std::is_same_v<plane_t, scalar_t>) {
              if (w.disjoint()) {  // the one gradient this input gets, added to zero as PyTorch does (-0 -> +0)
                target = round_sum<scalar_t>(static_cast<acc_t>(dyr[ow]) + acc_t(0));
                continue;
              }
            }
            target += static_cast<acc_t>(dyr[ow]);
          }
          for (int64_t ow = ow_hi; ow < s.OW; ++ow) add_checked(ow);
        }
      };
      scalar_t* dxp = dx + p * s.H * s.W;
      if (direct) {
        std::fill(dxp, dxp + s.H * s.W, scalar_t(0));
        scatter(dxp);
      } else {  // the buffer starts zeroed, and is zeroed again as it is read
        scatter(buffer.data());
        for (int64_t i = 0; i < s.H * s.W; ++i) {
          dxp[i] = round_sum<scalar_t>(buffer[i]);
          buffer[i] = acc_t(0);
        }
      }
    }
  });
}

// For each input row (or column) i, the windows covering it, in ascending order (PyTorch adds a
// pixel's gradients in the order of the outputs: so do we, for the same rounding): window `out` has
// its tap `tap` at i.
struct Covers {
  struct Cover {
    int64_t out, tap;
  };
  std::vector<int64_t> first;  // the covers of i are list[first[i]], ..., list[first[i + 1] - 1]
  std::vector<Cover> list;
  Covers(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation) {
    for (int64_t i = 0; i < in; ++i) {
      first.push_back(static_cast<int64_t>(list.size()));
      for (int64_t t = kernel - 1; t >= 0; --t) {  // (a later tap is an earlier window)
        const int64_t o = max_pool2d::window_with_tap_at<int64_t>(i, t, stride, pad, dilation, out);
        if (o >= 0) list.push_back({o, t});
      }
    }
    first.push_back(static_cast<int64_t>(list.size()));
  }
};

// 3x3 windows of stride 2 (AlexNet's, GoogLeNet's, ResNet's pools): the input rows (and columns)
// come in pairs i0 = 2o + 1 - pad, i0 + 1 that only windows o and o + 1 cover (i0 by o's middle tap,
// i0 + 1 by o's last and o + 1's first). Groups of rows (and of columns): a pair, by its window o, or
// an edge row on its own (pair < 0).
struct StrideTwoGroups {
  struct Group {
    int64_t first, pair;
  };
  std::vector<Group> list;
  StrideTwoGroups(int64_t in, int64_t out, int64_t pad) {
    for (int64_t i = 0; i < in;) {
      const int64_t o = (i + pad - 1) / 2;  // the window whose middle tap i would be
      if ((i + pad - 1) % 2 == 0 && i + pad >= 1 && o + 1 < out && i + 1 < in) {
        list.push_back({i, o});
        i += 2;
      } else {
        list.push_back({i++, -1});
      }
    }
  }
};

// A 2x2 block of pixels (rows i0, i0 + 1, columns j0, j0 + 1; StrideTwoGroups) from the four 3x3/2
// windows covering it, (o, q), (o, q + 1), (o + 1, q), (o + 1, q + 1): window (o, q)'s gradients at d
// and argmax at a, window rows `down` apart, pixel rows of x `row` apart, both C apart along a row;
// the windows added in that order (the outputs') for each tap that lands on the block. (A function of
// its own: its restrict pointers let the compiler vectorise along the channels.)
template <typename acc_t, typename scalar_t, typename index_t>
void gather_block_3x3s2(const scalar_t* __restrict__ d, const index_t* __restrict__ a, scalar_t* __restrict__ x,
                        int64_t down, int64_t row, int64_t C) {
  auto g = [&](int64_t window, int tap, int64_t c) {
    return gradient_if<acc_t>(a[window + c], static_cast<index_t>(tap), d[window + c]);
  };
  const int64_t right = C, diagonal = down + C;
  for (int64_t c = 0; c < C; ++c) {
    const acc_t zero(0);  // (0 + a single term: -0.0 becomes +0.0, as in PyTorch's zeroed buffer)
    x[c] = round_sum<scalar_t>(zero + g(0, 4, c));
    x[C + c] = round_sum<scalar_t>(zero + g(0, 5, c) + g(right, 3, c));
    x[row + c] = round_sum<scalar_t>(zero + g(0, 7, c) + g(down, 1, c));
    x[row + C + c] = round_sum<scalar_t>(zero + g(0, 8, c) + g(right, 6, c) + g(down, 2, c) + g(diagonal, 0, c));
  }
}

// Two neighbouring pixels (ih, iw), (ih, iw + 1) that all their 3x3/1 windows cover: the windows
// (ih + pad - 2 + u, iw + pad - 2 + v), u in 0..2, v in 0..3, from corner d (gradients) and a (argmax),
// rows `down` apart, windows C apart; pixel 0 takes v = 0..2, pixel 1 v = 1..3 (each window read once
// for both), added in the outputs' order. Restrict pointers: the compiler vectorises along the channels.
template <typename acc_t, typename scalar_t, typename index_t>
void gather_pair_3x3s1(const scalar_t* __restrict__ d, const index_t* __restrict__ a, scalar_t* __restrict__ x,
                       int64_t down, int64_t C) {
  for (int64_t c = 0; c < C; ++c) {
    acc_t s0(0), s1(0);  // (from +0, as PyTorch's zeroed buffer)
    for (int u = 0; u < 3; ++u) {
      const scalar_t* dr = d + u * down + c;
      const index_t* ar = a + u * down + c;
      const auto t = static_cast<index_t>(8 - 3 * u);  // the tap of window v = 0 at pixel 0
      s0 = s0 + gradient_if<acc_t>(ar[0], t, dr[0]) + gradient_if<acc_t>(ar[C], static_cast<index_t>(t - 1), dr[C]) +
           gradient_if<acc_t>(ar[2 * C], static_cast<index_t>(t - 2), dr[2 * C]);
      s1 = s1 + gradient_if<acc_t>(ar[C], t, dr[C]) + gradient_if<acc_t>(ar[2 * C], static_cast<index_t>(t - 1), dr[2 * C]) +
           gradient_if<acc_t>(ar[3 * C], static_cast<index_t>(t - 2), dr[3 * C]);
    }
    x[c] = round_sum<scalar_t>(s0);
    x[C + c] = round_sum<scalar_t>(s1);
  }
}

// channels_last backward: gathers. Each input pixel sums, channel by channel, the gradients of the
// windows covering it whose argmax it is (vectorised along the channels), in the outputs' order, in dx's
// own pixel for fp32/fp64 or a float one converted once: no zero-fill pass over dx, no float plane,
// and a tap that is no window's argmax never matches. (A scatter, and a block of channels' sums kept
// in registers, were both slower: benchmarks/results/cpu-notes.md.) The 3x3 windows' pixels inside
// take a gather that reads each window once for several pixels and keeps their sums in registers (no
// read-modify-write of dx): 3x3/2 a 2x2 block (four window reads instead of nine), 3x3/1 two pixels
// of a row (twelve instead of eighteen).
template <typename scalar_t, typename index_t, typename Win>
void backward_channels_last(const scalar_t* dy, const index_t* argmax, scalar_t* dx, const PoolShape& s, const Win& w) {
  using acc_t = at::opmath_type<scalar_t>;
  constexpr bool direct = std::is_same_v<acc_t, scalar_t>;
  constexpr bool three = Win::fixed_kh == 3 && Win::fixed_kw == 3;
  constexpr bool stride_two = three && Win::fixed_sh == 2 && Win::fixed_sw == 2;
  [[maybe_unused]] constexpr bool stride_one = three && Win::fixed_sh == 1 && Win::fixed_sw == 1;
  const int64_t C = s.C;
  const Covers rows(s.H, s.OH, w.kh(), w.sh(), w.ph(), w.dh());
  const Covers cols(s.W, s.OW, w.kw(), w.sw(), w.pw(), w.dw());
  // Row groups: the pairs of StrideTwoGroups for 3x3/2, else one row each.
  const StrideTwoGroups row_groups(stride_two ? s.H : 0, s.OH, w.ph());
  const StrideTwoGroups col_groups(stride_two ? s.W : 0, s.OW, w.pw());
  const int64_t groups = stride_two ? static_cast<int64_t>(row_groups.list.size()) : s.H;
  at::parallel_for(0, s.N * groups, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> buffer(direct ? 0 : C);
    auto gather_pixel = [&](int64_t n, int64_t ih, int64_t iw) {
      scalar_t* dxp = dx + ((n * s.H + ih) * s.W + iw) * C;
      acc_t* acc = [&] {
        if constexpr (direct)
          return dxp;
        else
          return buffer.data();
      }();
      std::fill(acc, acc + C, acc_t(0));
      for (int64_t i = rows.first[ih]; i < rows.first[ih + 1]; ++i) {
        const auto [oh, ki] = rows.list[i];
        for (int64_t j = cols.first[iw]; j < cols.first[iw + 1]; ++j) {
          const auto [ow, kj] = cols.list[j];
          const auto tap = static_cast<index_t>(ki * w.kw() + kj);
          const int64_t o = ((n * s.OH + oh) * s.OW + ow) * C;
          const scalar_t* dyp = dy + o;
          const index_t* ap = argmax + o;
          for (int64_t c = 0; c < C; ++c) acc[c] += gradient_if<acc_t>(ap[c], tap, dyp[c]);
        }
      }
      if constexpr (!direct) {
        for (int64_t c = 0; c < C; ++c) dxp[c] = round_sum<scalar_t>(acc[c]);
      }
    };
    auto gather_block = [&](int64_t n, int64_t i0, int64_t o, int64_t j0, int64_t q) {
      const int64_t window = ((n * s.OH + o) * s.OW + q) * C;
      gather_block_3x3s2<acc_t>(dy + window, argmax + window, dx + ((n * s.H + i0) * s.W + j0) * C, s.OW * C,
                                s.W * C, C);
    };
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / groups;
      if constexpr (stride_two) {
        const auto [i0, o] = row_groups.list[r % groups];
        for (const auto [j0, q] : col_groups.list) {
          if (o >= 0 && q >= 0) {
            gather_block(n, i0, o, j0, q);
          } else {
            for (int64_t ih = i0; ih < i0 + (o >= 0 ? 2 : 1); ++ih) {
              for (int64_t iw = j0; iw < j0 + (q >= 0 ? 2 : 1); ++iw) gather_pixel(n, ih, iw);
            }
          }
        }
      } else {
        const int64_t ih = r % groups;
        auto covered = [](const Covers& by, int64_t i) { return by.first[i + 1] - by.first[i] == 3; };
        for (int64_t iw = 0; iw < s.W;) {
          if (stride_one && covered(rows, ih) && iw + 1 < s.W && covered(cols, iw) && covered(cols, iw + 1)) {
            const int64_t window = ((n * s.OH + ih + w.ph() - 2) * s.OW + iw + w.pw() - 2) * C;
            gather_pair_3x3s1<acc_t>(dy + window, argmax + window, dx + ((n * s.H + ih) * s.W + iw) * C, s.OW * C, C);
            iw += 2;
          } else {
            gather_pixel(n, ih, iw++);
          }
        }
      }
    }
  });
}

std::tuple<at::Tensor, at::Tensor> max_pool2d_forward_cpu(const at::Tensor& input, at::IntArrayRef kernel_size,
                                                          at::IntArrayRef stride, at::IntArrayRef padding,
                                                          at::IntArrayRef dilation, bool ceil_mode, bool with_argmax) {
  PoolCall call = prepare_max_pool2d_forward(input, kernel_size, stride, padding, dilation, ceil_mode, with_argmax);
  if (call.y.numel() == 0) return {call.y, call.argmax};
  const PoolShape& s = call.shape;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "max_pool2d_forward_cpu", [&] {
    auto run = [&](auto* argmax_ptr) {
      with_window(call.window, [&](const auto& w) {
        const scalar_t* x = call.x.const_data_ptr<scalar_t>();
        scalar_t* y = call.y.mutable_data_ptr<scalar_t>();
        if (s.channels_last) {
          forward_channels_last(x, y, argmax_ptr, s, w);
        } else {
          forward_nchw(x, y, argmax_ptr, s, w);
        }
      });
    };
    if (call.argmax.scalar_type() == at::kByte) {
      run(with_argmax ? call.argmax.mutable_data_ptr<uint8_t>() : nullptr);
    } else {
      run(with_argmax ? call.argmax.mutable_data_ptr<int32_t>() : nullptr);
    }
  });
  return {call.y, call.argmax};
}

at::Tensor max_pool2d_backward_cpu(const at::Tensor& grad_output, const at::Tensor& argmax, int64_t input_height,
                                   int64_t input_width, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                   at::IntArrayRef padding, at::IntArrayRef dilation, bool channels_last) {
  PoolCall call = prepare_max_pool2d_backward(grad_output, argmax, input_height, input_width, kernel_size, stride,
                                              padding, dilation, channels_last);
  if (call.dx.numel() == 0) return call.dx;
  const PoolShape& s = call.shape;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad_output.scalar_type(), "max_pool2d_backward_cpu", [&] {
    auto run = [&](const auto* argmax_ptr) {
      with_window(call.window, [&](const auto& w) {
        const scalar_t* dy = call.dy.const_data_ptr<scalar_t>();
        scalar_t* dx = call.dx.mutable_data_ptr<scalar_t>();
        if (s.channels_last) {
          backward_channels_last(dy, argmax_ptr, dx, s, w);
        } else {
          backward_nchw(dy, argmax_ptr, dx, s, w);
        }
      });
    };
    if (call.argmax.scalar_type() == at::kByte) {
      run(call.argmax.const_data_ptr<uint8_t>());
    } else {
      run(call.argmax.const_data_ptr<int32_t>());
    }
  });
  return call.dx;
}

}  // namespace

TORCH_LIBRARY_IMPL(cnnkernels, CPU, m) {
  m.impl("max_pool2d_forward", &max_pool2d_forward_cpu);
  m.impl("max_pool2d_backward", &max_pool2d_backward_cpu);
}

}  // namespace cnnkernels
