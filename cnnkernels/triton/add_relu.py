"""add+ReLU in Triton: y = relu(a + b); backward dx = dy where y > 0 (or NaN), else 0 (PyTorch's rule)."""
import torch
import triton
import triton.language as tl
from torch.library import triton_op, wrap_triton

from ._common import check_dtype, compute_format

BLOCK = 1024


@triton.jit
def _add_relu_forward_kernel(a_ptr, b_ptr, y_ptr, n, BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    s = tl.load(a_ptr + i, mask=mask).to(tl.float32) + tl.load(b_ptr + i, mask=mask).to(tl.float32)
    tl.store(y_ptr + i, tl.where(s < 0.0, 0.0, s).to(y_ptr.dtype.element_ty), mask=mask)  # keeps NaN


@triton.jit
def _add_relu_backward_kernel(dy_ptr, y_ptr, dx_ptr, n, BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    y = tl.load(y_ptr + i, mask=mask).to(tl.float32)
    dy = tl.load(dy_ptr + i, mask=mask).to(tl.float32)
    tl.store(dx_ptr + i, tl.where(y <= 0.0, 0.0, dy).to(dx_ptr.dtype.element_ty), mask=mask)


def _launch(kernel, first, second, out):
    n = out.numel()
    if n:
        wrap_triton(kernel)[(triton.cdiv(n, BLOCK),)](first, second, out, n, BLOCK=BLOCK)


def _operands(first, second, op):
    """Both in the first one's compute layout."""
    check_dtype(first, op)
    if first.shape != second.shape or first.dtype != second.dtype or first.device != second.device:
        raise ValueError(f"{op}: expected tensors of the same shape, dtype and device")
    fmt = compute_format(first)
    return first.contiguous(memory_format=fmt), second.contiguous(memory_format=fmt)


@triton_op("cnnkernels::add_relu_triton", mutates_args=())
def add_relu_triton(input: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    a, b = _operands(input, residual, "add_relu")
    y = torch.empty_like(a)
    _launch(_add_relu_forward_kernel, a, b, y)
    return y


@triton_op("cnnkernels::add_relu__triton", mutates_args={"input"})
def add_relu_inplace_triton(input: torch.Tensor, residual: torch.Tensor) -> None:
    a, b = _operands(input, residual, "add_relu_")
    if a is input:  # already dense in its layout (`is`, not data_ptr(): fake tensors, under torch.compile, have none)
        _launch(_add_relu_forward_kernel, a, b, input)
    else:  # strided input: compute, then write back in place
        y = torch.empty_like(a)
        _launch(_add_relu_forward_kernel, a, b, y)
        input.copy_(y)


@triton_op("cnnkernels::add_relu_backward_triton", mutates_args=())
def add_relu_backward_triton(grad_output: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    y, dy = _operands(output, grad_output, "add_relu_backward")
    dx = torch.empty_like(y)
    _launch(_add_relu_backward_kernel, dy, y, dx)
    return dx
