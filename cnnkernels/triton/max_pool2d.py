"""Max-pool 2-D in Triton, PyTorch's semantics (first maximum wins ties, NaN propagates, the last NaN
wins). Forward: a program takes a block of output elements, writing the compact argmax (the offset
of the maximum inside its window) only when training. Backward: a program takes a block of input
elements and gathers the gradients of the windows whose argmax they are: no atomics, no zero-fill
pass, deterministic. Kernel sizes and strides are compile-time constants (each window shape compiles
once), and the index arithmetic is 32-bit unless a tensor has 2^31 elements or more."""
import torch
import triton
import triton.language as tl
from torch.library import triton_op, wrap_triton

from ..ops import argmax_dtype, pool_output_size
from ._common import check_dtype, in_compute_format

BLOCK = 512


@triton.jit
def _coordinates(i, C, height, width, CHANNELS_LAST: tl.constexpr):
    """(n, c, h, w) of flat index i of an (N, C, height, width) tensor in the given layout."""
    if CHANNELS_LAST:
        c = i % C
        w = (i // C) % width
        h = (i // (C * width)) % height
        n = i // (C * width * height)
    else:
        w = i % width
        h = (i // width) % height
        c = (i // (width * height)) % C
        n = i // (width * height * C)
    return n, c, h, w


@triton.jit
def _offset(n, c, h, w, C, height, width, CHANNELS_LAST: tl.constexpr):
    if CHANNELS_LAST:
        return ((n * height + h) * width + w) * C + c
    else:
        return ((n * C + c) * height + h) * width + w


@triton.jit
def _block(INDEX64: tl.constexpr, BLOCK: tl.constexpr):
    """The flat indices of this program's block."""
    if INDEX64:
        return tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    else:
        return tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)


@triton.jit
def _max_pool2d_forward_kernel(x_ptr, y_ptr, argmax_ptr, total, C, H, W, OH, OW, PH, PW, DH, DW,
                               KH: tl.constexpr, KW: tl.constexpr, SH: tl.constexpr, SW: tl.constexpr,
                               CHANNELS_LAST: tl.constexpr, WITH_ARGMAX: tl.constexpr, INDEX64: tl.constexpr,
                               BLOCK: tl.constexpr):
    i = _block(INDEX64, BLOCK)
    mask = i < total
    n, c, oh, ow = _coordinates(i, C, OH, OW, CHANNELS_LAST)  # (n, c, oh, ow) is an element of the output
    best = tl.full([BLOCK], float("-inf"), tl.float32)
    best_tap = tl.zeros([BLOCK], dtype=tl.int32)
    found = tl.zeros([BLOCK], dtype=tl.int1)
    for ki in tl.static_range(KH):
        ih = oh * SH - PH + ki * DH
        for kj in tl.static_range(KW):
            iw = ow * SW - PW + kj * DW
            valid = mask & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
            v = tl.load(x_ptr + _offset(n, c, ih, iw, C, H, W, CHANNELS_LAST), mask=valid, other=float("-inf"))
            v = v.to(tl.float32)
            # the first valid tap starts the window; then a larger value or a NaN takes over
            take = valid & ((v > best) | (v != v) | (found == 0))
            best = tl.where(take, v, best)
            best_tap = tl.where(take, ki * KW + kj, best_tap)
            found = found | valid
    tl.store(y_ptr + i, best.to(y_ptr.dtype.element_ty), mask=mask)
    if WITH_ARGMAX:
        tl.store(argmax_ptr + i, best_tap.to(argmax_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _max_pool2d_backward_kernel(dy_ptr, argmax_ptr, dx_ptr, total, C, H, W, OH, OW, PH, PW, DH, DW,
                                KH: tl.constexpr, KW: tl.constexpr, SH: tl.constexpr, SW: tl.constexpr,
                                CHANNELS_LAST: tl.constexpr, INDEX64: tl.constexpr, BLOCK: tl.constexpr):
    i = _block(INDEX64, BLOCK)
    mask = i < total
    n, c, ih, iw = _coordinates(i, C, H, W, CHANNELS_LAST)  # (n, c, ih, iw) is an element of the input
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for ki in tl.static_range(KH):
        th = ih + PH - ki * DH  # = oh * SH for the window whose tap ki lands here
        oh = th // SH
        row_ok = (th >= 0) & (th % SH == 0) & (oh < OH)
        for kj in tl.static_range(KW):
            tw = iw + PW - kj * DW
            ow = tw // SW
            valid = mask & row_ok & (tw >= 0) & (tw % SW == 0) & (ow < OW)
            o = _offset(n, c, oh, ow, C, OH, OW, CHANNELS_LAST)
            tap = tl.load(argmax_ptr + o, mask=valid, other=0).to(tl.int32)
            g = tl.load(dy_ptr + o, mask=valid, other=0.0).to(tl.float32)
            acc += tl.where(valid & (tap == ki * KW + kj), g, 0.0)
    tl.store(dx_ptr + i, acc.to(dx_ptr.dtype.element_ty), mask=mask)


def _check(t, kernel_size, stride, padding, dilation, op):
    check_dtype(t, op)
    if t.dim() not in (3, 4):
        raise ValueError(f"{op}: expected a 3-D or 4-D tensor, got shape {tuple(t.shape)}")
    for name, v in (("kernel_size", kernel_size), ("stride", stride), ("dilation", dilation)):
        if len(v) != 2 or min(v) < 1:
            raise ValueError(f"{op}: expected {name} of two values >= 1, got {v}")
    if len(padding) != 2 or min(padding) < 0 or padding[0] > kernel_size[0] // 2 or padding[1] > kernel_size[1] // 2:
        raise ValueError(f"{op}: expected padding between 0 and half the kernel size, got {padding}")


def _scalars(C, H, W, OH, OW, padding, dilation):
    return (C, H, W, OH, OW, padding[0], padding[1], dilation[0], dilation[1])


def _constants(kernel_size, stride, channels_last, *tensors):
    return dict(KH=kernel_size[0], KW=kernel_size[1], SH=stride[0], SW=stride[1], CHANNELS_LAST=channels_last,
                INDEX64=max(t.numel() for t in tensors) >= 2**31, BLOCK=BLOCK)


@triton_op("cnnkernels::max_pool2d_forward_triton", mutates_args=())
def max_pool2d_forward_triton(input: torch.Tensor, kernel_size: list[int], stride: list[int], padding: list[int],
                              dilation: list[int], ceil_mode: bool, with_argmax: bool) -> tuple[torch.Tensor, torch.Tensor]:
    _check(input, kernel_size, stride, padding, dilation, "max_pool2d_forward")
    x, channels_last = in_compute_format(input)
    C, H, W = x.shape[-3:]
    OH = pool_output_size(H, kernel_size[0], stride[0], padding[0], dilation[0], ceil_mode)
    OW = pool_output_size(W, kernel_size[1], stride[1], padding[1], dilation[1], ceil_mode)
    if OH < 1 or OW < 1:
        raise ValueError(f"max_pool2d_forward: the pooling window is bigger than the padded input ({H}x{W})")
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    shape = (*x.shape[:-2], OH, OW)
    y = torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=fmt)
    argmax = torch.empty(shape if with_argmax else (0,), dtype=argmax_dtype(kernel_size), device=x.device,
                         memory_format=fmt if with_argmax else torch.contiguous_format)
    if y.numel():
        wrap_triton(_max_pool2d_forward_kernel)[(triton.cdiv(y.numel(), BLOCK),)](
            x, y, argmax if with_argmax else y, y.numel(), *_scalars(C, H, W, OH, OW, padding, dilation),
            WITH_ARGMAX=with_argmax, **_constants(kernel_size, stride, channels_last, x, y),
        )
    return y, argmax


@triton_op("cnnkernels::max_pool2d_backward_triton", mutates_args=())
def max_pool2d_backward_triton(grad_output: torch.Tensor, argmax: torch.Tensor, input_height: int, input_width: int,
                               kernel_size: list[int], stride: list[int], padding: list[int],
                               dilation: list[int]) -> torch.Tensor:
    _check(grad_output, kernel_size, stride, padding, dilation, "max_pool2d_backward")
    if argmax.shape != grad_output.shape or argmax.dtype != argmax_dtype(kernel_size):
        raise ValueError("max_pool2d_backward: expected the argmax of max_pool2d_forward(with_argmax=True)")
    dy, channels_last = in_compute_format(grad_output)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    am = argmax.contiguous(memory_format=fmt)
    C, OH, OW = dy.shape[-3:]
    dx = torch.empty((*dy.shape[:-2], input_height, input_width), dtype=dy.dtype, device=dy.device, memory_format=fmt)
    if dx.numel():
        wrap_triton(_max_pool2d_backward_kernel)[(triton.cdiv(dx.numel(), BLOCK),)](
            dy, am, dx, dx.numel(), *_scalars(C, input_height, input_width, OH, OW, padding, dilation),
            **_constants(kernel_size, stride, channels_last, dy, dx),
        )
    return dx
