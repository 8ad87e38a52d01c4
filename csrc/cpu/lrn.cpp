// LRN on the CPU. The input is processed in tiles of (all channels) x (TILE pixels of one image),
// gathered into float buffers laid out [channel][pixel], so every inner loop runs over contiguous
// pixels (vectorised) whatever the tensor's layout. Window sums are summed directly from a
// zero-padded buffer of squares: exact, no running sum to drift, and no edge cases at c = 0 or C-1.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "../lrn.h"
#include "../tensor_checks.h"

namespace cnnkernels {
namespace {

constexpr int64_t TILE = 64;

// (n, c, pixel) of a contiguous (N, C, S) tensor or of a channels_last one, viewed as (N, S, C).
struct LrnGeometry {
  int64_t N, C, S;
  int64_t channel_stride, pixel_stride;
  LrnGeometry(const at::Tensor& x, bool channels_last)
      : N(x.size(0)), C(x.size(1)), S(x.numel() / std::max<int64_t>(1, x.size(0) * x.size(1))),
        channel_stride(channels_last ? 1 : S), pixel_stride(channels_last ? C : 1) {}
  int64_t tiles_per_image() const { return (S + TILE - 1) / TILE; }
};

template <typename acc_t>
struct LrnParams {
  int64_t size;
  acc_t alpha_over_size, beta, k;
};

template <bool kBeta075, typename acc_t>
inline acc_t inv_pow_s(acc_t s, acc_t beta) {
  if constexpr (kBeta075) {
    return lrn::inv_pow_075(s);
  } else {
    return lrn::inv_pow(s, beta);
  }
}

// Per-thread tile buffers, [channel][pixel] rows of TILE; the padded ones have zero rows around them.
template <typename acc_t>
struct TileBuffers {
  std::vector<acc_t> x, dy, inv, sq_padded, t_padded, window_sum;
  TileBuffers(int64_t C, int64_t size, bool backward)
      : x(C * TILE), sq_padded((C + size - 1) * TILE, acc_t(0)), window_sum(TILE) {
    if (backward) {
      dy.resize(C * TILE);
      inv.resize(C * TILE);
      t_padded.assign((C + size - 1) * TILE, acc_t(0));
    }
  }
};

template <typename scalar_t, typename acc_t>
void gather_tile(const scalar_t* src, acc_t* dst, const LrnGeometry& g, int64_t pixels) {
  for (int64_t c = 0; c < g.C; ++c) {
    for (int64_t p = 0; p < pixels; ++p) {
      dst[c * TILE + p] = static_cast<acc_t>(src[c * g.channel_stride + p * g.pixel_stride]);
    }
  }
}

// window_sum[p] = sum over rows [row, row + size) of a padded buffer.
template <typename acc_t>
void sum_rows(const acc_t* padded, int64_t row, int64_t size, int64_t pixels, acc_t* window_sum) {
  std::fill(window_sum, window_sum + pixels, acc_t(0));
  for (int64_t o = 0; o < size; ++o) {
    const acc_t* r = padded + (row + o) * TILE;
    for (int64_t p = 0; p < pixels; ++p) window_sum[p] += r[p];
  }
}

template <typename scalar_t, bool kBeta075>
void lrn_forward_kernel(const scalar_t* x, scalar_t* y, const LrnGeometry& g,
                        const LrnParams<at::opmath_type<scalar_t>>& prm) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t tiles = g.N * g.tiles_per_image();
  const int64_t pad_before = lrn::window_before(prm.size);
  at::parallel_for(0, tiles, 1, [&](int64_t begin, int64_t end) {
    TileBuffers<acc_t> buf(g.C, prm.size, /*backward=*/false);
    for (int64_t tile = begin; tile < end; ++tile) {
      const int64_t n = tile / g.tiles_per_image();
      const int64_t p0 = (tile % g.tiles_per_image()) * TILE;
      const int64_t pixels = std::min(TILE, g.S - p0);
      const int64_t base = n * g.C * g.S + p0 * g.pixel_stride;
      gather_tile(x + base, buf.x.data(), g, pixels);
      for (int64_t c = 0; c < g.C; ++c) {
        acc_t* sq = buf.sq_padded.data() + (c + pad_before) * TILE;
        const acc_t* xc = buf.x.data() + c * TILE;
        for (int64_t p = 0; p < pixels; ++p) sq[p] = xc[p] * xc[p];
      }
      for (int64_t c = 0; c < g.C; ++c) {
        sum_rows(buf.sq_padded.data(), c, prm.size, pixels, buf.window_sum.data());
        const acc_t* xc = buf.x.data() + c * TILE;
        scalar_t* yc = y + base + c * g.channel_stride;
        for (int64_t p = 0; p < pixels; ++p) {
          acc_t s = lrn::scale(buf.window_sum[p], prm.alpha_over_size, prm.k);
          yc[p * g.pixel_stride] = static_cast<scalar_t>(lrn::forward(xc[p], inv_pow_s<kBeta075>(s, prm.beta)));
        }
      }
    }
  });
}

template <typename scalar_t, bool kBeta075>
void lrn_backward_kernel(const scalar_t* dy, const scalar_t* x, scalar_t* dx, const LrnGeometry& g,
                         const LrnParams<at::opmath_type<scalar_t>>& prm) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t tiles = g.N * g.tiles_per_image();
  const int64_t pad_before = lrn::window_before(prm.size);
  const int64_t t_pad_before = lrn::backward_window_before(prm.size);
  const acc_t coef = acc_t(2) * prm.alpha_over_size * prm.beta;
  at::parallel_for(0, tiles, 1, [&](int64_t begin, int64_t end) {
    TileBuffers<acc_t> buf(g.C, prm.size, /*backward=*/true);
    for (int64_t tile = begin; tile < end; ++tile) {
      const int64_t n = tile / g.tiles_per_image();
      const int64_t p0 = (tile % g.tiles_per_image()) * TILE;
      const int64_t pixels = std::min(TILE, g.S - p0);
      const int64_t base = n * g.C * g.S + p0 * g.pixel_stride;
      gather_tile(x + base, buf.x.data(), g, pixels);
      gather_tile(dy + base, buf.dy.data(), g, pixels);
      for (int64_t c = 0; c < g.C; ++c) {
        acc_t* sq = buf.sq_padded.data() + (c + pad_before) * TILE;
        const acc_t* xc = buf.x.data() + c * TILE;
        for (int64_t p = 0; p < pixels; ++p) sq[p] = xc[p] * xc[p];
      }
      // Scales and backward terms t_c, from the recomputed window sums.
      for (int64_t c = 0; c < g.C; ++c) {
        sum_rows(buf.sq_padded.data(), c, prm.size, pixels, buf.window_sum.data());
        const acc_t* xc = buf.x.data() + c * TILE;
        const acc_t* dyc = buf.dy.data() + c * TILE;
        acc_t* invc = buf.inv.data() + c * TILE;
        acc_t* tc = buf.t_padded.data() + (c + t_pad_before) * TILE;
        for (int64_t p = 0; p < pixels; ++p) {
          acc_t s = lrn::scale(buf.window_sum[p], prm.alpha_over_size, prm.k);
          invc[p] = inv_pow_s<kBeta075>(s, prm.beta);
          tc[p] = lrn::backward_term(dyc[p], xc[p], invc[p], s);
        }
      }
      for (int64_t c = 0; c < g.C; ++c) {
        sum_rows(buf.t_padded.data(), c, prm.size, pixels, buf.window_sum.data());
        const acc_t* xc = buf.x.data() + c * TILE;
        const acc_t* dyc = buf.dy.data() + c * TILE;
        const acc_t* invc = buf.inv.data() + c * TILE;
        scalar_t* dxc = dx + base + c * g.channel_stride;
        for (int64_t p = 0; p < pixels; ++p) {
          dxc[p * g.pixel_stride] =
              static_cast<scalar_t>(lrn::backward(dyc[p], xc[p], invc[p], buf.window_sum[p], coef));
        }
      }
    }
  });
}

