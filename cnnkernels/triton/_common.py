"""What the Triton launchers share: the layout rule of the C++ kernels and argument checks."""
import torch

from ..ops import compute_format  # noqa: F401  (re-exported for the launchers)

TRITON_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def check_dtype(t, op, name="input"):
    if t.dtype not in TRITON_DTYPES:
        raise ValueError(f"{op}: the Triton kernels take float32, float16 or bfloat16 {name}, got {t.dtype}")


def in_compute_format(t):
    """t in the layout the kernels compute in (compute_format), and whether that is channels_last."""
    fmt = compute_format(t)
    return t.contiguous(memory_format=fmt), fmt == torch.channels_last
