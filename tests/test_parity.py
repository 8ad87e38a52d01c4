"""Parity with PyTorch for the whole kind of input: every op, forward and backward, on drawn inputs
(hypothesis: shapes, layouts, dtypes and adversarial values) and on PyTorch's own test inputs (the
OpInfo samples and error inputs shipped in the torch wheel, and the ModuleInfos of nn.MaxPool2d and
nn.LocalResponseNorm), comparing values, indices, gradients, dtypes and strides.

How a result is judged, per element, against PyTorch's op in float64 (`reference`) and at the input's
dtype (`at_dtype`):
- where the float64 result is NaN (not defined), nothing is asserted but the dtype and layout;
- elsewhere ours is within `rtol` of the float64 result, or no further from it than twice PyTorch's
  own error at that dtype plus an ulp, or equal to PyTorch's at that dtype (fp16/bf16 compute in
  float32 and round once; PyTorch's CPU kernels round after each add, and its float32 LRN divides by
  a power that can overflow: x / (1e30)^1.3 is 0 there, ours is x * s^-1.3, the float64 value).
Documented differences, asserted as the right value instead: a max-pool window that lies wholly in
the padding (dilation) has output -inf in both, but PyTorch's index for it points outside the window
and its backward credits that element; ours credits nothing, which is the gradient of a constant.
LRN's input gradient follows the input's layout (PyTorch's follows its composite's intermediates).
PyTorch's LRN refuses some non-contiguous inputs that ours takes (it .view()s a 5-D transposed one):
its references are computed from a contiguous copy.
"""
import math

import pytest
import torch
import torch.nn.functional as F

import cnnkernels.nn as cnn
import cnnkernels.nn.functional as CF
from cnnkernels import backends
from cnnkernels import triton as triton_backend
from conftest import significant_strides

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _backends():
    """The kernel backends that run on CPU tensors here: C++ always (if built), Triton under its interpreter."""
    names = ["cpu"] + (["triton"] if triton_backend.INTERPRETER else [])
    return [pytest.param(n, marks=pytest.mark.skipif(backends.unavailable_reason(n) is not None,
                                                     reason=str(backends.unavailable_reason(n)))) for n in names]


BACKENDS = _backends()
DTYPES = {"cpu": [torch.float32, torch.float64, torch.float16, torch.bfloat16],
          "triton": [torch.float32, torch.float16, torch.bfloat16]}
RTOL = {torch.float64: 1e-10, torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 2e-2}
EXAMPLES = {"cpu": 60, "triton": 12}  # the interpreter runs each Triton program in Python: fewer draws


def interpreted_low_precision(backend, dtype):
    """Triton's interpreter (not Triton on a GPU) converts float32 to fp16/bf16 by truncating, and flushes
    bf16 subnormals to zero: there, fp16/bf16 results are judged by tolerance, without subnormal inputs."""
    return backend == "triton" and triton_backend.INTERPRETER and dtype in (torch.float16, torch.bfloat16)


# ---------------------------------------------------------------- judging

def assert_matches(ours, reference, at_dtype, what, exact=False, terms=0.0):
    """ours against PyTorch's float64 `reference` and its result `at_dtype` (module docstring). terms: the
    size of the terms a result is the difference of, where the result can cancel to ~0 (LRN's
    gradient): the tolerance is relative to them there."""
    assert ours.dtype == at_dtype.dtype, f"{what}: dtype {ours.dtype}, PyTorch's {at_dtype.dtype}"
    assert ours.shape == at_dtype.shape, f"{what}: shape {tuple(ours.shape)}, PyTorch's {tuple(at_dtype.shape)}"
    o, r, t = (v.detach().double().cpu() for v in (ours, reference, at_dtype))
    defined = ~r.isnan()
    if exact:
        assert torch.equal(o.isnan(), t.isnan()) and torch.equal(o.nan_to_num(7.0), t.nan_to_num(7.0)), what
        return
    both_inf = o.isinf() & r.isinf() & (o.sign() == r.sign())
    err = torch.where(both_inf, 0.0, (o - r).abs())
    torch_err = torch.where(t.isinf() & r.isinf() & (t.sign() == r.sign()), 0.0, (t - r).abs()).nan_to_num(math.inf)
    scale = r[defined & r.isfinite()].abs().max().item() if (defined & r.isfinite()).any() else 0.0
    ulp = torch.finfo(ours.dtype).eps * r.abs().clamp(min=torch.finfo(ours.dtype).tiny)
    bound = torch.maximum(RTOL[ours.dtype] * (r.abs() + 1e-3 * scale + terms), 2 * torch_err + ulp)
    same_as_pytorch = (o.isnan() & t.isnan()) | (o == t)  # e.g. both NaN where the dtype's range overflows
    bad = defined & ~(err <= bound) & ~same_as_pytorch
    assert not bad.any(), (f"{what}: {int(bad.sum())} of {bad.numel()} elements off, e.g. ours {o[bad][:4].tolist()} "
                           f"vs float64 {r[bad][:4].tolist()} (PyTorch at {ours.dtype}: {t[bad][:4].tolist()})")


