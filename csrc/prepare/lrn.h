// LRN's operands, checked, in the layout its kernels compute in, and its output allocated.
//
// The output (and the input gradient) keeps input's layout, as PyTorch's composite x / s^beta does
// (at::empty_like). The kernels compute in (N, C, S) order (contiguous) or (N, S, C) order (channels
// last, of any rank); an output in neither is computed contiguous and copied into place.
#pragma once

#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>

#include <numeric>
#include <vector>

#include "../lrn.h"
#include "common.h"

namespace cnnkernels {

struct LrnCall {
  at::Tensor x, dy, out;  // in the kernel's layout; dy only for the backward; out is y or dx
  at::Tensor result;      // what the op returns: out itself, or input's layout to copy out into
  lrn::Shape shape;
  lrn::Power power;
};

// (N, S..., C) dense: channels innermost, then the other dimensions in order.
inline bool is_channels_last_order(const at::Tensor& t) {
  std::vector<int64_t> order(t.dim());
  std::iota(order.begin() + 1, order.end() - 1, 2);
  order.back() = 1;
  return t.permute(order).is_contiguous();
}

inline LrnCall prepare_lrn(const at::Tensor& input, const at::Tensor* grad_output, int64_t size, double alpha,
                           double beta, double k, const char* op) {
  check_floating(input, op, "input");
  CNNK_CHECK_ARG(input.dim() >= 3, op, ": expected input of shape (N, C, *) with at least 3 dimensions, got shape ",
                 py(input.sizes()));
  CNNK_CHECK_ARG(size >= 1, op, ": expected size to be an int >= 1, got ", size);
  if (grad_output != nullptr) check_same(*grad_output, input, op, "grad_output", "input");
  LrnCall call;
  call.result = at::empty_like(input);
  const bool channels_last = !call.result.is_contiguous() && is_channels_last_order(call.result);
  call.out = call.result.is_contiguous() || channels_last ? call.result : at::empty(input.sizes(), input.options());
  call.x = in_layout_of(input, call.out);
  if (grad_output != nullptr) call.dy = in_layout_of(*grad_output, call.out);
  const int64_t N = input.size(0), C = input.size(1);
  call.shape = {N, C, N * C == 0 ? 0 : input.numel() / (N * C), channels_last};
  call.power = lrn::power_for(alpha, beta, k);
  return call;
}

// Runs kernel() and returns the op's result; unless there is nothing to compute, or beta = 0
// (lrn::Power::Identity), where y = x and dx = dy + 0 * x: PyTorch's gradient there is dy except where
// x is inf or NaN (its chain multiplies x by the zero gradient of pow at exponent 0).
template <typename Kernel>
at::Tensor run_lrn(LrnCall& call, Kernel&& kernel) {
  if (call.out.numel() != 0) {
    if (call.power != lrn::Power::Identity) {
      kernel();
    } else if (call.dy.defined()) {
      call.out.copy_(call.dy).add_(call.x, /*alpha=*/0);
    } else {
      call.out.copy_(call.x);
    }
  }
  if (!call.out.is_same(call.result)) call.result.copy_(call.out);
  return call.result;
}

}  // namespace cnnkernels
