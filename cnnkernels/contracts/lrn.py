"""Local Response Normalization's contract: its argument checks (the C++ operators check the same,
in the same words: csrc/prepare/lrn.h), how s^-beta is computed, its output's layout, its fake
tensors, and the Triton op set's autograd.

    s_c = k + alpha/size * sum_{j=c-size/2}^{c+(size-1)/2} x_j^2,  y_c = x_c s_c^-beta
"""
import torch

from ..errors import ArgumentError
from .common import check_same, check_tensor

FUNCTION = "local_response_norm"
FLOAT32_TINY = torch.finfo(torch.float32).tiny


def check(input, size, op=FUNCTION):
    """input (N, C, *) of a floating dtype and a window of size >= 1 channels."""
    check_tensor(input, op, "input")
    if input.dim() < 3:
        raise ArgumentError(f"{op}: expected input of shape (N, C, *) with at least 3 dimensions, got shape "
                            f"{tuple(input.shape)}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ArgumentError(f"{op}: expected size to be an int >= 1, got {size!r}")


def check_backward(grad_output, input, size, op="lrn_backward"):
    check(input, size, op)
    check_same(grad_output, input, op, "grad_output", "input")


def power(alpha, beta, k):
    """How s^-beta is computed, decided once per call (csrc/lrn.h, power_for, is the same rule):
    "identity" for beta = 0 (y = x and dx = dy + 0 * x: PyTorch divides by s^0 = 1 whatever s is, and
    its chain multiplies x by pow's zero gradient at exponent 0, NaN only where x is inf or NaN);
    "three_quarters" for beta = 0.75 where s >= k > 0 (k a normal float, alpha >= 0): r * sqrt(r) with
    r = 1/sqrt(s); "general": pow(s, -beta) with C's (PyTorch's) semantics, s = 0, inf and a negative s
    to an integer power included."""
    if beta == 0:
        return "identity"
    if beta == 0.75 and alpha >= 0 and k >= FLOAT32_TINY:
        return "three_quarters"
    return "general"


def output_like(input):
    """An uninitialized output (or input gradient) for input: input's layout, as PyTorch's composite
    x / s^beta gives it (torch.empty_like)."""
    return torch.empty_like(input)


def kernel_layout(output):
    """The order the kernels compute in for an output laid out as `output`: "contiguous" ((N, C, S)),
    "channels_last" ((N, S, C): channels innermost, of any rank), or None for any other layout, which
    they compute contiguous and copy (csrc/prepare/lrn.h, prepare_lrn)."""
    if output.is_contiguous():
        return "contiguous"
    if output.permute(0, *range(2, output.dim()), 1).is_contiguous():
        return "channels_last"
    return None


def register_fakes(ops):
    """Shapes, dtypes and strides of the C++ ops, for torch.compile (triton_op derives its own)."""
    torch.library.register_fake(ops.lrn_forward)(lambda input, size, alpha, beta, k: output_like(input))
    torch.library.register_fake(ops.lrn_backward)(lambda grad_output, input, size, alpha, beta, k: output_like(input))


def register_autograd(ops):
    """The Triton op set's autograd (the C++ op set's is csrc/autograd/lrn.cpp): the backward
    recomputes the window sums from x, so x is all the forward keeps; the backward op says that its
    own derivative is not implemented."""

    def setup_context(ctx, inputs, output):
        input, *ctx.params = inputs
        ctx.save_for_backward(input)

    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return ops.lrn_backward(grad_output, input, *ctx.params), None, None, None, None

    torch.library.register_autograd(ops.lrn_forward, backward, setup_context=setup_context)

    def second_derivative(ctx, grad):
        raise RuntimeError(
            f"{ops.lrn_backward.name()}: the second derivative of local_response_norm (differentiating its "
            'gradient, as create_graph=True allows) is not implemented; use backend="torch" for it'
        )

    torch.library.register_autograd(ops.lrn_backward, second_derivative,
                                    setup_context=lambda ctx, inputs, output: None)
