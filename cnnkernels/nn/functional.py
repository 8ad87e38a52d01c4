"""Drop-in replacements for torch.nn.functional: same arguments, same results, plus backend=.

Every op checks its arguments here, once, for every backend, so a mistake gets the same clear
message whichever implementation would have run.
"""
import torch
import torch.nn.functional as F

from .. import ops
from ..backends import resolve

__all__ = ["local_response_norm", "max_pool2d", "add_relu"]

_FLOATING = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def _check_tensor(t, op, name):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{op}: expected {name} to be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in _FLOATING:
        raise ValueError(f"{op}: expected {name} to be float32, float64, float16 or bfloat16, got {t.dtype}")


def _pair(value, op, name):
    """An int or a sequence of one or two ints -> (height, width), as torch's pooling accepts."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) in (1, 2) and all(isinstance(v, int) for v in value):
        return (value[0], value[-1])
    raise ValueError(f"{op}: expected {name} to be an int or a pair of ints, got {value!r}")


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0, *, backend="auto"):
    """Local Response Normalization across channels, exactly torch.nn.functional.local_response_norm:

        y_c = x_c / (k + alpha / size * sum_{c' in window(c)} x_c'^2) ** beta

    with alpha divided by size (PyTorch's, Caffe's and cuDNN's convention; the AlexNet paper's alpha is
    this alpha / size) and the window holding size // 2 channels before c and (size - 1) // 2 after.
    input: (N, C, *).
    """
    op = "local_response_norm"
    _check_tensor(input, op, "input")
    if input.dim() < 3:
        raise ValueError(f"{op}: expected input of shape (N, C, *) with at least 3 dimensions, got {tuple(input.shape)}")
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"{op}: expected size to be an int >= 1, got {size!r}")
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
    op = "max_pool2d"
    _check_tensor(input, op, "input")
    if input.dim() not in (3, 4):
        raise ValueError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {tuple(input.shape)}")
    if 0 in input.shape[-3:]:
        raise ValueError(f"{op}: expected non-empty channel and spatial dimensions, got shape {tuple(input.shape)}")
    kernel = _pair(kernel_size, op, "kernel_size")
    stride = kernel if stride is None or stride == [] or stride == () else _pair(stride, op, "stride")
    padding = _pair(padding, op, "padding")
    dilation = _pair(dilation, op, "dilation")
    for name, value in (("kernel_size", kernel), ("stride", stride), ("dilation", dilation)):
        if min(value) < 1:
            raise ValueError(f"{op}: expected {name} >= 1, got {value}")
    if min(padding) < 0 or padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(
            f"{op}: expected padding between 0 and half the kernel size {(kernel[0] // 2, kernel[1] // 2)}, got {padding}"
        )
    height, width = input.shape[-2:]
    out_h = ops.pool_output_size(height, kernel[0], stride[0], padding[0], dilation[0], ceil_mode)
    out_w = ops.pool_output_size(width, kernel[1], stride[1], padding[1], dilation[1], ceil_mode)
    if out_h < 1 or out_w < 1:
        raise ValueError(
            f"{op}: the pooling window (kernel {kernel}, dilation {dilation}) is bigger than the padded input "
            f"({height + 2 * padding[0]}x{width + 2 * padding[1]}): the output would be {out_h}x{out_w}"
        )

    name = resolve(backend, input.device)
    if name == "torch":
        return F.max_pool2d(input, kernel, stride, padding, dilation, ceil_mode, return_indices)
    with_argmax = return_indices or (torch.is_grad_enabled() and input.requires_grad)
    output, argmax = ops.OPS[name].max_pool2d_forward(input, kernel, stride, padding, dilation, ceil_mode, with_argmax)
    if return_indices:
        return output, ops.flat_indices(argmax, width, kernel, stride, padding, dilation)
    return output


def add_relu(input, residual, inplace=False, *, backend="auto"):
    """relu(input + residual) in one pass: ResNet's residual connection. With inplace=True the result
    is written into input (which is returned), as torch's in-place ops do."""
    op = "add_relu"
    _check_tensor(input, op, "input")
    _check_tensor(residual, op, "residual")
    if input.shape != residual.shape or input.dtype != residual.dtype or input.device != residual.device:
        raise ValueError(
            f"{op}: expected input and residual with the same shape, dtype and device, got "
            f"{tuple(input.shape)} {input.dtype} on {input.device} and "
            f"{tuple(residual.shape)} {residual.dtype} on {residual.device}"
        )
    name = resolve(backend, input.device)
    if name == "torch":
        return torch.relu_(input.add_(residual)) if inplace else torch.relu(input + residual)
    op_set = ops.OPS[name]
    with_mask = torch.is_grad_enabled() and (input.requires_grad or residual.requires_grad)
    if not inplace:
        return op_set.add_relu(input, residual, with_mask)[0]
    if with_mask:
        return op_set.add_relu_inplace_autograd.apply(input, residual)
    op_set.add_relu_(input, residual, False)
    return input
