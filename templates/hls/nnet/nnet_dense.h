// Dense layer of fxpga's HLS library: res = cast(sum_j weights[o][j] * data[j] + biases[o]).
//
// Bit-exact with fxp/nn/layers/dense.py dense(): every product is exact (the full-precision
// ap_fixed product type), the sum wraps in CONFIG_T::accum_t (an AP_WRAP type whose fraction
// bits cover the products' and the bias's, so the sum is exact modulo 2**W in any order) and
// the assignment to res_T rounds and handles overflow with the output's modes.
#pragma once

#include "nnet_common.h"

namespace nnet {

// CONFIG_T holds
//   n_in, n_out       sizes;
//   accum_t, weight_t, bias_t
//                     the accumulator, weight and bias types of the artifact;
//   reuse             1: parallel (every product has its multiplier, a new input each cycle);
//                     R > 1: folded (each multiplier serves R products, a new input every
//                     R cycles);
//   block             ceil(n_in / reuse): the inputs each output consumes per cycle;
//   multipliers       n_out * block.
template <class data_T, class res_T, typename CONFIG_T>
void dense(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
           const typename CONFIG_T::weight_t weights[CONFIG_T::n_out][CONFIG_T::n_in],
           const typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
  static_assert(CONFIG_T::reuse >= 1 && CONFIG_T::reuse <= CONFIG_T::n_in,
                "dense: reuse must be between 1 and n_in");
  static_assert(CONFIG_T::block == (CONFIG_T::n_in + CONFIG_T::reuse - 1) / CONFIG_T::reuse,
                "dense: block must be ceil(n_in / reuse)");
  NNET_HLS(PIPELINE II = CONFIG_T::reuse)
  NNET_HLS(ARRAY_PARTITION variable = biases complete)
  NNET_HLS(ARRAY_PARTITION variable = weights complete dim = 1)
  NNET_HLS(ARRAY_PARTITION variable = weights cyclic factor = CONFIG_T::block dim = 2)
  NNET_HLS(ARRAY_PARTITION variable = data cyclic factor = CONFIG_T::block)
  NNET_HLS(ALLOCATION operation instances = mul limit = CONFIG_T::multipliers)

  typename CONFIG_T::accum_t acc[CONFIG_T::n_out];
  NNET_HLS(ARRAY_PARTITION variable = acc complete)

  for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
    NNET_HLS(UNROLL)
    acc[o] = biases[o];
  }

  // Step r multiplies inputs r * block .. r * block + block - 1 of every output: with
  // data and weights partitioned cyclically by block, each step reads one word per bank.
  for (unsigned r = 0; r < CONFIG_T::reuse; r++) {
    NNET_HLS(UNROLL)
    for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
      NNET_HLS(UNROLL)
      for (unsigned k = 0; k < CONFIG_T::block; k++) {
        NNET_HLS(UNROLL)
        const unsigned j = r * CONFIG_T::block + k;
        if (j < CONFIG_T::n_in) acc[o] += weights[o][j] * data[j];
      }
    }
  }

  for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
    NNET_HLS(UNROLL)
    res[o] = acc[o];
  }
}

}  // namespace nnet
