// Autograd for cnnkernels::add_relu in C++ rather than Python: the op is cheap and called often (16
// times in a ResNet-50 step), and a Python-registered formula costs 20-40 us of interpreter time a
// call, more than the kernel on small tensors. The other ops keep their Python formulas
// (cnnkernels/ops.py): their kernels cost far more than the call.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

namespace cnnkernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::Tensor add_relu_below_autograd(const at::Tensor& input, const at::Tensor& residual) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("cnnkernels::add_relu", "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&)>();
  at::AutoDispatchBelowADInplaceOrView guard;
  return op.call(input, residual);
}

at::Tensor add_relu_backward_op(const at::Tensor& grad_output, const at::Tensor& output) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("cnnkernels::add_relu_backward", "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&)>();
  return op.call(grad_output, output);
}

// The output decides where the gradient flows; one gradient serves both inputs.
class AddReLU : public torch::autograd::Function<AddReLU> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& residual) {
    at::Tensor output = add_relu_below_autograd(input, residual);
    ctx->save_for_backward({output});
    return output;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const at::Tensor grad = add_relu_backward_op(grad_outputs[0], ctx->get_saved_variables()[0]);
    return {grad, grad};
  }
};

at::Tensor add_relu_autograd(const at::Tensor& input, const at::Tensor& residual) {
  return AddReLU::apply(input, residual);
}

}  // namespace

TORCH_LIBRARY_IMPL(cnnkernels, Autograd, m) { m.impl("add_relu", &add_relu_autograd); }

}  // namespace cnnkernels
