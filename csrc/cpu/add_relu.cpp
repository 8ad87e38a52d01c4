// Residual add + ReLU on the CPU: one pass over both inputs (PyTorch's add then relu makes two).
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include "../add_relu.h"
#include "../tensor_checks.h"

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

void check_inputs(const at::Tensor& input, const at::Tensor& residual, const char* op) {
  check_floating(input, op, "input");
  check_same(input, residual, op, "input", "residual");
}

void run_forward(const at::Tensor& a, const at::Tensor& b, at::Tensor& y) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, a.scalar_type(), "add_relu_cpu", [&] {
    forward_kernel(a.const_data_ptr<scalar_t>(), b.const_data_ptr<scalar_t>(), y.mutable_data_ptr<scalar_t>(),
                   a.numel());
  });
}

at::Tensor add_relu_cpu(const at::Tensor& input, const at::Tensor& residual) {
  check_inputs(input, residual, "add_relu");
  const auto format = compute_format(input);
  const at::Tensor a = input.contiguous(format);
  const at::Tensor b = residual.contiguous(format);
  at::Tensor y = at::empty_like(a, a.options(), format);
  run_forward(a, b, y);
  return y;
}

void add_relu_inplace_cpu(at::Tensor& input, const at::Tensor& residual) {
  check_inputs(input, residual, "add_relu_");
  const auto format = compute_format(input);
  if (input.is_contiguous(format)) {
    run_forward(input, residual.contiguous(format), input);
  } else {
    input.copy_(add_relu_cpu(input, residual));  // strided input: compute, then write back in place
  }
}

at::Tensor add_relu_backward_cpu(const at::Tensor& grad_output, const at::Tensor& output) {
  const char* op = "add_relu_backward";
  check_floating(output, op, "output");
  check_same(grad_output, output, op, "grad_output", "output");
  const auto format = compute_format(output);
  const at::Tensor dy = grad_output.contiguous(format);
  const at::Tensor y = output.contiguous(format);
  at::Tensor dx = at::empty_like(y, y.options(), format);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, y.scalar_type(), "add_relu_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* dyp = dy.const_data_ptr<scalar_t>();
    const scalar_t* yp = y.const_data_ptr<scalar_t>();
    scalar_t* dxp = dx.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, y.numel(), GRAIN, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        dxp[i] = static_cast<scalar_t>(add_relu::backward(static_cast<acc_t>(dyp[i]), static_cast<acc_t>(yp[i])));
      }
    });
  });
  return dx;
}

}  // namespace

TORCH_LIBRARY_IMPL(cnnkernels, CPU, m) {
  m.impl("add_relu", &add_relu_cpu);
  m.impl("add_relu_", &add_relu_inplace_cpu);
  m.impl("add_relu_backward", &add_relu_backward_cpu);
}

}  // namespace cnnkernels
