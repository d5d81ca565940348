// Leaky ReLU of fxpga's HLS library, alpha = 2**-shift.
//
// Bit-exact with fxp/nn/layers/leaky_relu.py: res = cast(x >= 0 ? x : x * 2**-shift) with
// res_T's modes, the product exact.
#pragma once

#include <ap_fixed.h>

#include "nnet_common.h"

namespace nnet {

// CONFIG_T holds n and shift. x * 2**-shift is exact in exact_t: shift more fraction bits and
// one more integer bit than data_T's width and integer bits (room for an unsigned data_T).
template <class data_T, class res_T, typename CONFIG_T>
void leaky_relu(const data_T data[CONFIG_T::n], res_T res[CONFIG_T::n]) {
  typedef ap_fixed<data_T::width + CONFIG_T::shift + 1, data_T::iwidth + 1> exact_t;
  NNET_HLS(INLINE)
  for (unsigned i = 0; i < CONFIG_T::n; i++) {
    NNET_HLS(UNROLL)
    if (data[i] < 0) {
      const exact_t x = data[i];
      res[i] = x >> CONFIG_T::shift;
    } else {
      res[i] = data[i];
    }
  }
}

}  // namespace nnet
