"""The operators of cnnkernels._C: loads the extension (every schema, the CPU/CUDA kernels and their
autograd live in csrc/), then registers for each op a fake implementation (shapes, dtypes and strides
for torch.compile). The Triton op set registers the same autograd formulas here, in Python; each
calls the registered backward op, so the whole forward + backward stays dispatchable and traceable.

If the extension is missing, importing still works: cnnkernels.nn falls back to PyTorch's ops.
"""
import warnings

import torch

try:
    from . import _C
except ImportError as error:  # not built, or built against another torch
    _C = None
    EXTENSION_ERROR = f"{type(error).__name__}: {error}"
    warnings.warn(
        f"cnnkernels: the compiled extension cnnkernels._C could not be loaded ({EXTENSION_ERROR}); "
        "cnnkernels.nn falls back to PyTorch's own ops. Build it with "
        "`pip install --no-build-isolation -e .` in the source tree (see README).",
        stacklevel=2,
    )
else:
    EXTENSION_ERROR = None


def _read_build_info():
    if _C is None:
        return None
    info = _C.build_info()
    return {
        "cuda": info["cuda"],
        "cuda_archs": [a for a in info["cuda_archs"].split(",") if a],
        "cpu_arch": info["cpu_arch"].replace("_", "-"),
    }


# What the compiled extension contains: {"cuda": bool, "cuda_archs": ["sm_90", ...], "cpu_arch": "x86-64-v3"};
# None if not loaded.
# Read once here: torch.compile cannot trace into the extension's C function.
BUILD_INFO = _read_build_info()


# ---------------------------------------------------------------- rules shared with csrc/

