// What every CUDA launcher shares (plain C++, no torch headers, so the .cu files compile in seconds):
// the element types, and the convention that a launcher takes device pointers to dense tensors in
// the layout its header names and returns the launch's error code. Each op's launchers are declared
// in cuda/<op>.h; the bindings (cuda/<op>_binding.cpp) check arguments, allocate outputs and pick
// the stream.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace cnnkernels::cuda {

enum class DType { Float32, Float16, BFloat16 };

}  // namespace cnnkernels::cuda
