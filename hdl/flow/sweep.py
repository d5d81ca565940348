"""Accuracy and hardware cost over bit widths and hardware settings (``python -m hdl sweep``), cached.

``python -m hdl sweep SPEC --weight-bits 4,6,8 --acc-bits auto,16,12`` trains, generates and
synthesizes every point of the axes' product; ``--act-bits``, ``--strategy``, ``--reuse`` and
``--pipeline`` add axes (``spec``: the spec's own setting). The points run on a process pool,
or as tasks of a Dask cluster with ``--scheduler`` (see :mod:`hdl.flow.engine`).

Weight bits ``B`` set every dense layer's weight format to ``B`` bits with its ``int_bits``,
signedness and modes kept (an ``auto`` weight becomes ``{bits: B, int_bits: auto}``).

Accumulator bits: ``auto`` trains the spec as it is (accumulators as the spec says, ``auto``
being the interval bound, which cannot overflow). A width ``P`` trains accumulator-aware
(``train.a2q.accumulator_bits: P``, accumulators ``auto``): every dense layer's integer
weights are held under A2Q's L1 bound, so each accumulator provably fits ``P`` bits and never
overflows, and the accuracy is that of hardware that really has ``P``-bit accumulators. (A
``P``-bit WRAP accumulator forced onto weights trained without the bound would overflow and
measure the wrap-around, not the width.) A2Q needs a bias with no more fraction bits than the
products, so a concrete bias format is cut to the products' fraction bits (its ``int_bits``
kept) at those points. The table reports the accumulator widths each point resolved to.

Activation bits ``B`` set every layer's ``output`` format to ``B`` bits with its ``int_bits``,
signedness and modes kept (the input format is the data's and stays). Strategy, reuse and
pipeline override the spec's ``hardware`` section for the generated RTL (training is the same).

Every point's result is cached under ``build/cache/sweep/<key>/`` (``--cache DIR``: a folder
every worker of a cluster sees) where the key hashes the point's spec, the options and the
code (every module of fxp and hdl, every template) with the tool versions; a rerun reuses it.
A point is built in a temporary folder beside it and appears whole (its ``result.json``
written through a temporary file and ``os.replace``, then the folder renamed into place), so
a killed worker never leaves a half-written entry; a failed point is not cached.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import itertools
import shutil
import tempfile
import time

import yaml

from fxp import FixedFormat
from fxp.files import atomic_files, check_output_directory

from .engine import Scheduler, TaskFailure, run_tasks
from .errors import ReportError
from .markdown import SWEEP_AXES, sweep_markdown
from .plots import plot_sweep, sweep_plot_names
from .progress import Progress
from .report import build_report, prepare_rtl, write_report
from .synth import TARGETS
from .tools import tool_versions

__all__ = ["parse_bits", "parse_axis", "point_spec", "run_point", "run_sweep", "write_sweep",
           "code_version", "code_files", "write_json_atomic", "AXES", "CACHE_DIR"]

SCHEMA = "fxpga.sweep/2"      # 2: six axes (lists at the top level, values per point)
CACHE_DIR = os.path.join("build", "cache", "sweep")
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# the code that decides a point's result: every module of these packages, every template
_CODE = (("fxp", ".py"), ("hdl", ".py"), ("templates", ""))
# a point's coordinates, in the table's order; None in the last four: the spec's own setting
AXES = SWEEP_AXES
_STRATEGIES = ("parallel", "folded")


def parse_bits(text: str, what: str, allow_auto: bool) -> list:
    """``"auto,16,12"`` -> ``["auto", 16, 12]``; a one-line ReportError otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise ReportError(f"{what}: expected a comma-separated list such as 4,6,8")
    out = []
    for item in text.split(","):
        item = item.strip()
        if allow_auto and item == "auto":
            value = "auto"
        else:
            try:
                value = int(item)
            except ValueError:
                value = None
            if value is None or value < 2:
                kind = "an integer >= 2 or auto" if allow_auto else "an integer >= 2"
                raise ReportError(f"{what}: {item!r} is not {kind}")
        if value in out:
            raise ReportError(f"{what}: {item!r} is given twice")
        out.append(value)
    return out


