"""LRN in Triton. The backward recomputes the scales from x: it reads only x and dy.
    s_c = k + alpha/size * sum_{j=c-size/2}^{c+(size-1)/2} x_j^2,  y_c = x_c s_c^-beta
    dx_c = dy_c s_c^-beta - 2 alpha beta/size * x_c * sum_{j=c-(size-1)/2}^{c+size/2} dy_j x_j s_j^(-beta-1)
The forward in NCHW, sizes 1-9 (the CUDA kernels' design): a program takes a block of pixels and a
run of channels and slides down the channels with the window in registers (w0..w8, newest last), so
x is read from memory once. Otherwise (channels_last, larger sizes, and every backward) a program
takes a tile of pixels x channels and re-reads the windows as shifted tiles, from the cache. (A
sliding backward, four register windows deep, crashed Triton 3.8's LLVM SLP vectorizer compiling for
sm_90 at sizes 5 and 9: tests/test_triton_compiles.py compiles every kernel for the GPU.)
"""
import torch
import triton
import triton.language as tl
from torch.library import triton_op, wrap_triton

from ..contracts import lrn as contract
from ..contracts.common import in_layout_of
from ._common import check_dtype

BLOCK = 512  # pixels per program
# How s^-beta is computed: the POWER constant of the kernels (contracts/lrn.py, power)
THREE_QUARTERS, GENERAL_ODD, GENERAL_EVEN, GENERAL_FRACTION = (tl.constexpr(i) for i in range(4))
MAX_SLIDING_SIZE = 9  # registers w0..w8
SLIDING_CHUNK = 2  # channels whose loads the sliding forward issues together (2 or 4)
TARGET_PROGRAMS, MIN_RUN = 4096, 32  # runs of channels: enough programs to fill the GPU, short halos
TILE_PIXELS, TILE_CHANNELS = 32, 32  # the tile kernels' programs


@triton.jit
def _inv_pow(s, beta, POWER: tl.constexpr):
    """s^-beta (contracts/lrn.py, power). THREE_QUARTERS: r * sqrt(r), r = 1/sqrt(s). GENERAL: pow(s, -beta)
    with C's semantics: |s|^-beta in float64 (exact enough for any s), 0 and inf included; for s < 0 the
    sign (-1)^beta for an odd integer beta (BETA_ODD), nothing for an even one, NaN for a fraction."""
    if POWER == THREE_QUARTERS:
        r = tl.math.rsqrt(s)  # (the hardware's 1/sqrt and sqrt: two MUFU instructions, as the CUDA kernels)
        return r * tl.sqrt(r)
    else:
        magnitude = tl.exp2(tl.log2(tl.abs(s).to(tl.float64)) * -beta).to(tl.float32)
        negative = s.to(tl.int32, bitcast=True) < 0  # the sign bit: -0 and -inf too
        if POWER == GENERAL_ODD:
            return tl.where(negative, -magnitude, magnitude)
        elif POWER == GENERAL_FRACTION:
            return tl.where(negative & (s != 0.0) & (s != float("-inf")), float("nan"), magnitude)
        else:  # GENERAL_EVEN
            return magnitude


@triton.jit
def _push(w0, w1, w2, w3, w4, w5, w6, w7, w8, new):
    """The register window moved on by one channel: `new` enters as w8, w0 leaves."""
    return w1, w2, w3, w4, w5, w6, w7, w8, new


@triton.jit
def _newest_sum_of_squares(w0, w1, w2, w3, w4, w5, w6, w7, w8, SIZE: tl.constexpr):
    """Sum of the squares of the SIZE newest registers, w[9 - SIZE] .. w8."""
    acc = w8 * w8
    for i in tl.static_range(1, SIZE):
        v = w7 if i == 1 else w6 if i == 2 else w5 if i == 3 else w4 if i == 4 else w3 if i == 5 else \
            w2 if i == 6 else w1 if i == 7 else w0
        acc += v * v
    return acc