template <typename acc_t>
LrnParams<acc_t> make_params(int64_t size, double alpha, double beta, double k) {
  return {size, static_cast<acc_t>(alpha / static_cast<double>(size)), static_cast<acc_t>(beta),
          static_cast<acc_t>(k)};
}

at::Tensor lrn_forward_cpu(const at::Tensor& input, int64_t size, double alpha, double beta, double k) {
  check_lrn_args(input, size, "lrn_forward");
  const auto format = compute_format(input);
  const at::Tensor x = input.contiguous(format);
  at::Tensor y = at::empty_like(x, x.options(), format);
  if (x.numel() == 0) return y;
  const LrnGeometry g(x, format == at::MemoryFormat::ChannelsLast);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "lrn_forward_cpu", [&] {
    auto prm = make_params<at::opmath_type<scalar_t>>(size, alpha, beta, k);
    auto run = [&](auto beta075) {
      lrn_forward_kernel<scalar_t, decltype(beta075)::value>(x.const_data_ptr<scalar_t>(),
                                                             y.mutable_data_ptr<scalar_t>(), g, prm);
    };
    if (beta == 0.75) {
      run(std::true_type{});
    } else {
      run(std::false_type{});
    }
  });
  return y;
}

at::Tensor lrn_backward_cpu(const at::Tensor& grad_output, const at::Tensor& input, int64_t size, double alpha,
                            double beta, double k) {
  check_lrn_args(input, size, "lrn_backward");
  check_same(grad_output, input, "lrn_backward", "grad_output", "input");
  const auto format = compute_format(input);
  const at::Tensor x = input.contiguous(format);
  const at::Tensor dy = grad_output.contiguous(format);
  at::Tensor dx = at::empty_like(x, x.options(), format);
  if (x.numel() == 0) return dx;
  const LrnGeometry g(x, format == at::MemoryFormat::ChannelsLast);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "lrn_backward_cpu", [&] {
    auto prm = make_params<at::opmath_type<scalar_t>>(size, alpha, beta, k);
    auto run = [&](auto beta075) {
      lrn_backward_kernel<scalar_t, decltype(beta075)::value>(dy.const_data_ptr<scalar_t>(),
                                                              x.const_data_ptr<scalar_t>(),
                                                              dx.mutable_data_ptr<scalar_t>(), g, prm);
    };
    if (beta == 0.75) {
      run(std::true_type{});
    } else {
      run(std::false_type{});
    }
  });
  return dx;
}

}  // namespace

TORCH_LIBRARY_IMPL(cnnkernels, CPU, m) {
  m.impl("lrn_forward", &lrn_forward_cpu);
  m.impl("lrn_backward", &lrn_backward_cpu);
}

}  // namespace cnnkernels
