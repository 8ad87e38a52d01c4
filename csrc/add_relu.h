// Residual add + ReLU: y = relu(a + b); the gradient of both inputs is dy where y > 0 (or NaN), else 0.
// What the backward needs of y is one bit per element, so training saves a bit mask, not y: bit j of
// byte k is element 8k + j in the memory order of the dense layout the kernel computed in (the output's;
// for an in-place op on an input that is not dense, the dense layout with its order of dimensions).
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

// PyTorch's threshold_backward passes dy where !(y <= 0): y > 0, or NaN. Taken on y as stored (after
// rounding to its dtype), as PyTorch takes it. Of a relu output that is: y is neither +0 nor -0.
template <typename acc_t>
CNNK_HD bool passes_gradient(acc_t y) {
  return !(y <= acc_t(0));
}

// Bytes of the mask of n elements.
CNNK_HD int64_t mask_bytes(int64_t n) { return (n + 7) / 8; }

}  // namespace cnnkernels::add_relu
