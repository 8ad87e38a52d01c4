"""LRN against PyTorch's local_response_norm: every dtype and layout, odd sizes, even window sizes,
C smaller than the window, 3-D and 5-D inputs, gradients, gradcheck, random configurations."""
import pytest
import torch
import torch.nn.functional as F

import cnnkernels.nn.functional as CF
from conftest import LAYOUTS, assert_same_layout, check_accuracy, dtypes_for, make_layout, random_input

CASES = [
    # shape, size, alpha, beta, k
    ((2, 7, 5, 6), 5, 1e-4, 0.75, 1.0),  # AlexNet's constants, odd sizes
    ((2, 7, 5, 6), 5, 0.5, 0.75, 2.0),  # strong normalisation, beta = 0.75 fast path
    ((3, 9, 4, 3), 4, 0.3, 0.6, 1.0),  # even size, general beta
    ((1, 1, 1, 1), 5, 0.5, 0.75, 1.0),  # 1x1 image, one channel
    ((2, 3, 4, 4), 7, 0.4, 0.9, 0.5),  # fewer channels than the window
    ((2, 6, 3, 5), 1, 0.2, 0.5, 1.0),  # window of one channel
    ((2, 11, 2, 2), 2, 0.7, 1.2, 1.5),  # smallest even window
    ((2, 70, 3, 3), 6, 0.5, 0.75, 1.0),  # more channels than a tile row; GPU: runs of channels
    ((2, 80, 2, 3), 9, 0.5, 0.75, 1.0),  # the largest window held in registers, runs of channels
    ((2, 12, 3, 4), 11, 0.5, 0.75, 1.0),  # a window past the register kernels
]
SHAPES_OTHER_RANKS = [(3, 8, 17), (2, 6, 3, 4, 5)]


def reference(x, size, alpha, beta, k, grad):
    """PyTorch's LRN in float64, and its input gradient for `grad`."""
    x64 = x.detach().double().requires_grad_()
    y = F.local_response_norm(x64, size, alpha, beta, k)
    (dx,) = torch.autograd.grad(y, x64, grad.double())
    return y.detach(), dx


def torch_at_dtype(x, size, alpha, beta, k, grad):
    """PyTorch's own result at x's dtype; where PyTorch lacks the dtype (CPU fp16/bf16), its fp32 result
    rounded to it, the best that dtype can hold."""
    xs = x.detach().requires_grad_()
    try:
        y = F.local_response_norm(xs, size, alpha, beta, k)
        (dx,) = torch.autograd.grad(y, xs, grad)
        return y, dx
    except (NotImplementedError, RuntimeError):
        y, dx = torch_at_dtype(x.float(), size, alpha, beta, k, grad.float())
        return y.to(x.dtype), dx.to(x.dtype)


def run_case(backend, device, shape, size, alpha, beta, k, dtype, layout):
    x = make_layout(random_input(shape, dtype, device), layout).requires_grad_()
    y = CF.local_response_norm(x, size, alpha, beta, k, backend=backend)
    grad = make_layout(random_input(shape, dtype, device), layout)
    (dx,) = torch.autograd.grad(y, x, grad)
    ref_y, ref_dx = reference(x, size, alpha, beta, k, grad)
    low_precision = dtype in (torch.float16, torch.bfloat16)
    low_y, low_dx = torch_at_dtype(x, size, alpha, beta, k, grad) if low_precision else (None, None)
    check_accuracy(y, ref_y, low_y, "lrn forward")
    # dx = dy * scale^-beta - (a sum over the window): the two can cancel to ~0 in every element at once
    check_accuracy(dx, ref_dx, low_dx, "lrn backward", terms=grad.abs().max().item())
    assert y.dtype == dtype and dx.dtype == dtype
    if layout == "channels_last" and len(shape) == 4 and y.numel() > 1:
        assert y.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-n{c[1]}-b{c[3]}")
def test_matches_pytorch(backend_device, case, layout):
    backend, device = backend_device
    for dtype in dtypes_for(backend):
        run_case(backend, device, *case, dtype, layout)


@pytest.mark.parametrize("shape", SHAPES_OTHER_RANKS, ids=str)
def test_other_ranks(backend_device, shape):
    backend, device = backend_device
    for dtype in dtypes_for(backend):
        run_case(backend, device, shape, 5, 0.5, 0.75, 1.0, dtype, "contiguous")
        run_case(backend, device, shape, 4, 0.5, 0.6, 1.0, dtype, "strided")


