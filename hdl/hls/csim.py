"""C simulation of the generated HLS C++ (``python -m hdl csim DIR``): g++, compared with fxp."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import fxp
from fxp import FixedFormat
from fxp.nn import ArtifactError, Model, load_vectors

from .aptypes import REPO_ROOT, ApFixedError, ap_types_dir
from .generate import format_vectors, parse_vectors

__all__ = ["CsimResult", "CXX", "CXXFLAGS", "compile_csim", "random_inputs", "run_csim"]

CXX = "g++"
# -O2 for speed; every warning of -Wall -Wextra is an error except two that GCC raises
# inside the ap_types headers at -O1 and above even through -isystem (their default
# constructors read the value they are about to clear): tests/hdl/hls checks that the code
# compiles warning-free without the exceptions at -O0, where GCC does not run them.
CXXFLAGS = ("-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-uninitialized",
            "-Wno-maybe-uninitialized")
CACHE_DIR = REPO_ROOT / "build" / "hls" / "csim"
EXTREMES = 4  # random vectors that are extremes: all minimum, all maximum, alternating


@dataclass
class CsimResult:
    """Outcome of :func:`run_csim`.

    Attributes
    ----------
    vectors : int
        Input vectors simulated (the artifact's plus the random ones).
    mismatches : int
        Vectors whose C++ outputs differ from the emulator's.
    first : list of (int, list, list)
        Up to ten mismatches: vector index, expected raw outputs, C++ raw outputs.
    executable : pathlib.Path
        The compiled testbench.
    """

    vectors: int
    mismatches: int
    first: list = field(default_factory=list)
    executable: Path | None = None

    @property
    def summary(self) -> str:
        return f"csim: {self.vectors} vectors, {self.mismatches} mismatches"


def _sources(hls_dir: Path, name: str) -> list[Path]:
    sources = [hls_dir / "firmware" / f"{name}.cpp", hls_dir / "tb" / f"{name}_tb.cpp"]
    for s in sources:
        if not s.is_file():
            raise ArtifactError(f"{hls_dir}: no {s.relative_to(hls_dir)}; run python -m hdl "
                                f"hls on the artifact first")
    return sources


def compile_csim(hls_dir, name: str, flags=CXXFLAGS) -> tuple[Path, str]:
    """Compile the testbench of the HLS project ``hls_dir`` (``DIR/hls``) with g++.

    The two translation units compile in parallel against the ap_types headers (included
    as system headers, ``-isystem``). The executable is cached as
    ``build/hls/csim/<sha256>.exe`` of every source and header of the project, the
    compiler and the flags; its compiler output is kept beside it.

    Returns
    -------
    (pathlib.Path, str)
        The executable and the compiler's diagnostics (empty when warning-free).

    Raises
    ------
    ApFixedError
        When g++ fails (its first lines of output included).
    """
    hls_dir = Path(hls_dir).resolve()
    sources = _sources(hls_dir, name)
    cmd = [CXX, *flags, "-isystem", str(ap_types_dir()), f"-I{hls_dir / 'firmware'}"]
    h = hashlib.sha256("\0".join([CXX, *flags]).encode())
    for path in sorted((hls_dir / "firmware").rglob("*")) + sources[1:]:
        if path.is_file():
            h.update(f"\0{path.relative_to(hls_dir)}\0".encode() + path.read_bytes())
    exe = CACHE_DIR / f"{h.hexdigest()}.exe"
    log = exe.with_suffix(".log")
    if exe.is_file() and log.is_file():
        return exe, log.read_text()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".csim-", dir=CACHE_DIR) as tmp:
        objects = [Path(tmp) / f"{s.stem}.o" for s in sources]
        procs = [subprocess.Popen([*cmd, "-c", str(s), "-o", str(o)], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
                 for s, o in zip(sources, objects)]
        outputs = [p.communicate()[0] for p in procs]
        diagnostics = "".join(outputs)
        if any(p.returncode for p in procs):
            lines = diagnostics.splitlines()
            first = next((x for x in lines if "error" in x), lines[0] if lines else "")
            raise ApFixedError(f"{CXX} failed on {hls_dir}: {first}\n" + "\n".join(lines[:30]))
        link = subprocess.run([CXX, *objects, "-o", str(Path(tmp) / "tb.exe")],
                              capture_output=True, text=True)
        if link.returncode:
            raise ApFixedError(f"{CXX} failed to link the testbench of {hls_dir}:\n"
                               f"{link.stderr[:3000]}")
        diagnostics += link.stdout + link.stderr
        (Path(tmp) / "tb.log").write_text(diagnostics)
        os.replace(Path(tmp) / "tb.log", log)
        os.replace(Path(tmp) / "tb.exe", exe)
    return exe, diagnostics


def _uniform(rng, fmt: FixedFormat, shape) -> np.ndarray:
    """Raw integers uniform over ``fmt`` (any width)."""
    if fmt.fits_int64:
        return rng.integers(fmt.raw_min, fmt.raw_max, size=shape, endpoint=True,
                            dtype=np.int64)
    words, mask = -(-fmt.bits // 32), (1 << fmt.bits) - 1
    parts = rng.integers(0, 2**32, size=(*shape, words), dtype=np.int64)
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        out[idx] = fmt.raw_min + (sum(int(p) << (32 * k) for k, p in enumerate(parts[idx]))
                                  & mask)
    return out


def random_inputs(fmt: FixedFormat, n_inputs: int, count: int, seed: int = 0) -> np.ndarray:
    """``count`` raw input vectors of ``n_inputs`` values (an image or sequence flattened
    row-major, as the top function takes it): first the extremes (all minimum, all maximum,
    alternating minimum/maximum both ways), then uniform over ``fmt``."""
    rng = np.random.default_rng(seed)
    x = _uniform(rng, fmt, (count, n_inputs))
    lo, hi = fmt.raw_min, fmt.raw_max
    alt = np.arange(n_inputs) % 2 == 0
    extremes = [[lo] * n_inputs, [hi] * n_inputs, np.where(alt, lo, hi).tolist(),
                np.where(alt, hi, lo).tolist()]
    for k, row in enumerate(extremes[:count]):
        x[k] = row
    return x


def run_csim(directory, *, vectors: int = 2000, seed: int = 0) -> CsimResult:
    """Compile and run the testbench of ``directory/hls`` and compare it with the emulator.

    Parameters
    ----------
    directory : path
        An artifact directory with an HLS project (``python -m hdl hls DIR``).
    vectors : int
        Random input vectors on top of the artifact's test vectors (see
        :func:`random_inputs`).
    seed : int
        Seed of the random vectors.

    Returns
    -------
    CsimResult
    """
    if isinstance(vectors, bool) or not isinstance(vectors, int) or vectors < 0:
        raise ValueError(f"Random vector count must be a non-negative integer, not {vectors!r}")
    model = Model.load(directory)
    hls_dir = Path(directory).resolve() / "hls"
    exe, _ = compile_csim(hls_dir, model.name)
    fin = model.input_format
    parts = []
    if (Path(directory) / "vectors.npz").is_file():
        parts.append(np.asarray(load_vectors(directory)["inputs"]).reshape(-1, model.n_inputs))
    parts.append(random_inputs(fin, model.n_inputs, vectors, seed))
    x = np.concatenate(parts) if parts[0].dtype == parts[-1].dtype else \
        np.concatenate([p.astype(object) for p in parts])
    # csim compares bits: an intended wrap (WRAP outputs) is not an error here; python -m
    # fxp eval reports overflow.
    with fxp.overflow_policy("ignore"):
        expected = np.asarray(model.predict_raw(x.reshape(-1, *model.input_shape))
                              ).reshape(len(x), -1)
    with tempfile.TemporaryDirectory(prefix="csim-") as tmp:
        inp, outp = Path(tmp) / "input.txt", Path(tmp) / "output.txt"
        inp.write_text(format_vectors(x, fin))
        proc = subprocess.run([str(exe), str(inp), str(outp)], capture_output=True, text=True,
                              timeout=600)
        if proc.returncode:
            raise ApFixedError(f"csim testbench {exe.name} exited {proc.returncode}:\n"
                               f"{(proc.stdout + proc.stderr)[-3000:]}")
        got = parse_vectors(outp.read_text(), model.output_format, model.n_outputs)
    if len(got) != len(x):
        raise ApFixedError(f"csim testbench wrote {len(got)} vectors for {len(x)} inputs")
    bad = [i for i in range(len(x)) if not np.array_equal(got[i], expected[i])]
    first = [(i, [int(v) for v in expected[i]], [int(v) for v in got[i]]) for i in bad[:10]]
    return CsimResult(vectors=len(x), mismatches=len(bad), first=first, executable=exe)

