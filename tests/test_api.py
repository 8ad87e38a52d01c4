"""The public API: drop-in modules, backend choice, clear errors for bad input, the fallback when the
extension is missing, and `python -m cnnkernels`."""
import os
import subprocess
import sys

import pytest
import torch

import cnnkernels
import cnnkernels.nn as cnn
import cnnkernels.nn.functional as CF
from cnnkernels import ArgumentError, backends

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
x4 = torch.randn(2, 3, 8, 8)


# ---------------------------------------------------------------- bad input: (call, error, message)
BAD_INPUTS = [
    (lambda: CF.local_response_norm(x4.long(), 5), ArgumentError,
     "float32, float64, float16 or bfloat16, got torch.int64"),
    (lambda: CF.local_response_norm(torch.randn(3, 4), 5), ArgumentError, "at least 3 dimensions"),
    (lambda: CF.local_response_norm(x4, 0), ArgumentError, "size to be an int >= 1"),
    (lambda: CF.local_response_norm([1.0], 5), TypeError, "torch.Tensor"),
    (lambda: CF.max_pool2d(torch.randn(8, 8), 3), ArgumentError, r"3-D \(C, H, W\) or 4-D"),
    (lambda: CF.max_pool2d(torch.randn(1, 2, 3, 4, 5), 3), ArgumentError, r"3-D \(C, H, W\) or 4-D"),
    (lambda: CF.max_pool2d(x4, 0), ArgumentError, "kernel_size >= 1"),
    (lambda: CF.max_pool2d(x4, 3, 0), ArgumentError, "stride >= 1"),
    (lambda: CF.max_pool2d(x4, 3, 1, 0, 0), ArgumentError, "dilation >= 1"),
    (lambda: CF.max_pool2d(x4, 3, 2, 2), ArgumentError, "padding between 0 and half the kernel size"),
    (lambda: CF.max_pool2d(x4, 3, 2, -1), ArgumentError, "padding between 0 and half the kernel size"),
    (lambda: CF.max_pool2d(x4, 9), ArgumentError, "bigger than the padded input"),
    (lambda: CF.max_pool2d(x4, (3, 3, 3)), ArgumentError, "an int or a pair of ints"),
    (lambda: CF.max_pool2d(torch.randn(2, 0, 8, 8), 3), ArgumentError, "non-empty channel and spatial"),
    (lambda: CF.add_relu(x4, torch.randn(5)), RuntimeError, "must match the size"),  # PyTorch's own error
    (lambda: CF.add_relu([1.0], x4), TypeError, "torch.Tensor"),
    (lambda: CF.add_relu(x4, x4, backend="nope"), ArgumentError, "unknown backend 'nope'"),
    (lambda: CF.max_pool2d(x4, 3, backend="cuda"), RuntimeError, "backend 'cuda'"),
    (lambda: cnn.MaxPool2d(3, backend="gpu"), ArgumentError, "unknown backend 'gpu'"),
]


@pytest.mark.parametrize("call, error, message", BAD_INPUTS, ids=[str(i) for i in range(len(BAD_INPUTS))])
def test_bad_input_gets_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