def parse_axis(text: str, what: str) -> list:
    """One of the hardware or activation axes: ``"spec,4,8"`` -> ``[None, 4, 8]`` (``spec``:
    the spec's own setting); a one-line ReportError naming the option otherwise.

    ``what`` is ``--act-bits`` (integers >= 1), ``--reuse`` (>= 1), ``--pipeline`` (>= 0) or
    ``--strategy`` (parallel, folded).
    """
    if not isinstance(text, str) or not text.strip():
        raise ReportError(f"{what}: expected a comma-separated list (spec: the spec's own)")
    low = {"--act-bits": 1, "--reuse": 1, "--pipeline": 0}.get(what)
    out = []
    for item in text.split(","):
        item = item.strip()
        if item == "spec":
            value = None
        elif what == "--strategy":
            if item not in _STRATEGIES:
                raise ReportError(f"{what}: {item!r} is not parallel, folded or spec")
            value = item
        else:
            value = int(item) if re.fullmatch(r"-?\d+", item) else None
            if value is None or value < low:
                kind = "a positive integer" if low == 1 else "an integer >= 0"
                raise ReportError(f"{what}: {item!r} is not {kind} or spec")
        if value in out:
            raise ReportError(f"{what}: {item!r} is given twice")
        out.append(value)
    return out


def _load_doc(path) -> dict:
    from fxp.nn.spec import SpecError, load_spec
    load_spec(path)                       # validates, with the spec loader's messages
    try:
        with open(path) as f:
            return yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:   # pragma: no cover - load_spec read it already
        raise SpecError(f"{path}: cannot read spec: {e}") from None


def _frac_of(value):
    """Fraction bits of a concrete format field, or None."""
    if isinstance(value, str) and value.strip() != "auto":
        return FixedFormat.parse(value).frac_bits
    return None


def _with_bits(value, bits):
    """A format field (string or mapping) with ``bits`` total bits, the rest kept."""
    if isinstance(value, dict):
        return dict(value, bits=bits)
    f = FixedFormat.parse(value)
    return str(FixedFormat(bits, f.int_bits, f.signed, f.quantization, f.overflow))


def point_spec(doc: dict, weight_bits, acc_bits, epochs=None, act_bits=None) -> dict:
    """The spec document of one sweep point (see the module docstring)."""
    doc = copy.deepcopy(doc)
    layers = doc["layers"]
    in_frac = _frac_of(doc["input"]["format"])
    for layer in layers:
        if act_bits is not None and "output" in layer and not (
                isinstance(layer["output"], str) and layer["output"].strip() == "auto"):
            layer["output"] = _with_bits(layer["output"], act_bits)
        if "weight" in layer:          # a layer with weights (dense)
            w = layer["weight"]
            if isinstance(w, str) and w.strip() == "auto":
                layer["weight"] = {"bits": weight_bits, "int_bits": "auto", "signed": True,
                                   "quantization": "RND_CONV", "overflow": "SAT"}
            else:
                layer["weight"] = _with_bits(w, weight_bits)
            if acc_bits != "auto" and "accumulator" in layer:
                layer["accumulator"] = "auto"
                wf = _frac_of(layer["weight"])
                b = layer["bias"]
                if wf is not None and in_frac is not None and _frac_of(b) is not None:
                    bf = FixedFormat.parse(b)
                    cut = bf.frac_bits - (wf + in_frac)
                    if cut > 0 and bf.bits - cut >= 1:
                        layer["bias"] = str(FixedFormat(bf.bits - cut, bf.int_bits, bf.signed,
                                                        bf.quantization, bf.overflow))
        if "output" in layer:
            in_frac = _frac_of(layer["output"])
    train = doc.setdefault("train", {})
    if acc_bits != "auto":
        train["a2q"] = {"accumulator_bits": acc_bits}
    if epochs is not None:
        train["epochs"] = epochs
    return doc


