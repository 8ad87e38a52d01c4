// Rounding a float sum of fp16/bf16 values back to the dtype, for the CPU kernels.
#pragma once

#include <c10/util/BFloat16.h>

#include <bit>
#include <cstdint>
#include <type_traits>

namespace cnnkernels {

// A float sum of scalar_t values (or any float computed from them by +, -, max) rounded to scalar_t.
// bf16 rounds to nearest even on the bits, without c10's NaN test: that test (returning one canonical
// NaN) keeps the compiler from vectorising the loops well. A NaN stays a NaN: the operands' NaNs, and inf - inf's
// default NaN, have their low 16 bits zero, so the rounding bias cannot carry out of them.
template <typename scalar_t, typename acc_t>
inline scalar_t round_sum(acc_t sum) {
  if constexpr (std::is_same_v<scalar_t, c10::BFloat16>) {
    const auto bits = std::bit_cast<uint32_t>(sum);
    return c10::BFloat16(static_cast<uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16),
                         c10::BFloat16::from_bits());
  } else {
    return static_cast<scalar_t>(sum);
  }
}

}  // namespace cnnkernels
