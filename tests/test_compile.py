"""The operators as torch.library sees them: opcheck (schema, fake tensors, autograd registration,
AOT dispatch) on every op, and torch.compile(fullgraph=True) through all three."""
import pytest
import torch

import cnnkernels.nn as cnn
from cnnkernels import backends
from cnnkernels.ops import OPS

pytestmark = pytest.mark.skipif(backends.unavailable_reason("cpu") is not None, reason="extension not built")


def opcheck_samples(backend, device):
    ops = OPS[backend]
    samples = []
    for fmt in (torch.contiguous_format, torch.channels_last):
        x = torch.randn(2, 7, 6, 5, device=device).contiguous(memory_format=fmt)
        rx = x.detach().clone().requires_grad_()
        samples += [
            (ops.lrn_forward, (rx, 5, 1e-2, 0.75, 1.0)),
            (ops.lrn_forward, (rx, 4, 1e-2, 0.6, 2.0)),
            (ops.lrn_backward, (torch.randn_like(x), x, 5, 1e-2, 0.75, 1.0)),
            (ops.max_pool2d_forward, (rx, [3, 3], [2, 2], [1, 1], [1, 1], True, True)),
            (ops.max_pool2d_forward, (x, [2, 2], [2, 2], [0, 0], [1, 1], False, False)),
            (ops.add_relu, (rx, torch.randn_like(x).requires_grad_(), True)),
            (ops.add_relu, (x, torch.randn_like(x), False)),
            (ops.add_relu_, (x.clone(), torch.randn_like(x), True)),
            (ops.add_relu_backward, (torch.randn_like(x), ops.add_relu(x, x, True)[1], x.stride())),
        ]
        y, argmax = ops.max_pool2d_forward(x, [3, 3], [2, 2], [1, 1], [1, 1], True, True)
        samples.append(
            (ops.max_pool2d_backward, (torch.randn_like(y), argmax, 6, 5, [3, 3], [2, 2], [1, 1], [1, 1],
                                       fmt == torch.channels_last))
        )
    x3 = torch.randn(3, 9, 8, device=device)
    samples.append((ops.max_pool2d_forward, (x3, [3, 2], [1, 2], [1, 0], [2, 1], False, True)))
    return samples


@pytest.mark.parametrize("index", range(len(opcheck_samples("cpu", "cpu"))))
def test_opcheck(backend_device, index):
    backend, device = backend_device
    op, args = opcheck_samples(backend, device)[index]
    if backend == "triton" and device == "cpu":
        # Triton's interpreter cannot launch on fake tensors: the fake and AOT checks run on a GPU
        torch.library.opcheck(op, args, test_utils=("test_schema", "test_autograd_registration"))
    else:
        torch.library.opcheck(op, args)


class TinyNet(torch.nn.Module):
    """All three ops, as the networks use them."""

    def __init__(self, backend):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.lrn = cnn.LocalResponseNorm(5, alpha=1e-2, k=2.0, backend=backend)
        self.pool = cnn.MaxPool2d(3, 2, ceil_mode=True, backend=backend)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.add_relu = cnn.AddReLU(backend=backend)
        self.add_relu_inplace = cnn.AddReLU(inplace=True, backend=backend)

    def forward(self, x):
        x = self.pool(self.lrn(self.conv1(x)))
        x = self.add_relu(self.conv2(x), x)
        return self.add_relu_inplace(self.conv2(x), x)


def test_torch_compile_fullgraph_matches_eager(backend_device, monkeypatch):
    """For Triton, Inductor traces into the kernels themselves (triton_op): that needs a GPU."""
    backend, device = backend_device
    if backend == "triton" and device != "cuda":
        pytest.skip("Inductor compiles Triton kernels for the GPU, not for the interpreter")
    torch.manual_seed(0)
    # convolutions in fp32, not TF32, so that eager and compiled differ only by rounding order
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    model = TinyNet(backend).to(device)
    x = torch.randn(2, 3, 15, 13, device=device)
    expected = model(x)
    expected.square().sum().backward()
    expected_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()

    compiled = torch.compile(model, fullgraph=True)
    out = compiled(x)
    out.square().sum().backward()
    tol = dict(rtol=1e-4, atol=1e-5)  # Inductor fuses and reorders the surrounding fp32 arithmetic
    torch.testing.assert_close(out, expected, **tol)
    for p, g in zip(model.parameters(), expected_grads):
        torch.testing.assert_close(p.grad, g, **tol)
    with torch.no_grad():  # inference path: no argmax, in-place add+ReLU through the mutating op
        torch.testing.assert_close(compiled(x), model(x), **tol)
