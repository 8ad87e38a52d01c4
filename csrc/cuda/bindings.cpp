// TORCH_LIBRARY_IMPL(cnnkernels, CUDA): checks the arguments (prepare.h), selects the tensors'
// device and its current stream, allocates the outputs and calls the launchers of the .cu files.
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../prepare.h"
#include "launchers.h"

namespace cnnkernels {
namespace {

cuda::DType cuda_dtype(const at::Tensor& t, const char* op) {
  switch (t.scalar_type()) {
    case at::kFloat:
      return cuda::DType::Float32;
    case at::kHalf:
      return cuda::DType::Float16;
    case at::kBFloat16:
      return cuda::DType::BFloat16;
    default:
      TORCH_CHECK_VALUE(false, op, ": the CUDA kernels take float32, float16 or bfloat16, got ", t.scalar_type(),
                        " (use backend=\"torch\" for float64 on the GPU)");
  }
}

void check_cuda(const at::Tensor& t, const char* op, const char* name) {
  TORCH_CHECK_VALUE(t.is_cuda(), op, ": expected ", name, " on a CUDA device, got ", t.device());
}

at::Tensor lrn_forward_cuda(const at::Tensor& input, int64_t size, double alpha, double beta, double k) {
  const char* op = "lrn_forward";
  check_cuda(input, op, "input");
  const c10::cuda::CUDAGuard guard(input.device());
  LrnCall call = prepare_lrn(input, nullptr, size, op);
  C10_CUDA_CHECK(cuda::lrn_forward(cuda_dtype(input, op), call.x.const_data_ptr(), call.out.mutable_data_ptr(),
                                   {call.N, call.C, call.S, call.channels_last},
                                   {size, static_cast<float>(alpha / size), static_cast<float>(beta), static_cast<float>(k)},
                                   c10::cuda::getCurrentCUDAStream()));
  return call.out;
}

at::Tensor lrn_backward_cuda(const at::Tensor& grad_output, const at::Tensor& input, int64_t size, double alpha,
                             double beta, double k) {
  const char* op = "lrn_backward";
  check_cuda(input, op, "input");
  const c10::cuda::CUDAGuard guard(input.device());
  LrnCall call = prepare_lrn(input, &grad_output, size, op);
  C10_CUDA_CHECK(cuda::lrn_backward(cuda_dtype(input, op), call.dy.const_data_ptr(), call.x.const_data_ptr(),
                                    call.out.mutable_data_ptr(), {call.N, call.C, call.S, call.channels_last},
                                    {size, static_cast<float>(alpha / size), static_cast<float>(beta), static_cast<float>(k)},
                                    c10::cuda::getCurrentCUDAStream()));
  return call.out;
}

cuda::PoolWindow window_of(const PoolArgs& a) {
  return {a.kernel_h, a.kernel_w, a.stride_h, a.stride_w, a.pad_h, a.pad_w, a.dilation_h, a.dilation_w};
}

std::tuple<at::Tensor, at::Tensor> max_pool2d_forward_cuda(const at::Tensor& input, at::IntArrayRef kernel_size,
                                                           at::IntArrayRef stride, at::IntArrayRef padding,
                                                           at::IntArrayRef dilation, bool ceil_mode, bool with_argmax) {
  const char* op = "max_pool2d_forward";
  check_cuda(input, op, "input");
  const c10::cuda::CUDAGuard guard(input.device());
  PoolCall call = prepare_max_pool2d_forward(input, kernel_size, stride, padding, dilation, ceil_mode, with_argmax);
  C10_CUDA_CHECK(cuda::max_pool2d_forward(
      cuda_dtype(input, op), call.x.const_data_ptr(), call.y.mutable_data_ptr(),
      with_argmax ? call.argmax.mutable_data_ptr() : nullptr, static_cast<int>(call.argmax.element_size()),
      {call.N, call.C, call.H, call.W, call.OH, call.OW, call.channels_last}, window_of(call.args),
      c10::cuda::getCurrentCUDAStream()));
  return {call.y, call.argmax};
}

at::Tensor max_pool2d_backward_cuda(const at::Tensor& grad_output, const at::Tensor& argmax, int64_t input_height,
                                    int64_t input_width, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                    at::IntArrayRef padding, at::IntArrayRef dilation) {
  const char* op = "max_pool2d_backward";
  check_cuda(grad_output, op, "grad_output");
  const c10::cuda::CUDAGuard guard(grad_output.device());
  PoolCall call = prepare_max_pool2d_backward(grad_output, argmax, input_height, input_width, kernel_size, stride,
                                              padding, dilation);
  C10_CUDA_CHECK(cuda::max_pool2d_backward(
      cuda_dtype(grad_output, op), call.dy.const_data_ptr(), call.argmax.const_data_ptr(),
      static_cast<int>(call.argmax.element_size()), call.dx.mutable_data_ptr(),
      {call.N, call.C, call.H, call.W, call.OH, call.OW, call.channels_last}, window_of(call.args),
      c10::cuda::getCurrentCUDAStream()));
  return call.dx;
}

// mask: written when it is not empty (training).
void run_add_relu_forward(const at::Tensor& a, const at::Tensor& b, at::Tensor& y, at::Tensor& mask, const char* op) {
  C10_CUDA_CHECK(cuda::add_relu_forward(cuda_dtype(a, op), a.const_data_ptr(), b.const_data_ptr(), y.mutable_data_ptr(),
                                        mask.numel() ? mask.mutable_data_ptr<uint8_t>() : nullptr, y.numel(),
                                        c10::cuda::getCurrentCUDAStream()));
}

std::tuple<at::Tensor, at::Tensor> add_relu_cuda(const at::Tensor& input, const at::Tensor& residual, bool with_mask) {
  const char* op = "add_relu";
  check_cuda(input, op, "input");
  const c10::cuda::CUDAGuard guard(input.device());
  ElementwiseCall call = prepare_elementwise(input, residual, op, "input", "residual");
  at::Tensor mask = empty_add_relu_mask(call.out, with_mask);
  run_add_relu_forward(call.a, call.b, call.out, mask, op);
  return {call.out, mask};
}

at::Tensor add_relu_inplace_cuda(at::Tensor& input, const at::Tensor& residual, bool with_mask) {
  const char* op = "add_relu_";
  check_cuda(input, op, "input");
  const c10::cuda::CUDAGuard guard(input.device());
  const at::Tensor b = prepare_add_relu_inplace(input, residual, op);
  if (!b.defined()) {
    auto [output, mask] = add_relu_cuda(input, residual, with_mask);
    input.copy_(output);
    return mask;
  }
  at::Tensor mask = empty_add_relu_mask(input, with_mask);
  run_add_relu_forward(input, b, input, mask, op);
  return mask;
}

at::Tensor add_relu_backward_cuda(const at::Tensor& grad_output, const at::Tensor& mask, bool channels_last) {
  const char* op = "add_relu_backward";
  check_cuda(grad_output, op, "grad_output");
  const c10::cuda::CUDAGuard guard(grad_output.device());
  AddReluBackwardCall call = prepare_add_relu_backward(grad_output, mask, channels_last);
  C10_CUDA_CHECK(cuda::add_relu_backward(cuda_dtype(grad_output, op), call.dy.const_data_ptr(),
                                         call.mask.const_data_ptr<uint8_t>(), call.dx.mutable_data_ptr(),
                                         call.dx.numel(), c10::cuda::getCurrentCUDAStream()));
  return call.dx;
}

}  // namespace

TORCH_LIBRARY_IMPL(cnnkernels, CUDA, m) {
  m.impl("lrn_forward", &lrn_forward_cuda);
  m.impl("lrn_backward", &lrn_backward_cuda);
  m.impl("max_pool2d_forward", &max_pool2d_forward_cuda);
  m.impl("max_pool2d_backward", &max_pool2d_backward_cuda);
  m.impl("add_relu", &add_relu_cuda);
  m.impl("add_relu_", &add_relu_inplace_cuda);
  m.impl("add_relu_backward", &add_relu_backward_cuda);
}

}  // namespace cnnkernels
