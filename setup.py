"""Builds cnnkernels._C: the C++ CPU kernels always, the CUDA kernels when torch has CUDA and nvcc
is found (or FORCE_CUDA=1). Never decided from torch.cuda.is_available(): a build machine needs no GPU.

Environment:
  CNNKERNELS_CPU_ONLY=1   build the CPU kernels only
  CNNKERNELS_CPU_ARCH     -march for the CPU kernels (default: x86-64-v3, i.e. AVX2, when the build
                          machine has it; set it to x86-64 for a build that runs on any x86-64 CPU)
  FORCE_CUDA=1            build the CUDA kernels even if the checks below say no
  TORCH_CUDA_ARCH_LIST    CUDA architectures, e.g. "9.0" (default: the visible GPU's, else "8.0;9.0+PTX")
  MAX_JOBS                parallel compile jobs (default: from cores and memory)
  CNNKERNELS_SKIP_BUILD=1 install the Python package only (.ci/env.sh builds the extension in place,
                          incrementally, with `python setup.py build_ext --inplace`)

The extension compiles against the torch it will run with: the one installed in the environment
being installed into. Under pip's build isolation (a plain `pip install .`) that torch is not on the
build's path, and pyproject.toml does not ask pip for another one (which would be the newest, often
another version or a CUDA build, and a broken install); it is found in the target environment
instead. Without torch there, the build stops and says what to install.
"""
import glob
import os
import platform
import re
import shutil


def locate_cuda_home():
    """torch takes the toolkit to be two levels above the nvcc on PATH, which is wrong for an nvcc
    wrapper or symlink in /usr/local/bin: use the first candidate that has the CUDA headers."""
    if "CUDA_HOME" in os.environ or "CUDA_PATH" in os.environ:
        return
    nvcc = shutil.which("nvcc")
    candidates = [os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))] if nvcc else []
    for home in candidates + ["/usr/local/cuda"]:
        if os.path.exists(os.path.join(home, "include", "cuda_runtime_api.h")):
            os.environ["CUDA_HOME"] = home
            return


def use_the_target_environments_torch():
    """Puts the torch of the environment being installed into on the path, when pip's build isolation
    hides it (the build runs with that environment's interpreter, whose site-packages pip leaves off
    sys.path)."""
    import importlib.util
    import sys
    import sysconfig

    if importlib.util.find_spec("torch") is not None:
        return
    for name in ("purelib", "platlib"):
        path = sysconfig.get_paths()[name]
        if os.path.isdir(os.path.join(path, "torch")) and path not in sys.path:
            sys.path.append(path)  # after the build environment's own packages: its setuptools wins
            if importlib.util.find_spec("torch") is not None:
                return
    raise SystemExit(
        "cnnkernels: torch is not installed in the environment this install goes into "
        f"({sys.prefix}). cnnkernels compiles against the torch it will run with: install torch first "
        "(pip install torch), then cnnkernels (pip install .)."
    )


locate_cuda_home()  # before torch.utils.cpp_extension reads it
use_the_target_environments_torch()

from setuptools import setup  # noqa: E402
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension  # noqa: E402
import torch  # noqa: E402

ROOT = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CUDA_ARCHS = "8.0;9.0+PTX"  # Ampere and Hopper, plus PTX for newer GPUs
# nvcc's flags for the .cu files, beside torch's own (COMMON_NVCC_FLAGS): benchmarks/sass compiles the
# kernels with the same ones for its static report.
NVCC_FLAGS = ["-O3", "-std=c++17", "-lineinfo"]


def flag(name):
    return os.environ.get(name, "0") not in ("", "0")


def want_cuda():
    if flag("CNNKERNELS_CPU_ONLY"):
        return False, "CNNKERNELS_CPU_ONLY=1"
    if flag("FORCE_CUDA"):
        return True, "FORCE_CUDA=1"
    if torch.version.cuda is None:
        return False, "this torch has no CUDA"
    if CUDA_HOME is None or not os.path.exists(os.path.join(CUDA_HOME, "bin", "nvcc")):
        return False, "nvcc not found (set CUDA_HOME)"
    return True, f"torch {torch.__version__} has CUDA {torch.version.cuda}, nvcc in {CUDA_HOME}"