def test_output_keeps_layout(backend_device):
    backend, device = backend_device
    x = random_input((2, 8, 5, 5), torch.float32, device).contiguous(memory_format=torch.channels_last)
    assert CF.local_response_norm(x, 5, backend=backend).is_contiguous(memory_format=torch.channels_last)
    assert CF.local_response_norm(x.contiguous(), 5, backend=backend).is_contiguous()


def test_empty_batch(backend_device):
    backend, device = backend_device
    x = torch.empty(0, 8, 5, 5, device=device, requires_grad=True)
    y = CF.local_response_norm(x, 5, backend=backend)
    y.sum().backward()
    assert y.shape == x.shape and x.grad.shape == x.shape


def test_gradcheck(backend_device):
    backend, device = backend_device
    if backend != "cpu":
        pytest.skip("float64 gradcheck runs on the C++ CPU kernels")
    for size, beta in ((5, 0.75), (4, 0.6)):
        x = random_input((2, 6, 3, 4), torch.float64, device).requires_grad_()
        fn = lambda t: CF.local_response_norm(t, size, 0.5, beta, 1.0, backend=backend)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (x,))


def test_second_derivative_is_refused_clearly(backend_device):
    """Differentiating LRN's gradient is not implemented: it says so rather than treating the
    backward as a constant (which PyTorch's fallback would do, with only a warning)."""
    backend, device = backend_device
    x = random_input((2, 6, 3, 4), torch.float32, device).requires_grad_()
    y = CF.local_response_norm(x, 5, backend=backend)
    (dx,) = torch.autograd.grad(y, x, torch.ones_like(y), create_graph=True)
    with pytest.raises(RuntimeError, match="second derivative of local_response_norm"):
        dx.sum().backward()


def test_nan_and_inf_propagate_like_pytorch(backend_device):
    backend, device = backend_device
    x = random_input((2, 7, 4, 4), torch.float32, device)
    x[0, 3, 1, 1] = float("nan")
    x[1, 2, 2, 2] = float("inf")
    ours = CF.local_response_norm(x, 5, 0.5, 0.75, 1.0, backend=backend)
    ref = F.local_response_norm(x.double().cpu(), 5, 0.5, 0.75, 1.0)
    assert torch.equal(torch.isnan(ours.cpu()), torch.isnan(ref))
    assert torch.equal(torch.isinf(ours.cpu()), torch.isinf(ref))


# ---------------------------------------------------------------- the power over its whole domain
# (x values of shape (1, C, 1, 1) per image, size, alpha, beta, k). s = k + alpha/size * sum x^2 takes
# the values PyTorch's pow is defined at but the fast forms are not: 0, inf, negative.
POWER_CASES = [
    ([1.0, 2.0], 1, 0.0, 0.0, 0.0),  # s = 0, beta = 0: s^0 = 1, y = x
    ([1.0, 2.0], 1, 0.0, 1.0, -1.0),  # s = -1 to an integer power: y = -x
    ([1.0, -2.0, 3.0], 3, 0.0, 0.0, 0.0),  # beta = 0: the gradient is dy, not NaN
    ([1.5, -2.0, 0.5], 3, 0.0, 2.0, -2.0),  # a negative s to an even power
    ([1.5, -2.0, 0.5], 3, 0.0, 3.0, -0.5),  # ... and to an odd one
    ([1.5, -2.0, 0.5], 3, 0.3, 0.75, -4.0),  # a negative s to a fraction: NaN, as PyTorch
    ([1.0, 0.0, -3.0], 1, 1.0, 0.5, 0.0),  # s = 0 where x = 0: 0 / 0 = NaN; elsewhere finite
    ([3.0, 1.0, 2.0], 3, 1.0, 0.0, float("inf")),  # s = inf, beta = 0: y = x
    ([3.0, 1.0, 2.0], 3, 1.0, 0.75, float("inf")),  # s = inf, beta = 0.75: y = x * 0
    ([3.0, 1.0, 2.0], 3, 1.0, -0.5, float("inf")),  # s = inf to a positive power: y = x * inf
    ([float("nan"), 1.0, 2.0], 3, 0.5, 0.0, 1.0),  # a NaN in the window, beta = 0: y = x (1 / s^0 = 1)
    ([1.0, 2.0, 3.0], 3, -0.5, 0.75, 1.0),  # alpha < 0: s < 0 for some channels
    ([1.0, 2.0, 3.0], 2, 0.5, -1.5, 1.0),  # a negative beta
]