OP_BAD_INPUTS = [  # the operators check their own arguments too (they can be called directly)
    (lambda: torch.ops.cnnkernels.lrn_forward(x4.long(), 5, 1e-4, 0.75, 1.0), "float32, float64"),
    (lambda: torch.ops.cnnkernels.lrn_forward(x4, 0, 1e-4, 0.75, 1.0), "size to be an int >= 1"),
    (lambda: torch.ops.cnnkernels.lrn_backward(x4[:1], x4, 5, 1e-4, 0.75, 1.0), "same shape"),
    (lambda: torch.ops.cnnkernels.max_pool2d_forward(x4, [3, 3], [2, 2], [2, 2], [1, 1], False, True), "padding"),
    (lambda: torch.ops.cnnkernels.max_pool2d_forward(x4, [9, 9], [2, 2], [0, 0], [1, 1], False, True), "bigger"),
    (lambda: torch.ops.cnnkernels.max_pool2d_backward(x4, x4.byte()[:1], 9, 9, [3, 3], [2, 2], [0, 0], [1, 1], False),
     "argmax"),
    (lambda: torch.ops.cnnkernels.max_pool2d_backward(x4, x4.int(), 9, 9, [3, 3], [2, 2], [0, 0], [1, 1], False),
     "dtype torch.uint8"),
    (lambda: torch.ops.cnnkernels.add_relu(x4, x4[0], True), "same shape"),
    (lambda: torch.ops.cnnkernels.add_relu_backward(x4, x4.byte().flatten(), x4.stride()), "uint8 mask of 48 bytes"),
    (lambda: torch.ops.cnnkernels.add_relu_backward(x4, torch.zeros(48), x4.stride()), "uint8 mask of 48 bytes"),
    (lambda: torch.ops.cnnkernels.add_relu_backward(x4[0], torch.zeros(24, dtype=torch.uint8), x4.stride()),
     "expected 3 output_strides"),
    (lambda: torch.ops.cnnkernels.add_relu_backward(x4, torch.zeros(48, dtype=torch.uint8), [1, 1, 1, 1]),
     "dense layout"),
    # a grad_output whose size no forward of this geometry gives
    (lambda: torch.ops.cnnkernels.max_pool2d_backward(x4[..., :4, :4], x4[..., :4, :4].byte(), 2, 2, [2, 2], [2, 2],
                                                      [0, 0], [1, 1], False), "not the pooled size"),
    (lambda: (lambda x: torch.ops.cnnkernels.add_relu_(x[1:], x[:-1], False))(torch.arange(1.0, 7.0)),
     "refer to a single memory location"),  # PyTorch's own check, as torch.add_ makes it
]


@pytest.mark.skipif(backends.unavailable_reason("cpu") is not None, reason="extension not built")
@pytest.mark.parametrize("call, message", OP_BAD_INPUTS, ids=[str(i) for i in range(len(OP_BAD_INPUTS))])
def test_operators_check_their_arguments(call, message):
    with pytest.raises((ValueError, RuntimeError), match=message):
        call()


# The same mistake through the Python layer and through an operator called directly (C++, or Triton's
# launchers): (what both get, Python's call, the operator's call with the same arguments). Each rule
# lives once per language; this keeps the two languages' words the same.
def _op_calls(ops):
    lrn, pool = ops.lrn_forward, ops.max_pool2d_forward
    return [
        (x4.long(), lambda x: CF.local_response_norm(x, 5), lambda x: lrn(x, 5, 1e-4, 0.75, 1.0)),
        (torch.randn(3, 4), lambda x: CF.local_response_norm(x, 5), lambda x: lrn(x, 5, 1e-4, 0.75, 1.0)),
        (x4, lambda x: CF.local_response_norm(x, 0), lambda x: lrn(x, 0, 1e-4, 0.75, 1.0)),
        (torch.randn(8, 8), lambda x: CF.max_pool2d(x, 3),
         lambda x: pool(x, [3, 3], [3, 3], [0, 0], [1, 1], False, False)),
        (torch.randn(2, 0, 8, 8), lambda x: CF.max_pool2d(x, 3),
         lambda x: pool(x, [3, 3], [3, 3], [0, 0], [1, 1], False, False)),
        (x4, lambda x: CF.max_pool2d(x, 0), lambda x: pool(x, [0, 0], [0, 0], [0, 0], [1, 1], False, False)),
        (x4, lambda x: CF.max_pool2d(x, 3, 0), lambda x: pool(x, [3, 3], [0, 0], [0, 0], [1, 1], False, False)),
        (x4, lambda x: CF.max_pool2d(x, 3, 1, 0, 0), lambda x: pool(x, [3, 3], [1, 1], [0, 0], [0, 0], False, False)),
        (x4, lambda x: CF.max_pool2d(x, 3, 2, 2), lambda x: pool(x, [3, 3], [2, 2], [2, 2], [1, 1], False, False)),
        (x4, lambda x: CF.max_pool2d(x, 9), lambda x: pool(x, [9, 9], [9, 9], [0, 0], [1, 1], False, False)),
    ]