def cuda_arch_list():
    """The architectures to compile for; also exported for torch's own flag generation."""
    archs = os.environ.get("TORCH_CUDA_ARCH_LIST")
    if not archs:
        if torch.cuda.is_available():  # only picks the archs, never whether to build
            capabilities = {torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())}
            archs = ";".join(sorted("%d.%d" % c for c in capabilities))
        else:
            archs = DEFAULT_CUDA_ARCHS
        os.environ["TORCH_CUDA_ARCH_LIST"] = archs
    return archs


def arch_tokens(archs):
    """'8.0;9.0+PTX' -> 'sm_80,sm_90,compute_90', compiled into _C for `python -m cnnkernels`."""
    tokens = []
    for entry in re.split(r"[;\s]+", archs.strip()):
        m = re.fullmatch(r"(\d+)\.(\d+)([a-z]?)(\+PTX)?", entry)
        if not m:
            raise SystemExit(
                f"cnnkernels: cannot read TORCH_CUDA_ARCH_LIST entry {entry!r} (expected e.g. 9.0 or 9.0+PTX)")
        sm = m.group(1) + m.group(2) + m.group(3)
        tokens.append("sm_" + sm)
        if m.group(4):
            tokens.append("compute_" + sm)
    return ",".join(tokens)


def cpu_arch():
    """The -march of the CPU kernels: they vectorise by the compiler, so AVX2 doubles their speed."""
    arch = os.environ.get("CNNKERNELS_CPU_ARCH")
    if arch is not None:
        return arch or None
    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(next(line for line in f if line.startswith("flags")).split(":")[1].split())
    except (OSError, StopIteration):
        return None
    return "x86-64-v3" if {"avx2", "fma", "f16c", "bmi2"} <= flags else None


def default_max_jobs():
    cores = os.cpu_count() or 1
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gb = 8
    return max(1, min(cores, int(mem_gb // 3)))  # a torch-header compile takes up to ~3 GB


def extension():
    # every C++ source but the CUDA ones (csrc/cuda/: the kernels and their torch bindings)
    cpu_sources = sorted(p for p in glob.glob("csrc/**/*.cpp", recursive=True) if not p.startswith("csrc/cuda/"))
    # -fopenmp: at::parallel_for runs serially without it; no errno: lets sqrt vectorise
    cxx = ["-O3", "-std=c++20", "-fopenmp", "-fno-math-errno"]
    arch = cpu_arch()
    # Build facts for `python -m cnnkernels`, as C++-only defines (nvcc would split a comma-separated value).
    cxx.append("-DCNNKERNELS_CPU_ARCH=" + re.sub(r"\W", "_", arch or "default"))
    if arch:
        cxx.append(f"-march={arch}")
    with_cuda, why = want_cuda()
    os.environ.setdefault("MAX_JOBS", str(default_max_jobs()))
    print(
        f"cnnkernels: building the CPU kernels ({len(cpu_sources)} sources) for -march={arch or 'default'}, "
        f"MAX_JOBS={os.environ['MAX_JOBS']}"
    )
    if not with_cuda:
        print(f"cnnkernels: not building the CUDA kernels: {why}")
        return CppExtension("cnnkernels._C", cpu_sources, extra_compile_args={"cxx": cxx}, extra_link_args=["-fopenmp"])
    archs = cuda_arch_list()
    cuda_sources = sorted(glob.glob("csrc/cuda/*.cu") + glob.glob("csrc/cuda/*.cpp"))
    print(f"cnnkernels: building the CUDA kernels ({len(cuda_sources)} sources) for {archs}: {why}")
    return CUDAExtension(
        "cnnkernels._C",
        cpu_sources + cuda_sources,
        extra_compile_args={
            "cxx": cxx + ["-DCNNKERNELS_WITH_CUDA", "-DCNNKERNELS_CUDA_ARCHS=" + arch_tokens(archs)],
            "nvcc": NVCC_FLAGS,
        },
        extra_link_args=["-fopenmp"],
    )


if __name__ == "__main__":  # (benchmarks/sass reads this file's settings without building)
    os.chdir(ROOT)
    setup(
        ext_modules=[] if flag("CNNKERNELS_SKIP_BUILD") else [extension()],
        cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
    )
