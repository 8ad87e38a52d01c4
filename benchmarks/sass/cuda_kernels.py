"""The CUDA kernels as the build compiles them for sm_90 (the built extension's own code when it is
current, else nvcc here with setup.py's and torch's flags; no GPU needed), and which of them a benchmark case runs: the launchers, built for the CPU (emulation.py) in
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
    stack_bytes: int  # the thread's stack frame in local memory: spills (and local arrays); 0 is the goal
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
    """The build's nvcc flags (setup.py's and torch's) for sm_90, as a cubin."""
    from torch.utils.cpp_extension import COMMON_NVCC_FLAGS

    settings = runpy.run_path(os.path.join(ROOT, "setup.py"), run_name="settings")
    return [*settings["NVCC_FLAGS"], *COMMON_NVCC_FLAGS, "-arch=sm_90", "-cubin", f"-I{os.path.join(ROOT, 'csrc')}"]


def built_extension():
    """The built extension (cnnkernels/_C*.so) if it holds sm_90 code and is newer than every file in
    csrc/: its kernels are then exactly what would be compiled here (same flags), without the minutes
    nvcc takes. Else None."""
    package = os.path.join(ROOT, "cnnkernels")
    found = [os.path.join(package, f) for f in os.listdir(package) if f.startswith("_C.") and f.endswith(".so")]
    if len(found) != 1:
        return None
    sources = [os.path.join(d, f) for d, _, files in os.walk(os.path.join(ROOT, "csrc")) for f in files]
    if os.path.getmtime(found[0]) < max(map(os.path.getmtime, sources)):
        return None
    listed = subprocess.run([tool("cuobjdump"), "-lelf", found[0]], capture_output=True, text=True).stdout
    return found[0] if "sm_90" in listed else None


def compile_sources(work):
    """csrc/cuda/*.cu compiled for sm_90 into work/: the cubins' paths."""
    cubins = []
    for stem in SOURCES:
        source, cubin = os.path.join(ROOT, "csrc", "cuda", f"{stem}.cu"), os.path.join(work, f"{stem}.cubin")
        built = subprocess.run([tool("nvcc"), *nvcc_flags(), source, "-o", cubin], capture_output=True, text=True)
        if built.returncode != 0:
            raise RuntimeError(f"nvcc failed on {source}:\n{built.stderr[-3000:]}")
        cubins.append(cubin)
    return cubins


def read_kernels(binary):
    """{normalised name: Kernel} of the sm_90 code in a cubin or a library with CUDA code."""
    def dump(option):
        return subprocess.run([tool("cuobjdump"), option, "-arch", "sm_90", binary], capture_output=True, text=True,
                              check=True).stdout

    resources = {symbol: (int(registers), int(stack)) for symbol, registers, stack
                 in re.findall(r"Function (\S+):\s*\n\s*REG:(\d+) STACK:(\d+)", dump("-res-usage"))}
    parts = re.split(r"\n\s*Function : (\S+)\n", dump("-sass"))
    mangled = parts[1::2]
    demangled = subprocess.run([tool("c++filt")], input="\n".join(mangled), capture_output=True, text=True,
                               check=True).stdout.splitlines()
    kernels = {}
    for symbol, readable, body in zip(mangled, demangled, parts[2::2]):
        name = normalise(readable)
        kernels[name] = Kernel(name, *resources[symbol], sass.parse(body))
    return kernels


@functools.lru_cache(maxsize=None)
def compiled():
    """{normalised name: Kernel} of every CUDA kernel for sm_90: the built extension's when it is
    current (built_extension), else compiled here from csrc/cuda."""
    extension = built_extension()
    if extension:
        return read_kernels(extension)
    kernels = {}
    with tempfile.TemporaryDirectory() as work:
        for cubin in compile_sources(work):
            kernels.update(read_kernels(cubin))
    return kernels


def launches(call):
    """[(normalised kernel name, grid, block)] that call(library) launches, the launchers run in record
    mode (pointers may be None: nothing is read or written)."""
    library = emulation.library()
    library.set_record_only(1)
    try:
        call(library)
        return [(normalise(re.search(r"Kernel = (.*?); Args", library.recorded_kernel(i).decode()).group(1)),
                 library.recorded_grid(i), library.recorded_block(i)) for i in range(library.recorded_count())]
    finally:
        library.set_record_only(0)  # (the tests share the library and run its kernels)


def kernel(name):
    """The compiled Kernel of that normalised name."""
    try:
        return compiled()[name]
    except KeyError:
        raise KeyError(f"no compiled kernel {name}") from None
