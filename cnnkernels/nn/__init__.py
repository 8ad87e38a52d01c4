"""cnnkernels.nn: drop-in functional ops and modules for torch.nn, on cnnkernels' kernels."""
from . import functional
from ..backends import use_backend
from .convert import convert
from .modules import AddReLU, LocalResponseNorm, MaxPool2d

__all__ = ["functional", "use_backend", "convert", "LocalResponseNorm", "MaxPool2d", "AddReLU"]
