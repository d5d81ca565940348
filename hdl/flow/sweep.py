"""Accuracy and hardware cost against bit widths (``python -m hdl sweep``), in parallel, cached.

``python -m hdl sweep SPEC --weight-bits 4,6,8 --acc-bits auto,16,12`` trains, generates and
synthesizes every point.

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

Every point's result is cached under ``build/cache/sweep/<key>/`` where the key hashes the
point's spec, the options and the code (every module of fxp and hdl, every template) with
the tool versions; a rerun reuses it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor

import yaml

from fxp import FixedFormat
from fxp.files import atomic_files

from .errors import ReportError
from .markdown import sweep_markdown
from .plots import plot_sweep
from .progress import Progress
from .report import build_report, write_report
from .synth import TARGETS
from .tools import tool_versions

__all__ = ["parse_bits", "point_spec", "run_sweep", "write_sweep", "code_version", "code_files",
           "CACHE_DIR"]

SCHEMA = "fxpga.sweep/1"
CACHE_DIR = os.path.join("build", "cache", "sweep")
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# the code that decides a point's result: every module of these packages, every template
_CODE = (("fxp", ".py"), ("hdl", ".py"), ("templates", ""))


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


def point_spec(doc: dict, weight_bits, acc_bits, epochs=None) -> dict:
    """The spec document of one sweep point (see the module docstring)."""
    doc = copy.deepcopy(doc)
    layers = doc["layers"]
    in_frac = _frac_of(doc["input"]["format"])
    for layer in layers:
        if "weight" in layer:          # a layer with weights (dense)
            w = layer["weight"]
            if isinstance(w, str) and w.strip() == "auto":
                layer["weight"] = {"bits": weight_bits, "int_bits": "auto", "signed": True,
                                   "quantization": "RND_CONV", "overflow": "SAT"}
            elif isinstance(w, dict):
                layer["weight"] = dict(w, bits=weight_bits)
            else:
                f = FixedFormat.parse(w)
                layer["weight"] = str(FixedFormat(weight_bits, f.int_bits, f.signed,
                                                  f.quantization, f.overflow))
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


def _label(w, a):
    return f"w{w}-acc{a}"


def _run_point(task: dict) -> dict:
    """Train, generate and synthesize one point (in a worker process or in-process)."""
    from fxp import overflow_policy
    from fxp.nn.spec import SpecError, parse_spec

    label, final = task["label"], task["dir"]
    progress = Progress(prefix=label, start=task["start"])
    result_path = os.path.join(final, "result.json")
    if os.path.isfile(result_path):
        with open(result_path) as f:
            res = json.load(f)
        res["cached"] = True
        progress.line("cached")
        return res
    work = f"{final}.tmp{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    res = {"label": label, "weight_bits": task["weight_bits"], "acc_bits": task["acc_bits"],
           "key": os.path.basename(final)}
    opts = task["options"]
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
        res["accumulators"] = [str(layer.accumulator.fmt) for layer in tr.model.spec.layers
                               if layer.accumulator is not None]
        res["weights"] = [str(layer.weight.fmt) for layer in tr.model.spec.layers
                          if layer.weight is not None]
        rep = build_report(art, targets=opts["targets"], pnr=opts["pnr"],
                           strategy=opts["strategy"], reuse=opts["reuse"], jobs=1,
                           progress=progress)
        write_report(rep, os.path.join(art, "report"))
        res["resources"] = {t: s["resources"] for t, s in rep["synthesis"].items()}
        res["performance"] = rep["performance"]
    except (SpecError, ReportError, ValueError, TypeError, OSError, RuntimeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        res["error"] = msg
        progress.line(f"FAILED: {msg}")
    res["seconds"] = round(time.perf_counter() - t0, 1)
    with open(os.path.join(work, "result.json"), "w") as f:
        f.write(json.dumps(res, indent=1, sort_keys=True) + "\n")
    if "error" in res:                      # failures are not cached
        shutil.rmtree(work, ignore_errors=True)
    else:
        shutil.rmtree(final, ignore_errors=True)
        os.rename(work, final)
    res["cached"] = False
    return res


def run_sweep(spec_path, *, weight_bits=(4, 6, 8), acc_bits=("auto",), output=None,
              targets=("ecp5",), pnr: bool = False, strategy=None, reuse=None, epochs=None,
              jobs: int | None = None, cache_dir=None, progress: Progress | None = None) -> dict:
    """Run every (weight bits, accumulator bits) point and write the table and plots.

    Parameters
    ----------
    spec_path : path
        A model spec (YAML).
    weight_bits : sequence of int
    acc_bits : sequence of int or "auto"
    output : path, optional
        Where ``sweep.json``, ``sweep.md`` and the plots go (default ``build/<name>/sweep``).
    targets : sequence of str
        Synthesis targets per point (default ECP5 only).
    pnr : bool
        Also place and route each point on ECP5 (slow).
    strategy, reuse : optional
        Hardware overrides for every point.
    epochs : int, optional
        Override ``train.epochs``.
    jobs : int, optional
        Points at once (a process pool; default the number of CPUs). 1 runs in this process.
    cache_dir : path, optional
        Default ``build/cache/sweep``.
    """
    progress = progress or Progress()
    for t in targets:
        if t not in TARGETS:
            raise ReportError(f"unknown target {t!r}; expected one of {', '.join(TARGETS)}")
    if reuse is not None and (isinstance(reuse, bool) or not isinstance(reuse, int)
                              or reuse < 1):
        raise ReportError(f"--reuse must be a positive integer, not {reuse!r}")
    doc = _load_doc(spec_path)
    name = doc["name"]
    out_dir = os.fspath(output) if output is not None else os.path.join("build", name, "sweep")
    cache_dir = os.fspath(cache_dir) if cache_dir is not None else CACHE_DIR
    os.makedirs(out_dir, exist_ok=True)
    os.makedirs(cache_dir, exist_ok=True)
    options = {"targets": list(targets), "pnr": bool(pnr), "strategy": strategy,
               "reuse": reuse}
    version = code_version()
    base_dir = os.path.dirname(os.path.abspath(spec_path))
    digest = None
    tasks = []
    from fxp.nn.spec import parse_spec
    for w in weight_bits:
        for a in acc_bits:
            pdoc = point_spec(doc, w, a, epochs)
            pspec = parse_spec(copy.deepcopy(pdoc), base_dir=base_dir)  # fails before any work
            if digest is None:             # every point reads the same data file
                digest = _data_digest(pspec)
            text = yaml.safe_dump(pdoc, sort_keys=True, default_flow_style=None, width=100)
            key = _point_key(text, options, version + digest)
            tasks.append({"label": _label(w, a), "weight_bits": w, "acc_bits": a,
                          "spec_text": text, "options": options, "base_dir": base_dir,
                          "dir": os.path.abspath(os.path.join(cache_dir, key)),
                          "start": progress.start})
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(tasks)))
    progress.line(f"sweep {name}: {len(tasks)} points, {jobs} at once, cache {cache_dir}")
    if jobs == 1:
        points = [_run_point(t) for t in tasks]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            points = list(pool.map(_run_point, tasks))
    hits = sum(p["cached"] for p in points)
    sweep = {"schema": SCHEMA, "name": name, "spec": os.fspath(spec_path),
             "options": options, "epochs": epochs, "code_version": version,
             "weight_bits": list(weight_bits), "acc_bits": list(acc_bits),
             "cache": {"dir": cache_dir, "hits": hits, "misses": len(points) - hits},
             "points": points}
    write_sweep(sweep, out_dir)
    progress.line(f"sweep {name}: {len(points)} points ({hits} cached) -> {out_dir}")
    return sweep


def write_sweep(sweep: dict, out_dir) -> None:
    """Write ``sweep.json``, ``sweep.md`` and the two plots (all of them or none)."""
    names = ("sweep.json", "sweep.md", "sweep_weight_bits.png", "sweep_acc_bits.png")
    with atomic_files(out_dir, names) as tmp:
        with open(os.path.join(tmp, "sweep.json"), "w") as f:
            f.write(json.dumps(sweep, indent=1, sort_keys=True) + "\n")
        with open(os.path.join(tmp, "sweep.md"), "w") as f:
            f.write(sweep_markdown(sweep))
        plot_sweep(sweep, tmp)

