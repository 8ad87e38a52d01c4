// Residual add + ReLU on the CPU: one pass over both inputs (PyTorch's add then relu makes two).
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include "../add_relu.h"
#include "../prepare.h"

namespace cnnkernels {
namespace {

constexpr int64_t GRAIN = 32768;

template <typename scalar_t>
void forward_kernel(const scalar_t* a, const scalar_t* b, scalar_t* y, int64_t n) {
  using acc_t = at::opmath_type<scalar_t>;
  at::parallel_for(0, n, GRAIN, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      y[i] = static_cast<scalar_t>(add_relu::forward(static_cast<acc_t>(a[i]), static_cast<acc_t>(b[i])));
    }
  });
}

void run_forward(const at::Tensor& a, const at::Tensor& b, at::Tensor& y) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, a.scalar_type(), "add_relu_cpu", [&] {
    forward_kernel(a.const_data_ptr<scalar_t>(), b.const_data_ptr<scalar_t>(), y.mutable_data_ptr<scalar_t>(),
                   a.numel());
  });
}

at::Tensor add_relu_cpu(const at::Tensor& input, const at::Tensor& residual) {
  ElementwiseCall call = prepare_elementwise(input, residual, "add_relu", "input", "residual");
  run_forward(call.a, call.b, call.out);
  return call.out;
}

void add_relu_inplace_cpu(at::Tensor& input, const at::Tensor& residual) {
  const at::Tensor b = prepare_add_relu_inplace(input, residual, "add_relu_");
  if (b.defined()) {
    run_forward(input, b, input);
  } else {
    input.copy_(add_relu_cpu(input, residual));
  }
}

at::Tensor add_relu_backward_cpu(const at::Tensor& grad_output, const at::Tensor& output) {
  ElementwiseCall call = prepare_elementwise(output, grad_output, "add_relu_backward", "output", "grad_output");
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, output.scalar_type(), "add_relu_backward_cpu", [&] {
    const scalar_t* y = call.a.const_data_ptr<scalar_t>();
    const scalar_t* dy = call.b.const_data_ptr<scalar_t>();
    scalar_t* dx = call.out.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, call.out.numel(), GRAIN, [&](int64_t begin, int64_t end) {
      // at the tensor's own dtype: dy passes through or becomes 0, no rounding to undo
      for (int64_t i = begin; i < end; ++i) dx[i] = add_relu::backward(dy[i], y[i]);
    });
  });
  return call.out;
}

}  // namespace

TORCH_LIBRARY_IMPL(cnnkernels, CPU, m) {
  m.impl("add_relu", &add_relu_cpu);
  m.impl("add_relu_", &add_relu_inplace_cpu);
  m.impl("add_relu_backward", &add_relu_backward_cpu);
}

}  // namespace cnnkernels
