"""The first-party packages import one way (no cycles) and use no other module's private names.

Both checks read the source with :mod:`ast` (nothing is imported) and see every import
statement, module-level or inside a function, a method or a ``try``.

Import graph
    A node is a first-party module: a ``.py`` file under ``fxp/``, ``hdl/`` or ``sim/``
    (a package is its ``__init__.py``). ``import a.b`` is an edge to ``a.b``; relative imports
    are resolved against the importing module's package; ``from P import x`` is an edge to
    the submodule ``P.x`` when there is one (``from . import x``), else to ``P``. Importing a
    submodule is not counted as importing its parent packages (Python runs their
    ``__init__`` first, but does not re-run them), and imports of other distributions are
    ignored. Any cycle fails, named as a path such as ``fxp.array -> fxp.accumulate ->
    fxp.array``.

Private names
    In module ``A``, a *private name* is an identifier with a leading underscore that is not
    a dunder (``_x``, not ``__x__``). ``A`` must not

    - import a private name from another first-party module (``from .array import _operand``),
    - read a private attribute through a name that ``A`` bound by importing a first-party
      module or a name from one (``_ovf._first`` after ``from . import overflow as _ovf``,
      ``FixedArray._make`` after ``from .array import FixedArray``, ``fxp.kernels._wrap``
      after ``import fxp``), however deep the attribute chain.

    A private *module* (``fxp/_core.py``) may be imported by the modules of its own package.
    Private attributes of values the importing module did not import (``other._raw`` on a
    parameter, ``sys._getframe``) are out of the checker's reach and not counted.

Runtime dependencies
    Every distribution that an ``fxp`` module imports (anywhere in it) is a runtime
    dependency in ``pyproject.toml``: a plain ``pip install`` runs the emulator, its CLI and
    its datasets. The exceptions are ``fxp.torch``, the PyTorch bridge, which may also import
    the distributions of the optional ``torch`` extra, and ``fxp.nn.onnx``, the ONNX importer,
    which may import those of the ``onnx`` extra.

torch stays in fxp.torch, onnx in fxp.nn.onnx
    No module outside ``fxp/torch/`` imports torch (anywhere in it), no module outside
    ``fxp/nn/onnx/`` imports onnx, onnxruntime or qonnx, and importing ``fxp``, ``fxp.nn``
    (which offers ``import_onnx``), ``hdl`` and ``sim`` imports neither: they run without the
    extras.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("fxp", "hdl", "sim")


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@dataclass
class Module:
    name: str
    path: str
    is_package: bool
    imports: set = field(default_factory=set)           # first-party modules imported
    bindings: dict = field(default_factory=dict)        # local name -> (module, attr or None)
    private_uses: list = field(default_factory=list)    # (lineno, text)


def discover(root: str, packages) -> dict[str, Module]:
    """Every module of ``packages`` (directories under ``root``) by dotted name."""
    modules = {}
    for pkg in packages:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, pkg)):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            rel = os.path.relpath(dirpath, root).split(os.sep)
            for fn in sorted(filenames):
                if not fn.endswith(".py"):
                    continue
                path = os.path.join(dirpath, fn)
                if fn == "__init__.py":
                    modules[".".join(rel)] = Module(".".join(rel), path, True)
                else:
                    name = ".".join([*rel, fn[:-3]])
                    modules[name] = Module(name, path, False)
    return modules


def _resolve_from(mod: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = mod.name.split(".")
    if not mod.is_package:
        parts = parts[:-1]
    if node.level > 1:
        parts = parts[:len(parts) - (node.level - 1)]
    return ".".join([*parts, *([node.module] if node.module else [])])


def _known(modules, dotted: str) -> str | None:
    """The longest first-party module that ``dotted`` names or lies inside."""
    parts = dotted.split(".")
    while parts:
        name = ".".join(parts)
        if name in modules:
            return name
        parts.pop()
    return None


def _private_module_allowed(importer: str, target: str) -> bool:
    """A private module may be imported from inside its own package."""
    parts = target.split(".")
    for i, p in enumerate(parts):
        if _private(p):
            pkg = ".".join(parts[:i])
            if not (importer == pkg or importer.startswith(pkg + ".")):
                return False
    return True


def analyse(modules: dict[str, Module]) -> dict[str, Module]:
    """Fill every module's imports, import bindings and private-name uses."""
    for mod in modules.values():
        with open(mod.path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), mod.path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    target = _known(modules, a.name)
                    if target is None:
                        continue
                    mod.imports.add(target)
                    if a.asname:
                        mod.bindings[a.asname] = (target, None)
                    else:                       # import a.b binds a
                        top = a.name.split(".")[0]
                        if top in modules:
                            mod.bindings[top] = (top, None)
                    if not _private_module_allowed(mod.name, target):
                        mod.private_uses.append((node.lineno, f"import {a.name}"))
            elif isinstance(node, ast.ImportFrom):
                base = _resolve_from(mod, node)
                source = _known(modules, base) if base else None
                if source is None:
                    continue
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    local = a.asname or a.name
                    if sub in modules:          # from P import submodule
                        mod.imports.add(sub)
                        mod.bindings[local] = (sub, None)
                        if not _private_module_allowed(mod.name, sub):
                            mod.private_uses.append(
                                (node.lineno, f"from {base} import {a.name}"))
                        continue
                    mod.imports.add(source)
                    if a.name == "*":
                        continue
                    mod.bindings[local] = (source, a.name)
                    if source != mod.name and (_private(a.name) or not
                                               _private_module_allowed(mod.name, source)):
                        mod.private_uses.append((node.lineno, f"from {base} import {a.name}"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or not _private(node.attr):
                continue
            chain, value = [node.attr], node.value
            while isinstance(value, ast.Attribute):
                chain.append(value.attr)
                value = value.value
            if not isinstance(value, ast.Name) or value.id not in mod.bindings:
                continue
            source, _ = mod.bindings[value.id]
            if source == mod.name:
                continue
            mod.private_uses.append((node.lineno, ".".join([value.id, *reversed(chain)])))
        mod.imports.discard(mod.name)
    return modules


def cycles(modules: dict[str, Module]) -> list[list[str]]:
    """One cycle per strongly connected component (Tarjan), as ``[a, b, ..., a]``."""
    index, low, stack, on, comps = {}, {}, [], set(), []

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(modules[v].imports):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            comps.append(set(comp))

    for v in sorted(modules):
        if v not in index:
            strong(v)
    out = []
    for comp in comps:
        start = min(comp)
        if len(comp) == 1 and start not in modules[start].imports:
            continue
        # shortest path start -> ... -> start inside the component (breadth first)
        prev, frontier, found = {}, [start], None
        while frontier and found is None:
            nxt = []
            for v in frontier:
                for w in sorted(modules[v].imports & comp):
                    if w == start:
                        found = v
                        break
                    if w not in prev:
                        prev[w] = v
                        nxt.append(w)
                if found is not None:
                    break
            frontier = nxt
        path, v = [start], found
        while v != start:
            path.append(v)
            v = prev[v]
        out.append([start, *reversed(path[1:]), start])
    return sorted(out)


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def cycle_findings(modules, package: str) -> list[str]:
    return [" -> ".join(c) for c in cycles(modules) if any(_in(m, package) for m in c)]


def private_findings(modules, package: str) -> list[str]:
    return [f"{os.path.relpath(m.path, ROOT) if m.path.startswith(ROOT) else m.path}:{line}: "
            f"{text}"
            for m in modules.values() if _in(m.name, package)
            for line, text in sorted(m.private_uses)]


@pytest.fixture(scope="module")
def project():
    return analyse(discover(ROOT, PACKAGES))


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycles(project, package):
    found = cycle_findings(project, package)
    assert not found, "import cycles:\n  " + "\n  ".join(found)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_private_names_across_modules(project, package):
    found = private_findings(project, package)
    assert not found, "private names of other modules:\n  " + "\n  ".join(found)


def _third_party(modules, package):
    """``(path, line, top-level module)`` of every import of another distribution."""
    first = {name.split(".")[0] for name in modules}
    for mod in modules.values():
        if not _in(mod.name, package):
            continue
        with open(mod.path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), mod.path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module]
            else:
                continue
            for n in names:
                top = n.split(".")[0]
                if top not in first and top not in sys.stdlib_module_names:
                    yield os.path.relpath(mod.path, ROOT), node.lineno, top


def _norm(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


_TORCH_DIR = os.path.join("fxp", "torch") + os.sep
_ONNX_DIR = os.path.join("fxp", "nn", "onnx") + os.sep
_ONNX_MODULES = {"onnx", "onnxruntime", "qonnx", "onnxscript", "onnxoptimizer"}


def _dist_names(requirements) -> set:
    return {_norm(re.match(r"[A-Za-z0-9._-]+", d)[0]) for d in requirements}


def test_fxp_imports_only_runtime_dependencies(project):
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        meta = tomllib.load(f)["project"]
    runtime = _dist_names(meta["dependencies"])
    torch_extra = _dist_names(meta["optional-dependencies"]["torch"])
    onnx_extra = _dist_names(meta["optional-dependencies"]["onnx"])
    dists = importlib.metadata.packages_distributions()
    missing = []
    for path, line, top in _third_party(project, "fxp"):
        names = {_norm(d) for d in dists.get(top, [])}
        allowed = runtime
        if path.startswith(_TORCH_DIR):      # the bridge: the extra, installed or not
            allowed = runtime | torch_extra
            names = names or {_norm(top)}
        elif path.startswith(_ONNX_DIR):     # the importer: the onnx extra
            allowed = runtime | onnx_extra
            names = names or {_norm(top)}
        if not names & allowed:
            missing.append(f"{path}:{line}: {top} ({', '.join(sorted(names)) or 'not installed'})")
    assert not missing, "imports of packages that are not runtime dependencies:\n  " + \
        "\n  ".join(missing)


def test_torch_is_imported_only_inside_fxp_torch(project):
    found = [f"{path}:{line}" for package in PACKAGES
             for path, line, top in _third_party(project, package)
             if top == "torch" and not path.startswith(_TORCH_DIR)]
    assert not found, "torch imported outside fxp/torch:\n  " + "\n  ".join(found)


def test_onnx_is_imported_only_inside_fxp_nn_onnx(project):
    found = [f"{path}:{line}" for package in PACKAGES
             for path, line, top in _third_party(project, package)
             if top in _ONNX_MODULES and not path.startswith(_ONNX_DIR)]
    assert not found, "onnx imported outside fxp/nn/onnx:\n  " + "\n  ".join(found)


def test_importing_fxp_hdl_and_sim_does_not_import_torch_or_onnx():
    code = ("import sys, fxp, fxp.nn, fxp.nn.onnx, fxp.nn.training, fxp.cli, hdl, hdl.rtl, "
            "hdl.hls, sim, sim.runner; print(sorted(m for m in sys.modules if m.split('.')[0] "
            "in ('torch', 'onnx', 'onnxruntime', 'qonnx')))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert (r.returncode, r.stdout, r.stderr) == (0, "[]\n", "")


# -- the checker itself, on a synthetic package --------------------------------------------

def _package(root, files: dict[str, str]):
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return analyse(discover(str(root), ["pkg"]))


def test_checker_reports_a_cycle_through_a_lazy_and_a_package_import(tmp_path):
    mods = _package(tmp_path, {
        "pkg/__init__.py": '"""p."""\nfrom .a import f\n',
        "pkg/a.py": '"""a."""\nfrom . import b\n\ndef f():\n    return b.g()\n',
        "pkg/b.py": '"""b."""\n\ndef g():\n    from .sub.c import h\n    return h()\n',
        "pkg/sub/__init__.py": "",
        "pkg/sub/c.py": '"""c."""\nimport pkg.a\nimport numpy\n',
        "pkg/d.py": '"""d: imports everything, in no cycle."""\nimport pkg\nfrom .sub import c\n',
    })
    assert mods["pkg"].imports == {"pkg.a"}
    assert mods["pkg.d"].imports == {"pkg", "pkg.sub.c"}
    assert cycle_findings(mods, "pkg") == ["pkg.a -> pkg.b -> pkg.sub.c -> pkg.a"]
    assert cycle_findings(mods, "other") == []


def test_checker_reports_every_cycle(tmp_path):
    mods = _package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from .b import x\n",
        "pkg/b.py": "def f():\n    import pkg.a\n",
        "pkg/c.py": "from . import c\nfrom .d import y\n",     # importing itself is no cycle
        "pkg/d.py": "try:\n    from pkg import c\nexcept ImportError:\n    pass\n",
    })
    assert cycle_findings(mods, "pkg") == ["pkg.a -> pkg.b -> pkg.a", "pkg.c -> pkg.d -> pkg.c"]


def test_checker_reports_private_names(tmp_path):
    mods = _package(tmp_path, {
        "pkg/__init__.py": "from .a import A, __version__\n",
        "pkg/a.py": ("__version__ = '1'\n_SECRET = 1\n\nclass A:\n    @classmethod\n"
                     "    def _make(cls):\n        return cls()\n\n"
                     "def f(other):\n    return A._make(), other._raw, _SECRET\n"),
        "pkg/b.py": ("import sys\nfrom . import a as _a\nfrom .a import A, _SECRET\nimport pkg\n\n"
                     "def g():\n    from .a import _SECRET as s\n"
                     "    return A._make(), _a._SECRET, pkg.a.A._make, sys._getframe, "
                     "_a.A.__name__\n"),
        "pkg/_core.py": "X = 1\n",
        "pkg/c.py": "from . import _core\nfrom ._core import X\n",
        "pkg/sub/__init__.py": "from .. import _core\n",
    })
    assert private_findings(mods, "pkg") == [
        f"{tmp_path}/pkg/b.py:3: from pkg.a import _SECRET",
        f"{tmp_path}/pkg/b.py:7: from pkg.a import _SECRET",
        f"{tmp_path}/pkg/b.py:8: A._make",
        f"{tmp_path}/pkg/b.py:8: _a._SECRET",
        f"{tmp_path}/pkg/b.py:8: pkg.a.A._make",
    ]
    outside = _package(tmp_path / "o", {"pkg/__init__.py": "", "pkg/x/_core.py": "",
                                        "pkg/y.py": "from .x import _core\n"})
    assert private_findings(outside, "pkg") == [f"{tmp_path}/o/pkg/y.py:1: from pkg.x import _core"]
