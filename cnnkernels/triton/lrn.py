"""LRN in Triton. A program takes a block of pixels of one image and walks down the channels; the
window sums are re-read from x (cached). The backward recomputes each neighbour's scale from x:
it reads only x and dy.
    s_c = k + alpha/size * sum_{j=c-size/2}^{c+(size-1)/2} x_j^2,  y_c = x_c s_c^-beta
    dx_c = dy_c s_c^-beta - 2 alpha beta/size * x_c * sum_{j=c-(size-1)/2}^{c+size/2} dy_j x_j s_j^(-beta-1)
"""
import torch
import triton
import triton.language as tl
from torch.library import triton_op, wrap_triton

from ._common import check_dtype, in_compute_format

BLOCK = 128  # pixels per program


@triton.jit
def _inv_pow(s, beta, BETA075: tl.constexpr):
    """s^-beta; beta = 0.75 without pow: r * sqrt(r), r = 1/sqrt(s)."""
    if BETA075:
        r = 1.0 / tl.sqrt(s)
        return r * tl.sqrt(r)
    else:
        return tl.exp2(-beta * tl.log2(s))


@triton.jit
def _scale(x_ptr, base, j, C, channel_stride, pmask, alpha_over_size, k, SIZE: tl.constexpr):
    """s_j for a block of pixels: k + alpha/size * sum of x^2 over channel j's window (j: int64 block)."""
    acc = tl.zeros(base.shape, dtype=tl.float32)
    for o in tl.static_range(SIZE):
        i = j - SIZE // 2 + o
        v = tl.load(x_ptr + base + i * channel_stride, mask=pmask & (i >= 0) & (i < C), other=0.0)
        v = v.to(tl.float32)
        acc += v * v
    return k + alpha_over_size * acc


@triton.jit
def _lrn_forward_kernel(x_ptr, y_ptr, C, S, channel_stride, pixel_stride, image_stride, alpha_over_size, beta, k,
                        SIZE: tl.constexpr, BETA075: tl.constexpr, BLOCK: tl.constexpr):
    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    pmask = p < S
    base = tl.program_id(1).to(tl.int64) * image_stride + p.to(tl.int64) * pixel_stride
    zero = tl.zeros([BLOCK], dtype=tl.int64)
    for channel in range(0, C):
        c = zero + channel  # int64 offsets: a tensor may hold more than 2^31 elements
        s = _scale(x_ptr, base, c, C, channel_stride, pmask, alpha_over_size, k, SIZE)
        at = base + c * channel_stride
        x = tl.load(x_ptr + at, mask=pmask, other=0.0).to(tl.float32)
        tl.store(y_ptr + at, (x * _inv_pow(s, beta, BETA075)).to(y_ptr.dtype.element_ty), mask=pmask)


@triton.jit
def _lrn_backward_kernel(dy_ptr, x_ptr, dx_ptr, C, S, channel_stride, pixel_stride, image_stride, alpha_over_size,
                         beta, k, SIZE: tl.constexpr, BETA075: tl.constexpr, BLOCK: tl.constexpr):
    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    pmask = p < S
    base = tl.program_id(1).to(tl.int64) * image_stride + p.to(tl.int64) * pixel_stride
    coef = 2.0 * alpha_over_size * beta
    zero = tl.zeros([BLOCK], dtype=tl.int64)
    for channel in range(0, C):
        c = zero + channel  # int64 offsets: a tensor may hold more than 2^31 elements
        sum_t = tl.zeros([BLOCK], dtype=tl.float32)
        inv_c = tl.zeros([BLOCK], dtype=tl.float32)
        for o in tl.static_range(SIZE):  # j = c - (size-1)/2 + o: the windows that contain c
            j = c - (SIZE - 1) // 2 + o
            mj = pmask & (j >= 0) & (j < C)
            s = _scale(x_ptr, base, j, C, channel_stride, mj, alpha_over_size, k, SIZE)
            inv = _inv_pow(s, beta, BETA075)
            at = base + j * channel_stride
            xj = tl.load(x_ptr + at, mask=mj, other=0.0).to(tl.float32)
            dyj = tl.load(dy_ptr + at, mask=mj, other=0.0).to(tl.float32)
            sum_t += tl.where(mj, dyj * xj * inv / s, 0.0)
            if o == (SIZE - 1) // 2:
                inv_c = inv
        at = base + c * channel_stride
        x = tl.load(x_ptr + at, mask=pmask, other=0.0).to(tl.float32)
        dy = tl.load(dy_ptr + at, mask=pmask, other=0.0).to(tl.float32)
        tl.store(dx_ptr + at, (dy * inv_c - coef * x * sum_t).to(dx_ptr.dtype.element_ty), mask=pmask)


def _geometry(x, channels_last):
    """(N, C, S) and the strides of channel, pixel and image in a tensor of that layout."""
    N, C = x.shape[0], x.shape[1]
    S = x.numel() // (N * C) if N * C else 0
    return (N, C, S), ((1, C, S * C) if channels_last else (S, 1, C * S))


def _check(input, size, op):
    check_dtype(input, op)
    if input.dim() < 3 or size < 1:
        raise ValueError(f"{op}: expected an (N, C, *) input and size >= 1, got {tuple(input.shape)} and {size}")


@triton_op("cnnkernels::lrn_forward_triton", mutates_args=())
def lrn_forward_triton(input: torch.Tensor, size: int, alpha: float, beta: float, k: float) -> torch.Tensor:
    _check(input, size, "lrn_forward")
    x, channels_last = in_compute_format(input)
    y = torch.empty_like(x)
    (N, C, S), strides = _geometry(x, channels_last)
    if x.numel():
        wrap_triton(_lrn_forward_kernel)[(triton.cdiv(S, BLOCK), N)](
            x, y, C, S, *strides, alpha / size, beta, k, SIZE=size, BETA075=beta == 0.75, BLOCK=BLOCK
        )
    return y


@triton_op("cnnkernels::lrn_backward_triton", mutates_args=())
def lrn_backward_triton(grad_output: torch.Tensor, input: torch.Tensor, size: int, alpha: float, beta: float,
                        k: float) -> torch.Tensor:
    _check(input, size, "lrn_backward")
    x, channels_last = in_compute_format(input)
    dy = grad_output.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    dx = torch.empty_like(x)
    (N, C, S), strides = _geometry(x, channels_last)
    if x.numel():
        wrap_triton(_lrn_backward_kernel)[(triton.cdiv(S, BLOCK), N)](
            dy, x, dx, C, S, *strides, alpha / size, beta, k, SIZE=size, BETA075=beta == 0.75, BLOCK=BLOCK
        )
    return dx
