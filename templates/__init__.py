"""Jinja templates (package data): HLS C++, wrappers and scripts."""