def _message(call, x):
    with pytest.raises((ValueError, RuntimeError)) as caught:
        call(x)
    return str(caught.value).split(": ", 1)[1]  # without the name of the function or op


@pytest.mark.parametrize("backend", ["cpu", "triton"])
def test_python_and_the_operators_say_the_same(backend):
    if backends.unavailable_reason(backend) or "cpu" not in backends.device_types(backend):
        pytest.skip(f"backend {backend!r} does not run on CPU tensors here")
    for x, python_call, op_call in _op_calls(cnnkernels.ops.OPS[backend]):
        assert _message(python_call, x) == _message(op_call, x)


def test_bad_arguments_raise_one_class_both_pytorch_and_python_code_catch():
    """cnnkernels.ArgumentError is a ValueError and a RuntimeError (as PyTorch raises RuntimeError for a
    bad argument), from the Python layer and from the C++ operators alike."""
    assert issubclass(ArgumentError, ValueError) and issubclass(ArgumentError, RuntimeError)
    calls = [lambda: CF.local_response_norm(x4, 0), lambda: cnn.MaxPool2d(3, backend="gpu")]
    if backends.unavailable_reason("cpu") is None:
        calls += [lambda: torch.ops.cnnkernels.lrn_forward(x4.long(), 5, 1e-4, 0.75, 1.0),
                  lambda: torch.ops.cnnkernels.max_pool2d_forward(x4, [9, 9], [1, 1], [0, 0], [1, 1], False, False)]
    for call in calls:
        for caught_as in (RuntimeError, ValueError, ArgumentError):
            with pytest.raises(caught_as) as caught:
                call()
            assert type(caught.value) is ArgumentError


def test_a_backend_that_cannot_run_says_why():
    missing = [b for b in ("cuda", "triton") if backends.unavailable_reason(b)]
    if not missing:
        pytest.skip("every backend runs here")
    with pytest.raises(RuntimeError, match=f"backend '{missing[-1]}' is not available: .+"):
        CF.local_response_norm(x4, 5, backend=missing[-1])


@pytest.mark.skipif(backends.unavailable_reason("cpu") is not None, reason="extension not built")
def test_a_corrupt_argmax_never_writes_outside_the_gradient():
    """Offsets past the window or into the padding (which our forward never writes) credit nothing."""
    dy = torch.ones(1, 2, 2, 2)
    for layout in (torch.contiguous_format, torch.channels_last):
        for bad in (255, 3):  # past a 2x2 window; and for padding 1, tap 0 of the first window is padding
            argmax = torch.full((1, 2, 2, 2), bad, dtype=torch.uint8).contiguous(memory_format=layout)
            dx = torch.ops.cnnkernels.max_pool2d_backward(dy.contiguous(memory_format=layout), argmax, 3, 3, [2, 2],
                                                          [2, 2], [1, 1], [1, 1], layout == torch.channels_last)
            assert dx.shape == (1, 2, 3, 3) and torch.isfinite(dx).all()


# ---------------------------------------------------------------- modules
def test_modules_are_drop_in():
    for ours, theirs, args in [
        (cnn.LocalResponseNorm(5, 2e-4, 0.75, 2.0), torch.nn.LocalResponseNorm(5, 2e-4, 0.75, 2.0), (x4,)),
        (cnn.MaxPool2d(3, 2, 1, ceil_mode=True), torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True), (x4,)),
        (cnn.MaxPool2d(3, 2, return_indices=True), torch.nn.MaxPool2d(3, 2, return_indices=True), (x4,)),
    ]:
        assert isinstance(ours, type(theirs))
        assert repr(ours) == repr(theirs)
        for a, b in zip(torch.utils._pytree.tree_leaves(ours(*args)), torch.utils._pytree.tree_leaves(theirs(*args))):
            torch.testing.assert_close(a, b)
    add = cnn.AddReLU(inplace=True)
    assert repr(add) == "AddReLU(inplace=True)"
    assert repr(cnn.AddReLU(backend="torch")) == "AddReLU(backend='torch')"
    assert "backend='torch'" in repr(cnn.MaxPool2d(3, backend="torch"))
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    expected = torch.relu(a + b)
    assert add(a, b) is a and torch.equal(a, expected)


