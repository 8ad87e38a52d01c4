// Max-pool's CUDA launchers. Input (N, C, H, W) and output (N, C, OH, OW), both NCHW or both
// channels_last (shape.channels_last). argmax: nullptr (inference), or uint8 when argmax_bytes == 1,
// int32 when 4.
#pragma once

#include "../max_pool2d.h"
#include "launch.h"

namespace cnnkernels::cuda {

cudaError_t max_pool2d_forward(DType dtype, const void* x, void* y, void* argmax, int argmax_bytes,
                               max_pool2d::PoolShape shape, max_pool2d::PoolWindow window, cudaStream_t stream);
cudaError_t max_pool2d_backward(DType dtype, const void* dy, const void* argmax, int argmax_bytes, void* dx,
                                max_pool2d::PoolShape shape, max_pool2d::PoolWindow window, cudaStream_t stream);

}  // namespace cnnkernels::cuda
