// What the CPU and CUDA operators share before they call a kernel (C++ with torch): argument checks
// whose messages say what was expected, and tensors brought into the layout a kernel computes in.
// Each op's own checks, layouts and outputs are in prepare/<op>.h.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty_like.h>
#include <c10/core/ScalarType.h>
#include <c10/util/Exception.h>

#include <string>

namespace cnnkernels {

// Raises cnnkernels.ArgumentError (both a ValueError and a RuntimeError) with `message` (errors.cpp).
[[noreturn]] void throw_argument_error(std::string message);

}  // namespace cnnkernels

// A bad argument: raised to Python as the same exception, in the same words, as the Python layer's.
#define CNNK_CHECK_ARG(cond, ...)                                                         \
  do {                                                                                    \
    if (C10_UNLIKELY(!(cond))) ::cnnkernels::throw_argument_error(c10::str(__VA_ARGS__)); \
  } while (false)

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

// Whether a and b lay out their elements alike: the same sizes, and the same strides wherever a size
// is more than 1 (the stride of a dimension of size 1 is never used).
inline bool same_layout(const at::Tensor& a, const at::Tensor& b) {
  if (a.sizes() != b.sizes()) return false;
  for (int64_t d = 0; d < a.dim(); ++d) {
    if (a.size(d) > 1 && a.stride(d) != b.stride(d)) return false;
  }
  return true;
}

// t in the layout of `like` (a non-overlapping, dense tensor of t's shape): t itself when it has it,
// else a copy.
inline at::Tensor in_layout_of(const at::Tensor& t, const at::Tensor& like) {
  return same_layout(t, like) ? t : at::empty_like(like).copy_(t);
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
