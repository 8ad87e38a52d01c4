// Max-pool's arguments and operands, checked, in the layout its kernels compute in, and its outputs
// allocated. Output, argmax and input gradient take the input's suggested memory format, as
// PyTorch's max_pool2d and its backward do: channels_last for an input whose strides are
// channels_last-like, else contiguous.
#pragma once

#include <ATen/ops/empty.h>

#include "../max_pool2d.h"
#include "common.h"

namespace cnnkernels {

using max_pool2d::PoolShape;
using max_pool2d::PoolWindow;

inline PoolWindow check_pool_window(at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                                    at::IntArrayRef dilation, const char* op) {
  auto pair = [op](at::IntArrayRef v, const char* name) {
    CNNK_CHECK_ARG(v.size() == 2, op, ": expected ", name, " to be an int or a pair of ints, got ", py(v));
  };
  pair(kernel_size, "kernel_size");
  pair(stride, "stride");
  pair(padding, "padding");
  pair(dilation, "dilation");
  PoolWindow w{kernel_size[0], kernel_size[1], stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1]};
  CNNK_CHECK_ARG(w.kernel_h >= 1 && w.kernel_w >= 1, op, ": expected kernel_size >= 1, got ", py(kernel_size));
  CNNK_CHECK_ARG(w.stride_h >= 1 && w.stride_w >= 1, op, ": expected stride >= 1, got ", py(stride));
  CNNK_CHECK_ARG(w.dilation_h >= 1 && w.dilation_w >= 1, op, ": expected dilation >= 1, got ", py(dilation));
  CNNK_CHECK_ARG(w.pad_h >= 0 && w.pad_w >= 0 && w.pad_h <= w.kernel_h / 2 && w.pad_w <= w.kernel_w / 2, op,
                 ": expected padding between 0 and half the kernel size (", w.kernel_h / 2, ", ", w.kernel_w / 2,
                 "), got ", py(padding));
  return w;
}

// Dtype of the compact argmax: one byte for windows of up to 256 positions
// (cnnkernels/contracts/max_pool2d.py, argmax_dtype, is the same rule).
inline at::ScalarType argmax_dtype(const PoolWindow& w) {
  return w.kernel_h * w.kernel_w <= 256 ? at::kByte : at::kInt;
}

// The memory format of the outputs and of the input gradient: input's suggested one (3-D: contiguous).
inline at::MemoryFormat pooling_format(const at::Tensor& input) {
  return input.dim() == 4 ? input.suggest_memory_format() : at::MemoryFormat::Contiguous;
}

// (N, C, H, W) view of a 3-D or 4-D tensor.
inline at::Tensor as_batched(const at::Tensor& t) { return t.dim() == 3 ? t.unsqueeze(0) : t; }

// Tensors in the layout the kernel computes in, viewed as 4-D; the outputs keep the caller's rank.
struct PoolCall {
  PoolWindow window;
  PoolShape shape;
  at::Tensor x, dy, argmax;  // forward: x (and argmax to write); backward: dy and argmax to read
  at::Tensor y, dx;          // the outputs (y forward, dx backward)
};

inline PoolCall prepare_max_pool2d_forward(const at::Tensor& input, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                           at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode,
                                           bool with_argmax) {
  const char* op = "max_pool2d_forward";
  check_floating(input, op, "input");
  CNNK_CHECK_ARG(input.dim() == 3 || input.dim() == 4, op,
                 ": expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape ", py(input.sizes()));
  PoolCall call;
  const PoolWindow w = call.window = check_pool_window(kernel_size, stride, padding, dilation, op);
  PoolShape& s = call.shape;
  s.C = input.size(-3);
  s.H = input.size(-2);
  s.W = input.size(-1);
  CNNK_CHECK_ARG(s.C > 0 && s.H > 0 && s.W > 0, op, ": expected non-empty channel and spatial dimensions, got shape ",
                 py(input.sizes()));
  s.OH = max_pool2d::output_size(s.H, w.kernel_h, w.stride_h, w.pad_h, w.dilation_h, ceil_mode);
  s.OW = max_pool2d::output_size(s.W, w.kernel_w, w.stride_w, w.pad_w, w.dilation_w, ceil_mode);
  CNNK_CHECK_ARG(s.OH >= 1 && s.OW >= 1, op, ": the pooling window (kernel ", py(kernel_size), ", dilation ",
                 py(dilation), ") is bigger than the padded input (", s.H + 2 * w.pad_h, "x", s.W + 2 * w.pad_w,
                 "): the output would be ", s.OH, "x", s.OW);
  const auto format = pooling_format(input);
  s.channels_last = format == at::MemoryFormat::ChannelsLast;
  call.x = as_batched(input.contiguous(format));
  s.N = call.x.size(0);
  auto out_shape = input.sizes().vec();
  out_shape[out_shape.size() - 2] = s.OH;
  out_shape.back() = s.OW;
  call.y = at::empty(out_shape, input.options().memory_format(format));
  const auto argmax_options = input.options().dtype(argmax_dtype(w));
  call.argmax =
      with_argmax ? at::empty(out_shape, argmax_options.memory_format(format)) : at::empty({0}, argmax_options);
  return call;
}

