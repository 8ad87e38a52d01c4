// LRN on the CPU, one pass over memory in both layouts.
//  - channels_last: each pixel's C channels are contiguous; window sums over channels are shifted
//    adds of a zero-padded row of squares, vectorised over c.
//  - NCHW (and any (N, C, *) input): channel c of a block of pixels is a contiguous row; the kernel
//    slides down the channels keeping the `size` rows the window needs in a ring buffer, so each row
//    of x (and dy) is read from memory once, in long contiguous runs the prefetcher can follow.
// Window sums are summed directly, never by a running add/subtract: exact, no drift.
#include "../lrn.h"

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "../prepare/lrn.h"

namespace cnnkernels {
namespace {

constexpr int64_t BLOCK = 512;  // NCHW: pixels per row of the ring buffers

using lrn::inv_pow_s;
template <typename acc_t>
using Params = lrn::Params<acc_t>;

// ------------------------------------------------------------------ channels_last: (pixel, c)

template <typename scalar_t, bool kBeta075>
void forward_channels_last(const scalar_t* x, scalar_t* y, int64_t pixels, int64_t C,
                           const Params<at::opmath_type<scalar_t>>& prm) {
  using acc_t = at::opmath_type<scalar_t>;
  at::parallel_for(0, pixels, std::max<int64_t>(1, 16384 / C), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> sq_padded(C + prm.size - 1, acc_t(0)), sum(C);
    acc_t* sq = sq_padded.data() + prm.before();
    for (int64_t pix = begin; pix < end; ++pix) {
      const scalar_t* xp = x + pix * C;
      for (int64_t c = 0; c < C; ++c) sq[c] = static_cast<acc_t>(xp[c]) * static_cast<acc_t>(xp[c]);
      std::fill(sum.begin(), sum.end(), acc_t(0));
      for (int64_t o = 0; o < prm.size; ++o) {
        for (int64_t c = 0; c < C; ++c) sum[c] += sq_padded[c + o];
      }
      scalar_t* yp = y + pix * C;
      for (int64_t c = 0; c < C; ++c) {
        acc_t s = lrn::scale(sum[c], prm.alpha_over_size, prm.k);
        yp[c] = static_cast<scalar_t>(lrn::forward(static_cast<acc_t>(xp[c]), inv_pow_s<kBeta075>(s, prm.beta)));
      }
    }
  });
}

template <typename scalar_t, bool kBeta075>
void backward_channels_last(const scalar_t* dy, const scalar_t* x, scalar_t* dx, int64_t pixels, int64_t C,
                            const Params<at::opmath_type<scalar_t>>& prm) {
  using acc_t = at::opmath_type<scalar_t>;
  const acc_t coef = acc_t(2) * prm.alpha_over_size * prm.beta;
  at::parallel_for(0, pixels, std::max<int64_t>(1, 16384 / C), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> sq_padded(C + prm.size - 1, acc_t(0)), t_padded(C + prm.size - 1, acc_t(0)), sum(C), inv(C);
    acc_t* sq = sq_padded.data() + prm.before();
    acc_t* t = t_padded.data() + lrn::backward_window_before(prm.size);
    for (int64_t pix = begin; pix < end; ++pix) {
      const scalar_t* xp = x + pix * C;
      const scalar_t* dyp = dy + pix * C;
      for (int64_t c = 0; c < C; ++c) sq[c] = static_cast<acc_t>(xp[c]) * static_cast<acc_t>(xp[c]);
      std::fill(sum.begin(), sum.end(), acc_t(0));
      for (int64_t o = 0; o < prm.size; ++o) {
        for (int64_t c = 0; c < C; ++c) sum[c] += sq_padded[c + o];
      }
      for (int64_t c = 0; c < C; ++c) {
        acc_t s = lrn::scale(sum[c], prm.alpha_over_size, prm.k);
        inv[c] = inv_pow_s<kBeta075>(s, prm.beta);
        t[c] = lrn::backward_term(static_cast<acc_t>(dyp[c]), static_cast<acc_t>(xp[c]), inv[c], s);
      }
      std::fill(sum.begin(), sum.end(), acc_t(0));
      for (int64_t o = 0; o < prm.size; ++o) {
        for (int64_t c = 0; c < C; ++c) sum[c] += t_padded[c + o];
      }
      scalar_t* dxp = dx + pix * C;
      for (int64_t c = 0; c < C; ++c) {
        dxp[c] = static_cast<scalar_t>(
            lrn::backward(static_cast<acc_t>(dyp[c]), static_cast<acc_t>(xp[c]), inv[c], sum[c], coef));
      }
    }
  });
}

