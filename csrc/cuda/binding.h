// What the CUDA bindings (cuda/<op>_binding.cpp, TORCH_LIBRARY_IMPL(cnnkernels, CUDA)) share: the
// element type a launcher takes, the device check, and the launch's error check.
#pragma once

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "../prepare/common.h"
#include "launch.h"

namespace cnnkernels::cuda {

inline DType dtype_of(const at::Tensor& t, const char* op) {
  switch (t.scalar_type()) {
    case at::kFloat: return DType::Float32;
    case at::kHalf: return DType::Float16;
    case at::kBFloat16: return DType::BFloat16;
    default:
      CNNK_CHECK_ARG(false, op, ": the CUDA kernels take float32, float16 or bfloat16, got ", py(t.scalar_type()),
                     " (use backend=\"torch\" for float64 on the GPU)");
  }
}

inline void check_cuda(const at::Tensor& t, const char* op, const char* name) {
  CNNK_CHECK_ARG(t.is_cuda(), op, ": expected ", name, " on a CUDA device, got ", py(t.device()));
}

inline cudaStream_t current_stream() { return c10::cuda::getCurrentCUDAStream(); }

}  // namespace cnnkernels::cuda
