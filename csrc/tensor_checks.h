// Argument checks and layout choice shared by the CPU and CUDA bindings (C++ only: uses torch).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

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

inline void check_lrn_args(const at::Tensor& input, int64_t size, const char* op) {
  check_floating(input, op, "input");
  TORCH_CHECK_VALUE(input.dim() >= 3, op, ": expected input of shape (N, C, *) with at least 3 dimensions, got ",
                    input.dim(), "-D input of shape ", input.sizes());
  TORCH_CHECK_VALUE(size >= 1, op, ": expected size >= 1, got ", size);
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

}  // namespace cnnkernels