// channels_last: the forward's input's format (pooling_format); dx comes back in it.
inline PoolCall prepare_max_pool2d_backward(const at::Tensor& grad_output, const at::Tensor& argmax,
                                            int64_t input_height, int64_t input_width, at::IntArrayRef kernel_size,
                                            at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                                            bool channels_last) {
  const char* op = "max_pool2d_backward";
  check_floating(grad_output, op, "grad_output");
  CNNK_CHECK_ARG(grad_output.dim() == 3 || grad_output.dim() == 4, op,
                 ": expected a 3-D or 4-D grad_output, got shape ", py(grad_output.sizes()));
  PoolCall call;
  const PoolWindow w = call.window = check_pool_window(kernel_size, stride, padding, dilation, op);
  CNNK_CHECK_ARG(argmax.sizes() == grad_output.sizes() && argmax.scalar_type() == argmax_dtype(w), op,
                 ": expected argmax of shape ", py(grad_output.sizes()), " and dtype ", py(argmax_dtype(w)),
                 " (from max_pool2d_forward with with_argmax=True), got shape ", py(argmax.sizes()), " and dtype ",
                 py(argmax.scalar_type()));
  CNNK_CHECK_ARG(argmax.device() == grad_output.device(), op, ": expected argmax on ", py(grad_output.device()),
                 ", got ", py(argmax.device()));
  CNNK_CHECK_ARG(input_height >= 1 && input_width >= 1, op, ": expected a positive input size, got ", input_height, "x",
                 input_width);
  // The output size must be what the forward gives for this input (with or without ceil_mode).
  const int64_t OH = grad_output.size(-2), OW = grad_output.size(-1);
  auto fits = [](int64_t out, int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
    return out == max_pool2d::output_size(in, k, s, p, d, false) ||
           out == max_pool2d::output_size(in, k, s, p, d, true);
  };
  CNNK_CHECK_ARG(fits(OH, input_height, w.kernel_h, w.stride_h, w.pad_h, w.dilation_h) &&
                     fits(OW, input_width, w.kernel_w, w.stride_w, w.pad_w, w.dilation_w),
                 op, ": grad_output's ", OH, "x", OW, " is not the pooled size of a ", input_height, "x", input_width,
                 " input with kernel ", py(kernel_size), ", stride ", py(stride), ", padding ", py(padding),
                 " and dilation ", py(dilation));
  CNNK_CHECK_ARG(!channels_last || grad_output.dim() == 4, op,
                 ": channels_last applies to 4-D tensors only, got grad_output of shape ", py(grad_output.sizes()));
  const auto format = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  call.dy = as_batched(grad_output.contiguous(format));
  call.argmax = as_batched(argmax.contiguous(format));
  call.shape = {
      call.dy.size(0), call.dy.size(1), input_height, input_width, OH, OW, format == at::MemoryFormat::ChannelsLast};
  auto in_shape = grad_output.sizes().vec();
  in_shape[in_shape.size() - 2] = input_height;
  in_shape.back() = input_width;
  call.dx = at::empty(in_shape, grad_output.options().memory_format(format));
  return call;
}

}  // namespace cnnkernels
