"""Triton kernels for LRN, max-pool and add+ReLU (one file per op), registered as operators with
torch.library.triton_op, so torch.compile traces into the kernels rather than around an opaque call.
The ops are cnnkernels::<op>_triton (add_relu_triton_ in place); backend="triton" selects them. On a
machine without a GPU they run under Triton's interpreter when TRITON_INTERPRET=1 is set before
anything imports triton."""
import os

try:
    import triton  # noqa: F401
except ImportError as error:  # Triton is optional: torch's CPU wheels don't bring it
    IMPORT_ERROR = f"{type(error).__name__}: {error}"
else:
    IMPORT_ERROR = None

INTERPRETER = os.environ.get("TRITON_INTERPRET", "0") == "1"

if IMPORT_ERROR is None:
    import dataclasses

    from . import add_relu, lrn, max_pool2d  # noqa: F401  (registers the ops)
    from .. import contracts
    from ..ops import OPS, OpSet

    _ops = OpSet.named("_triton")
    for _contract in (contracts.lrn, contracts.max_pool2d, contracts.add_relu):
        _contract.register_autograd(_ops)
    OPS["triton"] = dataclasses.replace(_ops, add_relu_inplace=contracts.add_relu.inplace_with_autograd(_ops))


def unavailable_reason():
    """Why backend="triton" cannot run here, or None."""
    if IMPORT_ERROR is not None:
        return f"Triton is not installed ({IMPORT_ERROR}); it comes with torch's CUDA builds, or `pip install triton`"
    import torch

    if not INTERPRETER and not torch.cuda.is_available():
        return ("the Triton kernels need a CUDA GPU; to run them on the CPU (slowly), set TRITON_INTERPRET=1 "
                "before anything imports triton")
    return None
