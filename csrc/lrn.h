// Local Response Normalization across channels, PyTorch's semantics:
//   s_c = k + alpha / size * sum_{j = c - size/2}^{c + (size-1)/2} x_j^2   (channels outside [0, C) count as 0)
//   y_c = x_c * s_c^-beta
// Backward, with t_j = dy_j * x_j * s_j^(-beta-1):
//   dx_c = dy_c * s_c^-beta - (2 alpha beta / size) * x_c * sum_{j = c - (size-1)/2}^{c + size/2} t_j
// The op's shapes and parameters, and the per-element math shared by the CPU and CUDA kernels.
#pragma once

#include "common.h"

namespace cnnkernels::lrn {

// Channels before / after c in the forward window (PyTorch pads size/2 in front, (size-1)/2 behind).
CNNK_HD int64_t window_before(int64_t size) { return size / 2; }
CNNK_HD int64_t window_after(int64_t size) { return (size - 1) / 2; }
// The backward window is the forward one mirrored: j such that c lies in j's forward window.
CNNK_HD int64_t backward_window_before(int64_t size) { return (size - 1) / 2; }
CNNK_HD int64_t backward_window_after(int64_t size) { return size / 2; }

// An (N, C, *) input as a kernel sees it: S pixels per channel, in memory (N, C, S) or, channels_last,
// (N, S, C).
struct Shape {
  int64_t N, C, S;
  bool channels_last;
};

// The op's arguments, alpha already divided by size, in the kernel's accumulation type.
template <typename acc_t>
struct Params {
  int64_t size;
  acc_t alpha_over_size, beta, k;
  CNNK_HD int64_t before() const { return window_before(size); }
  CNNK_HD int64_t after() const { return window_after(size); }
};

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

// s^-beta: Power::ThreeQuarters's form (kBeta075) or pow (any beta, at run time).
template <bool kBeta075, typename acc_t>
CNNK_HD acc_t inv_pow_s(acc_t s, acc_t beta) {
  if constexpr (kBeta075) {
    return inv_pow_075(s);
  } else {
    return inv_pow(s, beta);
  }
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

// How s^-beta is computed, decided once per call from the op's arguments (power_for):
//  Identity       beta = 0: y = x and dx = dy + 0 * x. PyTorch divides by s^0 = 1 whatever s is (0, inf,
//                 NaN), and multiplies x by the zero gradient of its pow at exponent 0.
//  ThreeQuarters  beta = 0.75 where s >= k > 0 (k a normal float, alpha >= 0): r * sqrt(r) with
//                 r = 1/sqrt(s), which agrees with pow also where s overflows to inf or is NaN.
//  General        pow(s, -beta) with C's semantics, which are PyTorch's: s = 0, s = inf, and a negative s
//                 to an integer power.
// (cnnkernels/contracts/lrn.py, power, is the same rule.)
enum class Power { Identity, ThreeQuarters, General };

inline Power power_for(double alpha, double beta, double k) {
  if (beta == 0) return Power::Identity;
  if (beta == 0.75 && alpha >= 0 && k >= 1.1754943508222875e-38 /* FLT_MIN */) return Power::ThreeQuarters;
  return Power::General;
}

// Calls body(std::true_type{}) for Power::ThreeQuarters (no pow), body(std::false_type{}) for
// Power::General: a compile-time choice inside the kernels. (Identity runs no kernel.)
template <typename Body>
void with_power(Power power, Body&& body) {
  if (power == Power::ThreeQuarters) {
    body(std::true_type{});
  } else {
    body(std::false_type{});
  }
}

}  // namespace cnnkernels::lrn
