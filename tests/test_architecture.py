"""Layering rules, checked: the engine and alignment libraries never pull in Qt, and heavy
device/runtime libraries load lazily so the app starts without a device."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIBRARIES = ("engine", "alignment")


def _all_modules(package: str) -> list[str]:
    pkg = __import__(package)
    names = [package]
    for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
        names.append(info.name)
    return names


@pytest.mark.parametrize("package", LIBRARIES)
def test_library_imports_no_qt_and_no_heavy_runtime(package):
    modules = _all_modules(package)
    code = (
        "import sys, importlib\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(n for n in ('PySide6', 'shiboken6', 'depthai', 'onnxruntime', 'torch')"
        " if n in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"{package} imports at module level: {out.stdout.strip()}"


def test_no_qt_import_statements_in_libraries():
    offenders = []
    for package in LIBRARIES:
        for path in (REPO / package).rglob("*.py"):
            for i, line in enumerate(path.read_text().splitlines(), 1):
                s = line.strip()
                if s.startswith(("import PySide6", "from PySide6", "import shiboken6")):
                    offenders.append(f"{path.relative_to(REPO)}:{i}")
    assert offenders == []


def test_cli_help_is_fast_and_light():
    code = (
        "import sys; from cli import build_parser; build_parser()\n"
        "heavy = ('PySide6', 'depthai', 'onnxruntime', 'torch')\n"
        "print(','.join(n for n in heavy if n in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    assert "<!-- test-command -->" in readme
    ci = (REPO / ".ci" / "run").read_text()
    assert "test-command" in ci and "README.md" in ci


#: engine layers, lowest first: a layer may import the ones before it, never the ones after
#: (function-level imports count too: a lazy import is still a dependency)
LAYERS = ("engine.models", "engine.colorize", "engine.evaluation")


def _imported_modules(path: Path) -> set[str]:
    import ast

    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _layer(module: str) -> int | None:
    for rank, layer in enumerate(LAYERS):
        if module == layer or module.startswith(layer + "."):
            return rank
    return None


def test_engine_layers_import_only_downwards():
    offenders = []
    for rank, layer in enumerate(LAYERS):
        folder = REPO.joinpath(*layer.split("."))
        for path in sorted(folder.rglob("*.py")):
            for name in _imported_modules(path):
                other = _layer(name)
                if other is not None and other > rank:
                    offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert offenders == [], "layer order is " + " < ".join(LAYERS)


def test_layer_check_sees_lazy_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from engine.colorize import prepare_inputs\n")
    assert "engine.colorize" in _imported_modules(module)
    assert _layer("engine.colorize._recombine") == 1 and _layer("engine.modelsx") is None
