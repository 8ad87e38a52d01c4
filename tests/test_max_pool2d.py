"""Max-pool against PyTorch's max_pool2d: outputs bit-equal, indices equal to PyTorch's int64 flat
indices, gradients against a float64 reference; kernels 1-5, strides 1-3, padding, dilation 2,
ceil_mode, 3-D input, ties, NaN and -inf, random configurations."""
import itertools

import pytest
import torch
import torch.nn.functional as F

import cnnkernels.nn as cnn
import cnnkernels.nn.functional as CF
from conftest import LAYOUTS, assert_same_layout, check_accuracy, dtypes_for, make_layout, random_input

CONFIGS = [
    # kernel, stride, padding, dilation, ceil_mode
    (3, 2, 0, 1, False),  # AlexNet / GoogLeNet (fast path)
    (3, 2, 1, 1, False),  # ResNet stem (fast path)
    (3, 2, 0, 1, True),  # GoogLeNet uses ceil_mode
    (3, 1, 1, 1, False),  # GoogLeNet pool-projection (fast path)
    (2, 2, 0, 1, False),  # VGG (fast path)
    (2, 2, 1, 1, True),
    (1, 1, 0, 1, False),
    (1, 3, 0, 1, True),
    (4, 3, 2, 1, True),
    (5, 3, 2, 2, False),
    (5, 1, 2, 1, False),
    ((3, 2), (2, 1), (1, 0), (2, 1), True),  # rectangular everything, dilation 2
    ((2, 4), (3, 1), (1, 2), 1, False),
    (3, 2, 1, 2, True),
]
SHAPES = [(2, 3, 9, 11), (1, 1, 5, 5), (2, 5, 7, 6)]


def expected(x, cfg, grad=None):
    """PyTorch at x's dtype (output, indices) and the input gradient for `grad` in float64. The
    indices come from PyTorch's CPU kernels: for a window of only -inf, PyTorch's CUDA channels_last
    kernel returns index 0, which is outside the window; its CPU and NCHW CUDA kernels, and ours,
    return the window's first position."""
    k, s, p, d, ceil = cfg
    y, idx = F.max_pool2d(x.detach().cpu(), k, s, p, d, ceil, return_indices=True)
    y, idx = y.to(x.device), idx.to(x.device)
    if grad is None:
        return y, idx, None
    x64 = x.detach().double().requires_grad_()
    y64 = F.max_pool2d(x64, k, s, p, d, ceil)
    (dx,) = torch.autograd.grad(y64, x64, grad.double())
    return y, idx, dx


def torch_grad_at_dtype(x, cfg, grad):
    xs = x.detach().requires_grad_()
    (dx,) = torch.autograd.grad(F.max_pool2d(xs, *cfg), xs, grad)
    return dx


def run_case(backend, device, shape, cfg, dtype, layout, values=None):
    x = values if values is not None else random_input(shape, dtype, device)
    x = make_layout(x, layout).requires_grad_()
    k, s, p, d, ceil = cfg
    y = CF.max_pool2d(x, k, s, p, d, ceil, backend=backend)
    grad = random_input(y.shape, dtype, device)
    grad.view(-1)[::7] = -0.0  # (PyTorch adds gradients to zero: a -0.0 alone comes out +0.0)
    grad = make_layout(grad, layout)
    (dx,) = torch.autograd.grad(y, x, grad)
    ref_y, ref_idx, ref_dx = expected(x, cfg, grad)
    assert torch.equal(y.isnan(), ref_y.isnan()) and torch.equal(y.nan_to_num(), ref_y.nan_to_num()), "output"
    _, idx = CF.max_pool2d(x.detach(), k, s, p, d, ceil, return_indices=True, backend=backend)
    assert idx.dtype == torch.int64 and torch.equal(idx, ref_idx), "indices"
    at_dtype = torch_grad_at_dtype(x, cfg, grad)
    check_accuracy(dx, ref_dx, at_dtype if dtype in (torch.float16, torch.bfloat16) else None, "max_pool2d backward")
    zeros = (dx == 0) & (at_dtype == 0)
    assert torch.equal(dx.signbit() & zeros, at_dtype.signbit() & zeros), "the sign of a zero gradient"
    if dtype in (torch.float32, torch.float64) and not ref_y.isinf().any():  # (no window wholly in padding)
        # PyTorch adds a pixel's gradients in the outputs' order, and so do we: the same sums, to the bit.
        assert torch.equal(dx, at_dtype), "gradient not bitwise PyTorch's"
    if layout == "channels_last" and x.dim() == 4 and not x.is_contiguous():  # (1x1 images are both)
        assert y.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
def test_matches_pytorch(backend_device, cfg, layout):
    backend, device = backend_device
    for dtype in dtypes_for(backend):
        for shape in SHAPES:
            run_case(backend, device, shape, cfg, dtype, layout)


