"""Residual add + ReLU's contract: its argument checks (the C++ operators check the same, in the same
words: csrc/prepare/add_relu.h), the bit mask the training forward keeps (bit j of byte k is element
8k + j in the order of the layout computed in: csrc/add_relu.h), the outputs' shapes and layouts for
fake tensors, and the Triton op set's autograd, in-place op included."""
import torch

from .common import check_same, check_tensor, compute_format

FUNCTION = "add_relu"


def check(input, residual, op=FUNCTION):
    """input and residual: tensors of one floating dtype, shape and device."""
    check_tensor(input, op, "input")
    check_tensor(residual, op, "residual")
    check_same(input, residual, op, "input", "residual")


def mask_bytes(numel):
    """Bytes of the bit mask: one bit per element."""
    return (numel + 7) // 8


def check_backward(grad_output, mask, channels_last, op="add_relu_backward"):
    """mask as add_relu(with_mask=True) gives it for an output of grad_output's shape."""
    check_tensor(grad_output, op, "grad_output")
    expected = mask_bytes(grad_output.numel())
    if mask.dim() != 1 or mask.dtype != torch.uint8 or mask.numel() != expected:
        raise ValueError(
            f"{op}: expected a 1-D uint8 mask of {expected} bytes for grad_output of shape {tuple(grad_output.shape)} "
            f"(from add_relu with with_mask=True), got shape {tuple(mask.shape)} and dtype {mask.dtype}"
        )
    if mask.device != grad_output.device:
        raise ValueError(f"{op}: expected mask on {grad_output.device}, got {mask.device}")
    if channels_last and grad_output.dim() != 4:
        raise ValueError(f"{op}: channels_last applies to 4-D tensors only, got grad_output of shape "
                         f"{tuple(grad_output.shape)}")


def empty_mask(output, with_mask):
    """The mask for output's elements (empty for inference)."""
    return output.new_empty(mask_bytes(output.numel()) if with_mask else 0, dtype=torch.uint8)


def register_fakes(ops):
    """Shapes, dtypes and strides of the C++ ops, for torch.compile (triton_op derives its own)."""

    @torch.library.register_fake(ops.add_relu)
    def _(input, residual, with_mask):
        output = torch.empty_like(input, memory_format=compute_format(input))
        return output, empty_mask(output, with_mask)

    torch.library.register_fake(ops.add_relu_)(lambda input, residual, with_mask: empty_mask(input, with_mask))

    @torch.library.register_fake(ops.add_relu_backward)
    def _(grad_output, mask, channels_last):
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        return torch.empty_like(grad_output, memory_format=fmt)


def _check_kept_a_mask(with_mask, op):
    if not with_mask:
        raise RuntimeError(f"{op.name()} was called with with_mask=False, so it kept nothing to backpropagate "
                           "through; call it with with_mask=True when an input requires grad")


def register_autograd(ops):
    """The Triton op set's autograd (the C++ op set's is csrc/autograd/add_relu.cpp): the forward keeps
    the bit mask of where the gradient flows; one gradient serves both inputs; the backward, linear
    in grad_output, differentiates again into the same selection."""

    def setup_context(ctx, inputs, output):
        input, _residual, ctx.with_mask = inputs
        ctx.channels_last = compute_format(input) == torch.channels_last
        ctx.save_for_backward(output[1])
        ctx.mark_non_differentiable(output[1])
        ctx.set_materialize_grads(False)  # else autograd fills a zero gradient for the mask every step

    def backward(ctx, grad_output, _grad_mask):
        if grad_output is None:
            return None, None, None
        _check_kept_a_mask(ctx.with_mask, ops.add_relu)
        (mask,) = ctx.saved_tensors
        grad = ops.add_relu_backward(grad_output, mask, ctx.channels_last)
        return grad, grad, None

    torch.library.register_autograd(ops.add_relu, backward, setup_context=setup_context)

    def backward_setup_context(ctx, inputs, output):
        _grad_output, mask, ctx.channels_last = inputs
        ctx.save_for_backward(mask)

    def second_derivative(ctx, grad):
        (mask,) = ctx.saved_tensors
        return ops.add_relu_backward(grad, mask, ctx.channels_last), None, None

    torch.library.register_autograd(ops.add_relu_backward, second_derivative, setup_context=backward_setup_context)


def inplace_with_autograd(ops):
    """The Triton op set's in-place add_relu_ with its autograd, as a function (input, residual,
    with_mask) -> mask: torch.library cannot register autograd for a mutating op, so a
    torch.autograd.Function marks input dirty (which bumps its version, refuses a leaf that requires
    grad and rebases a view's history)."""

    class AddReLUInplace(torch.autograd.Function):
        """Returns only input (autograd lets a Function that writes into a view return nothing else);
        the mask comes back through the context."""

        @staticmethod
        def forward(ctx, input, residual, with_mask, mask_out):
            ctx.channels_last = compute_format(input) == torch.channels_last
            ctx.with_mask = with_mask
            mask = ops.add_relu_(input, residual, with_mask)
            mask_out.append(mask)
            ctx.mark_dirty(input)
            ctx.save_for_backward(mask)
            return input

        @staticmethod
        def backward(ctx, grad_output):
            _check_kept_a_mask(ctx.with_mask, ops.add_relu_)
            (mask,) = ctx.saved_tensors
            grad = ops.add_relu_backward(grad_output, mask, ctx.channels_last)
            return grad, grad, None, None

    def add_relu_inplace(input, residual, with_mask):
        if not (torch.is_grad_enabled() and (input.requires_grad or residual.requires_grad)):
            return ops.add_relu_(input, residual, with_mask)  # triton_op's ADInplaceOrView bumps the version
        mask = []
        AddReLUInplace.apply(input, residual, with_mask, mask)
        return mask[0]

    return add_relu_inplace
