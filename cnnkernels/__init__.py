"""cnnkernels: fused kernels for the building blocks of the classic CNNs, as torch.library operators."""
from . import ops  # noqa: F401  (registers fake tensors and autograd for the operators)
from . import triton  # noqa: F401  (registers the Triton operators, if Triton is installed)
from . import nn  # noqa: F401

__version__ = "0.1.0"
