"""Luxonis' online converters, the fallback of ``to-blob --online``: both need the network.

``blobconverter`` (pip) sends the model to Luxonis' online compile service; ``modelconverter``
(pip ``modelconv``) runs the OpenVINO toolchain in Docker images pulled from the internet. On
an offline machine, or without either tool, they fail in seconds with one line saying so, and
never hang: the service is probed with a short connect timeout first and the conversion itself
runs under a deadline.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from pathlib import Path

from engine.models._card import ModelError

__all__ = ["BLOBCONVERTER_HOST", "blobconverter_blob", "find_tool", "modelconverter_blob"]

BLOBCONVERTER_HOST = "blobconverter.luxonis.com"
_OFFLINE_HINT = (
    "convert on a machine with internet access and copy the .blob and its card here "
    "(see resources/models/README.md)"
)


def _probe(host: str, port: int, timeout: float) -> None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ModelError(
            f"to-blob: cannot reach {host}:{port} ({reason}); the Luxonis converter needs the "
            f"network: {_OFFLINE_HINT}"
        ) from None


def _run_with_deadline(fn, timeout: float, what: str):
    result: dict = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as exc:  # reported below, in the caller's thread
            result["error"] = exc

    worker = threading.Thread(target=target, daemon=True, name="nightlab-to-blob")
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise ModelError(f"to-blob: {what} did not answer within {timeout:.0f} s; {_OFFLINE_HINT}")
    if "error" in result:
        exc = result["error"]
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"to-blob: {what} failed: {msg}")
    return result["value"]


def blobconverter_blob(src, out_dir, shaves, precisions, output_precision, timeout, host, port):
    import blobconverter

    _probe(host, port, timeout=min(5.0, timeout))
    params = ["-ip FP16", f"-op {output_precision}"]
    named = [f"{n}:{p}" for n, p in sorted(precisions.items()) if p != "FP16"]
    if named:
        params.append("-iop " + ",".join(named))

    def convert():
        return blobconverter.from_onnx(
            model=str(src),
            data_type="FP16",
            shaves=shaves,
            output_dir=str(out_dir),
            compile_params=params,
        )

    return Path(_run_with_deadline(convert, timeout, f"blobconverter ({host})"))


def modelconverter_blob(exe: str, src: Path, out_dir: Path, timeout: float) -> Path:
    cmd = [exe, "convert", "rvc2", "--path", str(src), "--output-dir", str(out_dir)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ModelError(f"to-blob: modelconverter did not finish within {timeout:.0f} s") from None
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout or "").strip().splitlines()
        raise ModelError(
            f"to-blob: modelconverter failed: {lines[-1] if lines else proc.returncode}"
        )
    blobs = sorted(out_dir.rglob("*.blob"), key=lambda p: p.stat().st_mtime)
    if not blobs:
        raise ModelError(f"to-blob: modelconverter wrote no .blob under {out_dir}")
    return blobs[-1]


def find_tool(tool: str) -> tuple[str, str | None]:
    if tool not in ("auto", "blobconverter", "modelconverter"):
        raise ValueError(f"tool must be 'auto', 'blobconverter' or 'modelconverter', got {tool!r}")
    if tool in ("auto", "blobconverter"):
        try:
            import blobconverter  # noqa: F401
        except ImportError:
            if tool == "blobconverter":
                raise ModelError(
                    "to-blob: blobconverter is not installed (pip install blobconverter; it also "
                    f"needs the network): {_OFFLINE_HINT}"
                ) from None
        else:
            return "blobconverter", None
    exe = shutil.which("modelconverter")
    if exe:
        return "modelconverter", exe
    raise ModelError(
        "to-blob: no Luxonis converter found (pip install blobconverter, or modelconv for "
        f"modelconverter; both need the network): {_OFFLINE_HINT}"
    )
