"""What every op's contract shares: the dtype and same-operand checks with their messages, and the
layout the kernels compute in. The C++ operators check the same rules with the same words
(csrc/prepare/common.h)."""
import torch

FLOATING = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
GPU_FLOATING = (torch.float32, torch.float16, torch.bfloat16)  # the CUDA and Triton kernels: no float64


def compute_format(t):
    """The memory format a kernel computes in and writes its output in: channels_last when t is a 4-D
    channels_last tensor, else contiguous (csrc/prepare/common.h, compute_format)."""
    if t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def check_tensor(t, op, name):
    """t is a tensor of a dtype the C++ CPU kernels take."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{op}: expected {name} to be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in FLOATING:
        raise ValueError(f"{op}: expected {name} to be float32, float64, float16 or bfloat16, got {t.dtype}")


def check_gpu_dtype(t, op, kernels):
    """The CUDA and Triton kernels (`kernels`) take no float64."""
    if t.dtype not in GPU_FLOATING:
        raise ValueError(f'{op}: the {kernels} kernels take float32, float16 or bfloat16, got {t.dtype} (use '
                         'backend="torch" for float64 on the GPU)')


def check_same(a, b, op, name_a, name_b):
    """a and b have the same shape, dtype and device."""
    if a.shape != b.shape:
        raise ValueError(f"{op}: expected {name_a} and {name_b} to have the same shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    if a.dtype != b.dtype:
        raise ValueError(f"{op}: expected {name_a} and {name_b} to have the same dtype, got {a.dtype} and {b.dtype}")
    if a.device != b.device:
        raise ValueError(f"{op}: expected {name_a} and {name_b} on the same device, got {a.device} and {b.device}")
