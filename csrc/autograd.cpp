// Autograd for the C++ op set (CPU and CUDA kernels), in C++ rather than Python: a Python-registered
// formula cost about 20 us more per backward call, measured on AlexNet's pool5, whose whole CPU
// backward takes 60-90 us (and a GPU kernel on such tensors takes less than the call). Each forward
// saves only what its backward needs (DESIGN.md) and each backward calls the registered backward op,
// so the graph stays dispatchable and torch.compile traces it. The backward ops are differentiable in
// turn (a gradient of a gradient: create_graph=True, e.g. a gradient penalty), or say they are not:
// without an autograd kernel PyTorch would only warn and treat them as constants. (The Triton op set
// registers the same formulas in Python: cnnkernels/ops.py, register_autograd.)
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/TensorOperators.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/where.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include "prepare.h"

namespace cnnkernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The typed handle of cnnkernels::<name>, looked up once.
template <typename Signature>
c10::TypedOperatorHandle<Signature> op_handle(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

// Calls an op's kernel directly, below autograd (the Autograd kernels here record the node themselves).
template <typename Signature, typename... Args>
decltype(auto) call_kernel(const c10::TypedOperatorHandle<Signature>& op, Args&&... args) {
  at::AutoDispatchBelowADInplaceOrView guard;
  return op.call(std::forward<Args>(args)...);
}

// The usual backward runs with grad mode off: then a backward op goes straight to its kernel, and
// records a node for a further derivative only while building a graph of the gradient.
template <typename... Tensors>
bool records_graph(const Tensors&... inputs) {
  return at::GradMode::is_enabled() && (inputs.requires_grad() || ...);
}

// ------------------------------------------------------------------ LRN

using LrnForward = at::Tensor(const at::Tensor&, int64_t, double, double, double);
using LrnBackward = at::Tensor(const at::Tensor&, const at::Tensor&, int64_t, double, double, double);

// The backward recomputes the window sums from x, so x is all it keeps.
class Lrn : public torch::autograd::Function<Lrn> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, int64_t size, double alpha, double beta,
                            double k) {
    static const auto op = op_handle<LrnForward>("cnnkernels::lrn_forward");
    ctx->save_for_backward({input});
    ctx->saved_data["size"] = size;
    ctx->saved_data["alpha"] = alpha;
    ctx->saved_data["beta"] = beta;
    ctx->saved_data["k"] = k;
    return call_kernel(op, input, size, alpha, beta, k);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    static const auto op = op_handle<LrnBackward>("cnnkernels::lrn_backward");
    const auto& d = ctx->saved_data;
    at::Tensor grad = op.call(grad_outputs[0], ctx->get_saved_variables()[0], d.at("size").toInt(),
                              d.at("alpha").toDouble(), d.at("beta").toDouble(), d.at("k").toDouble());
    return {grad, {}, {}, {}, {}};
  }
};

at::Tensor lrn_autograd(const at::Tensor& input, int64_t size, double alpha, double beta, double k) {
  return Lrn::apply(input, size, alpha, beta, k);
}

// The second derivative of LRN is not implemented: differentiating its backward says so.
class LrnGrad : public torch::autograd::Function<LrnGrad> {
 public:
  static at::Tensor forward(AutogradContext*, const at::Tensor& grad_output, const at::Tensor& input, int64_t size,
                            double alpha, double beta, double k) {
    static const auto op = op_handle<LrnBackward>("cnnkernels::lrn_backward");
    return call_kernel(op, grad_output, input, size, alpha, beta, k);
  }

  static variable_list backward(AutogradContext*, variable_list) {
    TORCH_CHECK(false,
                "cnnkernels::lrn_backward: the second derivative of local_response_norm (differentiating its "
                "gradient, as create_graph=True allows) is not implemented; use backend=\"torch\" for it");
  }
};

at::Tensor lrn_backward_autograd(const at::Tensor& grad_output, const at::Tensor& input, int64_t size, double alpha,
                                 double beta, double k) {
  if (records_graph(grad_output, input)) return LrnGrad::apply(grad_output, input, size, alpha, beta, k);
  static const auto op = op_handle<LrnBackward>("cnnkernels::lrn_backward");
  return call_kernel(op, grad_output, input, size, alpha, beta, k);
}

// ------------------------------------------------------------------ max-pool

using PoolForward = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, at::IntArrayRef, at::IntArrayRef,
                                                       at::IntArrayRef, at::IntArrayRef, bool, bool);
using PoolBackward = at::Tensor(const at::Tensor&, const at::Tensor&, c10::SymInt, c10::SymInt, at::IntArrayRef,
                                at::IntArrayRef, at::IntArrayRef, at::IntArrayRef);

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
    return {output, argmax};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    static const auto op = op_handle<PoolBackward>("cnnkernels::max_pool2d_backward");
    variable_list grads(7);
    if (!grad_outputs[0].defined()) return grads;
    const auto& d = ctx->saved_data;
    TORCH_CHECK(d.at("with_argmax").toBool(),
                "cnnkernels::max_pool2d_forward was called with with_argmax=False, so it kept nothing to "
                "backpropagate through; call it with with_argmax=True when the input requires grad");
    grads[0] = op.call(grad_outputs[0], ctx->get_saved_variables()[0], d.at("input_height").toSymInt(),
                       d.at("input_width").toSymInt(), d.at("kernel_size").toIntVector(),
                       d.at("stride").toIntVector(), d.at("padding").toIntVector(), d.at("dilation").toIntVector());
    return grads;
  }
};

