"""Markdown of reports and sweeps: the tables and their number formatting."""

from __future__ import annotations

__all__ = ["COLUMNS", "fmt_value", "table", "row_label", "report_markdown", "sweep_markdown",
           "SWEEP_AXES", "show_axis_value"]

COLUMNS = (("lut", "LUT"), ("ff", "FF"), ("carry", "carry"), ("dsp", "DSP"), ("bram", "BRAM"),
            ("lutram", "LUTRAM"), ("mux", "MUXF"))


def fmt_value(v, digits=1) -> str:
    """A table cell: ``-`` for None, thousands separators, ``digits`` decimals for a float."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def table(header, rows) -> list:
    """Markdown table lines: the first column left-aligned, the others right-aligned."""
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def row_label(row) -> str:
    """``"<index> <type>"`` for a layer, the type alone for the output FIFO."""
    return row["type"] if row["index"] is None else f"{row['index']} {row['type']}"


def report_markdown(report: dict) -> str:
    """The report as Markdown tables (every number is the one in ``report.json``)."""
    perf = report["performance"]
    lines = [f"# {report['name']}: hardware report", ""]
    if "accuracy" in report:
        acc = report["accuracy"]
        lines += [f"Bit-exact test accuracy {fmt_value(acc.get('fixed_accuracy'), 4)} "
                  f"(float {fmt_value(acc.get('float_accuracy'), 4)}).", ""]
    if "mse" in report:
        err = report["mse"]
        lines += [f"Bit-exact test MSE {fmt_value(err.get('fixed_mse'), 4)}, MAE "
                  f"{fmt_value(err.get('fixed_mae'), 4)} (float MSE "
                  f"{fmt_value(err.get('float_mse'), 4)}, MAE "
                  f"{fmt_value(err.get('float_mae'), 4)}).", ""]
    if report.get("overrides"):
        lines += ["Hardware overrides: " + ", ".join(f"{k} {v}" for k, v in
                                                     report["overrides"].items()) + ".", ""]
    lines += ["## Performance", ""]
    rows = [["latency (cycles)", fmt_value(perf["latency_cycles"])],
            ["initiation interval (cycles)", fmt_value(perf["ii_cycles"])],
            ["fmax, ECP5 (MHz)", fmt_value(perf.get("fmax_mhz"), 2)],
            ["latency (ns)", fmt_value(perf.get("latency_ns"), 2)],
            ["throughput (inferences/s)", fmt_value(perf.get("throughput_per_s"))]]
    lines += table(["", "value"], rows) + [""]
    lines += ["## Resources per target", ""]
    cols = [c for c, _ in COLUMNS
            if any(s["resources"][c] for s in report["synthesis"].values())]
    head = ["target"] + [dict(COLUMNS)[c] for c in cols] + ["cells", "synthesis (s)"]
    rows = [[t] + [fmt_value(s["resources"][c]) for c in cols] + [fmt_value(s["resources"]["cells"]),
                                                            fmt_value(s["seconds"])]
            for t, s in report["synthesis"].items()]
    lines += table(head, rows) + [""]
    lines += ["ECP5 LUTs count LUT4 + 2 x CCU2C (a carry cell fills two LUT positions); "
              "Xilinx BRAM counts 18 Kib blocks.", ""]
    lines += ["## Resources per layer", ""]
    targets = list(report["synthesis"])
    # LUT and FF always; DSP, BRAM and LUTRAM where some layer uses them on that target
    kinds = {t: ["lut", "ff"] + [c for c in ("dsp", "bram", "lutram")
                                 if any(row["resources"][t].get(c) for row in report["layers"])]
             for t in targets}
    head = ["layer", "block", "latency", "II", "accumulator"] + [
        f"{t} {dict(COLUMNS)[c]}" for t in targets for c in kinds[t]]
    rows = []
    for row in report["layers"]:
        cells = [row_label(row), row["block"], fmt_value(row["latency"]),
                 fmt_value(row["ii"]), f"`{row['accumulator']}`" if "accumulator" in row else "-"]
        for t in targets:
            r = row["resources"][t]
            cells += [fmt_value(r.get(c, 0)) for c in kinds[t]]
        rows.append(cells)
    lines += table(head, rows) + [""]
    lines += ["## Cells per target", ""]
    for t, s in report["synthesis"].items():
        lines.append(f"- **{t}** ({s['description']}): " +
                     ", ".join(f"{c} {fmt_value(n)}" for c, n in s["cells"].items()))
    lines.append("")
    pnr = report["pnr"]
    lines += ["## Place and route (ECP5)", ""]
    if "skipped" in pnr:
        lines += [f"Skipped: {pnr['skipped']}.", ""]
    elif "error" in pnr:
        lines += [f"{pnr['device']}: failed: {pnr['error']}", ""]
    else:
        io = ("serial I/O wrapper, every port registered" if pnr["io"] == "serial"
              else "out of context, every port registered")
        util = ", ".join(f"{b} {u:,}/{a:,}" for b, (u, a) in pnr["utilization"].items())
        if "netlist" in pnr:
            io += "; " + pnr["netlist"]
        place = (f"; placer {pnr['placer']}" if "placer" in pnr else "") + \
            ("; --no-tmdriv" if pnr.get("timing_driven") is False else "")
        lines += [f"{pnr['device']} with nextpnr-ecp5 ({io}; {pnr['router']}{place}; "
                  f"target {pnr['target_mhz']:g} MHz, "
                  f"--timing-allow-fail): fmax **{fmt_value(pnr['fmax_mhz'], 2)} MHz**, "
                  f"{fmt_value(pnr['seconds'])} s.", "", f"Utilization: {util}.", ""]
        cp = pnr.get("critical_path")
        if cp:
            lines += [f"Critical path {cp['total_ns']:.2f} ns ({cp['logic_ns']:.2f} ns logic, "
                      f"{cp['routing_ns']:.2f} ns routing) through "
                      f"{' -> '.join(cp['blocks'])}.", ""]
    tools = ", ".join(f"{k} {v}" for k, v in report["tools"].items())
    lines += [f"Tools: {tools}."]
    return "\n".join(lines) + "\n"


# a sweep point's coordinates (hdl.flow.sweep.AXES), in the table's and the plots' order
SWEEP_AXES = ("weight_bits", "acc_bits", "act_bits", "strategy", "reuse", "pipeline")


def sweep_metric(sweep: dict) -> str:
    """``accuracy``, or ``mse`` for a regression model's sweep."""
    return "mse" if any("mse" in p for p in sweep["points"]) else "accuracy"


