"""Shared test machinery: which (backend, device) pairs run here, layouts, poisoned allocations, and
the accuracy rule (fp32/fp64 against a float64 reference; fp16/bf16 no worse than twice PyTorch's own
error at that dtype)."""
import pytest
import torch

from cnnkernels import backends
from cnnkernels import triton as triton_backend
from cnnkernels.contracts.max_pool2d import output_size as pool_output_size

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
LAYOUTS = ["contiguous", "channels_last", "strided"]


def _backend_param(backend, device):
    reasons = []
    if backends.unavailable_reason(backend):
        reasons.append(backends.unavailable_reason(backend))
    if device == "cuda" and not torch.cuda.is_available():
        reasons.append("no GPU visible")
    if backend == "triton" and device == "cpu" and not triton_backend.INTERPRETER:
        reasons.append("TRITON_INTERPRET=1 is not set")
    marks = [pytest.mark.skip(reason="; ".join(reasons))] if reasons else []
    return pytest.param((backend, device), id=backend, marks=marks)


# Every kernel backend of cnnkernels with the device it runs on; "torch" is the reference, not a subject.
# Triton runs on the GPU, or on the CPU under TRITON_INTERPRET=1 (tests/run.sh does both runs).
BACKEND_DEVICES = [
    _backend_param("cpu", "cpu"),
    _backend_param("cuda", "cuda"),
    _backend_param("triton", "cpu" if triton_backend.INTERPRETER else "cuda"),
]


@pytest.fixture(params=BACKEND_DEVICES)
def backend_device(request):
    return request.param


def dtypes_for(backend):
    """float64 is the C++ CPU kernels' alone. Under Triton's interpreter (CI, without a GPU: each program
    run in Python) fp16 is left out: its kernels are bf16's but for the conversions, which the
    interpreter does not reproduce anyway (it truncates); on a GPU every dtype runs."""
    if backend == "cpu":
        return DTYPES
    if backend == "triton" and triton_backend.INTERPRETER:
        return [torch.float32, torch.bfloat16]
    return [torch.float32, torch.float16, torch.bfloat16]


@pytest.fixture(autouse=True)
def poisoned_allocations():
    """torch.empty fills new tensors with NaN: a kernel that leaves an output element unwritten fails."""
    import torch.utils.deterministic as det

    previous = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
                det.fill_uninitialized_memory)
    torch.use_deterministic_algorithms(True, warn_only=True)
    det.fill_uninitialized_memory = True
    yield
    torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
    det.fill_uninitialized_memory = previous[2]


def make_layout(t, layout):
    """The same values in another memory layout: NCHW, channels_last, or non-contiguous strides."""
    if layout == "contiguous":
        return t.contiguous()
    if layout == "channels_last":
        return t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t.contiguous()
    if layout == "strided":  # every other element of a twice-as-wide buffer
        wide = torch.empty(*t.shape[:-1], 2 * t.shape[-1], dtype=t.dtype, device=t.device)
        view = wide[..., ::2]
        view.copy_(t)
        assert not view.is_contiguous() or t.numel() <= 1
        return view
    raise ValueError(layout)


def random_input(shape, dtype, device, scale=2.0):
    """Fresh random values (never zeros), exactly representable in dtype."""
    x = torch.randn(shape, dtype=torch.float64) * scale
    return x.to(dtype).to(device)


def check_accuracy(ours, reference64, torch_lowp=None, what="output", terms=None):
    """fp32 (fp64): each element within 1e-5 (1e-12) of the float64 reference, relative to itself with a
    floor of 1% of the largest value (or of `terms`, the size of the terms that were summed, where
    the whole result can cancel: a one-element gradient) for results that cancel to ~0. fp16/bf16: the
    largest error at most twice PyTorch's own (torch_lowp: PyTorch's result at that dtype) plus one
    ulp of the largest value."""
    assert ours.shape == reference64.shape, f"{what}: shape {tuple(ours.shape)} != {tuple(reference64.shape)}"
    assert not torch.isnan(ours).any() or torch.isnan(reference64).any(), f"{what}: NaN in the result"
    ours64, ref = ours.detach().double().cpu(), reference64.detach().double().cpu()
    finite = torch.isfinite(ref)
    assert torch.equal(torch.isnan(ours64), torch.isnan(ref)), f"{what}: NaNs differ from the reference"
    scale = ref[finite].abs().max().item() if finite.any() else 0.0
    err = (ours64 - ref)[finite].abs().max().item() if finite.any() else 0.0
    if ours.dtype in (torch.float32, torch.float64):
        rtol = 1e-5 if ours.dtype == torch.float32 else 1e-12
        # relative to each element, with a floor of rtol * 1e-2 of the largest one for values that cancel to ~0
        bound = rtol * (ref.abs() + 1e-2 * max(scale, terms or 0.0))
        worst = ((ours64 - ref).abs() - bound)[finite]
        assert worst.numel() == 0 or worst.max().item() <= 0, (
            f"{what}: max error {err:.3g} exceeds rtol {rtol} (largest |ref| {scale:.3g})"
        )
        return
    torch_err = (torch_lowp.detach().double().cpu() - ref)[finite].abs().max().item() if finite.any() else 0.0
    ulp = torch.finfo(ours.dtype).eps * scale
    assert err <= 2 * torch_err + ulp, (
        f"{what}: {ours.dtype} error {err:.3g} is more than twice PyTorch's {torch_err:.3g} (+1 ulp {ulp:.3g})"
    )


def add_relu_mask_of(output):
    """The bit mask add+ReLU's training forward writes (csrc/add_relu.h), from its output: bit j of
    byte k set where element 8k + j, in memory order, passes the gradient (y > 0 or NaN)."""
    y = output.detach().cpu()
    flat = y.flatten() if y.is_contiguous() else y.permute(0, 2, 3, 1).flatten()  # channels_last: NHWC order
    passes = torch.zeros((flat.numel() + 7) // 8 * 8, dtype=torch.int32)
    passes[:flat.numel()] = (~(flat <= 0)).int()
    return (passes.view(-1, 8) << torch.arange(8)).sum(1).to(torch.uint8)



def has_empty_window(size, kernel, stride, pad, dilation, ceil_mode):
    """Whether some pooling window along a dimension of `size` lies wholly in the padding (possible with
    dilation): its output is -inf in both, but PyTorch's index for it points outside the window and its
    backward credits that element; ours credits nothing."""
    out = pool_output_size(size, kernel, stride, pad, dilation, ceil_mode)
    return any(all(not 0 <= o * stride - pad + t * dilation < size for t in range(kernel)) for o in range(out))


def significant_strides(t):
    """t's strides where its size is more than 1: what lays its elements out (PyTorch's own tests
    compare these: the stride of a dimension of size 1 is never used)."""
    return tuple(s for s, n in zip(t.stride(), t.shape) if n > 1)


def assert_same_layout(ours, theirs, what="output"):
    assert ours.shape == theirs.shape, f"{what}: shape {tuple(ours.shape)} != {tuple(theirs.shape)}"
    assert significant_strides(ours) == significant_strides(theirs), (
        f"{what}: strides {ours.stride()} where PyTorch's are {theirs.stride()} (shape {tuple(ours.shape)})"
    )
