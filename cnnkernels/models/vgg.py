"""VGG ("Very Deep Convolutional Networks for Large-Scale Image Recognition", Simonyan & Zisserman
2014), configurations A, B, D, E (VGG-11/13/16/19), with and without batch-norm, in torchvision's
layout (its state_dicts load) and its 2x2/2 max-pools on cnnkernels.nn.MaxPool2d."""
import torch
from torch import nn

from ..nn import MaxPool2d
from ._weights import load_weights

__all__ = ["VGG", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]

CONFIGS = {  # output channels of each 3x3 convolution; "M" is a 2x2/2 max-pool
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def make_layers(config, batch_norm=False, backend="auto"):
    layers, in_channels = [], 3
    for v in config:
        if v == "M":
            layers.append(MaxPool2d(kernel_size=2, stride=2, backend=backend))
            continue
        layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    def __init__(self, features, num_classes=1000, init_weights=True, dropout=0.5):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def _vgg(config, batch_norm, weights, backend="auto", **kwargs):
    if weights is not None:
        kwargs["init_weights"] = False
    return load_weights(VGG(make_layers(CONFIGS[config], batch_norm, backend), **kwargs), weights)


def vgg11(*, weights=None, **kwargs):
    """VGG-11 (configuration A). weights: a path to a saved state_dict or a state_dict."""
    return _vgg("A", False, weights, **kwargs)


def vgg11_bn(*, weights=None, **kwargs):
    """VGG-11 with batch-norm. weights: a path to a saved state_dict or a state_dict."""
    return _vgg("A", True, weights, **kwargs)


def vgg13(*, weights=None, **kwargs):
    """VGG-13 (configuration B). weights: a path to a saved state_dict or a state_dict."""
    return _vgg("B", False, weights, **kwargs)


def vgg13_bn(*, weights=None, **kwargs):
    """VGG-13 with batch-norm. weights: a path to a saved state_dict or a state_dict."""
    return _vgg("B", True, weights, **kwargs)


def vgg16(*, weights=None, **kwargs):
    """VGG-16 (configuration D). weights: a path to a saved state_dict or a state_dict."""
    return _vgg("D", False, weights, **kwargs)


def vgg16_bn(*, weights=None, **kwargs):
    """VGG-16 with batch-norm. weights: a path to a saved state_dict or a state_dict."""
    return _vgg("D", True, weights, **kwargs)


def vgg19(*, weights=None, **kwargs):
    """VGG-19 (configuration E). weights: a path to a saved state_dict or a state_dict."""
    return _vgg("E", False, weights, **kwargs)


def vgg19_bn(*, weights=None, **kwargs):
    """VGG-19 with batch-norm. weights: a path to a saved state_dict or a state_dict."""
    return _vgg("E", True, weights, **kwargs)
