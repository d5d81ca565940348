// Convolution of fxpga's HLS library: a dense layer over every window of a channels-last image.
//
// Bit-exact with fxp/nn/layers/conv2d.py conv2d() (and conv1d.py, an (L, 1, C) image):
// res[y][x][f] = cast(sum_{i,j,c} weights[f][i][j][c] * data[y*sh+i-top][x*sw+j-left][c]
// + biases[f]). Pixels outside the image are 0 and their taps are skipped (a zero product
// adds nothing); every product is exact, the sum wraps in CONFIG_T::accum_t (an AP_WRAP type
// holding every product's fraction bits, so the sum is exact modulo 2**W in any order) and
// the assignment to res_T rounds and handles overflow with the output's modes.
#pragma once

#include "nnet_common.h"

namespace nnet {

// Arrays are row-major, channels fastest: data[(y * in_w + x) * n_chan + c],
// res[(y * out_w + x) * n_filt + f], weights[f][(i * kernel_w + j) * n_chan + c].
// CONFIG_T holds
//   in_h, in_w, n_chan            the input image;
//   out_h, out_w, n_filt          the output image;
//   kernel_h, kernel_w, stride_h, stride_w
//                                 the windows;
//   pad_top, pad_left             zeros before the image (padding same: the smaller half);
//   taps                          kernel_h * kernel_w * n_chan;
//   reuse                         cycles per output pixel (1: every multiply has its own
//                                 multiplier; R: the pipeline's II, the multiplies shared);
//   accum_t, weight_t, bias_t     the accumulator, weight and bias types of the artifact.
// One output pixel (every filter) per iteration of the pipelined pixel loop.
template <class data_T, class res_T, typename CONFIG_T>
void conv2d(const data_T data[CONFIG_T::in_h * CONFIG_T::in_w * CONFIG_T::n_chan],
            res_T res[CONFIG_T::out_h * CONFIG_T::out_w * CONFIG_T::n_filt],
            const typename CONFIG_T::weight_t weights[CONFIG_T::n_filt][CONFIG_T::taps],
            const typename CONFIG_T::bias_t biases[CONFIG_T::n_filt]) {
  static_assert(CONFIG_T::taps == CONFIG_T::kernel_h * CONFIG_T::kernel_w * CONFIG_T::n_chan,
                "conv2d: taps must be kernel_h * kernel_w * n_chan");
  NNET_HLS(INLINE)
  NNET_HLS(ARRAY_PARTITION variable = biases complete)
  NNET_HLS(ARRAY_PARTITION variable = weights complete dim = 0)

  for (unsigned p = 0; p < CONFIG_T::out_h * CONFIG_T::out_w; p++) {
    NNET_HLS(PIPELINE II = CONFIG_T::reuse)
    const int oy = p / CONFIG_T::out_w, ox = p % CONFIG_T::out_w;
    typename CONFIG_T::accum_t acc[CONFIG_T::n_filt];
    NNET_HLS(ARRAY_PARTITION variable = acc complete)
    for (unsigned f = 0; f < CONFIG_T::n_filt; f++) {
      NNET_HLS(UNROLL)
      acc[f] = biases[f];
    }
    for (int i = 0; i < int(CONFIG_T::kernel_h); i++) {
      NNET_HLS(UNROLL)
      const int y = oy * int(CONFIG_T::stride_h) + i - int(CONFIG_T::pad_top);
      for (int j = 0; j < int(CONFIG_T::kernel_w); j++) {
        NNET_HLS(UNROLL)
        const int x = ox * int(CONFIG_T::stride_w) + j - int(CONFIG_T::pad_left);
        if (y < 0 || y >= int(CONFIG_T::in_h) || x < 0 || x >= int(CONFIG_T::in_w)) continue;
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
          NNET_HLS(UNROLL)
          const data_T v = data[(y * CONFIG_T::in_w + x) * CONFIG_T::n_chan + c];
          const unsigned t = (i * CONFIG_T::kernel_w + j) * CONFIG_T::n_chan + c;
          for (unsigned f = 0; f < CONFIG_T::n_filt; f++) {
            NNET_HLS(UNROLL)
            acc[f] += weights[f][t] * v;
          }
        }
      }
    }
    for (unsigned f = 0; f < CONFIG_T::n_filt; f++) {
      NNET_HLS(UNROLL)
      res[p * CONFIG_T::n_filt + f] = acc[f];
    }
  }
}

}  // namespace nnet