# ---------------------------------------------------------------- backends
def test_backend_context_manager_sets_and_restores():
    calls = []
    original = torch.nn.functional.local_response_norm
    try:
        torch.nn.functional.local_response_norm = lambda *a, **k: calls.append("torch") or original(*a, **k)
        model = torch.nn.Sequential(cnn.LocalResponseNorm(5), cnn.LocalResponseNorm(3))
        with cnn.use_backend("torch"):
            with cnn.use_backend("auto"):
                model(x4)
            assert calls == []
            model(x4)
            assert calls == ["torch", "torch"]
        model(x4)
        assert calls == ["torch", "torch"]
        # an explicit backend wins over the context
        with cnn.use_backend("cuda" if backends.unavailable_reason("cuda") is None else "torch"):
            CF.local_response_norm(x4, 5, backend="cpu")
    finally:
        torch.nn.functional.local_response_norm = original
    with pytest.raises(ValueError, match="unknown backend"):
        with cnn.use_backend("fast"):
            pass


def test_auto_picks_the_cpu_kernels_for_cpu_tensors():
    expected = "cpu" if backends.unavailable_reason("cpu") is None else "torch"
    assert backends.resolve("auto", torch.device("cpu")) == expected
    assert backends.resolve("auto", torch.device("meta")) == "torch"
    assert "torch" in backends.available()


def test_every_backend_agrees_with_torch():
    x = torch.randn(2, 6, 7, 7)
    for backend in backends.available():
        if backend in ("cuda",):
            continue  # needs CUDA tensors: the op tests cover it
        torch.testing.assert_close(CF.local_response_norm(x, 5, backend=backend),
                                   CF.local_response_norm(x, 5, backend="torch"))
        torch.testing.assert_close(CF.max_pool2d(x, 3, 2, backend=backend), CF.max_pool2d(x, 3, 2, backend="torch"))


# ---------------------------------------------------------------- install-level behaviour
def run_python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_import_without_the_extension_falls_back_with_one_warning():
    code = """
import sys, warnings
sys.modules["cnnkernels._C"] = None  # makes `from . import _C` fail as if it were not built
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import cnnkernels, cnnkernels.nn.functional as CF
    import torch
    x = torch.randn(2, 6, 5, 5)
    y = CF.local_response_norm(x, 5)
    assert torch.equal(y, torch.nn.functional.local_response_norm(x, 5))
    CF.max_pool2d(x, 3, 2); CF.add_relu(x, x)
ours = [w for w in caught if "cnnkernels" in str(w.message)]
assert len(ours) == 1, [str(w.message) for w in caught]
assert "pip install --no-build-isolation" in str(ours[0].message)
try:
    CF.add_relu(x, x, backend="cpu")
except RuntimeError as e:
    assert "not loaded" in str(e) and "pip install" in str(e), e
else:
    raise AssertionError("backend='cpu' without the extension must fail")
print("ok")
"""
    result = run_python(code)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


def test_main_reports_the_build():
    result = subprocess.run([sys.executable, "-m", "cnnkernels"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"torch           {torch.__version__}" in out
    assert "backend torch   available" in out
    info = cnnkernels.ops.BUILD_INFO
    if info is not None:
        assert "backend cpu     available" in out
        archs = ", ".join(info["cuda_archs"]) if info["cuda_archs"] else "none"
        assert f"CUDA archs      {archs}" in out
