"""Residual add + ReLU's contract: its argument checks (the C++ operators check the same, in the same
words: csrc/prepare/add_relu.h), the layouts it computes in, the bit mask the training forward keeps
(bit j of byte k is element 8k + j in the memory order of that layout: csrc/add_relu.h), its fake
tensors, and the Triton op set's autograd, in-place op included.

The operators take input and residual of one shape, dtype and device; cnnkernels.nn.functional.add_relu
takes whatever torch.add takes (broadcasting, type promotion) and sends the rest to PyTorch's ops."""
import torch
from torch._prims_common import compute_elementwise_output_strides
from torch._subclasses.fake_tensor import is_fake

from ..errors import ArgumentError
from .common import check_same, check_tensor, is_dense

FUNCTION = "add_relu"


def check(input, residual, op=FUNCTION):
    """input and residual: tensors of one floating dtype, shape and device."""
    check_tensor(input, op, "input")
    check_tensor(residual, op, "residual")
    check_same(input, residual, op, "input", "residual")


def output_strides(input, residual):
    """The strides of relu(input + residual)'s output, as PyTorch's elementwise ops (TensorIterator) lay
    it out: input's own, as a rule (csrc/prepare/add_relu.h allocates it through TensorIterator)."""
    return compute_elementwise_output_strides(input, residual)


def inplace_strides(input):
    """The dense layout an in-place add+ReLU computes in: input's own when it is non-overlapping and
    dense, else the dense layout with input's order of dimensions (computed, then copied back)."""
    return input.stride() if is_dense(input) else compute_elementwise_output_strides(input)


def check_inplace(input, residual):
    """Refuses what PyTorch's in-place add refuses, with its messages (csrc/prepare/add_relu.h calls
    PyTorch's own checks): an input with elements that share memory, a residual that partly overlaps
    it. (Fake tensors, under torch.compile, have no memory to overlap.)"""
    if is_fake(input) or input.device.type == "meta":
        return
    if torch._debug_has_internal_overlap(input) == 1:
        raise RuntimeError("unsupported operation: more than one element of the written-to tensor refers to a "
                           "single memory location. Please clone() the tensor before performing the operation.")
    if _partly_overlap(input, residual):
        raise RuntimeError("unsupported operation: some elements of the input tensor and the written-to tensor refer "
                           "to a single memory location. Please clone() the tensor before performing the operation.")


def _partly_overlap(a, b):
    """PyTorch's MemOverlapStatus::Partial: dense a and b in one storage whose spans overlap, but differ."""
    if a.numel() == 0 or b.numel() == 0 or not (is_dense(a) and is_dense(b)):
        return False
    if a.untyped_storage().data_ptr() != b.untyped_storage().data_ptr():
        return False
    a_start, b_start = a.data_ptr(), b.data_ptr()
    a_end, b_end = a_start + a.numel() * a.element_size(), b_start + b.numel() * b.element_size()
    return a_start < b_end and b_start < a_end and (a_start, a_end) != (b_start, b_end)


def mask_bytes(numel):
    """Bytes of the bit mask: one bit per element."""
    return (numel + 7) // 8


def check_backward(grad_output, mask, output_strides, op="add_relu_backward"):
    """mask as add_relu(with_mask=True) gives it for an output of grad_output's shape, laid out with
    output_strides."""
    check_tensor(grad_output, op, "grad_output")
    expected = mask_bytes(grad_output.numel())
    if mask.dim() != 1 or mask.dtype != torch.uint8 or mask.numel() != expected:
        raise ArgumentError(
            f"{op}: expected a 1-D uint8 mask of {expected} bytes for grad_output of shape {tuple(grad_output.shape)} "
            f"(from add_relu with with_mask=True), got shape {tuple(mask.shape)} and dtype {mask.dtype}"
        )
    if mask.device != grad_output.device:
        raise ArgumentError(f"{op}: expected mask on {grad_output.device}, got {mask.device}")
    if len(output_strides) != grad_output.dim():
        raise ArgumentError(f"{op}: expected {grad_output.dim()} output_strides for grad_output of shape "
                            f"{tuple(grad_output.shape)}, got {tuple(output_strides)}")
    if not is_dense(torch.empty_strided(grad_output.shape, output_strides, device="meta")):
        raise ArgumentError(f"{op}: expected output_strides of a dense layout of shape {tuple(grad_output.shape)}, "
                            f"got {tuple(output_strides)}")


