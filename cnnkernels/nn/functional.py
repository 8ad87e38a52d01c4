"""Drop-in replacements for torch.nn.functional: same arguments, same results, plus backend=.

Each op checks its arguments here, once, for every backend (with its contract: cnnkernels.contracts),
so a mistake gets the same clear message, as a cnnkernels.ArgumentError (both a ValueError and a
RuntimeError), whichever implementation would have run.
"""
import torch
import torch.nn.functional as F

from .. import ops
from ..backends import resolve
from ..contracts import lrn as lrn_contract
from ..contracts import max_pool2d as max_pool2d_contract
from ..contracts.common import FLOATING

__all__ = ["local_response_norm", "max_pool2d", "add_relu"]


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0, *, backend="auto"):
    """Local Response Normalization across channels, exactly torch.nn.functional.local_response_norm
    (Krizhevsky et al. 2012, section 3.3, in PyTorch's convention):

        y_c = x_c / (k + alpha / size * sum_{c' in window(c)} x_c'^2) ** beta

    with alpha divided by size (PyTorch's, Caffe's and cuDNN's convention; the AlexNet paper's alpha is
    this alpha / size) and the window holding size // 2 channels before c and (size - 1) // 2 after.
    The power has PyTorch's semantics everywhere: beta = 0 gives x, a negative base to an integer
    power its sign.

    input: (N, C, *), float32, float64, float16 or bfloat16 (fp16/bf16 computed in float32). Returns a
    tensor of input's shape, dtype and layout. Raises cnnkernels.ArgumentError for another dtype, fewer
    than 3 dimensions or size < 1.
    """
    lrn_contract.check(input, size)
    alpha, beta, k = float(alpha), float(beta), float(k)
    name = resolve(backend, input.device, input.dtype)
    if name == "torch":
        return F.local_response_norm(input, size, alpha, beta, k)
    return ops.OPS[name].lrn_forward(input, size, alpha, beta, k)


def max_pool2d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False, *, backend="auto"
):
    """2-D max-pool, exactly torch.nn.functional.max_pool2d: PyTorch's output size (ceil_mode's last
    window starts inside the input or its left padding), the first maximum wins ties, a NaN in a window
    makes the output NaN. Overlapping windows (kernel > stride) as in AlexNet (Krizhevsky et al. 2012,
    section 3.4).

    input: (N, C, H, W) or (C, H, W), float32, float64, float16 or bfloat16 (integer dtypes run PyTorch's
    op, as exact). kernel_size, stride, padding, dilation: an int or an (h, w) pair; stride defaults to
    kernel_size; padding at most half the kernel. Returns the output in input's suggested memory
    format, and with return_indices=True PyTorch's int64 flat indices (h * W + w) too. For training it
    keeps a one-byte argmax per output (the offset of the maximum inside its window) instead of
    PyTorch's int64 indices. Raises cnnkernels.ArgumentError for a bad dtype or rank, an empty channel
    or spatial dimension, or a window that does not fit.
    """
    window = max_pool2d_contract.window(kernel_size, stride, padding, dilation)
    if isinstance(input, torch.Tensor) and not input.is_floating_point():  # integer tensors: PyTorch's op, exact
        return F.max_pool2d(input, *window, ceil_mode, return_indices)
    max_pool2d_contract.check(input, *window, ceil_mode)
    name = resolve(backend, input.device, input.dtype)
    if name == "torch":
        return F.max_pool2d(input, *window, ceil_mode, return_indices)
    with_argmax = return_indices or (torch.is_grad_enabled() and input.requires_grad)
    output, argmax = ops.OPS[name].max_pool2d_forward(input, *window, ceil_mode, with_argmax)
    if return_indices:
        return output, max_pool2d_contract.flat_indices(argmax, input.shape[-1], *window)
    return output


def add_relu(input, residual, inplace=False, *, backend="auto"):
    """relu(input + residual) in one pass: the residual connection of ResNet's blocks (He et al. 2015).

    input: a tensor; residual: whatever torch.add takes as its second operand (a tensor that broadcasts
    to input, of any dtype that promotes with it, or a number). The result, its dtype and layout, and
    the gradients (summed over broadcast dimensions) are torch.relu(input + residual)'s. With
    inplace=True the result is written into input, which is returned, and the call accepts and refuses
    what input.add_(residual) does, with PyTorch's messages. Tensors of one shape, one floating dtype
    and one device take the fused kernel, which keeps one bit per element for the backward instead of
    the output; anything else runs PyTorch's ops.
    """
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"add_relu: expected input to be a torch.Tensor, got {type(input).__name__}")
    name = resolve(backend, input.device, input.dtype)
    fused = (name != "torch" and isinstance(residual, torch.Tensor) and residual.shape == input.shape
             and residual.dtype == input.dtype and residual.device == input.device
             and input.dtype in FLOATING)
    if not fused:  # broadcasting, type promotion, numbers, other dtypes: PyTorch's ops, PyTorch's rules
        return torch.relu_(input.add_(residual)) if inplace else torch.relu(input + residual)
    op_set = ops.OPS[name]
    with_mask = torch.is_grad_enabled() and (input.requires_grad or residual.requires_grad)
    if inplace:
        op_set.add_relu_inplace(input, residual, with_mask)
        return input
    return op_set.add_relu(input, residual, with_mask)[0]
