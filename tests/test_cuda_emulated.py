"""The CUDA kernels (csrc/cuda/*.cu), run on the CPU: compiled as plain C++ with a shim that runs
each launch's threads one after another (benchmarks/sass/emulation.py). Checks what runs here and
nowhere else without a GPU: their index math, layouts, tie and NaN rules, grid-stride loops and
dtype conversions, against PyTorch and the C++ CPU kernels."""
import random

import pytest
import torch
import torch.nn.functional as F

from benchmarks.sass import emulation
from cnnkernels import backends
from cnnkernels.contracts.max_pool2d import pooling_format
from conftest import add_relu_mask_of, has_empty_window, pool_output_size

DTYPE_CODE = {getattr(torch, name): code for name, code in emulation.DTYPE_CODE.items()}


@pytest.fixture(scope="module")
def emulated():
    if emulation.unavailable_reason():
        pytest.skip(emulation.unavailable_reason())
    return emulation.library()


def layout_of(t):
    """t in the layout the kernels compute in (as the operators choose it), whether that is
    channels_last, and its memory format."""
    fmt = pooling_format(t)
    return t.contiguous(memory_format=fmt), int(fmt == torch.channels_last), fmt


def poisoned_like(t, fmt):
    return torch.full(t.shape, float("nan"), dtype=t.dtype).contiguous(memory_format=fmt)


def misaligned_like(t):
    """A copy of t (same strides) whose storage starts one element past a 16-byte boundary: the
    kernels that load 16-byte packs must notice and take another path."""
    buffer = torch.empty(t.untyped_storage().nbytes() // t.element_size() + 1, dtype=t.dtype)
    return buffer[1:].as_strided(t.shape, t.stride()).copy_(t)


# Spatial sizes for LRN: pixel groups of a warp (NCHW 64 pixels, channels_last 32) whole, partial, or both.
LRN_DIMS = [[5], [3, 4], [2, 3, 2], [7, 9], [8, 16], [9, 15], [70]]


def test_lrn(emulated):
    """Every LRN kernel (sliding NCHW and channels_last, per element; fast and general power) against
    float64: window sizes 1-11, C from 1 (smaller than the window) to 100 (runs of chunks), chunks that
    do not divide C, partial pixel groups, misaligned pointers, NaN and inf in the forward."""
    rng = random.Random(3)
    torch.manual_seed(3)
    for _ in range(150):
        emulated.set_max_blocks(rng.choice([1, 2, 5, 1 << 30]))
        size, N = rng.randint(1, 11), rng.randint(1, 3)
        C = rng.choice([rng.randint(1, 14), 8, 16, 24, 40, 70, 100])  # packs of channels; runs of chunks (C >= 64)
        dims = rng.choice(LRN_DIMS)
        beta, alpha, k = rng.choice([0.75, 0.75, 0.5, 1.3]), rng.choice([1e-4, 0.5, 2.0]), rng.choice([1.0, 2.0, 0.3])
        dtype = rng.choice(list(DTYPE_CODE))
        x = torch.randn(N, C, *dims, dtype=torch.float64).to(dtype)
        special = rng.random() < 0.2  # NaN, inf, -0.0 in x: checked in the forward
        if special:
            flat = x.view(-1)
            for value in (float("nan"), float("inf"), float("-inf"), -0.0):
                flat[rng.randrange(flat.numel())] = value
        if len(dims) == 2 and rng.random() < 0.5:
            x = x.contiguous(memory_format=torch.channels_last)
        x64 = x.double().requires_grad_()
        ref = F.local_response_norm(x64, size, alpha, beta, k)
        grad = torch.randn_like(ref).to(dtype)
        (ref_dx,) = torch.autograd.grad(ref, x64, grad.double())
        xc, channels_last, fmt = layout_of(x)
        g = grad.contiguous(memory_format=fmt)
        y, dx = poisoned_like(xc, fmt), poisoned_like(xc, fmt)
        if rng.random() < 0.25:
            xc, g, y, dx = (misaligned_like(t) for t in (xc, g, y, dx))
        S = x.numel() // (N * C)
        args = (N, C, S, channels_last, size, alpha / size, beta, k)
        assert emulated.lrn_forward_c(DTYPE_CODE[dtype], xc.data_ptr(), y.data_ptr(), *args) == 0
        tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=2e-2, atol=2e-2)
        torch.testing.assert_close(y.double(), ref.detach(), equal_nan=special, **tol)
        if special:
            continue
        assert emulated.lrn_backward_c(DTYPE_CODE[dtype], g.data_ptr(), xc.data_ptr(), dx.data_ptr(), *args) == 0
        torch.testing.assert_close(dx.double(), ref_dx, **tol)