// ------------------------------------------------------------------ NCHW: (n, c, pixel)

// Rows of BLOCK pixels for the channels of one window, indexed by channel modulo `size`.
template <typename acc_t>
struct Ring {
  std::vector<acc_t> data;
  int64_t size;
  explicit Ring(int64_t size) : data(size * BLOCK), size(size) {}
  acc_t* row(int64_t c) { return data.data() + (c % size) * BLOCK; }
};

template <typename scalar_t, typename acc_t>
void load_row(const scalar_t* src, acc_t* dst, int64_t pixels) {
  for (int64_t p = 0; p < pixels; ++p) dst[p] = static_cast<acc_t>(src[p]);
}

template <typename scalar_t, typename acc_t>
void store_row(const acc_t* src, scalar_t* dst, int64_t pixels) {
  for (int64_t p = 0; p < pixels; ++p) dst[p] = static_cast<scalar_t>(src[p]);
}

// sum[p] = sum over channels [lo, hi] of x^2, from the ring of x rows.
template <typename acc_t>
void sum_squares(Ring<acc_t>& xr, int64_t lo, int64_t hi, int64_t pixels, acc_t* sum) {
  std::fill(sum, sum + pixels, acc_t(0));
  for (int64_t j = lo; j <= hi; ++j) {
    const acc_t* r = xr.row(j);
    for (int64_t p = 0; p < pixels; ++p) sum[p] += r[p] * r[p];
  }
}

// Calls body(n, first pixel, pixel count) for every block of BLOCK pixels of every image, in parallel.
template <typename Body>
void for_each_block(int64_t N, int64_t S, Body&& body) {
  const int64_t blocks = (S + BLOCK - 1) / BLOCK;
  at::parallel_for(0, N * blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t p0 = (b % blocks) * BLOCK;
      body(b / blocks, p0, std::min(BLOCK, S - p0));
    }
  });
}

template <typename scalar_t, bool kBeta075>
void forward_nchw(const scalar_t* x, scalar_t* y, int64_t N, int64_t C, int64_t S,
                  const Params<at::opmath_type<scalar_t>>& prm) {
  using acc_t = at::opmath_type<scalar_t>;
  for_each_block(N, S, [&](int64_t n, int64_t p0, int64_t pixels) {
    Ring<acc_t> xr(prm.size);
    std::vector<acc_t> out(BLOCK);
    const scalar_t* xb = x + n * C * S + p0;
    scalar_t* yb = y + n * C * S + p0;
    for (int64_t c = 0; c < std::min(prm.after(), C); ++c) load_row(xb + c * S, xr.row(c), pixels);
    for (int64_t c = 0; c < C; ++c) {
      if (c + prm.after() < C) load_row(xb + (c + prm.after()) * S, xr.row(c + prm.after()), pixels);
      sum_squares(xr, std::max<int64_t>(0, c - prm.before()), std::min(C - 1, c + prm.after()), pixels, out.data());
      const acc_t* xc = xr.row(c);
      for (int64_t p = 0; p < pixels; ++p) {
        acc_t s = lrn::scale(out[p], prm.alpha_over_size, prm.k);
        out[p] = lrn::forward(xc[p], inv_pow_s<kBeta075>(s, prm.beta));
      }
      store_row(out.data(), yb + c * S, pixels);
    }
  });
}

