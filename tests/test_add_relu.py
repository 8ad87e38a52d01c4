"""add+ReLU against relu(input + residual): every dtype and layout (mixed layouts too), odd sizes,
the in-place variant, gradients of both inputs, NaN, gradcheck; the bit mask training keeps instead
of the output."""
import pytest
import torch

import cnnkernels.nn as cnn
import cnnkernels.nn.functional as CF
from cnnkernels.ops import OPS
from conftest import (LAYOUTS, add_relu_mask_of, assert_same_layout, check_accuracy, dtypes_for, make_layout,
                      random_input)

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


@pytest.mark.parametrize("grad_mode", [False, True])
@pytest.mark.parametrize("call", ["function", "module"])
def test_inplace_write_is_seen_by_autograd(backend_device, grad_mode, call):
    """A tensor another node saved for its backward, then written in place: the backward refuses it, as
    PyTorch's does (the version counter bumps on every path, with or without a graph recorded)."""
    backend, device = backend_device
    x = torch.tensor([0.5, -1.0, 2.0, -0.25], device=device, requires_grad=True)
    a = x * 2
    s = a.sin()  # saves a
    residual = torch.tensor([-1.0, 0.5, -3.0, 1.0], device=device)
    version = a._version
    with torch.set_grad_enabled(grad_mode):
        if call == "function":
            CF.add_relu(a, residual, inplace=True, backend=backend)
        else:
            cnn.AddReLU(inplace=True, backend=backend)(a, residual)
    assert a._version > version
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        s.sum().backward()


def test_inplace_bumps_the_version_of_a_plain_tensor(backend_device):
    backend, device = backend_device
    a, b = random_input((2, 3, 4), torch.float32, device), random_input((2, 3, 4), torch.float32, device)
    version = a._version
    OPS[backend].add_relu_(a, b, False)
    assert a._version > version


@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_inplace_on_a_view_rebases_its_history(backend_device, layout):
    """In place on a view of a non-leaf: the base's gradient flows through the view's new history, as
    with torch.relu_(view.add_(residual))."""
    backend, device = backend_device
    w = random_input((3, 4, 6), torch.float32, device).requires_grad_()
    r = random_input((4, 3), torch.float32, device).requires_grad_()
    grad = random_input((3, 4, 6), torch.float32, device)
    results = []
    for fn in (lambda v, res: CF.add_relu(v, res, inplace=True, backend=backend),
               lambda v, res: torch.relu_(v.add_(res))):
        h = w * 1.5
        view = h[1, :, ::2] if layout == "strided" else h[1, :, :3]
        out = fn(view, r)
        assert out is view
        results.append((h.detach().clone(), *torch.autograd.grad(h, (w, r), grad)))
    for ours, theirs in zip(*results):
        torch.testing.assert_close(ours, theirs)


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


def test_low_precision_rounds_like_pytorch(backend_device):
    """fp16/bf16: the float sum rounded to nearest even, as PyTorch's relu(a + b) at that dtype, with
    NaN, +-inf and sums that overflow (the CPU's bf16 rounding works on the bits, with no NaN test)."""
    backend, device = backend_device
    if backend == "triton" and device == "cpu":
        pytest.skip("Triton's interpreter truncates to fp16/bf16 instead of rounding")
    for dtype, big in ((torch.bfloat16, 3.3e38), (torch.float16, 6.0e4)):
        a, b = (random_input((4099,), dtype, "cpu") for _ in range(2))
        a[::97], a[1::89], b[1::267] = float("nan"), float("inf"), -float("inf")
        a[2::83], b[2::83] = big, big
        ours = CF.add_relu(a.to(device), b.to(device), backend=backend).cpu()
        expected = torch.relu(a + b)
        assert torch.equal(ours.isnan(), expected.isnan()) and ours.isnan().any() and ours.isinf().any()
        assert torch.equal(ours[~ours.isnan()], expected[~expected.isnan()])


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


