"""cuDNN's own LRN and max-pool (its legacy API, through ctypes) as autograd functions: the peer the
benchmark compares against. Nothing is loaded at import; the library is the libcudnn torch loads.

Enum values are those of cudnn_graph.h / cudnn_ops.h (cuDNN 9). cuDNN's LRN divides lrnAlpha by lrnN, as
PyTorch's F.local_response_norm divides alpha by size, so the parameters pass through unchanged; its
window is [c - (n-1)//2, c + n//2] where PyTorch's is [c - n//2, c + (n-1)//2], the same for odd n only.
"""
import ctypes
import functools
import os

import torch

_DATA_TYPES = {torch.float32: 0, torch.float16: 2, torch.bfloat16: 9}  # CUDNN_DATA_FLOAT, _HALF, _BFLOAT16
_NCHW, _NHWC = 0, 1  # cudnnTensorFormat_t
_LRN_CROSS_CHANNEL_DIM1 = 0  # cudnnLRNMode_t
_POOLING_MAX_DETERMINISTIC = 3  # cudnnPoolingMode_t
_PROPAGATE_NAN = 1  # cudnnNanPropagation_t: a NaN in the window is the max, as in PyTorch
_LRN_MAX_N, _LRN_MIN_K, _LRN_MIN_BETA = 16, 1e-5, 0.01  # cudnnSetLRNDescriptor's limits (cudnn_ops.h)

# The scaling factors are float for float, half and bfloat16 data: y = 1 * op(x) + 0 * y.
_ONE, _ZERO = ctypes.byref(ctypes.c_float(1.0)), ctypes.byref(ctypes.c_float(0.0))

_P, _I = ctypes.c_void_p, ctypes.c_int
_ARGTYPES = {  # without them ctypes would truncate device pointers to C ints
    "cudnnCreate": [_P],
    "cudnnSetStream": [_P, _P],
    "cudnnCreateTensorDescriptor": [_P],
    "cudnnSetTensor4dDescriptor": [_P, _I, _I, _I, _I, _I, _I],
    "cudnnCreateLRNDescriptor": [_P],
    "cudnnSetLRNDescriptor": [_P, ctypes.c_uint, ctypes.c_double, ctypes.c_double, ctypes.c_double],
    "cudnnLRNCrossChannelForward": [_P, _P, _I, _P, _P, _P, _P, _P, _P],
    "cudnnLRNCrossChannelBackward": [_P, _P, _I, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P],
    "cudnnCreatePoolingDescriptor": [_P],
    "cudnnSetPooling2dDescriptor": [_P, _I, _I, _I, _I, _I, _I, _I, _I],
    "cudnnPoolingForward": [_P, _P, _P, _P, _P, _P, _P, _P],
    "cudnnPoolingBackward": [_P, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P],
}


@functools.cache
def _lib():
    torch.backends.cudnn.version()  # makes torch load its libcudnn, which the soname then finds
    try:
        lib = ctypes.CDLL("libcudnn.so.9")
    except OSError:
        site = os.path.dirname(os.path.dirname(torch.__file__))
        lib = ctypes.CDLL(os.path.join(site, "nvidia", "cudnn", "lib", "libcudnn.so.9"))
    for name, argtypes in _ARGTYPES.items():
        getattr(lib, name).argtypes = argtypes
    lib.cudnnGetErrorString.argtypes, lib.cudnnGetErrorString.restype = [_I], ctypes.c_char_p
    return lib


def _call(name, *args):
    """Calls cuDNN's `name`; a 3xxx status (not supported) raises NotImplementedError, any other failure
    RuntimeError."""
    status = getattr(_lib(), name)(*args)
    if status != 0:
        error = NotImplementedError if status // 1000 == 3 else RuntimeError
        raise error(f"cuDNN {name}: {_lib().cudnnGetErrorString(status).decode()} (status {status})")


def _create(kind):
    descriptor = ctypes.c_void_p()
    _call(f"cudnnCreate{kind}", ctypes.byref(descriptor))
    return descriptor


@functools.cache
def _handle():
    """The process's one handle, on the device current at its creation."""
    return _create("")


def unavailable_reason():
    """Why the cuDNN peer cannot run here, or None. Never raises."""
    if not torch.cuda.is_available():
        return "no CUDA device"
    try:
        _handle()
    except (OSError, AttributeError, RuntimeError) as e:  # no library, a missing symbol, a failed cudnnCreate
        return f"cuDNN unavailable: {e}"
    return None


def _run(name, *args):
    """`name`(handle, *args) on torch's current stream, so it orders with the tensors' other work."""
    _call("cudnnSetStream", _handle(), torch.cuda.current_stream().cuda_stream)
    _call(name, _handle(), *args)


@functools.cache
def _tensor_descriptor(shape, dtype, nhwc):
    descriptor = _create("TensorDescriptor")
    _call("cudnnSetTensor4dDescriptor", descriptor, _NHWC if nhwc else _NCHW, _DATA_TYPES[dtype], *shape)
    return descriptor


def _is_nhwc(x):
    return not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def _memory_format(nhwc):
    return torch.channels_last if nhwc else torch.contiguous_format


def _dense(t, nhwc):
    """`t` laid out as a descriptor of format `nhwc` says (a no-op for the benchmark's tensors), and that
    descriptor."""
    t = t.contiguous(memory_format=_memory_format(nhwc))
    return t, _tensor_descriptor(tuple(t.shape), t.dtype, nhwc)


