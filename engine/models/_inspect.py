"""What a model file really takes and returns (ONNX, MyriadX blob, NN archive), and its card check.

The camera path uses :func:`inspect_model` + :func:`check_against_card` before deploying a blob to
the OAK; the host runtime uses them before building an onnxruntime session.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.atomic import special_file_kind
from engine.models._archive import read_nn_archive
from engine.models._card import ModelCard, ModelError, TensorSpec, model_format

__all__ = ["ModelIO", "TensorIO", "check_against_card", "inspect_model", "load_onnx_model"]

_MAGIC = {
    b"\xff\xd8\xff": "a JPEG image",
    b"\x89PNG": "a PNG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive",
    b"\x7fELF": "an executable",
    b"\xfd7zXZ": "an xz archive",
    b"\x1f\x8b": "a gzip archive",
}


@dataclass(frozen=True)
class TensorIO:
    """A tensor as the model file declares it. Unknown dims are ``None``; unknown layout ``""``."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str
    layout: str = ""

    def describe(self) -> str:
        dims = "x".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name}: {dims} {self.dtype}" + (f" {self.layout}" if self.layout else "")


@dataclass(frozen=True)
class ModelIO:
    """Inputs and outputs read from a model file, plus format-specific details in ``info``."""

    path: Path
    format: str
    inputs: tuple[TensorIO, ...]
    outputs: tuple[TensorIO, ...]
    info: dict[str, Any] = field(default_factory=dict)


def _what_is(data: bytes) -> str | None:
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            return what
    return None


def load_onnx_model(source: str | Path | bytes, *, label: str = ""):
    """Parse an ONNX model (path or bytes); a one-line :class:`ModelError` when it is not one."""
    import onnx
    from google.protobuf.message import DecodeError

    if isinstance(source, bytes):
        data, label = source, label or "model"
    else:
        label = label or str(source)
        data = Path(source).read_bytes()
    what = _what_is(data[:8])
    if what:
        raise ModelError(f"{label}: not an ONNX model (the file is {what})")
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ModelError(f"{label}: not an ONNX model ({str(exc).splitlines()[0]})") from None
    if model.ir_version <= 0 or not model.opset_import or not model.graph.node:
        raise ModelError(f"{label}: not an ONNX model (no graph, IR version or opset)")
    return model


def _onnx_io(model, path: Path) -> ModelIO:
    from onnx.helper import tensor_dtype_to_np_dtype

    def tensors(values, skip=frozenset()):
        out = []
        for v in values:
            if v.name in skip:
                continue
            tt = v.type.tensor_type
            dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim)
            try:
                dtype = tensor_dtype_to_np_dtype(tt.elem_type).name
            except (KeyError, ValueError, TypeError):
                dtype = f"onnx-type-{tt.elem_type}"
            out.append(TensorIO(v.name, dims, dtype))
        return tuple(out)

    initializers = {t.name for t in model.graph.initializer}
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    return ModelIO(
        path=path,
        format="onnx",
        inputs=tensors(model.graph.input, initializers),
        outputs=tensors(model.graph.output),
        info={"ir_version": model.ir_version, "opset": opset, "producer": model.producer_name},
    )


_BLOB_DTYPES = {"U8F": "uint8", "FP16": "float16", "FP32": "float32", "I8": "int8", "INT": "int32"}


def _blob_io(blob_path: Path, label: str) -> ModelIO:
    import depthai as dai

    try:
        blob = dai.OpenVINO.Blob(str(blob_path))
    except RuntimeError as exc:
        raise ModelError(f"{label}: not a MyriadX blob ({str(exc).splitlines()[0]})") from None

    def tensors(items) -> tuple[TensorIO, ...]:
        out = []
        for name, t in sorted(items.items()):
            # depthai lists dims innermost first (W, H, C, N); the order names the layout
            dims = tuple(int(d) for d in reversed(t.dims))
            dtype = _BLOB_DTYPES.get(t.dataType.name, t.dataType.name.lower())
            out.append(TensorIO(name, dims, dtype, t.order.name))
        return tuple(out)

    return ModelIO(
        path=blob_path,
        format="blob",
        inputs=tensors(blob.networkInputs),
        outputs=tensors(blob.networkOutputs),
        info={
            "openvino_version": blob.version.name.replace("VERSION_", "").replace("_", "."),
            "shaves": blob.numShaves,
            "slices": blob.numSlices,
            "stages": blob.stageCount,
        },
    )


