"""Pre-activation ResNets for 32x32 images ("Identity Mappings in Deep Residual Networks", He et al.
2016): depth 110 with basic blocks, 164 and 1001 with bottleneck blocks. Each block computes
BN-ReLU-conv on its input and adds the identity: nothing follows the addition, so these blocks
have no add+ReLU to fuse; the network is here because training a thousand layers is what the
identity mapping made possible."""
import torch
from torch import nn

from ._weights import load_weights

__all__ = ["PreActResNet", "preact_resnet"]


class PreActBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.shortcut = _projection(in_planes, planes * self.expansion, stride)

    def forward(self, x):
        out = torch.relu(self.bn1(x))
        identity = x if self.shortcut is None else self.shortcut(out)  # projections see the pre-activated input
        out = self.conv1(out)
        return self.conv2(torch.relu(self.bn2(out))) + identity


class PreActBottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.shortcut = _projection(in_planes, planes * self.expansion, stride)

    def forward(self, x):
        out = torch.relu(self.bn1(x))
        identity = x if self.shortcut is None else self.shortcut(out)
        out = self.conv2(torch.relu(self.bn2(self.conv1(out))))
        return self.conv3(torch.relu(self.bn3(out))) + identity


def _projection(in_planes, out_planes, stride):
    if stride == 1 and in_planes == out_planes:
        return None
    return nn.Conv2d(in_planes, out_planes, 1, stride, bias=False)


class PreActResNet(nn.Module):
    def __init__(self, depth, num_classes=10):
        super().__init__()
        if depth == 110 or (depth - 2) % 6 == 0 and depth < 164:
            block, per_stage = PreActBasicBlock, (depth - 2) // 6
        elif (depth - 2) % 9 == 0:
            block, per_stage = PreActBottleneck, (depth - 2) // 9
        else:
            raise ValueError(f"preact_resnet: depth must be 6n+2 (basic blocks, e.g. 110) or 9n+2 (bottlenecks, "
                             f"e.g. 164, 1001), got {depth}")
        self.depth = depth
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        blocks, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(per_stage):
                blocks.append(block(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes * block.expansion
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(in_planes)
        self.fc = nn.Linear(in_planes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = torch.relu(self.bn(self.blocks(self.conv1(x))))
        return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1))


def preact_resnet(depth=164, *, weights=None, **kwargs):
    """Pre-activation ResNet-`depth` for 32x32 inputs (110, 164, 1001, or any 6n+2 / 9n+2)."""
    return load_weights(PreActResNet(depth, **kwargs), weights)
