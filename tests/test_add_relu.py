"""add+ReLU against relu(input + residual): every dtype and layout (mixed layouts too), odd sizes,
the in-place variant, gradients of both inputs, NaN, gradcheck."""
import pytest
import torch

import cnnkernels.nn.functional as CF
from conftest import LAYOUTS, check_accuracy, dtypes_for, make_layout, random_input

SHAPES = [(2, 3, 5, 7), (1, 1, 1, 1023), (1, 1, 1, 1), (4, 9, 3, 3)]


def reference(a, b, grad):
    a64, b64 = a.detach().double().requires_grad_(), b.detach().double().requires_grad_()
    y = torch.relu(a64 + b64)
    da, db = torch.autograd.grad(y, (a64, b64), grad.double())
    return y.detach(), da, db


def torch_at_dtype(a, b, grad):
    a, b = a.detach().requires_grad_(), b.detach().requires_grad_()
    y = torch.relu(a + b)
    return (y, *torch.autograd.grad(y, (a, b), grad))


@pytest.mark.parametrize("layouts", [(la, lb) for la in LAYOUTS for lb in LAYOUTS], ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_matches_pytorch(backend_device, shape, layouts):
    backend, device = backend_device
    for dtype in dtypes_for(backend):
        a = make_layout(random_input(shape, dtype, device), layouts[0]).requires_grad_()
        b = make_layout(random_input(shape, dtype, device), layouts[1]).requires_grad_()
        y = CF.add_relu(a, b, backend=backend)
        grad = random_input(shape, dtype, device)
        da, db = torch.autograd.grad(y, (a, b), grad)
        ref = reference(a, b, grad)
        low = torch_at_dtype(a, b, grad) if dtype in (torch.float16, torch.bfloat16) else (None,) * 3
        for ours, r, lo, what in zip((y, da, db), ref, low, ("output", "grad input", "grad residual")):
            check_accuracy(ours, r, lo, what)
        if layouts[0] == "channels_last":
            assert y.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_inplace(backend_device, layout):
    backend, device = backend_device
    for dtype in dtypes_for(backend):
        a0 = random_input((2, 3, 5, 7), dtype, device)
        b = random_input((2, 3, 5, 7), dtype, device)
        expected = torch.relu(a0 + b)  # PyTorch at this dtype
        reference = torch.relu(a0.double() + b.double())
        a = make_layout(a0.clone(), layout)
        out = CF.add_relu(a, b, inplace=True, backend=backend)
        assert out is a
        check_accuracy(a, reference, expected, "in-place add_relu")


def test_inplace_autograd(backend_device):
    """In place on a non-leaf (as in ResNet: the block's last batch-norm output), gradients to both."""
    backend, device = backend_device
    dtype = torch.float64 if backend == "cpu" else torch.float32  # float64: the C++ CPU kernels only
    w = random_input((2, 3, 5, 7), dtype, device).requires_grad_()
    r = random_input((2, 3, 5, 7), dtype, device).requires_grad_()
    grad = random_input((2, 3, 5, 7), dtype, device)
    h = w * 1.5
    y = CF.add_relu(h, r, inplace=True, backend=backend)
    assert y is h
    dw, dr = torch.autograd.grad(y, (w, r), grad)
    y_ref = torch.relu(w * 1.5 + r)
    dw_ref, dr_ref = torch.autograd.grad(y_ref, (w, r), grad)
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(dw, dw_ref)
    torch.testing.assert_close(dr, dr_ref)


def test_inplace_on_leaf_requiring_grad_is_refused(backend_device):
    backend, device = backend_device
    a = random_input((4,), torch.float32, device).requires_grad_()
    with pytest.raises(RuntimeError, match="leaf"):
        CF.add_relu(a, torch.ones_like(a), inplace=True, backend=backend)


def test_nan_propagates_and_gradient_stops_at_zero(backend_device):
    backend, device = backend_device
    a = torch.tensor([1.0, -2.0, float("nan"), 0.5, -0.5], device=device, requires_grad=True)
    b = torch.tensor([1.0, 1.0, 1.0, -0.5, 0.5], device=device)
    y = CF.add_relu(a, b, backend=backend)
    (da,) = torch.autograd.grad(y, a, torch.ones_like(y))
    ref = torch.relu(a + b)
    (ref_da,) = torch.autograd.grad(ref, a, torch.ones_like(ref))
    assert torch.equal(y.isnan(), ref.isnan()) and torch.equal(y.nan_to_num(), ref.nan_to_num())
    assert torch.equal(da, ref_da)


def test_empty(backend_device):
    backend, device = backend_device
    a = torch.empty(0, 4, 3, 3, device=device, requires_grad=True)
    y = CF.add_relu(a, torch.empty_like(a), backend=backend)
    y.sum().backward()
    assert y.shape == a.shape and a.grad.shape == a.shape


def test_gradcheck(backend_device):
    backend, device = backend_device
    if backend != "cpu":
        pytest.skip("float64 gradcheck runs on the C++ CPU kernels")
    a = random_input((2, 3, 4, 5), torch.float64, device).requires_grad_()
    b = random_input((2, 3, 4, 5), torch.float64, device).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, r: CF.add_relu(x, r, backend=backend), (a, b))