def _power_case(values, dtype, device):
    x = torch.tensor(values, dtype=torch.float64).view(1, len(values), 1, 1)
    return x.repeat(2, 1, 3, 1).to(dtype).to(device)  # two images, three pixels: every kernel path sees it


def _assert_defined_values_equal(ours, reference, what):
    """Wherever PyTorch's float64 result is a number (finite or inf) ours is the same; where it is NaN
    (not defined) ours is NaN too."""
    ours, reference = ours.detach().double().cpu(), reference.detach().double().cpu()
    assert torch.equal(ours.isnan(), reference.isnan()), f"{what}: NaN at {ours.isnan()} vs {reference.isnan()}"
    defined = ~reference.isnan()
    torch.testing.assert_close(ours[defined], reference[defined], rtol=1e-5, atol=1e-30, msg=what)


@pytest.mark.parametrize("case", POWER_CASES, ids=lambda c: f"a{c[2]}-b{c[3]}-k{c[4]}-{c[0][0]:g}")
def test_power_over_its_whole_domain(backend_device, case):
    """LRN equals PyTorch's wherever PyTorch's is defined, s = 0, s = inf and s < 0 included (the fast
    forms of s^-beta, 1/sqrt and exp2(log2), are NaN or wrong there), forward and backward."""
    backend, device = backend_device
    values, size, alpha, beta, k = case
    x = _power_case(values, torch.float32, device).requires_grad_()
    grad = torch.ones_like(x)
    y = CF.local_response_norm(x, size, alpha, beta, k, backend=backend)
    (dx,) = torch.autograd.grad(y, x, grad)
    ref_y, ref_dx = reference(x, size, alpha, beta, k, grad)
    _assert_defined_values_equal(y, ref_y, "forward")
    _assert_defined_values_equal(dx, ref_dx, "backward")


def test_power_where_pytorch_overflows(backend_device):
    """x = 1e15 with size 1, alpha 1, k 0, beta 1.3: y = x * (x^2)^-1.3 = 1e-24. PyTorch computes
    x / (1e30)^1.3, whose divisor overflows float32 to inf, and returns 0; x * s^-beta is the right
    value (float64's), and that is what cnnkernels returns."""
    backend, device = backend_device
    x = torch.full((1, 1, 1, 1), 1e15, device=device)
    y = CF.local_response_norm(x, 1, 1.0, 1.3, 0.0, backend=backend)
    assert F.local_response_norm(x.cpu(), 1, 1.0, 1.3, 0.0).item() == 0.0  # PyTorch's float32 result
    torch.testing.assert_close(y.double().cpu(), F.local_response_norm(x.double().cpu(), 1, 1.0, 1.3, 0.0),
                               rtol=1e-5, atol=0)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "transposed", "strided", "sliced_channels_last",
                                    "batch_major"])
def test_output_and_gradient_keep_the_input_layout(backend_device, layout):
    """The output has the strides PyTorch's LRN gives it (the input's layout, as torch.empty_like); so
    does the input gradient (PyTorch's follows its composite's intermediate ops, which here agree)."""
    backend, device = backend_device
    base = random_input((2, 6, 4, 5), torch.float32, device)
    x = {"contiguous": base, "channels_last": base.contiguous(memory_format=torch.channels_last),
         "transposed": base.transpose(2, 3), "strided": base[..., ::2],
         "sliced_channels_last": base.contiguous(memory_format=torch.channels_last)[..., 1:],
         "batch_major": base.permute(1, 0, 2, 3).contiguous().permute(1, 0, 2, 3)}[layout].requires_grad_()
    y = CF.local_response_norm(x, 3, 0.5, 0.75, 1.0, backend=backend)
    (dx,) = torch.autograd.grad(y, x, torch.ones_like(y))
    x64 = x.detach().double().requires_grad_()
    ref = F.local_response_norm(x64, 3, 0.5, 0.75, 1.0)
    (ref_dx,) = torch.autograd.grad(ref, x64, torch.ones_like(ref))
    assert_same_layout(y, ref, "output")
    assert_same_layout(dx, ref_dx, "input gradient")
    check_accuracy(y, ref.detach(), None, "output")
