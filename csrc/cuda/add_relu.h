// add+ReLU's CUDA launchers: elementwise over n elements, every tensor in the same layout. mask:
// (n + 7) / 8 bytes (csrc/add_relu.h), or nullptr (inference) in the forward.
#pragma once

#include "../add_relu.h"
#include "launch.h"

namespace cnnkernels::cuda {

cudaError_t add_relu_forward(DType dtype, const void* a, const void* b, void* y, uint8_t* mask, int64_t n,
                             cudaStream_t stream);
cudaError_t add_relu_backward(DType dtype, const void* dy, const uint8_t* mask, void* dx, int64_t n,
                              cudaStream_t stream);

}  // namespace cnnkernels::cuda
