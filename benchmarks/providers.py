"""Who runs an op in the benchmark: each provider turns (case, input) into a callable."""
import torch
import torch.nn.functional as F

import cnnkernels.nn.functional as CF
from cnnkernels import backends

from . import cudnn


def torch_op(case):
    """PyTorch's own op for `case`: the baseline, and (in float64) the reference."""
    p = case.params
    if case.op == "lrn":
        return lambda x: F.local_response_norm(x, p["size"], p["alpha"], p["beta"], p["k"])
    if case.op == "max_pool2d":
        return lambda x: F.max_pool2d(x, p["kernel_size"], p["stride"], p["padding"], ceil_mode=p["ceil_mode"])
    return lambda x, r: torch.relu(x + r)


def _ours(case, backend):
    p = case.params
    if case.op == "lrn":
        return lambda x: CF.local_response_norm(x, p["size"], p["alpha"], p["beta"], p["k"], backend=backend)
    if case.op == "max_pool2d":
        return lambda x: CF.max_pool2d(
            x, p["kernel_size"], p["stride"], p["padding"], ceil_mode=p["ceil_mode"], backend=backend
        )
    return lambda x, r: CF.add_relu(x, r, backend=backend)


def available(device, include_compile):
    """name -> factory(case) -> fn(*inputs), for the providers that can run on `device`."""
    providers = {}
    for backend in ("cpu", "cuda", "triton"):
        if backends.unavailable_reason(backend) is None and device.type in backends.device_types(backend):
            providers[f"cnnkernels-{backend}"] = lambda case, b=backend: _ours(case, b)
    providers["torch-eager"] = torch_op
    if include_compile:
        providers["torch-compile"] = lambda case: torch.compile(torch_op(case), dynamic=False)
    if device.type == "cuda" and cudnn.unavailable_reason() is None:
        providers["cudnn"] = lambda case: cudnn.function(case.op, case.params)
    return providers


def supports(provider, case, dtype, device):
    """PyTorch's CPU LRN has no fp16/bf16 kernel (avg_pool3d). cuDNN has LRN and max-pool alone, not every
    parameter (even LRN sizes, dilation, a ceil_mode that changes the output) nor, at run time, every dtype."""
    if provider == "cudnn":
        args = (case.op, case.params, case.chw, dtype)
        return device.type == "cuda" and cudnn.supports(*args) and cudnn.runs(*args)
    return not (provider.startswith("torch") and case.op == "lrn" and device.type == "cpu" and dtype != torch.float32)
