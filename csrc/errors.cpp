// cnnkernels.ArgumentError from C++: a bad argument found by an operator reaches Python as the same
// exception class the Python layer raises (both a ValueError and a RuntimeError). torch translates a
// torch::PyTorchError into the Python exception type it names, wherever the op was called from.
#include <torch/csrc/Exceptions.h>

#include "prepare/common.h"

namespace cnnkernels {
namespace {

PyObject* argument_error_type = nullptr;  // cnnkernels.errors.ArgumentError, set when _C is imported

struct ArgumentError : torch::PyTorchError {
  using torch::PyTorchError::PyTorchError;
  PyObject* python_type() override { return argument_error_type != nullptr ? argument_error_type : PyExc_ValueError; }
};

}  // namespace

void set_argument_error_type(PyObject* type) {
  Py_XINCREF(type);
  argument_error_type = type;
}

void throw_argument_error(std::string message) { throw ArgumentError(std::move(message)); }

}  // namespace cnnkernels
