// Max-pool's autograd: the forward keeps the one-byte argmax and the input's height and width, not
// the input. The backward is linear in grad_output, so it differentiates again: its own gradient
// gathers at each window's maximum.
#include "../prepare/max_pool2d.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/where.h>

#include "common.h"

namespace cnnkernels::autograd {
namespace {

using PoolForward = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, at::IntArrayRef, at::IntArrayRef,
                                                       at::IntArrayRef, at::IntArrayRef, bool, bool);
using PoolBackward = at::Tensor(const at::Tensor&, const at::Tensor&, c10::SymInt, c10::SymInt, at::IntArrayRef,
                                at::IntArrayRef, at::IntArrayRef, at::IntArrayRef, bool);

const c10::TypedOperatorHandle<PoolBackward>& max_pool2d_backward_op() {
  static const auto op = op_handle<PoolBackward>("cnnkernels::max_pool2d_backward");
  return op;
}

// Keeps the one-byte argmax and the input's height and width, not the input.
class MaxPool2d : public torch::autograd::Function<MaxPool2d> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& input, at::IntArrayRef kernel_size,
                               at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                               bool ceil_mode, bool with_argmax) {
    static const auto op = op_handle<PoolForward>("cnnkernels::max_pool2d_forward");
    auto [output, argmax] = call_kernel(op, input, kernel_size, stride, padding, dilation, ceil_mode, with_argmax);
    ctx->save_for_backward({argmax});
    ctx->mark_non_differentiable({argmax});
    ctx->set_materialize_grads(false);  // else autograd fills a zero gradient for the argmax every step
    auto& d = ctx->saved_data;
    d["input_height"] = input.sym_size(-2);
    d["input_width"] = input.sym_size(-1);
    d["kernel_size"] = kernel_size;
    d["stride"] = stride;
    d["padding"] = padding;
    d["dilation"] = dilation;
    d["with_argmax"] = with_argmax;
    d["channels_last"] = pooling_format(input) == at::MemoryFormat::ChannelsLast;  // the input gradient's format
    return {output, argmax};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    variable_list grads(7);
    if (!grad_outputs[0].defined()) return grads;
    const auto& d = ctx->saved_data;
    TORCH_CHECK(d.at("with_argmax").toBool(),
                "cnnkernels::max_pool2d_forward was called with with_argmax=False, so it kept nothing to "
                "backpropagate through; call it with with_argmax=True when the input requires grad");
    grads[0] = max_pool2d_backward_op().call(
        grad_outputs[0], ctx->get_saved_variables()[0], d.at("input_height").toSymInt(), d.at("input_width").toSymInt(),
        d.at("kernel_size").toIntVector(), d.at("stride").toIntVector(), d.at("padding").toIntVector(),
        d.at("dilation").toIntVector(), d.at("channels_last").toBool());
    return grads;
  }
};

// The adjoint of max_pool2d_backward, which is linear in grad_output: each output takes the value of
// `grad_input` at its maximum's input position, 0 where it credited nothing (a window wholly in the
// padding). Made of torch ops, so differentiable again. (The Triton op set's Python autograd has the
// same formula: cnnkernels/contracts/max_pool2d.py.)
at::Tensor gather_at_argmax(const at::Tensor& grad_input, const at::Tensor& argmax, at::IntArrayRef kernel_size,
                            at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  const int64_t H = grad_input.size(-2), W = grad_input.size(-1), OH = argmax.size(-2), OW = argmax.size(-1);
  const auto long_options = argmax.options().dtype(at::kLong);
  const at::Tensor tap = argmax.to(at::kLong);
  const at::Tensor ih = at::arange(OH, long_options).view({OH, 1}) * stride[0] - padding[0] +
                        tap.div(kernel_size[1], "floor") * dilation[0];
  const at::Tensor iw =
      at::arange(OW, long_options).view({1, OW}) * stride[1] - padding[1] + tap.remainder(kernel_size[1]) * dilation[1];
  const at::Tensor inside = tap.lt(kernel_size[0] * kernel_size[1]) & ih.ge(0) & ih.lt(H) & iw.ge(0) & iw.lt(W);
  const at::Tensor index = at::where(inside, ih * W + iw, 0).flatten(-2);
  const at::Tensor gathered = grad_input.flatten(-2).gather(-1, index).view(argmax.sizes());
  return at::where(inside, gathered, 0);
}

class MaxPool2dGrad : public torch::autograd::Function<MaxPool2dGrad> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& grad_output, const at::Tensor& argmax,
                            c10::SymInt input_height, c10::SymInt input_width, at::IntArrayRef kernel_size,
                            at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                            bool channels_last) {
    ctx->save_for_backward({argmax});
    auto& d = ctx->saved_data;
    d["kernel_size"] = kernel_size;
    d["stride"] = stride;
    d["padding"] = padding;
    d["dilation"] = dilation;
    return call_kernel(max_pool2d_backward_op(), grad_output, argmax, input_height, input_width, kernel_size, stride,
                       padding, dilation, channels_last);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    variable_list grads(9);
    if (!grad_outputs[0].defined()) return grads;
    const auto& d = ctx->saved_data;
    grads[0] =
        gather_at_argmax(grad_outputs[0], ctx->get_saved_variables()[0], d.at("kernel_size").toIntVector(),
                         d.at("stride").toIntVector(), d.at("padding").toIntVector(), d.at("dilation").toIntVector());
    return grads;
  }
};

at::Tensor max_pool2d_backward_autograd(const at::Tensor& grad_output, const at::Tensor& argmax,
                                        c10::SymInt input_height, c10::SymInt input_width, at::IntArrayRef kernel_size,
                                        at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                                        bool channels_last) {
  if (records_graph(grad_output)) {
    return MaxPool2dGrad::apply(grad_output, argmax, input_height, input_width, kernel_size, stride, padding, dilation,
                                channels_last);
  }
  return call_kernel(max_pool2d_backward_op(), grad_output, argmax, input_height, input_width, kernel_size, stride,
                     padding, dilation, channels_last);
}

std::tuple<at::Tensor, at::Tensor> max_pool2d_forward_autograd(const at::Tensor& input, at::IntArrayRef kernel_size,
                                                               at::IntArrayRef stride, at::IntArrayRef padding,
                                                               at::IntArrayRef dilation, bool ceil_mode,
                                                               bool with_argmax) {
  auto outputs = MaxPool2d::apply(input, kernel_size, stride, padding, dilation, ceil_mode, with_argmax);
  return {outputs[0], outputs[1]};
}

}  // namespace

TORCH_LIBRARY_IMPL(cnnkernels, Autograd, m) {
  m.impl("max_pool2d_forward", &max_pool2d_forward_autograd);
  m.impl("max_pool2d_backward", &max_pool2d_backward_autograd);
}

}  // namespace cnnkernels::autograd
