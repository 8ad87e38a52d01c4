"""Drop-in replacements for torch.nn.functional: same arguments, same results, plus backend=.

Each op checks its arguments here, once, for every backend (with its contract: cnnkernels.contracts),
so a mistake gets the same clear message whichever implementation would have run.
"""
import torch
import torch.nn.functional as F

from .. import ops
from ..backends import resolve
from ..contracts import add_relu as add_relu_contract
from ..contracts import lrn as lrn_contract
from ..contracts import max_pool2d as max_pool2d_contract

__all__ = ["local_response_norm", "max_pool2d", "add_relu"]


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0, *, backend="auto"):
    """Local Response Normalization across channels, exactly torch.nn.functional.local_response_norm:

        y_c = x_c / (k + alpha / size * sum_{c' in window(c)} x_c'^2) ** beta

    with alpha divided by size (PyTorch's, Caffe's and cuDNN's convention; the AlexNet paper's alpha is
    this alpha / size) and the window holding size // 2 channels before c and (size - 1) // 2 after.
    input: (N, C, *).
    """
    lrn_contract.check(input, size)
    alpha, beta, k = float(alpha), float(beta), float(k)
    name = resolve(backend, input.device)
    if name == "torch":
        return F.local_response_norm(input, size, alpha, beta, k)
    return ops.OPS[name].lrn_forward(input, size, alpha, beta, k)


def max_pool2d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False, *, backend="auto"
):
    """2-D max-pool, exactly torch.nn.functional.max_pool2d (first maximum wins ties, NaN propagates).

    For training it keeps a one-byte argmax per output element (the offset of the maximum inside its
    window) instead of PyTorch's int64 indices; return_indices=True still gives PyTorch's flat indices.
    """
    window = max_pool2d_contract.window(kernel_size, stride, padding, dilation)
    max_pool2d_contract.check(input, *window, ceil_mode)
    name = resolve(backend, input.device)
    if name == "torch":
        return F.max_pool2d(input, *window, ceil_mode, return_indices)
    with_argmax = return_indices or (torch.is_grad_enabled() and input.requires_grad)
    output, argmax = ops.OPS[name].max_pool2d_forward(input, *window, ceil_mode, with_argmax)
    if return_indices:
        return output, max_pool2d_contract.flat_indices(argmax, input.shape[-1], *window)
    return output


def add_relu(input, residual, inplace=False, *, backend="auto"):
    """relu(input + residual) in one pass: ResNet's residual connection. With inplace=True the result
    is written into input (which is returned), as torch's in-place ops do."""
    add_relu_contract.check(input, residual)
    name = resolve(backend, input.device)
    if name == "torch":
        return torch.relu_(input.add_(residual)) if inplace else torch.relu(input + residual)
    op_set = ops.OPS[name]
    with_mask = torch.is_grad_enabled() and (input.requires_grad or residual.requires_grad)
    if inplace:
        op_set.add_relu_inplace(input, residual, with_mask)
        return input
    return op_set.add_relu(input, residual, with_mask)[0]
