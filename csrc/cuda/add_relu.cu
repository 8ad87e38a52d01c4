// Residual add + ReLU on the GPU: one grid-stride pass over 16-byte packs when every pointer is
// 16-byte aligned (any dtype), then the last n % V elements; element by element otherwise.
#include "../add_relu.h"
#include "common.cuh"

namespace cnnkernels::cuda {
namespace {

// No __restrict__: the in-place op passes y == a (each element is read, then written, by one thread).
template <typename T, int V>
__global__ void add_relu_forward_kernel(const T* a, const T* b, T* y, int64_t n) {
  using P = Pack<T, V>;
  const int64_t packs = n / V;
  for (int64_t i = grid_thread(); i < packs; i += grid_threads()) {
    const P pa = reinterpret_cast<const P*>(a)[i], pb = reinterpret_cast<const P*>(b)[i];
    P py;
#pragma unroll
    for (int j = 0; j < V; ++j) py.v[j] = from_float<T>(add_relu::forward(to_float(pa.v[j]), to_float(pb.v[j])));
    reinterpret_cast<P*>(y)[i] = py;
  }
  const int64_t tail = packs * V + grid_thread();  // fewer than V elements: the grid's first threads
  if (tail < n) y[tail] = from_float<T>(add_relu::forward(to_float(a[tail]), to_float(b[tail])));
}

template <typename T, int V>
__global__ void add_relu_backward_kernel(const T* __restrict__ dy, const T* __restrict__ y, T* __restrict__ dx,
                                         int64_t n) {
  using P = Pack<T, V>;
  const int64_t packs = n / V;
  for (int64_t i = grid_thread(); i < packs; i += grid_threads()) {
    const P pdy = reinterpret_cast<const P*>(dy)[i], py = reinterpret_cast<const P*>(y)[i];
    P pdx;
#pragma unroll
    for (int j = 0; j < V; ++j) pdx.v[j] = from_float<T>(add_relu::backward(to_float(pdy.v[j]), to_float(py.v[j])));
    reinterpret_cast<P*>(dx)[i] = pdx;
  }
  const int64_t tail = packs * V + grid_thread();
  if (tail < n) dx[tail] = from_float<T>(add_relu::backward(to_float(dy[tail]), to_float(y[tail])));
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

cudaError_t add_relu_forward(DType dtype, const void* a, const void* b, void* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    with_pack_width<T>({a, b, y}, [&](auto v) {
      constexpr int V = decltype(v)::value;
      add_relu_forward_kernel<T, V><<<blocks_for(std::max<int64_t>(1, n / V)), THREADS, 0, stream>>>(
          static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(y), n);
    });
  });
}

cudaError_t add_relu_backward(DType dtype, const void* dy, const void* y, void* dx, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    with_pack_width<T>({dy, y, dx}, [&](auto v) {
      constexpr int V = decltype(v)::value;
      add_relu_backward_kernel<T, V><<<blocks_for(std::max<int64_t>(1, n / V)), THREADS, 0, stream>>>(
          static_cast<const T*>(dy), static_cast<const T*>(y), static_cast<T*>(dx), n);
    });
  });
}

}  // namespace cnnkernels::cuda
