"""convert(model): puts cnnkernels' kernels into an existing model, keeping its state_dict and outputs."""
from torch import nn

from .modules import AddReLU, LocalResponseNorm, MaxPool2d
from .residual import BasicBlock, Bottleneck

__all__ = ["convert"]

# torchvision's ResNet blocks -> ours: the same attributes, the residual add+ReLU fused.
_RESIDUAL_BLOCKS = {("torchvision.models.resnet", "BasicBlock"): BasicBlock,
                    ("torchvision.models.resnet", "Bottleneck"): Bottleneck}


def convert(model, *, backend="auto"):
    """Swaps, in place and throughout `model`, torch.nn.MaxPool2d and torch.nn.LocalResponseNorm for
    cnnkernels' modules, and makes torchvision's ResNet blocks (BasicBlock, Bottleneck) end in one
    add+ReLU. Parameters, buffers and outputs stay the same. Returns `model`."""
    for module in model.modules():
        ours = _RESIDUAL_BLOCKS.get((type(module).__module__, type(module).__name__))
        if ours is not None:
            module.add_relu = AddReLU(inplace=True, backend=backend)
            module.__class__ = ours  # same attribute names as torchvision's block; forward fuses add+ReLU
        for name, child in module.named_children():
            if type(child) is nn.MaxPool2d:
                setattr(module, name, MaxPool2d(child.kernel_size, child.stride, child.padding, child.dilation,
                                                child.return_indices, child.ceil_mode, backend=backend))
            elif type(child) is nn.LocalResponseNorm:
                setattr(module, name, LocalResponseNorm(child.size, child.alpha, child.beta, child.k, backend=backend))
    return model