@pytest.mark.skipif(backends.unavailable_reason("cpu") is not None, reason="compares with the C++ CPU kernels")
def test_max_pool2d(emulated):
    rng = random.Random(2)
    torch.manual_seed(2)
    checked = 0
    while checked < 250:
        emulated.set_max_blocks(rng.choice([1, 2, 3, 1 << 30]))
        kh, kw = rng.randint(1, 5), rng.randint(1, 5)
        if rng.random() < 0.05:
            kh, kw = rng.randint(14, 20), rng.randint(14, 20)  # over 256 positions: int32 argmax
        k, s = (kh, kw), (rng.randint(1, 4), rng.randint(1, 4))
        p, d = (rng.randint(0, kh // 2), rng.randint(0, kw // 2)), (rng.randint(1, 3), rng.randint(1, 3))
        ceil = rng.random() < 0.5
        if rng.random() < 0.5:  # the fast paths: compile-time 3x3/2, 3x3/1, 2x2/2 windows
            kh, stride = rng.choice([(3, 2), (3, 1), (2, 2)])
            k, s, d, kw = (kh, kh), (stride, stride), (1, 1), kh
            p = (rng.randint(0, kh // 2),) * 2
        H, W = rng.randint(1, 12) + (kh if kh > 10 else 0), rng.randint(1, 12) + (kw if kw > 10 else 0)
        dtype = rng.choice(list(DTYPE_CODE))
        C = rng.choice([1, 2, 3, 4, 5, 8, 16])  # 8, 16: 16-byte packs of channels when channels_last
        x = torch.randint(-3, 3, (rng.randint(1, 2), C, H, W)).to(dtype)  # many ties
        r = torch.rand(x.shape)
        x[r < 0.05] = float("nan")
        x[(r > 0.05) & (r < 0.15)] = float("-inf")
        if rng.random() < 0.4:
            x = x.contiguous(memory_format=torch.channels_last)
        OH, OW = (pool_output_size(n, k[i], s[i], p[i], d[i], ceil) for i, n in enumerate((H, W)))
        if (min(OH, OW) < 1 or has_empty_window(H, kh, s[0], p[0], d[0], ceil)
                or has_empty_window(W, kw, s[1], p[1], d[1], ceil)):
            continue
        checked += 1
        y_cpu, am_cpu = torch.ops.cnnkernels.max_pool2d_forward(x, k, s, p, d, ceil, True)
        xc, channels_last, fmt = layout_of(x)
        y, am = poisoned_like(y_cpu, fmt), torch.full(y_cpu.shape, 77, dtype=am_cpu.dtype).contiguous(memory_format=fmt)
        geometry = (x.shape[0], x.shape[1], H, W, OH, OW, channels_last, *k, *s, *p, *d)
        assert emulated.max_pool2d_forward_c(DTYPE_CODE[dtype], xc.data_ptr(), y.data_ptr(), am.data_ptr(),
                                             am.element_size(), *geometry) == 0
        assert torch.equal(y.nan_to_num(7), y_cpu.nan_to_num(7)) and torch.equal(am, am_cpu)
        g = torch.randn(y.shape).to(dtype)
        g.view(-1)[::5] = -0.0  # (added to zero, as PyTorch does: +0.0 in dx)
        g = g.contiguous(memory_format=fmt)
        dx = poisoned_like(xc, fmt)
        assert emulated.max_pool2d_backward_c(DTYPE_CODE[dtype], g.data_ptr(), am.data_ptr(), am.element_size(),
                                              dx.data_ptr(), *geometry) == 0
        dx_cpu = torch.ops.cnnkernels.max_pool2d_backward(g, am_cpu, H, W, k, s, p, d, bool(channels_last))
        # the same sums in the same order (the outputs') as the CPU kernels: bit for bit
        assert torch.equal(bits(dx), bits(dx_cpu)) and torch.equal(dx.isnan(), dx_cpu.isnan()), (k, s, p, d, x.shape)


def placed(t, fmt, offset):
    """A dense copy of t in memory format fmt whose data starts `offset` elements into its storage (1: no
    longer 16-byte aligned, so the kernels' packed and vector paths must step aside)."""
    dense = t.contiguous(memory_format=fmt)
    storage = torch.empty(dense.numel() + offset, dtype=t.dtype)
    out = storage.as_strided(dense.shape, dense.stride(), offset)
    out.copy_(dense)
    return out


def bits(t):
    """t's bit patterns (NaNs made one value): equal bits, not just equal values (-0.0 is not +0.0)."""
    t = t.contiguous()
    return t.view({4: torch.int32, 2: torch.int16}[t.element_size()]).masked_fill(t.isnan(), 0)


@pytest.mark.skipif(backends.unavailable_reason("cpu") is not None, reason="compares with the C++ CPU kernels")
def test_max_pool2d_fast_paths(emulated):
    """The fast paths (3x3/2, 3x3/1, 2x2/2 with square padding: tiles of outputs, blocks of inputs) against the
    C++ CPU kernels, bit for bit forward (training and inference) and backward, over the edges of their tiles
    and blocks: planes of 1 to 13 rows and columns (tiles and blocks that overhang, windows in the padding,
    ceil_mode's last window), channels_last with and without whole 16-byte packs of channels, pointers off
    16-byte alignment (the packed and vector paths step aside), grids smaller than the work (grid-stride loops).
    Ties, -0.0 beside +0.0, -inf and NaN in every window's reach."""
    rng = random.Random(5)
    torch.manual_seed(5)
    sizes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13]
    cases = 0
    for (kernel, stride) in [(3, 2), (3, 1), (2, 2)]:
        for pad in (0, 1):
            for ceil in (False, True):
                for _ in range(14):
                    H, W = rng.choice(sizes), rng.choice(sizes)
                    OH, OW = (pool_output_size(n, kernel, stride, pad, 1, ceil) for n in (H, W))
                    if min(OH, OW) < 1:
                        continue
                    dtype = rng.choice(list(DTYPE_CODE))
                    channels_last = rng.random() < 0.5
                    C = rng.choice([8, 16, 24] if channels_last and rng.random() < 0.7 else [1, 2, 3, 5])
                    offset = int(rng.random() < 0.25)
                    emulated.set_max_blocks(rng.choice([1, 2, 1 << 30]))
                    x = torch.randint(-2, 3, (rng.randint(1, 2), C, H, W)).to(dtype)  # many ties
                    r = torch.rand(x.shape)
                    x[r < 0.04] = float("nan")
                    x[(r > 0.04) & (r < 0.1)] = float("-inf")
                    x[(r > 0.1) & (r < 0.25)] = -0.0
                    check_max_pool2d(emulated, x, (kernel,) * 2, (stride,) * 2, (pad,) * 2, (1, 1), ceil,
                                     channels_last, offset)
                    cases += 1
    assert cases > 100


def check_max_pool2d(emulated, x, k, s, p, d, ceil, channels_last, offset):
    """One case of the emulated kernels against the CPU ones: forward with and without argmax, backward."""
    dtype, (N, C, H, W) = x.dtype, x.shape
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    y_cpu, am_cpu = torch.ops.cnnkernels.max_pool2d_forward(x.contiguous(memory_format=fmt), k, s, p, d, ceil, True)
    OH, OW = y_cpu.shape[-2:]
    xc = placed(x, fmt, offset)
    geometry = (N, C, H, W, OH, OW, int(channels_last), *k, *s, *p, *d)
    for training in (True, False):
        y = placed(torch.full(y_cpu.shape, float("nan"), dtype=dtype), fmt, offset)
        am = placed(torch.full(y_cpu.shape, 77, dtype=am_cpu.dtype), fmt, offset)
        assert emulated.max_pool2d_forward_c(DTYPE_CODE[dtype], xc.data_ptr(), y.data_ptr(),
                                             am.data_ptr() if training else None, am.element_size(), *geometry) == 0
        assert torch.equal(bits(y), bits(y_cpu)) and torch.equal(y.isnan(), y_cpu.isnan()), (k, s, p, ceil, x.shape)
        if training:
            assert torch.equal(am, am_cpu), (k, s, p, ceil, x.shape)
    g = torch.randn(y_cpu.shape).to(dtype)
    g.view(-1)[::5] = -0.0  # (added to zero, as PyTorch does: +0.0 in dx)
    g = placed(g, fmt, offset)
    dx = placed(torch.full(x.shape, float("nan"), dtype=dtype), fmt, offset)
    amc = placed(am_cpu, fmt, offset)
    assert emulated.max_pool2d_backward_c(DTYPE_CODE[dtype], g.data_ptr(), amc.data_ptr(), amc.element_size(),
                                          dx.data_ptr(), *geometry) == 0
    dx_cpu = torch.ops.cnnkernels.max_pool2d_backward(g.contiguous(memory_format=fmt), am_cpu, H, W, k, s, p, d,
                                                      channels_last)
    # Bit for bit: the same sums in the same order (the windows' row-major order) as the CPU kernels.
    assert torch.equal(bits(dx), bits(dx_cpu)) and torch.equal(dx.isnan(), dx_cpu.isnan()), (k, s, p, ceil, x.shape)


@pytest.mark.parametrize("kernel,stride", [(3, 2), (3, 1), (2, 2)])
def test_max_pool2d_index_width(emulated, kernel, stride):
    """Which kernels a launch picks around 2^31 elements (record mode: nothing is read or written):
    the fast paths' 32-bit offsets while every tensor has fewer than 2^31 elements, the general
    path's 64-bit indices past that, in both layouts and directions."""
    def recorded(N, C, H, W, channels_last, direction):
        OH, OW = (pool_output_size(n, kernel, stride, 0, 1, False) for n in (H, W))
        geometry = (N, C, H, W, OH, OW, channels_last, kernel, kernel, stride, stride, 0, 0, 1, 1)
        emulated.set_record_only(1)
        try:
            if direction == "fwd":
                assert emulated.max_pool2d_forward_c(DTYPE_CODE[torch.float32], None, None, None, 1, *geometry) == 0
            else:
                assert emulated.max_pool2d_backward_c(DTYPE_CODE[torch.float32], None, None, 1, None, *geometry) == 0
            return [emulated.recorded_kernel(i).decode() for i in range(emulated.recorded_count())]
        finally:
            emulated.set_record_only(0)

    H = W = 1024
    under, over = 2044, 2049  # channels of 2^20 elements: under 2^31 in all (whole packs), and past it
    for channels_last in (0, 1):
        for direction in ("fwd", "bwd"):
            small = recorded(1, under, H, W, channels_last, direction)
            large = recorded(1, over, H, W, channels_last, direction)
            assert len(small) == 1 and ("tile_kernel" in small[0] or "block_kernel" in small[0]), small
            assert len(large) == 1 and "general_kernel" in large[0] and "long" in large[0], large


def test_add_relu(emulated):
    emulated.set_max_blocks(3)  # 768 threads: n = 20003 (2500 mask bytes) takes the grid-stride loop 4 times
    for n in (0, 1, 3, 4, 5, 8, 9, 1000, 1003, 4096, 20003):
        for dtype in DTYPE_CODE:
            for offset in (0, 1, 4):  # offset 1 breaks the 16-byte alignment of the vector path
                buffer = torch.randn(3 * n + 16).to(dtype)
                a, b = buffer[offset:offset + n], buffer[n + 16:2 * n + 16]
                a[::7] = float("nan")
                a[1::11] = -b[1::11]  # sums of exactly +0
                expected = torch.relu(a + b)
                for with_mask in (False, True):
                    y = torch.full((n + 8,), float("nan"), dtype=dtype)[offset:offset + n]
                    mask = torch.full(((n + 7) // 8,), 0xA5, dtype=torch.uint8)
                    code = emulated.add_relu_forward_c(DTYPE_CODE[dtype], a.data_ptr(), b.data_ptr(), y.data_ptr(),
                                                       mask.data_ptr() if with_mask else None, n)
                    assert code == 0
                    assert torch.equal(y.nan_to_num(9), expected.nan_to_num(9))
                assert torch.equal(mask, add_relu_mask_of(y))
                inplace, inplace_mask = a.clone(), torch.full_like(mask, 0xA5)  # y == a, as add_relu_ passes it
                code = emulated.add_relu_forward_c(DTYPE_CODE[dtype], inplace.data_ptr(), b.data_ptr(),
                                                   inplace.data_ptr(), inplace_mask.data_ptr(), n)
                assert code == 0
                assert torch.equal(inplace.nan_to_num(9), expected.nan_to_num(9)) and torch.equal(inplace_mask, mask)
                for dx_offset in (offset, 1 - offset % 2):  # dy and dx aligned alike, and not
                    dy = torch.randn(n + 8).to(dtype)[offset:offset + n]
                    dx = torch.full((n + 8,), float("nan"), dtype=dtype)[dx_offset:dx_offset + n]
                    code = emulated.add_relu_backward_c(DTYPE_CODE[dtype], dy.data_ptr(), mask.data_ptr(),
                                                        dx.data_ptr(), n)
                    assert code == 0
                    assert torch.equal(dx, torch.where(y <= 0, torch.zeros_like(dy), dy))
