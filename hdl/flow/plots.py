"""PNG plots of reports and sweeps (matplotlib, Agg)."""

from __future__ import annotations

import os

from .errors import ReportError
from .markdown import SWEEP_AXES, row_label, show_axis_value, sweep_metric

__all__ = ["pyplot", "plot_layers", "plot_sweep", "sweep_plot_names"]


def pyplot():
    """matplotlib.pyplot on the Agg backend, or a one-line ReportError without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        raise ReportError("plots need matplotlib: pip install -e '.[report]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_layers(report: dict, path) -> None:
    """Bar charts of LUTs and FFs per layer, one bar per target."""
    plt = pyplot()
    targets = list(report["synthesis"])
    labels = [row_label(r) for r in report["layers"]]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / max(len(targets), 1)
    for ax, (key, title) in zip(axes, (("lut", "LUTs"), ("ff", "flip-flops"))):
        for k, t in enumerate(targets):
            vals = [r["resources"][t][key] for r in report["layers"]]
            xs = [i + (k - (len(targets) - 1) / 2) * width for i in range(len(labels))]
            ax.bar(xs, vals, width, label=t)
        ax.set_xticks(range(len(labels)), labels, rotation=20)
        ax.set_title(f"{report['name']}: {title} per layer")
        ax.set_ylabel(title)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _axis_varies(sweep: dict, axis: str) -> bool:
    return axis in ("weight_bits", "acc_bits") or len(sweep.get(axis, [None])) > 1


def sweep_plot_names(sweep: dict) -> list:
    """``sweep_<axis>.png`` for weight and accumulator bits and every other axis with more
    than one value."""
    return [f"sweep_{axis}.png" for axis in SWEEP_AXES if _axis_varies(sweep, axis)]


def plot_sweep(sweep: dict, out_dir) -> list:
    """One PNG per axis (:func:`sweep_plot_names`): accuracy (or MSE) and LUTs of the first
    target (latency in cycles without synthesis) against the axis, a line per combination
    of the other axes."""
    plt = pyplot()
    targets = sweep["options"]["targets"]
    metric = sweep_metric(sweep)
    ok = [p for p in sweep["points"] if "error" not in p]
    varying = [a for a in SWEEP_AXES if len(sweep.get(a, [None])) > 1]
    paths = []
    for axis in SWEEP_AXES:
        if not _axis_varies(sweep, axis):
            continue
        xs_all = sweep.get(axis, [None])
        others = [a for a in varying if a != axis]
        groups = {}
        for p in ok:
            groups.setdefault(tuple(p.get(a) for a in others), []).append(p)
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
        for key, pts in groups.items():
            pts.sort(key=lambda p: xs_all.index(p.get(axis)))
            xs = [xs_all.index(p.get(axis)) for p in pts]
            lab = ", ".join(f"{a.replace('_', ' ')} {show_axis_value(v)}" for a, v in zip(others, key))
            a1.plot(xs, [p[metric]["fixed"] for p in pts], "o-", label=lab or None)
            if targets:
                a2.plot(xs, [p["resources"][targets[0]]["lut"] for p in pts], "o-")
            else:
                a2.plot(xs, [p["performance"]["latency_cycles"] for p in pts], "o-")
        right = f"{targets[0]} LUTs" if targets else "latency (cycles)"
        for ax, title in ((a1, f"bit-exact test {'accuracy' if metric == 'accuracy' else 'MSE'}"),
                          (a2, right)):
            ax.set_xticks(range(len(xs_all)), [show_axis_value(x) for x in xs_all])
            ax.set_xlabel(axis.replace("_", " "))
            ax.set_title(f"{sweep['name']}: {title}")
            ax.grid(alpha=0.3)
        if any(k for k in groups):
            a1.legend()
        fig.tight_layout()
        path = os.path.join(out_dir, f"sweep_{axis}.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths
