// What the CPU and CUDA bindings share (C++ only: uses torch): argument checks with messages that
// say what was expected, the layout a kernel computes in, and the outputs it writes, allocated.
#pragma once

#include <ATen/MemoryOverlap.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/util/Exception.h>

#include <vector>

#include "add_relu.h"
#include "max_pool2d.h"

namespace cnnkernels {

// The memory format a kernel computes in and writes its output in: channels_last when the input is
// a 4-D channels_last tensor, else contiguous. Any other strides are copied into that format first.
// Mirrored by cnnkernels.ops._compute_format, which the fake tensors use.
inline at::MemoryFormat compute_format(const at::Tensor& t) {
  if (t.dim() == 4 && !t.is_contiguous() && t.is_contiguous(at::MemoryFormat::ChannelsLast)) {
    return at::MemoryFormat::ChannelsLast;
  }
  return at::MemoryFormat::Contiguous;
}

inline void check_floating(const at::Tensor& t, const char* op, const char* name) {
  auto st = t.scalar_type();
  TORCH_CHECK_VALUE(st == at::kFloat || st == at::kDouble || st == at::kHalf || st == at::kBFloat16, op,
                    ": expected ", name, " to be float32, float64, float16 or bfloat16, got ", st);
}

inline void check_same(const at::Tensor& a, const at::Tensor& b, const char* op, const char* name_a,
                       const char* name_b) {
  TORCH_CHECK_VALUE(a.sizes() == b.sizes(), op, ": expected ", name_a, " and ", name_b,
                    " to have the same shape, got ", a.sizes(), " and ", b.sizes());
  TORCH_CHECK_VALUE(a.scalar_type() == b.scalar_type(), op, ": expected ", name_a, " and ", name_b,
                    " to have the same dtype, got ", a.scalar_type(), " and ", b.scalar_type());
  TORCH_CHECK_VALUE(a.device() == b.device(), op, ": expected ", name_a, " and ", name_b,
                    " on the same device, got ", a.device(), " and ", b.device());
}

// ------------------------------------------------------------------ LRN

// Inputs in the layout the kernel computes in, viewed as (N, C, S) or, channels_last, (N, S, C).
struct LrnCall {
  at::Tensor x, dy, out;  // dy only for the backward; out is y (forward) or dx (backward)
  int64_t N, C, S;
  bool channels_last;
};

inline LrnCall prepare_lrn(const at::Tensor& input, const at::Tensor* grad_output, int64_t size, const char* op) {
  check_floating(input, op, "input");
  TORCH_CHECK_VALUE(input.dim() >= 3, op, ": expected input of shape (N, C, *) with at least 3 dimensions, got ",
                    input.dim(), "-D input of shape ", input.sizes());
  TORCH_CHECK_VALUE(size >= 1, op, ": expected size >= 1, got ", size);
  const auto format = compute_format(input);
  LrnCall call;
  call.x = input.contiguous(format);
  if (grad_output != nullptr) {
    check_same(*grad_output, input, op, "grad_output", "input");
    call.dy = grad_output->contiguous(format);
  }
  call.out = at::empty_like(call.x, call.x.options(), format);
  call.N = input.size(0);
  call.C = input.size(1);
  call.S = call.N * call.C == 0 ? 0 : input.numel() / (call.N * call.C);
  call.channels_last = format == at::MemoryFormat::ChannelsLast;
  return call;
}

// Pooling arguments as the kernels need them, validated once.
struct PoolArgs {
  int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
};

inline PoolArgs check_pool_args(at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                                at::IntArrayRef dilation, const char* op) {
  auto pair = [op](at::IntArrayRef v, const char* name) {
    TORCH_CHECK_VALUE(v.size() == 2, op, ": expected ", name, " to have 2 values (height, width), got ", v);
  };
  pair(kernel_size, "kernel_size");
  pair(stride, "stride");
  pair(padding, "padding");
  pair(dilation, "dilation");
  PoolArgs a{kernel_size[0], kernel_size[1], stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1]};
  TORCH_CHECK_VALUE(a.kernel_h >= 1 && a.kernel_w >= 1, op, ": expected kernel_size >= 1, got ", kernel_size);
  TORCH_CHECK_VALUE(a.stride_h >= 1 && a.stride_w >= 1, op, ": expected stride >= 1, got ", stride);
  TORCH_CHECK_VALUE(a.dilation_h >= 1 && a.dilation_w >= 1, op, ": expected dilation >= 1, got ", dilation);
  TORCH_CHECK_VALUE(a.pad_h >= 0 && a.pad_w >= 0 && a.pad_h <= a.kernel_h / 2 && a.pad_w <= a.kernel_w / 2, op,
                    ": expected padding between 0 and half the kernel size (", a.kernel_h / 2, ", ", a.kernel_w / 2,
                    "), got ", padding);
  return a;
}

// Dtype of the compact argmax: one byte for windows of up to 256 positions. Mirrored in cnnkernels/ops.py.
inline at::ScalarType argmax_dtype(const PoolArgs& a) {
  return a.kernel_h * a.kernel_w <= 256 ? at::kByte : at::kInt;
}

// (N, C, H, W) view of a 3-D or 4-D tensor.
inline at::Tensor as_batched(const at::Tensor& t) { return t.dim() == 3 ? t.unsqueeze(0) : t; }

// Tensors in the layout the kernel computes in, viewed as 4-D; the outputs keep the caller's rank.
struct PoolCall {
  PoolArgs args;
  at::Tensor x, dy, argmax;  // forward: x (and argmax to write); backward: dy and argmax to read
  at::Tensor y, dx;          // the outputs (y forward, dx backward)
  int64_t N, C, H, W, OH, OW;
  bool channels_last;
};

inline PoolCall prepare_max_pool2d_forward(const at::Tensor& input, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                           at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode,
                                           bool with_argmax) {
  const char* op = "max_pool2d_forward";
  check_floating(input, op, "input");
  TORCH_CHECK_VALUE(input.dim() == 3 || input.dim() == 4, op,
                    ": expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got ", input.dim(), "-D input of shape ",
                    input.sizes());
  PoolCall call;
  const PoolArgs a = call.args = check_pool_args(kernel_size, stride, padding, dilation, op);
  call.C = input.size(-3);
  call.H = input.size(-2);
  call.W = input.size(-1);
  TORCH_CHECK_VALUE(call.C > 0 && call.H > 0 && call.W > 0, op,
                    ": expected non-empty channel and spatial dimensions, got input of shape ", input.sizes());
  call.OH = max_pool2d::output_size(call.H, a.kernel_h, a.stride_h, a.pad_h, a.dilation_h, ceil_mode);
  call.OW = max_pool2d::output_size(call.W, a.kernel_w, a.stride_w, a.pad_w, a.dilation_w, ceil_mode);
  TORCH_CHECK_VALUE(call.OH >= 1 && call.OW >= 1, op, ": the pooling window (kernel ", kernel_size, ", dilation ",
                    dilation, ") is bigger than the padded input (", call.H + 2 * a.pad_h, "x", call.W + 2 * a.pad_w,
                    "): the output would be ", call.OH, "x", call.OW);
  const auto format = compute_format(input);
  call.channels_last = format == at::MemoryFormat::ChannelsLast;
  call.x = as_batched(input.contiguous(format));
  call.N = call.x.size(0);
  auto out_shape = input.sizes().vec();
  out_shape[out_shape.size() - 2] = call.OH;
  out_shape.back() = call.OW;
  call.y = at::empty(out_shape, input.options().memory_format(format));
  const auto argmax_options = input.options().dtype(argmax_dtype(a));
  call.argmax = with_argmax ? at::empty(out_shape, argmax_options.memory_format(format)) : at::empty({0}, argmax_options);
  return call;
}

