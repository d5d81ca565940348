// Argmax of fxpga's HLS library: the index of the first maximum.
//
// Bit-exact with fxp/nn/layers/argmax.py argmax(): ties go to the lowest index; res_T is
// ap_ufixed<B,B> with B = max(1, ceil(log2(n))).
#pragma once

#include "nnet_common.h"

namespace nnet {

// CONFIG_T holds n.
template <class data_T, class res_T, typename CONFIG_T>
void argmax(const data_T data[CONFIG_T::n], res_T res[1]) {
  NNET_HLS(INLINE)
  data_T best = data[0];
  unsigned index = 0;
  for (unsigned i = 1; i < CONFIG_T::n; i++) {
    NNET_HLS(UNROLL)
    if (data[i] > best) {  // strictly greater: the first maximum wins
      best = data[i];
      index = i;
    }
  }
  res[0] = index;
}

}  // namespace nnet
