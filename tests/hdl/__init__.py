"""Tests of the hardware generators (hdl/)."""
