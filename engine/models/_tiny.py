"""A tiny contract-conforming ONNX model, for tests, demos and checking a deployment path.

It passes the reference chroma through a 1x1 convolution (identity by default), so its output is
known exactly: ``ab = gain * ref_ab``. Nothing is trained; it only proves the plumbing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic import write_bytes_atomic
from engine.models._card import write_card

__all__ = ["tiny_card", "write_tiny_model"]


def tiny_card(
    width: int, height: int, *, with_ref_l: bool = True, name: str = "tiny"
) -> dict[str, Any]:
    """A card dict (without ``file``/``sha256``) for :func:`write_tiny_model`'s model."""

    def tensor(tname: str, role: str, channels: int, scale: float) -> dict[str, Any]:
        rng = [0.0, 1.0] if role.endswith("_l") else [-1.0, 1.0]
        return {
            "name": tname,
            "role": role,
            "layout": "NCHW",
            "shape": [1, channels, height, width],
            "dtype": "float32",
            "scale": scale,
            "offset": 0.0,
            "range": rng,
        }

    inputs = [tensor("night_l", "night_l", 1, 0.01)]
    if with_ref_l:
        inputs.append(tensor("ref_l", "ref_l", 1, 0.01))
    inputs.append(tensor("ref_ab", "ref_ab", 2, 1 / 128))
    return {
        "schema_version": 1,
        "name": name,
        "version": "0.0.1",
        "description": "reference chroma passthrough (1x1 conv), for tests",
        "format": "onnx",
        "color_space": "CIELab-D65",
        "input_size": {"width": width, "height": height},
        "inputs": inputs,
        "outputs": [tensor("ab", "ab", 2, 1 / 128)],
        "fp16_tolerance": 0.01,
        "training": {"pairs_used": []},
    }


def write_tiny_model(
    path: str | Path,
    *,
    width: int = 32,
    height: int = 24,
    with_ref_l: bool = True,
    gain: float = 1.0,
    card: bool = True,
) -> Path:
    """Write a passthrough ONNX model (``ab = gain * ref_ab``) and, by default, its card.

    Examples
    --------
    >>> write_tiny_model("/tmp/tiny.onnx")  # doctest: +SKIP
    PosixPath('/tmp/tiny.onnx')
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    names = ["night_l", "ref_l", "ref_ab"] if with_ref_l else ["night_l", "ref_ab"]
    chans = {"night_l": 1, "ref_l": 1, "ref_ab": 2}
    inputs = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, chans[n], height, width])
        for n in names
    ]
    n_in = sum(chans[n] for n in names)
    weight = np.zeros((2, n_in, 1, 1), np.float32)
    weight[0, n_in - 2, 0, 0] = weight[1, n_in - 1, 0, 0] = gain
    nodes = [
        helper.make_node("Concat", names, ["stacked"], axis=1),
        helper.make_node("Conv", ["stacked", "w", "bias"], ["ab"], kernel_shape=[1, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_passthrough",
        inputs,
        [helper.make_tensor_value_info("ab", TensorProto.FLOAT, [1, 2, height, width])],
        initializer=[
            numpy_helper.from_array(weight, "w"),
            numpy_helper.from_array(np.zeros(2, np.float32), "bias"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    p = Path(path)
    write_bytes_atomic(p, model.SerializeToString())
    if card:
        write_card(p, tiny_card(width, height, with_ref_l=with_ref_l))
    return p
