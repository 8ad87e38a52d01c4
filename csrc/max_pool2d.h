// 2-D max-pool, PyTorch's semantics, with a compact argmax: the offset of the maximum inside its
// window (tap_h * kernel_w + tap_w), which fits a byte for windows of up to 256 positions.
// The op's shapes and window, and the per-element math shared by the CPU and CUDA kernels.
#pragma once

#include "common.h"

namespace cnnkernels::max_pool2d {

// The pooling window: kernel size, stride, padding and dilation, (height, width) each, validated.
struct PoolWindow {
  int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
};

// Input (N, C, H, W) and output (N, C, OH, OW) as a kernel sees them: both NCHW or both channels_last.
struct PoolShape {
  int64_t N, C, H, W, OH, OW;
  bool channels_last;
};

// PyTorch's pooling_output_shape: floor or ceil division, and with ceil_mode the last window
// must start inside the input or its left padding.
CNNK_HD int64_t output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation, bool ceil_mode) {
  int64_t span = in + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  int64_t out = (span >= 0 ? span / stride : -((-span + stride - 1) / stride)) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) {
    --out;
  }
  return out;
}

// Taps [first_tap, end_tap) of a window starting at `start` (may be negative: padding) land inside [0, in).
// (Templates on the index type: the GPU kernels do this arithmetic in 32 bits when sizes allow.)
template <typename index_t>
CNNK_HD index_t first_tap(index_t start, index_t dilation) {
  return start >= 0 ? 0 : (-start + dilation - 1) / dilation;
}
template <typename index_t>
CNNK_HD index_t end_tap(index_t start, index_t dilation, index_t kernel, index_t in) {
  if (start >= in) return 0;
  index_t taps = (in - 1 - start) / dilation + 1;
  return taps < kernel ? taps : kernel;
}

// PyTorch's rule: the first maximum wins ties, and a NaN takes over (so the output is NaN).
template <typename acc_t>
CNNK_HD bool takes_over(acc_t value, acc_t best) {
  return value > best || is_nan(value);
}

// Gather backward: the output position whose window has tap `tap` at input position `i`, or -1.
template <typename index_t>
CNNK_HD index_t window_with_tap_at(index_t i, index_t tap, index_t stride, index_t pad, index_t dilation, index_t out) {
  index_t t = i + pad - tap * dilation;
  if (t < 0 || t % stride != 0) return -1;
  t /= stride;
  return t < out ? t : -1;
}

// Window geometry. On the fast paths the sizes (and dilation 1) are compile-time constants; 0 means
// "read it from the PoolWindow".
template <int KH, int KW, int SH, int SW>
struct Window {
  PoolWindow a;
  static constexpr bool fixed = KH > 0;
  static constexpr int fixed_kh = KH, fixed_kw = KW, fixed_sh = SH, fixed_sw = SW;
  // clang-format off
  CNNK_HD int64_t kh() const { if constexpr (fixed) return KH; else return a.kernel_h; }
  CNNK_HD int64_t kw() const { if constexpr (fixed) return KW; else return a.kernel_w; }
  CNNK_HD int64_t sh() const { if constexpr (fixed) return SH; else return a.stride_h; }
  CNNK_HD int64_t sw() const { if constexpr (fixed) return SW; else return a.stride_w; }
  CNNK_HD int64_t dh() const { if constexpr (fixed) return 1; else return a.dilation_h; }
  CNNK_HD int64_t dw() const { if constexpr (fixed) return 1; else return a.dilation_w; }
  // clang-format on
  CNNK_HD int64_t ph() const { return a.pad_h; }
  CNNK_HD int64_t pw() const { return a.pad_w; }
  // No two windows share an input position (stride >= the dilated window, as VGG's 2x2/2).
  CNNK_HD bool disjoint() const { return sh() >= (kh() - 1) * dh() + 1 && sw() >= (kw() - 1) * dw() + 1; }
};

// Calls body(Window<...>{a}) with the fast path that matches, else the general one.
template <typename Body>
void with_window(const PoolWindow& a, Body&& body) {
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

}  // namespace cnnkernels::max_pool2d
