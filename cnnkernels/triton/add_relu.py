"""add+ReLU in Triton: y = relu(a + b); backward dx = dy where y > 0 (or NaN), else 0 (PyTorch's rule),
read from the bit mask the training forward writes (csrc/add_relu.h: bit j of byte k is element 8k + j
in memory order)."""
import torch
import triton
import triton.language as tl
from torch.library import triton_op, wrap_triton

from ..contracts import add_relu as contract
from ..contracts.common import in_layout_of, is_dense
from ._common import check_dtype

BLOCK = 1024  # a multiple of 8: each program writes whole mask bytes


@triton.jit
def _add_relu_forward_kernel(a_ptr, b_ptr, y_ptr, mask_ptr, n, WITH_MASK: tl.constexpr, BLOCK: tl.constexpr):
    program = tl.program_id(0).to(tl.int64)
    i = program * BLOCK + tl.arange(0, BLOCK)
    inside = i < n
    s = tl.load(a_ptr + i, mask=inside).to(tl.float32) + tl.load(b_ptr + i, mask=inside).to(tl.float32)
    y = tl.where(s < 0.0, 0.0, s).to(y_ptr.dtype.element_ty)  # keeps NaN
    tl.store(y_ptr + i, y, mask=inside)
    if WITH_MASK:
        stored = y.to(tl.float32)  # the rule is taken on y as stored, as PyTorch takes it
        passes = ((stored > 0.0) | (stored != stored)) & inside
        bits = tl.reshape(passes.to(tl.int32), (BLOCK // 8, 8)) << tl.arange(0, 8)[None, :]
        byte = program * (BLOCK // 8) + tl.arange(0, BLOCK // 8)
        tl.store(mask_ptr + byte, tl.sum(bits, axis=1).to(tl.uint8), mask=byte * 8 < n)  # (n + 7 could wrap: int32)


@triton.jit
def _add_relu_backward_kernel(dy_ptr, mask_ptr, dx_ptr, n, BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    inside = i < n
    bits = tl.load(mask_ptr + i // 8, mask=inside, other=0).to(tl.int32)
    passes = ((bits >> (i % 8).to(tl.int32)) & 1) != 0
    dy = tl.load(dy_ptr + i, mask=inside)
    tl.store(dx_ptr + i, tl.where(passes, dy, 0.0).to(dx_ptr.dtype.element_ty), mask=inside)


def _forward(a, b, y, with_mask):
    """y = relu(a + b) over dense a, b, y of one layout; returns the mask (empty unless with_mask)."""
    n = y.numel()
    mask = torch.empty(contract.mask_bytes(n) if with_mask else 0, dtype=torch.uint8, device=y.device)
    if n:
        wrap_triton(_add_relu_forward_kernel)[(triton.cdiv(n, BLOCK),)](a, b, y, mask, n, WITH_MASK=with_mask,
                                                                        BLOCK=BLOCK)
    return mask


@triton_op("cnnkernels::add_relu_triton", mutates_args=())
def add_relu_triton(input: torch.Tensor, residual: torch.Tensor, with_mask: bool) -> tuple[torch.Tensor, torch.Tensor]:
    contract.check(input, residual, "add_relu")
    check_dtype(input, "add_relu")
    y = torch.empty_strided(input.shape, contract.output_strides(input, residual), dtype=input.dtype,
                            device=input.device)
    return y, _forward(in_layout_of(input, y), in_layout_of(residual, y), y, with_mask)


@triton_op("cnnkernels::add_relu_triton_", mutates_args={"input"})
def add_relu_inplace_triton(input: torch.Tensor, residual: torch.Tensor, with_mask: bool) -> torch.Tensor:
    contract.check(input, residual, "add_relu_")
    check_dtype(input, "add_relu_")
    contract.check_inplace(input, residual)
    if is_dense(input):  # computed where it is
        return _forward(input, in_layout_of(residual, input), input, with_mask)
    y = torch.empty_strided(input.shape, contract.inplace_strides(input), dtype=input.dtype, device=input.device)
    mask = _forward(in_layout_of(input, y), in_layout_of(residual, y), y, with_mask)
    input.copy_(y)
    return mask


@triton_op("cnnkernels::add_relu_backward_triton", mutates_args=())
def add_relu_backward_triton(grad_output: torch.Tensor, mask: torch.Tensor, output_strides: list[int]) -> torch.Tensor:
    op = "add_relu_backward"
    contract.check_backward(grad_output, mask, output_strides, op)
    check_dtype(grad_output, op)
    dx = torch.empty_strided(grad_output.shape, output_strides, dtype=grad_output.dtype, device=grad_output.device)
    dy = in_layout_of(grad_output, dx)
    n = dx.numel()
    if n:
        wrap_triton(_add_relu_backward_kernel)[(triton.cdiv(n, BLOCK),)](dy, mask.contiguous(), dx, n, BLOCK=BLOCK)
    return dx
