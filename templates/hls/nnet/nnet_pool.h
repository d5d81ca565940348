// Pooling of fxpga's HLS library: max and average pools over windows of a channels-last image.
//
// Bit-exact with fxp/nn/layers/pool.py: windows without padding (the ones that do not fit are
// dropped), each channel on its own. maxpool: the largest value of the window, in the input's
// type. avgpool (a window of n = 2**shift values): the exact sum in CONFIG_T::accum_t (the
// smallest type holding n times the input's range: it cannot overflow), the mean sum / n as
// the same raw bits read with shift more fraction bits (CONFIG_T::mean_t, exact), then the
// assignment to res_T with the output's modes. 1-D pools are (L, 1, C) images; global_avgpool
// is one window over the whole image.
#pragma once

#include "nnet_common.h"

namespace nnet {

// Arrays are row-major, channels fastest: data[(y * in_w + x) * n_chan + c],
// res[(y * out_w + x) * n_chan + c]. CONFIG_T holds in_h, in_w, n_chan, out_h, out_w,
// pool_h, pool_w, stride_h, stride_w. One output pixel per iteration of the pipelined loop.
template <class data_T, class res_T, typename CONFIG_T>
void maxpool2d(const data_T data[CONFIG_T::in_h * CONFIG_T::in_w * CONFIG_T::n_chan],
               res_T res[CONFIG_T::out_h * CONFIG_T::out_w * CONFIG_T::n_chan]) {
  NNET_HLS(INLINE)
  for (unsigned p = 0; p < CONFIG_T::out_h * CONFIG_T::out_w; p++) {
    NNET_HLS(PIPELINE II = 1)
    const unsigned y0 = p / CONFIG_T::out_w * CONFIG_T::stride_h;
    const unsigned x0 = p % CONFIG_T::out_w * CONFIG_T::stride_w;
    for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
      NNET_HLS(UNROLL)
      data_T best = data[(y0 * CONFIG_T::in_w + x0) * CONFIG_T::n_chan + c];
      for (unsigned i = 0; i < CONFIG_T::pool_h; i++) {
        NNET_HLS(UNROLL)
        for (unsigned j = 0; j < CONFIG_T::pool_w; j++) {
          NNET_HLS(UNROLL)
          const data_T v = data[((y0 + i) * CONFIG_T::in_w + x0 + j) * CONFIG_T::n_chan + c];
          if (v > best) best = v;
        }
      }
      res[p * CONFIG_T::n_chan + c] = best;
    }
  }
}

// CONFIG_T holds maxpool2d's sizes, shift (pool_h * pool_w = 2**shift), accum_t (the exact
// sum) and mean_t (accum_t's width with shift fewer integer bits).
template <class data_T, class res_T, typename CONFIG_T>
void avgpool2d(const data_T data[CONFIG_T::in_h * CONFIG_T::in_w * CONFIG_T::n_chan],
               res_T res[CONFIG_T::out_h * CONFIG_T::out_w * CONFIG_T::n_chan]) {
  typedef typename CONFIG_T::accum_t accum_t;
  typedef typename CONFIG_T::mean_t mean_t;
  static const int W = accum_t::width;
  static_assert(CONFIG_T::pool_h * CONFIG_T::pool_w == 1u << CONFIG_T::shift,
                "avgpool2d: the window must hold 2**shift values");
  static_assert(mean_t::width == W && mean_t::iwidth == accum_t::iwidth - int(CONFIG_T::shift),
                "avgpool2d: mean_t must be accum_t with shift more fraction bits");
  NNET_HLS(INLINE)
  for (unsigned p = 0; p < CONFIG_T::out_h * CONFIG_T::out_w; p++) {
    NNET_HLS(PIPELINE II = 1)
    const unsigned y0 = p / CONFIG_T::out_w * CONFIG_T::stride_h;
    const unsigned x0 = p % CONFIG_T::out_w * CONFIG_T::stride_w;
    for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
      NNET_HLS(UNROLL)
      accum_t sum = 0;
      for (unsigned i = 0; i < CONFIG_T::pool_h; i++) {
        NNET_HLS(UNROLL)
        for (unsigned j = 0; j < CONFIG_T::pool_w; j++) {
          NNET_HLS(UNROLL)
          sum += data[((y0 + i) * CONFIG_T::in_w + x0 + j) * CONFIG_T::n_chan + c];
        }
      }
      mean_t mean;  // sum / 2**shift: the same raw integer, shift more fraction bits
      mean.range(W - 1, 0) = sum.range(W - 1, 0);
      res[p * CONFIG_T::n_chan + c] = mean;
    }
  }
}

}  // namespace nnet
