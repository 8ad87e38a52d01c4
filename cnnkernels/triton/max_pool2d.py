"""Max-pool 2-D in Triton, PyTorch's semantics (first maximum wins ties, NaN propagates, the last NaN
wins). Forward: a program takes a tile of output positions x channels, writing the compact argmax
(the offset of the maximum inside its window) only when training. Backward: a program takes a tile
of input positions x channels and gathers the gradients of the windows whose argmax they are: no
atomics, no zero-fill pass, deterministic.
A tile is (positions, channels): channels_last, positions over N x H x W and channels contiguous
(16-byte loads); NCHW, positions over N*C planes x H x W and one "channel". Kernel sizes and strides
are compile-time constants (each window shape compiles once); the index arithmetic is 32-bit unless
a tensor has 2^31 elements or more."""
import torch
import triton
import triton.language as tl
from torch.library import triton_op, wrap_triton

from ..contracts import max_pool2d as contract
from ._common import check_dtype

NCHW_TILE = (512, 1)  # (positions, channels) per program
NCHW_ROW_TILE = 512  # the NCHW forward: output elements per program, (rows, columns) up to 128 columns wide
CHANNELS_LAST_TILE = (32, 32)


@triton.jit
def _tile(PLANES, CHANNELS, rows, cols, INDEX64: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    """This program's positions as (plane, row, col) of a PLANES x rows x cols grid, its channels,
    and the masks of both."""
    p = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    if INDEX64:
        p = p.to(tl.int64)
    col = p % cols
    row = (p // cols) % rows
    plane = p // (cols * rows)
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    return plane, row, col, c, plane < PLANES, c < CHANNELS


@triton.jit
def _at(plane, row, col, c, rows, cols, CHANNELS):
    """Offsets of the (positions, channels) tile in a PLANES x rows x cols x CHANNELS tensor."""
    return (((plane * rows + row) * cols + col) * CHANNELS)[:, None] + c[None, :]


@triton.jit
def _take_tap(v, valid, tap, best, best_tap, found, WITH_ARGMAX: tl.constexpr):
    """One tap of the windows' running maximum (v: its values in float32, -inf where not `valid`)."""
    if WITH_ARGMAX:  # the first valid tap starts the window; then a larger value or a NaN takes over
        take = valid & ((v > best) | (v != v) | (found == 0))
        best_tap = tl.where(take, tap, best_tap)
        found = found | valid
    else:  # the same maximum: a tap left out loads -inf, which never takes over
        take = (v > best) | (v != v)
    return tl.where(take, v, best), best_tap, found


@triton.jit
def _max_pool2d_forward_kernel(x_ptr, y_ptr, argmax_ptr, PLANES, CHANNELS, H, W, OH, OW, PH, PW, DH, DW,
                               KH: tl.constexpr, KW: tl.constexpr, SH: tl.constexpr, SW: tl.constexpr,
                               WITH_ARGMAX: tl.constexpr, INDEX64: tl.constexpr, BLOCK_P: tl.constexpr,
                               BLOCK_C: tl.constexpr):
    plane, oh, ow, c, pmask, cmask = _tile(PLANES, CHANNELS, OH, OW, INDEX64, BLOCK_P, BLOCK_C)
    best = tl.full([BLOCK_P, BLOCK_C], float("-inf"), tl.float32)
    best_tap = tl.zeros([BLOCK_P, BLOCK_C], dtype=tl.int32)
    found = tl.zeros([BLOCK_P, BLOCK_C], dtype=tl.int1)
    for ki in tl.static_range(KH):
        ih = oh * SH - PH + ki * DH
        for kj in tl.static_range(KW):
            iw = ow * SW - PW + kj * DW
            valid = (pmask & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W))[:, None] & cmask[None, :]
            v = tl.load(x_ptr + _at(plane, ih, iw, c, H, W, CHANNELS), mask=valid, other=float("-inf"))
            v = v.to(tl.float32)
            best, best_tap, found = _take_tap(v, valid, ki * KW + kj, best, best_tap, found, WITH_ARGMAX)
    out = _at(plane, oh, ow, c, OH, OW, CHANNELS)
    mask = pmask[:, None] & cmask[None, :]
    tl.store(y_ptr + out, best.to(y_ptr.dtype.element_ty), mask=mask)
    if WITH_ARGMAX:
        tl.store(argmax_ptr + out, best_tap.to(argmax_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _max_pool2d_forward_rows_kernel(x_ptr, y_ptr, argmax_ptr, ROWS, H, W, OH, OW, PH, PW, DH, DW,
                                    KH: tl.constexpr, KW: tl.constexpr, SH: tl.constexpr, SW: tl.constexpr,
                                    WITH_ARGMAX: tl.constexpr, INDEX64: tl.constexpr, BLOCK_R: tl.constexpr,
                                    BLOCK_W: tl.constexpr):
    """The NCHW forward: a program takes a tile of output rows (flat over N*C planes x OH) x output
    columns, so (plane, oh) is divided out once per row, not per element; the same taps in the same
    order as _max_pool2d_forward_kernel."""
    r = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    ow = tl.program_id(1) * BLOCK_W + tl.arange(0, BLOCK_W)
    if INDEX64:
        r = r.to(tl.int64)
    plane = r // OH
    oh = r - plane * OH
    rmask = r < ROWS
    wmask = ow < OW
    best = tl.full([BLOCK_R, BLOCK_W], float("-inf"), tl.float32)
    best_tap = tl.zeros([BLOCK_R, BLOCK_W], dtype=tl.int32)
    found = tl.zeros([BLOCK_R, BLOCK_W], dtype=tl.int1)
    for ki in tl.static_range(KH):
        ih = oh * SH - PH + ki * DH
        row_ok = rmask & (ih >= 0) & (ih < H)
        row = (plane * H + ih) * W
        for kj in tl.static_range(KW):
            iw = ow * SW - PW + kj * DW
            valid = row_ok[:, None] & (wmask & (iw >= 0) & (iw < W))[None, :]
            v = tl.load(x_ptr + (row[:, None] + iw[None, :]), mask=valid, other=float("-inf")).to(tl.float32)
            best, best_tap, found = _take_tap(v, valid, ki * KW + kj, best, best_tap, found, WITH_ARGMAX)
    out = r[:, None] * OW + ow[None, :]
    mask = rmask[:, None] & wmask[None, :]
    tl.store(y_ptr + out, best.to(y_ptr.dtype.element_ty), mask=mask)
    if WITH_ARGMAX:
        tl.store(argmax_ptr + out, best_tap.to(argmax_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _gather(dy_ptr, argmax_ptr, plane, oh, ow, c, tap, valid, OH, OW, CHANNELS):
    """dy of window (oh, ow) where `tap` is its argmax, else 0."""
    at = _at(plane, oh, ow, c, OH, OW, CHANNELS)
    taps = tl.load(argmax_ptr + at, mask=valid, other=0).to(tl.int32)
    g = tl.load(dy_ptr + at, mask=valid, other=0.0).to(tl.float32)
    return tl.where(valid & (taps == tap), g, 0.0)


@triton.jit
def _max_pool2d_backward_kernel(dy_ptr, argmax_ptr, dx_ptr, PLANES, CHANNELS, H, W, OH, OW, PH, PW, DH, DW,
                                KH: tl.constexpr, KW: tl.constexpr, SH: tl.constexpr, SW: tl.constexpr,
                                DILATED: tl.constexpr, INDEX64: tl.constexpr, BLOCK_P: tl.constexpr,
                                BLOCK_C: tl.constexpr):
    plane, ih, iw, c, pmask, cmask = _tile(PLANES, CHANNELS, H, W, INDEX64, BLOCK_P, BLOCK_C)
    mask = pmask[:, None] & cmask[None, :]
    acc = tl.zeros([BLOCK_P, BLOCK_C], dtype=tl.float32)
    if DILATED:  # every tap: the window whose tap (ki, kj) lands here, if any, in the outputs' order
        for i in tl.static_range(KH):  # (as PyTorch adds them: a later tap is an earlier window)
            ki = KH - 1 - i
            th = ih + PH - ki * DH  # = oh * SH for the window whose tap ki lands here
            oh = th // SH
            row_ok = (th >= 0) & (th % SH == 0) & (oh < OH)
            for j in tl.static_range(KW):
                kj = KW - 1 - j
                tw = iw + PW - kj * DW
                ow = tw // SW
                valid = (row_ok & (tw >= 0) & (tw % SW == 0) & (ow < OW))[:, None] & mask
                acc += _gather(dy_ptr, argmax_ptr, plane, oh, ow, c, ki * KW + kj, valid, OH, OW, CHANNELS)
    else:  # the windows over (ih, iw) directly: oh * SH <= ih + PH < oh * SH + KH, ceil(KH / SH) of them
        th, tw = ih + PH, iw + PW
        oh0 = tl.where(th >= KH, (th - KH) // SH + 1, 0)
        ow0 = tl.where(tw >= KW, (tw - KW) // SW + 1, 0)
        for d in tl.static_range((KH + SH - 1) // SH):
            oh = oh0 + d
            for e in tl.static_range((KW + SW - 1) // SW):
                ow = ow0 + e
                valid = ((oh * SH <= th) & (oh < OH) & (ow * SW <= tw) & (ow < OW))[:, None] & mask
                tap = (th - oh * SH) * KW + (tw - ow * SW)
                acc += _gather(dy_ptr, argmax_ptr, plane, oh, ow, c, tap[:, None], valid, OH, OW, CHANNELS)
    tl.store(dx_ptr + _at(plane, ih, iw, c, H, W, CHANNELS), acc.to(dx_ptr.dtype.element_ty), mask=mask)


def _launch(kernel, tensors, batch, C, H, W, OH, OW, rows, cols, kernel_size, stride, padding, dilation, channels_last,
            **constants):
    """Runs `kernel` in tiles over the rows x cols positions of every image (plane) and the channels."""
    planes, channels = (batch, C) if channels_last else (batch * C, 1)
    block_p, block_c = CHANNELS_LAST_TILE if channels_last else NCHW_TILE
    grid = (triton.cdiv(planes * rows * cols, block_p), triton.cdiv(channels, block_c))
    wrap_triton(kernel)[grid](
        *tensors, planes, channels, H, W, OH, OW, padding[0], padding[1], dilation[0], dilation[1],
        KH=kernel_size[0], KW=kernel_size[1], SH=stride[0], SW=stride[1],
        INDEX64=max(t.numel() for t in tensors) >= 2**31, BLOCK_P=block_p, BLOCK_C=block_c, **constants)


@triton_op("cnnkernels::max_pool2d_forward_triton", mutates_args=())
def max_pool2d_forward_triton(input: torch.Tensor, kernel_size: list[int], stride: list[int], padding: list[int],
                              dilation: list[int], ceil_mode: bool,
                              with_argmax: bool) -> tuple[torch.Tensor, torch.Tensor]:
    op = "max_pool2d_forward"
    window = contract.window(kernel_size, stride, padding, dilation, op)
    contract.check(input, *window, ceil_mode, op)
    check_dtype(input, op)
    fmt = contract.pooling_format(input)
    x, channels_last = input.contiguous(memory_format=fmt), fmt == torch.channels_last
    y, argmax = contract.outputs_like(input, *window, ceil_mode, with_argmax)
    C, H, W = x.shape[-3:]
    OH, OW = y.shape[-2:]
    if y.numel() and not channels_last:
        rows = x.numel() // (H * W) * OH
        block_w = min(128, triton.next_power_of_2(OW))
        block_r = NCHW_ROW_TILE // block_w
        wrap_triton(_max_pool2d_forward_rows_kernel)[(triton.cdiv(rows, block_r), triton.cdiv(OW, block_w))](
            x, y, argmax if with_argmax else y, rows, H, W, OH, OW, padding[0], padding[1], dilation[0], dilation[1],
            KH=kernel_size[0], KW=kernel_size[1], SH=stride[0], SW=stride[1], WITH_ARGMAX=with_argmax,
            INDEX64=max(x.numel(), y.numel()) >= 2**31, BLOCK_R=block_r, BLOCK_W=block_w)
    elif y.numel():
        _launch(_max_pool2d_forward_kernel, (x, y, argmax if with_argmax else y), x.numel() // (C * H * W), C, H, W,
                OH, OW, OH, OW, kernel_size, stride, padding, dilation, channels_last, WITH_ARGMAX=with_argmax)
    return y, argmax


@triton_op("cnnkernels::max_pool2d_backward_triton", mutates_args=())
def max_pool2d_backward_triton(grad_output: torch.Tensor, argmax: torch.Tensor, input_height: int, input_width: int,
                               kernel_size: list[int], stride: list[int], padding: list[int], dilation: list[int],
                               channels_last: bool) -> torch.Tensor:
    op = "max_pool2d_backward"
    window = contract.window(kernel_size, stride, padding, dilation, op)
    contract.check_backward(grad_output, argmax, input_height, input_width, *window, channels_last, op)
    check_dtype(grad_output, op)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    dy, am = grad_output.contiguous(memory_format=fmt), argmax.contiguous(memory_format=fmt)
    dx = contract.grad_input_like(dy, input_height, input_width, channels_last)
    C, OH, OW = dy.shape[-3:]
    if dx.numel():
        _launch(_max_pool2d_backward_kernel, (dy, am, dx), dy.numel() // (C * OH * OW), C, input_height, input_width,
                OH, OW, input_height, input_width, kernel_size, stride, padding, dilation, channels_last,
                DILATED=tuple(dilation) != (1, 1))
    return dx