def test_3d_input(backend_device):
    backend, device = backend_device
    for cfg in CONFIGS[:6]:
        run_case(backend, device, (4, 9, 8), cfg, torch.float32, "contiguous")
        run_case(backend, device, (4, 9, 8), cfg, torch.float32, "strided")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_ties_take_the_first_maximum(backend_device, layout):
    backend, device = backend_device
    for dtype in dtypes_for(backend):
        values = torch.randint(0, 3, (2, 4, 9, 9)).to(dtype).to(device)  # many equal maxima per window
        for cfg in CONFIGS:
            run_case(backend, device, None, cfg, dtype, layout, values=values)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_nan_and_minus_inf(backend_device, layout):
    backend, device = backend_device
    for dtype in dtypes_for(backend):
        values = random_input((2, 3, 9, 9), dtype, device)
        values[0, 0, 2, 2] = float("nan")
        values[0, 0, 2, 4] = float("nan")  # two NaNs in one window: PyTorch picks the last
        values[0, 1, :4, :4] = float("-inf")  # windows of only -inf
        values[1, 2, 5, 5] = float("inf")
        for cfg in CONFIGS:
            x = make_layout(values, layout)
            k, s, p, d, ceil = cfg
            y, idx = CF.max_pool2d(x, k, s, p, d, ceil, return_indices=True, backend=backend)
            ref_y, ref_idx, _ = expected(x, cfg)
            assert torch.equal(y.isnan(), ref_y.isnan()) and torch.equal(y.nan_to_num(), ref_y.nan_to_num())
            assert torch.equal(idx, ref_idx)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_backward_of_nan_inf_and_overflowing_gradients(backend_device, layout):
    """fp16/bf16 gradients summed over overlapping windows: NaN, +-inf and sums that overflow come out
    as the float64 sum rounded to the dtype (the bf16 rounding works on the bits, with no NaN test)."""
    backend, device = backend_device
    if backend == "triton" and device == "cpu":
        pytest.skip("Triton's interpreter truncates to fp16/bf16 instead of rounding")
    for (dtype, big), stride in itertools.product(((torch.bfloat16, 3.3e38), (torch.float16, 6.0e4)), (1, 2)):
        x = make_layout(random_input((2, 3, 9, 9), dtype, device), layout).requires_grad_()
        y = CF.max_pool2d(x, 3, stride, backend=backend)
        g = random_input(y.shape, dtype, "cpu")
        flat = g.view(-1)
        flat[::5], flat[1::7], flat[2::7], flat[3::11] = float("nan"), float("inf"), -float("inf"), big
        g = make_layout(g.to(device), layout)
        (dx,) = torch.autograd.grad(y, x, g)
        x64 = x.detach().double().requires_grad_()
        (reference,) = torch.autograd.grad(F.max_pool2d(x64, 3, stride), x64, g.double())
        reference = reference.to(dtype)
        assert torch.equal(dx.isnan(), reference.isnan()) and dx.isnan().any() and dx.isinf().any()
        assert torch.equal(dx[~dx.isnan()], reference[~reference.isnan()])


def test_inference_keeps_no_argmax(backend_device):
    """Without grad the forward writes only the output; with grad it keeps one byte per output."""
    backend, device = backend_device
    x = random_input((2, 3, 9, 9), torch.float32, device)
    out, argmax = torch.ops.cnnkernels.max_pool2d_forward(x, [3, 3], [2, 2], [0, 0], [1, 1], False, False)
    assert argmax.numel() == 0
    out, argmax = torch.ops.cnnkernels.max_pool2d_forward(x, [3, 3], [2, 2], [0, 0], [1, 1], False, True)
    assert argmax.dtype == torch.uint8 and argmax.shape == out.shape
    _, wide = torch.ops.cnnkernels.max_pool2d_forward(x, [9, 9], [1, 1], [0, 0], [1, 1], False, True)
    assert wide.dtype == torch.uint8  # 81 positions
    big = random_input((1, 2, 20, 20), torch.float32, device)
    _, wide = torch.ops.cnnkernels.max_pool2d_forward(big, [17, 17], [1, 1], [0, 0], [1, 1], False, True)
    assert wide.dtype == torch.int32  # 289 positions: wider than a byte
    run_case(backend, device, (1, 2, 20, 20), (17, 1, 0, 1, False), torch.float32, "contiguous")


def test_empty_batch(backend_device):
    backend, device = backend_device
    x = torch.empty(0, 3, 9, 9, device=device, requires_grad=True)
    y = CF.max_pool2d(x, 3, 2, backend=backend)
    y.sum().backward()
    assert y.shape == (0, 3, 4, 4) and x.grad.shape == x.shape


def test_gradcheck(backend_device):
    backend, device = backend_device
    if backend != "cpu":
        pytest.skip("float64 gradcheck runs on the C++ CPU kernels")
    for cfg in [(3, 2, 1, 1, True), (2, 1, 0, 2, False)]:
        x = (torch.randperm(2 * 3 * 7 * 8, dtype=torch.float64) / 10).view(2, 3, 7, 8).requires_grad_()  # no ties
        assert torch.autograd.gradcheck(lambda t: CF.max_pool2d(t, *cfg, backend=backend), (x,))


