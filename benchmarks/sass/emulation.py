"""The CUDA kernels (csrc/cuda/*.cu) compiled as plain C++ for the CPU: every launch
kernel<<<grid, block, shared, stream>>>(args) becomes emulate_launch<kernel>(grid, block, args)
(emulation_shim.h), which runs the launch's threads one after another, or, in record mode, only
notes which kernel instantiation ran with which grid (what benchmarks.sass asks of the launchers).
The launchers are reached through C entry points (emulation_api.cpp). tests/test_cuda_emulated.py
runs the kernels this way against PyTorch."""
import ctypes
import functools
import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DTYPE_CODE = {"float32": 0, "float16": 1, "bfloat16": 2}  # csrc/cuda/launch.h, DType


def cuda_include():
    for home in (os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        if home and os.path.exists(os.path.join(home, "include", "cuda_fp16.h")):
            return os.path.join(home, "include")
    return None


def unavailable_reason():
    """Why the emulation cannot be built here, or None."""
    if shutil.which("g++") is None or cuda_include() is None:
        return "needs g++ and the CUDA headers (CUDA_HOME)"
    return None


def split_top_level(text):
    """text split at the commas outside any brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "([{<" and 1 or ch in ")]}>" and -1 or 0
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return parts + [text[start:]]


def emulated_launches(text):
    """Every `kernel<...><<<grid, block, shared, stream>>>(args)` as
    `emulate_launch<kernel<...>>(grid, block, args)`."""
    while (launch := text.find("<<<")) >= 0:
        end = text.index(">>>(", launch)
        config = [part.strip() for part in split_top_level(text[launch + 3:end])]
        assert len(config) == 4, f"a launch the emulation does not understand: {text[launch:end + 3]}"
        start = launch
        while text[start - 1].isspace():
            start -= 1
        if text[start - 1] == ">":  # the kernel's template arguments
            depth = 0
            while True:
                start -= 1
                depth += {">": 1, "<": -1}.get(text[start], 0)
                if depth == 0:
                    break
        while text[start - 1].isalnum() or text[start - 1] in "_:":
            start -= 1
        kernel = " ".join(text[start:launch].split())
        text = f"{text[:start]}emulate_launch<{kernel}>({config[0]}, {config[1]}, {text[end + 4:]}"
    return text


def build(work):
    """Compiles the emulation of csrc/cuda into work/libemulated.so and loads it (ctypes, argument
    types set). Raises RuntimeError with the compiler's message if it does not compile."""
    work = str(work)
    shutil.copytree(os.path.join(ROOT, "csrc"), os.path.join(work, "csrc"), dirs_exist_ok=True)
    cuda_dir = os.path.join(work, "csrc", "cuda")
    sources = []
    for name in sorted(os.listdir(cuda_dir)):
        if name.endswith(".cu"):
            with open(os.path.join(cuda_dir, name)) as f:
                text = emulated_launches(f.read())
            path = os.path.join(cuda_dir, name[:-3] + "_emulated.cpp")
            with open(path, "w") as f:
                f.write('#include "emulation_shim.h"\n' + text)
            sources.append(path)
    library = os.path.join(work, "libemulated.so")
    cmd = ["g++", "-std=c++17", "-O2", "-shared", "-fPIC", "-D__global__=", "-D__device__=", "-D__host__=",
           "-D__forceinline__=inline", f"-I{cuda_include()}", f"-I{HERE}", f"-I{cuda_dir}",
           os.path.join(HERE, "emulation_api.cpp"), *sources, "-o", library]
    compiled = subprocess.run(cmd, capture_output=True, text=True)
    if compiled.returncode != 0:
        raise RuntimeError(f"the emulated CUDA sources do not compile:\n{compiled.stderr[-4000:]}")
    lib = ctypes.CDLL(library)
    i64, ptr, f32, i32 = ctypes.c_int64, ctypes.c_void_p, ctypes.c_float, ctypes.c_int
    lib.lrn_forward_c.argtypes = [i32, ptr, ptr, i64, i64, i64, i32, i64, f32, f32, f32]
    lib.lrn_backward_c.argtypes = [i32, ptr, ptr, ptr, i64, i64, i64, i32, i64, f32, f32, f32]
    lib.max_pool2d_forward_c.argtypes = [i32, ptr, ptr, ptr, i32] + [i64] * 6 + [i32] + [i64] * 8
    lib.max_pool2d_backward_c.argtypes = [i32, ptr, ptr, i32, ptr] + [i64] * 6 + [i32] + [i64] * 8
    lib.add_relu_forward_c.argtypes = [i32, ptr, ptr, ptr, ptr, i64]
    lib.add_relu_backward_c.argtypes = [i32, ptr, ptr, ptr, i64]
    lib.recorded_kernel.restype = ctypes.c_char_p
    lib.recorded_grid.restype = lib.recorded_block.restype = ctypes.c_uint
    return lib


@functools.lru_cache(maxsize=None)
def library():
    """The emulation built once per process (about a minute) and shared: by the tests and the report."""
    return build(tempfile.mkdtemp(prefix="cnnkernels-emulation-"))
