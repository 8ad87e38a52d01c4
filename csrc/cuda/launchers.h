// The CUDA kernels' entry points: plain C++ (no torch headers), so the .cu files compile in seconds.
// Pointers are device pointers to dense tensors in the layout named; the binding (bindings.cpp)
// checks arguments, allocates outputs and picks the stream. Each returns the launch's error code.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace cnnkernels::cuda {

enum class DType { Float32, Float16, BFloat16 };

// x: (N, C, S) contiguous, or (N, S, C) when channels_last.
struct LrnShape {
  int64_t N, C, S;
  bool channels_last;
};
struct LrnParams {
  int64_t size;
  float alpha_over_size, beta, k;
};
cudaError_t lrn_forward(DType dtype, const void* x, void* y, LrnShape shape, LrnParams params, cudaStream_t stream);
cudaError_t lrn_backward(DType dtype, const void* dy, const void* x, void* dx, LrnShape shape, LrnParams params,
                         cudaStream_t stream);

// Input (N, C, H, W) and output (N, C, OH, OW), both NCHW or both channels_last.
struct PoolShape {
  int64_t N, C, H, W, OH, OW;
  bool channels_last;
};
struct PoolWindow {
  int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
};
// argmax: nullptr (inference), or uint8 when argmax_bytes == 1, int32 when 4.
cudaError_t max_pool2d_forward(DType dtype, const void* x, void* y, void* argmax, int argmax_bytes, PoolShape shape,
                               PoolWindow window, cudaStream_t stream);
cudaError_t max_pool2d_backward(DType dtype, const void* dy, const void* argmax, int argmax_bytes, void* dx,
                                PoolShape shape, PoolWindow window, cudaStream_t stream);

// Elementwise over n elements (same layout for all). mask: (n + 7) / 8 bytes (csrc/add_relu.h), or
// nullptr (inference) in the forward.
cudaError_t add_relu_forward(DType dtype, const void* a, const void* b, void* y, uint8_t* mask, int64_t n,
                             cudaStream_t stream);
cudaError_t add_relu_backward(DType dtype, const void* dy, const uint8_t* mask, void* dx, int64_t n,
                              cudaStream_t stream);

}  // namespace cnnkernels::cuda
