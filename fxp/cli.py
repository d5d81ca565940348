"""``python -m fxp``: train, quantize and evaluate models into bit-exact artifacts."""

from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile

import numpy as np

from .files import check_output_directory

__all__ = ["main"]


class _UsageError(Exception):
    """A command-line argument that cannot work (printed as one line, exit 2)."""


def _check_output(path):
    """Fail before any work when ``-o`` cannot become the artifact directory."""
    try:
        check_output_directory(path)
    except OSError as e:
        raise _UsageError(f"-o {e}") from None


def _read_float_weights(path) -> dict:
    """The float weights of an ``.npz`` archive (see the README's ``fxp quantize``).

    Raises
    ------
    OSError
        If ``path`` is missing or not a file.
    ValueError
        If it is not an ``.npz`` archive of numeric (non-object) arrays.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path}: is a directory, not an .npz archive of float weights")
    bad = ValueError(f"{path}: not an .npz archive of float weights")
    if not zipfile.is_zipfile(path):
        raise bad
    try:
        with np.load(path, allow_pickle=False) as z:
            weights = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        raise bad from None
    for k, v in weights.items():
        if not isinstance(v, np.ndarray) or v.dtype.kind != "f":
            what = f"holds {v.dtype}" if isinstance(v, np.ndarray) else "is not an array"
            raise ValueError(f"{path}: not an .npz archive of float weights ({k!r} {what})")
    return weights


def _summary(m: dict) -> str:
    """The headline metrics of ``metrics.json``: accuracies, or MSE/MAE for a regression."""
    if m.get("loss") == "mse":
        return (f"fixed MSE {m['fixed_mse']:.6g} (MAE {m['fixed_mae']:.6g}), float MSE "
                f"{m['float_mse']:.6g} (MAE {m['float_mae']:.6g})")
    return f"fixed accuracy {m['fixed_accuracy']:.4f}, float accuracy {m['float_accuracy']:.4f}"


def _cmd_train(args):
    from .nn.spec import load_spec
    from .nn.training import spec_data, train
    spec = load_spec(args.spec)
    _check_output(args.output)
    data = spec_data(spec)      # read and checked once: a bad data file fails before any work
    result = train(spec, data, log=None if args.quiet else sys.stderr)
    m = result.save(args.output)
    print(f"{spec.name}: {_summary(m)}, {m['epochs']} epochs in {m['train_seconds']:.1f} s "
          f"-> {args.output}")


def _cmd_quantize(args):
    from .nn.spec import load_spec
    from .nn.training import post_training_quantize
    spec = load_spec(args.spec)
    _check_output(args.output)
    weights = _read_float_weights(args.weights)
    result = post_training_quantize(spec, weights)
    m = result.save(args.output)
    print(f"{spec.name}: {_summary(m)} (post-training quantization) -> {args.output}")


def evaluate(directory) -> dict:
    """Float vs bit-exact metrics, agreement, overflow/saturation per layer, accumulators.

    The test set comes from the artifact's data (checked against its recorded sha256); when
    that data is not on this machine, from the artifact's vectors (``data`` says which).
    """
    from .nn.data import DataUnavailable
    from .nn.model import Model, load_vectors
    from .nn.network import Network
    from .nn.training import scores, spec_data
    model = Model.load(directory)
    loss = model.spec.loss
    vec = load_vectors(directory)
    try:
        data = spec_data(model.spec)
    except DataUnavailable as e:
        data, missing = None, str(e)
    from .quantize import quantize
    if data is not None:
        x_raw = quantize(data.x_test, model.input_format, label="test inputs").raw
        labels, source = data.y_test, "data"
    else:
        x_raw, labels = vec["inputs"], vec.get("labels")
        source = f"vectors ({missing})"
    fixed = model.predict_raw(x_raw)
    report = {"name": model.name, "loss": loss, "test_vectors": int(len(x_raw)),
              "data": source}
    if labels is not None:
        fixed_vals = _values(model, fixed)
        report.update({f"fixed_{k}": v for k, v in scores(loss, fixed_vals, labels).items()})
    fpath = os.path.join(directory, "float_weights.npz")
    if data is not None and os.path.isfile(fpath):
        net = Network(model.spec, np.random.default_rng(0))
        net.load_float(_read_float_weights(fpath))
        flt = net.forward(data.x_test, "float")[0]
        report.update({f"float_{k}": v for k, v in scores(loss, flt, labels).items()})
        if loss != "mse":
            fixed_cls = fixed if fixed.ndim == 1 else fixed.reshape(len(fixed), -1).argmax(1)
            report["agreement"] = float(np.mean(flt.reshape(len(flt), -1).argmax(axis=1)
                                                == fixed_cls))
    # without the data the test set is the vectors: their outputs are already computed
    vec_out = fixed if data is None else model.predict_raw(vec["inputs"])
    report["vectors_match"] = bool(np.array_equal(vec_out, vec["outputs"]))
    log = model.overflow_report(x_raw)
    layers = []
    for layer in model.spec.layers:
        row = {"index": layer.index, "type": layer.type}
        for kind in ("accumulator", "output"):
            op = f"layer {layer.index} {layer.type} {kind}"
            if op in log:
                rec = log[op]
                row[f"{kind}_{rec.kind}"] = rec.count
        if layer.accumulator is not None:
            row["accumulator"] = str(layer.accumulator.fmt)
            row["accumulator_bits"] = layer.accumulator.fmt.bits
        if layer.output is not None:
            row["output"] = str(layer.output.fmt)
        layers.append(row)
    report["layers"] = layers
    return report


def _values(model, raw) -> np.ndarray:
    """The real values of raw outputs (class indices pass through)."""
    if model.spec.layers[-1].returns_index:
        return raw
    from .array import from_raw
    return from_raw(raw, model.output_format).to_float()


def _cmd_eval(args):
    r = evaluate(args.directory)
    if args.json:
        print(json.dumps(r, indent=1, sort_keys=True))
        return 0 if r["vectors_match"] else 1
    print(f"{r['name']}: {r['test_vectors']} test vectors from the {r['data']}")
    metrics = ("mse", "mae") if r["loss"] == "mse" else ("accuracy",)
    for kind, shown in (("float", "float"), ("fixed", "bit-exact")):
        for m in metrics:
            if f"{kind}_{m}" in r:
                value = r[f"{kind}_{m}"]
                text = f"{value:.4f}" if m == "accuracy" else f"{value:.6g}"
                print(f"  {shown + ' ' + (m if m == 'accuracy' else m.upper()):<19} {text}")
    if "agreement" in r:
        print(f"  agreement           {r['agreement']:.4f}")
    print(f"  vectors.npz         {'matches' if r['vectors_match'] else 'DOES NOT MATCH'} "
          f"the model")
    print(f"  {'layer':<14} {'accumulator':<14} {'acc ovf':>7} {'output':<26} {'out ovf':>7} "
          f"{'out sat':>7}")
    for row in r["layers"]:
        print(f"  {row['index']:>2} {row['type']:<11} {row.get('accumulator', '-'):<14} "
              f"{row.get('accumulator_overflow', '-'):>7} {row.get('output', '-'):<26} "
              f"{row.get('output_overflow', '-'):>7} {row.get('output_saturation', '-'):>7}")
    return 0 if r["vectors_match"] else 1


def _cmd_import(args):
    from .nn.onnx import import_onnx
    _check_output(args.output)
    model = import_onnx(args.model, args.output, name=args.name, data=args.data,
                        label=args.label, dyadic=args.dyadic)
    what = f"{len(model.spec.layers)} layers, output {model.output_format}"
    if args.data is not None:
        with open(os.path.join(args.output, "metrics.json")) as f:
            m = json.load(f)
        what += f", {m['test_vectors']} test vectors"
        if "fixed_accuracy" in m:
            what += f", fixed accuracy {m['fixed_accuracy']:.4f}"
        if "dyadic" in m:
            d = m["dyadic"]
            what += f", dyadic: {d['differ']} of {d['outputs']} outputs differ from the graph"
    print(f"{model.name}: {what} -> {args.output}")


def _cmd_name(args):
    if args.spec.lower().endswith(".onnx"):     # what python -m fxp import names it
        from .nn.onnx.importer import default_name
        print(default_name(args.spec))
        return
    from .nn.spec import load_spec
    print(load_spec(args.spec).name)


def main(argv=None) -> int:
    """Entry point of ``python -m fxp``; returns the exit code."""
    p = argparse.ArgumentParser(prog="python -m fxp", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a spec (QAT on the emulator) into an artifact")
    t.add_argument("spec")
    t.add_argument("-o", "--output", required=True, help="artifact directory")
    t.add_argument("-q", "--quiet", action="store_true", help="no per-epoch progress")
    t.set_defaults(func=_cmd_train)
    q = sub.add_parser("quantize", help="post-training quantization of float weights")
    q.add_argument("spec")
    q.add_argument("--weights", required=True, help="float weights .npz")
    q.add_argument("-o", "--output", required=True, help="artifact directory")
    q.set_defaults(func=_cmd_quantize)
    e = sub.add_parser("eval", help="float vs bit-exact accuracy, overflow, accumulators")
    e.add_argument("directory")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=_cmd_eval)
    im = sub.add_parser("import", help="a QONNX or QCDQ ONNX model as a bit-exact artifact")
    im.add_argument("model", help="the .onnx file")
    im.add_argument("-o", "--output", required=True, help="artifact directory")
    im.add_argument("--name", help="the model's name (default: the file's stem)")
    im.add_argument("--data", help="a dataset name or an .npz/.csv file: vectors.npz and "
                    "metrics.json from its test set")
    im.add_argument("--label", help="the target column of a CSV --data file")
    im.add_argument("--dyadic", type=int, nargs="?", const=16, metavar="BITS",
                    help="accept scales that are not powers of two, approximating each "
                    "needed multiplication by m / 2**c with m of BITS bits (default 16)")
    im.set_defaults(func=_cmd_import)
    nm = sub.add_parser("name", help="validate a spec and print its model name (an .onnx "
                        "file: the name python -m fxp import gives it)")
    nm.add_argument("spec")
    nm.set_defaults(func=_cmd_name)
    args = p.parse_args(argv)
    try:
        from .nn.model import ArtifactError
        from .nn.spec import SpecError
        try:
            return args.func(args) or 0
        except (_UsageError, SpecError, ArtifactError, ValueError, TypeError, OSError,
                ImportError, EOFError, zipfile.BadZipFile) as e:
            if os.environ.get("FXP_TRACEBACK"):
                raise
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            print(f"error: {msg}", file=sys.stderr)
            return 2
    except KeyboardInterrupt:
        if os.environ.get("FXP_TRACEBACK"):
            raise
        print("interrupted", file=sys.stderr)   # artifacts are written atomically: none left
        return 130
