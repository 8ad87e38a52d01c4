// LRN's CUDA operators: checks (prepare/lrn.h), the tensors' device and stream, the launchers (lrn.cu).
#include "../prepare/lrn.h"
#include "binding.h"
#include "lrn.h"

namespace cnnkernels::cuda {
namespace {

lrn::Params<float> params_of(int64_t size, double alpha, double beta, double k) {
  return {size, static_cast<float>(alpha / size), static_cast<float>(beta), static_cast<float>(k)};
}

at::Tensor lrn_forward_cuda(const at::Tensor& input, int64_t size, double alpha, double beta, double k) {
  const char* op = "lrn_forward";
  check_cuda(input, op, "input");
  const c10::cuda::CUDAGuard guard(input.device());
  LrnCall call = prepare_lrn(input, nullptr, size, alpha, beta, k, op);
  return run_lrn(call, [&] {
    C10_CUDA_CHECK(lrn_forward(dtype_of(input, op), call.x.const_data_ptr(), call.out.mutable_data_ptr(), call.shape,
                               params_of(size, alpha, beta, k), call.power, current_stream()));
  });
}

at::Tensor lrn_backward_cuda(const at::Tensor& grad_output, const at::Tensor& input, int64_t size, double alpha,
                             double beta, double k) {
  const char* op = "lrn_backward";
  check_cuda(input, op, "input");
  const c10::cuda::CUDAGuard guard(input.device());
  LrnCall call = prepare_lrn(input, &grad_output, size, alpha, beta, k, op);
  return run_lrn(call, [&] {
    C10_CUDA_CHECK(lrn_backward(dtype_of(input, op), call.dy.const_data_ptr(), call.x.const_data_ptr(),
                                call.out.mutable_data_ptr(), call.shape, params_of(size, alpha, beta, k), call.power,
                                current_stream()));
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(cnnkernels, CUDA, m) {
  m.impl("lrn_forward", &lrn_forward_cuda);
  m.impl("lrn_backward", &lrn_backward_cuda);
}

}  // namespace cnnkernels::cuda
