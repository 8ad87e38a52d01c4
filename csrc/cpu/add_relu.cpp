// Residual add + ReLU on the CPU: one pass over both inputs (PyTorch's add then relu makes two). For
// training the forward also writes the bit mask of where the gradient flows (csrc/add_relu.h), so
// the backward reads dy and 1/32 of an fp32 tensor instead of dy and y (its measured cost and gain:
// benchmarks/results/cpu-notes.md).
#include "../add_relu.h"

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "../prepare/add_relu.h"
#include "round_sum.h"

namespace cnnkernels {
namespace {

constexpr int64_t GRAIN = 32768;
// The forward packs the mask from y while a chunk of it is still in L1; a multiple of 8 elements,
// so each chunk starts at a whole mask byte.
constexpr int64_t CHUNK = 512;

// An element's bits as an unsigned integer of its width: the mask's tests need no conversion.
template <typename scalar_t>
using Bits =
    std::conditional_t<sizeof(scalar_t) == 2, uint16_t, std::conditional_t<sizeof(scalar_t) == 4, uint32_t, uint64_t>>;

// Mask bytes for y[0 .. count), count <= CHUNK. Two loops the compiler vectorises: one flag byte per
// element (y is neither +0 nor -0, which for a relu output is add_relu::passes_gradient: a negative y
// cannot occur, NaN has magnitude bits), then eight flags to one byte by a multiplication (the
// product's top byte collects bit 0 of each flag byte, bit j from byte j; nothing carries into it).
template <typename scalar_t>
void pack_mask(const scalar_t* y, int64_t count, uint8_t* mask) {
  using U = Bits<scalar_t>;
  typedef U __attribute__((may_alias)) AliasedU;
  const auto* bits = reinterpret_cast<const AliasedU*>(y);
  constexpr U magnitude = U(~U(0)) >> 1;
  alignas(8) uint8_t flags[CHUNK];
  for (int64_t e = 0; e < count; ++e) flags[e] = (bits[e] & magnitude) != 0;
  for (int64_t e = count; e < (count + 7) / 8 * 8; ++e) flags[e] = 0;
  for (int64_t k = 0; k < (count + 7) / 8; ++k) {
    uint64_t eight;
    std::memcpy(&eight, flags + 8 * k, 8);
    mask[k] = uint8_t((eight * 0x0102040810204080ull) >> 56);
  }
}

// dx[j] = bit j of `bits` ? dy[j] : +0 for eight elements, as bit patterns (a vector select: GCC/Clang
// vector extensions, since the compiler has no pattern for spreading a byte's bits over lanes).
template <typename scalar_t>
void select_eight(uint8_t bits, const scalar_t* dy, scalar_t* dx) {
  using U = Bits<scalar_t>;
  typedef U V __attribute__((vector_size(8 * sizeof(U)), aligned(sizeof(U)), may_alias));
  const V keep = V(((V{} + U(bits)) & V{1, 2, 4, 8, 16, 32, 64, 128}) != 0);
  *reinterpret_cast<V*>(dx) = *reinterpret_cast<const V*>(dy) & keep;
}

// mask: nullptr for inference.
template <typename scalar_t>
void forward_kernel(const scalar_t* a, const scalar_t* b, scalar_t* y, uint8_t* mask, int64_t n) {
  using acc_t = at::opmath_type<scalar_t>;
  auto compute = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      y[i] = round_sum<scalar_t>(add_relu::forward(static_cast<acc_t>(a[i]), static_cast<acc_t>(b[i])));
    }
  };
  if (mask == nullptr) {
    at::parallel_for(0, n, GRAIN, compute);
    return;
  }
  at::parallel_for(0, (n + CHUNK - 1) / CHUNK, GRAIN / CHUNK, [&](int64_t begin, int64_t end) {
    for (int64_t first = begin * CHUNK; first < std::min(end * CHUNK, n); first += CHUNK) {
      const int64_t last = std::min(first + CHUNK, n);
      compute(first, last);
      pack_mask(y + first, last - first, mask + first / 8);
    }
  });
}

void run_forward(const at::Tensor& a, const at::Tensor& b, at::Tensor& y, at::Tensor& mask) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, a.scalar_type(), "add_relu_cpu", [&] {
    forward_kernel(a.const_data_ptr<scalar_t>(), b.const_data_ptr<scalar_t>(), y.mutable_data_ptr<scalar_t>(),
                   mask.numel() ? mask.mutable_data_ptr<uint8_t>() : nullptr, a.numel());
  });
}

std::tuple<at::Tensor, at::Tensor> add_relu_cpu(const at::Tensor& input, const at::Tensor& residual, bool with_mask) {
  AddReluCall call = prepare_add_relu(input, residual, "add_relu");
  at::Tensor mask = empty_add_relu_mask(call.out, with_mask);
  run_forward(call.a, call.b, call.out, mask);
  return {call.out, mask};
}

at::Tensor add_relu_inplace_cpu(at::Tensor& input, const at::Tensor& residual, bool with_mask) {
  AddReluCall call = prepare_add_relu_inplace(input, residual, "add_relu_");
  at::Tensor mask = empty_add_relu_mask(call.out, with_mask);
  run_forward(call.a, call.b, call.out, mask);
  finish_add_relu(call);
  return mask;
}

at::Tensor add_relu_backward_cpu(const at::Tensor& grad_output, const at::Tensor& mask,
                                 at::IntArrayRef output_strides) {
  AddReluBackwardCall call = prepare_add_relu_backward(grad_output, mask, output_strides);
  const int64_t n = call.dx.numel();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, call.dy.scalar_type(), "add_relu_backward_cpu", [&] {
    const scalar_t* dy = call.dy.const_data_ptr<scalar_t>();
    const uint8_t* bits = call.mask.const_data_ptr<uint8_t>();
    scalar_t* dx = call.dx.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, add_relu::mask_bytes(n), GRAIN / 8, [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        if (8 * k + 8 <= n) {
          select_eight(bits[k], dy + 8 * k, dx + 8 * k);
        } else {
          for (int64_t e = 8 * k; e < n; ++e) dx[e] = (bits[k] >> (e - 8 * k)) & 1u ? dy[e] : scalar_t(0);
        }
      }
    });
  });
  return call.dx;
}

}  // namespace

TORCH_LIBRARY_IMPL(cnnkernels, CPU, m) {
  m.impl("add_relu", &add_relu_cpu);
  m.impl("add_relu_", &add_relu_inplace_cpu);
  m.impl("add_relu_backward", &add_relu_backward_cpu);
}

}  // namespace cnnkernels
