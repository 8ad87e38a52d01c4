// Max-pool's CUDA operators: checks (prepare/max_pool2d.h), the tensors' device and stream, the
// launchers (max_pool2d.cu).
#include "../prepare/max_pool2d.h"
#include "binding.h"
#include "max_pool2d.h"

namespace cnnkernels::cuda {
namespace {

std::tuple<at::Tensor, at::Tensor> max_pool2d_forward_cuda(const at::Tensor& input, at::IntArrayRef kernel_size,
                                                           at::IntArrayRef stride, at::IntArrayRef padding,
                                                           at::IntArrayRef dilation, bool ceil_mode, bool with_argmax) {
  const char* op = "max_pool2d_forward";
  check_cuda(input, op, "input");
  const c10::cuda::CUDAGuard guard(input.device());
  PoolCall call = prepare_max_pool2d_forward(input, kernel_size, stride, padding, dilation, ceil_mode, with_argmax);
  C10_CUDA_CHECK(max_pool2d_forward(dtype_of(input, op), call.x.const_data_ptr(), call.y.mutable_data_ptr(),
                                    with_argmax ? call.argmax.mutable_data_ptr() : nullptr,
                                    static_cast<int>(call.argmax.element_size()), call.shape, call.window,
                                    current_stream()));
  return {call.y, call.argmax};
}

at::Tensor max_pool2d_backward_cuda(const at::Tensor& grad_output, const at::Tensor& argmax, int64_t input_height,
                                    int64_t input_width, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                    at::IntArrayRef padding, at::IntArrayRef dilation, bool channels_last) {
  const char* op = "max_pool2d_backward";
  check_cuda(grad_output, op, "grad_output");
  const c10::cuda::CUDAGuard guard(grad_output.device());
  PoolCall call = prepare_max_pool2d_backward(grad_output, argmax, input_height, input_width, kernel_size, stride,
                                              padding, dilation, channels_last);
  C10_CUDA_CHECK(max_pool2d_backward(dtype_of(grad_output, op), call.dy.const_data_ptr(), call.argmax.const_data_ptr(),
                                     static_cast<int>(call.argmax.element_size()), call.dx.mutable_data_ptr(),
                                     call.shape, call.window, current_stream()));
  return call.dx;
}

}  // namespace

TORCH_LIBRARY_IMPL(cnnkernels, CUDA, m) {
  m.impl("max_pool2d_forward", &max_pool2d_forward_cuda);
  m.impl("max_pool2d_backward", &max_pool2d_backward_cuda);
}

}  // namespace cnnkernels::cuda
