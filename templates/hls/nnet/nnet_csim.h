// C-simulation helpers of fxpga's HLS library: raw values as hexadecimal text, a file driver.
//
// A value travels as its W raw bits (two's complement for signed types) in hexadecimal,
// most significant digit first, so that every width round-trips exactly.
#pragma once

#include <ap_int.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace nnet {

// The value of T whose raw bits are the hexadecimal digits text (false when text is not
// hexadecimal or has bits beyond T's width).
template <class T>
bool from_hex(const std::string& text, T& value) {
  static const int W = T::width;
  if (text.empty() || text.size() > (W + 3) / 4) return false;
  ap_uint<W + 4> bits = 0;
  for (char c : text) {
    int digit;
    if (c >= '0' && c <= '9')
      digit = c - '0';
    else if (c >= 'a' && c <= 'f')
      digit = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      digit = c - 'A' + 10;
    else
      return false;
    bits = (bits << 4) | digit;
  }
  if (bits >> W) return false;
  value.range(W - 1, 0) = bits.range(W - 1, 0);
  return true;
}

// The raw bits of value in hexadecimal, (W + 3) / 4 digits.
template <class T>
std::string to_hex(const T& value) {
  static const int W = T::width;
  static const int D = (W + 3) / 4;
  ap_uint<4 * D> bits = 0;
  bits.range(W - 1, 0) = value.range(W - 1, 0);
  std::string text(D, '0');
  for (int d = 0; d < D; d++)
    text[D - 1 - d] = "0123456789abcdef"[bits.range(4 * d + 3, 4 * d).to_uint()];
  return text;
}

// Reads vectors of n values of T, one vector a line; false on a malformed line.
template <class T>
bool read_vectors(const char* path, unsigned n, std::vector<std::vector<T> >& vectors) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "tb: cannot read %s\n", path);
    return false;
  }
  std::string line;
  for (unsigned number = 1; std::getline(in, line); number++) {
    std::istringstream words(line);
    std::vector<T> values(n);
    std::string word;
    unsigned count = 0;
    while (words >> word) {
      if (count == n || !from_hex(word, values[count])) {
        std::fprintf(stderr, "tb: %s line %u: expected %u hexadecimal raw values\n", path,
                     number, n);
        return false;
      }
      count++;
    }
    if (count != n) {
      std::fprintf(stderr, "tb: %s line %u: expected %u hexadecimal raw values, not %u\n",
                   path, number, n, count);
      return false;
    }
    vectors.push_back(values);
  }
  return true;
}

// Runs top on every vector of inputs_path and writes the outputs to outputs_path; with
// expected_path, counts the vectors whose outputs differ from its lines. Returns the exit
// code: 0 when everything ran (and matched), 1 on mismatches, 2 on I/O errors.
template <class in_T, class out_T, unsigned N_IN, unsigned N_OUT>
int run_vectors(void (*top)(const in_T[N_IN], out_T[N_OUT]), const char* inputs_path,
                const char* outputs_path, const char* expected_path) {
  std::vector<std::vector<in_T> > inputs;
  if (!read_vectors(inputs_path, N_IN, inputs)) return 2;
  std::vector<std::vector<out_T> > expected;
  if (expected_path && !read_vectors(expected_path, N_OUT, expected)) return 2;
  if (expected_path && expected.size() != inputs.size()) {
    std::fprintf(stderr, "tb: %s has %u vectors, %s has %u\n", inputs_path,
                 (unsigned)inputs.size(), expected_path, (unsigned)expected.size());
    return 2;
  }
  std::ofstream out(outputs_path);
  if (!out) {
    std::fprintf(stderr, "tb: cannot write %s\n", outputs_path);
    return 2;
  }
  unsigned mismatches = 0;
  for (unsigned v = 0; v < inputs.size(); v++) {
    in_T x[N_IN];
    out_T y[N_OUT];
    for (unsigned i = 0; i < N_IN; i++) x[i] = inputs[v][i];
    top(x, y);
    bool same = true;
    for (unsigned i = 0; i < N_OUT; i++) {
      out << (i ? " " : "") << to_hex(y[i]);
      if (expected_path && y[i] != expected[v][i]) same = false;
    }
    out << "\n";
    mismatches += !same;
  }
  out.close();
  if (!out) {
    std::fprintf(stderr, "tb: cannot write %s\n", outputs_path);
    return 2;
  }
  if (expected_path)
    std::printf("tb: %u vectors, %u mismatches\n", (unsigned)inputs.size(), mismatches);
  return mismatches ? 1 : 0;
}

// The testbench's main: [inputs [outputs [expected]]], default tb_input.txt tb_output.txt.
template <class in_T, class out_T, unsigned N_IN, unsigned N_OUT>
int csim_main(int argc, char** argv, void (*top)(const in_T[N_IN], out_T[N_OUT])) {
  if (argc > 4) {
    std::fprintf(stderr, "usage: %s [inputs [outputs [expected]]]\n", argv[0]);
    return 2;
  }
  return run_vectors<in_T, out_T, N_IN, N_OUT>(top, argc > 1 ? argv[1] : "tb_input.txt",
                                               argc > 2 ? argv[2] : "tb_output.txt",
                                               argc > 3 ? argv[3] : nullptr);
}

}  // namespace nnet
