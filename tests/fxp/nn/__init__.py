"""Tests of fxp.nn."""
