// What the autograd kernels of the C++ op set share (TORCH_LIBRARY_IMPL(cnnkernels, Autograd), one
// file per op). They are C++ rather than Python: a Python-registered formula costs more per call than
// a GPU kernel on small tensors takes. Each forward saves only what its backward
// needs and each backward calls the registered backward op, so the graph stays dispatchable and
// torch.compile traces it. The backward ops are differentiable in turn (a gradient of a gradient:
// create_graph=True, e.g. a gradient penalty), or say they are not: without an autograd kernel
// PyTorch would only warn and treat them as constants.
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

namespace cnnkernels::autograd {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The typed handle of cnnkernels::<name>, looked up once.
template <typename Signature>
c10::TypedOperatorHandle<Signature> op_handle(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

// Calls an op's kernel directly, below autograd (the Autograd kernels record the node themselves) and
// below ADInplaceOrView (a Function that writes in place bumps the version counter itself: mark_dirty).
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

}  // namespace cnnkernels::autograd