@triton.jit
def _register(w0, w1, w2, w3, w4, w5, w6, w7, w8, I: tl.constexpr):
    """w_I (I a compile-time constant)."""
    return w0 if I == 0 else w1 if I == 1 else w2 if I == 2 else w3 if I == 3 else w4 if I == 4 else \
        w5 if I == 5 else w6 if I == 6 else w7 if I == 7 else w8


@triton.jit
def _lrn_forward_sliding_kernel(x_ptr, y_ptr, C, S, RUN, channel_stride, pixel_stride, image_stride, alpha_over_size,
                                beta, k, SIZE: tl.constexpr, POWER: tl.constexpr, INDEX64: tl.constexpr,
                                CHUNK: tl.constexpr, BLOCK: tl.constexpr):
    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    pmask = p < S
    image = tl.program_id(2)
    if INDEX64:  # a tensor of 2^31 elements or more
        base = image.to(tl.int64) * image_stride + p.to(tl.int64) * pixel_stride
    else:
        base = image * image_stride + p * pixel_stride
    begin = tl.program_id(1) * RUN
    end = tl.minimum(begin + RUN, C)
    first = begin - SIZE // 2
    # Pointers walked down the channels (64-bit adds, no index arithmetic per channel); x and y may
    # alias as far as Triton knows, so each chunk's CHUNK loads are issued before its stores.
    xs = x_ptr + base + first * channel_stride
    ys = y_ptr + base + (first - (SIZE - 1) // 2) * channel_stride
    zero = tl.zeros([BLOCK], dtype=tl.float32)
    w0, w1, w2, w3, w4, w5, w6, w7, w8 = zero, zero, zero, zero, zero, zero, zero, zero, zero
    # After loading channel j the newest SIZE registers hold x over [j - SIZE + 1, j]: the window
    # of c = j - (SIZE - 1) // 2. The first SIZE - 1 steps only fill it.
    for j0 in range(first, end + (SIZE - 1) // 2, CHUNK):
        v0 = tl.load(xs, mask=pmask & (j0 >= 0) & (j0 < C), other=0.0)
        v1 = tl.load(xs + channel_stride, mask=pmask & (j0 + 1 >= 0) & (j0 + 1 < C), other=0.0)
        v2 = v1
        v3 = v1
        if CHUNK == 4:
            v2 = tl.load(xs + 2 * channel_stride, mask=pmask & (j0 + 2 >= 0) & (j0 + 2 < C), other=0.0)
            v3 = tl.load(xs + 3 * channel_stride, mask=pmask & (j0 + 3 >= 0) & (j0 + 3 < C), other=0.0)
        for u in tl.static_range(CHUNK):
            v = v0 if u == 0 else v1 if u == 1 else v2 if u == 2 else v3
            w0, w1, w2, w3, w4, w5, w6, w7, w8 = _push(w0, w1, w2, w3, w4, w5, w6, w7, w8, v.to(tl.float32))
            c = j0 + u - (SIZE - 1) // 2
            s = k + alpha_over_size * _newest_sum_of_squares(w0, w1, w2, w3, w4, w5, w6, w7, w8, SIZE)
            x = _register(w0, w1, w2, w3, w4, w5, w6, w7, w8, 8 - (SIZE - 1) // 2)
            tl.store(ys + u * channel_stride, (x * _inv_pow(s, beta, POWER)).to(y_ptr.dtype.element_ty),
                     mask=pmask & (c >= begin) & (c < end))
        xs += CHUNK * channel_stride
        ys += CHUNK * channel_stride


# ---- channels_last, NCHW sizes over MAX_SLIDING_SIZE and every backward: a program takes a tile of
# pixels x channels and reads each channel's window as shifted tiles (from the cache after the first)


@triton.jit
def _tile(q, c, P, C, S, channel_stride, pixel_stride, image_stride):
    """Offsets and mask of the tile (pixels q, flat over N * S) x (channels c, outside [0, C) masked)."""
    image = q // S
    base = image.to(tl.int64) * image_stride + (q - image * S).to(tl.int64) * pixel_stride
    return base[:, None] + c.to(tl.int64)[None, :] * channel_stride, (q < P)[:, None] & ((c >= 0) & (c < C))[None, :]


@triton.jit
def _window_scale(x_ptr, q, j, P, C, S, channel_stride, pixel_stride, image_stride, alpha_over_size, k,
                  SIZE: tl.constexpr):
    """s_j over a tile: k + alpha/size * sum of x^2 over channel j's window."""
    acc = tl.zeros([q.shape[0], j.shape[0]], dtype=tl.float32)
    for o in tl.static_range(SIZE):
        at, m = _tile(q, j + o - SIZE // 2, P, C, S, channel_stride, pixel_stride, image_stride)
        v = tl.load(x_ptr + at, mask=m, other=0.0).to(tl.float32)
        acc += v * v
    return k + alpha_over_size * acc


@triton.jit
def _lrn_forward_tile_kernel(x_ptr, y_ptr, P, C, S, channel_stride, pixel_stride, image_stride, alpha_over_size,
                             beta, k, SIZE: tl.constexpr, POWER: tl.constexpr, BLOCK_P: tl.constexpr,
                             BLOCK_C: tl.constexpr):
    q = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    s = _window_scale(x_ptr, q, c, P, C, S, channel_stride, pixel_stride, image_stride, alpha_over_size, k, SIZE)
    at, m = _tile(q, c, P, C, S, channel_stride, pixel_stride, image_stride)
    x = tl.load(x_ptr + at, mask=m, other=0.0).to(tl.float32)
    tl.store(y_ptr + at, (x * _inv_pow(s, beta, POWER)).to(y_ptr.dtype.element_ty), mask=m)


@triton.jit
def _lrn_backward_tile_kernel(dy_ptr, x_ptr, dx_ptr, P, C, S, channel_stride, pixel_stride, image_stride,
                              alpha_over_size, beta, k, SIZE: tl.constexpr, POWER: tl.constexpr,
                              BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    q = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    sum_t = tl.zeros([BLOCK_P, BLOCK_C], dtype=tl.float32)
    inv_c = tl.zeros([BLOCK_P, BLOCK_C], dtype=tl.float32)
    for o in tl.static_range(SIZE):  # j = c - (size-1)/2 + o: the windows that contain c
        j = c + o - (SIZE - 1) // 2
        s = _window_scale(x_ptr, q, j, P, C, S, channel_stride, pixel_stride, image_stride, alpha_over_size, k, SIZE)
        inv = _inv_pow(s, beta, POWER)
        at, m = _tile(q, j, P, C, S, channel_stride, pixel_stride, image_stride)
        xj = tl.load(x_ptr + at, mask=m, other=0.0).to(tl.float32)
        dyj = tl.load(dy_ptr + at, mask=m, other=0.0).to(tl.float32)
        sum_t += dyj * xj * inv / s  # 0 outside [0, C): x and dy load as 0
        if o == (SIZE - 1) // 2:
            inv_c = inv
    at, m = _tile(q, c, P, C, S, channel_stride, pixel_stride, image_stride)
    x = tl.load(x_ptr + at, mask=m, other=0.0).to(tl.float32)
    dy = tl.load(dy_ptr + at, mask=m, other=0.0).to(tl.float32)
    coef = 2.0 * alpha_over_size * beta
    tl.store(dx_ptr + at, (dy * inv_c - coef * x * sum_t).to(dx_ptr.dtype.element_ty), mask=m)


def _runs(N, C, S):
    """(runs of channels per pixel, channels per run): enough programs to fill the GPU a few times
    over, each run at least MIN_RUN channels so that the re-read halo stays small."""
    programs = max(1, triton.cdiv(S, BLOCK) * N)
    runs = max(1, min(triton.cdiv(TARGET_PROGRAMS, programs), C // MIN_RUN))
    length = triton.cdiv(C, runs)
    return triton.cdiv(C, length), length


def _power(alpha, beta, k):
    """The kernels' POWER constant for these arguments (not "identity": that runs no kernel)."""
    if contract.power(alpha, beta, k) == "three_quarters":
        return THREE_QUARTERS.value
    if float(beta).is_integer():
        return (GENERAL_ODD if int(beta) % 2 else GENERAL_EVEN).value
    return GENERAL_FRACTION.value


def _launch(sliding_kernel, tile_kernel, tensors, x, channels_last, size, alpha, beta, k):
    (N, C, S), strides = _geometry(x, channels_last)
    if not x.numel():
        return
    scalars = (alpha / size, beta, k)
    power = _power(alpha, beta, k)
    if sliding_kernel is not None and not channels_last and size <= MAX_SLIDING_SIZE:
        runs, length = _runs(N, C, S)
        wrap_triton(sliding_kernel)[(triton.cdiv(S, BLOCK), runs, N)](
            *tensors, C, S, length, *strides, *scalars, SIZE=size, POWER=power,
            INDEX64=max(t.numel() for t in tensors) >= 2**31, CHUNK=SLIDING_CHUNK, BLOCK=BLOCK)
    else:
        wrap_triton(tile_kernel)[(triton.cdiv(N * S, TILE_PIXELS), triton.cdiv(C, TILE_CHANNELS))](
            *tensors, N * S, C, S, *strides, *scalars, SIZE=size, POWER=power, BLOCK_P=TILE_PIXELS,
            BLOCK_C=TILE_CHANNELS)


def _geometry(x, channels_last):
    """(N, C, S) and the strides of channel, pixel and image in a tensor of that layout."""
    N, C = x.shape[0], x.shape[1]
    S = x.numel() // (N * C) if N * C else 0
    return (N, C, S), ((1, C, S * C) if channels_last else (S, 1, C * S))


def _run(kernels, result, x, dy, size, alpha, beta, k):
    """Computes into result (input's layout): in it where the kernels can (contracts/lrn.py,
    kernel_layout), else contiguous and copied; beta = 0 is a copy (contract.power: "identity")."""
    layout = contract.kernel_layout(result)
    out = result if layout is not None else torch.empty(result.shape, dtype=result.dtype, device=result.device)
    operands = [in_layout_of(t, out) for t in ((x,) if dy is None else (dy, x))]
    if contract.power(alpha, beta, k) == "identity":
        out.copy_(operands[0])
        if dy is not None:
            out.add_(operands[1], alpha=0)  # dx = dy + 0 * x (contracts/lrn.py, power)
    else:
        _launch(*kernels, (*operands, out), operands[-1], layout == "channels_last", size, alpha, beta, k)
    if out is not result:
        result.copy_(out)
    return result


@triton_op("cnnkernels::lrn_forward_triton", mutates_args=())
def lrn_forward_triton(input: torch.Tensor, size: int, alpha: float, beta: float, k: float) -> torch.Tensor:
    contract.check(input, size, "lrn_forward")
    check_dtype(input, "lrn_forward")
    return _run((_lrn_forward_sliding_kernel, _lrn_forward_tile_kernel), contract.output_like(input), input, None,
                size, alpha, beta, k)


@triton_op("cnnkernels::lrn_backward_triton", mutates_args=())
def lrn_backward_triton(grad_output: torch.Tensor, input: torch.Tensor, size: int, alpha: float, beta: float,
                        k: float) -> torch.Tensor:
    contract.check_backward(grad_output, input, size, "lrn_backward")
    check_dtype(input, "lrn_backward")
    return _run((None, _lrn_backward_tile_kernel), contract.output_like(input), input,
                grad_output, size, alpha, beta, k)
