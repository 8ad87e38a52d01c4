// Residual add + ReLU: y = relu(a + b); the gradient of both inputs is dy where y > 0 (or NaN), else 0.
// Per-element math shared by the CPU and CUDA kernels.
#pragma once

#include "common.h"

namespace cnnkernels::add_relu {

// `s < 0 ? 0 : s` keeps NaN, as torch.relu does.
template <typename acc_t>
CNNK_HD acc_t forward(acc_t a, acc_t b) {
  acc_t s = a + b;
  return s < acc_t(0) ? acc_t(0) : s;
}

// PyTorch's threshold_backward: zero where y <= 0, so a NaN output still passes its gradient.
template <typename acc_t>
CNNK_HD acc_t backward(acc_t dy, acc_t y) {
  return y <= acc_t(0) ? acc_t(0) : dy;
}

}  // namespace cnnkernels::add_relu
