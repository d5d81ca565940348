"""The tool flow: synthesis, place and route, the timing harness, reports and sweeps."""
