// Max-pool 2-D on the CPU: forward writes the output and, when asked, the compact argmax; the
// backward scatters each gradient to its argmax within a cache-resident buffer (see below).
// NCHW loops run over output pixels of one plane; channels_last loops run over the contiguous
// channels of one pixel (vectorised).
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

#include "../max_pool2d.h"
#include "../prepare.h"

namespace cnnkernels {
namespace {

using max_pool2d::end_tap;
using max_pool2d::first_tap;
using max_pool2d::takes_over;
using max_pool2d::with_window;

struct PoolShape {
  int64_t N, C, H, W, OH, OW;
};

// One output row at a time. Columns whose windows lie wholly inside the input run taps-outer,
// columns-inner: each column's running max is its own dependency chain, so the chains overlap
// (a running max per output, tap after tap, is latency-bound). Edge columns run one by one.
template <typename scalar_t, typename index_t, typename Win>
void forward_nchw(const scalar_t* x, scalar_t* y, index_t* argmax, const PoolShape& s, const Win& w) {
  using acc_t = at::opmath_type<scalar_t>;
  constexpr acc_t lowest = -std::numeric_limits<acc_t>::infinity();
  const int64_t rows = s.N * s.C * s.OH;  // (plane, oh) is a row of the pooled output
  // Interior columns [ow_lo, ow_hi): ow * sw - pw >= 0 and ow * sw - pw + (kw - 1) * dw < W.
  const int64_t ow_lo = std::min(s.OW, (w.pw() + w.sw() - 1) / w.sw());
  const int64_t last_start = s.W - 1 - (w.kw() - 1) * w.dw() + w.pw();
  const int64_t ow_hi = last_start < 0 ? ow_lo : std::clamp(last_start / w.sw() + 1, ow_lo, s.OW);
  at::parallel_for(0, rows, std::max<int64_t>(1, 4096 / s.OW), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> best(s.OW);
    std::vector<int32_t> best_tap(s.OW);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t plane = row / s.OH, oh = row % s.OH;
      const scalar_t* xp = x + plane * s.H * s.W;
      const int64_t h0 = oh * w.sh() - w.ph();
      const int64_t ki0 = first_tap(h0, w.dh()), ki1 = end_tap(h0, w.dh(), w.kh(), s.H);
      auto edge_column = [&](int64_t ow) {
        const int64_t w0 = ow * w.sw() - w.pw();
        const int64_t kj0 = first_tap(w0, w.dw()), kj1 = end_tap(w0, w.dw(), w.kw(), s.W);
        acc_t b = lowest;
        int32_t bt = (ki0 < ki1 && kj0 < kj1) ? static_cast<int32_t>(ki0 * w.kw() + kj0) : 0;
        for (int64_t ki = ki0; ki < ki1; ++ki) {
          const scalar_t* xr = xp + (h0 + ki * w.dh()) * s.W + w0;
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
        const scalar_t* xr = xp + (h0 + ki * w.dh()) * s.W - w.pw();
        for (int64_t kj = 0; kj < w.kw(); ++kj) {
          const scalar_t* xc = xr + kj * w.dw();
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

// Where each tap of a window lands, relative to the window's corner. A tap is trusted only after a
// check: one past the window, or one in the padding (a window wholly in the padding has argmax 0
// there), is what no forward of ours writes, and must never write outside dx. Windows wholly
// inside the input need only the first check (inside()); the others check both (locate()).
struct TapTable {
  std::vector<int64_t> row, col, offset;  // offset: in elements of a buffer with `pixel_stride` per pixel
  int64_t last_row = 0, last_col = 0;
  template <typename Win>
  TapTable(const Win& w, int64_t W, int64_t pixel_stride) {
    for (int64_t tap = 0; tap < w.kh() * w.kw(); ++tap) {
      row.push_back((tap / w.kw()) * w.dh());
      col.push_back((tap % w.kw()) * w.dw());
      offset.push_back((row.back() * W + col.back()) * pixel_stride);
    }
    last_row = row.back();
    last_col = col.back();
  }
  int64_t taps() const { return static_cast<int64_t>(row.size()); }
  bool inside(int64_t h0, int64_t w0, int64_t H, int64_t W) const {
    return h0 >= 0 && h0 + last_row < H && w0 >= 0 && w0 + last_col < W;
  }
  template <typename index_t>
  bool locate(index_t tap, int64_t h0, int64_t w0, int64_t H, int64_t W, int64_t& ih, int64_t& iw) const {
    const auto t = static_cast<uint64_t>(tap);
    if (t >= row.size()) return false;
    ih = h0 + row[t];
    iw = w0 + col[t];
    return static_cast<uint64_t>(ih) < static_cast<uint64_t>(H) && static_cast<uint64_t>(iw) < static_cast<uint64_t>(W);
  }
};

// The CPU backward scatters: each output's gradient is added to its argmax, in output order, in a
// zeroed plane that stays in cache: a quarter of a gather's work for 3x3/2 windows (a gather's
// per-tap checks don't vectorise here), deterministic, no atomics, and the zeroing is no separate
// pass over memory. (The CUDA kernels gather: max_pool2d::window_with_tap_at.)
// fp16/bf16 accumulate in a float buffer, then convert, where windows overlap; where they cannot
// (Window::disjoint) each input receives one gradient at most, added to zero exactly, so they
// scatter straight into dx as fp32/fp64 always do.

// Zeroes `plane` (H x W, `pixel_stride` apart, `channels` at each) and adds each output gradient
// of one image's block of channels at its argmax. dy, argmax: the block's first channel at output 0.
template <typename acc_t, typename scalar_t, typename index_t, typename Win>
void scatter_image(acc_t* plane, int64_t pixel_stride, int64_t channels, const scalar_t* dy, const index_t* argmax,
                   int64_t out_pixel_stride, const PoolShape& s, const Win& w, const TapTable& taps) {
  if (channels == pixel_stride) {
    std::fill(plane, plane + s.H * s.W * channels, acc_t(0));
  } else {
    for (int64_t i = 0; i < s.H * s.W; ++i) std::fill(plane + i * pixel_stride, plane + i * pixel_stride + channels, acc_t(0));
  }
  for (int64_t oh = 0; oh < s.OH; ++oh) {
    const int64_t h0 = oh * w.sh() - w.ph();
    for (int64_t ow = 0; ow < s.OW; ++ow) {
      const int64_t w0 = ow * w.sw() - w.pw(), o = (oh * s.OW + ow) * out_pixel_stride;
      if (taps.inside(h0, w0, s.H, s.W)) {
        acc_t* corner = plane + (h0 * s.W + w0) * pixel_stride;
        for (int64_t c = 0; c < channels; ++c) {
          const int64_t tap = static_cast<int64_t>(argmax[o + c]);
          if (tap < taps.taps()) corner[taps.offset[tap] + c] += static_cast<acc_t>(dy[o + c]);
        }
        continue;
      }
      for (int64_t c = 0; c < channels; ++c) {
        int64_t ih, iw;
        if (taps.locate(argmax[o + c], h0, w0, s.H, s.W, ih, iw)) {
          plane[(ih * s.W + iw) * pixel_stride + c] += static_cast<acc_t>(dy[o + c]);
        }
      }
    }
  }
}

template <typename scalar_t, typename index_t, typename Win>
void backward_nchw(const scalar_t* dy, const index_t* argmax, scalar_t* dx, const PoolShape& s, const Win& w) {
  using acc_t = at::opmath_type<scalar_t>;
  const bool direct = std::is_same_v<acc_t, scalar_t> || w.disjoint();
  const TapTable taps(w, s.W, 1);
  at::parallel_for(0, s.N * s.C, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> buffer(direct ? 0 : s.H * s.W);
    for (int64_t p = begin; p < end; ++p) {
      scalar_t* dxp = dx + p * s.H * s.W;
      const scalar_t* dyp = dy + p * s.OH * s.OW;
      const index_t* ap = argmax + p * s.OH * s.OW;
      if (direct) {
        scatter_image(dxp, 1, 1, dyp, ap, 1, s, w, taps);
      } else {
        scatter_image(buffer.data(), 1, 1, dyp, ap, 1, s, w, taps);
        for (int64_t i = 0; i < s.H * s.W; ++i) dxp[i] = static_cast<scalar_t>(buffer[i]);
      }
    }
  });
}

// channels_last backward: the same scatter, a task per image (split into blocks of channels only
// when there are fewer images than threads: each block's task walks the whole image).
template <typename scalar_t, typename index_t, typename Win>
void backward_channels_last(const scalar_t* dy, const index_t* argmax, scalar_t* dx, const PoolShape& s,
                            const Win& w) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t C = s.C, pixels = s.H * s.W;
  const int64_t splits = std::clamp<int64_t>(at::get_num_threads() / std::max<int64_t>(1, s.N), 1, (C + 15) / 16);
  const int64_t CHANNELS = (C + splits - 1) / splits, blocks = (C + CHANNELS - 1) / CHANNELS;
  const bool direct = std::is_same_v<acc_t, scalar_t> || w.disjoint();
  // the float buffer holds [pixel][channel of the block]; dx, [pixel][all channels]
  const TapTable taps(w, s.W, direct ? C : CHANNELS);
  at::parallel_for(0, s.N * blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> buffer(direct ? 0 : pixels * CHANNELS);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / blocks, c0 = (task % blocks) * CHANNELS, nc = std::min(CHANNELS, C - c0);
      scalar_t* dxn = dx + n * pixels * C + c0;
      const int64_t o = n * s.OH * s.OW * C + c0;
      if (direct) {
        scatter_image(dxn, C, nc, dy + o, argmax + o, C, s, w, taps);
        continue;
      }
      scatter_image(buffer.data(), CHANNELS, nc, dy + o, argmax + o, C, s, w, taps);
      for (int64_t i = 0; i < pixels; ++i) {
        for (int64_t c = 0; c < nc; ++c) dxn[i * C + c] = static_cast<scalar_t>(buffer[i * CHANNELS + c]);
      }
    }
  });
}

std::tuple<at::Tensor, at::Tensor> max_pool2d_forward_cpu(const at::Tensor& input, at::IntArrayRef kernel_size,
                                                          at::IntArrayRef stride, at::IntArrayRef padding,
                                                          at::IntArrayRef dilation, bool ceil_mode,
                                                          bool with_argmax) {
  PoolCall call = prepare_max_pool2d_forward(input, kernel_size, stride, padding, dilation, ceil_mode, with_argmax);
  if (call.y.numel() == 0) return {call.y, call.argmax};
  const PoolShape s{call.N, call.C, call.H, call.W, call.OH, call.OW};
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "max_pool2d_forward_cpu", [&] {
    auto run = [&](auto* argmax_ptr) {
      with_window(call.args, [&](const auto& w) {
        const scalar_t* x = call.x.const_data_ptr<scalar_t>();
        scalar_t* y = call.y.mutable_data_ptr<scalar_t>();
        if (call.channels_last) {
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
                                   at::IntArrayRef padding, at::IntArrayRef dilation) {
  PoolCall call = prepare_max_pool2d_backward(grad_output, argmax, input_height, input_width, kernel_size, stride,
                                              padding, dilation);
  if (call.dx.numel() == 0) return call.dx;
  const PoolShape s{call.N, call.C, call.H, call.W, call.OH, call.OW};
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad_output.scalar_type(), "max_pool2d_backward_cpu", [&] {
    auto run = [&](const auto* argmax_ptr) {
      with_window(call.args, [&](const auto& w) {
        const scalar_t* dy = call.dy.const_data_ptr<scalar_t>();
        scalar_t* dx = call.dx.mutable_data_ptr<scalar_t>();
        if (call.channels_last) {
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