def assert_same_strides(ours, theirs, what):
    assert significant_strides(ours) == significant_strides(theirs), (
        f"{what}: strides {ours.stride()}, PyTorch's {theirs.stride()} (shape {tuple(ours.shape)})")


def grads(output, inputs, grad):
    inputs = [t for t in inputs if isinstance(t, torch.Tensor) and t.requires_grad]
    return list(torch.autograd.grad(output, inputs, grad, allow_unused=True)) if inputs else []


# ---------------------------------------------------------------- drawing inputs

ADVERSARIAL = [float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1e-40, -3e-39, 1e20, -3e19, 1e-20, 7e4, 3e38]


@st.composite
def tensors(draw, shape, dtype, adversarial=True, subnormals=True):
    """Fresh random values (never all zeros) at dtype, with some adversarial ones mixed in: NaN, +-inf,
    +-0, subnormals, values whose square overflows, a huge dynamic range."""
    seed = draw(st.integers(0, 2**31 - 1))
    generator = torch.Generator().manual_seed(seed)
    scale = draw(st.sampled_from([1.0, 1e-3, 1e3]))
    x = torch.randn(shape, generator=generator, dtype=torch.float64) * scale
    if adversarial and x.numel() and draw(st.booleans()):
        count = draw(st.integers(1, max(1, x.numel() // 4)))
        where = torch.randint(0, x.numel(), (count,), generator=generator)
        x.view(-1)[where] = torch.tensor(draw(st.lists(st.sampled_from(ADVERSARIAL), min_size=count, max_size=count)),
                                          dtype=torch.float64)
    x = x.to(dtype)
    if not subnormals and x.is_floating_point():
        x = torch.where(x.abs() < torch.finfo(dtype).tiny, torch.zeros_like(x), x)
    return x


LAYOUTS = ["contiguous", "channels_last", "strided", "transposed"]


def arrange(x, layout):
    """x's values in a tensor laid out `layout` (of the same shape)."""
    if layout == "contiguous":
        return x.contiguous()
    if layout == "channels_last":
        return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x.contiguous()
    if layout == "strided" and x.dim():  # every other element of a wider buffer
        wide = torch.zeros(*x.shape[:-1], 2 * x.shape[-1], dtype=x.dtype)
        wide[..., ::2] = x
        return wide[..., ::2]
    if layout == "transposed" and x.dim() >= 2:  # dense, the last two dimensions swapped in memory
        return x.transpose(-1, -2).contiguous().transpose(-1, -2)
    return x.contiguous()


def grad_like(draw, y):
    """A gradient for y: in its own layout, another one, or expanded (one value broadcast to all)."""
    how = draw(st.sampled_from(["same", "contiguous", "transposed", "expanded"]))
    g = draw(tensors(tuple(y.shape), y.dtype, adversarial=False))
    if how == "expanded":
        return torch.full((), g.view(-1)[0].item() if g.numel() else 1.0, dtype=y.dtype).expand(y.shape)
    if how == "same":
        return torch.empty_like(y).copy_(g)
    return arrange(g, how) if y.dim() >= 2 else g


SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------- LRN

def lrn_conditioning(x64, y64, size, alpha, beta, k):
    """Per element, what rounding s = k + alpha/size * (sum of squares) can do to y = x * s^-beta: s has
    an error relative to its terms (|k| + |alpha|/size * sum), not to itself, and with a negative alpha
    or k the terms can cancel; y's relative error is beta times s's. Any float32 LRN has it (PyTorch's
    too, by its own order of summation)."""
    squares = x64.detach().pow(2)
    C = squares.shape[1]
    sums = torch.stack([squares[:, max(0, c - size // 2):c + (size - 1) // 2 + 1].sum(1) for c in range(C)], 1)
    s = k + alpha / size * sums
    with torch.no_grad():
        return (abs(beta) * (abs(k) + abs(alpha) / size * sums) / s.abs() * y64.abs()).nan_to_num(0.0, math.inf)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lrn(backend):
    @settings(max_examples=EXAMPLES[backend], **SETTINGS)
    @given(data=st.data())
    def check(data):
        dtype = data.draw(st.sampled_from(DTYPES[backend]))
        shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 12)), *data.draw(
            st.sampled_from([(1, 1), (3, 4), (5, 2), (7,), (2, 3, 2)])))
        size = data.draw(st.integers(1, 9))
        alpha = data.draw(st.sampled_from([0.0, 1e-4, 0.5, 2.0, -0.3]))
        beta = data.draw(st.sampled_from([0.0, 0.5, 0.75, 1.0, 2.0, 2.5]))
        k = data.draw(st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0]))
        layout = data.draw(st.sampled_from(LAYOUTS if len(shape) == 4 else ["contiguous", "strided", "transposed"]))
        rounding = interpreted_low_precision(backend, dtype)
        x = arrange(data.draw(tensors(shape, dtype, subnormals=not rounding)), layout).requires_grad_()
        y = CF.local_response_norm(x, size, alpha, beta, k, backend=backend)
        g = grad_like(data.draw, y)
        (dx,) = grads(y, [x], g)
        # PyTorch's references from a contiguous copy (its LRN views its input, which some layouts refuse)
        x64 = x.detach().double().contiguous().requires_grad_()
        y64 = F.local_response_norm(x64, size, alpha, beta, k)
        (dx64,) = grads(y64, [x64], g.double())
        low = x.detach().contiguous()  # PyTorch's CPU LRN has no fp16/bf16: its float32 result rounded
        low = (low.float() if dtype in (torch.float16, torch.bfloat16) else low).requires_grad_()
        y_low = F.local_response_norm(low, size, alpha, beta, k)
        (dx_low,) = grads(y_low, [low], g.to(low.dtype))
        assert_matches(y, y64, y_low.to(dtype), "lrn forward", terms=lrn_conditioning(x64, y64, size, alpha, beta, k))
        assert_same_strides(y, torch.empty_like(x), "lrn forward (PyTorch's: the input's layout)")
        if not y64.isnan().any():  # a NaN anywhere in a window makes every gradient of it NaN
            # dx = dy s^-beta - (a sum over the window): the two can cancel, so judge against the first's size
            first = (g.double().contiguous() * y64 / x64).detach()
            terms = first[first.isfinite()].abs().max().item() if first.isfinite().any() else 0.0
            assert_matches(dx, dx64, dx_low.to(dtype), "lrn backward", terms=terms)
        assert_same_strides(dx, torch.empty_like(x), "lrn backward (the input's layout)")

    check()


# ---------------------------------------------------------------- max-pool

def has_empty_window(size, kernel, stride, pad, dilation, out):
    return any(all(not 0 <= o * stride - pad + t * dilation < size for t in range(kernel)) for o in range(out))


def reference_grad(x64, y64, window, g):
    """The input gradient in float64, with the right value for windows wholly in the padding: their
    output is a constant (-inf), so they credit nothing (PyTorch's index points outside them)."""
    kernel, stride, padding, dilation = window
    empty = torch.zeros_like(y64, dtype=torch.bool)
    for dim, axis in ((0, -2), (1, -1)):
        for o in range(y64.shape[axis]):
            if all(not 0 <= o * stride[dim] - padding[dim] + t * dilation[dim] < x64.shape[axis]
                   for t in range(kernel[dim])):
                empty.narrow(axis, o, 1).fill_(True)
    (dx,) = grads(y64, [x64], torch.where(empty, 0.0, g.double()))
    return dx


def check_max_pool2d(backend, x, window, ceil_mode, g=None, return_indices=True):
    """Ours against PyTorch: output and indices exact (values, dtype, strides), the gradient judged."""
    kernel, stride, padding, dilation = window
    x = x.detach().requires_grad_(x.is_floating_point())
    y, idx = CF.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode, True, backend=backend)
    ref_y, ref_idx = F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode, True)
    assert_matches(y, ref_y, ref_y, "max_pool2d forward", exact=True)
    assert_same_strides(y, ref_y, "max_pool2d forward")
    assert_same_strides(idx, ref_idx, "max_pool2d indices")
    empty = any(has_empty_window(x.shape[a], kernel[d], stride[d], padding[d], dilation[d], y.shape[a])
                for d, a in ((0, -2), (1, -1)))
    if not empty:  # (a window wholly in the padding: PyTorch's index points outside it; see the docstring)
        assert torch.equal(idx, ref_idx), "max_pool2d indices"
    if g is None:
        g = torch.randn(y.shape, dtype=torch.float64).to(y.dtype)
    (dx,) = grads(y, [x], g)
    (ref_dx,) = grads(ref_y, [x], g)
    x64 = x.detach().double().requires_grad_()
    y64 = F.max_pool2d(x64, kernel, stride, padding, dilation, ceil_mode)
    assert_matches(dx, reference_grad(x64, y64, window, g), ref_dx if not empty else dx, "max_pool2d backward")
    assert_same_strides(dx, ref_dx, "max_pool2d backward")


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool2d(backend):
    @settings(max_examples=EXAMPLES[backend], **SETTINGS)
    @given(data=st.data())
    def check(data):
        dtype = data.draw(st.sampled_from(DTYPES[backend]))
        kernel = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)))
        stride = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
        padding = (data.draw(st.integers(0, kernel[0] // 2)), data.draw(st.integers(0, kernel[1] // 2)))
        dilation = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
        ceil_mode = data.draw(st.booleans())
        shape = (*data.draw(st.sampled_from([(1,), (2,), ()])), data.draw(st.integers(1, 5)),
                 data.draw(st.integers(1, 9)), data.draw(st.integers(1, 9)))
        try:
            F.max_pool2d(torch.zeros(shape), kernel, stride, padding, dilation, ceil_mode)
        except RuntimeError:
            return  # a window bigger than the padded input: PyTorch refuses it, and so do we (test_api)
        layout = data.draw(st.sampled_from(LAYOUTS if len(shape) == 4 else ["contiguous", "strided"]))
        x = arrange(data.draw(tensors(shape, dtype, subnormals=not interpreted_low_precision(backend, dtype))), layout)
        y_shape = F.max_pool2d(torch.zeros(shape), kernel, stride, padding, dilation, ceil_mode).shape
        g = grad_like(data.draw, torch.empty(y_shape, dtype=dtype))
        check_max_pool2d(backend, x, (kernel, stride, padding, dilation), ceil_mode, g)

    check()


# ---------------------------------------------------------------- add+ReLU

@pytest.mark.parametrize("backend", BACKENDS)
def test_add_relu(backend):
    @settings(max_examples=EXAMPLES[backend], **SETTINGS)
    @given(data=st.data())
    def check(data):
        dtype = data.draw(st.sampled_from(DTYPES[backend]))
        shape = tuple(data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
        how = data.draw(st.sampled_from(["same", "broadcast", "promoted", "number"]))
        layout = data.draw(st.sampled_from(LAYOUTS if len(shape) == 4 else ["contiguous", "strided", "transposed"]
                                           if len(shape) >= 2 else ["contiguous", "strided"]))
        rounding = interpreted_low_precision(backend, dtype)
        a0 = arrange(data.draw(tensors(shape, dtype, subnormals=not rounding)), layout)
        if how == "number":
            b0 = data.draw(st.sampled_from([0.5, -1.0, 0, 2]))
        else:
            b_shape = shape[data.draw(st.integers(0, len(shape))):] if how == "broadcast" else shape
            b_dtype = torch.float32 if how == "promoted" else dtype
            b0 = data.draw(tensors(b_shape, b_dtype, subnormals=not rounding))
            b0 = arrange(b0, data.draw(st.sampled_from(["contiguous", "strided"])))
        inplace = data.draw(st.booleans())
        on_view = inplace and data.draw(st.booleans())
        results = []
        for fn in (lambda a, b: CF.add_relu(a, b, inplace=inplace, backend=backend),
                   lambda a, b: torch.relu_(a.add_(b)) if inplace else torch.relu(a + b)):
            w = torch.ones((), dtype=dtype, requires_grad=True)
            base = torch.cat([a0.detach(), a0.detach()]) * w if on_view else None
            a = base[: a0.shape[0]] if on_view else (a0 * w if inplace else a0.detach().requires_grad_())
            b = b0.detach().clone().requires_grad_() if isinstance(b0, torch.Tensor) else b0
            try:
                y = fn(a, b)
            except RuntimeError as error:  # in place, what PyTorch refuses (promotion to a wider dtype)
                results.append(error)
                continue
            leaves = [w if (inplace or on_view) else a, b]
            results.append((y, grads(y, leaves, torch.ones_like(y))))
        ours, theirs = results
        if isinstance(theirs, RuntimeError):
            assert isinstance(ours, RuntimeError) and str(ours) == str(theirs)
            return
        (y, dys), (ref_y, ref_dys) = ours, theirs
        if rounding and how in ("same", "broadcast"):  # (the fused kernel; the rest is PyTorch's)
            ref64 = torch.relu(a0.double() + (b0.double() if isinstance(b0, torch.Tensor) else b0))
            assert_matches(y, ref64.to(y.dtype).double(), ref_y, "add_relu forward")
        else:
            assert_matches(y, ref_y, ref_y, "add_relu forward", exact=True)
        assert_same_strides(y, ref_y, "add_relu forward")
        for d, ref_d in zip(dys, ref_dys):
            if ref_d is None:
                continue
            assert_matches(d, ref_d, ref_d, "add_relu backward")
            assert_same_strides(d, ref_d, "add_relu backward")

    check()


# ---------------------------------------------------------------- PyTorch's own test inputs

def _op_db():
    try:
        from torch.testing._internal.common_methods_invocations import op_db
    except Exception as error:  # needs expecttest and numpy (the test extra)
        pytest.skip(f"PyTorch's OpInfo database does not import: {error}")
    return {op.name: op for op in op_db}


def _samples(op, dtype, every):
    return list(op.sample_inputs("cpu", dtype, requires_grad=dtype.is_floating_point))[::every]


def _window(kwargs, args=()):
    names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
    values = dict(zip(names, args))
    values.update(kwargs)

    def pair(v):
        return (v, v) if isinstance(v, int) else (v[0], v[-1])

    kernel = pair(values["kernel_size"])
    stride = pair(values.get("stride") or kernel) if values.get("stride") not in (None, (), []) else kernel
    return (kernel, stride, pair(values.get("padding", 0)), pair(values.get("dilation", 1))), values.get(
        "ceil_mode", False)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["nn.functional.max_pool2d", "max_pool2d_with_indices_backward"])
def test_opinfo_max_pool2d(backend, name):
    op = _op_db()[name]
    for dtype in (torch.float32, torch.bfloat16):
        for sample in _samples(op, dtype, every=1 if backend == "cpu" else 40):
            window, ceil_mode = _window(sample.kwargs, sample.args)
            check_max_pool2d(backend, sample.input, window, ceil_mode)


@pytest.mark.parametrize("backend", BACKENDS)
def test_opinfo_max_pool2d_errors(backend):
    """PyTorch's error inputs: we refuse each, with an error PyTorch's code catches as it catches its own."""
    op = _op_db()["nn.functional.max_pool2d"]
    for error in op.error_inputs("cpu"):
        sample = error.sample_input
        with pytest.raises(error.error_type):
            CF.max_pool2d(sample.input, *sample.args, **sample.kwargs, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_opinfo_local_response_norm(backend):
    op = _op_db()["nn.functional.local_response_norm"]
    for dtype in (torch.float32, torch.float64) if backend == "cpu" else (torch.float32,):
        for sample in _samples(op, dtype, every=1):
            x = sample.input.detach().requires_grad_()
            y = CF.local_response_norm(x, *sample.args, **sample.kwargs, backend=backend)
            ref = F.local_response_norm(x, *sample.args, **sample.kwargs)
            x64 = x.detach().double().requires_grad_()
            y64 = F.local_response_norm(x64, *sample.args, **sample.kwargs)
            assert_matches(y, y64, ref, "lrn forward")
            assert_same_strides(y, ref, "lrn forward")
            g = torch.randn(y.shape, dtype=torch.float64)
            (dx,), (ref_dx,), (dx64,) = grads(y, [x], g.to(dtype)), grads(ref, [x], g.to(dtype)), grads(y64, [x64], g)
            assert_matches(dx, dx64, ref_dx, "lrn backward")


@pytest.mark.parametrize("backend", BACKENDS)
def test_opinfo_add_and_relu(backend):
    """add's samples (every dtype torch.add takes, broadcasting, 0-dim; those with alpha= are add's
    alone) and relu's, through add_relu: the same result, dtype, layout and error as relu(input + other)."""
    ops = _op_db()
    dtypes = [torch.float32, torch.float16, torch.int64, torch.uint8, torch.bool, torch.complex64]
    for name in ("add", "nn.functional.relu"):
        for dtype in dtypes if backend == "cpu" else dtypes[:2]:
            for sample in _samples(ops[name], dtype, every=1):
                if sample.kwargs:
                    continue
                a = sample.input.detach()
                b = sample.args[0] if sample.args else torch.zeros_like(a)
                b = b.detach() if isinstance(b, torch.Tensor) else b
                try:
                    expected = torch.relu(a + b)
                except RuntimeError as error:
                    with pytest.raises(type(error)):
                        CF.add_relu(a, b, backend=backend)
                    continue
                ours = CF.add_relu(a, b, backend=backend)
                assert ours.dtype == expected.dtype and torch.equal(ours, expected)
                assert_same_strides(ours, expected, f"add_relu on {name}'s sample")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["nn.MaxPool2d", "nn.LocalResponseNorm"])
def test_moduleinfo(backend, name):
    try:
        from torch.testing._internal.common_modules import module_db
    except Exception as error:
        pytest.skip(f"PyTorch's ModuleInfo database does not import: {error}")
    info = next(m for m in module_db if m.name == name)
    ours_cls = {"nn.MaxPool2d": cnn.MaxPool2d, "nn.LocalResponseNorm": cnn.LocalResponseNorm}[name]
    theirs_cls = {"nn.MaxPool2d": torch.nn.MaxPool2d, "nn.LocalResponseNorm": torch.nn.LocalResponseNorm}[name]
    for module_input in info.module_inputs_func(info, device="cpu", dtype=torch.float32, requires_grad=True,
                                                training=True):
        if module_input.forward_input is None:
            continue
        args, kwargs = module_input.constructor_input.args, module_input.constructor_input.kwargs
        ours, theirs = ours_cls(*args, **kwargs, backend=backend), theirs_cls(*args, **kwargs)
        assert repr(ours_cls(*args, **kwargs)) == repr(theirs)
        x = module_input.forward_input.args[0].detach().requires_grad_()
        out, expected = ours(x), theirs(x)
        out, expected = (out, expected) if isinstance(out, tuple) else ((out,), (expected,))
        for o, e in zip(out, expected):
            torch.testing.assert_close(o, e)
            assert_same_strides(o, e, f"{name} output")
        (dx,), (ref_dx,) = grads(out[0], [x], torch.ones_like(out[0])), grads(expected[0], [x], torch.ones_like(
            expected[0]))
        torch.testing.assert_close(dx, ref_dx)
