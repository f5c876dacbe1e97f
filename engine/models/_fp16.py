"""FP16 export of an ONNX model (the MyriadX computes in FP16), with an updated card.

Choice: the exported graph declares its inputs and outputs as **float16** (as the contract
says an FP16 export does) rather than keeping float32 I/O behind Cast nodes. The MyriadX takes
FP16 tensors natively, the written card states ``dtype: float16`` for every float tensor, and
:func:`engine.colorize.prepare_inputs` casts to whatever dtype the card declares, so the host and
camera paths feed the FP16 model without special cases.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from engine.atomic import write_bytes_atomic
from engine.models._card import (
    ModelError,
    card_path_for,
    check_derived_output,
    write_card,
)
from engine.models._inspect import load_onnx_model
from engine.models._verify import verify_model

__all__ = ["default_fp16_path", "export_fp16", "fp16_max_abs_diff", "photo_feeds"]

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


def export_fp16(src: str | Path, dst: str | Path | None = None) -> Path:
    """Write an FP16 copy of an ONNX model and, when ``src`` has a card, an updated card.

    Float32 weights and constants become float16 (values beyond +-65504 are an error), and the
    graph's float inputs/outputs are declared float16. The card beside ``dst`` copies the
    source card with ``dtype: float16`` for those tensors, ``precision: fp16``, the new sha256
    and ``derived_from`` naming the source. Check the result against the source with the card's
    ``fp16_tolerance`` (the tests do).

    Parameters
    ----------
    src : str or Path
        FP32 ONNX model.
    dst : str or Path, optional
        Output path; default ``<stem>_fp16.onnx`` beside ``src``.

    Returns
    -------
    Path
        The written model.

    Examples
    --------
    >>> export_fp16("refcolor_s.onnx", "/tmp/refcolor_s_fp16.onnx")  # doctest: +SKIP
    PosixPath('/tmp/refcolor_s_fp16.onnx')
    """
    import onnx

    src = Path(src)
    dst = default_fp16_path(src) if dst is None else Path(dst)
    check_derived_output(src, dst, "FP16 export")
    # a card that does not match its model must not turn into a fresh, "correct" one
    card = verify_model(src).card if card_path_for(src).is_file() else None
    model = load_onnx_model(src)
    _convert_graph(model)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ModelError(
            f"export-fp16: converted model is invalid ({str(exc).splitlines()[0]})"
        ) from None
    write_bytes_atomic(dst, model.SerializeToString())
    if card is not None:
        data = copy.deepcopy(card.raw)
        for t in (*data["inputs"], *data["outputs"]):
            if t["dtype"] == "float32":
                t["dtype"] = "float16"
        data["precision"] = "fp16"
        data["derived_from"] = {
            "file": src.name,
            "sha256": card.sha256,
            "tool": "nightlab model export-fp16",
        }
        data["description"] = (
            data.get("description", "") + " FP16 export: weights and graph I/O in float16."
        ).strip()
        write_card(dst, data)
    return dst


def photo_feeds(card, *, count: int = 3, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Realistic input tensors for ``card``: bundled scikit-image photos as night + reference.

    The night frame is the photo's luminance with noise and a gamma, the reference the photo
    itself with a pasted scene change, half of them with a leak mask; tensors are built with
    :func:`engine.colorize.prepare_inputs`, as the host and camera paths do.
    """
    import cv2

    from engine._image import to_gray
    from engine.colorize import prepare_inputs
    from engine.scene_change import donor_photos, paste_patches

    rng = np.random.default_rng(seed)
    photos = donor_photos()
    feeds = []
    for i in range(count):
        photo = photos[i % len(photos)]
        w, h = card.input_size
        photo = cv2.resize(photo, (w * 2, h * 2), interpolation=cv2.INTER_AREA)
        gray = to_gray(photo).astype(np.float32) / 255.0
        night = np.clip(255 * gray**1.3 + rng.normal(0, 4, gray.shape), 0, 255).astype(np.uint8)
        reference, changed = paste_patches(photo, photos, rng=rng)
        mask = cv2.GaussianBlur(changed.astype(np.float32), (0, 0), 2.0) if i % 2 else None
        feeds.append(prepare_inputs(night, reference, leak_mask=mask, card=card))
    return feeds


def fp16_max_abs_diff(
    fp32: str | Path, fp16: str | Path, feeds: list[dict[str, np.ndarray]]
) -> float:
    """Max abs output difference (tensor units) of an FP32 model and its FP16 export.

    ``feeds`` are FP32 inputs by name; the FP16 model gets them cast to its declared dtypes.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    s32 = ort.InferenceSession(str(fp32), opts, providers=["CPUExecutionProvider"])
    s16 = ort.InferenceSession(str(fp16), opts, providers=["CPUExecutionProvider"])
    types16 = {
        i.name: (np.float16 if i.type == "tensor(float16)" else np.float32)
        for i in s16.get_inputs()
    }
    worst = 0.0
    for feed in feeds:
        (a,) = s32.run(None, feed)
        (b,) = s16.run(None, {k: v.astype(types16[k]) for k, v in feed.items()})
        worst = max(worst, float(np.abs(a.astype(np.float32) - b.astype(np.float32)).max()))
    return worst
