"""Xilinx's ap_types headers (ap_fixed.h, ...) from the hls4ml wheel, cached under build/."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

__all__ = ["ApFixedError", "REPO_ROOT", "BUILD_DIR", "HLS4ML_REQUIREMENT", "ap_types_dir",
           "locked"]

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = REPO_ROOT / "build" / "apfixed"
HLS4ML_REQUIREMENT = "hls4ml==1.3.0"
HEADERS_IN_WHEEL = "hls4ml/templates/vivado/ap_types/"


class ApFixedError(RuntimeError):
    """The ap_fixed headers could not be obtained, or a program failed to build or run."""


@contextlib.contextmanager
def locked(path: Path):
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
    place, under a file lock, so a half-extracted folder is never seen. Nothing of them is
    part of this repository.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ApFixedError
        When the wheel cannot be downloaded or holds no headers.
    """
    dest = BUILD_DIR / "ap_types"
    if (dest / "ap_fixed.h").is_file():
        return dest
    with locked(BUILD_DIR / "ap_types.lock"):
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
