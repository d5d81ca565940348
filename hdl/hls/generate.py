"""HLS C++ for an artifact: ``python -m hdl hls DIR`` writes a Vitis HLS project to DIR/hls/."""

from __future__ import annotations

import os
import re
from importlib import resources

import jinja2
import numpy as np

from fxp import FixedFormat
from fxp.files import atomic_directory
from fxp.nn import Model, load_vectors
from fxp.nn.layers import ACTIVATIONS, argmax_format
from fxp.nn.spec import SpecError

from .names import check_cpp_name
from ..rtl.top import layer_config

__all__ = ["generate_hls", "render_hls", "raw_literal", "format_vectors", "parse_vectors",
           "generated_identifiers", "KERNEL_HEADERS", "DEFAULT_PART", "DEFAULT_CLOCK_NS"]

DEFAULT_PART = "xc7z020clg400-1"
DEFAULT_CLOCK_NS = 10.0
KERNEL_HEADERS = ("nnet_activation.h", "nnet_argmax.h", "nnet_common.h", "nnet_csim.h",
                  "nnet_dense.h")
_KERNEL_OF = {"dense": "nnet_dense.h", "relu": "nnet_activation.h", "lut": "nnet_activation.h",
              "argmax": "nnet_argmax.h"}
_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_LINE = 96  # characters of values per line in weights.h


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("templates") / "hls")),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
        lstrip_blocks=True, autoescape=False)


def raw_literal(raw: int) -> str:
    """A raw integer of at most 64 bits as a C++ ``long long`` expression.

    Examples
    --------
    >>> raw_literal(-11), raw_literal(-2**63)
    ('-11', '(-9223372036854775807 - 1)')
    """
    raw = int(raw)
    if not -2**63 <= raw < 2**63:
        raise ValueError(f"Raw integer {raw} does not fit 64 bits")
    return "(-9223372036854775807 - 1)" if raw == -2**63 else str(raw)