def empty_mask(output, with_mask):
    """The mask for output's elements (empty for inference)."""
    return output.new_empty(mask_bytes(output.numel()) if with_mask else 0, dtype=torch.uint8)


def register_fakes(ops):
    """Shapes, dtypes and strides of the C++ ops, for torch.compile (triton_op derives its own)."""

    @torch.library.register_fake(ops.add_relu)
    def _(input, residual, with_mask):
        output = torch.empty_strided(input.shape, output_strides(input, residual), dtype=input.dtype,
                                     device=input.device)
        return output, empty_mask(output, with_mask)

    torch.library.register_fake(ops.add_relu_)(lambda input, residual, with_mask: empty_mask(input, with_mask))

    @torch.library.register_fake(ops.add_relu_backward)
    def _(grad_output, mask, output_strides):
        return torch.empty_strided(grad_output.shape, output_strides, dtype=grad_output.dtype,
                                   device=grad_output.device)


def _check_kept_a_mask(with_mask, op):
    if not with_mask:
        raise RuntimeError(f"{op.name()} was called with with_mask=False, so it kept nothing to backpropagate "
                           "through; call it with with_mask=True when an input requires grad")


def register_autograd(ops):
    """The Triton op set's autograd (the C++ op set's is csrc/autograd/add_relu.cpp): the forward keeps
    the bit mask of where the gradient flows; one gradient serves both inputs; the backward, linear
    in grad_output, differentiates again into the same selection."""

    def setup_context(ctx, inputs, output):
        _input, _residual, ctx.with_mask = inputs
        ctx.output_strides = output[0].stride()
        ctx.save_for_backward(output[1])
        ctx.mark_non_differentiable(output[1])
        ctx.set_materialize_grads(False)  # else autograd fills a zero gradient for the mask every step

    def backward(ctx, grad_output, _grad_mask):
        if grad_output is None:
            return None, None, None
        _check_kept_a_mask(ctx.with_mask, ops.add_relu)
        (mask,) = ctx.saved_tensors
        grad = ops.add_relu_backward(grad_output, mask, ctx.output_strides)
        return grad, grad, None

    torch.library.register_autograd(ops.add_relu, backward, setup_context=setup_context)

    def backward_setup_context(ctx, inputs, output):
        _grad_output, mask, ctx.output_strides = inputs
        ctx.save_for_backward(mask)

    def second_derivative(ctx, grad):
        (mask,) = ctx.saved_tensors
        return ops.add_relu_backward(grad, mask, ctx.output_strides), None, None

    torch.library.register_autograd(ops.add_relu_backward, second_derivative, setup_context=backward_setup_context)


def check_inplace_autograd(input):
    """PyTorch's checks before an in-place op records a graph, in its words: a leaf that requires grad,
    or a view of one, cannot be written in place (csrc/autograd/add_relu.cpp calls PyTorch's own)."""
    if input.is_leaf and input.requires_grad:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    base = input._base
    if base is not None and base.is_leaf and base.requires_grad:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")


def inplace_with_autograd(ops):
    """The Triton op set's in-place add_relu_ with its autograd, as a function (input, residual,
    with_mask) -> mask: torch.library cannot register autograd for a mutating op, so a
    torch.autograd.Function marks input dirty (which bumps its version and rebases a view's history).
    Without a graph to record, triton_op's own ADInplaceOrView kernel bumps the version."""

    class AddReLUInplace(torch.autograd.Function):
        """Returns only input (autograd lets a Function that writes into a view return nothing else);
        the mask comes back through mask_out. Written into a view, the input gradient comes back
        contiguous, as PyTorch's add_ then relu_ give it (csrc/autograd/add_relu.cpp says why)."""

        @staticmethod
        def forward(ctx, input, residual, with_mask, mask_out):
            ctx.output_strides = inplace_strides(input)
            ctx.into_view = input._base is not None
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
            grad = ops.add_relu_backward(grad_output, mask, ctx.output_strides)
            if ctx.into_view:
                grad = grad.contiguous()
            return grad, grad, None, None

    def add_relu_inplace(input, residual, with_mask):
        if not (torch.is_grad_enabled() and (input.requires_grad or residual.requires_grad)):
            return ops.add_relu_(input, residual, with_mask)
        check_inplace_autograd(input)
        mask = []
        AddReLUInplace.apply(input, residual, with_mask, mask)
        return mask[0]

    return add_relu_inplace
