// Activations of fxpga's HLS library: relu and lookup tables (sigmoid, tanh).
//
// Bit-exact with fxp/nn/layers/relu.py relu() and fxp/nn/layers/table.py lut().
#pragma once

#include <ap_int.h>

#include "nnet_common.h"

namespace nnet {

// res = cast(max(data, 0)) with res_T's modes. CONFIG_T holds n.
template <class data_T, class res_T, typename CONFIG_T>
void relu(const data_T data[CONFIG_T::n], res_T res[CONFIG_T::n]) {
  NNET_HLS(INLINE)
  for (unsigned i = 0; i < CONFIG_T::n; i++) {
    NNET_HLS(UNROLL)
    if (data[i] > 0)
      res[i] = data[i];
    else
      res[i] = 0;
  }
}

// res = table[index]: index is the top table_bits bits of the input's raw value minus its
// minimum, i.e. of the raw bits with the sign bit inverted when data_T is signed
// (raw - raw_min = raw + 2**(W-1)). CONFIG_T holds n, table_bits and in_signed.
template <class data_T, class res_T, typename CONFIG_T>
void lut(const data_T data[CONFIG_T::n], res_T res[CONFIG_T::n],
         const res_T table[1u << CONFIG_T::table_bits]) {
  static const int W = data_T::width;
  static_assert(CONFIG_T::table_bits >= 1 && CONFIG_T::table_bits <= W,
                "lut: table_bits must be between 1 and the input width");
  static_assert(CONFIG_T::table_bits <= 24, "lut: at most 2**24 table entries");
  NNET_HLS(INLINE)
  NNET_HLS(ARRAY_PARTITION variable = table complete)
  for (unsigned i = 0; i < CONFIG_T::n; i++) {
    NNET_HLS(UNROLL)
    ap_uint<W> offset = data[i].range(W - 1, 0);
    if (CONFIG_T::in_signed) offset[W - 1] = !offset[W - 1];
    const unsigned index = (offset >> (W - CONFIG_T::table_bits)).to_uint();
    res[i] = table[index];
  }
}

}  // namespace nnet
