"""Every Triton kernel compiles for the GPU (sm_90), in every specialisation the launchers make, on a
machine without one: Triton's interpreter, which runs the op tests here, accepts code that Triton's
compiler refuses (a global that is not a tl.constexpr passes the interpreter and fails the GPU build;
an LRN backward with four register windows crashed Triton 3.8's LLVM). Each compile runs in a child
process, so a compiler crash is reported, not fatal to the test run."""
import os

import pytest
import torch

triton = pytest.importorskip("triton")
pytest.importorskip("triton.backends.nvidia")
from benchmarks.sass import triton_kernels as tk  # noqa: E402

CL = torch.channels_last
WINDOWS = (([3, 3], [2, 2], [1, 1], [1, 1]), ([3, 3], [1, 1], [1, 1], [1, 1]), ([2, 2], [2, 2], [0, 0], [1, 1]),
           ([3, 2], [2, 1], [1, 0], [2, 1]))
LRN_PARAMETERS = ((1e-4, 0.75, 2.0), (0.5, 1.0, -1.0), (0.5, 2.0, 1.0), (0.5, 0.6, 1.0))  # each power's kernel


def pooled(n, kernel, stride, pad, dilation):
    return (n + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def launches():
    """One launch of each distinct specialisation (kernel, constants, argument types) the launchers make
    over a matrix that covers every constant's values and every dtype: not the full product (minutes)."""
    meta = tk.meta
    found = []
    for dtype, fmt in ((torch.float32, torch.contiguous_format), (torch.float32, CL),
                       (torch.bfloat16, torch.contiguous_format), (torch.float16, CL)):
        x = meta((2, 16, 5, 7), dtype, fmt)
        for size, parameters in ((5, LRN_PARAMETERS), (1, LRN_PARAMETERS[:1]), (11, LRN_PARAMETERS[:1])):
            for alpha, beta, k in parameters:
                found += tk.launches_of(tk.lrn.lrn_forward_triton, x, size, alpha, beta, k)
                found += tk.launches_of(tk.lrn.lrn_backward_triton, x, x, size, alpha, beta, k)
        for window in WINDOWS:
            for with_argmax in (False, True):
                found += tk.launches_of(tk.max_pool2d.max_pool2d_forward_triton, x, *window, False, with_argmax)
            y = meta((2, 16, *[pooled(n, *geometry) for n, *geometry in zip((5, 7), *window)]), dtype, fmt)
            found += tk.launches_of(tk.max_pool2d.max_pool2d_backward_triton, y, meta(y.shape, torch.uint8, fmt),
                                    5, 7, *window, fmt == CL)
        for with_mask in (False, True):
            found += tk.launches_of(tk.add_relu.add_relu_triton, x, x, with_mask)
        mask = meta(((x.numel() + 7) // 8,), torch.uint8)
        found += tk.launches_of(tk.add_relu.add_relu_backward_triton, x, mask, x.stride())
    distinct = {}
    for launch in found:
        key = (launch.name, tuple(sorted(launch.kwargs.items())),
               tuple(str(a.dtype) if isinstance(a, torch.Tensor) else type(a).__name__ for a in launch.args))
        distinct.setdefault(key, launch)
    return list(distinct.values())


def compile_in_children(found, at_once=2):
    """{index: compiled} for the launches, each compiled for sm_90 in a forked child, `at_once` at a time
    (a crash is a False)."""
    results, running = {}, {}

    def reap():
        pid, status = os.wait()
        results[running.pop(pid)] = status == 0

    for index, launch in enumerate(found):
        if len(running) >= at_once:
            reap()
        pid = os.fork()
        if pid == 0:
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # (an LLVM assertion's message)
                os._exit(0 if tk.compile_launch(launch, arch=90).asm["cubin"] else 1)
            except BaseException:
                os._exit(1)
        running[pid] = index
    while running:
        reap()
    return results


@pytest.mark.skipif(not hasattr(os, "fork"), reason="compiles each kernel in a forked child")
def test_every_specialisation_compiles_for_sm90():
    found = launches()
    assert {launch.name for launch in found} == {
        "_lrn_forward_sliding_kernel", "_lrn_forward_tile_kernel", "_lrn_backward_tile_kernel",
        "_max_pool2d_forward_kernel", "_max_pool2d_forward_rows_kernel", "_max_pool2d_backward_kernel",
        "_add_relu_forward_kernel",
        "_add_relu_backward_kernel"}
    results = compile_in_children(found)
    assert len(results) == len(found)
    failed = [f"{launch.name} {launch.kwargs} {[getattr(a, 'dtype', type(a).__name__) for a in launch.args][:1]}"
              for index, launch in enumerate(found) if not results[index]]
    assert not failed, f"{len(failed)} of {len(found)} do not compile for sm_90:\n  " + "\n  ".join(failed)
