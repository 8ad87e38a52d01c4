"""2-D max-pool's contract: its argument checks (the C++ operators check the same, in the same words:
csrc/prepare/max_pool2d.h), PyTorch's output-size rule, the compact argmax (the offset of each
maximum inside its window, tap_h * kernel_w + tap_w) and PyTorch's indices from it, the outputs'
shapes and layouts for fake tensors, and the Triton op set's autograd. Output, argmax and input
gradient take the input's suggested memory format, as PyTorch's max_pool2d and its backward do."""
import torch
from torch._prims_common import suggest_memory_format

from ..errors import ArgumentError
from .common import check_tensor

FUNCTION = "max_pool2d"


def _pair(value, op, name):
    """An int or a sequence of one or two ints -> (height, width), as torch's pooling accepts."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) in (1, 2) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return (value[0], value[-1])
    shown = tuple(value) if isinstance(value, (tuple, list)) else value
    raise ArgumentError(f"{op}: expected {name} to be an int or a pair of ints, got {shown!r}")


def window(kernel_size, stride=None, padding=0, dilation=1, op=FUNCTION):
    """(kernel_size, stride, padding, dilation) as (height, width) pairs, checked; stride None (or
    empty) is the kernel size, as in PyTorch."""
    kernel = _pair(kernel_size, op, "kernel_size")
    stride = kernel if stride is None or stride == [] or stride == () else _pair(stride, op, "stride")
    padding = _pair(padding, op, "padding")
    dilation = _pair(dilation, op, "dilation")
    for name, value in (("kernel_size", kernel), ("stride", stride), ("dilation", dilation)):
        if min(value) < 1:
            raise ArgumentError(f"{op}: expected {name} >= 1, got {value}")
    half = (kernel[0] // 2, kernel[1] // 2)
    if min(padding) < 0 or padding[0] > half[0] or padding[1] > half[1]:
        raise ArgumentError(f"{op}: expected padding between 0 and half the kernel size {half}, got {padding}")
    return kernel, stride, padding, dilation


def output_size(size, kernel, stride, pad, dilation, ceil_mode):
    """PyTorch's pooling_output_shape (csrc/max_pool2d.h, output_size)."""
    out = (size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def output_shape(input, kernel, stride, padding, dilation, ceil_mode):
    """The pooled shape of input (N, C, H, W) or (C, H, W)."""
    height, width = input.shape[-2:]
    out_h = output_size(height, kernel[0], stride[0], padding[0], dilation[0], ceil_mode)
    out_w = output_size(width, kernel[1], stride[1], padding[1], dilation[1], ceil_mode)
    return (*input.shape[:-2], out_h, out_w)


def check(input, kernel, stride, padding, dilation, ceil_mode, op=FUNCTION):
    """input (N, C, H, W) or (C, H, W), non-empty but for N, of a floating dtype, and a checked window
    (window()) that fits it. Returns the output's shape."""
    check_tensor(input, op, "input")
    if input.dim() not in (3, 4):
        raise ArgumentError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {tuple(input.shape)}")
    if 0 in input.shape[-3:]:
        raise ArgumentError(f"{op}: expected non-empty channel and spatial dimensions, got shape {tuple(input.shape)}")
    shape = output_shape(input, kernel, stride, padding, dilation, ceil_mode)
    if shape[-2] < 1 or shape[-1] < 1:
        height, width = input.shape[-2:]
        raise ArgumentError(
            f"{op}: the pooling window (kernel {kernel}, dilation {dilation}) is bigger than the padded input "
            f"({height + 2 * padding[0]}x{width + 2 * padding[1]}): the output would be {shape[-2]}x{shape[-1]}"
        )
    return shape


def check_backward(grad_output, argmax, input_height, input_width, kernel, stride, padding, dilation, channels_last,
                   op="max_pool2d_backward"):
    """grad_output and argmax as max_pool2d_forward(with_argmax=True) gives them for an input of
    input_height x input_width."""
    check_tensor(grad_output, op, "grad_output")
    if grad_output.dim() not in (3, 4):
        raise ArgumentError(f"{op}: expected a 3-D or 4-D grad_output, got shape {tuple(grad_output.shape)}")
    if channels_last and grad_output.dim() != 4:
        raise ArgumentError(f"{op}: channels_last applies to 4-D tensors only, got grad_output of shape "
                            f"{tuple(grad_output.shape)}")
    expected = argmax_dtype(kernel)
    if argmax.shape != grad_output.shape or argmax.dtype != expected:
        raise ArgumentError(
            f"{op}: expected argmax of shape {tuple(grad_output.shape)} and dtype {expected} (from "
            f"max_pool2d_forward with with_argmax=True), got shape {tuple(argmax.shape)} and dtype {argmax.dtype}"
        )
    if argmax.device != grad_output.device:
        raise ArgumentError(f"{op}: expected argmax on {grad_output.device}, got {argmax.device}")
    if input_height < 1 or input_width < 1:
        raise ArgumentError(f"{op}: expected a positive input size, got {input_height}x{input_width}")
    fits = [
        grad_output.shape[i - 2] in (output_size(n, kernel[i], stride[i], padding[i], dilation[i], False),
                                     output_size(n, kernel[i], stride[i], padding[i], dilation[i], True))
        for i, n in enumerate((input_height, input_width))
    ]
    if not all(fits):
        raise ArgumentError(
            f"{op}: grad_output's {grad_output.shape[-2]}x{grad_output.shape[-1]} is not the pooled size of a "
            f"{input_height}x{input_width} input with kernel {kernel}, stride {stride}, padding {padding} and "
            f"dilation {dilation}"
        )


def argmax_dtype(kernel_size):
    """One byte per output element for windows of up to 256 positions (csrc/prepare/max_pool2d.h)."""
    return torch.uint8 if kernel_size[0] * kernel_size[1] <= 256 else torch.int32


def argmax_positions(argmax, kernel_size, stride, padding, dilation):
    """Input row and column of each output's maximum, from the compact argmax (tap_h * kernel_w + tap_w)."""
    out_h, out_w = argmax.shape[-2:]
    tap = argmax.long()
    rows = torch.arange(out_h, device=argmax.device).view(out_h, 1)
    cols = torch.arange(out_w, device=argmax.device).view(1, out_w)
    ih = rows * stride[0] - padding[0] + (tap // kernel_size[1]) * dilation[0]
    iw = cols * stride[1] - padding[1] + (tap % kernel_size[1]) * dilation[1]
    return ih, iw


def flat_indices(argmax, input_width, kernel_size, stride, padding, dilation):
    """PyTorch's int64 flat indices (ih * W + iw) from the compact argmax."""
    ih, iw = argmax_positions(argmax, kernel_size, stride, padding, dilation)
    return ih * input_width + iw


def gather_at_argmax(grad_input, argmax, kernel_size, stride, padding, dilation):
    """The adjoint of max_pool2d_backward, which is linear in grad_output: each output takes the value
    of grad_input at its maximum's input position, 0 where it credited nothing (a window wholly in
    the padding). Torch ops, so differentiable again (csrc/autograd/max_pool2d.cpp has the same)."""
    height, width = grad_input.shape[-2:]
    ih, iw = argmax_positions(argmax, kernel_size, stride, padding, dilation)
    inside = (argmax.long() < kernel_size[0] * kernel_size[1]) & (ih >= 0) & (ih < height) & (iw >= 0) & (iw < width)
    index = torch.where(inside, ih * width + iw, 0).flatten(-2)
    gathered = grad_input.flatten(-2).gather(-1, index).view(argmax.shape)
    return torch.where(inside, gathered, 0)


def pooling_format(input):
    """The memory format of the outputs and of the input gradient: input's suggested one, as PyTorch's
    (channels_last for channels_last-like strides; 3-D: contiguous). csrc/prepare/max_pool2d.h has the
    same rule."""
    return suggest_memory_format(input) if input.dim() == 4 else torch.contiguous_format


def outputs_like(input, kernel_size, stride, padding, dilation, ceil_mode, with_argmax):
    """Uninitialized output and argmax (empty unless with_argmax) for input, in its pooling_format."""
    shape = output_shape(input, kernel_size, stride, padding, dilation, ceil_mode)
    fmt = pooling_format(input)
    output = torch.empty(shape, dtype=input.dtype, device=input.device, memory_format=fmt)
    argmax = torch.empty(shape if with_argmax else (0,), dtype=argmax_dtype(kernel_size), device=input.device,
                         memory_format=fmt if with_argmax else torch.contiguous_format)
    return output, argmax


def grad_input_like(grad_output, input_height, input_width, channels_last):
    """An uninitialized input gradient, in the forward input's format (channels_last or contiguous)."""
    shape = (*grad_output.shape[:-2], input_height, input_width)
    return torch.empty(shape, dtype=grad_output.dtype, device=grad_output.device,
                       memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def register_fakes(ops):
    """Shapes, dtypes and strides of the C++ ops, for torch.compile (triton_op derives its own)."""
    torch.library.register_fake(ops.max_pool2d_forward)(outputs_like)
    @torch.library.register_fake(ops.max_pool2d_backward)
    def _(grad_output, argmax, input_height, input_width, kernel_size, stride, padding, dilation, channels_last):
        return grad_input_like(grad_output, input_height, input_width, channels_last)


def register_autograd(ops):
    """The Triton op set's autograd (the C++ op set's is csrc/autograd/max_pool2d.cpp): the forward
    keeps the one-byte argmax and the input's height and width, not the input; the backward is
    linear in grad_output, so it differentiates again by gathering at each window's maximum."""

    def setup_context(ctx, inputs, output):
        input, kernel_size, stride, padding, dilation, _ceil_mode, with_argmax = inputs
        ctx.with_argmax = with_argmax
        ctx.geometry = (input.shape[-2], input.shape[-1], kernel_size, stride, padding, dilation,
                        pooling_format(input) == torch.channels_last)
        ctx.save_for_backward(output[1])
        ctx.mark_non_differentiable(output[1])
        ctx.set_materialize_grads(False)  # else autograd fills a zero gradient for the argmax every step

    def backward(ctx, grad_output, _grad_argmax):
        if grad_output is None:
            return (None,) * 7
        if not ctx.with_argmax:
            raise RuntimeError(
                f"{ops.max_pool2d_forward.name()} was called with with_argmax=False, so it kept nothing to "
                "backpropagate through; call it with with_argmax=True when the input requires grad"
            )
        (argmax,) = ctx.saved_tensors
        return (ops.max_pool2d_backward(grad_output, argmax, *ctx.geometry),) + (None,) * 6

    torch.library.register_autograd(ops.max_pool2d_forward, backward, setup_context=setup_context)

    def backward_setup_context(ctx, inputs, output):
        _grad_output, argmax, _height, _width, *window, _channels_last = inputs
        ctx.window = window
        ctx.save_for_backward(argmax)

    def second_derivative(ctx, grad):
        (argmax,) = ctx.saved_tensors
        return (gather_at_argmax(grad, argmax, *ctx.window),) + (None,) * 8

    torch.library.register_autograd(ops.max_pool2d_backward, second_derivative, setup_context=backward_setup_context)
