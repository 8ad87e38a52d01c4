"""Which implementation runs an op.

  "auto"    the enclosing use_backend() choice if any, else the fastest built backend for the
            tensors' device: CUDA kernels, then Triton, for CUDA tensors; the C++ kernels for CPU
            tensors; PyTorch's own ops otherwise
  "cpu"     cnnkernels' C++ kernels (CPU tensors)
  "cuda"    cnnkernels' CUDA kernels (CUDA tensors)
  "triton"  cnnkernels' Triton kernels (CUDA tensors; CPU tensors under TRITON_INTERPRET=1)
  "torch"   PyTorch's own ops: the reference every other backend must match
"""
import contextlib

import torch

from . import ops
from .errors import ArgumentError
from . import triton as triton_backend

BACKENDS = ("auto", "cpu", "cuda", "triton", "torch")
_BUILD_HINT = "reinstall from the source tree with `pip install --no-build-isolation -e .` (see README)"

# A plain module global, not a ContextVar: torch.compile traces reads of it without a graph break.
_default = "auto"


def check_name(name):
    if name not in BACKENDS:
        raise ArgumentError(f"cnnkernels: unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")


@contextlib.contextmanager
def use_backend(name):
    """Runs every cnnkernels op called with backend="auto" (the default) on `name`, e.g. a whole model:

        with cnnkernels.nn.use_backend("torch"):
            reference = model(x)
    """
    global _default
    check_name(name)
    previous, _default = _default, name
    try:
        yield
    finally:
        _default = previous


def unavailable_reason(name):
    """Why backend `name` cannot run here, or None if it can."""
    check_name(name)
    if name in ("auto", "torch"):
        return None
    if name == "triton":
        return _TRITON_REASON
    if ops.BUILD_INFO is None:
        return f"the compiled extension cnnkernels._C is not loaded ({ops.EXTENSION_ERROR}); {_BUILD_HINT}"
    if name == "cuda" and not ops.BUILD_INFO["cuda"]:
        return (
            "cnnkernels was built without its CUDA kernels; on a machine with nvcc and a CUDA build of "
            f"torch, {_BUILD_HINT} (FORCE_CUDA=1 forces the CUDA build)"
        )
    if name == "cuda" and not _GPU_VISIBLE:
        return "the CUDA kernels are built, but no GPU is visible (torch.cuda.is_available() is False)"
    return None


def available():
    """The backends that can run here (besides "auto")."""
    return [name for name in BACKENDS[1:] if unavailable_reason(name) is None]


# Read once: torch.compile traces resolve().
_TRITON_REASON = triton_backend.unavailable_reason()
_GPU_VISIBLE = torch.cuda.is_available()
_DEVICES = {"cpu": ("cpu",), "cuda": ("cuda",), "triton": ("cpu",) if triton_backend.INTERPRETER else ("cuda",)}


def device_types(name):
    """The device types whose tensors cnnkernels' backend `name` runs on (Triton on the CPU only under its
    interpreter); none for "auto" and "torch", which pick or run anything."""
    check_name(name)
    return _DEVICES.get(name, ())


def resolve(requested, device, dtype=None):
    """The backend that runs an op asked for with backend=`requested` on tensors on `device` (of `dtype`:
    "auto" leaves float64 on the GPU, which the CUDA and Triton kernels do not take, to PyTorch)."""
    check_name(requested)
    name = _default if requested == "auto" else requested
    if name == "auto":
        preferred = {"cuda": ("cuda", "triton") if dtype != torch.float64 else (), "cpu": ("cpu",)}.get(device.type, ())
        return next((b for b in preferred if unavailable_reason(b) is None), "torch")
    reason = unavailable_reason(name)
    if reason is not None:
        raise RuntimeError(f"cnnkernels: backend {name!r} is not available: {reason}")
    if name != "torch" and device.type not in device_types(name):
        raise RuntimeError(
            f"cnnkernels: backend {name!r} runs on {' or '.join(_DEVICES[name])} tensors, got tensors on {device}"
        )
    return name
