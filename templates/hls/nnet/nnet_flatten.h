// Flatten of fxpga's HLS library: a copy, since channels-last arrays are already row-major.
//
// Bit-exact with fxp/nn/layers/flatten.py: element (y, x, c) of an (H, W, C) image is
// data[(y * W + x) * C + c] before and after; the values and their type are unchanged.
#pragma once

#include "nnet_common.h"

namespace nnet {

// CONFIG_T holds n (H * W * C or L * C). Wires only: res_T is data_T.
template <class data_T, class res_T, typename CONFIG_T>
void flatten(const data_T data[CONFIG_T::n], res_T res[CONFIG_T::n]) {
  NNET_HLS(INLINE)
  for (unsigned i = 0; i < CONFIG_T::n; i++) {
    NNET_HLS(UNROLL)
    res[i] = data[i];
  }
}

}  // namespace nnet