def compute_format(t):
    """The memory format the kernels compute in and return (csrc/prepare.h, compute_format)."""
    if t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def pool_output_size(size, kernel, stride, pad, dilation, ceil_mode):
    """PyTorch's pooling_output_shape (csrc/max_pool2d.h, output_size)."""
    out = (size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def add_relu_mask_bytes(numel):
    """Bytes of add+ReLU's bit mask: one bit per element (csrc/add_relu.h)."""
    return (numel + 7) // 8


def argmax_dtype(kernel_size):
    """One byte per output element for windows of up to 256 positions (csrc/prepare.h)."""
    return torch.uint8 if kernel_size[0] * kernel_size[1] <= 256 else torch.int32


def argmax_positions(argmax, kernel_size, stride, padding, dilation):
    """Input row and column of each output's maximum, from the compact argmax (tap_h * kernel_w + tap_w)."""
    out_h, out_w = argmax.shape[-2:]
    tap = argmax.long()
    rows = torch.arange(out_h, device=argmax.device).view(out_h, 1)
    cols = torch.arange(out_w, device=argmax.device).view(1, out_w)
    ih = rows * stride[0] - padding[0] + (tap // kernel_size[1]) * dilation[0]
    iw = cols * stride[1] - padding[1] + (tap % kernel_size[1]) * dilation[1]
    return ih, iw


def flat_indices(argmax, input_width, kernel_size, stride, padding, dilation):
    """PyTorch's int64 flat indices (ih * W + iw) from the compact argmax."""
    ih, iw = argmax_positions(argmax, kernel_size, stride, padding, dilation)
    return ih * input_width + iw


def gather_at_argmax(grad_input, argmax, kernel_size, stride, padding, dilation):
    """The adjoint of max_pool2d_backward, which is linear in grad_output: each output takes the value
    of grad_input at its maximum's input position, 0 where it credited nothing (a window wholly in
    the padding). Torch ops, so differentiable again (mirrored by csrc/autograd.cpp, gather_at_argmax)."""
    height, width = grad_input.shape[-2:]
    ih, iw = argmax_positions(argmax, kernel_size, stride, padding, dilation)
    inside = (argmax.long() < kernel_size[0] * kernel_size[1]) & (ih >= 0) & (ih < height) & (iw >= 0) & (iw < width)
    index = torch.where(inside, ih * width + iw, 0).flatten(-2)
    gathered = grad_input.flatten(-2).gather(-1, index).view(argmax.shape)
    return torch.where(inside, gathered, 0)


# ---------------------------------------------------------------- registrations

class OpSet:
    """One backend's operators, by role; `suffix` names them: cnnkernels::lrn_forward{suffix}, ..."""

    ROLES = ("lrn_forward", "lrn_backward", "max_pool2d_forward", "max_pool2d_backward", "add_relu", "add_relu_",
             "add_relu_backward")

    def __init__(self, suffix=""):
        self.names = {role: f"cnnkernels::{role}{suffix}" for role in self.ROLES}
        for role, name in self.names.items():
            setattr(self, role, getattr(torch.ops.cnnkernels, name.split("::")[1]).default)
        self.add_relu_inplace_autograd = _add_relu_inplace_autograd(self.add_relu_, self.add_relu_backward)


def register_fakes(ops):
    """Shapes, dtypes and strides of a C++-defined op set (triton_op derives its own)."""

    @torch.library.register_fake(ops.names["lrn_forward"])
    def _(input, size, alpha, beta, k):
        return torch.empty_like(input, memory_format=compute_format(input))

    @torch.library.register_fake(ops.names["lrn_backward"])
    def _(grad_output, input, size, alpha, beta, k):
        return torch.empty_like(input, memory_format=compute_format(input))

    @torch.library.register_fake(ops.names["max_pool2d_forward"])
    def _(input, kernel_size, stride, padding, dilation, ceil_mode, with_argmax):
        shape = list(input.shape)
        shape[-2] = pool_output_size(shape[-2], kernel_size[0], stride[0], padding[0], dilation[0], ceil_mode)
        shape[-1] = pool_output_size(shape[-1], kernel_size[1], stride[1], padding[1], dilation[1], ceil_mode)
        fmt = compute_format(input)
        out = torch.empty(shape, dtype=input.dtype, device=input.device, memory_format=fmt)
        argmax = torch.empty(shape if with_argmax else (0,), dtype=argmax_dtype(kernel_size), device=input.device,
                             memory_format=fmt if with_argmax else torch.contiguous_format)
        return out, argmax

    @torch.library.register_fake(ops.names["max_pool2d_backward"])
    def _(grad_output, argmax, input_height, input_width, kernel_size, stride, padding, dilation):
        shape = list(grad_output.shape)
        shape[-2:] = [input_height, input_width]
        return torch.empty(shape, dtype=grad_output.dtype, device=grad_output.device,
                           memory_format=compute_format(grad_output))

    def add_relu_mask(output, with_mask):
        return output.new_empty(add_relu_mask_bytes(output.numel()) if with_mask else 0, dtype=torch.uint8)

    @torch.library.register_fake(ops.names["add_relu"])
    def _(input, residual, with_mask):
        output = torch.empty_like(input, memory_format=compute_format(input))
        return output, add_relu_mask(output, with_mask)

    @torch.library.register_fake(ops.names["add_relu_"])
    def _(input, residual, with_mask):
        return add_relu_mask(input, with_mask)

    @torch.library.register_fake(ops.names["add_relu_backward"])
    def _(grad_output, mask, channels_last):
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        return torch.empty_like(grad_output, memory_format=fmt)


def register_autograd(ops):
    """Autograd for the Triton op set: each forward saves only what DESIGN.md lists, and each backward
    calls the set's registered backward op, so it stays dispatchable and torch.compile traces it.
    (The C++ op set has the same formulas in C++, csrc/autograd.cpp: there the Python call's overhead
    would cost more than the kernel on small tensors.)"""

    # LRN: the backward recomputes the window sums from x, so x is all it keeps.
    def lrn_setup_context(ctx, inputs, output):
        input, *ctx.params = inputs
        ctx.save_for_backward(input)

    def lrn_backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return ops.lrn_backward(grad_output, input, *ctx.params), None, None, None, None

    torch.library.register_autograd(ops.names["lrn_forward"], lrn_backward, setup_context=lrn_setup_context)

    # Max-pool: keeps the one-byte argmax and the input's height and width, not the input.
    def max_pool2d_setup_context(ctx, inputs, output):
        input, kernel_size, stride, padding, dilation, _ceil_mode, with_argmax = inputs
        ctx.with_argmax = with_argmax
        ctx.geometry = (input.shape[-2], input.shape[-1], kernel_size, stride, padding, dilation)
        ctx.save_for_backward(output[1])
        ctx.mark_non_differentiable(output[1])
        ctx.set_materialize_grads(False)  # else autograd fills a zero gradient for the argmax every step

    def max_pool2d_backward(ctx, grad_output, _grad_argmax):
        if grad_output is None:
            return (None,) * 7
        if not ctx.with_argmax:
            raise RuntimeError(
                f"{ops.names['max_pool2d_forward']} was called with with_argmax=False, so it kept nothing to "
                "backpropagate through; call it with with_argmax=True when the input requires grad"
            )
        (argmax,) = ctx.saved_tensors
        grad_input = ops.max_pool2d_backward(grad_output, argmax, *ctx.geometry)
        return grad_input, None, None, None, None, None, None

    torch.library.register_autograd(
        ops.names["max_pool2d_forward"], max_pool2d_backward, setup_context=max_pool2d_setup_context
    )

    # add+ReLU: keeps the bit mask of where the gradient flows; one gradient serves both inputs.
    def add_relu_setup_context(ctx, inputs, output):
        input, _residual, ctx.with_mask = inputs
        ctx.channels_last = compute_format(input) == torch.channels_last
        ctx.save_for_backward(output[1])
        ctx.mark_non_differentiable(output[1])
        ctx.set_materialize_grads(False)  # else autograd fills a zero gradient for the mask every step

    def add_relu_backward(ctx, grad_output, _grad_mask):
        if grad_output is None:
            return None, None, None
        if not ctx.with_mask:
            raise RuntimeError(
                f"{ops.names['add_relu']} was called with with_mask=False, so it kept nothing to backpropagate "
                "through; call it with with_mask=True when an input requires grad"
            )
        (mask,) = ctx.saved_tensors
        grad = ops.add_relu_backward(grad_output, mask, ctx.channels_last)
        return grad, grad, None

    torch.library.register_autograd(ops.names["add_relu"], add_relu_backward, setup_context=add_relu_setup_context)

    # The backward ops, differentiated again (create_graph=True): csrc/autograd.cpp explains.
    def lrn_second_derivative(ctx, grad):
        raise RuntimeError(
            f"{ops.names['lrn_backward']}: the second derivative of local_response_norm (differentiating its "
            'gradient, as create_graph=True allows) is not implemented; use backend="torch" for it'
        )

    torch.library.register_autograd(ops.names["lrn_backward"], lrn_second_derivative,
                                    setup_context=lambda ctx, inputs, output: None)

    def max_pool2d_backward_setup_context(ctx, inputs, output):
        _grad_output, argmax, _height, _width, *ctx.window = inputs
        ctx.save_for_backward(argmax)

    def max_pool2d_second_derivative(ctx, grad):
        (argmax,) = ctx.saved_tensors
        return (gather_at_argmax(grad, argmax, *ctx.window),) + (None,) * 7

    torch.library.register_autograd(ops.names["max_pool2d_backward"], max_pool2d_second_derivative,
                                    setup_context=max_pool2d_backward_setup_context)

    def add_relu_backward_setup_context(ctx, inputs, output):
        _grad_output, mask, ctx.channels_last = inputs
        ctx.save_for_backward(mask)

    def add_relu_second_derivative(ctx, grad):  # linear in grad_output: the same selection
        (mask,) = ctx.saved_tensors
        return ops.add_relu_backward(grad, mask, ctx.channels_last), None, None

    torch.library.register_autograd(ops.names["add_relu_backward"], add_relu_second_derivative,
                                    setup_context=add_relu_backward_setup_context)


def _add_relu_inplace_autograd(add_relu_, add_relu_backward):
    """Autograd for an in-place add_relu_ (torch.library cannot register autograd for a mutating op):
    keeps the bit mask the op returns; one gradient serves both inputs."""

    class AddReLUInplace(torch.autograd.Function):
        @staticmethod
        def forward(ctx, input, residual):
            ctx.channels_last = compute_format(input) == torch.channels_last
            mask = add_relu_(input, residual, True)
            ctx.mark_dirty(input)
            ctx.save_for_backward(mask)
            return input

        @staticmethod
        def backward(ctx, grad_output):
            (mask,) = ctx.saved_tensors
            grad = add_relu_backward(grad_output, mask, ctx.channels_last)
            return grad, grad

    return AddReLUInplace


# backend name -> its OpSet; the C++ one serves both "cpu" and "cuda" (the dispatcher picks the kernel)
OPS = {}
if _C is not None:
    OPS["cpu"] = OPS["cuda"] = OpSet()
    register_fakes(OPS["cpu"])  # (their autograd is registered by the extension itself)
