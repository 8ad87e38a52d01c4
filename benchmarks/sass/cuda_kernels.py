"""The CUDA kernels as the build compiles them for sm_90 (nvcc with setup.py's and torch's flags; no GPU
needed), and which of them a benchmark case runs: the launchers, built for the CPU (emulation.py) in
record mode, say which kernel instantiation each launch uses, so the choice is the launchers' own."""
import dataclasses
import functools
import os
import re
import runpy
import shutil
import subprocess
import tempfile

from . import emulation, sass

ROOT = emulation.ROOT
SOURCES = ("lrn", "max_pool2d", "add_relu")  # csrc/cuda/<stem>.cu


@dataclasses.dataclass
class Kernel:
    name: str  # normalised: kernel<template arguments>, no namespaces
    registers: int
    spill_bytes: int
    instructions: list  # [(address, text)]


def tool(name):
    """nvcc from the CUDA toolkit; cuobjdump from it or from Triton's wheel, which ships it."""
    found = shutil.which(name)
    if found:
        return found
    for home in (os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        if home and os.path.exists(os.path.join(home, "bin", name)):
            return os.path.join(home, "bin", name)
    try:
        import triton
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", name)
    return path if os.path.exists(path) else None


def unavailable_reason():
    missing = [name for name in ("nvcc", "cuobjdump", "c++filt") if tool(name) is None]
    if missing:
        return f"needs {', '.join(missing)} (the CUDA toolkit; cuobjdump also comes with Triton's wheel)"
    return emulation.unavailable_reason()


def normalise(name):
    """A kernel's name as both nvcc's demangled symbol and g++'s __PRETTY_FUNCTION__ spell it:
    'cnnkernels::cuda::(anonymous namespace)::k<float, 5, true>(float const*, ...)' -> 'k<float,5,true>'."""
    name = re.sub(r"\(anonymous namespace\)::|\{anonymous\}::", "", name)
    name = re.sub(r"\b(cnnkernels|cuda|max_pool2d|lrn|add_relu)::", "", name)
    depth, end = 0, len(name)
    for i, ch in enumerate(name):  # cut the parameter list (outside any template brackets)
        depth += {"<": 1, ">": -1}.get(ch, 0)
        if ch == "(" and depth == 0:
            end = i
            break
    name = name[:end].removeprefix("void ")
    name = name.replace("long int", "long").replace("unsigned int", "unsigned").replace("short int", "short")
    return re.sub(r"\s+", "", name)


def nvcc_flags():
    """The build's nvcc flags (setup.py's and torch's) for sm_90, as a cubin with ptxas' report."""
    from torch.utils.cpp_extension import COMMON_NVCC_FLAGS

    settings = runpy.run_path(os.path.join(ROOT, "setup.py"), run_name="settings")
    return [*settings["NVCC_FLAGS"], *COMMON_NVCC_FLAGS, "-arch=sm_90", "-cubin", "-Xptxas", "-v",
            f"-I{os.path.join(ROOT, 'csrc')}"]


@functools.lru_cache(maxsize=None)
def compiled(stem):
    """{normalised name: Kernel} of csrc/cuda/<stem>.cu compiled for sm_90."""
    with tempfile.TemporaryDirectory() as work:
        cubin = os.path.join(work, f"{stem}.cubin")
        source = os.path.join(ROOT, "csrc", "cuda", f"{stem}.cu")
        built = subprocess.run([tool("nvcc"), *nvcc_flags(), source, "-o", cubin], capture_output=True, text=True)
        if built.returncode != 0:
            raise RuntimeError(f"nvcc failed on {source}:\n{built.stderr[-3000:]}")
        dump = subprocess.run([tool("cuobjdump"), "-sass", cubin], capture_output=True, text=True, check=True).stdout
    resources = {}  # mangled -> (registers, spill bytes), from ptxas -v
    current = None
    for line in built.stderr.splitlines():
        m = re.search(r"Compiling entry function '(\S+)'", line)
        if m:
            current = m.group(1)
        m = re.search(r"(\d+) bytes spill stores", line)
        if m and current:
            resources.setdefault(current, [0, 0])[1] = int(m.group(1))
        m = re.search(r"Used (\d+) registers", line)
        if m and current:
            resources.setdefault(current, [0, 0])[0] = int(m.group(1))
    parts = re.split(r"\n\s*Function : (\S+)\n", dump)
    mangled = parts[1::2]
    demangled = subprocess.run([tool("c++filt")], input="\n".join(mangled), capture_output=True, text=True,
                               check=True).stdout.splitlines()
    kernels = {}
    for symbol, readable, body in zip(mangled, demangled, parts[2::2]):
        registers, spills = resources.get(symbol, (0, 0))
        name = normalise(readable)
        kernels[name] = Kernel(name, registers, spills, sass.parse(body))
    return kernels


@functools.lru_cache(maxsize=None)
def _launchers():
    library = emulation.build(tempfile.mkdtemp(prefix="cnnkernels-sass-"))
    library.set_record_only(1)
    return library


def launches(call):
    """[(normalised kernel name, grid, block)] that call(library) launches, the launchers run in record
    mode (pointers may be None: nothing is read or written)."""
    library = _launchers()
    library.set_record_only(1)  # (clears what was recorded)
    call(library)
    return [(normalise(re.search(r"Kernel = (.*?); Args", library.recorded_kernel(i).decode()).group(1)),
             library.recorded_grid(i), library.recorded_block(i)) for i in range(library.recorded_count())]


def kernel(name):
    """The compiled Kernel of that normalised name, from whichever source file defines it."""
    for stem in SOURCES:
        if name in compiled(stem):
            return compiled(stem)[name]
    raise KeyError(f"no compiled kernel {name}")
