"""GoogLeNet / Inception v1 ("Going Deeper with Convolutions", Szegedy et al. 2014).

variant="paper": the paper's network: convolutions with biases and ReLU (no batch-norm), Local
Response Normalization after the stem's first max-pool and third convolution, 5x5 convolutions in
the third branch, 3x3/1 max-pool projection branches, auxiliary classifiers (5x5/3 average pool,
1x1 convolution, 1024-unit layer, dropout 0.7) and dropout 0.4 before the classifier; weights
initialised as the reference Caffe model did (Xavier, biases 0.2).

variant="torchvision": torchvision's layout (batch-norm, its 3x3 "5x5" branch, dropout 0.2); its
state_dict loads. Max-pools and LRN run on cnnkernels.nn in both.
"""
from collections import namedtuple

import torch
import torch.nn.functional as F
from torch import nn

from ..nn import LocalResponseNorm, MaxPool2d
from ._weights import load_weights

__all__ = ["GoogLeNet", "GoogLeNetOutputs", "googlenet"]

# In training with aux_logits, forward returns all three (as torchvision's GoogLeNet does).
GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])

# The reference model's LRN (bvlc_googlenet): size 5, alpha 1e-4, beta 0.75, alpha already divided by n.
PAPER_LRN = dict(size=5, alpha=1e-4, beta=0.75, k=1.0)


class BasicConv2d(nn.Module):
    """torchvision's convolution block: conv (no bias), batch-norm, ReLU."""

    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)), inplace=True)


class ConvReLU(nn.Module):
    """The paper's convolution block: conv with bias, ReLU."""

    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, **kwargs)

    def forward(self, x):
        return F.relu(self.conv(x), inplace=True)


class Inception(nn.Module):
    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, conv_block=BasicConv2d,
                 kernel5=3, backend="auto"):
        super().__init__()
        self.branch1 = conv_block(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            conv_block(in_channels, ch3x3red, kernel_size=1), conv_block(ch3x3red, ch3x3, kernel_size=3, padding=1)
        )
        # kernel5: 5 in the paper; torchvision's weights were trained with 3 here (a known bug it keeps).
        self.branch3 = nn.Sequential(
            conv_block(in_channels, ch5x5red, kernel_size=1),
            conv_block(ch5x5red, ch5x5, kernel_size=kernel5, padding=kernel5 // 2),
        )
        self.branch4 = nn.Sequential(
            MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True, backend=backend),
            conv_block(in_channels, pool_proj, kernel_size=1),
        )

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    def __init__(self, in_channels, num_classes, conv_block=BasicConv2d, dropout=0.7, paper=False):
        super().__init__()
        self.paper = paper  # the paper pools 5x5/3 (14x14 -> 4x4); torchvision pools adaptively to 4x4
        self.conv = conv_block(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x):
        x = F.avg_pool2d(x, 5, stride=3) if self.paper else F.adaptive_avg_pool2d(x, (4, 4))
        x = torch.flatten(self.conv(x), 1)
        return self.fc2(self.dropout(F.relu(self.fc1(x), inplace=True)))


class GoogLeNet(nn.Module):
    def __init__(self, variant="paper", num_classes=1000, aux_logits=True, transform_input=False, init_weights=True,
                 dropout=None, dropout_aux=0.7, backend="auto"):
        super().__init__()
        if variant not in ("paper", "torchvision"):
            raise ValueError(f"GoogLeNet: variant must be 'paper' or 'torchvision', got {variant!r}")
        paper = variant == "paper"
        self.variant = variant
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        block = ConvReLU if paper else BasicConv2d
        kernel5 = 5 if paper else 3

        def pool(kernel=3):
            return MaxPool2d(kernel, stride=2, ceil_mode=True, backend=backend)

        def inception(*channels):
            return Inception(*channels, conv_block=block, kernel5=kernel5, backend=backend)

        def lrn():
            return LocalResponseNorm(**PAPER_LRN, backend=backend) if paper else nn.Identity()

        self.conv1 = block(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = pool()
        self.lrn1 = lrn()
        self.conv2 = block(64, 64, kernel_size=1)
        self.conv3 = block(64, 192, kernel_size=3, padding=1)
        self.lrn2 = lrn()
        self.maxpool2 = pool()
        self.inception3a = inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = pool()
        self.inception4a = inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = pool(2)
        self.inception5a = inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = inception(832, 384, 192, 384, 48, 128, 128)
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, block, dropout_aux, paper)
            self.aux2 = InceptionAux(528, num_classes, block, dropout_aux, paper)
        else:
            self.aux1 = self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout if dropout is not None else (0.4 if paper else 0.2))
        self.fc = nn.Linear(1024, num_classes)
        if init_weights:
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    if paper:
                        nn.init.xavier_uniform_(m.weight)
                        nn.init.constant_(m.bias, 0.2)
                    else:
                        nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

    def _transform_input(self, x):
        """From torchvision's ImageNet normalisation to the (x - 0.5) / 0.5 its weights were trained on."""
        if not self.transform_input:
            return x
        channels = [torch.unsqueeze(x[:, i], 1) * (std / 0.5) + (mean - 0.5) / 0.5
                    for i, (mean, std) in enumerate([(0.485, 0.229), (0.456, 0.224), (0.406, 0.225)])]
        return torch.cat(channels, 1)

    def forward(self, x):
        x = self._transform_input(x)
        x = self.lrn1(self.maxpool1(self.conv1(x)))
        x = self.maxpool2(self.lrn2(self.conv3(self.conv2(x))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        with_aux = self.training and self.aux_logits
        aux1 = self.aux1(x) if with_aux else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if with_aux else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        return GoogLeNetOutputs(x, aux2, aux1) if with_aux else x


def googlenet(*, variant="paper", weights=None, **kwargs):
    """GoogLeNet; variant "paper" (the default) or "torchvision". weights: a path to a saved state_dict or
    a state_dict (torchvision's loads into variant="torchvision"; pass aux_logits to match it)."""
    if weights is not None:
        kwargs.setdefault("init_weights", False)
    return load_weights(GoogLeNet(variant, **kwargs), weights)
