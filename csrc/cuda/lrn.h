// LRN's CUDA launchers. x, dy, y, dx: (N, C, S) contiguous, or (N, S, C) when shape.channels_last.
// power: lrn::Power::ThreeQuarters or General (Identity runs no kernel).
#pragma once

#include "../lrn.h"
#include "launch.h"

namespace cnnkernels::cuda {

cudaError_t lrn_forward(DType dtype, const void* x, void* y, lrn::Shape shape, lrn::Params<float> params,
                        lrn::Power power, cudaStream_t stream);
cudaError_t lrn_backward(DType dtype, const void* dy, const void* x, void* dx, lrn::Shape shape,
                         lrn::Params<float> params, lrn::Power power, cudaStream_t stream);

}  // namespace cnnkernels::cuda
