"""The benchmark's cuDNN provider: it says what it can run without a GPU, and on a GPU it computes PyTorch's
LRN and max-pool, forward and backward, in both layouts."""
import pytest
import torch
import torch.nn.functional as F
from conftest import check_accuracy

from benchmarks import cudnn, kernels, providers
from benchmarks.shapes import ALEXNET_LRN, CASES, Case, pool

CPU = torch.device("cpu")
DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64]


def test_unavailable_reason_is_a_string_and_never_raises(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert isinstance(cudnn.unavailable_reason(), str)

    def missing_library():
        raise OSError("libcudnn.so.9: cannot open shared object file")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(cudnn, "_handle", missing_library)
    assert "libcudnn.so.9" in cudnn.unavailable_reason()
    assert "cudnn" not in providers.available(torch.device("cuda"), include_compile=False)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.shape_name)
def test_supports_answers_every_benchmark_case(case):
    """LRN and max-pool at float32/16/bf16 (GoogLeNet's ceil_mode pool has floor mode's output); no add+ReLU."""
    for dtype in DTYPES:
        expected = case.op != "add_relu" and dtype != torch.float64
        assert cudnn.supports(case.op, case.params, case.chw, dtype) == expected, dtype
        assert providers.supports("cudnn", case, dtype, CPU) is False


def test_supports_turns_down_what_cudnn_computes_differently():
    lrn = dict(ALEXNET_LRN)
    assert cudnn.supports("lrn", lrn, (8, 4, 4), torch.float32)
    assert not cudnn.supports("lrn", {**lrn, "size": 4}, (8, 4, 4), torch.float32)  # window off by one channel
    assert not cudnn.supports("lrn", {**lrn, "size": 17}, (32, 4, 4), torch.float32)  # over CUDNN_LRN_MAX_N
    assert not cudnn.supports("max_pool2d", {**pool(3, 2), "dilation": 2}, (8, 13, 13), torch.float32)


@pytest.mark.parametrize("kernel", [1, 2, 3, 4])
def test_supports_ceil_mode_exactly_where_pytorch_gives_floor_modes_output(kernel):
    for stride in (1, 2, 3):
        for padding in range(kernel // 2 + 1):
            for size in range(max(1, kernel - 2 * padding), 12):
                x = torch.zeros(1, 1, size, size)
                shapes = [F.max_pool2d(x, kernel, stride, padding, ceil_mode=c).shape for c in (False, True)]
                params = pool(kernel, stride, padding, True)
                assert cudnn.supports("max_pool2d", params, (1, size, size), torch.float32) == (shapes[0] == shapes[1])


def _cuda_or_skip():
    if not torch.cuda.is_available():
        pytest.skip("no GPU visible")
    if cudnn.unavailable_reason():
        pytest.skip(cudnn.unavailable_reason())
    return torch.device("cuda")


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("case", [Case("lrn", "lrn", (16, 7, 9), ALEXNET_LRN),
                                  Case("max_pool2d", "pool", (8, 11, 13), pool(3, 2, 1))], ids=lambda c: c.op)
def test_cudnn_provider_matches_pytorch(case, layout):
    """Forward: max-pool exactly PyTorch's, LRN within 1e-5 of float64; gradients within 1e-5 of float64."""
    device = _cuda_or_skip()
    fn = providers.available(device, include_compile=False)["cudnn"](case)
    reference = providers.available(device, include_compile=False)["torch-eager"](case)
    assert providers.supports("cudnn", case, torch.float32, device)
    [x] = kernels.make_inputs(case, 2, torch.float32, layout, device)
    x.requires_grad_()
    y = fn(x)
    assert y.is_contiguous(memory_format=torch.channels_last if layout == "nhwc" else torch.contiguous_format)
    x64 = x.detach().double().requires_grad_()
    y64 = reference(x64)
    if case.op == "max_pool2d":
        assert torch.equal(y, reference(x))
    check_accuracy(y, y64)
    dy = torch.randn_like(y)
    [dx] = torch.autograd.grad(y, x, dy)
    [dx64] = torch.autograd.grad(y64, x64, dy.double())
    check_accuracy(dx, dx64, what="gradient")


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_cudnn_max_pool_propagates_nan_like_pytorch(layout):
    device = _cuda_or_skip()
    case = Case("max_pool2d", "pool", (4, 9, 9), pool(3, 2))
    [x] = kernels.make_inputs(case, 1, torch.float32, layout, device)
    x[0, 1, 4, 4] = float("nan")
    ours, theirs = (providers.available(device, include_compile=False)[p](case)(x) for p in ("cudnn", "torch-eager"))
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0, equal_nan=True)