// The adjoint of max_pool2d_backward, which is linear in grad_output: each output takes the value of
// `grad_input` at its maximum's input position, 0 where it credited nothing (a window wholly in the
// padding). Made of torch ops, so differentiable again. (Mirrored by cnnkernels.ops.gather_at_argmax.)
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
                            at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
    static const auto op = op_handle<PoolBackward>("cnnkernels::max_pool2d_backward");
    ctx->save_for_backward({argmax});
    auto& d = ctx->saved_data;
    d["kernel_size"] = kernel_size;
    d["stride"] = stride;
    d["padding"] = padding;
    d["dilation"] = dilation;
    return call_kernel(op, grad_output, argmax, input_height, input_width, kernel_size, stride, padding, dilation);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    variable_list grads(8);
    if (!grad_outputs[0].defined()) return grads;
    const auto& d = ctx->saved_data;
    grads[0] = gather_at_argmax(grad_outputs[0], ctx->get_saved_variables()[0], d.at("kernel_size").toIntVector(),
                                d.at("stride").toIntVector(), d.at("padding").toIntVector(),
                                d.at("dilation").toIntVector());
    return grads;
  }
};

at::Tensor max_pool2d_backward_autograd(const at::Tensor& grad_output, const at::Tensor& argmax,
                                        c10::SymInt input_height, c10::SymInt input_width,
                                        at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                                        at::IntArrayRef dilation) {
  if (records_graph(grad_output)) {
    return MaxPool2dGrad::apply(grad_output, argmax, input_height, input_width, kernel_size, stride, padding,
                                dilation);
  }
  static const auto op = op_handle<PoolBackward>("cnnkernels::max_pool2d_backward");
  return call_kernel(op, grad_output, argmax, input_height, input_width, kernel_size, stride, padding, dilation);
}

std::tuple<at::Tensor, at::Tensor> max_pool2d_forward_autograd(const at::Tensor& input, at::IntArrayRef kernel_size,
                                                               at::IntArrayRef stride, at::IntArrayRef padding,
                                                               at::IntArrayRef dilation, bool ceil_mode,
                                                               bool with_argmax) {
  auto outputs = MaxPool2d::apply(input, kernel_size, stride, padding, dilation, ceil_mode, with_argmax);
  return {outputs[0], outputs[1]};
}

// ------------------------------------------------------------------ add+ReLU

using AddReluForward = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, bool);
using AddReluBackward = at::Tensor(const at::Tensor&, const at::Tensor&, bool);

// Keeps the bit mask of where the gradient flows, not the output; one gradient serves both inputs.
class AddReLU : public torch::autograd::Function<AddReLU> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& residual,
                               bool with_mask) {
    static const auto op = op_handle<AddReluForward>("cnnkernels::add_relu");
    auto [output, mask] = call_kernel(op, input, residual, with_mask);
    ctx->save_for_backward({mask});
    ctx->mark_non_differentiable({mask});
    ctx->set_materialize_grads(false);  // else autograd fills a zero gradient for the mask every step
    ctx->saved_data["channels_last"] = compute_format(input) == at::MemoryFormat::ChannelsLast;
    ctx->saved_data["with_mask"] = with_mask;
    return {output, mask};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    static const auto op = op_handle<AddReluBackward>("cnnkernels::add_relu_backward");
    if (!grad_outputs[0].defined()) return {{}, {}, {}};
    const auto& d = ctx->saved_data;
    TORCH_CHECK(d.at("with_mask").toBool(),
                "cnnkernels::add_relu was called with with_mask=False, so it kept nothing to backpropagate "
                "through; call it with with_mask=True when an input requires grad");
    const at::Tensor grad = op.call(grad_outputs[0], ctx->get_saved_variables()[0], d.at("channels_last").toBool());
    return {grad, grad, {}};
  }
};

std::tuple<at::Tensor, at::Tensor> add_relu_autograd(const at::Tensor& input, const at::Tensor& residual,
                                                     bool with_mask) {
  auto outputs = AddReLU::apply(input, residual, with_mask);
  return {outputs[0], outputs[1]};
}

// The backward is linear in grad_output: its own gradient is the same selection of the incoming one.
class AddReLUGrad : public torch::autograd::Function<AddReLUGrad> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& grad_output, const at::Tensor& mask,
                            bool channels_last) {
    static const auto op = op_handle<AddReluBackward>("cnnkernels::add_relu_backward");
    ctx->save_for_backward({mask});
    ctx->saved_data["channels_last"] = channels_last;
    return call_kernel(op, grad_output, mask, channels_last);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    if (!grad_outputs[0].defined()) return {{}, {}, {}};
    return {AddReLUGrad::apply(grad_outputs[0], ctx->get_saved_variables()[0],
                               ctx->saved_data.at("channels_last").toBool()),
            {}, {}};
  }
};

at::Tensor add_relu_backward_autograd(const at::Tensor& grad_output, const at::Tensor& mask, bool channels_last) {
  if (records_graph(grad_output)) return AddReLUGrad::apply(grad_output, mask, channels_last);
  static const auto op = op_handle<AddReluBackward>("cnnkernels::add_relu_backward");
  return call_kernel(op, grad_output, mask, channels_last);
}

}  // namespace

TORCH_LIBRARY_IMPL(cnnkernels, Autograd, m) {
  m.impl("lrn_forward", &lrn_autograd);
  m.impl("max_pool2d_forward", &max_pool2d_forward_autograd);
  m.impl("add_relu", &add_relu_autograd);
  m.impl("lrn_backward", &lrn_backward_autograd);
  m.impl("max_pool2d_backward", &max_pool2d_backward_autograd);
  m.impl("add_relu_backward", &add_relu_backward_autograd);
}

}  // namespace cnnkernels