def code_files() -> list:
    """Every ``.py`` file under ``fxp/`` and ``hdl/`` and every file under ``templates/``,
    sorted by path (caches and compiled files left out)."""
    files = []
    for package, suffix in _CODE:
        for base, dirs, names in os.walk(os.path.join(_ROOT, package)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            files += [os.path.join(base, n) for n in names
                      if n.endswith(suffix) and not n.endswith(".pyc")]
    return sorted(files, key=lambda path: os.path.relpath(path, _ROOT))


def code_version() -> str:
    """A hash of the code that decides a point's result (:func:`code_files`), with the tool
    versions."""
    h = hashlib.sha256()
    for path in code_files():
        h.update(os.path.relpath(path, _ROOT).encode() + b"\0")
        with open(path, "rb") as f:
            h.update(f.read() + b"\0")
    h.update(json.dumps(tool_versions(), sort_keys=True).encode())
    return h.hexdigest()[:16]


def _point_key(spec_text: str, options: dict, version: str) -> str:
    blob = json.dumps({"spec": spec_text, "options": options, "code": version},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _data_digest(spec) -> str:
    """A data file's sha256 (its points are cached by content), or nothing."""
    if "path" not in spec.data:
        return ""
    from fxp.nn.datafiles import file_sha256
    path = os.path.join(spec.base_dir, os.path.expanduser(spec.data["path"]))
    return file_sha256(path) if os.path.isfile(path) else ""


def _label(point: dict) -> str:
    """``w4-acc16``, then ``-act6``, ``-folded``, ``-r4``, ``-p1`` for the other axes' values."""
    out = f"w{point['weight_bits']}-acc{point['acc_bits']}"
    for axis, fmt in (("act_bits", "-act{}"), ("strategy", "-{}"), ("reuse", "-r{}"),
                      ("pipeline", "-p{}")):
        if point[axis] is not None:
            out += fmt.format(point[axis])
    return out


def write_json_atomic(path, data) -> None:
    """Write ``data`` as JSON to ``path`` whole or not at all (a temporary file beside it,
    then ``os.replace``)."""
    folder, base = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data, indent=1, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _cached(final: str) -> dict | None:
    """A finished point's result from the cache, or None."""
    try:
        with open(os.path.join(final, "result.json")) as f:
            res = json.load(f)
    except (OSError, ValueError):
        return None
    res["cached"] = True
    return res


def _publish(work: str, final: str) -> None:
    """Move a finished point's folder into place; a result another worker published first
    is kept (the same inputs give the same result), a leftover without one is replaced."""
    try:
        os.rename(work, final)
        return
    except OSError:
        pass
    if os.path.isfile(os.path.join(final, "result.json")):
        shutil.rmtree(work, ignore_errors=True)
        return
    shutil.rmtree(final, ignore_errors=True)
    try:
        os.rename(work, final)
    except OSError:                     # lost a race to another worker's result
        shutil.rmtree(work, ignore_errors=True)


def run_point(task: dict) -> dict:
    """Train, generate and synthesize one point (in a pool process, a Dask worker or
    in-process); its result is cached unless it failed."""
    from fxp import overflow_policy
    from fxp.nn.spec import SpecError, parse_spec

    label, final = task["label"], task["dir"]
    progress = Progress(prefix=label, start=task["start"])
    res = _cached(final)                # another sweep may have made it meanwhile
    if res is not None:
        progress.line("cached")
        return res
    os.makedirs(os.path.dirname(final), exist_ok=True)
    work = tempfile.mkdtemp(prefix=f"{os.path.basename(final)}.tmp-",
                            dir=os.path.dirname(final))
    os.chmod(work, 0o777 & ~_umask())
    res = {"label": label, **{axis: task[axis] for axis in AXES},
           "key": os.path.basename(final)}
    opts = task["options"]
    hw = {k: task[k] for k in ("strategy", "reuse", "pipeline")}
    t0 = time.perf_counter()
    try:
        with open(os.path.join(work, "spec.yaml"), "w") as f:
            f.write(task["spec_text"])
        spec = parse_spec(yaml.safe_load(task["spec_text"]), base_dir=task["base_dir"])
        art = os.path.join(work, "artifact")
        with progress.step("train"):
            from fxp.nn.model import write_artifact
            from fxp.nn.training import train
            with overflow_policy("ignore"):
                tr = train(spec, log=None)
                metrics = tr.metrics()
                write_artifact(art, tr.model.spec, tr.model.params, tr.vectors(),
                               extra_files={"metrics.json": json.dumps(
                                   metrics, indent=1, sort_keys=True) + "\n"})
        metric = "mse" if metrics.get("loss") == "mse" else "accuracy"
        res[metric] = {"fixed": metrics[f"fixed_{metric}"], "float": metrics[f"float_{metric}"]}
        layers = tr.model.spec.layers
        res["accumulators"] = [str(la.accumulator.fmt) for la in layers
                               if la.accumulator is not None]
        res["weights"] = [str(la.weight.fmt) for la in layers if la.weight is not None]
        res["outputs"] = [str(la.output.fmt) for la in layers if la.output is not None]
        if opts["targets"]:
            rep = build_report(art, targets=opts["targets"], pnr=opts["pnr"], jobs=1,
                               progress=progress, **hw)
            write_report(rep, os.path.join(art, "report"))
            res["resources"] = {t: s["resources"] for t, s in rep["synthesis"].items()}
            res["performance"] = rep["performance"]
        else:                           # no synthesis: the RTL's latency and II only
            _, man = prepare_rtl(art, os.path.join(art, "report"), progress=progress,
                                 **{k: v for k, v in hw.items() if v is not None})
            res["performance"] = {"latency_cycles": man.latency, "ii_cycles": man.ii}
    except (SpecError, ReportError, ValueError, TypeError, OSError, RuntimeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        res["error"] = msg
        progress.line(f"FAILED: {msg}")
    except BaseException:               # interrupted, terminated: leave nothing behind
        shutil.rmtree(work, ignore_errors=True)
        raise
    res["seconds"] = round(time.perf_counter() - t0, 1)
    if "error" in res:                  # failures are not cached
        shutil.rmtree(work, ignore_errors=True)
    else:
        write_json_atomic(os.path.join(work, "result.json"), res)
        _publish(work, final)
    res["cached"] = False
    return res


def _as_list(value) -> list:
    if isinstance(value, (list, tuple)):
        return list(value) or [None]
    return [value]


def _check_axes(axes: dict) -> None:
    for v in axes["strategy"]:
        if v is not None and v not in _STRATEGIES:
            raise ReportError(f"--strategy: {v!r} is not parallel, folded or spec")
    for name, low in (("act_bits", 1), ("reuse", 1), ("pipeline", 0)):
        for v in axes[name]:
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < low):
                kind = "a positive integer" if low == 1 else "an integer >= 0"
                raise ReportError(f"--{name.replace('_', '-')}: {v!r} is not {kind} or spec")


def _describe(res: dict) -> str:
    if "error" in res:
        return f"FAILED: {res['error']}"
    metric = "mse" if "mse" in res else "accuracy"
    parts = [f"{'MSE' if metric == 'mse' else 'accuracy'} {res[metric]['fixed']:.4g}"]
    for t, r in res.get("resources", {}).items():
        parts.append(f"{t} {r['lut']:,} LUT")
    if "resources" not in res:
        perf = res["performance"]
        parts.append(f"latency {perf['latency_cycles']}, II {perf['ii_cycles']}")
    when = "cached" if res.get("cached") else f"{res['seconds']:.1f} s"
    return ", ".join(parts) + f" ({when})"


def run_sweep(spec_path, *, weight_bits=(4, 6, 8), acc_bits=("auto",), act_bits=(None,),
              strategy=(None,), reuse=(None,), pipeline=(None,), output=None,
              targets=("ecp5",), pnr: bool = False, epochs=None, jobs: int | None = None,
              scheduler: Scheduler | None = None, cache_dir=None,
              progress: Progress | None = None) -> dict:
    """Run every point of the axes' product and write the table and plots.

    Parameters
    ----------
    spec_path : path
        A model spec (YAML).
    weight_bits : sequence of int
    acc_bits : sequence of int or "auto"
    act_bits : sequence of int or None
        Every layer output's width (None: the spec's formats).
    strategy, reuse, pipeline : value or sequence of values
        Hardware overrides of every point (None: the spec's ``hardware``).
    output : path, optional
        Where ``sweep.json``, ``sweep.md`` and the plots go (default ``build/<name>/sweep``).
    targets : sequence of str
        Synthesis targets per point (default ECP5 only); empty: no synthesis (accuracy,
        latency and II only).
    pnr : bool
        Also place and route each point on ECP5 (slow).
    epochs : int, optional
        Override ``train.epochs``.
    jobs : int, optional
        Points at once on a process pool (default: the number of CPUs); 1 runs in this
        process. Ignored with ``scheduler``.
    scheduler : Scheduler, optional
        Run the points on a Dask cluster (:func:`hdl.flow.engine.parse_scheduler`).
    cache_dir : path, optional
        Default ``build/cache/sweep``; on a cluster, a folder every worker sees at this path.
    """
    progress = progress or Progress()
    for t in targets:
        if t not in TARGETS:
            raise ReportError(f"unknown target {t!r}; expected one of {', '.join(TARGETS)}")
    axes = {"weight_bits": list(weight_bits), "acc_bits": list(acc_bits),
            "act_bits": _as_list(act_bits), "strategy": _as_list(strategy),
            "reuse": _as_list(reuse), "pipeline": _as_list(pipeline)}
    _check_axes(axes)
    doc = _load_doc(spec_path)
    name = doc["name"]
    out_dir = os.fspath(output) if output is not None else os.path.join("build", name, "sweep")
    cache_dir = os.fspath(cache_dir) if cache_dir is not None else CACHE_DIR
    check_output_directory(out_dir)      # both made only when there is something to write
    check_output_directory(cache_dir)
    options = {"targets": list(targets), "pnr": bool(pnr)}
    version = code_version()
    base_dir = os.path.dirname(os.path.abspath(spec_path))
    digest = None
    tasks = []
    from fxp.nn.spec import parse_spec
    for values in itertools.product(*(axes[a] for a in AXES)):
        point = dict(zip(AXES, values))
        pdoc = point_spec(doc, point["weight_bits"], point["acc_bits"], epochs,
                          point["act_bits"])
        pspec = parse_spec(copy.deepcopy(pdoc), base_dir=base_dir)  # fails before any work
        if digest is None:             # every point reads the same data file
            digest = _data_digest(pspec)
        text = yaml.safe_dump(pdoc, sort_keys=True, default_flow_style=None, width=100)
        hw = {k: point[k] for k in ("strategy", "reuse", "pipeline") if point[k] is not None}
        key = _point_key(text, dict(options, **hw), version + digest)
        tasks.append({"label": _label(point), **point, "spec_text": text, "options": options,
                      "base_dir": base_dir,
                      "dir": os.path.abspath(os.path.join(cache_dir, key)),
                      "start": progress.start})
    points = [_cached(t["dir"]) for t in tasks]
    todo = [t for t, p in zip(tasks, points) if p is None]
    where = (f"Dask {scheduler}" if scheduler is not None else
             f"{max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))} at once")
    progress.line(f"sweep {name}: {len(tasks)} points, {len(tasks) - len(todo)} in the cache "
                  f"{cache_dir}" + (f", {len(todo)} to run ({where})" if todo else
                                    ", all cache hits: nothing to run"))
    done = iter(run_tasks(run_point, todo, [t["label"] for t in todo], scheduler=scheduler,
                          jobs=jobs, progress=progress, describe=_describe))
    for i, (task, p) in enumerate(zip(tasks, points)):
        if p is None:
            p = next(done)
            if isinstance(p, TaskFailure):
                p = {"label": task["label"], **{a: task[a] for a in AXES},
                     "key": os.path.basename(task["dir"]), "error": p.error, "cached": False}
            points[i] = p
    hits = sum(p["cached"] for p in points)
    sweep = {"schema": SCHEMA, "name": name, "spec": os.fspath(spec_path),
             "options": options, "epochs": epochs, "code_version": version, **axes,
             "cache": {"dir": cache_dir, "hits": hits, "misses": len(points) - hits},
             "points": points}
    write_sweep(sweep, out_dir)
    progress.line(f"sweep {name}: {len(points)} points ({hits} cached) -> {out_dir}")
    return sweep


def write_sweep(sweep: dict, out_dir) -> None:
    """Write ``sweep.json``, ``sweep.md`` and the plots (all of them or none)."""
    names = ("sweep.json", "sweep.md", *sweep_plot_names(sweep))
    with atomic_files(out_dir, names) as tmp:
        with open(os.path.join(tmp, "sweep.json"), "w") as f:
            f.write(json.dumps(sweep, indent=1, sort_keys=True) + "\n")
        with open(os.path.join(tmp, "sweep.md"), "w") as f:
            f.write(sweep_markdown(sweep))
        plot_sweep(sweep, tmp)
