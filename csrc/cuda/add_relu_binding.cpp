// add+ReLU's CUDA operators: checks (prepare/add_relu.h), the tensors' device and stream, the
// launchers (add_relu.cu).
#include "../prepare/add_relu.h"
#include "add_relu.h"
#include "binding.h"

namespace cnnkernels::cuda {
namespace {

// mask: written when it is not empty (training).
void run_forward(const at::Tensor& a, const at::Tensor& b, at::Tensor& y, at::Tensor& mask, const char* op) {
  C10_CUDA_CHECK(add_relu_forward(dtype_of(a, op), a.const_data_ptr(), b.const_data_ptr(), y.mutable_data_ptr(),
                                  mask.numel() ? mask.mutable_data_ptr<uint8_t>() : nullptr, y.numel(),
                                  current_stream()));
}

std::tuple<at::Tensor, at::Tensor> add_relu_cuda(const at::Tensor& input, const at::Tensor& residual, bool with_mask) {
  const char* op = "add_relu";
  check_cuda(input, op, "input");
  const c10::cuda::CUDAGuard guard(input.device());
  AddReluCall call = prepare_add_relu(input, residual, op);
  at::Tensor mask = empty_add_relu_mask(call.out, with_mask);
  run_forward(call.a, call.b, call.out, mask, op);
  return {call.out, mask};
}

at::Tensor add_relu_inplace_cuda(at::Tensor& input, const at::Tensor& residual, bool with_mask) {
  const char* op = "add_relu_";
  check_cuda(input, op, "input");
  const c10::cuda::CUDAGuard guard(input.device());
  AddReluCall call = prepare_add_relu_inplace(input, residual, op);
  at::Tensor mask = empty_add_relu_mask(call.out, with_mask);
  run_forward(call.a, call.b, call.out, mask, op);
  finish_add_relu(call);
  return mask;
}

at::Tensor add_relu_backward_cuda(const at::Tensor& grad_output, const at::Tensor& mask,
                                  at::IntArrayRef output_strides) {
  const char* op = "add_relu_backward";
  check_cuda(grad_output, op, "grad_output");
  const c10::cuda::CUDAGuard guard(grad_output.device());
  AddReluBackwardCall call = prepare_add_relu_backward(grad_output, mask, output_strides);
  C10_CUDA_CHECK(add_relu_backward(dtype_of(grad_output, op), call.dy.const_data_ptr(),
                                   call.mask.const_data_ptr<uint8_t>(), call.dx.mutable_data_ptr(), call.dx.numel(),
                                   current_stream()));
  return call.dx;
}

}  // namespace

TORCH_LIBRARY_IMPL(cnnkernels, CUDA, m) {
  m.impl("add_relu", &add_relu_cuda);
  m.impl("add_relu_", &add_relu_inplace_cuda);
  m.impl("add_relu_backward", &add_relu_backward_cuda);
}

}  // namespace cnnkernels::cuda
