"""The one exception class cnnkernels raises for a bad argument."""

__all__ = ["ArgumentError"]


class ArgumentError(ValueError, RuntimeError):
    """A bad argument to a cnnkernels function, module or operator (a wrong dtype, rank or shape, a
    window that does not fit, ...). It is both a ValueError and a RuntimeError, as NumPy's AxisError is
    both a ValueError and an IndexError: code written for PyTorch, which raises RuntimeError for bad
    arguments, catches it, and so does code that expects ValueError. The C++ operators raise it too
    (csrc/errors.cpp)."""
