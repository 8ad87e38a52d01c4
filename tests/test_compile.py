"""The operators as torch.library sees them: opcheck (schema, fake tensors, autograd registration,
AOT dispatch) on every op, and torch.compile(fullgraph=True) through all three."""
import pytest
import torch

import cnnkernels.nn as cnn
from cnnkernels import backends

pytestmark = pytest.mark.skipif(backends.unavailable_reason("cpu") is not None, reason="extension not built")


def opcheck_samples(device):
    ops = torch.ops.cnnkernels
    samples = []
    for fmt in (torch.contiguous_format, torch.channels_last):
        x = torch.randn(2, 7, 6, 5, device=device).contiguous(memory_format=fmt)
        rx = x.detach().clone().requires_grad_()
        samples += [
            (ops.lrn_forward.default, (rx, 5, 1e-2, 0.75, 1.0)),
            (ops.lrn_forward.default, (rx, 4, 1e-2, 0.6, 2.0)),
            (ops.lrn_backward.default, (torch.randn_like(x), x, 5, 1e-2, 0.75, 1.0)),
            (ops.max_pool2d_forward.default, (rx, [3, 3], [2, 2], [1, 1], [1, 1], True, True)),
            (ops.max_pool2d_forward.default, (x, [2, 2], [2, 2], [0, 0], [1, 1], False, False)),
            (ops.add_relu.default, (rx, torch.randn_like(x).requires_grad_())),
            (ops.add_relu_.default, (x.clone(), torch.randn_like(x))),
            (ops.add_relu_backward.default, (torch.randn_like(x), torch.relu(x))),
        ]
        y, argmax = ops.max_pool2d_forward(x, [3, 3], [2, 2], [1, 1], [1, 1], True, True)
        samples.append(
            (ops.max_pool2d_backward.default, (torch.randn_like(y), argmax, 6, 5, [3, 3], [2, 2], [1, 1], [1, 1]))
        )
    samples.append((ops.max_pool2d_forward.default, (torch.randn(3, 9, 8, device=device), [3, 2], [1, 2], [1, 0], [2, 1], False, True)))
    return samples


@pytest.mark.parametrize("index", range(len(opcheck_samples("cpu"))))
def test_opcheck(backend_device, index):
    backend, device = backend_device
    op, args = opcheck_samples(device)[index]
    torch.library.opcheck(op, args)


class TinyNet(torch.nn.Module):
    """All three ops, as the networks use them."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.lrn = cnn.LocalResponseNorm(5, alpha=1e-2, k=2.0)
        self.pool = cnn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.add_relu = cnn.AddReLU()
        self.add_relu_inplace = cnn.AddReLU(inplace=True)

    def forward(self, x):
        x = self.pool(self.lrn(self.conv1(x)))
        x = self.add_relu(self.conv2(x), x)
        return self.add_relu_inplace(self.conv2(x), x)


def test_torch_compile_fullgraph_matches_eager():
    torch.manual_seed(0)
    model = TinyNet()
    x = torch.randn(2, 3, 15, 13)
    expected = model(x)
    expected.square().sum().backward()
    expected_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()

    compiled = torch.compile(model, fullgraph=True)
    out = compiled(x)
    out.square().sum().backward()
    torch.testing.assert_close(out, expected)
    for p, g in zip(model.parameters(), expected_grads):
        torch.testing.assert_close(p.grad, g)
    with torch.no_grad():  # inference path: no argmax, in-place add+ReLU through the mutating op
        torch.testing.assert_close(compiled(x), model(x))
