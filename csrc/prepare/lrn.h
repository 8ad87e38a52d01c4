// LRN's operands, checked, in the layout its kernels compute in, and its output allocated.
#pragma once

#include <ATen/ops/empty_like.h>

#include "../lrn.h"
#include "common.h"

namespace cnnkernels {

struct LrnCall {
  at::Tensor x, dy, out;  // dy only for the backward; out is y (forward) or dx (backward)
  lrn::Shape shape;
};

inline LrnCall prepare_lrn(const at::Tensor& input, const at::Tensor* grad_output, int64_t size, const char* op) {
  check_floating(input, op, "input");
  CNNK_CHECK_ARG(input.dim() >= 3, op, ": expected input of shape (N, C, *) with at least 3 dimensions, got shape ",
                 py(input.sizes()));
  CNNK_CHECK_ARG(size >= 1, op, ": expected size to be an int >= 1, got ", size);
  const auto format = compute_format(input);
  LrnCall call;
  call.x = input.contiguous(format);
  if (grad_output != nullptr) {
    check_same(*grad_output, input, op, "grad_output", "input");
    call.dy = grad_output->contiguous(format);
  }
  call.out = at::empty_like(call.x, call.x.options(), format);
  const int64_t N = input.size(0), C = input.size(1);
  call.shape = {N, C, N * C == 0 ? 0 : input.numel() / (N * C), format == at::MemoryFormat::ChannelsLast};
  return call;
}

}  // namespace cnnkernels
