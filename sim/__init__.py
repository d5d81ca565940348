"""cocotb testbenches and simulator runners for generated RTL."""
