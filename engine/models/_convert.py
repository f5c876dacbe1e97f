"""ONNX -> MyriadX ``.blob`` through Luxonis' official converters, which need the network.

``blobconverter`` (pip) sends the model to Luxonis' online compile service; ``modelconverter``
(pip ``modelconv``) runs the OpenVINO toolchain in Docker images pulled from the internet. On
an offline machine, or without either tool, :func:`to_blob` fails in seconds with one line
saying so, and never hangs: the service is probed with a short connect timeout first and the
conversion itself runs under a deadline.
"""

from __future__ import annotations

import copy
import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

from engine.models._card import ModelError, card_path_for, load_card, write_card
from engine.models._inspect import inspect_model, load_onnx_model

__all__ = ["BLOBCONVERTER_HOST", "to_blob"]

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


def compile_params(src: Path) -> list[str]:
    """MyriadX compile-tool input precisions for ``src``, from its card when it has one.

    Float inputs (L/100, ab/128) must stay FP16: the default U8 would truncate them. A night
    input with ``encoding: "gray8"`` (a camera variant) is U8, because the camera's resize
    stage feeds it GRAY8 directly.
    """
    params = ["-ip FP16"]
    if card_path_for(src).is_file():
        gray = [t.name for t in load_card(src).inputs if t.encoding == "gray8"]
        if gray:
            params.append("-iop " + ",".join(f"{name}:U8" for name in gray))
    return params


def _blobconverter(src: Path, out_dir: Path, shaves: int, timeout: float, host: str, port: int):
    import blobconverter

    _probe(host, port, timeout=min(5.0, timeout))
    params = compile_params(src)

    def convert():
        return blobconverter.from_onnx(
            model=str(src),
            data_type="FP16",
            shaves=shaves,
            output_dir=str(out_dir),
            compile_params=params,
        )

    return Path(_run_with_deadline(convert, timeout, f"blobconverter ({host})"))


def _modelconverter(exe: str, src: Path, out_dir: Path, timeout: float) -> Path:
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


def _find_tool(tool: str) -> tuple[str, str | None]:
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


def to_blob(
    src: str | Path,
    dst: str | Path | None = None,
    *,
    shaves: int = 6,
    tool: str = "auto",
    timeout: float = 300.0,
    host: str = BLOBCONVERTER_HOST,
    port: int = 443,
) -> Path:
    """Compile an ONNX model to a MyriadX blob with Luxonis' converter, and write its card.

    Parameters
    ----------
    src : str or Path
        ONNX model (FP32 or FP16); its card, when present, is carried over to the blob.
    dst : str or Path, optional
        Output ``.blob``; default ``<stem>.blob`` beside ``src``.
    shaves : int
        SHAVE cores to compile for (1..16; 6 suits a pipeline that also runs other nodes).
    tool : {"auto", "blobconverter", "modelconverter"}
        Which converter to use; ``"auto"`` takes the first installed one.
    timeout : float
        Deadline in seconds for the whole conversion.
    host, port : str, int
        The online service ``blobconverter`` talks to, probed before converting.

    Returns
    -------
    Path
        The written blob.

    Raises
    ------
    ModelError
        No converter installed, service unreachable (offline), conversion failed or timed
        out: one line each.

    Examples
    --------
    >>> to_blob("refcolor_s_fp16.onnx")  # doctest: +SKIP
    PosixPath('refcolor_s_fp16.blob')
    """
    src = Path(src)
    if not src.is_file():
        raise ModelError(f"{src}: model file not found")
    if not 1 <= shaves <= 16:
        raise ValueError(f"shaves must be in 1..16, got {shaves}")
    load_onnx_model(src)  # not an ONNX model -> clear error before any tool or network
    dst = src.with_suffix(".blob") if dst is None else Path(dst)
    if dst.suffix.lower() != ".blob":
        raise ModelError(f"{dst.name}: output name must end in .blob")
    name, exe = _find_tool(tool)
    out_dir = dst.parent / f".{dst.stem}.convert"
    out_dir.mkdir(parents=True, exist_ok=True)
    try:  # the converter's scratch folder goes, whatever happens
        if name == "blobconverter":
            produced = _blobconverter(src, out_dir, shaves, timeout, host, port)
        else:
            produced = _modelconverter(exe, src, out_dir, timeout)
        os.replace(produced, dst)  # same folder tree, same filesystem: atomic
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    if card_path_for(src).is_file():
        try:
            _write_blob_card(src, dst, name)
        except BaseException:
            dst.unlink(missing_ok=True)  # no blob without its card
            raise
    return dst


def _write_blob_card(src: Path, dst: Path, tool: str) -> Path:
    card = load_card(src)
    data = copy.deepcopy(card.raw)
    real = inspect_model(dst)
    by_name = {t.name: t for t in (*real.inputs, *real.outputs)}
    for t in (*data["inputs"], *data["outputs"]):
        got = by_name.get(t["name"])
        if got is not None:  # the compiler decides dtypes/layout; state what it produced
            t["dtype"] = got.dtype if got.dtype in ("float16", "float32", "uint8") else t["dtype"]
            if got.layout in ("NCHW", "NHWC", "CHW", "HWC") and len(got.layout) == len(got.shape):
                t["layout"], t["shape"] = got.layout, list(got.shape)
    data["format"] = "blob"
    data["derived_from"] = {
        "file": src.name,
        "sha256": card.sha256,
        "tool": f"nightlab to-blob ({tool})",
    }
    data["target_devices"] = ["myriadx"]
    return write_card(dst, data)
