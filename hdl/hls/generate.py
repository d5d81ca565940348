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
from fxp.nn.names import generated_cpp_names
from fxp.nn.spec import SpecError

from ..rtl.top import layer_configs
from .kernels import KernelContext, kernel_of, raw_literal
from .names import check_cpp_name

__all__ = ["generate_hls", "render_hls", "raw_literal", "format_vectors", "parse_vectors",
           "generated_identifiers", "ALWAYS_SHIPPED", "DEFAULT_PART", "DEFAULT_CLOCK_NS"]

DEFAULT_PART = "xc7z020clg400-1"
DEFAULT_CLOCK_NS = 10.0
# From the kernel library (templates/hls/nnet/) a project gets the headers its layers'
# kernels name (hdl.hls.kernels), the helpers every project includes and what those include.
ALWAYS_SHIPPED = ("nnet_common.h", "nnet_csim.h")
_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("templates") / "hls")),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
        lstrip_blocks=True, autoescape=False)


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


# Per-layer identifiers of the CNN kernels' declarations beyond fxp.nn.names' list (the spec
# loader does not know them yet; generation refuses them).
_HLS_PER_LAYER = ("mean{i}_t", "table{i}_t", "exp_table{i}", "recip_table{i}")


def generated_identifiers(model: Model) -> frozenset:
    """The identifiers the generated C++ declares besides the model and layer names."""
    n = len(model.spec.layers)
    return generated_cpp_names(n) | {p.format(i=i) for i in range(n) for p in _HLS_PER_LAYER}


def _check_names(model: Model):
    taken = generated_identifiers(model)
    check_cpp_name(model.name, "model name", taken)
    for layer in model.spec.layers:
        if layer.name is not None:
            check_cpp_name(layer.name, f"{layer.label} field 'name'", taken | {model.name})


def _plan(model: Model, strategy, reuse):
    """Per layer: types, config, arrays and the call of its kernel (:data:`KERNELS`); the
    top's initiation interval and whether it is pipelined (see :func:`render_hls`)."""
    real = [(layer, kernel) for layer in model.spec.layers
            for kernel in [kernel_of(layer)] if kernel is not None]
    layers, arrays, headers, ii, loops = [], [], set(), 1, []
    in_type, in_var, fmt, n = "input_t", "in", model.input_format, model.n_inputs
    for k, (layer, kernel) in enumerate(real):
        i, last = layer.index, k == len(real) - 1
        label = layer.type if layer.name is None else f"{layer.type} {layer.name}"
        out_type = f"layer{i}_t"
        out_var = "out" if last else (layer.name or f"layer{i}_out")
        call = kernel(KernelContext(model=model, layer=layer, in_fmt=fmt, n=n, label=label,
                                    out_type=out_type, strategy=strategy, reuse=reuse,
                                    shape=tuple(model.inputs[i][0])))
        ii = max(ii, call.ii)
        if call.loop is not None:
            loops.append(call.loop)
        arrays += call.arrays
        headers.add(call.header)
        n = call.n_out
        layers.append({
            "index": i, "label": label + call.note, "kernel": call.name, "types": call.types,
            "config_types": [{"name": a, "type": t} for a, t in call.config_types],
            "config_values": [{"name": a, "type": "bool", "value": str(v).lower()}
                              if isinstance(v, bool) else {"name": a, "type": "unsigned",
                                                           "value": v}
                              for a, v in call.config_values],
            "in_type": in_type, "out_type": "output_t" if last else out_type,
            "out_var": out_var, "n_out": n, "declare": not last,
            "args": [in_var, out_var, *call.args]})
        in_type, in_var, fmt = out_type, out_var, call.out_fmt
    if not layers:
        raise SpecError(f"Model {model.name}: no layers to generate")
    # kernels with pixel loops run one after another, each at a pixel per II (its reuse)
    return layers, arrays, sorted(headers), fmt, n, (sum(loops) if loops else ii), not loops


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

    Notes
    -----
    The top function takes one input as a flat array of ``prod(input shape)`` values,
    row-major: an ``(H, W, C)`` image's ``(y, x, c)`` is ``in[(y * W + x) * C + c]``, an
    ``(L, C)`` input's ``(l, c)`` is ``in[l * C + c]`` (channels last, as
    ``Model.predict_raw`` takes them). A model of vector kernels only is pipelined whole at
    the largest II of its dense layers; with conv, pool or per-pixel softmax kernels the top is
    not pipelined and each of those kernels pipelines its loop over output pixels at II 1 (a
    folded conv: its reuse): the II reported is then the sum of their pixels times their IIs
    (cycles per input, pipeline fill aside).
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
    layer_configs(model, strategy=strategy, reuse=reuse)   # the spec's errors, naming the layer
    _check_names(model)
    layers, arrays, headers, out_fmt, n_out, ii, pipelined = _plan(model, strategy, reuse)
    name = model.name
    shape = model.input_shape
    ctx = {
        "name": name, "n_in": model.n_inputs, "n_out": n_out, "pipelined": pipelined,
        "input_shape": " x ".join(map(str, shape)),
        "input_layout": {1: "", 2: "in[l * C + c]", 3: "in[(y * W + x) * C + c]"}[len(shape)],
        "input": {"format": str(model.input_format), "c_type": model.input_format.c_type()},
        "output_type": f"layer{layers[-1]['index']}_t", "layers": layers, "arrays": arrays,
        "headers": headers, "ii": ii,
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
    for header in sorted(set(headers) | set(ALWAYS_SHIPPED)):
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
        ``name``, ``ii`` (initiation interval of the top, see :func:`render_hls`) and ``files``.
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
