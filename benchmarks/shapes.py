"""The shapes the real networks run these ops on (per image; the batch is added by the benchmark)."""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    op: str  # "lrn", "max_pool2d", "add_relu"
    shape_name: str
    chw: tuple  # (C, H, W)
    params: dict = field(default_factory=dict)


# PyTorch's alpha/n convention: AlexNet's paper alpha 1e-4 (not divided by n) is 5e-4 here; GoogLeNet's
# Caffe model already divides by n.
ALEXNET_LRN = {"size": 5, "alpha": 5e-4, "beta": 0.75, "k": 2.0}
GOOGLENET_LRN = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 1.0}


def pool(kernel, stride, padding=0, ceil_mode=False):
    return {"kernel_size": kernel, "stride": stride, "padding": padding, "ceil_mode": ceil_mode}


CASES = [
    Case("lrn", "alexnet.lrn1", (96, 55, 55), ALEXNET_LRN),
    Case("lrn", "alexnet.lrn2", (256, 27, 27), ALEXNET_LRN),
    Case("lrn", "googlenet.lrn1", (64, 56, 56), GOOGLENET_LRN),
    Case("lrn", "googlenet.lrn2", (192, 56, 56), GOOGLENET_LRN),
    Case("max_pool2d", "alexnet.pool1", (96, 55, 55), pool(3, 2)),
    Case("max_pool2d", "alexnet.pool2", (256, 27, 27), pool(3, 2)),
    Case("max_pool2d", "alexnet.pool5", (256, 13, 13), pool(3, 2)),
    Case("max_pool2d", "resnet.stem", (64, 112, 112), pool(3, 2, 1)),
    Case("max_pool2d", "googlenet.pool3a", (192, 28, 28), pool(3, 1, 1, True)),  # 3x3/1 pool-projection branch
    Case("max_pool2d", "vgg.pool1", (64, 224, 224), pool(2, 2)),
    Case("max_pool2d", "vgg.pool3", (256, 56, 56), pool(2, 2)),
    Case("add_relu", "r50.s1", (256, 56, 56)),
    Case("add_relu", "r50.s2", (512, 28, 28)),
    Case("add_relu", "r50.s3", (1024, 14, 14)),
    Case("add_relu", "r50.s4", (2048, 7, 7)),
]
