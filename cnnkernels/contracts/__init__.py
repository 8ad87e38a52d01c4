"""Each op's contract, one module per op: its argument checks and their messages, its output shapes
and layouts (the fake tensors torch.compile traces with), and the Triton op set's autograd. The
Python layer (cnnkernels.nn), the Triton launchers and the fake kernels all use these; the C++
operators check the same rules in the same words (csrc/prepare/)."""
from .. import ops
from . import add_relu, lrn, max_pool2d

__all__ = ["add_relu", "lrn", "max_pool2d"]

if "cpu" in ops.OPS:  # the C++ op set registers its own autograd (csrc/autograd/)
    for _contract in (lrn, max_pool2d, add_relu):
        _contract.register_fakes(ops.OPS["cpu"])
