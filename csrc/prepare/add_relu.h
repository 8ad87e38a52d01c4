// add+ReLU's operands, checked, in the layout its kernels compute in, and its outputs allocated. The
// kernels run over the elements in memory order: every tensor of a call in one dense layout, the
// output's, which is the layout PyTorch's relu(input + residual) gives (TensorIterator's: input's own,
// as a rule), and the mask's bits in that order.
#pragma once

#include <ATen/ExpandUtils.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/TensorIterator.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_strided.h>

#include <vector>

#include "../add_relu.h"
#include "common.h"

namespace cnnkernels {

struct AddReluCall {
  at::Tensor a, b, out;  // a, b in out's layout
  at::Tensor result;     // in place: input, when out is a dense copy of it to write back; else out itself
};

inline void check_add_relu(const at::Tensor& input, const at::Tensor& residual, const char* op) {
  check_floating(input, op, "input");
  check_same(input, residual, op, "input", "residual");
}

inline AddReluCall prepare_add_relu(const at::Tensor& input, const at::Tensor& residual, const char* op) {
  check_add_relu(input, residual, op);
  AddReluCall call;
  const at::Tensor unallocated;  // TensorIterator allocates the output in the operands' layout
  call.out = at::TensorIteratorConfig()
                 .add_output(unallocated)
                 .add_const_input(input)
                 .add_const_input(residual)
                 .build()
                 .output();
  call.a = in_layout_of(input, call.out);
  call.b = in_layout_of(residual, call.out);
  call.result = call.out;
  return call;
}

// The dense layout an in-place add+ReLU computes in: input's own when it is non-overlapping and dense,
// else the dense layout with input's order of dimensions (computed, then copied back).
inline std::vector<int64_t> inplace_strides(const at::Tensor& input) {
  return input.is_non_overlapping_and_dense() ? input.strides().vec()
                                              : at::infer_dense_strides(input.sizes(), input.strides());
}

// In place: refuses what PyTorch's in-place add refuses, with its messages (an input with elements
// that share memory; a residual that partly overlaps it). residual may be input itself.
inline AddReluCall prepare_add_relu_inplace(const at::Tensor& input, const at::Tensor& residual, const char* op) {
  check_add_relu(input, residual, op);
  at::assert_no_internal_overlap(input);
  at::assert_no_partial_overlap(input, residual);
  AddReluCall call;
  call.out = input.is_non_overlapping_and_dense()
                 ? input
                 : at::empty_strided(input.sizes(), inplace_strides(input), input.options());
  call.a = in_layout_of(input, call.out);
  call.b = in_layout_of(residual, call.out);
  call.result = input;
  return call;
}

// After the kernel: an in-place op's dense copy written back into input.
inline void finish_add_relu(const AddReluCall& call) {
  if (!call.out.is_same(call.result)) call.result.copy_(call.out);
}

// Training's bit mask of where the gradient flows (csrc/add_relu.h), for `output`'s elements; empty for
// inference.
inline at::Tensor empty_add_relu_mask(const at::Tensor& output, bool with_mask) {
  return at::empty({with_mask ? add_relu::mask_bytes(output.numel()) : 0}, output.options().dtype(at::kByte));
}

// The backward's operands: dx allocated in the forward output's layout (output_strides, the mask's
// element order), and dy in it.
struct AddReluBackwardCall {
  at::Tensor dy, mask, dx;
};

inline AddReluBackwardCall prepare_add_relu_backward(const at::Tensor& grad_output, const at::Tensor& mask,
                                                     at::IntArrayRef output_strides) {
  const char* op = "add_relu_backward";
  check_floating(grad_output, op, "grad_output");
  const int64_t bytes = add_relu::mask_bytes(grad_output.numel());
  CNNK_CHECK_ARG(mask.dim() == 1 && mask.scalar_type() == at::kByte && mask.numel() == bytes, op,
                 ": expected a 1-D uint8 mask of ", bytes, " bytes for grad_output of shape ", py(grad_output.sizes()),
                 " (from add_relu with with_mask=True), got shape ", py(mask.sizes()), " and dtype ",
                 py(mask.scalar_type()));
  CNNK_CHECK_ARG(mask.device() == grad_output.device(), op, ": expected mask on ", py(grad_output.device()), ", got ",
                 py(mask.device()));
  CNNK_CHECK_ARG(output_strides.size() == static_cast<size_t>(grad_output.dim()), op, ": expected ", grad_output.dim(),
                 " output_strides for grad_output of shape ", py(grad_output.sizes()), ", got ", py(output_strides));
  AddReluBackwardCall call{
      {}, mask.contiguous(), at::empty_strided(grad_output.sizes(), output_strides, grad_output.options())};
  CNNK_CHECK_ARG(call.dx.is_non_overlapping_and_dense(), op, ": expected output_strides of a dense layout of shape ",
                 py(grad_output.sizes()), ", got ", py(output_strides));
  call.dy = in_layout_of(grad_output, call.dx);
  return call;
}

}  // namespace cnnkernels
