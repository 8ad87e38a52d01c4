"""Drop-in modules. LocalResponseNorm and MaxPool2d subclass torch's, so they keep their attributes,
state_dict and isinstance checks; only forward changes."""
import torch

from . import functional as F
from ..backends import check_name

__all__ = ["LocalResponseNorm", "MaxPool2d", "AddReLU"]


class _WithBackend:
    def _set_backend(self, backend):
        check_name(backend)
        self.backend = backend

    def _backend_repr(self):
        return "" if self.backend == "auto" else f", backend={self.backend!r}"


class LocalResponseNorm(_WithBackend, torch.nn.LocalResponseNorm):
    """torch.nn.LocalResponseNorm on cnnkernels' kernels (alpha is divided by size, as in PyTorch)."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0, *, backend="auto"):
        super().__init__(size, alpha, beta, k)
        self._set_backend(backend)

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k, backend=self.backend)

    def extra_repr(self):
        return super().extra_repr() + self._backend_repr()


class MaxPool2d(_WithBackend, torch.nn.MaxPool2d):
    """torch.nn.MaxPool2d on cnnkernels' kernels: a one-byte argmax per output kept for backward."""

    def __init__(
        self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False, *, backend="auto"
    ):
        super().__init__(kernel_size, stride, padding, dilation, return_indices, ceil_mode)
        self._set_backend(backend)

    def forward(self, input):
        return F.max_pool2d(
            input, self.kernel_size, self.stride, self.padding, self.dilation,
            ceil_mode=self.ceil_mode, return_indices=self.return_indices, backend=self.backend,
        )

    def extra_repr(self):
        return super().extra_repr() + self._backend_repr()


class AddReLU(_WithBackend, torch.nn.Module):
    """relu(input + residual): the residual connection of ResNet's blocks. forward(input, residual)."""

    def __init__(self, inplace=False, *, backend="auto"):
        super().__init__()
        self.inplace = inplace
        self._set_backend(backend)

    def forward(self, input, residual):
        return F.add_relu(input, residual, inplace=self.inplace, backend=self.backend)

    def extra_repr(self):
        return ("inplace=True" if self.inplace else "") + self._backend_repr().lstrip(", ")