class _LRN(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, descriptor):
        ctx.nhwc, ctx.descriptor = _is_nhwc(x), descriptor
        x, x_desc = _dense(x, ctx.nhwc)
        y = torch.empty_like(x)
        _run("cudnnLRNCrossChannelForward", descriptor, _LRN_CROSS_CHANNEL_DIM1, _ONE, x_desc, x.data_ptr(), _ZERO,
             x_desc, y.data_ptr())
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, y = ctx.saved_tensors
        dy, desc = _dense(dy, ctx.nhwc)
        dx = torch.empty_like(x)
        _run("cudnnLRNCrossChannelBackward", ctx.descriptor, _LRN_CROSS_CHANNEL_DIM1, _ONE, desc, y.data_ptr(), desc,
             dy.data_ptr(), desc, x.data_ptr(), _ZERO, desc, dx.data_ptr())
        return dx, None


class _MaxPool2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, descriptor, kernel, stride, padding):
        ctx.nhwc, ctx.descriptor = _is_nhwc(x), descriptor
        x, x_desc = _dense(x, ctx.nhwc)
        n, c, h, w = x.shape
        out_hw = [_pool_output(size, k, s, p, False) for size, k, s, p in zip((h, w), kernel, stride, padding)]
        y = torch.empty((n, c, *out_hw), dtype=x.dtype, device=x.device, memory_format=_memory_format(ctx.nhwc))
        y_desc = _tensor_descriptor(tuple(y.shape), y.dtype, ctx.nhwc)
        _run("cudnnPoolingForward", descriptor, _ONE, x_desc, x.data_ptr(), _ZERO, y_desc, y.data_ptr())
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, y = ctx.saved_tensors
        dy, y_desc = _dense(dy, ctx.nhwc)
        x_desc = _tensor_descriptor(tuple(x.shape), x.dtype, ctx.nhwc)
        dx = torch.empty_like(x)
        _run("cudnnPoolingBackward", ctx.descriptor, _ONE, y_desc, y.data_ptr(), y_desc, dy.data_ptr(), x_desc,
             x.data_ptr(), _ZERO, x_desc, dx.data_ptr())
        return dx, None, None, None, None


@functools.cache
def _lrn_descriptor(size, alpha, beta, k):
    descriptor = _create("LRNDescriptor")
    _call("cudnnSetLRNDescriptor", descriptor, size, alpha, beta, k)  # alpha as PyTorch's: cuDNN divides it by n
    return descriptor


@functools.cache
def _pool_descriptor(kernel, stride, padding):
    descriptor = _create("PoolingDescriptor")
    _call("cudnnSetPooling2dDescriptor", descriptor, _POOLING_MAX_DETERMINISTIC, _PROPAGATE_NAN, *kernel, *padding,
          *stride)
    return descriptor


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _pool_output(size, kernel, stride, padding, ceil_mode):
    """PyTorch's max-pool output size (dilation 1); cuDNN's is the floor-mode one."""
    out = (size + 2 * padding - kernel + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:  # the last window must start inside the input
        out -= 1
    return out


def supports(op, params, chw, dtype):
    """Whether cuDNN computes exactly PyTorch's `op` with `params` on (C, H, W) images of `dtype`, as far
    as can be told without running it (see runs())."""
    if dtype not in _DATA_TYPES:
        return False
    if op == "lrn":
        size = params["size"]
        return size % 2 == 1 and size <= _LRN_MAX_N and params["k"] >= _LRN_MIN_K and params["beta"] >= _LRN_MIN_BETA
    if op == "max_pool2d":
        if _pair(params.get("dilation", 1)) != (1, 1):
            return False
        kernel, stride, padding = (_pair(params[key]) for key in ("kernel_size", "stride", "padding"))
        windows = list(zip(chw[1:], kernel, stride, padding))
        floor = [_pool_output(*window, False) for window in windows]
        ceil = [_pool_output(*window, params.get("ceil_mode", False)) for window in windows]
        return floor == ceil and min(floor) >= 1  # cuDNN has no ceil_mode: fine where it changes nothing
    return False


def function(op, params):
    """fn(x) computing PyTorch's `op` with `params` on an NCHW or channels_last CUDA tensor through cuDNN,
    differentiable; check supports() first. A dtype cuDNN turns down raises NotImplementedError."""
    if op == "lrn":
        descriptor = _lrn_descriptor(params["size"], params["alpha"], params["beta"], params["k"])
        return lambda x: _LRN.apply(x, descriptor)
    kernel, stride, padding = (_pair(params[key]) for key in ("kernel_size", "stride", "padding"))
    descriptor = _pool_descriptor(kernel, stride, padding)
    return lambda x: _MaxPool2d.apply(x, descriptor, kernel, stride, padding)


@functools.cache
def _runs(op, params, chw, dtype):
    fn = function(op, dict(params))
    for memory_format in (torch.contiguous_format, torch.channels_last):
        x = torch.randn(1, *chw, device="cuda", dtype=dtype).contiguous(memory_format=memory_format)
        x.requires_grad_()
        try:
            y = fn(x)
            torch.autograd.grad(y, x, torch.ones_like(y))
        except NotImplementedError:
            return False
    return True


def runs(op, params, chw, dtype):
    """Whether cuDNN runs `op` forward and backward on one (C, H, W) image of `dtype` in both layouts: some
    combinations it turns down (NOT_SUPPORTED) only when called."""
    return _runs(op, tuple(sorted(params.items())), tuple(chw), dtype)
