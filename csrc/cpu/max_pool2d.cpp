// Max-pool 2-D on the CPU: forward writes the output and, when asked, the compact argmax; the
// backward gathers, for each input element, the gradients of the windows whose maximum it is
// (no scatter, no zero-fill pass, deterministic). NCHW loops run over output pixels of one plane;
// channels_last loops run over the contiguous channels of one pixel (vectorised).
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <limits>
#include <vector>

#include "../max_pool2d.h"
#include "../tensor_checks.h"

namespace cnnkernels {
namespace {

using max_pool2d::end_tap;
using max_pool2d::first_tap;
using max_pool2d::takes_over;
using max_pool2d::window_with_tap_at;

struct PoolShape {
  int64_t N, C, H, W, OH, OW;
};

// Window taps; fixed sizes (and dilation 1) are compile-time constants on the fast paths,
// 0 means "read it from the arguments".
template <int KH, int KW, int SH, int SW>
struct Window {
  const PoolArgs& a;
  static constexpr bool fixed = KH > 0;
  int64_t kh() const { if constexpr (fixed) return KH; else return a.kernel_h; }
  int64_t kw() const { if constexpr (fixed) return KW; else return a.kernel_w; }
  int64_t sh() const { if constexpr (fixed) return SH; else return a.stride_h; }
  int64_t sw() const { if constexpr (fixed) return SW; else return a.stride_w; }
  int64_t dh() const { if constexpr (fixed) return 1; else return a.dilation_h; }
  int64_t dw() const { if constexpr (fixed) return 1; else return a.dilation_w; }
  int64_t ph() const { return a.pad_h; }
  int64_t pw() const { return a.pad_w; }
};

// Calls body(Window<...>{args}) with the fast path that matches, else the general one.
template <typename Body>
void with_window(const PoolArgs& a, Body&& body) {
  const bool dense = a.dilation_h == 1 && a.dilation_w == 1;
  auto is = [&](int64_t k, int64_t s) {
    return dense && a.kernel_h == k && a.kernel_w == k && a.stride_h == s && a.stride_w == s;
  };
  if (is(3, 2)) {
    body(Window<3, 3, 2, 2>{a});  // AlexNet, GoogLeNet, ResNet stem
  } else if (is(3, 1)) {
    body(Window<3, 3, 1, 1>{a});  // GoogLeNet's pool-projection branches
  } else if (is(2, 2)) {
    body(Window<2, 2, 2, 2>{a});  // VGG
  } else {
    body(Window<0, 0, 0, 0>{a});
  }
}

template <typename scalar_t, typename index_t, typename Win>
void forward_nchw(const scalar_t* x, scalar_t* y, index_t* argmax, const PoolShape& s, const Win& w) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t rows = s.N * s.C * s.OH;  // (plane, oh) is a row of the pooled output
  at::parallel_for(0, rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, s.OW)), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t plane = row / s.OH, oh = row % s.OH;
      const scalar_t* xp = x + plane * s.H * s.W;
      const int64_t h0 = oh * w.sh() - w.ph();
      const int64_t ki0 = first_tap(h0, w.dh()), ki1 = end_tap(h0, w.dh(), w.kh(), s.H);
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const int64_t w0 = ow * w.sw() - w.pw();
        const int64_t kj0 = first_tap(w0, w.dw()), kj1 = end_tap(w0, w.dw(), w.kw(), s.W);
        acc_t best = -std::numeric_limits<acc_t>::infinity();
        int64_t best_tap = (ki0 < ki1 && kj0 < kj1) ? ki0 * w.kw() + kj0 : 0;
        auto scan = [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
          for (int64_t ki = i0; ki < i1; ++ki) {
            const scalar_t* xr = xp + (h0 + ki * w.dh()) * s.W + w0;
            for (int64_t kj = j0; kj < j1; ++kj) {
              const acc_t v = static_cast<acc_t>(xr[kj * w.dw()]);
              if (takes_over(v, best)) {
                best = v;
                best_tap = ki * w.kw() + kj;
              }
            }
          }
        };
        if (ki0 == 0 && ki1 == w.kh() && kj0 == 0 && kj1 == w.kw()) {
          scan(0, w.kh(), 0, w.kw());  // interior window: constant bounds on the fast paths
        } else {
          scan(ki0, ki1, kj0, kj1);
        }
        y[row * s.OW + ow] = static_cast<scalar_t>(best);
        if (argmax) argmax[row * s.OW + ow] = static_cast<index_t>(best_tap);
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
        std::fill(best_tap.begin(), best_tap.end(), first);
        for (int64_t ki = ki0; ki < ki1; ++ki) {
          for (int64_t kj = kj0; kj < kj1; ++kj) {
            const scalar_t* xc = x + ((n * s.H + h0 + ki * w.dh()) * s.W + w0 + kj * w.dw()) * C;
            const int32_t tap = static_cast<int32_t>(ki * w.kw() + kj);
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

template <typename scalar_t, typename index_t, typename Win>
void backward_nchw(const scalar_t* dy, const index_t* argmax, scalar_t* dx, const PoolShape& s, const Win& w) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t rows = s.N * s.C * s.H;  // (plane, ih) is a row of the input gradient
  at::parallel_for(0, rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, s.W)), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t plane = row / s.H, ih = row % s.H;
      const scalar_t* dyp = dy + plane * s.OH * s.OW;
      const index_t* ap = argmax + plane * s.OH * s.OW;
      for (int64_t iw = 0; iw < s.W; ++iw) {
        acc_t sum = 0;
        for (int64_t ki = 0; ki < w.kh(); ++ki) {
          const int64_t oh = window_with_tap_at(ih, ki, w.sh(), w.ph(), w.dh(), s.OH);
          if (oh < 0) continue;
          for (int64_t kj = 0; kj < w.kw(); ++kj) {
            const int64_t ow = window_with_tap_at(iw, kj, w.sw(), w.pw(), w.dw(), s.OW);
            if (ow < 0) continue;
            const int64_t o = oh * s.OW + ow;
            if (static_cast<int64_t>(ap[o]) == ki * w.kw() + kj) sum += static_cast<acc_t>(dyp[o]);
          }
        }
        dx[row * s.W + iw] = static_cast<scalar_t>(sum);
      }
    }
  });
}

