"""Hardware generators (Amaranth components and Jinja-rendered HLS C++)."""