def gradient_of_gradient(pool, x, g, v):
    """d(dx . v)/d(dy) at dy = g, where dx is pool's input gradient."""
    g = g.detach().requires_grad_()
    (dx,) = torch.autograd.grad(pool(x), x, g, create_graph=True)
    return torch.autograd.grad(dx, g, v)[0]


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_second_derivative(backend_device, layout):
    """Differentiating the gradient (create_graph=True, as a gradient penalty does): the backward is
    linear in dy, so d(dx . v)/d(dy) takes v at each window's maximum. Kernel 2, dilation 3, padding 1
    has windows wholly in the padding, which take nothing."""
    backend, device = backend_device
    for cfg in [(3, 2, 1, 1, True), (2, 1, 1, 3, False)]:
        x = (torch.randperm(2 * 3 * 7 * 8, dtype=torch.float32) / 10).view(2, 3, 7, 8).to(device)  # no ties
        x = make_layout(x, layout).requires_grad_()
        y = F.max_pool2d(x, *cfg)
        g, v = random_input(y.shape, torch.float32, device), random_input(x.shape, torch.float32, device)
        ours = gradient_of_gradient(lambda t: CF.max_pool2d(t, *cfg, backend=backend), x, g, v)
        theirs = gradient_of_gradient(lambda t: F.max_pool2d(t, *cfg), x, g, v)
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    if backend == "cpu":  # float64: the C++ CPU kernels only
        x = (torch.randperm(2 * 3 * 7 * 8, dtype=torch.float64) / 10).view(2, 3, 7, 8).requires_grad_()
        assert torch.autograd.gradgradcheck(lambda t: CF.max_pool2d(t, 3, 2, 1, 1, True, backend=backend), (x,))


@pytest.mark.parametrize("case", ["ceil_mode_contiguous_grad", "one_by_one_output", "sliced_channels_last",
                                  "three_d", "transposed"])
def test_outputs_indices_and_gradient_in_pytorchs_layout(backend_device, case):
    """Output, indices and input gradient take the input's suggested memory format, as PyTorch's
    max_pool2d and its backward do, whatever grad_output's layout: a stride mismatch fails like a
    value mismatch. (The first two are the inputs where ours followed grad_output's layout.)"""
    backend, device = backend_device
    cl = torch.channels_last
    x, cfg, grad_layout = {
        "ceil_mode_contiguous_grad": (random_input((1, 2, 3, 6), torch.float32, device).contiguous(memory_format=cl),
                                      dict(kernel_size=3, stride=2, ceil_mode=True), torch.contiguous_format),
        "one_by_one_output": (random_input((1, 2, 3, 6), torch.float32, device).contiguous(memory_format=cl),
                              dict(kernel_size=3, dilation=(1, 2)), cl),
        "sliced_channels_last": (random_input((2, 3, 7, 9), torch.float32, device)
                                 .contiguous(memory_format=cl)[..., 1:],
                                 dict(kernel_size=3, stride=2), torch.contiguous_format),
        "three_d": (random_input((3, 7, 9), torch.float32, device), dict(kernel_size=2), torch.contiguous_format),
        "transposed": (random_input((2, 3, 9, 7), torch.float32, device).transpose(2, 3), dict(kernel_size=3, stride=2),
                       cl),
    }[case]
    x = x.requires_grad_()
    y, idx = CF.max_pool2d(x, **cfg, return_indices=True, backend=backend)
    ref_y, ref_idx = F.max_pool2d(x, **cfg, return_indices=True)
    grad = random_input(y.shape, torch.float32, device)
    grad = grad.contiguous(memory_format=grad_layout) if grad.dim() == 4 else grad
    (dx,) = torch.autograd.grad(y, x, grad)
    (ref_dx,) = torch.autograd.grad(ref_y, x, grad)
    assert_same_layout(y, ref_y, "output")
    assert_same_layout(idx, ref_idx, "indices")
    assert_same_layout(dx, ref_dx, "input gradient")
    assert torch.equal(y, ref_y) and torch.equal(idx, ref_idx)
    torch.testing.assert_close(dx, ref_dx)  # (overlapping windows: sums in another order)


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.int16, torch.uint8])
def test_integer_tensors_as_pytorch(dtype):
    """PyTorch's CPU max_pool2d takes integer tensors; so does the drop-in (exactly, through PyTorch's op)."""
    x = torch.randint(0, 100, (2, 3, 9, 11)).to(dtype)
    for layout in (torch.contiguous_format, torch.channels_last):
        xl = x.contiguous(memory_format=layout)
        ours, ours_idx = CF.max_pool2d(xl, 3, 2, 1, return_indices=True)
        theirs, theirs_idx = F.max_pool2d(xl, 3, 2, 1, return_indices=True)
        assert ours.dtype == dtype and torch.equal(ours, theirs) and torch.equal(ours_idx, theirs_idx)
        assert_same_layout(ours, theirs)
        assert torch.equal(cnn.MaxPool2d(2)(xl), torch.nn.MaxPool2d(2)(xl))
