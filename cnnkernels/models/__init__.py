"""The classic CNNs built from cnnkernels.nn, torchvision style. Each builder takes backend= (passed to
every cnnkernels module; "torch" gives the same network on PyTorch's own ops) and weights= (a path
to a saved state_dict, or the dict: nothing is downloaded)."""
from .alexnet import AlexNet, alexnet
from .googlenet import GoogLeNet, GoogLeNetOutputs, googlenet
from .preact_resnet import PreActResNet, preact_resnet
from .resnet import ResNet, resnet18, resnet34, resnet50, resnet101, resnet152
from .vgg import VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn

_BUILDERS = {
    f.__name__: f
    for f in (alexnet, googlenet, resnet18, resnet34, resnet50, resnet101, resnet152, preact_resnet,
              vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn)
}

__all__ = ["AlexNet", "GoogLeNet", "GoogLeNetOutputs", "PreActResNet", "ResNet", "VGG", "list_models", "get_model",
           *_BUILDERS]


def list_models():
    """The names get_model() takes."""
    return sorted(_BUILDERS)


def get_model(name, **kwargs):
    """Builds model `name` (see list_models()) with the builder's keyword arguments."""
    if name not in _BUILDERS:
        raise ValueError(f"cnnkernels.models: unknown model {name!r}; expected one of {', '.join(list_models())}")
    return _BUILDERS[name](**kwargs)