template <typename scalar_t, typename index_t, typename Win>
void backward_channels_last(const scalar_t* dy, const index_t* argmax, scalar_t* dx, const PoolShape& s,
                            const Win& w) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t C = s.C;
  at::parallel_for(0, s.N * s.H, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> sum(C);
    for (int64_t row = begin; row < end; ++row) {  // (n, ih)
      const int64_t n = row / s.H, ih = row % s.H;
      for (int64_t iw = 0; iw < s.W; ++iw) {
        std::fill(sum.begin(), sum.end(), acc_t(0));
        for (int64_t ki = 0; ki < w.kh(); ++ki) {
          const int64_t oh = window_with_tap_at(ih, ki, w.sh(), w.ph(), w.dh(), s.OH);
          if (oh < 0) continue;
          for (int64_t kj = 0; kj < w.kw(); ++kj) {
            const int64_t ow = window_with_tap_at(iw, kj, w.sw(), w.pw(), w.dw(), s.OW);
            if (ow < 0) continue;
            const int64_t o = ((n * s.OH + oh) * s.OW + ow) * C;
            const index_t tap = static_cast<index_t>(ki * w.kw() + kj);
            for (int64_t c = 0; c < C; ++c) {
              sum[c] += argmax[o + c] == tap ? static_cast<acc_t>(dy[o + c]) : acc_t(0);
            }
          }
        }
        scalar_t* dxp = dx + (row * s.W + iw) * C;
        for (int64_t c = 0; c < C; ++c) dxp[c] = static_cast<scalar_t>(sum[c]);
      }
    }
  });
}

// (N, C, H, W) view of a 3-D or 4-D tensor.
at::Tensor as_batched(const at::Tensor& t) { return t.dim() == 3 ? t.unsqueeze(0) : t; }

