"""The operators: loads the compiled extension cnnkernels._C (every schema, the CPU and CUDA kernels
and their autograd live in csrc/), says what it was built with, and names each backend's operators
(OpSet). Each op's rules (checks, fake tensors, the Triton op set's autograd) are in contracts/.

If the extension is missing, importing still works: cnnkernels.nn falls back to PyTorch's ops.
"""
import dataclasses
import warnings
from collections.abc import Callable

import torch

try:
    from . import _C
except ImportError as error:  # not built, or built against another torch
    _C = None
    EXTENSION_ERROR = f"{type(error).__name__}: {error}"
    _other_torch = any(s in str(error) for s in ("undefined symbol", "cannot open shared object", "libc10"))
    warnings.warn(
        f"cnnkernels: the compiled extension cnnkernels._C could not be loaded ({EXTENSION_ERROR}); "
        + (f"it was built against another torch than this one ({torch.__version__}). " if _other_torch else "")
        + "cnnkernels.nn falls back to PyTorch's own ops. Rebuild it against this torch: `pip install .` "
        "(or `pip install --no-build-isolation -e .` in a source tree; see README).",
        stacklevel=2,
    )
else:
    EXTENSION_ERROR = None


def _read_build_info():
    if _C is None:
        return None
    info = _C.build_info()
    return {
        "cuda": info["cuda"],
        "cuda_archs": [a for a in info["cuda_archs"].split(",") if a],
        "cpu_arch": info["cpu_arch"].replace("_", "-"),
    }


# What the compiled extension contains: {"cuda": bool, "cuda_archs": ["sm_90", ...], "cpu_arch": "x86-64-v3"};
# None if not loaded. Read once here: torch.compile cannot trace into the extension's C function.
BUILD_INFO = _read_build_info()


@dataclasses.dataclass(frozen=True)
class OpSet:
    """One backend's operators (torch.ops.cnnkernels.<name>, schemas in csrc/ops.cpp), and
    add_relu_inplace: add_relu_ with autograd, which is add_relu_ itself where autograd is registered
    for it (the C++ op set) and a torch.autograd.Function around it otherwise (the Triton op set)."""

    lrn_forward: torch._ops.OpOverload
    lrn_backward: torch._ops.OpOverload
    max_pool2d_forward: torch._ops.OpOverload
    max_pool2d_backward: torch._ops.OpOverload
    add_relu: torch._ops.OpOverload
    add_relu_: torch._ops.OpOverload
    add_relu_backward: torch._ops.OpOverload
    add_relu_inplace: Callable = None

    def __post_init__(self):
        if self.add_relu_inplace is None:
            object.__setattr__(self, "add_relu_inplace", self.add_relu_)

    @classmethod
    def named(cls, suffix=""):
        """The op set whose names end in `suffix`, which goes before an in-place op's trailing
        underscore (add_relu_ -> add_relu_triton_)."""
        ops = {}
        for field in dataclasses.fields(cls):
            if field.name == "add_relu_inplace":
                continue
            base, inplace = (field.name[:-1], "_") if field.name.endswith("_") else (field.name, "")
            ops[field.name] = getattr(torch.ops.cnnkernels, base + suffix + inplace).default
        return cls(**ops)


# backend name -> its OpSet; the C++ one serves both "cpu" and "cuda" (the dispatcher picks the kernel).
# cnnkernels.triton adds "triton".
OPS = {}
if _C is not None:
    OPS["cpu"] = OPS["cuda"] = OpSet.named()
