// 2-D max-pool, PyTorch's semantics, with a compact argmax: the offset of the maximum inside its
// window (tap_h * kernel_w + tap_w), which fits a byte for windows of up to 256 positions.
// Per-element math shared by the CPU and CUDA kernels.
#pragma once

#include "common.h"

namespace cnnkernels::max_pool2d {

// PyTorch's pooling_output_shape: floor or ceil division, and with ceil_mode the last window
// must start inside the input or its left padding.
CNNK_HD int64_t output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation,
                            bool ceil_mode) {
  int64_t span = in + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  int64_t out = (span >= 0 ? span / stride : -((-span + stride - 1) / stride)) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) {
    --out;
  }
  return out;
}

// Taps [first_tap, end_tap) of a window starting at `start` (may be negative: padding) land inside [0, in).
CNNK_HD int64_t first_tap(int64_t start, int64_t dilation) {
  return start >= 0 ? 0 : (-start + dilation - 1) / dilation;
}
CNNK_HD int64_t end_tap(int64_t start, int64_t dilation, int64_t kernel, int64_t in) {
  if (start >= in) return 0;
  int64_t taps = (in - 1 - start) / dilation + 1;
  return taps < kernel ? taps : kernel;
}

// PyTorch's rule: the first maximum wins ties, and a NaN takes over (so the output is NaN).
template <typename acc_t>
CNNK_HD bool takes_over(acc_t value, acc_t best) {
  return value > best || is_nan(value);
}

// Gather backward: the output position whose window has tap `tap` at input position `i`, or -1.
CNNK_HD int64_t window_with_tap_at(int64_t i, int64_t tap, int64_t stride, int64_t pad, int64_t dilation,
                                   int64_t out) {
  int64_t t = i + pad - tap * dilation;
  if (t < 0 || t % stride != 0) return -1;
  t /= stride;
  return t < out ? t : -1;
}

}  // namespace cnnkernels::max_pool2d
