"""FP16 export of an ONNX model (the MyriadX computes in FP16), with an updated card.

Choice: the exported graph declares its inputs and outputs as **float16** (as the contract
says an FP16 export does) rather than keeping float32 I/O behind Cast nodes. The MyriadX takes
FP16 tensors natively, the written card states ``dtype: float16`` for every float tensor, and
:func:`engine.colorize.prepare_inputs` casts to whatever dtype the card declares, so the host and
camera paths feed the FP16 model without special cases.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.models._card import (
    ModelError,
    card_path_for,
    check_derived_output,
    write_derived_model,
)
from engine.models._inspect import load_onnx_model
from engine.models._verify import verify_model

__all__ = ["default_fp16_path", "export_fp16"]

_FP16_MAX = float(np.finfo(np.float16).max)
# inputs that ONNX requires to stay float32 whatever the data type (index per op type)
_FLOAT32_ONLY_INPUTS = {"Resize": (1, 2), "Upsample": (1,)}


def default_fp16_path(src: str | Path) -> Path:
    """``model.onnx`` -> ``model_fp16.onnx`` beside it."""
    p = Path(src)
    return p.with_name(f"{p.stem}_fp16{p.suffix}")


def _to_fp16(arr: np.ndarray, name: str) -> np.ndarray:
    if np.isfinite(arr).all() and np.abs(arr).max(initial=0.0) > _FP16_MAX:
        raise ModelError(f"{name}: value {np.abs(arr).max():.3g} overflows float16 (max 65504)")
    return arr.astype(np.float16)


def _convert_graph(model) -> None:
    from onnx import TensorProto, numpy_helper

    graph = model.graph
    keep32 = set()
    for node in graph.node:
        if any(a.type in (a.GRAPH, a.GRAPHS) for a in node.attribute):
            raise ModelError(f"export-fp16: control-flow op {node.op_type!r} is not supported")
        for i in _FLOAT32_ONLY_INPUTS.get(node.op_type, ()):
            if i < len(node.input):
                keep32.add(node.input[i])
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT and init.name not in keep32:
            arr = _to_fp16(numpy_helper.to_array(init), init.name)
            init.CopyFrom(numpy_helper.from_array(arr, init.name))
    for node in graph.node:
        for attr in node.attribute:
            if attr.name == "to" and node.op_type == "Cast" and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.FLOAT16
            elif attr.type == attr.TENSOR and attr.t.data_type == TensorProto.FLOAT:
                if node.op_type == "Constant" and node.output[0] in keep32:
                    continue
                arr = _to_fp16(
                    numpy_helper.to_array(attr.t), f"{node.name or node.op_type}.{attr.name}"
                )
                attr.t.CopyFrom(numpy_helper.from_array(arr, attr.t.name))
    for vi in [*graph.input, *graph.output, *graph.value_info]:
        tt = vi.type.tensor_type
        if tt.elem_type == TensorProto.FLOAT and vi.name not in keep32:
            tt.elem_type = TensorProto.FLOAT16


def export_fp16(src: str | Path, *, dst: str | Path | None = None) -> Path:
    """Write an FP16 copy of an ONNX model and, when ``src`` has a card, an updated card.

    Float32 weights and constants become float16 (values beyond +-65504 are an error), and the
    graph's float inputs/outputs are declared float16. The card beside ``dst`` copies the
    source card with ``dtype: float16`` for those tensors, ``precision: fp16``, the new sha256
    and ``derived_from`` naming the source. Check the result against the source with the card's
    ``fp16_tolerance`` (``engine.evaluation.output_max_abs_diff``; the tests and the CLI do).

    Parameters
    ----------
    src : str or Path
        FP32 ONNX model.
    dst : str or Path, optional
        Output path (keyword-only); default ``<stem>_fp16.onnx`` beside ``src``.

    Returns
    -------
    Path
        The written model.

    Examples
    --------
    >>> export_fp16("refcolor_s.onnx", dst="/tmp/refcolor_s_fp16.onnx")  # doctest: +SKIP
    PosixPath('/tmp/refcolor_s_fp16.onnx')
    """

    src = Path(src)
    dst = default_fp16_path(src) if dst is None else Path(dst)
    check_derived_output(src, dst, "FP16 export")
    # a card that does not match its model must not turn into a fresh, "correct" one
    card = verify_model(src).card if card_path_for(src).is_file() else None
    model = load_onnx_model(src)
    _convert_graph(model)
    write_derived_model(
        model,
        dst,
        src=src,
        card=card,
        invalid="export-fp16: converted model",
        tool="nightlab model export-fp16",
        note="FP16 export: weights and graph I/O in float16.",
        edit_card=_fp16_card,
    )
    return dst


def _fp16_card(data: dict) -> None:
    """The card's float32 tensors declared float16, and its precision."""
    for t in (*data["inputs"], *data["outputs"]):
        if t["dtype"] == "float32":
            t["dtype"] = "float16"
    data["precision"] = "fp16"
