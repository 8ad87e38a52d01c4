// C entry points to the emulated launchers, for ctypes.
#include "add_relu.h"
#include "lrn.h"
#include "max_pool2d.h"
#include "emulation_shim.h"

unsigned emulated_max_blocks = 1u << 30;
bool emulated_record_only = false;

namespace {
struct Recorded {
  std::string kernel;
  unsigned grid, block;
};
std::vector<Recorded> recorded;
}  // namespace

void emulated_record(const char* kernel, unsigned grid, unsigned block) { recorded.push_back({kernel, grid, block}); }
using namespace cnnkernels::cuda;

extern "C" {
void set_max_blocks(unsigned blocks) { emulated_max_blocks = blocks; }
// Record mode: launches are recorded, not run (the pointers may be null).
void set_record_only(int on) {
  emulated_record_only = on != 0;
  recorded.clear();
}
int recorded_count() { return static_cast<int>(recorded.size()); }
const char* recorded_kernel(int i) { return recorded[i].kernel.c_str(); }
unsigned recorded_grid(int i) { return recorded[i].grid; }
unsigned recorded_block(int i) { return recorded[i].block; }
int lrn_forward_c(int dt, const void* x, void* y, int64_t N, int64_t C, int64_t S, int cl, int64_t size, float aos,
                  float beta, float k) {
  return lrn_forward(DType(dt), x, y, {N, C, S, bool(cl)}, {size, aos, beta, k},
                     cnnkernels::lrn::power_for(aos, beta, k), nullptr);
}
int lrn_backward_c(int dt, const void* dy, const void* x, void* dx, int64_t N, int64_t C, int64_t S, int cl,
                   int64_t size, float aos, float beta, float k) {
  return lrn_backward(DType(dt), dy, x, dx, {N, C, S, bool(cl)}, {size, aos, beta, k},
                      cnnkernels::lrn::power_for(aos, beta, k), nullptr);
}
int max_pool2d_forward_c(int dt, const void* x, void* y, void* am, int bytes, int64_t N, int64_t C, int64_t H,
                         int64_t W, int64_t OH, int64_t OW, int cl, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                         int64_t ph, int64_t pw, int64_t dh, int64_t dw) {
  return max_pool2d_forward(DType(dt), x, y, am, bytes, {N, C, H, W, OH, OW, bool(cl)},
                            {kh, kw, sh, sw, ph, pw, dh, dw}, nullptr);
}
int max_pool2d_backward_c(int dt, const void* dy, const void* am, int bytes, void* dx, int64_t N, int64_t C, int64_t H,
                          int64_t W, int64_t OH, int64_t OW, int cl, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                          int64_t ph, int64_t pw, int64_t dh, int64_t dw) {
  return max_pool2d_backward(DType(dt), dy, am, bytes, dx, {N, C, H, W, OH, OW, bool(cl)},
                             {kh, kw, sh, sw, ph, pw, dh, dw}, nullptr);
}
int add_relu_forward_c(int dt, const void* a, const void* b, void* y, uint8_t* mask, int64_t n) {
  return add_relu_forward(DType(dt), a, b, y, mask, n, nullptr);
}
int add_relu_backward_c(int dt, const void* dy, const uint8_t* mask, void* dx, int64_t n) {
  return add_relu_backward(DType(dt), dy, mask, dx, n, nullptr);
}
}
