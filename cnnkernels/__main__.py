"""`python -m cnnkernels`: what this installation was built with and which backends can run."""
import os
import platform

import torch

import cnnkernels
from cnnkernels import backends, ops


def main():
    info = ops.BUILD_INFO
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = "not installed"
    rows = [
        ("cnnkernels", f"{cnnkernels.__version__} ({os.path.dirname(cnnkernels.__file__)})"),
        ("python", platform.python_version()),
        ("torch", torch.__version__),
        ("torch CUDA", torch.version.cuda or "none (CPU build of torch)"),
        ("triton", triton_version),
        ("GPU", torch.cuda.get_device_name() if torch.cuda.is_available() else "none visible"),
        ("extension", "not loaded: " + ops.EXTENSION_ERROR if info is None else ops._C.__file__),
        ("CPU kernels", "not built" if info is None else f"built for -march={info['cpu_arch']}"),
        ("CUDA kernels", "not built" if info is None or not info["cuda"] else "built"),
        ("CUDA archs", ", ".join(info["cuda_archs"]) if info and info["cuda_archs"] else "none"),
    ]
    for name in backends.BACKENDS[1:]:
        reason = backends.unavailable_reason(name)
        rows.append((f"backend {name}", "available" if reason is None else "unavailable: " + reason))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
