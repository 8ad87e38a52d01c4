"""The Triton kernels as the launchers call them, compiled for a GPU without one: each launch of a
cnnkernels Triton op is captured (kernel, grid, arguments) by running the op's launcher on meta
tensors, then specialised exactly as Triton's runtime would on a GPU (its own binder, for a CUDA
target) and compiled with Triton's compiler. Needs Triton's CUDA backend (ptxas ships in its wheel),
no GPU or driver."""
import contextlib
import dataclasses
import functools
import os
import tempfile

import torch

import cnnkernels  # noqa: F401  (registers the ops)
from cnnkernels.triton import add_relu, lrn, max_pool2d

LAUNCHER_MODULES = (lrn, max_pool2d, add_relu)


@dataclasses.dataclass
class Launch:
    kernel: object  # the triton.JITFunction
    grid: tuple
    args: tuple
    kwargs: dict

    @property
    def name(self):
        return self.kernel.fn.__name__


class _Recorder:
    def __init__(self, kernel, launches):
        self.kernel, self.launches = kernel, launches

    def __getitem__(self, grid):
        return lambda *args, **kwargs: self.launches.append(Launch(self.kernel, grid, args, kwargs))


@contextlib.contextmanager
def capturing():
    """Within it, the Triton launchers record their launches (in the list it yields) instead of running."""
    launches = []
    saved = {m: m.wrap_triton for m in LAUNCHER_MODULES}
    try:
        for m in LAUNCHER_MODULES:
            m.wrap_triton = lambda kernel: _Recorder(kernel, launches)
        yield launches
    finally:
        for m, original in saved.items():
            m.wrap_triton = original


def launches_of(op, *args):
    """The launches `op` (a cnnkernels Triton op: its triton_op, e.g. cnnkernels.triton.lrn.lrn_forward_triton)
    makes for these arguments; pass meta tensors of the real shapes: nothing is allocated or run."""
    with capturing() as launches:
        op._init_fn(*args)  # the launcher itself, not the dispatcher (which would run the fake kernel)
    return launches


def prepare(launch, arch=90):
    """(ASTSource, target, options): the launch's kernel specialised as Triton's runtime would for sm_<arch>
    (its binder: argument types, 16-byte divisibility of pointers and integers, constants)."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, make_backend
    from triton.runtime.jit import create_function_from_signature

    target = GPUTarget("cuda", arch, 32)
    backend = make_backend(target)
    kernel = launch.kernel
    binder = create_function_from_signature(kernel.signature, kernel.params, backend)
    bound_args, specialization, options = binder(*launch.args, **launch.kwargs)
    options, signature, constexprs, attrs = kernel._pack_args(backend, launch.kwargs, bound_args, specialization,
                                                             options)
    return ASTSource(kernel, signature, constexprs, attrs), target, options


def compile_launch(launch, arch=90):
    """The launch's kernel compiled for sm_<arch> as Triton's runtime would specialise it there; returns
    Triton's CompiledKernel (asm["ptx"], asm["cubin"], metadata.num_warps, ...)."""
    import triton

    source, target, options = prepare(launch, arch)
    return triton.compile(source, target=target, options=options.__dict__)


@dataclasses.dataclass
class Compiled:
    name: str  # the kernel and its constants: _lrn_forward_tile_kernel[SIZE=5,...,num_warps=4]
    kernel: object  # cuda_kernels.Kernel: registers, stack bytes, SASS instructions
    threads: int  # per block (num_warps * 32)
    shared_bytes: int


_compiled = {}


def compiled(launch, arch=90):
    """Compiled for the launch's specialisation, compiled once per process per distinct specialisation
    (the benchmark's shapes mostly share them): its sm_<arch> SASS and resources as cuobjdump reads them."""
    from . import cuda_kernels

    source, target, options = prepare(launch, arch)
    key = (launch.name, source.hash(), options.hash(), arch)
    if key not in _compiled:
        import triton

        binary = triton.compile(source, target=target, options=options.__dict__)
        with tempfile.TemporaryDirectory() as work:
            path = os.path.join(work, "kernel.cubin")
            with open(path, "wb") as f:
                f.write(binary.asm["cubin"])
            (kernel,) = cuda_kernels.read_kernels(path, arch=f"sm_{arch}").values()
        constants = ",".join(f"{k}={v}" for k, v in launch.kwargs.items())
        _compiled[key] = Compiled(f"{launch.name}[{constants},num_warps={binary.metadata.num_warps}]", kernel,
                                  32 * binary.metadata.num_warps, binary.metadata.shared)
    return _compiled[key]


@functools.cache
def unavailable_reason():
    """Why Triton's kernels cannot be compiled for a GPU here, or None."""
    try:
        import triton  # noqa: F401
        from triton.backends.nvidia import compiler  # noqa: F401
    except ImportError as error:
        return f"needs Triton with its CUDA backend ({error})"
    from . import cuda_kernels

    missing = [name for name in ("cuobjdump", "c++filt") if cuda_kernels.tool(name) is None]
    return f"needs {', '.join(missing)} (cuobjdump comes with Triton's wheel)" if missing else None


def meta(shape, dtype=torch.float32, memory_format=torch.contiguous_format):
    return torch.empty(shape, dtype=dtype, device="meta", memory_format=memory_format)