def format_vectors(raw, fmt: FixedFormat) -> str:
    """Raw vectors (rows of ints) as the testbench reads them: per line, one vector of raw
    bits in hexadecimal (two's complement, ``ceil(bits / 4)`` digits)."""
    mask, digits = (1 << fmt.bits) - 1, -(-fmt.bits // 4)
    return "".join(" ".join(format(int(v) & mask, f"0{digits}x") for v in row) + "\n"
                   for row in raw)


def parse_vectors(text: str, fmt: FixedFormat, n: int) -> np.ndarray:
    """Raw integers of ``fmt`` from the testbench's output (see :func:`format_vectors`).

    Returns an ``(vectors, n)`` array (int64 when ``fmt`` fits, else Python ints).
    """
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if len(words) != n:
            raise ValueError(f"csim output line {number}: expected {n} values, not {len(words)}")
        row = []
        for w in words:
            v = int(w, 16)
            if v >> fmt.bits:
                raise ValueError(f"csim output line {number}: {w!r} exceeds {fmt.bits} bits")
            row.append(v - (1 << fmt.bits) if fmt.signed and v >> (fmt.bits - 1) else v)
        rows.append(row)
    dtype = np.int64 if fmt.fits_int64 else object
    return np.array(rows, dtype=dtype).reshape(len(rows), n)


def generated_identifiers(model: Model) -> frozenset:
    """The identifiers the generated C++ declares besides the model and layer names."""
    names = {"input_t", "output_t", "N_IN", "N_OUT", "in", "out"}
    for layer in model.spec.layers:
        i = layer.index
        names |= {f"layer{i}_t", f"weight{i}_t", f"bias{i}_t", f"accum{i}_t", f"config{i}",
                  f"w{i}", f"b{i}", f"table{i}", f"layer{i}_out"}
    return frozenset(names)


def _check_names(model: Model):
    taken = generated_identifiers(model)
    check_cpp_name(model.name, "model name", taken)
    for layer in model.spec.layers:
        if layer.name is not None:
            check_cpp_name(layer.name, f"{layer.label} field 'name'", taken | {model.name})


def _type(name, role, fmt):
    return {"name": name, "role": role, "format": str(fmt), "c_type": fmt.c_type()}


def _array(index, label, role, name, type_name, fmt, raw):
    if fmt.bits > 64:
        raise ValueError(f"layer {index} ({label}) {role}: {fmt} is wider than the 64 bits "
                         f"that nnet::from_raw sets")
    raw = np.asarray(raw)
    rows = raw.reshape(-1, raw.shape[-1])
    values = [[f"nnet::from_raw<{type_name}>({raw_literal(v)})" for v in row] for row in rows]
    width = max(len(v) for row in values for v in row) + 2
    return {"index": index, "label": label, "role": role, "name": name, "type": type_name,
            "format": str(fmt), "frac_bits": fmt.frac_bits, "size": raw.shape[-1],
            "rows": raw.shape[0] if raw.ndim == 2 else None,
            "entries": values if raw.ndim == 2 else values[0],
            "per_line": max(1, _LINE // width)}


def _plan(model: Model, strategy, reuse):
    """Per layer: types, config, arrays and the call of its kernel."""
    real = [layer for layer in model.spec.layers if layer.type != "batchnorm"]
    layers, arrays, ii = [], [], 1
    in_type, in_var, fmt, n = "input_t", "in", model.input_format, model.n_inputs
    for layer in real:
        i, last = layer.index, layer is real[-1]
        label = layer.type if layer.name is None else f"{layer.type} {layer.name}"
        out_type = f"layer{i}_t"
        out_var = "out" if last else (layer.name or f"layer{i}_out")
        types, ctypes, values, args, hw = [], [], [], [in_var, out_var], ""
        if layer.type == "dense":
            w, b = model.weight(i), model.bias(i)
            n_in, n_out = w.shape[1], w.shape[0]
            cfg = layer_config(model, i, strategy=strategy, reuse=reuse)
            r = 1 if cfg["strategy"] == "parallel" else min(cfg["reuse"], n_in)
            block = -(-n_in // r)
            hw = ", parallel" if r == 1 else f", folded, reuse {r}"
            acc, out_fmt = layer.accumulator.fmt, layer.output.fmt
            types = [_type(f"weight{i}_t", "weights", w.fmt), _type(f"bias{i}_t", "bias", b.fmt),
                     _type(f"accum{i}_t", "accumulator", acc),
                     _type(out_type, "output", out_fmt)]
            ctypes = [("accum_t", f"accum{i}_t"), ("weight_t", f"weight{i}_t"),
                      ("bias_t", f"bias{i}_t")]
            values = [("n_in", n_in), ("n_out", n_out), ("reuse", r), ("block", block),
                      ("multipliers", n_out * block)]
            ii = max(ii, r)
            args += [f"w{i}", f"b{i}"]
            arrays += [_array(i, label, "weights", f"w{i}", f"weight{i}_t", w.fmt, w.raw),
                       _array(i, label, "bias", f"b{i}", f"bias{i}_t", b.fmt, b.raw)]
            kernel, n = "dense", n_out
        elif layer.type == "relu":
            out_fmt = layer.output.fmt
            types = [_type(out_type, "output", out_fmt)]
            values = [("n", n)]
            kernel = "relu"
        elif layer.type in ACTIVATIONS:
            table, tb = model.table(i)
            out_fmt = table.fmt
            types = [_type(out_type, "output and table", out_fmt)]
            values = [("n", n), ("table_bits", tb), ("in_signed", fmt.signed)]
            args += [f"table{i}"]
            arrays.append(_array(i, label, f"{layer.type} table ({tb} index bits)", f"table{i}",
                                 out_type, out_fmt, table.raw))
            kernel = "lut"
        elif layer.type == "argmax":
            out_fmt = argmax_format(n)
            types = [_type(out_type, "output (index of the first maximum)", out_fmt)]
            values = [("n", n)]
            kernel, n = "argmax", 1
        else:
            raise SpecError(f"{layer.label}: no HLS kernel for layer type {layer.type!r}")
        layers.append({
            "index": i, "label": label + hw, "kernel": kernel, "types": types,
            "config_types": [{"name": a, "type": t} for a, t in ctypes],
            "config_values": [{"name": a, "type": "bool", "value": str(v).lower()}
                              if isinstance(v, bool) else {"name": a, "type": "unsigned",
                                                           "value": v} for a, v in values],
            "in_type": in_type, "out_type": "output_t" if last else out_type,
            "out_var": out_var, "n_out": n, "declare": not last, "args": args})
        in_type, in_var, fmt = out_type, out_var, out_fmt
    if not layers:
        raise SpecError(f"Model {model.name}: no layers to generate")
    return layers, arrays, fmt, n, ii


def render_hls(model: Model, *, strategy=None, reuse=None, part=DEFAULT_PART,
               clock_ns=DEFAULT_CLOCK_NS, vectors=None) -> dict:
    """The files of the HLS project of ``model``, by path relative to the project folder.

    Parameters
    ----------
    model : fxp.nn.Model
    strategy, reuse : optional
        Override the model's ``hardware:`` settings for every dense layer (parallel: fully
        unrolled, a new input each cycle; folded with reuse R: II = R).
    part : str
        FPGA part of the Vitis HLS script (``-tclargs`` overrides it).
    clock_ns : float
        Clock period in ns of the Vitis HLS script.
    vectors : dict, optional
        The artifact's ``inputs`` and ``outputs`` (raw): written for the testbench.

    Returns
    -------
    dict of str to str
        ``firmware/<name>.cpp``, ``firmware/<name>.h``, ``defines.h``, ``parameters.h``,
        ``weights.h``, ``firmware/nnet/*.h``, ``tb/<name>_tb.cpp``, ``build.tcl`` and, with
        vectors, ``tb/tb_input.txt`` and ``tb/tb_expected.txt``.
    """
    return _render(model, strategy, reuse, part, clock_ns, vectors)[0]


def _render(model, strategy, reuse, part, clock_ns, vectors):
    if not isinstance(model, Model):
        raise TypeError(f"render_hls model must be an fxp.nn.Model, not {model!r}")
    if not isinstance(part, str) or not _PART.match(part):
        raise ValueError(f"FPGA part must be letters, digits, '_', '.' or '-', not {part!r}")
    if isinstance(clock_ns, bool) or not isinstance(clock_ns, (int, float)) or \
            not 0 < clock_ns < 1e6:
        raise ValueError(f"Clock period must be a positive number of ns, not {clock_ns!r}")
    if reuse is not None and (isinstance(reuse, bool) or not isinstance(reuse, int) or reuse < 1):
        raise TypeError(f"Reuse factor must be a positive integer, not {reuse!r}")
    _check_names(model)
    layers, arrays, out_fmt, n_out, ii = _plan(model, strategy, reuse)
    name = model.name
    ctx = {
        "name": name, "n_in": model.n_inputs, "n_out": n_out,
        "input": {"format": str(model.input_format), "c_type": model.input_format.c_type()},
        "output_type": f"layer{layers[-1]['index']}_t", "layers": layers, "arrays": arrays,
        "headers": sorted({_KERNEL_OF[layer["kernel"]] for layer in layers}), "ii": ii,
        "part": part, "clock_ns": f"{float(clock_ns):g}", "vectors": vectors is not None,
    }
    env = _environment()
    files = {
        f"firmware/{name}.h": "firmware/top.h.j2",
        f"firmware/{name}.cpp": "firmware/top.cpp.j2",
        "firmware/defines.h": "firmware/defines.h.j2",
        "firmware/parameters.h": "firmware/parameters.h.j2",
        "firmware/weights.h": "firmware/weights.h.j2",
        f"tb/{name}_tb.cpp": "tb/tb.cpp.j2",
        "build.tcl": "build.tcl.j2",
    }
    out = {path: env.get_template(t).render(ctx) for path, t in files.items()}
    nnet = resources.files("templates") / "hls" / "nnet"
    for header in KERNEL_HEADERS:
        out[f"firmware/nnet/{header}"] = (nnet / header).read_text()
    if vectors is not None:
        x = np.asarray(vectors["inputs"]).reshape(-1, model.n_inputs)
        y = np.asarray(vectors["outputs"]).reshape(len(x), n_out)
        out["tb/tb_input.txt"] = format_vectors(x, model.input_format)
        out["tb/tb_expected.txt"] = format_vectors(y, out_fmt)
    return dict(sorted(out.items())), ii


def generate_hls(directory, *, strategy=None, reuse=None, part=DEFAULT_PART,
                 clock_ns=DEFAULT_CLOCK_NS) -> dict:
    """Write the HLS project of the artifact in ``directory`` to ``directory/hls/``.

    Written atomically (a temporary folder swapped in); the same artifact and arguments give
    byte-identical files. See :func:`render_hls` for the arguments.

    Returns
    -------
    dict
        ``name``, ``ii`` (initiation interval the top is pipelined to) and ``files``.
    """
    model = Model.load(directory)
    path = os.path.join(os.path.abspath(directory), "vectors.npz")
    vectors = load_vectors(directory) if os.path.isfile(path) else None
    files, ii = _render(model, strategy, reuse, part, clock_ns, vectors)
    with atomic_directory(os.path.join(directory, "hls")) as tmp:
        for rel, text in files.items():
            target = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w") as f:
                f.write(text)
    return {"name": model.name, "ii": ii, "files": sorted(files)}
