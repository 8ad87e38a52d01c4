"""What the Triton launchers share: the checks every Triton op makes, and the layout the kernels
compute in (contracts/common.py has the rules)."""
import torch

from ..contracts.common import check_gpu_dtype, compute_format


def check_dtype(t, op):
    check_gpu_dtype(t, op, "Triton")


def in_compute_format(t):
    """t in the layout the kernels compute in (compute_format), and whether that is channels_last."""
    fmt = compute_format(t)
    return t.contiguous(memory_format=fmt), fmt == torch.channels_last
