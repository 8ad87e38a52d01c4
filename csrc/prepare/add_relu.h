// add+ReLU's operands, checked, in the layout its kernels compute in, and its outputs allocated.
#pragma once

#include <ATen/MemoryOverlap.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>

#include "../add_relu.h"
#include "common.h"

namespace cnnkernels {

// In-place add+ReLU: checks the operands (residual may be input itself, never a tensor that partly
// overlaps it) and returns residual in input's layout; or an undefined tensor when input's own
// strides are no layout the kernels take, and the caller computes out of place and copies back.
inline at::Tensor prepare_add_relu_inplace(const at::Tensor& input, const at::Tensor& residual, const char* op) {
  check_floating(input, op, "input");
  check_same(input, residual, op, "input", "residual");
  CNNK_CHECK_ARG(at::has_internal_overlap(input) != at::MemOverlap::Yes, op,
                 ": input has elements that share memory, so it cannot be written in place");
  const auto overlap = at::get_overlap_status(input, residual);
  CNNK_CHECK_ARG(overlap != at::MemOverlapStatus::Partial, op,  // (as PyTorch: strided views are "too hard")
                 ": residual partly overlaps input, which is written in place; pass residual.clone()");
  const auto format = compute_format(input);
  return input.is_contiguous(format) ? residual.contiguous(format) : at::Tensor();
}

// Both operands in the first one's layout, and the output allocated in it.
struct ElementwiseCall {
  at::Tensor a, b, out;
};

inline ElementwiseCall prepare_elementwise(const at::Tensor& first, const at::Tensor& second, const char* op,
                                           const char* first_name, const char* second_name) {
  check_floating(first, op, first_name);
  check_same(first, second, op, first_name, second_name);
  const auto format = compute_format(first);
  ElementwiseCall call{first.contiguous(format), second.contiguous(format), {}};
  call.out = at::empty_like(call.a, call.a.options(), format);
  return call;
}

// Training's bit mask of where the gradient flows (csrc/add_relu.h), for `output`'s elements; empty for
// inference.
inline at::Tensor empty_add_relu_mask(const at::Tensor& output, bool with_mask) {
  return at::empty({with_mask ? add_relu::mask_bytes(output.numel()) : 0}, output.options().dtype(at::kByte));
}

// The backward's operands: dy in the layout the forward computed in (its mask's element order), and
// dx allocated in it.
struct AddReluBackwardCall {
  at::Tensor dy, mask, dx;
};

inline AddReluBackwardCall prepare_add_relu_backward(const at::Tensor& grad_output, const at::Tensor& mask,
                                                     bool channels_last) {
  const char* op = "add_relu_backward";
  check_floating(grad_output, op, "grad_output");
  const int64_t bytes = add_relu::mask_bytes(grad_output.numel());
  CNNK_CHECK_ARG(mask.dim() == 1 && mask.scalar_type() == at::kByte && mask.numel() == bytes, op,
                 ": expected a 1-D uint8 mask of ", bytes, " bytes for grad_output of shape ", py(grad_output.sizes()),
                 " (from add_relu with with_mask=True), got shape ", py(mask.sizes()), " and dtype ",
                 py(mask.scalar_type()));
  CNNK_CHECK_ARG(mask.device() == grad_output.device(), op, ": expected mask on ", py(grad_output.device()), ", got ",
                 py(mask.device()));
  CNNK_CHECK_ARG(!channels_last || grad_output.dim() == 4, op,
                 ": channels_last applies to 4-D tensors only, got grad_output of shape ", py(grad_output.sizes()));
  const auto format = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  AddReluBackwardCall call{grad_output.contiguous(format), mask.contiguous(), {}};
  call.dx = at::empty_like(call.dy, call.dy.options(), format);
  return call;
}

}  // namespace cnnkernels
