"""g++ programs against Xilinx ap_fixed (headers from hdl.hls.aptypes): compile, cache and run."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import threading
from pathlib import Path

from hdl.hls.aptypes import BUILD_DIR, REPO_ROOT, ApFixedError, ap_types_dir

__all__ = ["ApFixedError", "REPO_ROOT", "BUILD_DIR", "CXXFLAGS", "ap_types_dir", "compile_cpp",
           "run"]

CXX = "g++"
CXXFLAGS = ("-std=c++17", "-O1")


def compile_cpp(source: str) -> Path:
    """Compile a C++ program against the ap_fixed headers; cached by content.

    The executable is ``build/apfixed/bin/<sha256 of source and flags>.exe``; an existing
    one is reused.

    Parameters
    ----------
    source : str
        A complete C++17 program (``#include <ap_fixed.h>`` works).

    Returns
    -------
    pathlib.Path
        The executable.

    Raises
    ------
    ApFixedError
        When the headers are unavailable or g++ fails (its first error lines included).
    """
    flags = [*CXXFLAGS, f"-I{ap_types_dir()}"]
    digest = hashlib.sha256("\0".join([source, CXX, *flags]).encode()).hexdigest()
    bin_dir = BUILD_DIR / "bin"
    exe = bin_dir / f"{digest}.exe"
    if exe.is_file():
        return exe
    bin_dir.mkdir(parents=True, exist_ok=True)
    src = bin_dir / f"{digest}.cpp"
    tag = f"{os.getpid()}.{threading.get_ident()}"
    tmp_src = bin_dir / f".{digest}.{tag}.cpp"
    tmp_src.write_text(source)
    os.replace(tmp_src, src)
    tmp = bin_dir / f".{digest}.{tag}.exe"
    try:
        try:
            proc = subprocess.run([CXX, *flags, "-o", str(tmp), str(src)], capture_output=True,
                                  text=True)
        except OSError as exc:
            raise ApFixedError(f"Cannot run {CXX} to build the ap_fixed oracle: {exc}") from exc
        if proc.returncode:
            head = "\n".join(proc.stderr.splitlines()[:30])
            raise ApFixedError(f"{CXX} failed (exit {proc.returncode}) on {src}:\n{head}")
        os.rename(tmp, exe)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return exe


def run(exe: Path, stdin: str, *, timeout: float = 120) -> str:
    """Run ``exe`` with ``stdin`` as its standard input and return its standard output.

    Raises
    ------
    ApFixedError
        When the program exits non-zero (its standard error included).
    """
    proc = subprocess.run([str(exe)], input=stdin, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode:
        raise ApFixedError(f"{exe.name} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc.stdout
