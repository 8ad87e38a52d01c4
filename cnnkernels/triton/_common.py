"""What the Triton launchers share: the dtype check every Triton op makes (the contracts hold the
rest of the rules)."""
from ..contracts.common import check_gpu_dtype


def check_dtype(t, op):
    check_gpu_dtype(t, op, "Triton")
