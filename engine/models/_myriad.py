"""The local MyriadX (RVC2) compiler: OpenVINO 2021.4's MYRIAD plugin driven by a small C++ tool.

What it takes (measured in ``shared/tools/myriad-offline``): the libraries of the pinned wheel
``openvino==2021.4.2`` (the last one with the MYRIAD plugin; its Python bindings do not load in
Python 3.11, its C++ libraries do), the system library ``libusb-1.0`` (the plugin links it), and
``myriad_compile.cpp`` beside this file, built once with the system C++ compiler. The wheel is
fetched once through pip into the user cache and checked by sha256; the tool is built into the
same cache, keyed by the source's hash. Compiling needs no device (the plugin config names the
MyriadX platform), takes about 5 s (the plugin looks for a device first) and gives the same
bytes for the same model and options.

This module uses the standard library only, so CI can prepare the compiler before the project's
environment exists: ``python3 engine/models/_myriad.py install``.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "OPENVINO_VERSION",
    "CompileReport",
    "Missing",
    "MyriadCompiler",
    "ToolchainError",
    "compiler_status",
    "install_compiler",
    "toolchain_dir",
]

OPENVINO_VERSION = "2021.4.2"
WHEEL_NAME = "openvino-2021.4.2-3976-cp39-cp39-manylinux2014_x86_64.whl"
WHEEL_SHA256 = "2260ac472b2834d520789dd29e15eaeeae62eba8c1867159efbda82940d2012f"
_PIP_ARGS = (
    "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.9",
    "--platform", "manylinux2014_x86_64", f"openvino=={OPENVINO_VERSION}",
)  # fmt: skip
#: wheel members the compiler needs: openvino/libs/* except the CPU/GPU plugins and caches
_SKIP_MEMBERS = ("libMKLDNNPlugin.so", "libclDNNPlugin.so", "cache.json")
_NEEDED_LIBS = ("libinference_engine.so", "libmyriadPlugin.so", "plugins.xml", "usb-ma2x8x.mvcmd")
SOURCE = Path(__file__).with_name("myriad_compile.cpp")
PRECISIONS = ("U8", "FP16", "FP32")


class ToolchainError(RuntimeError):
    """The local compiler is missing a piece or failed; the message is one line."""


@dataclass(frozen=True)
class Missing:
    """One missing piece of the local compiler and the command that provides it."""

    what: str
    command: str

    def __str__(self) -> str:
        return f"{self.what} (install: {self.command})"


def toolchain_dir() -> Path:
    """Where the wheel's libraries and the built tool live: the user cache, ``.../myriad``.

    ``$NIGHTLAB_MYRIAD_DIR`` overrides it; otherwise platformdirs' user cache for NightLab
    (``$XDG_CACHE_HOME/NightLab`` or ``~/.cache/NightLab`` on Linux), computed the same way
    without platformdirs so that CI's preparation step and the app agree.
    """
    override = os.environ.get("NIGHTLAB_MYRIAD_DIR")
    if override:
        return Path(override)
    try:
        import platformdirs

        root = Path(platformdirs.user_cache_dir("NightLab", appauthor=False))
    except ImportError:
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        root = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
        root = root / "NightLab"
    return root / "myriad"


def _libs_dir() -> Path:
    return toolchain_dir() / f"openvino-{OPENVINO_VERSION}" / "libs"


def _source_digest() -> str:
    return hashlib.sha256(SOURCE.read_bytes()).hexdigest()


def _tool_path() -> Path:
    return toolchain_dir() / "bin" / f"myriad_compile-{_source_digest()[:16]}"


def _cxx() -> str | None:
    return shutil.which(os.environ.get("CXX", "g++"))


def _libs_ready() -> bool:
    libs = _libs_dir()
    marker = libs.parent / "wheel.sha256"
    return (
        marker.is_file()
        and marker.read_text().strip() == WHEEL_SHA256
        and all((libs / name).is_file() for name in _NEEDED_LIBS)
    )


def compiler_status() -> list[Missing]:
    """What the local compiler still lacks; empty when ``to-blob`` can compile locally.

    Pieces NightLab installs itself (the wheel's libraries, the built tool) are listed with
    ``nightlab model compiler --install``; system pieces with their ``apt-get`` command.

    Examples
    --------
    >>> [str(m) for m in compiler_status()]  # doctest: +SKIP
    ['system library libusb-1.0 (install: sudo apt-get install libusb-1.0-0)']
    """
    missing = []
    if not sys.platform.startswith("linux") or platform.machine() not in ("x86_64", "AMD64"):
        host = f"{sys.platform} {platform.machine()}"
        missing.append(
            Missing(
                f"a Linux x86-64 host (the pinned wheel is manylinux; this is {host})",
                "none here: compile with nightlab model to-blob --online",
            )  # fmt: skip
        )
        return missing
    if ctypes.util.find_library("usb-1.0") is None:
        missing.append(
            Missing(
                "system library libusb-1.0 (the MYRIAD plugin links it)",
                "sudo apt-get install libusb-1.0-0",
            )  # fmt: skip
        )
    tool_built = _tool_path().is_file()
    if not tool_built and _cxx() is None:
        missing.append(Missing("C++ compiler g++ (builds the compile tool once)",
                               "sudo apt-get install g++"))  # fmt: skip
    if not _libs_ready():
        missing.append(
            Missing(
                f"OpenVINO {OPENVINO_VERSION} MYRIAD plugin (pinned wheel, 29 MB, fetched "
                "once with pip)",
                "nightlab model compiler --install",
            )  # fmt: skip
        )
    if not tool_built:
        missing.append(Missing(f"compile tool (built once from {SOURCE.name})",
                               "nightlab model compiler --install"))  # fmt: skip
    return missing


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fetch_libs(timeout: float) -> None:
    cache = toolchain_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".fetch-") as tmp:
        cmd = [sys.executable, "-m", "pip", *_PIP_ARGS, "-d", tmp, "--quiet",
               "--disable-pip-version-check"]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ToolchainError(
                f"pip did not fetch openvino=={OPENVINO_VERSION} within {timeout:.0f} s "
                "(is the package index reachable?)"
            ) from None
        except FileNotFoundError:
            raise ToolchainError(f"{sys.executable}: not found; cannot run pip") from None
        wheel = Path(tmp) / WHEEL_NAME
        if proc.returncode != 0 or not wheel.is_file():
            lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
            why = lines[-1].strip() if lines else f"exit {proc.returncode}"
            raise ToolchainError(f"pip could not fetch openvino=={OPENVINO_VERSION}: {why}")
        got = _sha256(wheel)
        if got != WHEEL_SHA256:
            raise ToolchainError(
                f"{WHEEL_NAME}: sha256 {got[:16]}... is not the pinned {WHEEL_SHA256[:16]}..."
            )
        staged = Path(tmp) / f"openvino-{OPENVINO_VERSION}"
        with zipfile.ZipFile(wheel) as z:
            for info in z.infolist():
                name = info.filename
                if not name.startswith("openvino/libs/") or info.is_dir():
                    continue
                base = name.removeprefix("openvino/libs/")
                if "/" in base or base in _SKIP_MEMBERS:
                    continue
                target = staged / "libs" / base
                target.parent.mkdir(parents=True, exist_ok=True)
                # direct write: a temporary folder that is renamed into place whole
                with z.open(info) as src, open(target, "wb") as dst:
                    # direct write: into the same temporary folder
                    shutil.copyfileobj(src, dst)
        # direct write: a temporary folder that is renamed into place whole
        (staged / "wheel.sha256").write_text(WHEEL_SHA256 + "\n")
        # the marker says "complete": make every library durable before the folder appears
        # (stdlib only here: this runs before the project's venv exists)
        for f in staged.rglob("*"):
            if f.is_file():
                fd = os.open(f, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        final = _libs_dir().parent
        if final.exists():  # an incomplete earlier attempt (the marker was not right)
            shutil.rmtree(final)
        os.replace(staged, final)


def _build_tool(timeout: float) -> None:
    cxx = _cxx()
    if cxx is None:
        raise ToolchainError("no C++ compiler g++ (install: sudo apt-get install g++)")
    libs = _libs_dir()
    out = _tool_path()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    # the wheel is manylinux2014: old C++ ABI; the plugin's own deps resolve at run time
    cmd = [cxx, "-std=c++14", "-O1", "-D_GLIBCXX_USE_CXX11_ABI=0", str(SOURCE), "-o", str(tmp),
           f"-L{libs}", "-linference_engine", f"-Wl,-rpath,{libs}",
           "-Wl,--allow-shlib-undefined"]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.splitlines() if "error" in ln] or [proc.stderr]
            raise ToolchainError(f"building {SOURCE.name} failed: {lines[0].strip()[:300]}")
        os.replace(tmp, out)
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"building {SOURCE.name} took over {timeout:.0f} s") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def install_compiler(*, timeout: float = 300.0, log=None) -> MyriadCompiler:
    """Fetch the pinned wheel (pip, sha256-checked) and build the tool, each only if missing.

    System pieces (libusb-1.0, g++) are not installed here: a `ToolchainError` names each
    one with its ``apt-get`` command.

    Examples
    --------
    >>> install_compiler().version  # doctest: +SKIP
    '2021.4.2-3976-0943ed67223-refs/pull/539/head'
    """
    say = log or (lambda _msg: None)
    if not _libs_ready():
        say(f"fetching openvino=={OPENVINO_VERSION} (pinned wheel, 29 MB) with pip ...")
        _fetch_libs(timeout)
    if not _tool_path().is_file():
        say(f"building {SOURCE.name} with {_cxx() or 'g++'} ...")
        _build_tool(timeout)
    return MyriadCompiler.find()


@dataclass(frozen=True)
class CompileReport:
    """What one compile did: the precisions the tool applied, the time, the tool's log."""

    seconds: float
    inputs: dict[str, str]
    outputs: dict[str, str]
    log: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class MyriadCompiler:
    """A ready local compiler (see :func:`install_compiler`); :meth:`compile` writes a blob."""

    tool: Path
    version: str
    tool_sha256: str

    @classmethod
    def find(cls) -> MyriadCompiler:
        """The installed compiler; `ToolchainError` listing every missing piece otherwise."""
        missing = compiler_status()
        if missing:
            raise ToolchainError("; ".join(str(m) for m in missing))
        tool = _tool_path()
        proc = subprocess.run([str(tool), "-v"], capture_output=True, text=True, timeout=60)
        words = proc.stdout.split()
        if proc.returncode != 0 or len(words) < 3 or words[0] != "version":
            why = (proc.stderr or proc.stdout).strip().splitlines()
            raise ToolchainError(f"{tool.name} does not run: {why[-1] if why else proc.returncode}")
        return cls(tool=tool, version=words[2], tool_sha256=_source_digest())

    @property
    def description(self) -> str:
        """e.g. ``OpenVINO 2021.4.2-3976-... MYRIAD plugin (openvino==2021.4.2 wheel)``."""
        return f"OpenVINO {self.version} MYRIAD plugin (openvino=={OPENVINO_VERSION} wheel)"

    def compile(
        self,
        model: str | Path,
        blob: str | Path,
        *,
        shaves: int = 6,
        cmx_slices: int = 6,
        input_precisions: dict[str, str] | None = None,
        output_precision: str = "FP16",
        timeout: float = 300.0,
    ) -> CompileReport:
        """Compile an ONNX model for the MyriadX; writes ``blob`` (not atomically: use a temp).

        ``input_precisions`` maps input names to ``U8``/``FP16``/``FP32``; inputs not named
        are FP16.
        """
        precisions = dict(input_precisions or {})
        for name, p in (*precisions.items(), ("output", output_precision)):
            if p not in PRECISIONS:
                raise ValueError(f"{name}: precision must be one of {PRECISIONS}, got {p!r}")
        cmd = [str(self.tool), "-m", str(model), "-o", str(blob), "-ip", "FP16",
               "-op", output_precision, "-sh", str(int(shaves)),
               "-cmx", str(int(cmx_slices))]  # fmt: skip
        if precisions:
            cmd += ["-iop", ",".join(f"{k}:{v}" for k, v in sorted(precisions.items()))]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            what = f"compiling {Path(model).name}"
            raise ToolchainError(f"{what} took over {timeout:.0f} s") from None
        seconds = time.perf_counter() - t0
        log = tuple((proc.stdout + proc.stderr).splitlines())
        if proc.returncode != 0 or not Path(blob).is_file():
            raise ToolchainError(
                f"MYRIAD compile of {Path(model).name} failed: {_error_text(log, proc.returncode)}"
            )
        inputs, outputs = {}, {}
        for line in log:  # "input  night_gray [1,1,192,256] FP32 -> U8"
            parts = line.split()
            if len(parts) == 6 and parts[0] in ("input", "output") and parts[4] == "->":
                (inputs if parts[0] == "input" else outputs)[parts[1]] = parts[5]
        return CompileReport(seconds=seconds, inputs=inputs, outputs=outputs, log=log)


def _error_text(log: tuple[str, ...], returncode: int) -> str:
    """The tool's error as one line: the sentence after ``ERROR: Check ... failed at X:``."""
    lines = [ln.strip() for ln in log if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.startswith("ERROR:")), None)
    if start is None:
        return lines[-1][:300] if lines else f"exit {returncode}"
    first = lines[start].removeprefix("ERROR:").strip()
    rest = [ln for ln in lines[start + 1 :] if not ln.startswith(("[", "input ", "output "))]
    text = rest[-1] if first.endswith(":") and rest else first
    return text[:300]


def _main(argv: list[str]) -> int:
    """``python3 engine/models/_myriad.py [status | install [TIMEOUT_S]]`` (stdlib only; CI)."""
    action = argv[0] if argv else "status"
    if action == "install":
        timeout = float(argv[1]) if len(argv) > 1 else 300.0
        try:
            compiler = install_compiler(timeout=timeout, log=lambda m: print(m, flush=True))
        except ToolchainError as exc:
            print(f"MyriadX compiler: not installed: {exc}", file=sys.stderr)
            return 1
        print(f"MyriadX compiler ready: {compiler.description} ({toolchain_dir()})")
        return 0
    missing = compiler_status()
    for m in missing:
        print(f"missing: {m}")
    print("MyriadX compiler: " + ("ready" if not missing else "not available"))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
