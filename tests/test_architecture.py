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


def test_cli_help_loads_no_heavy_runtime():
    # what keeps 'nightlab --help' quick; its time is not measured here (benchmarks do that)
    code = (
        "import sys; from cli import build_parser; build_parser().format_help()\n"
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


def _imported_modules(path: Path, package: str | None = None) -> set[str]:
    """Every module (and ``module.name``) that ``path`` imports, at any depth (a lazy import
    in a function is still a dependency); relative imports are resolved against ``package``
    (the dotted package ``path`` is in; by default, from its place in the repo)."""
    import ast

    if package is None:
        try:
            package = ".".join(path.resolve().relative_to(REPO).parent.parts)
        except ValueError:  # outside the repo: relative imports cannot be named
            package = ""
    parts = package.split(".") if package else []
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                module = node.module
            elif node.level > len(parts):
                continue
            else:
                base = parts[: len(parts) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            if module:
                names.add(module)
                names.update(f"{module}.{alias.name}" for alias in node.names)
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


#: packages whose modules must import only public names of the other packages
APP_PACKAGES = ("alignment", "engine", "gui", "cli", "training")
#: (importer, imported private module) left as they are, with the reason
PRIVATE_IMPORTS_ALLOWED: set[tuple[str, str]] = set()


def _private_imports_across_packages(path: Path, rel: str) -> list[str]:
    """Modules of another package's private ``_module`` that ``path`` imports."""
    here = rel.removesuffix(".py").split("/")
    own = here[:-1] if here[-1] != "__init__" else here[:-1]
    found = []
    for name in sorted(_imported_modules(path)):
        parts = name.split(".")
        for i, part in enumerate(parts):
            if part.startswith("_") and not part.startswith("__"):
                owner = parts[:i]
                if not REPO.joinpath(*owner).is_dir():  # a module's private name: its package's
                    owner = owner[:-1]
                if own[: len(owner)] != owner:
                    found.append(".".join(parts[: i + 1]))
                break
    return sorted(set(found))


def test_no_package_imports_another_packages_private_modules():
    offenders = []
    for package in APP_PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            for module in _private_imports_across_packages(path, rel):
                if (rel, module) not in PRIVATE_IMPORTS_ALLOWED:
                    offenders.append(f"{rel} imports {module}")
    assert offenders == [], "import the package's public names instead:\n" + "\n".join(offenders)


def test_private_import_check_tells_own_package_from_another(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from engine._image import read_image\nfrom engine import to_gray\n")
    assert _private_imports_across_packages(module, "cli/_x.py") == ["engine._image"]
    assert _private_imports_across_packages(module, "engine/evaluation/_x.py") == []
    module.write_text("def f():\n    from engine.models._tiny import tiny_card\n")
    assert _private_imports_across_packages(module, "engine/store/_x.py") == ["engine.models._tiny"]
    assert _private_imports_across_packages(module, "engine/models/__init__.py") == []
    module.write_text("from training.train_refcolor import _predictor\n")
    assert _private_imports_across_packages(module, "training/diagnose.py") == []


def _type_checking_namespace(module) -> dict:
    """The module's globals plus what its ``if TYPE_CHECKING:`` block imports."""
    import ast

    ns = dict(vars(module))
    tree = ast.parse(Path(module.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            code = compile(ast.Module(body=node.body, type_ignores=[]), module.__file__, "exec")
            exec(code, ns)
    return ns


@pytest.mark.parametrize("package", LIBRARIES)
def test_every_annotation_in_the_libraries_names_a_real_type(package):
    # TYPE_CHECKING imports are never run: a renamed or mistyped class would go unnoticed
    import importlib
    import inspect
    import typing

    problems = []
    for name in _all_modules(package):
        module = importlib.import_module(name)
        ns = _type_checking_namespace(module)
        for obj in list(vars(module).values()):
            if getattr(obj, "__module__", None) != name:
                continue
            members = [obj]
            if inspect.isclass(obj):
                members += [v for v in vars(obj).values() if inspect.isfunction(v)]
            for member in members:
                if not (inspect.isclass(member) or inspect.isfunction(member)):
                    continue
                try:
                    typing.get_type_hints(member, globalns=ns)
                except Exception as exc:  # noqa: BLE001 - each is reported
                    problems.append(f"{name}.{member.__qualname__}: {exc}")
    assert problems == []


#: modules whose engine types were erased to ``Any`` (a TYPE_CHECKING import does the job)
TYPED_MODULES = ("engine/pipeline.py", "engine/pair_views.py", "engine/live/_tracker.py",
                 "engine/app_state.py", "engine/store/_store.py", "gui/pair_cache.py",
                 "cli/_model.py")  # fmt: skip


@pytest.mark.parametrize("rel", TYPED_MODULES)
def test_engine_types_are_not_erased_to_any(rel):
    import ast

    erased = []
    for node in ast.walk(ast.parse((REPO / rel).read_text())):
        annotations = []
        if isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        elif isinstance(node, ast.FunctionDef):
            a = node.args
            annotations += [p.annotation for p in a.posonlyargs + a.args + a.kwonlyargs]
            annotations.append(node.returns)
        for ann in annotations:
            if ann is not None and ast.unparse(ann) in ("Any", "Any | None"):
                erased.append(f"{rel}:{ann.lineno}")
    assert erased == []


#: Qt and the widget libraries built on it: the GUI's alone
QT_MODULES = ("PySide6", "shiboken6", "PyQt5", "PyQt6", "qtpy", "pyqtgraph", "superqt")

#: NightLab's packages, each with the ones it may import: lower layers never import higher
#: ones (alignment < engine < gui, training < cli), so there are no circles
PACKAGE_IMPORTS_ALLOWED = {
    "alignment": set(),
    "engine": {"alignment"},
    "training": {"alignment", "engine"},
    "gui": {"alignment", "engine"},
    "cli": {"alignment", "engine", "gui", "training"},
}


def _layer_offences(path: Path, package: str) -> list[str]:
    """What ``path`` (a module of ``package``) imports against the layers: a higher NightLab
    package, or (in the libraries) Qt or a Qt widget library."""
    found = set()
    for name in _imported_modules(path):
        top = name.split(".")[0]
        if top in PACKAGE_IMPORTS_ALLOWED and top != package:
            if top not in PACKAGE_IMPORTS_ALLOWED[package]:
                found.add(top)
        elif top in QT_MODULES and package in LIBRARIES:
            found.add(top)
    return sorted(found)


def test_lower_layers_never_import_higher_ones_nor_the_libraries_qt():
    offenders = []
    for package in PACKAGE_IMPORTS_ALLOWED:
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            offenders += [f"{rel} imports {m}" for m in _layer_offences(path, package)]
    assert offenders == []


def test_the_layer_check_sees_lazy_relative_and_widget_library_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    import pyqtgraph as pg\n    from gui.jobs import JobRunner\n")
    assert _layer_offences(module, "engine") == ["gui", "pyqtgraph"]
    assert _layer_offences(module, "alignment") == ["gui", "pyqtgraph"]
    assert _layer_offences(module, "cli") == []  # the top layer: the GUI and its widgets
    module.write_text("from superqt import QLabeledSlider\nfrom cli import main\n")
    assert _layer_offences(module, "gui") == ["cli"]  # widget libraries are the GUI's own
    assert _layer_offences(module, "training") == ["cli"]
    module.write_text("from ..gui import jobs\nfrom . import _x\n")  # relative: resolved
    assert _imported_modules(module, "engine.live") >= {"engine.gui.jobs", "engine.live._x"}
    assert _imported_modules(module, "cli") >= {"cli._x"}  # `..` above the top: not named
    assert _layer_offences(module, "engine") == []


def test_the_colorizers_the_live_view_and_the_oak_hold_are_typed_not_any():
    # Before: Any on the engine objects the GUI and the CLI pass around, so an editor or a type
    # checker could not follow them (the brief: TYPE_CHECKING imports, not Any)
    import inspect

    from engine.camera._oak import OakCamera
    from engine.live_preview import LivePreview
    from engine.models._convert import blob_precisions

    enable = inspect.signature(OakCamera.enable_colorization)
    assert enable.return_annotation == "OakColorizer"
    assert enable.parameters["card"].annotation == "ModelCard | None"
    assert enable.parameters["params"].annotation == "RecombineParams | None"
    assert inspect.signature(OakCamera.colorizer.fget).return_annotation == "OakColorizer | None"
    camera_colorizer = inspect.signature(LivePreview.set_camera_colorizer).parameters["colorizer"]
    assert camera_colorizer.annotation == "OakColorizer | None"
    assert inspect.signature(blob_precisions).parameters["card"].annotation == "ModelCard"
    held = inspect.getsource(LivePreview.__init__)
    assert "self._oak: OakColorizer | None = None" in held
    assert "self._colorizer: Colorizer | None = None" in held


def test_the_oak_colorizer_its_session_and_the_pair_cache_name_their_engine_types():
    # Before: the card, the recombination parameters, the model's I/O and the colorizer
    # handed to the device session were all Any
    import inspect

    from engine.camera import OakColorizer
    from engine.camera._oak_colorize import load_on_camera_model, on_camera_problems
    from engine.camera._oak_pipeline import OakSession
    from gui.pair_cache import PairCache

    init = inspect.signature(OakColorizer.__init__).parameters
    assert init["card"].annotation == "ModelCard"
    assert init["params"].annotation == "RecombineParams | None"
    assert init["io"].annotation == "ModelIO | None"
    load = inspect.signature(OakColorizer.load)
    assert load.parameters["card"].annotation == "ModelCard | None"
    assert load.return_annotation == "OakColorizer"
    assert inspect.signature(load_on_camera_model).return_annotation == "tuple[ModelCard, ModelIO]"
    assert inspect.signature(on_camera_problems).parameters["io"].annotation == "ModelIO"
    session = inspect.signature(OakSession.__init__).parameters["colorizer"]
    assert session.annotation == "OakColorizer | None"
    cache = inspect.signature(PairCache.__init__).parameters["colorizer"]
    assert cache.annotation == "Callable[[], SupportsColorize | None]"
