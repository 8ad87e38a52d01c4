// Every operator schema, declared once. The backends implement them (cpu/, cuda/), autograd/ records
// their gradients; the fake tensors (shapes for torch.compile) are registered in Python, each op's in
// cnnkernels/contracts/<op>.py.
#include <Python.h>
#include <torch/library.h>

TORCH_LIBRARY(cnnkernels, m) {
  // LRN across channels. The backward recomputes the window sums from the input: it needs x and dy only.
  m.def("lrn_forward(Tensor input, int size, float alpha, float beta, float k) -> Tensor");
  m.def("lrn_backward(Tensor grad_output, Tensor input, int size, float alpha, float beta, float k) -> Tensor");

  // Max-pool 2-D on (N, C, H, W) or (C, H, W). Returns the output and, when with_argmax, the offset of
  // each maximum inside its window (uint8 for windows of up to 256 positions, else int32); otherwise an
  // empty argmax, so inference writes nothing but the output. Both in the input's suggested memory
  // format, as PyTorch's.
  m.def(
      "max_pool2d_forward(Tensor input, int[2] kernel_size, int[2] stride, int[2] padding, int[2] dilation, "
      "bool ceil_mode, bool with_argmax) -> (Tensor, Tensor)");
  // channels_last: the format of the forward's input (the input gradient's, as PyTorch's).
  m.def(
      "max_pool2d_backward(Tensor grad_output, Tensor argmax, SymInt input_height, SymInt input_width, "
      "int[2] kernel_size, int[2] stride, int[2] padding, int[2] dilation, bool channels_last) -> Tensor");

  // relu(input + residual), input and residual of one shape and dtype, the output in the layout
  // PyTorch's elementwise ops give it. Returns the output and, when with_mask, the one bit per element
  // the backward needs (where the gradient flows; uint8, (numel + 7) / 8 bytes, elements in the
  // output's memory order, csrc/add_relu.h); otherwise an empty mask, so inference writes only the
  // output. One gradient serves both inputs.
  m.def("add_relu(Tensor input, Tensor residual, bool with_mask) -> (Tensor, Tensor)");
  // In place: writes into input; returns the mask (no alias of input, so torch.compile can
  // functionalize it), its elements in the memory order of input's dense layout.
  m.def("add_relu_(Tensor(a!) input, Tensor residual, bool with_mask) -> Tensor");
  // output_strides: the strides of the forward's output (the mask's element order, and dx's layout,
  // as PyTorch's threshold_backward gives it).
  m.def("add_relu_backward(Tensor grad_output, Tensor mask, SymInt[] output_strides) -> Tensor");
}

// What was compiled, for `python -m cnnkernels`. setup.py passes the CUDA architectures as a
// comma-separated list of sm_XY (binary) and compute_XY (PTX) tokens, the CPU -march as one token.
#define CNNK_STRINGIFY_LIST(...) #__VA_ARGS__
#define CNNK_STRINGIFY(...) CNNK_STRINGIFY_LIST(__VA_ARGS__)

#ifndef CNNKERNELS_CPU_ARCH
#define CNNKERNELS_CPU_ARCH default
#endif

static PyObject* build_info(PyObject*, PyObject*) {
  const char* cpu_arch = CNNK_STRINGIFY(CNNKERNELS_CPU_ARCH);
#ifdef CNNKERNELS_WITH_CUDA
  return Py_BuildValue("{s:O,s:s,s:s}", "cuda", Py_True, "cuda_archs", CNNK_STRINGIFY(CNNKERNELS_CUDA_ARCHS),
                       "cpu_arch", cpu_arch);
#else
  return Py_BuildValue("{s:O,s:s,s:s}", "cuda", Py_False, "cuda_archs", "", "cpu_arch", cpu_arch);
#endif
}

static PyMethodDef methods[] = {
    {"build_info", build_info, METH_NOARGS, "What this build of cnnkernels._C contains."},
    {nullptr, nullptr, 0, nullptr},
};

static PyModuleDef module = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, methods};

namespace cnnkernels {
void set_argument_error_type(PyObject* type);  // errors.cpp
}

// Importing cnnkernels._C runs the static TORCH_LIBRARY registrations above and in the backends, and
// hands the C++ checks the Python class they raise.
PyMODINIT_FUNC PyInit__C(void) {
  PyObject* errors = PyImport_ImportModule("cnnkernels.errors");
  if (errors == nullptr) return nullptr;
  PyObject* type = PyObject_GetAttrString(errors, "ArgumentError");
  Py_DECREF(errors);
  if (type == nullptr) return nullptr;
  cnnkernels::set_argument_error_type(type);
  Py_DECREF(type);
  return PyModule_Create(&module);
}
