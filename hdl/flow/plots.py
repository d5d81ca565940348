"""PNG plots of reports and sweeps (matplotlib, Agg)."""

from __future__ import annotations

import os

from .errors import ReportError
from .markdown import row_label, sweep_metric

__all__ = ["pyplot", "plot_layers", "plot_sweep"]


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


def plot_sweep(sweep: dict, out_dir) -> list:
    """``sweep_weight_bits.png`` and ``sweep_acc_bits.png``: accuracy and LUTs (first target)."""
    plt = pyplot()
    target = sweep["options"]["targets"][0]
    metric = sweep_metric(sweep)
    ok = [p for p in sweep["points"] if "error" not in p]
    paths = []
    for axis, other, fname in (("weight_bits", "acc_bits", "sweep_weight_bits.png"),
                               ("acc_bits", "weight_bits", "sweep_acc_bits.png")):
        xs_all = sweep[axis]
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
        for ov in sweep[other]:
            pts = [p for p in ok if p[other] == ov]
            pts.sort(key=lambda p: xs_all.index(p[axis]))
            xs = [xs_all.index(p[axis]) for p in pts]
            lab = f"{other.replace('_', ' ')} {ov}"
            a1.plot(xs, [p[metric]["fixed"] for p in pts], "o-", label=lab)
            a2.plot(xs, [p["resources"][target]["lut"] for p in pts], "o-", label=lab)
        for ax, title in ((a1, f"bit-exact test {'accuracy' if metric == 'accuracy' else 'MSE'}"),
                          (a2, f"{target} LUTs")):
            ax.set_xticks(range(len(xs_all)), [str(x) for x in xs_all])
            ax.set_xlabel(axis.replace("_", " "))
            ax.set_title(f"{sweep['name']}: {title}")
            ax.grid(alpha=0.3)
        a1.legend()
        fig.tight_layout()
        path = os.path.join(out_dir, fname)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths
