"""Xilinx ap_fixed headers fetched from the hls4ml wheel at test time; g++ compile and run."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path

__all__ = ["ApFixedError", "REPO_ROOT", "BUILD_DIR", "CXXFLAGS", "ap_types_dir", "compile_cpp",
           "run"]

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO_ROOT / "build" / "apfixed"
HLS4ML_REQUIREMENT = "hls4ml==1.3.0"
HEADERS_IN_WHEEL = "hls4ml/templates/vivado/ap_types/"
CXX = "g++"
CXXFLAGS = ("-std=c++17", "-O1")


class ApFixedError(RuntimeError):
    """The ap_fixed headers could not be obtained, or a program failed to build or run."""


@contextlib.contextmanager
def _locked(path: Path):
    """Hold an exclusive ``flock`` on ``path`` (created if needed) inside the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _wheel(wheel_dir: Path) -> Path:
    """The hls4ml wheel in ``wheel_dir``, downloaded with pip when it is not there yet."""
    version = HLS4ML_REQUIREMENT.split("==")[1]
    found = sorted(wheel_dir.glob(f"hls4ml-{version}-*.whl"))
    if found:
        return found[0]
    cmd = [sys.executable, "-m", "pip", "download", HLS4ML_REQUIREMENT, "--no-deps",
           "--only-binary=:all:", "--disable-pip-version-check", "-d", str(wheel_dir)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ApFixedError(f"Could not download {HLS4ML_REQUIREMENT} for the ap_fixed headers: "
                           f"{' '.join(cmd)} failed: {exc}") from exc
    found = sorted(wheel_dir.glob(f"hls4ml-{version}-*.whl"))
    if proc.returncode or not found:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise ApFixedError(f"Could not download {HLS4ML_REQUIREMENT} for the ap_fixed headers "
                           f"(exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return found[0]


def _extract(wheel: Path, dest: Path) -> None:
    """Extract the ap_types folder of ``wheel`` into a new folder ``dest``."""
    with zipfile.ZipFile(wheel) as zf:
        members = [m for m in zf.infolist()
                   if m.filename.startswith(HEADERS_IN_WHEEL) and not m.is_dir()]
        for m in members:
            rel = Path(m.filename[len(HEADERS_IN_WHEEL):])
            if rel.is_absolute() or ".." in rel.parts:
                raise ApFixedError(f"Refusing to extract {m.filename!r} from {wheel}")
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(m) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
    if not (dest / "ap_fixed.h").is_file():
        raise ApFixedError(f"{wheel.name} has no {HEADERS_IN_WHEEL}ap_fixed.h")


def ap_types_dir() -> Path:
    """The folder holding ``ap_fixed.h``, fetched from the hls4ml wheel on first use.

    The wheel is downloaded with pip into ``build/apfixed/wheel`` and its ap_types headers
    are extracted to ``build/apfixed/ap_types`` through a temporary folder renamed into
    place, under a file lock, so a half-extracted folder is never seen.

    Raises
    ------
    ApFixedError
        When the wheel cannot be downloaded or holds no headers.
    """
    dest = BUILD_DIR / "ap_types"
    if (dest / "ap_fixed.h").is_file():
        return dest
    with _locked(BUILD_DIR / "ap_types.lock"):
        if (dest / "ap_fixed.h").is_file():
            return dest
        wheel = _wheel(BUILD_DIR / "wheel")
        tmp = Path(tempfile.mkdtemp(prefix=".ap_types-", dir=BUILD_DIR))
        try:
            _extract(wheel, tmp)
            if dest.exists():  # a stale folder without ap_fixed.h
                shutil.rmtree(dest)
            os.rename(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


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
