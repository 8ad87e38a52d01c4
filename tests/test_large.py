"""Tensors of more than 2^31 elements: int64 indexing end to end (GPU only; needs ~20 GB free)."""
import pytest
import torch

import cnnkernels.nn.functional as CF
from conftest import BACKEND_DEVICES

N = 2**31 + 2**20  # elements, past what int32 offsets reach


def gpu_backends():
    params = [p for p in BACKEND_DEVICES if p.values[0][1] == "cuda"]
    if not torch.cuda.is_available() or torch.cuda.mem_get_info()[0] < 20 * 2**30:
        return [pytest.param(p.values[0], id=p.id, marks=pytest.mark.skip(reason="needs a GPU with 20 GB free"))
                for p in params]
    return params


@pytest.mark.parametrize("backend_device", gpu_backends())
def test_more_than_2_31_elements(backend_device):
    backend, device = backend_device
    torch.manual_seed(0)
    # add+ReLU over the whole tensor; check the far end, past 2^31
    a = torch.randn(N, dtype=torch.float16, device=device)
    y = CF.add_relu(a, a, backend=backend)
    torch.testing.assert_close(y[-4096:], torch.relu(a[-4096:] + a[-4096:]))
    del y
    # max-pool and LRN on (n, C, H, W) with n * C * H * W > 2^31; compare the last image
    x = a.view(-1, 16, 256, 256)[: N // (16 * 256 * 256)]
    pooled = CF.max_pool2d(x, 3, 2, backend=backend)
    torch.testing.assert_close(pooled[-1:], torch.nn.functional.max_pool2d(x[-1:], 3, 2))
    del pooled
    normed = CF.local_response_norm(x, 5, 1e-2, 0.75, 1.0, backend=backend)
    torch.testing.assert_close(normed[-1:], torch.nn.functional.local_response_norm(x[-1:].float(), 5, 1e-2).half(),
                               atol=2e-3, rtol=2e-3)
