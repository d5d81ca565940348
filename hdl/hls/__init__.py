"""HLS C++: generation with Jinja, identifier rules, the ap_types headers, C simulation."""
