"""``nightlab doctor``: is this installation able to run NightLab? One OK/WARN/FAIL per line.

Checks library versions, cameras found, the default model against its card, and the data
directory. Exits 1 when anything FAILs (the app or a core feature cannot work); WARN marks
what only limits it (no OAK attached, depthai missing, no default model shipped yet).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from cli._store_args import add_data_dir

OK, WARN, FAIL = "OK", "WARN", "FAIL"

#: (label, import name, distribution, severity when missing, what breaks without it)
PACKAGES = (
    ("numpy", "numpy", "numpy", FAIL, "everything"),
    ("opencv", "cv2", "opencv-python-headless", FAIL, "everything"),
    ("scikit-image", "skimage", "scikit-image", FAIL, "leak mask, simulated camera"),
    ("onnxruntime", "onnxruntime", "onnxruntime", FAIL, "host colorization"),
    ("depthai", "depthai", "depthai", WARN, "OAK cameras"),
    ("PySide6", "PySide6", "PySide6-Essentials", FAIL, "the desktop app"),
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor",
        help="check versions, cameras, default model, data directory",
        description="One OK, WARN or FAIL line per check: Python and packages, cameras, the "
        "default and on-camera models against their cards, the MyriadX compiler, the data "
        "folder and its record. Exits 1 when anything FAILs.",
    )
    add_data_dir(p)  # "--data-dir on every command": check the folder a session would use
    p.set_defaults(func=run)


def _version(dist: str, module) -> str:
    for name in (dist, dist.split("-")[0]):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return str(getattr(module, "__version__", "?"))


def check_python() -> list[tuple[str, str]]:
    v = sys.version_info
    status = OK if v >= (3, 11) else FAIL
    return [(status, f"python {v.major}.{v.minor}.{v.micro} ({sys.executable})")]


def check_packages() -> list[tuple[str, str]]:
    out = []
    for label, module_name, dist, missing, needed_for in PACKAGES:
        try:
            if module_name == "PySide6":
                # find the Qt module without importing Qt into the CLI process
                if importlib.util.find_spec("PySide6.QtWidgets") is None:
                    raise ImportError("PySide6.QtWidgets not found")
                module = None
            else:
                module = importlib.import_module(module_name)
        except Exception as exc:  # ImportError, or a broken binary raising anything
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            out.append((missing, f"{label}: cannot import ({reason}); needed for {needed_for}"))
            continue
        line = f"{label} {_version(dist, module)}"
        if module_name == "onnxruntime":
            line += f" (providers: {', '.join(module.get_available_providers())})"
        out.append((OK, line))
    try:
        importlib.metadata.version("opencv-python")
        out.append((WARN, "opencv-python (non-headless) is installed too: its Qt clashes with "
                          "PySide6; uninstall it, keep opencv-python-headless"))  # fmt: skip
    except importlib.metadata.PackageNotFoundError:
        pass
    return out


def check_cameras() -> list[tuple[str, str]]:
    from engine.camera import list_cameras

    out = []
    for c in list_cameras(backends=("sim", "oak", "webcam")):
        if c.available:
            fmt = ""
            if c.info is not None:
                fmt = f", {c.info.resolution[0]}x{c.info.resolution[1]} @ {c.info.fps:g} fps"
            out.append((OK, f"camera {c.spec}: {c.name}{fmt}, {len(c.controls)} controls"))
        else:
            status = FAIL if c.backend == "sim" else WARN
            out.append((status, f"camera {c.backend}: {c.reason}"))
    return out


def check_default_model() -> list[tuple[str, str]]:
    try:
        from engine.models import ModelError, default_model_path, verify_model
    except ImportError as exc:
        return [(WARN, f"default model: not available (engine.models: {exc})")]
    path = Path(default_model_path())
    if not path.exists():
        return [(WARN, f"default model: not available ({path} not found)")]
    try:
        verified = verify_model(path)
    except ModelError as exc:
        return [(FAIL, f"default model: {exc}")]
    except Exception as exc:  # an unexpected failure is reported, never a crash
        return [(FAIL, f"default model: cannot verify {path.name} ({type(exc).__name__}: {exc})")]
    return [(OK, f"default model {verified.card.name}: sha256 and inputs/outputs match its card")]


def check_on_camera_model() -> list[tuple[str, str]]:
    """The shipped blob: intact, matching its card, built from the shipped ONNX."""
    from engine.models import (
        DEFAULT_BLOB_COMMAND,
        ModelError,
        default_model_path,
        sha256_file,
        verify_model,
    )

    onnx = Path(default_model_path())
    blob = onnx.with_name(onnx.stem + ".blob")
    if not blob.is_file():
        return [(WARN, f"on-camera model: {blob.name} not built ({DEFAULT_BLOB_COMMAND})")]
    try:
        card = verify_model(blob).card
    except ModelError as exc:
        return [(FAIL, f"on-camera model: {exc}")]
    if onnx.is_file() and card.raw.get("derived_from", {}).get("sha256") != sha256_file(onnx):
        return [(WARN, f"on-camera model: {blob.name} was built from another {onnx.name}; "
                       f"rebuild: {DEFAULT_BLOB_COMMAND}")]  # fmt: skip
    shaves = card.raw.get("compiled", {}).get("shaves", "?")
    return [(OK, f"on-camera model {blob.name}: matches its card, built from {onnx.name} "
                 f"({shaves} shaves)")]  # fmt: skip


def check_blob_compiler() -> list[tuple[str, str]]:
    """Whether ``nightlab model to-blob`` can compile locally; each missing piece with its fix."""
    from engine.models import compiler_status, toolchain_dir

    missing = compiler_status()
    if not missing:
        return [(OK, f"MyriadX compiler: local compilation available ({toolchain_dir()})")]
    lines = [(WARN, "MyriadX compiler: local compilation not available (to-blob --online "
                    "still works); missing:")]  # fmt: skip
    return lines + [(WARN, f"  {m}") for m in missing]


def check_data_dir(data_dir: str | None = None) -> list[tuple[str, str]]:
    from engine.store import resolve_data_dir  # the store's folder ($NIGHTLAB_DATA_DIR too)

    path = resolve_data_dir(data_dir)
    if path.exists() and not path.is_dir():
        return [(FAIL, f"data directory {path}: not a folder")]
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-", delete=True) as f:
            f.write(b"ok")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        return [(FAIL, f"data directory {path}: not writable ({exc.strerror or exc})")]
    free_gb = shutil.disk_usage(path).free / 1e9
    status = OK if free_gb >= 1.0 else WARN
    return [(status, f"data directory {path}: writable, {free_gb:.1f} GB free"), check_record(path)]


def check_record(path: Path) -> tuple[str, str]:
    """Is the experiment record in ``path`` readable and intact? (read-only: SQLite's quick
    check of every page, no write). A folder that is writable can still hold a damaged
    database, which every session command then refuses."""
    import sqlite3

    from engine.store import DB_NAME, SCHEMA_VERSION, database_problem

    db = path / DB_NAME
    if problem := database_problem(db):
        return FAIL, f"record {problem}"
    if not db.is_file():
        return OK, f"record {db}: none yet (the first capture or session makes it)"
    try:
        conn = sqlite3.connect(db.absolute().as_uri() + "?mode=ro", uri=True)
        try:
            found = [row[0] for row in conn.execute("PRAGMA quick_check(1)")]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            sessions = None
            if found == ["ok"] and version == SCHEMA_VERSION:
                sessions = conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return FAIL, f"record {db}: damaged ({exc})"
    if found != ["ok"]:
        return FAIL, f"record {db}: damaged ({found[0]})"
    if version > SCHEMA_VERSION:
        return (
            FAIL,
            f"record {db}: schema v{version} is newer than this NightLab (v{SCHEMA_VERSION})",
        )
    if version < SCHEMA_VERSION:
        return WARN, (f"record {db}: schema v{version}, upgraded to v{SCHEMA_VERSION} when a "
                      "command that records next opens it")  # fmt: skip
    return OK, f"record {db}: intact, {sessions} session{'s' if sessions != 1 else ''}"


CHECKS: tuple[Callable[[], list[tuple[str, str]]], ...] = (
    check_python,
    check_packages,
    check_cameras,
    check_default_model,
    check_on_camera_model,
    check_blob_compiler,
    check_data_dir,
)


def run(args: argparse.Namespace) -> int:
    failed = False
    for check in CHECKS:
        try:
            lines = check_data_dir(args.data_dir) if check is check_data_dir else check()
        except Exception as exc:  # a broken check is itself a finding, not a traceback
            lines = [(FAIL, f"{check.__name__[6:]}: check crashed ({type(exc).__name__}: {exc})")]
        for status, text in lines:
            failed |= status == FAIL
            print(f"{status:<4}  {text}", flush=True)
    return 1 if failed else 0