std::tuple<at::Tensor, at::Tensor> max_pool2d_forward_cpu(const at::Tensor& input, at::IntArrayRef kernel_size,
                                                          at::IntArrayRef stride, at::IntArrayRef padding,
                                                          at::IntArrayRef dilation, bool ceil_mode,
                                                          bool with_argmax) {
  const char* op = "max_pool2d_forward";
  check_floating(input, op, "input");
  TORCH_CHECK_VALUE(input.dim() == 3 || input.dim() == 4, op, ": expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got ",
                    input.dim(), "-D input of shape ", input.sizes());
  const PoolArgs a = check_pool_args(kernel_size, stride, padding, dilation, op);
  const int64_t C = input.size(-3), H = input.size(-2), W = input.size(-1);
  TORCH_CHECK_VALUE(C > 0 && H > 0 && W > 0, op, ": expected non-empty channel and spatial dimensions, got input of shape ",
                    input.sizes());
  const int64_t OH = max_pool2d::output_size(H, a.kernel_h, a.stride_h, a.pad_h, a.dilation_h, ceil_mode);
  const int64_t OW = max_pool2d::output_size(W, a.kernel_w, a.stride_w, a.pad_w, a.dilation_w, ceil_mode);
  TORCH_CHECK_VALUE(OH >= 1 && OW >= 1, op, ": the pooling window (kernel ", kernel_size, ", dilation ", dilation,
                    ") is bigger than the padded input (", H + 2 * a.pad_h, "x", W + 2 * a.pad_w,
                    "): the output would be ", OH, "x", OW);

  const auto format = compute_format(input);
  const at::Tensor x = as_batched(input.contiguous(format));
  const PoolShape s{x.size(0), C, H, W, OH, OW};
  auto out_shape = input.sizes().vec();
  out_shape[out_shape.size() - 2] = OH;
  out_shape.back() = OW;
  at::Tensor y = at::empty(out_shape, input.options().memory_format(format));
  at::Tensor argmax = with_argmax ? at::empty(out_shape, input.options().dtype(argmax_dtype(a)).memory_format(format))
                                  : at::empty({0}, input.options().dtype(argmax_dtype(a)));
  if (y.numel() == 0) return {y, argmax};
  const bool channels_last = format == at::MemoryFormat::ChannelsLast;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "max_pool2d_forward_cpu", [&] {
    auto run = [&](auto* argmax_ptr) {
      with_window(a, [&](const auto& w) {
        if (channels_last) {
          forward_channels_last(x.const_data_ptr<scalar_t>(), y.mutable_data_ptr<scalar_t>(), argmax_ptr, s, w);
        } else {
          forward_nchw(x.const_data_ptr<scalar_t>(), y.mutable_data_ptr<scalar_t>(), argmax_ptr, s, w);
        }
      });
    };
    if (argmax.scalar_type() == at::kByte) {
      run(with_argmax ? argmax.mutable_data_ptr<uint8_t>() : nullptr);
    } else {
      run(with_argmax ? argmax.mutable_data_ptr<int32_t>() : nullptr);
    }
  });
  return {y, argmax};
}

at::Tensor max_pool2d_backward_cpu(const at::Tensor& grad_output, const at::Tensor& argmax, int64_t input_height,
                                   int64_t input_width, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                   at::IntArrayRef padding, at::IntArrayRef dilation) {
  const char* op = "max_pool2d_backward";
  check_floating(grad_output, op, "grad_output");
  TORCH_CHECK_VALUE(grad_output.dim() == 3 || grad_output.dim() == 4, op,
                    ": expected a 3-D or 4-D grad_output, got shape ", grad_output.sizes());
  const PoolArgs a = check_pool_args(kernel_size, stride, padding, dilation, op);
  TORCH_CHECK_VALUE(argmax.sizes() == grad_output.sizes() && argmax.scalar_type() == argmax_dtype(a), op,
                    ": expected argmax of shape ", grad_output.sizes(), " and dtype ", argmax_dtype(a),
                    " (from max_pool2d_forward with with_argmax=True), got shape ", argmax.sizes(), " and dtype ",
                    argmax.scalar_type());
  TORCH_CHECK_VALUE(argmax.device() == grad_output.device(), op, ": expected argmax on ", grad_output.device(),
                    ", got ", argmax.device());
  TORCH_CHECK_VALUE(input_height >= 1 && input_width >= 1, op, ": expected a positive input size, got ",
                    input_height, "x", input_width);

  const auto format = compute_format(grad_output);
  const at::Tensor dy = as_batched(grad_output.contiguous(format));
  const at::Tensor am = as_batched(argmax.contiguous(format));
  const PoolShape s{dy.size(0), dy.size(1), input_height, input_width, dy.size(2), dy.size(3)};
  auto in_shape = grad_output.sizes().vec();
  in_shape[in_shape.size() - 2] = input_height;
  in_shape.back() = input_width;
  at::Tensor dx = at::empty(in_shape, grad_output.options().memory_format(format));
  if (dx.numel() == 0) return dx;
  const bool channels_last = format == at::MemoryFormat::ChannelsLast;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, dy.scalar_type(), "max_pool2d_backward_cpu", [&] {
    auto run = [&](const auto* argmax_ptr) {
      with_window(a, [&](const auto& w) {
        if (channels_last) {
          backward_channels_last(dy.const_data_ptr<scalar_t>(), argmax_ptr, dx.mutable_data_ptr<scalar_t>(), s, w);
        } else {
          backward_nchw(dy.const_data_ptr<scalar_t>(), argmax_ptr, dx.mutable_data_ptr<scalar_t>(), s, w);
        }
      });
    };
    if (am.scalar_type() == at::kByte) {
      run(am.const_data_ptr<uint8_t>());
    } else {
      run(am.const_data_ptr<int32_t>());
    }
  });
  return dx;
}

}  // namespace

TORCH_LIBRARY_IMPL(cnnkernels, CPU, m) {
  m.impl("max_pool2d_forward", &max_pool2d_forward_cpu);
  m.impl("max_pool2d_backward", &max_pool2d_backward_cpu);
}

}  // namespace cnnkernels
