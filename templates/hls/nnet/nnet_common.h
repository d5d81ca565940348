// Common definitions of fxpga's HLS library.
#pragma once

// NNET_HLS(PIPELINE II = 4) is #pragma HLS PIPELINE II = 4 for Vitis HLS, which defines
// __SYNTHESIS__ when it synthesizes; for any other compiler (C simulation with g++ -Wall)
// it is nothing, where a bare #pragma HLS would warn "ignoring #pragma".
#ifdef __SYNTHESIS__
#define NNET_PRAGMA_(...) _Pragma(#__VA_ARGS__)
#define NNET_HLS(...) NNET_PRAGMA_(HLS __VA_ARGS__)
#else
#define NNET_HLS(...)
#endif

namespace nnet {

// The T whose raw integer (value * 2**frac_bits) is raw, for types of at most 64 bits: sets
// the bits themselves, where a double literal would round past 53 bits.
template <class T>
inline T from_raw(long long raw) {
  static_assert(T::width <= 64, "from_raw: at most 64 bits");
  T value;
  value.setBits(static_cast<unsigned long long>(raw));
  return value;
}

}  // namespace nnet
