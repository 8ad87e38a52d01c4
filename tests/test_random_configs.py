"""Randomized configurations (hypothesis) of every op on the C++ CPU kernels, against PyTorch."""
import pytest
import torch
import torch.nn.functional as F

import cnnkernels.nn.functional as CF
import test_lrn as lrn_tests
import test_max_pool2d as pool_tests
from conftest import LAYOUTS, has_empty_window, random_input

hypothesis = pytest.importorskip("hypothesis")  # optional: a GPU machine without it runs the rest
from hypothesis import given, settings, strategies as st  # noqa: E402

pytestmark = pytest.mark.skipif(
    __import__("cnnkernels").backends.unavailable_reason("cpu") is not None, reason="extension not built"
)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 3), c=st.integers(1, 20), h=st.integers(1, 7), w=st.integers(1, 7),
    size=st.integers(1, 9), alpha=st.floats(1e-4, 2.0), beta=st.sampled_from([0.75, 0.5, 1.0, 0.3]),
    k=st.floats(0.5, 3.0), layout=st.sampled_from(LAYOUTS),
)
def test_lrn(n, c, h, w, size, alpha, beta, k, layout):
    lrn_tests.run_case("cpu", "cpu", (n, c, h, w), size, alpha, beta, k, torch.float32, layout)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 2), c=st.integers(1, 4), h=st.integers(1, 12), w=st.integers(1, 12),
    kh=st.integers(1, 5), kw=st.integers(1, 5), sh=st.integers(1, 3), sw=st.integers(1, 3),
    dh=st.integers(1, 2), dw=st.integers(1, 2), ceil=st.booleans(), data=st.data(),
    layout=st.sampled_from(LAYOUTS),
)
def test_max_pool2d(n, c, h, w, kh, kw, sh, sw, dh, dw, ceil, data, layout):
    ph = data.draw(st.integers(0, kh // 2))
    pw = data.draw(st.integers(0, kw // 2))
    cfg = ((kh, kw), (sh, sw), (ph, pw), (dh, dw), ceil)
    try:
        F.max_pool2d(torch.zeros(1, 1, h, w), *cfg)
    except RuntimeError:
        return  # PyTorch rejects it too (window bigger than the padded input): tested in test_errors
    # (A window wholly in the padding: PyTorch's index for it points outside it; conftest.has_empty_window.)
    if has_empty_window(h, kh, sh, ph, dh, ceil) or has_empty_window(w, kw, sw, pw, dw, ceil):
        return
    pool_tests.run_case("cpu", "cpu", (n, c, h, w), cfg, torch.float32, layout)


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 9), min_size=1, max_size=5),
       dtype=st.sampled_from([torch.float32, torch.bfloat16]))
def test_add_relu(shape, dtype):
    a, b = random_input(shape, dtype, "cpu"), random_input(shape, dtype, "cpu")
    assert torch.equal(CF.add_relu(a, b, backend="cpu"), torch.relu(a + b))
