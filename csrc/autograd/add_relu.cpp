// add+ReLU's autograd: the forward keeps the bit mask of where the gradient flows, not the output;
// one gradient serves both inputs. The in-place op (add_relu_) goes through the dispatcher's
// in-place machinery on every path: ADInplaceOrView bumps input's version counter when no graph is
// recorded; when one is, PyTorch's in-place checks run (a leaf that requires grad, a view of one) and
// the autograd Function marks input dirty (which bumps it and rebases a view's history), so autograd
// and torch.compile see the write.
#include "../prepare/add_relu.h"

#include <torch/csrc/autograd/VariableTypeUtils.h>
#include <torch/csrc/autograd/variable.h>

#include "common.h"

namespace cnnkernels::autograd {
namespace {

using AddReluForward = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, bool);
using AddReluInplace = at::Tensor(at::Tensor&, const at::Tensor&, bool);
using AddReluBackward = at::Tensor(const at::Tensor&, const at::Tensor&, c10::SymIntArrayRef);

const c10::TypedOperatorHandle<AddReluBackward>& add_relu_backward_op() {
  static const auto op = op_handle<AddReluBackward>("cnnkernels::add_relu_backward");
  return op;
}

// What both forwards keep: the mask, and the strides of the layout computed in (its element order,
// and the input gradient's layout).
void save_mask(AutogradContext* ctx, const at::Tensor& mask, c10::IValue output_strides, bool with_mask) {
  ctx->save_for_backward({mask});
  ctx->mark_non_differentiable({mask});
  ctx->set_materialize_grads(false);  // else autograd fills a zero gradient for the mask every step
  ctx->saved_data["output_strides"] = std::move(output_strides);
  ctx->saved_data["with_mask"] = with_mask;
}

variable_list backward_from_mask(AutogradContext* ctx, const variable_list& grad_outputs, const char* op) {
  if (!grad_outputs[0].defined()) return {{}, {}, {}};
  const auto& d = ctx->saved_data;
  TORCH_CHECK(d.at("with_mask").toBool(), "cnnkernels::", op,
              " was called with with_mask=False, so it kept nothing to backpropagate through; call it with "
              "with_mask=True when an input requires grad");
  const at::Tensor grad = add_relu_backward_op().call(grad_outputs[0], ctx->get_saved_variables()[0],
                                                      d.at("output_strides").toSymIntVector());
  return {grad, grad, {}};
}

class AddReLU : public torch::autograd::Function<AddReLU> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& residual,
                               bool with_mask) {
    static const auto op = op_handle<AddReluForward>("cnnkernels::add_relu");
    auto [output, mask] = call_kernel(op, input, residual, with_mask);
    save_mask(ctx, mask, output.sym_strides(), with_mask);
    return {output, mask};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    return backward_from_mask(ctx, grad_outputs, "add_relu");
  }
};

std::tuple<at::Tensor, at::Tensor> add_relu_autograd(const at::Tensor& input, const at::Tensor& residual,
                                                     bool with_mask) {
  auto outputs = AddReLU::apply(input, residual, with_mask);
  return {outputs[0], outputs[1]};
}

const c10::TypedOperatorHandle<AddReluInplace>& add_relu_inplace_op() {
  static const auto op = op_handle<AddReluInplace>("cnnkernels::add_relu_");
  return op;
}

// Returns only input: autograd lets a Function that writes into a view return nothing else. The mask
// goes back to the caller through `mask_out`. Written into a view, the Function's backward runs inside
// autograd's CopySlices, and the input gradient comes back contiguous, as PyTorch's add_ then relu_
// give it there (CopySlices hands each in-place op a contiguous clone of its slice of the gradient).
class AddReLUInplace : public torch::autograd::Function<AddReLUInplace> {
 public:
  static at::Tensor forward(AutogradContext* ctx, at::Tensor input, const at::Tensor& residual, bool with_mask,
                            at::Tensor* mask_out) {
    *mask_out = call_kernel(add_relu_inplace_op(), input, residual, with_mask);
    ctx->mark_dirty({input});
    save_mask(ctx, *mask_out,
              input.is_non_overlapping_and_dense() ? c10::IValue(input.sym_strides()) : inplace_strides(input),
              with_mask);
    ctx->saved_data["into_view"] = input.is_view();
    return input;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    variable_list grads = backward_from_mask(ctx, grad_outputs, "add_relu_");
    if (ctx->saved_data.at("into_view").toBool() && grads[0].defined()) grads[0] = grads[1] = grads[0].contiguous();
    grads.emplace_back();  // (mask_out)
    return grads;
  }
};

at::Tensor add_relu_inplace_autograd(at::Tensor& input, const at::Tensor& residual, bool with_mask) {
  if (!records_graph(input, residual)) {  // no graph: on to ADInplaceOrView, which bumps the version
    at::AutoDispatchBelowAutograd guard;
    return add_relu_inplace_op().call(input, residual, with_mask);
  }
  torch::autograd::check_inplace(input, true);  // PyTorch's own checks, in its words: a leaf, a view of one
  at::Tensor mask;
  AddReLUInplace::apply(input, residual, with_mask, &mask);
  return mask;
}

// ADInplaceOrView: the write, then input's version bump (autograd's check that a tensor saved for a
// backward was not modified since).
at::Tensor add_relu_inplace_or_view(c10::DispatchKeySet keys, at::Tensor& input, const at::Tensor& residual,
                                    bool with_mask) {
  at::Tensor mask;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    mask = add_relu_inplace_op().redispatch(keys & c10::after_ADInplaceOrView_keyset, input, residual, with_mask);
  }
  torch::autograd::impl::bump_version(input);
  return mask;
}

// The backward is linear in grad_output: its own gradient is the same selection of the incoming one.
class AddReLUGrad : public torch::autograd::Function<AddReLUGrad> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& grad_output, const at::Tensor& mask,
                            c10::SymIntArrayRef output_strides) {
    ctx->save_for_backward({mask});
    ctx->saved_data["output_strides"] = output_strides;
    return call_kernel(add_relu_backward_op(), grad_output, mask, output_strides);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    if (!grad_outputs[0].defined()) return {{}, {}, {}};
    return {AddReLUGrad::apply(grad_outputs[0], ctx->get_saved_variables()[0],
                               ctx->saved_data.at("output_strides").toSymIntVector()),
            {},
            {}};
  }
};

at::Tensor add_relu_backward_autograd(const at::Tensor& grad_output, const at::Tensor& mask,
                                      c10::SymIntArrayRef output_strides) {
  if (records_graph(grad_output)) return AddReLUGrad::apply(grad_output, mask, output_strides);
  return call_kernel(add_relu_backward_op(), grad_output, mask, output_strides);
}

}  // namespace

TORCH_LIBRARY_IMPL(cnnkernels, Autograd, m) {
  m.impl("add_relu", &add_relu_autograd);
  m.impl("add_relu_", &add_relu_inplace_autograd);
  m.impl("add_relu_backward", &add_relu_backward_autograd);
}

// The other ops mutate nothing and fall through.
TORCH_LIBRARY_IMPL(cnnkernels, ADInplaceOrView, m) { m.impl("add_relu_", &add_relu_inplace_or_view); }

}  // namespace cnnkernels::autograd
