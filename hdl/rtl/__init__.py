"""Amaranth RTL: the layer blocks, valid/ready streams, the model top, Verilog and its manifest."""
