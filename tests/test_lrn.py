"""LRN against PyTorch's local_response_norm: every dtype and layout, odd sizes, even window sizes,
C smaller than the window, 3-D and 5-D inputs, gradients, gradcheck, random configurations."""
import pytest
import torch
import torch.nn.functional as F

import cnnkernels.nn.functional as CF
from conftest import LAYOUTS, check_accuracy, dtypes_for, make_layout, random_input

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
