// What the CPU and CUDA operators share before they call a kernel (C++ with torch): argument checks
// whose messages say what was expected, and the layout a kernel computes in. Each op's own checks,
// layouts and outputs are in prepare/<op>.h.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <c10/util/Exception.h>

#include <string>

// A bad argument: raised to Python as the same error the Python layer raises for it.
#define CNNK_CHECK_ARG(cond, ...) TORCH_CHECK_VALUE(cond, __VA_ARGS__)

namespace cnnkernels {

// Values printed as Python prints them, so that a message reads the same from either layer: a dtype
// (torch.float32), a shape or a list of ints as a tuple ((2, 3), (3,), ()), a device (cpu, cuda:0).
inline std::string py(at::ScalarType t) { return "torch." + std::string(c10::getDtypeNames(t).first); }
inline std::string py(at::IntArrayRef v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + (v.size() == 1 ? ",)" : ")");
}
inline std::string py(const at::Device& d) { return d.str(); }

// The memory format a kernel computes in and writes its output in: channels_last when the input is
// a 4-D channels_last tensor, else contiguous. Any other strides are copied into that format first.
// (cnnkernels/contracts/common.py, compute_format, is the same rule for the Python side.)
inline at::MemoryFormat compute_format(const at::Tensor& t) {
  if (t.dim() == 4 && !t.is_contiguous() && t.is_contiguous(at::MemoryFormat::ChannelsLast)) {
    return at::MemoryFormat::ChannelsLast;
  }
  return at::MemoryFormat::Contiguous;
}

inline void check_floating(const at::Tensor& t, const char* op, const char* name) {
  auto st = t.scalar_type();
  CNNK_CHECK_ARG(st == at::kFloat || st == at::kDouble || st == at::kHalf || st == at::kBFloat16, op, ": expected ",
                 name, " to be float32, float64, float16 or bfloat16, got ", py(st));
}

inline void check_same(const at::Tensor& a, const at::Tensor& b, const char* op, const char* name_a,
                       const char* name_b) {
  CNNK_CHECK_ARG(a.sizes() == b.sizes(), op, ": expected ", name_a, " and ", name_b, " to have the same shape, got ",
                 py(a.sizes()), " and ", py(b.sizes()));
  CNNK_CHECK_ARG(a.scalar_type() == b.scalar_type(), op, ": expected ", name_a, " and ", name_b,
                 " to have the same dtype, got ", py(a.scalar_type()), " and ", py(b.scalar_type()));
  CNNK_CHECK_ARG(a.device() == b.device(), op, ": expected ", name_a, " and ", name_b, " on the same device, got ",
                 py(a.device()), " and ", py(b.device()));
}

}  // namespace cnnkernels
