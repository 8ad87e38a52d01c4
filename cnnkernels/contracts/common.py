"""What every op's contract shares: the dtype and same-operand checks with their messages, and the
layout helpers. The C++ operators check the same rules with the same words (csrc/prepare/common.h)."""
import torch

from ..errors import ArgumentError

FLOATING = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
GPU_FLOATING = (torch.float32, torch.float16, torch.bfloat16)  # the CUDA and Triton kernels: no float64


def check_tensor(t, op, name):
    """t is a tensor of a dtype the C++ CPU kernels take."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{op}: expected {name} to be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in FLOATING:
        raise ArgumentError(f"{op}: expected {name} to be float32, float64, float16 or bfloat16, got {t.dtype}")


def check_gpu_dtype(t, op, kernels):
    """The CUDA and Triton kernels (`kernels`) take no float64."""
    if t.dtype not in GPU_FLOATING:
        raise ArgumentError(f'{op}: the {kernels} kernels take float32, float16 or bfloat16, got {t.dtype} (use '
                            'backend="torch" for float64 on the GPU)')


def check_same(a, b, op, name_a, name_b):
    """a and b have the same shape, dtype and device."""
    if a.shape != b.shape:
        raise ArgumentError(f"{op}: expected {name_a} and {name_b} to have the same shape, got {tuple(a.shape)} and "
                            f"{tuple(b.shape)}")
    if a.dtype != b.dtype:
        raise ArgumentError(f"{op}: expected {name_a} and {name_b} to have the same dtype, got {a.dtype} and "
                            f"{b.dtype}")
    if a.device != b.device:
        raise ArgumentError(f"{op}: expected {name_a} and {name_b} on the same device, got {a.device} and "
                            f"{b.device}")


def same_layout(a, b):
    """Whether a and b lay out their elements alike: the same sizes, and the same strides wherever a size
    is more than 1 (the stride of a dimension of size 1 is never used)."""
    return a.shape == b.shape and all(n <= 1 or sa == sb for n, sa, sb in zip(a.shape, a.stride(), b.stride()))


def in_layout_of(t, like):
    """t in the layout of `like` (a non-overlapping, dense tensor of t's shape): t itself when it has it,
    else a copy."""
    return t if same_layout(t, like) else torch.empty_like(like).copy_(t)


def is_dense(t):
    """Non-overlapping and dense: its elements fill numel() consecutive places in memory (PyTorch's
    is_non_overlapping_and_dense)."""
    expected = 1
    for size, stride in sorted(((n, s) for n, s in zip(t.shape, t.stride()) if n != 1), key=lambda d: d[1]):
        if size == 0:
            return True
        if stride != expected:
            return False
        expected *= size
    return True
