// Local Response Normalization across channels, PyTorch's semantics:
//   s_c = k + alpha / size * sum_{j = c - size/2}^{c + (size-1)/2} x_j^2   (channels outside [0, C) count as 0)
//   y_c = x_c * s_c^-beta
// Backward, with t_j = dy_j * x_j * s_j^(-beta-1):
//   dx_c = dy_c * s_c^-beta - (2 alpha beta / size) * x_c * sum_{j = c - (size-1)/2}^{c + size/2} t_j
// Per-element math shared by the CPU and CUDA kernels.
#pragma once

#include "common.h"

namespace cnnkernels::lrn {

// Channels before / after c in the forward window (PyTorch pads size/2 in front, (size-1)/2 behind).
CNNK_HD int64_t window_before(int64_t size) { return size / 2; }
CNNK_HD int64_t window_after(int64_t size) { return (size - 1) / 2; }
// The backward window is the forward one mirrored: j such that c lies in j's forward window.
CNNK_HD int64_t backward_window_before(int64_t size) { return (size - 1) / 2; }
CNNK_HD int64_t backward_window_after(int64_t size) { return size / 2; }

template <typename acc_t>
CNNK_HD acc_t scale(acc_t sum_sq, acc_t alpha_over_size, acc_t k) {
  return k + alpha_over_size * sum_sq;
}

// s^-beta. beta = 0.75 (AlexNet, GoogLeNet) needs no pow: s^-3/4 = r * sqrt(r) with r = 1/sqrt(s).
template <typename acc_t>
CNNK_HD acc_t inv_pow_075(acc_t s) {
  acc_t r = acc_t(1) / std::sqrt(s);
  return r * std::sqrt(r);
}

template <typename acc_t>
CNNK_HD acc_t inv_pow(acc_t s, acc_t beta) {
  return std::pow(s, -beta);
}

template <typename acc_t>
CNNK_HD acc_t forward(acc_t x, acc_t inv_pow_s) {
  return x * inv_pow_s;
}

// t_j of the backward formula: dy_j * x_j * s_j^(-beta-1).
template <typename acc_t>
CNNK_HD acc_t backward_term(acc_t dy, acc_t x, acc_t inv_pow_s, acc_t s) {
  return dy * x * inv_pow_s / s;
}

// coef = 2 alpha beta / size; window_sum_t = sum of backward_term over the backward window.
template <typename acc_t>
CNNK_HD acc_t backward(acc_t dy, acc_t x, acc_t inv_pow_s, acc_t window_sum_t, acc_t coef) {
  return dy * inv_pow_s - coef * x * window_sum_t;
}

}  // namespace cnnkernels::lrn
