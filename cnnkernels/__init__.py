"""cnnkernels: fused kernels for the building blocks of the classic CNNs, as torch.library operators."""
from .errors import ArgumentError
from . import ops  # noqa: F401  (loads the operators)
from . import contracts  # noqa: F401  (registers their fake tensors)
from . import triton  # noqa: F401  (registers the Triton operators, if Triton is installed)
from . import nn  # noqa: F401

__version__ = "0.1.0"
__all__ = ["ArgumentError"]
