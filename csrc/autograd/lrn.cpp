// LRN's autograd: the backward recomputes the window sums from x, so x is all the forward keeps. Its
// second derivative is not implemented, and differentiating the backward says so.
#include "common.h"

namespace cnnkernels::autograd {
namespace {

using LrnForward = at::Tensor(const at::Tensor&, int64_t, double, double, double);
using LrnBackward = at::Tensor(const at::Tensor&, const at::Tensor&, int64_t, double, double, double);

const c10::TypedOperatorHandle<LrnBackward>& lrn_backward_op() {
  static const auto op = op_handle<LrnBackward>("cnnkernels::lrn_backward");
  return op;
}

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
    const auto& d = ctx->saved_data;
    at::Tensor grad = lrn_backward_op().call(grad_outputs[0], ctx->get_saved_variables()[0], d.at("size").toInt(),
                                             d.at("alpha").toDouble(), d.at("beta").toDouble(), d.at("k").toDouble());
    return {grad, {}, {}, {}, {}};
  }
};

at::Tensor lrn_forward_autograd(const at::Tensor& input, int64_t size, double alpha, double beta, double k) {
  return Lrn::apply(input, size, alpha, beta, k);
}

class LrnGrad : public torch::autograd::Function<LrnGrad> {
 public:
  static at::Tensor forward(AutogradContext*, const at::Tensor& grad_output, const at::Tensor& input, int64_t size,
                            double alpha, double beta, double k) {
    return call_kernel(lrn_backward_op(), grad_output, input, size, alpha, beta, k);
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
  return call_kernel(lrn_backward_op(), grad_output, input, size, alpha, beta, k);
}

}  // namespace

TORCH_LIBRARY_IMPL(cnnkernels, Autograd, m) {
  m.impl("lrn_forward", &lrn_forward_autograd);
  m.impl("lrn_backward", &lrn_backward_autograd);
}

}  // namespace cnnkernels::autograd
