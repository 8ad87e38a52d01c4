"""AlexNet ("ImageNet Classification with Deep Convolutional Neural Networks", Krizhevsky et al. 2012).

variant="paper": the paper's single-tower network: 96-256-384-384-256 filters, ReLU, Local Response
Normalization after the first two convolutions, overlapping 3x3/2 max-pooling, dropout 0.5 in the
two hidden fully-connected layers, and the paper's initialisation. The first convolution pads by 2
so a 224x224 image gives the paper's 55x55 maps (as a 227x227 one does unpadded).

variant="torchvision": torchvision's layout (64-192-384-256-256 filters, no LRN); its state_dict loads.
"""
import torch
from torch import nn

from ..nn import LocalResponseNorm, MaxPool2d
from ._weights import load_weights

__all__ = ["AlexNet", "alexnet"]

# The paper's LRN: k=2, n=5, alpha=1e-4, beta=0.75, with alpha NOT divided by n. PyTorch (like Caffe
# and cuDNN) divides alpha by size, so the same normalisation is alpha = 5 * 1e-4 here.
PAPER_LRN = dict(size=5, alpha=5e-4, beta=0.75, k=2.0)


class AlexNet(nn.Module):
    def __init__(self, variant="paper", num_classes=1000, dropout=0.5, backend="auto"):
        super().__init__()
        if variant not in ("paper", "torchvision"):
            raise ValueError(f"AlexNet: variant must be 'paper' or 'torchvision', got {variant!r}")
        self.variant = variant

        def pool():
            return MaxPool2d(kernel_size=3, stride=2, backend=backend)

        def lrn():
            return LocalResponseNorm(**PAPER_LRN, backend=backend)

        if variant == "paper":
            widths = (96, 256, 384, 384, 256)
            stem = [nn.Conv2d(3, 96, 11, stride=4, padding=2), nn.ReLU(inplace=True), lrn(), pool(),
                    nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(inplace=True), lrn(), pool()]
        else:
            widths = (64, 192, 384, 256, 256)
            stem = [nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(inplace=True), pool(),
                    nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), pool()]
        self.features = nn.Sequential(
            *stem,
            nn.Conv2d(widths[1], widths[2], 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(widths[2], widths[3], 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(widths[3], widths[4], 3, padding=1), nn.ReLU(inplace=True),
            pool(),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(widths[4] * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(p=dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )
        if variant == "paper":
            self._paper_init()

    def _paper_init(self):
        """Weights from N(0, 0.01); biases 1 in the 2nd, 4th and 5th convolutions and the hidden
        fully-connected layers (so ReLUs start with positive inputs), 0 elsewhere."""
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        linears = [m for m in self.classifier if isinstance(m, nn.Linear)]
        for m in convs + linears:
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
        for m in (convs[1], convs[3], convs[4], linears[0], linears[1]):
            nn.init.ones_(m.bias)

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def alexnet(*, variant="paper", weights=None, **kwargs):
    """AlexNet; variant "paper" (with LRN, the default) or "torchvision". weights: a path to a saved
    state_dict or a state_dict (torchvision's loads into variant="torchvision")."""
    return load_weights(AlexNet(variant, **kwargs), weights)