inline PoolCall prepare_max_pool2d_backward(const at::Tensor& grad_output, const at::Tensor& argmax,
                                            int64_t input_height, int64_t input_width, at::IntArrayRef kernel_size,
                                            at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  const char* op = "max_pool2d_backward";
  check_floating(grad_output, op, "grad_output");
  TORCH_CHECK_VALUE(grad_output.dim() == 3 || grad_output.dim() == 4, op,
                    ": expected a 3-D or 4-D grad_output, got shape ", grad_output.sizes());
  PoolCall call;
  const PoolArgs a = call.args = check_pool_args(kernel_size, stride, padding, dilation, op);
  TORCH_CHECK_VALUE(argmax.sizes() == grad_output.sizes() && argmax.scalar_type() == argmax_dtype(a), op,
                    ": expected argmax of shape ", grad_output.sizes(), " and dtype ", argmax_dtype(a),
                    " (from max_pool2d_forward with with_argmax=True), got shape ", argmax.sizes(), " and dtype ",
                    argmax.scalar_type());
  TORCH_CHECK_VALUE(argmax.device() == grad_output.device(), op, ": expected argmax on ", grad_output.device(),
                    ", got ", argmax.device());
  TORCH_CHECK_VALUE(input_height >= 1 && input_width >= 1, op, ": expected a positive input size, got ",
                    input_height, "x", input_width);
  // The output size must be what the forward gives for this input (with or without ceil_mode).
  const int64_t OH = grad_output.size(-2), OW = grad_output.size(-1);
  auto fits = [](int64_t out, int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
    return out == max_pool2d::output_size(in, k, s, p, d, false) || out == max_pool2d::output_size(in, k, s, p, d, true);
  };
  TORCH_CHECK_VALUE(fits(OH, input_height, a.kernel_h, a.stride_h, a.pad_h, a.dilation_h) &&
                        fits(OW, input_width, a.kernel_w, a.stride_w, a.pad_w, a.dilation_w),
                    op, ": grad_output's ", OH, "x", OW, " is not the pooled size of a ", input_height, "x",
                    input_width, " input with kernel ", kernel_size, ", stride ", stride, ", padding ", padding,
                    " and dilation ", dilation);
  const auto format = compute_format(grad_output);
  call.channels_last = format == at::MemoryFormat::ChannelsLast;
  call.dy = as_batched(grad_output.contiguous(format));
  call.argmax = as_batched(argmax.contiguous(format));
  call.N = call.dy.size(0);
  call.C = call.dy.size(1);
  call.H = input_height;
  call.W = input_width;
  call.OH = call.dy.size(2);
  call.OW = call.dy.size(3);
  auto in_shape = grad_output.sizes().vec();
  in_shape[in_shape.size() - 2] = input_height;
  in_shape.back() = input_width;
  call.dx = at::empty(in_shape, grad_output.options().memory_format(format));
  return call;
}

// ------------------------------------------------------------------ add+ReLU

// In-place add+ReLU: checks the operands (residual may be input itself, never a tensor that partly
// overlaps it) and returns residual in input's layout; or an undefined tensor when input's own
// strides are no layout the kernels take, and the caller computes out of place and copies back.
inline at::Tensor prepare_add_relu_inplace(const at::Tensor& input, const at::Tensor& residual, const char* op) {
  check_floating(input, op, "input");
  check_same(input, residual, op, "input", "residual");
  TORCH_CHECK_VALUE(at::has_internal_overlap(input) != at::MemOverlap::Yes, op,
                    ": input has elements that share memory, so it cannot be written in place");
  const auto overlap = at::get_overlap_status(input, residual);
  TORCH_CHECK_VALUE(overlap != at::MemOverlapStatus::Partial, op,  // (as PyTorch: strided views are "too hard")
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
  TORCH_CHECK_VALUE(mask.dim() == 1 && mask.scalar_type() == at::kByte && mask.numel() == bytes, op,
                    ": expected a 1-D uint8 mask of ", bytes, " bytes for grad_output of shape ", grad_output.sizes(),
                    " (from add_relu with with_mask=True), got shape ", mask.sizes(), " and dtype ",
                    mask.scalar_type());
  TORCH_CHECK_VALUE(mask.device() == grad_output.device(), op, ": expected mask on ", grad_output.device(), ", got ",
                    mask.device());
  TORCH_CHECK_VALUE(!channels_last || grad_output.dim() == 4, op,
                    ": channels_last applies to 4-D tensors only, got grad_output of shape ", grad_output.sizes());
  const auto format = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  AddReluBackwardCall call{grad_output.contiguous(format), mask.contiguous(), {}};
  call.dx = at::empty_like(call.dy, call.dy.options(), format);
  return call;
}

}  // namespace cnnkernels
