// Softmax of fxpga's HLS library: exp table, exact sum, reciprocal table, product cast.
//
// Bit-exact with fxp/nn/layers/softmax.py softmax(), over the last axis (each of CONFIG_T::rows
// groups of n consecutive values: one per pixel of an image, one group for a vector):
//   d_j = raw(max) - raw(x_j), in [0, 2**W);   e_j = exp_table[d_j >> (W - table_bits)];
//   s = sum_j e_j, exact in CONFIG_T::accum_t;  r = recip_table[raw(s) >> (S - recip_bits)];
//   res_j = e_j * r (the exact product), assigned to res_T with the output's modes.
// The tables are the artifact's, in CONFIG_T::table_t (ufixed<B, 1, RND, SAT>).
#pragma once

#include <ap_int.h>

#include "nnet_common.h"

namespace nnet {

// CONFIG_T holds n, rows, table_bits, recip_bits, accum_t and table_t.
template <class data_T, class res_T, typename CONFIG_T>
void softmax(const data_T data[CONFIG_T::rows * CONFIG_T::n],
             res_T res[CONFIG_T::rows * CONFIG_T::n],
             const typename CONFIG_T::table_t exp_table[1u << CONFIG_T::table_bits],
             const typename CONFIG_T::table_t recip_table[1u << CONFIG_T::recip_bits]) {
  typedef typename CONFIG_T::table_t table_t;
  typedef typename CONFIG_T::accum_t accum_t;
  static const int W = data_T::width;
  static const int S = accum_t::width;
  static_assert(CONFIG_T::table_bits >= 1 && CONFIG_T::table_bits <= W,
                "softmax: table_bits must be between 1 and the input width");
  static_assert(CONFIG_T::recip_bits >= 1 && CONFIG_T::recip_bits <= S,
                "softmax: recip_bits must be between 1 and the sum's width");
  NNET_HLS(INLINE)
  NNET_HLS(ARRAY_PARTITION variable = exp_table complete)
  NNET_HLS(ARRAY_PARTITION variable = recip_table complete)
  for (unsigned r = 0; r < CONFIG_T::rows; r++) {
    NNET_HLS(PIPELINE II = 1)
    const unsigned base = r * CONFIG_T::n;
    data_T top = data[base];
    for (unsigned j = 1; j < CONFIG_T::n; j++) {
      NNET_HLS(UNROLL)
      if (data[base + j] > top) top = data[base + j];
    }
    const ap_uint<W> top_raw = top.range(W - 1, 0);
    table_t e[CONFIG_T::n];
    NNET_HLS(ARRAY_PARTITION variable = e complete)
    accum_t sum = 0;
    for (unsigned j = 0; j < CONFIG_T::n; j++) {
      NNET_HLS(UNROLL)
      const ap_uint<W> raw = data[base + j].range(W - 1, 0);
      const ap_uint<W> d = top_raw - raw;  // modulo 2**W: the difference itself, >= 0
      e[j] = exp_table[(d >> (W - CONFIG_T::table_bits)).to_uint()];
      sum += e[j];
    }
    const ap_uint<S> sum_raw = sum.range(S - 1, 0);
    const table_t recip = recip_table[(sum_raw >> (S - CONFIG_T::recip_bits)).to_uint()];
    for (unsigned j = 0; j < CONFIG_T::n; j++) {
      NNET_HLS(UNROLL)
      res[base + j] = e[j] * recip;
    }
  }
}

}  // namespace nnet