def show_axis_value(value) -> str:
    """A sweep axis value as shown in tables and plots (None: the spec's own)."""
    return "spec" if value is None else str(value)


def sweep_markdown(sweep: dict) -> str:
    """One table: a row per point (its axes, accuracy, accumulators, resources, fmax)."""
    targets = sweep["options"]["targets"]
    pnr = sweep["options"]["pnr"]
    metric = sweep_metric(sweep)
    short = "acc" if metric == "accuracy" else "MSE"
    shown = [a for a in SWEEP_AXES if a in ("weight_bits", "acc_bits")
             or sweep.get(a, [None]) != [None]]
    head = [a.replace("_", " ").replace("act ", "activation ") for a in shown]
    head += ["accumulators", f"bit-exact {short}", f"float {short}"]
    if targets:
        head += [f"{t} {n}" for t in targets for n in ("LUT", "FF")]
    else:
        head += ["latency (cycles)", "II (cycles)"]
    if pnr:
        head += ["fmax (MHz)", "latency (ns)"]
    rows = []
    for p in sweep["points"]:
        row = [show_axis_value(p.get(a)) for a in shown]
        if "error" in p:
            rows.append(row + [f"failed: {p['error']}"] + [""] * (len(head) - len(row) - 1))
            continue
        row += [", ".join(a.split("<")[1].split(",")[0] + " b" for a in p["accumulators"]),
                fmt_value(p[metric]["fixed"], 4), fmt_value(p[metric]["float"], 4)]
        for t in targets:
            r = p["resources"][t]
            row += [fmt_value(r["lut"]), fmt_value(r["ff"])]
        if not targets:
            perf = p["performance"]
            row += [str(perf["latency_cycles"]), str(perf["ii_cycles"])]
        if pnr:
            perf = p["performance"]
            row += [fmt_value(perf.get("fmax_mhz"), 2), fmt_value(perf.get("latency_ns"), 2)]
        rows.append(row)
    lines = [f"# {sweep['name']}: accuracy and resources against bit widths", "",
             "Accumulator bits `auto`: the spec's accumulators; a width P: trained "
             "accumulator-aware (A2Q) so every accumulator fits P bits; the accumulators "
             "column gives the widths each dense layer resolved to. `spec` in the other "
             "axes: the spec's own formats and hardware settings."
             + ("" if targets else " No synthesis: latency and II of the generated RTL."), ""]
    lines += table(head, rows)
    c = sweep["cache"]
    lines += ["", f"{len(sweep['points'])} points, {c['hits']} from the cache."]
    return "\n".join(lines) + "\n"