def inputs_with_zero_sums(shape, dtype, device, layout):
    """Random a and b in `layout` where some sums are exactly +0 and some are NaN."""
    a = random_input(shape, dtype, device)
    b = random_input(shape, dtype, device)
    a.view(-1)[1::5] = -b.view(-1)[1::5]
    a.view(-1)[::7] = float("nan")
    return make_layout(a, layout), make_layout(b, layout)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", SHAPES + [(3, 5, 1, 1), (2, 4, 3)], ids=str)
def test_mask_marks_where_the_gradient_flows(backend_device, shape, layout):
    """The mask the training forward returns: one bit per element in the output's memory order, set
    where y > 0 or NaN; none without with_mask; the in-place op returns the same one."""
    backend, device = backend_device
    ops = OPS[backend]
    for dtype in dtypes_for(backend):
        a, b = inputs_with_zero_sums(shape, dtype, device, layout)
        y, mask = ops.add_relu(a, b, True)
        assert mask.dtype == torch.uint8 and mask.shape == ((a.numel() + 7) // 8,)
        assert torch.equal(mask.cpu(), add_relu_mask_of(y))
        assert ops.add_relu(a, b, False)[1].numel() == 0
        inplace = a.clone()
        assert torch.equal(ops.add_relu_(inplace, b, True).cpu(), mask.cpu())
        assert ops.add_relu_(a.clone(), b, False).numel() == 0


@pytest.mark.parametrize("mask_layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("grad_layout", LAYOUTS)
def test_backward_reads_the_mask_in_its_own_layout(backend_device, grad_layout, mask_layout):
    """dy in any layout: dx = dy where the mask's bit is set, else 0, in the layout the mask was made in."""
    backend, device = backend_device
    ops = OPS[backend]
    for dtype in dtypes_for(backend):
        a, b = inputs_with_zero_sums((2, 3, 5, 7), dtype, device, mask_layout)
        y, mask = ops.add_relu(a, b, True)
        dy = make_layout(random_input(y.shape, dtype, device), grad_layout)
        dx = ops.add_relu_backward(dy, mask, y.stride())
        assert torch.equal(dx, torch.where(y <= 0, torch.zeros_like(dy), dy))
        assert dx.stride() == y.stride()


@pytest.mark.parametrize("inplace", [False, True])
def test_training_keeps_only_the_mask(backend_device, inplace):
    """Autograd saves one bit per element (not the output), and one gradient serves both inputs."""
    backend, device = backend_device
    saved = []

    def pack(t):
        saved.append(t)
        return t

    w = random_input((2, 3, 5, 7), torch.float32, device).requires_grad_()
    r = random_input((2, 3, 5, 7), torch.float32, device).requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = CF.add_relu(w * 1.0, r, inplace=inplace, backend=backend)
    mask_bytes = (y.numel() + 7) // 8
    assert [(t.dtype, t.numel()) for t in saved] == [(torch.uint8, mask_bytes)]
    da, db = torch.autograd.grad(y, (w, r), torch.ones_like(y))
    assert torch.equal(da, db) and torch.equal(da, (y > 0).float())


def test_backward_without_a_mask_is_refused(backend_device):
    backend, device = backend_device
    a = random_input((2, 3, 4), torch.float32, device).requires_grad_()
    y, _ = OPS[backend].add_relu(a, torch.ones_like(a), False)
    with pytest.raises(RuntimeError, match="with_mask=False"):
        y.sum().backward()



def test_triton_mask_near_the_int32_limit(backend_device):
    """Triton passes n as int32 below 2**31: the mask's bounds must not compute n + 7 (it would wrap
    and write no mask byte). One program of a launch whose n is just under 2**31."""
    backend, device = backend_device
    if backend != "triton":
        pytest.skip("a Triton kernel's argument types")
    from cnnkernels.triton import add_relu as triton_add_relu

    block = triton_add_relu.BLOCK
    a, b = (random_input((block,), torch.float32, device) for _ in range(2))
    y = torch.empty_like(a)
    mask = torch.full((block // 8,), 0xA5, dtype=torch.uint8, device=device)
    triton_add_relu._add_relu_forward_kernel[(1,)](a, b, y, mask, 2**31 - 1, WITH_MASK=True, BLOCK=block)
    assert torch.equal(y, torch.relu(a + b))
    assert torch.equal(mask.cpu(), add_relu_mask_of(y))


@pytest.mark.parametrize("inplace", [False, True])
def test_second_derivative(backend_device, inplace):
    """Differentiating the gradient (create_graph=True, as a gradient penalty does): the backward is
    linear in dy, so d(da . v)/d(dy) is v where the output passes the gradient, as PyTorch's."""
    backend, device = backend_device
    a0, b = inputs_with_zero_sums((2, 3, 5, 7), torch.float32, device, "contiguous")
    g0, v = random_input(a0.shape, torch.float32, device), random_input(a0.shape, torch.float32, device)
    results = []
    for fn in (lambda x, r: CF.add_relu(x, r, inplace=inplace, backend=backend), lambda x, r: torch.relu(x + r)):
        a = a0.clone().requires_grad_()
        g = g0.clone().requires_grad_()
        (da,) = torch.autograd.grad(fn(a * 1.0, b), a, g, create_graph=True)
        results.append(torch.autograd.grad(da, g, v)[0])
    assert torch.equal(results[0], results[1])
    if backend == "cpu":  # float64: the C++ CPU kernels only
        a = random_input((2, 3, 4, 5), torch.float64, device).requires_grad_()
        r = random_input((2, 3, 4, 5), torch.float64, device).requires_grad_()
        fn = lambda x, y: CF.add_relu(x * 1.0, y, inplace=inplace, backend=backend)  # noqa: E731
        assert torch.autograd.gradgradcheck(fn, (a, r))



# ---------------------------------------------------------------- a drop-in for relu(input + residual)
# (input, residual) pairs torch.add accepts that are not one shape and dtype: broadcasting, type
# promotion, 0-dim tensors, numbers.
def _mixed_operands(device):
    a = random_input((2, 4, 3, 3), torch.float32, device)
    return {
        "channel_bias": (a, random_input((4, 1, 1), torch.float32, device)),
        "zero_dim": (a, torch.tensor(0.5, device=device)),
        "cpu_zero_dim": (a, torch.tensor(-0.25)),
        "fp16_and_fp32": (a.half(), random_input((2, 4, 3, 3), torch.float32, device)),
        "bf16_and_broadcast_fp64": (a.bfloat16(), random_input((3,), torch.float64, device)),
        "number": (a, 0.75),
        "int_and_float": (torch.arange(-6, 6, device=device).view(3, 4), random_input((4,), torch.float32, device)),
        "broadcast_input": (random_input((4, 1, 3), torch.float32, device), random_input((2, 4, 5, 3), torch.float32,
                                                                                         device)),
    }


@pytest.mark.parametrize("case", ["channel_bias", "zero_dim", "cpu_zero_dim", "fp16_and_fp32",
                                  "bf16_and_broadcast_fp64", "number", "int_and_float", "broadcast_input"])
def test_accepts_what_torch_add_accepts(backend_device, case):
    """The result (values, dtype, layout) and the gradients (summed over broadcast dimensions) of
    torch.relu(input + residual)."""
    backend, device = backend_device
    a, b = _mixed_operands(device)[case]
    floating = a.is_floating_point()
    a = a.detach().requires_grad_(floating)
    if isinstance(b, torch.Tensor) and b.is_floating_point():
        b = b.detach().requires_grad_()
    y = CF.add_relu(a, b, backend=backend)
    expected = torch.relu(a + b)
    assert y.dtype == expected.dtype
    assert_same_layout(y, expected)
    torch.testing.assert_close(y, expected, rtol=0, atol=0)
    inputs = [t for t in (a, b) if isinstance(t, torch.Tensor) and t.requires_grad]
    if inputs:
        grad = random_input(y.shape, y.dtype, device)
        for ours, theirs in zip(torch.autograd.grad(y, inputs, grad), torch.autograd.grad(expected, inputs, grad)):
            assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
            torch.testing.assert_close(ours, theirs)


def _pytorch_inplace_error(a, b):
    with pytest.raises(RuntimeError) as caught:
        torch.relu_(a.add_(b))
    return str(caught.value)


@pytest.mark.parametrize("case", ["int_input_float_residual", "input_narrower_than_residual", "expanded_input",
                                  "partly_overlapping", "leaf", "view_of_leaf"])
def test_inplace_refuses_what_torch_add_refuses_in_its_words(backend_device, case):
    backend, device = backend_device
    x = random_input((2, 4, 3, 3), torch.float32, device)
    line = torch.arange(1.0, 9.0, device=device)
    a, b = {
        "int_input_float_residual": lambda: (torch.arange(4, device=device), random_input((4,), torch.float32, device)),
        "input_narrower_than_residual": lambda: (random_input((4, 1, 1), torch.float32, device), x),
        "expanded_input": lambda: (torch.zeros(1, device=device).expand(8), line),
        "partly_overlapping": lambda: (line[1:], line[:-1]),
        "leaf": lambda: (x.clone().requires_grad_(), x),
        "view_of_leaf": lambda: (x.clone().requires_grad_()[0], x[0]),
    }[case]()
    expected = _pytorch_inplace_error(a.detach().clone() if case not in ("expanded_input", "partly_overlapping",
                                                                         "leaf", "view_of_leaf") else a, b)
    with pytest.raises(RuntimeError) as caught:
        CF.add_relu(a, b, inplace=True, backend=backend)
    assert str(caught.value) == expected


def test_inplace_accepts_a_broadcast_residual(backend_device):
    backend, device = backend_device
    a = random_input((2, 4, 3, 3), torch.float32, device)
    b = random_input((4, 1, 1), torch.float64, device)
    expected = torch.relu_(a.clone().add_(b))
    out = CF.add_relu(a, b, inplace=True, backend=backend)
    assert out is a and torch.equal(a, expected)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "transposed", "strided", "batch_major"])
@pytest.mark.parametrize("residual_layout", ["contiguous", "channels_last", "transposed"])
def test_layouts_are_pytorchs(backend_device, layout, residual_layout):
    """Output and input gradients with the strides torch.relu(input + residual) gives them: the input's
    dense layout (TensorIterator's rule), in place too, whatever the residual's and dy's layouts."""
    backend, device = backend_device

    def arranged(t, how):
        """t's values (of shape (2, 3, 5, 10)) in a tensor laid out `how`; "transposed" and "strided" views
        have another shape, so both operands are made with the same how-to where shapes must agree."""
        return {"contiguous": t, "channels_last": t.contiguous(memory_format=torch.channels_last),
                "transposed": t.transpose(2, 3), "strided": t[..., ::2],
                "batch_major": t.permute(1, 0, 2, 3).contiguous().permute(1, 0, 2, 3)}[how]

    full = random_input((2, 3, 5, 10), torch.float32, device)
    shape = arranged(full, layout).shape
    source = random_input(shape, torch.float32, device)
    b0 = {"contiguous": source, "channels_last": source.contiguous(memory_format=torch.channels_last),
          "transposed": source.transpose(2, 3).contiguous().transpose(2, 3)}[residual_layout]
    grad = random_input(shape, torch.float32, device).transpose(1, 2).contiguous().transpose(1, 2)
    for inplace in (False, True):
        results = []
        for fn in (lambda x, r: CF.add_relu(x, r, inplace=inplace, backend=backend),
                   lambda x, r: torch.relu_(x.add_(r)) if inplace else torch.relu(x + r)):
            w = torch.ones((), device=device, requires_grad=True)
            a = arranged(full * w, layout)  # a non-leaf (or a view of one) in that layout
            b = b0.detach().clone().requires_grad_()  # (clone keeps a dense layout)
            y = fn(a, b)
            results.append((y, *torch.autograd.grad(y, (w, b), grad)))
        (y, dw, db), (expected, ref_dw, ref_db) = results
        assert_same_layout(y, expected)
        assert_same_layout(db, ref_db, "residual gradient")
        torch.testing.assert_close(y, expected)
        torch.testing.assert_close(dw, ref_dw)
        torch.testing.assert_close(db, ref_db)