template <typename scalar_t, bool kBeta075>
void backward_nchw(const scalar_t* dy, const scalar_t* x, scalar_t* dx, int64_t N, int64_t C, int64_t S,
                   const Params<at::opmath_type<scalar_t>>& prm) {
  using acc_t = at::opmath_type<scalar_t>;
  const acc_t coef = acc_t(2) * prm.alpha_over_size * prm.beta;
  // dx_c needs t_j for j in [c - A, c + B]; t_j needs x rows [j - B, j + A].
  const int64_t A = lrn::backward_window_before(prm.size), B = lrn::backward_window_after(prm.size);
  for_each_block(N, S, [&](int64_t n, int64_t p0, int64_t pixels) {
    Ring<acc_t> xr(prm.size), dyr(prm.size), invr(prm.size), tr(prm.size);
    std::vector<acc_t> sum(BLOCK);
    const int64_t offset = n * C * S + p0;
    // Computes s_j, inv_j and t_j, loading the x row the window of j newly reaches and dy_j.
    auto compute_t = [&](int64_t j) {
      if (j + prm.after() < C) load_row(x + offset + (j + prm.after()) * S, xr.row(j + prm.after()), pixels);
      load_row(dy + offset + j * S, dyr.row(j), pixels);
      sum_squares(xr, std::max<int64_t>(0, j - prm.before()), std::min(C - 1, j + prm.after()), pixels, sum.data());
      const acc_t *xj = xr.row(j), *dyj = dyr.row(j);
      acc_t *invj = invr.row(j), *tj = tr.row(j);
      for (int64_t p = 0; p < pixels; ++p) {
        acc_t s = lrn::scale(sum[p], prm.alpha_over_size, prm.k);
        invj[p] = inv_pow_s<kBeta075>(s, prm.beta);
        tj[p] = lrn::backward_term(dyj[p], xj[p], invj[p], s);
      }
    };
    for (int64_t c = 0; c < std::min(prm.after(), C); ++c) load_row(x + offset + c * S, xr.row(c), pixels);
    for (int64_t j = 0; j < std::min(B, C); ++j) compute_t(j);
    for (int64_t c = 0; c < C; ++c) {
      if (c + B < C) compute_t(c + B);
      std::fill(sum.begin(), sum.begin() + pixels, acc_t(0));
      for (int64_t j = std::max<int64_t>(0, c - A); j <= std::min(C - 1, c + B); ++j) {
        const acc_t* tj = tr.row(j);
        for (int64_t p = 0; p < pixels; ++p) sum[p] += tj[p];
      }
      const acc_t *xc = xr.row(c), *dyc = dyr.row(c), *invc = invr.row(c);
      for (int64_t p = 0; p < pixels; ++p) sum[p] = lrn::backward(dyc[p], xc[p], invc[p], sum[p], coef);
      store_row(sum.data(), dx + offset + c * S, pixels);
    }
  });
}

// ------------------------------------------------------------------ operators

template <typename acc_t>
Params<acc_t> make_params(int64_t size, double alpha, double beta, double k) {
  return {size, static_cast<acc_t>(alpha / static_cast<double>(size)), static_cast<acc_t>(beta), static_cast<acc_t>(k)};
}

at::Tensor lrn_forward_cpu(const at::Tensor& input, int64_t size, double alpha, double beta, double k) {
  LrnCall call = prepare_lrn(input, nullptr, size, alpha, beta, k, "lrn_forward");
  return run_lrn(call, [&] {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "lrn_forward_cpu", [&] {
      const auto prm = make_params<at::opmath_type<scalar_t>>(size, alpha, beta, k);
      const scalar_t* x = call.x.const_data_ptr<scalar_t>();
      scalar_t* y = call.out.mutable_data_ptr<scalar_t>();
      lrn::with_power(call.power, [&](auto beta075) {
        constexpr bool kBeta075 = decltype(beta075)::value;
        const lrn::Shape& s = call.shape;
        if (s.channels_last) {
          forward_channels_last<scalar_t, kBeta075>(x, y, s.N * s.S, s.C, prm);
        } else {
          forward_nchw<scalar_t, kBeta075>(x, y, s.N, s.C, s.S, prm);
        }
      });
    });
  });
}

at::Tensor lrn_backward_cpu(const at::Tensor& grad_output, const at::Tensor& input, int64_t size, double alpha,
                            double beta, double k) {
  LrnCall call = prepare_lrn(input, &grad_output, size, alpha, beta, k, "lrn_backward");
  return run_lrn(call, [&] {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "lrn_backward_cpu", [&] {
      const auto prm = make_params<at::opmath_type<scalar_t>>(size, alpha, beta, k);
      const scalar_t* x = call.x.const_data_ptr<scalar_t>();
      const scalar_t* dy = call.dy.const_data_ptr<scalar_t>();
      scalar_t* dx = call.out.mutable_data_ptr<scalar_t>();
      lrn::with_power(call.power, [&](auto beta075) {
        constexpr bool kBeta075 = decltype(beta075)::value;
        const lrn::Shape& s = call.shape;
        if (s.channels_last) {
          backward_channels_last<scalar_t, kBeta075>(dy, x, dx, s.N * s.S, s.C, prm);
        } else {
          backward_nchw<scalar_t, kBeta075>(dy, x, dx, s.N, s.C, s.S, prm);
        }
      });
    });
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(cnnkernels, CPU, m) {
  m.impl("lrn_forward", &lrn_forward_cpu);
  m.impl("lrn_backward", &lrn_backward_cpu);
}

}  // namespace cnnkernels
