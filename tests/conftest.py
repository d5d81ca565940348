"""Test-wide settings: reproducible hypothesis runs in CI."""

import os

from hypothesis import settings

# CI runs the same examples every time (a red CI must be reproducible); developers get fresh
# random examples on every run.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
