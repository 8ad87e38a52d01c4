// Residual add + ReLU on the GPU: one grid-stride pass, each thread a step of 16-byte packs when
// every pointer is 16-byte aligned (any dtype), element by element otherwise; the last n % step
// elements by the grid's first thread. With a mask, a step is 8 elements, so that each thread
// writes whole bytes of it (csrc/add_relu.h: the mask's bit order).
#include "add_relu.h"
#include "common.cuh"

namespace cnnkernels::cuda {
namespace {

// Elements a thread handles per step: V (one pack), or 8 (one mask byte) when there is a mask.
template <int V, bool kMask>
constexpr int step_elements = kMask ? 8 : V;

template <typename T>
__device__ __forceinline__ T add_relu_element(T a, T b) {
  return from_float<T>(add_relu::forward(to_float(a), to_float(b)));
}

// No __restrict__: the in-place op passes y == a (each element is read, then written, by one thread).
template <typename T, int V, bool kMask>
__global__ void add_relu_forward_kernel(const T* a, const T* b, T* y, uint8_t* mask, int64_t n) {
  using P = Pack<T, V>;
  constexpr int G = step_elements<V, kMask>, PACKS = G / V;
  const int64_t steps = n / G;
  for (int64_t i = grid_thread(); i < steps; i += grid_threads()) {
    unsigned bits = 0;
#pragma unroll
    for (int p = 0; p < PACKS; ++p) {
      const P pa = reinterpret_cast<const P*>(a)[i * PACKS + p], pb = reinterpret_cast<const P*>(b)[i * PACKS + p];
      P py;
#pragma unroll
      for (int j = 0; j < V; ++j) {
        py.v[j] = add_relu_element(pa.v[j], pb.v[j]);
        bits |= unsigned(add_relu::passes_gradient(to_float(py.v[j]))) << (p * V + j);
      }
      reinterpret_cast<P*>(y)[i * PACKS + p] = py;
    }
    if constexpr (kMask) mask[i] = uint8_t(bits);
  }
  if (grid_thread() == 0 && steps * G < n) {  // fewer than G elements left (one partial mask byte)
    unsigned bits = 0;
    for (int64_t e = steps * G; e < n; ++e) {
      y[e] = add_relu_element(a[e], b[e]);
      bits |= unsigned(add_relu::passes_gradient(to_float(y[e]))) << (e - steps * G);
    }
    if constexpr (kMask) mask[steps] = uint8_t(bits);
  }
}

// dx = dy where the mask's bit is set, else 0: bits are copied, nothing is converted.
template <typename T, int V>
__global__ void add_relu_backward_kernel(const T* __restrict__ dy, const uint8_t* __restrict__ mask, T* __restrict__ dx,
                                         int64_t n) {
  using P = Pack<T, V>;
  constexpr int PACKS = 8 / V;
  const T zero = from_float<T>(0.0f);
  const int64_t steps = n / 8;
  for (int64_t i = grid_thread(); i < steps; i += grid_threads()) {
    const unsigned bits = mask[i];
#pragma unroll
    for (int p = 0; p < PACKS; ++p) {
      const P pdy = reinterpret_cast<const P*>(dy)[i * PACKS + p];
      P pdx;
#pragma unroll
      for (int j = 0; j < V; ++j) pdx.v[j] = (bits >> (p * V + j)) & 1u ? pdy.v[j] : zero;
      reinterpret_cast<P*>(dx)[i * PACKS + p] = pdx;
    }
  }
  if (grid_thread() == 0) {
    for (int64_t e = steps * 8; e < n; ++e) dx[e] = (mask[steps] >> (e - steps * 8)) & 1u ? dy[e] : zero;
  }
}

// Calls body(std::integral_constant<int, V>{}) with V = 16 / sizeof(T) when all pointers allow
// 16-byte accesses, else V = 1.
template <typename T, typename Body>
void with_pack_width(std::initializer_list<const void*> pointers, Body&& body) {
  if (aligned16(pointers)) {
    body(std::integral_constant<int, pack16<T>>{});
  } else {
    body(std::integral_constant<int, 1>{});
  }
}

}  // namespace

cudaError_t add_relu_forward(DType dtype, const void* a, const void* b, void* y, uint8_t* mask, int64_t n,
                             cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    with_pack_width<T>({a, b, y}, [&](auto v) {
      constexpr int V = decltype(v)::value;
      const auto* ta = static_cast<const T*>(a);
      const auto* tb = static_cast<const T*>(b);
      auto* ty = static_cast<T*>(y);
      if (mask != nullptr) {
        const unsigned blocks = blocks_for(std::max<int64_t>(1, n / step_elements<V, true>));
        add_relu_forward_kernel<T, V, true><<<blocks, THREADS, 0, stream>>>(ta, tb, ty, mask, n);
      } else {
        const unsigned blocks = blocks_for(std::max<int64_t>(1, n / step_elements<V, false>));
        add_relu_forward_kernel<T, V, false><<<blocks, THREADS, 0, stream>>>(ta, tb, ty, mask, n);
      }
    });
  });
}

cudaError_t add_relu_backward(DType dtype, const void* dy, const uint8_t* mask, void* dx, int64_t n,
                              cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    with_pack_width<T>({dy, dx}, [&](auto v) {
      constexpr int V = decltype(v)::value;
      add_relu_backward_kernel<T, V><<<blocks_for(std::max<int64_t>(1, n / 8)), THREADS, 0, stream>>>(
          static_cast<const T*>(dy), mask, static_cast<T*>(dx), n);
    });
  });
}

}  // namespace cnnkernels::cuda
