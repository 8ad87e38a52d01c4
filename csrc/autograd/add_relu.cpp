// add+ReLU's autograd: the forward keeps the bit mask of where the gradient flows, not the output;
// one gradient serves both inputs. The in-place op (add_relu_) goes through the dispatcher's
// in-place machinery on every path: ADInplaceOrView bumps input's version counter when no graph is
// recorded, and the autograd Function marks input dirty when one is (which bumps it, refuses a leaf
// that requires grad, and rebases a view's history), so autograd and torch.compile see the write.
#include <torch/csrc/autograd/variable.h>

#include "../prepare/common.h"
#include "common.h"

namespace cnnkernels::autograd {
namespace {

using AddReluForward = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, bool);
using AddReluInplace = at::Tensor(at::Tensor&, const at::Tensor&, bool);
using AddReluBackward = at::Tensor(const at::Tensor&, const at::Tensor&, bool);

const c10::TypedOperatorHandle<AddReluBackward>& add_relu_backward_op() {
  static const auto op = op_handle<AddReluBackward>("cnnkernels::add_relu_backward");
  return op;
}

// What both forwards keep: the mask, and the element order it is in (compute_format of input).
void save_mask(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& mask, bool with_mask) {
  ctx->save_for_backward({mask});
  ctx->mark_non_differentiable({mask});
  ctx->set_materialize_grads(false);  // else autograd fills a zero gradient for the mask every step
  ctx->saved_data["channels_last"] = compute_format(input) == at::MemoryFormat::ChannelsLast;
  ctx->saved_data["with_mask"] = with_mask;
}

variable_list backward_from_mask(AutogradContext* ctx, const variable_list& grad_outputs, const char* op) {
  if (!grad_outputs[0].defined()) return {{}, {}, {}};
  const auto& d = ctx->saved_data;
  TORCH_CHECK(d.at("with_mask").toBool(), "cnnkernels::", op,
              " was called with with_mask=False, so it kept nothing to backpropagate through; call it with "
              "with_mask=True when an input requires grad");
  const at::Tensor grad =
      add_relu_backward_op().call(grad_outputs[0], ctx->get_saved_variables()[0], d.at("channels_last").toBool());
  return {grad, grad, {}};
}

class AddReLU : public torch::autograd::Function<AddReLU> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& residual,
                               bool with_mask) {
    static const auto op = op_handle<AddReluForward>("cnnkernels::add_relu");
    auto [output, mask] = call_kernel(op, input, residual, with_mask);
    save_mask(ctx, input, mask, with_mask);
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
// goes back to the caller through `mask_out`.
class AddReLUInplace : public torch::autograd::Function<AddReLUInplace> {
 public:
  static at::Tensor forward(AutogradContext* ctx, at::Tensor input, const at::Tensor& residual, bool with_mask,
                            at::Tensor* mask_out) {
    *mask_out = call_kernel(add_relu_inplace_op(), input, residual, with_mask);
    ctx->mark_dirty({input});
    save_mask(ctx, input, *mask_out, with_mask);
    return input;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    variable_list grads = backward_from_mask(ctx, grad_outputs, "add_relu_");
    grads.emplace_back();  // (mask_out)
    return grads;
  }
};

at::Tensor add_relu_inplace_autograd(at::Tensor& input, const at::Tensor& residual, bool with_mask) {
  if (!records_graph(input, residual)) {  // no graph: on to ADInplaceOrView, which bumps the version
    at::AutoDispatchBelowAutograd guard;
    return add_relu_inplace_op().call(input, residual, with_mask);
  }
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
                            bool channels_last) {
    ctx->save_for_backward({mask});
    ctx->saved_data["channels_last"] = channels_last;
    return call_kernel(add_relu_backward_op(), grad_output, mask, channels_last);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    if (!grad_outputs[0].defined()) return {{}, {}, {}};
    return {AddReLUGrad::apply(grad_outputs[0], ctx->get_saved_variables()[0],
                               ctx->saved_data.at("channels_last").toBool()),
            {},
            {}};
  }
};

at::Tensor add_relu_backward_autograd(const at::Tensor& grad_output, const at::Tensor& mask, bool channels_last) {
  if (records_graph(grad_output)) return AddReLUGrad::apply(grad_output, mask, channels_last);
  return call_kernel(add_relu_backward_op(), grad_output, mask, channels_last);
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