def _archive_io(path: Path) -> ModelIO:
    arc = read_nn_archive(path)
    label = f"{path}:{arc.executable_name}"
    if arc.executable_format in ("blob", "superblob"):
        fd, tmp = tempfile.mkstemp(suffix=".blob")
        try:
            # direct write: a private scratch copy in the temp folder, deleted after
            with os.fdopen(fd, "wb") as f:
                f.write(arc.executable)
            io = _blob_io(Path(tmp), label)
        finally:
            os.unlink(tmp)
    elif arc.executable_format == "onnx":
        io = _onnx_io(load_onnx_model(arc.executable, label=label), path)
    else:
        raise ModelError(f"{label}: cannot inspect a .{arc.executable_format} executable")
    model_cfg = arc.config["model"]
    declared = {
        "inputs": [_config_tensor(t) for t in model_cfg["inputs"]],
        "outputs": [_config_tensor(t) for t in model_cfg["outputs"]],
    }
    info = dict(io.info)
    info.update(
        executable=arc.executable_name,
        config_version=arc.config.get("config_version", ""),
        archive_name=model_cfg["metadata"].get("name", ""),
        declared=declared,
    )
    return ModelIO(path=path, format="nnarchive", inputs=io.inputs, outputs=io.outputs, info=info)


def _config_tensor(t: dict[str, Any]) -> TensorIO:
    if not isinstance(t, dict) or "name" not in t:
        raise ModelError("config.json: every input/output needs a name")
    shape = tuple(int(d) if isinstance(d, int) and d > 0 else None for d in t.get("shape", ()))
    return TensorIO(str(t["name"]), shape, str(t.get("dtype", "")), str(t.get("layout", "")))


def inspect_model(path: str | Path) -> ModelIO:
    """Read the real inputs and outputs of an ONNX model, MyriadX ``.blob`` or NN archive.

    No device and no onnxruntime session are needed (``depthai.OpenVINO.Blob`` parses blobs
    offline).

    Parameters
    ----------
    path : str or Path
        ``.onnx``, ``.blob``, or an NN archive ``.tar.xz``/``.tar``.

    Returns
    -------
    ModelIO
        Names, shapes (NCHW order for blobs), dtypes and, for blobs, layouts.

    Raises
    ------
    ModelError
        Missing file, unsupported suffix, or content that is not such a model (one line).

    Examples
    --------
    >>> io = inspect_model("diff_openvino_2021.4_6shave.blob")  # doctest: +SKIP
    >>> [t.describe() for t in io.inputs]  # doctest: +SKIP
    ['img1: 3x720x720 uint8 CHW', 'img2: 3x720x720 uint8 CHW']
    """
    p = Path(path)
    if p.is_dir():  # before the suffix: a folder is not "an unsupported format"
        raise ModelError(f"{p}: is a folder, not a model file (.onnx, .blob or NN archive)")
    if kind := special_file_kind(p):  # reading a FIFO without a writer never ends
        raise ModelError(f"{p}: not a regular file ({kind}), not a model file")
    fmt = model_format(p)
    if not p.is_file():
        raise ModelError(f"{p}: file not found")
    if fmt == "onnx":
        return _onnx_io(load_onnx_model(p), p)
    if fmt == "blob":
        with open(p, "rb") as f:
            what = _what_is(f.read(8))
        if what:
            raise ModelError(f"{p}: not a MyriadX blob (the file is {what})")
        return _blob_io(p, str(p))
    return _archive_io(p)


def _shape_matches(real: tuple[int | None, ...], declared: tuple[int, ...]) -> bool:
    return len(real) == len(declared) and all(
        r is None or r == d for r, d in zip(real, declared, strict=True)
    )


def _compare(kind: str, real: tuple[TensorIO, ...], declared: tuple[TensorSpec, ...]) -> list[str]:
    problems = []
    by_name = {t.name: t for t in real}
    for spec in declared:
        t = by_name.pop(spec.name, None)
        if t is None:
            names = ", ".join(sorted(x.name for x in real)) or "none"
            problems.append(f"{kind} {spec.name!r} ({spec.role}) missing from model (has: {names})")
            continue
        if not _shape_matches(t.shape, spec.shape):
            dims = ["?" if d is None else d for d in t.shape]
            problems.append(
                f"{kind} {spec.name!r}: shape {dims} in model, {list(spec.shape)} in card"
            )
        if t.dtype != spec.dtype:
            problems.append(f"{kind} {spec.name!r}: dtype {t.dtype} in model, {spec.dtype} in card")
        if t.layout and t.layout != spec.layout:
            problems.append(
                f"{kind} {spec.name!r}: layout {t.layout} in model, {spec.layout} in card"
            )
    for name in by_name:
        problems.append(f"{kind} {name!r} in model but not in card")
    return problems


def check_against_card(io: ModelIO, card: ModelCard) -> list[str]:
    """Mismatches between a model's real inputs/outputs and its card; empty when they agree.

    Names, shapes (dynamic dims match anything), dtypes and, where the file states one,
    layouts are compared, plus the format.

    Examples
    --------
    >>> problems = check_against_card(inspect_model(path), load_card(path))  # doctest: +SKIP
    >>> problems  # doctest: +SKIP
    ["input 'ref_ab': dtype float16 in model, float32 in card"]
    """
    problems = []
    if io.format != card.format:
        problems.append(f"format: model file is {io.format}, card says {card.format}")
    problems += _compare("input", io.inputs, card.inputs)
    problems += _compare("output", io.outputs, card.outputs)
    return problems
