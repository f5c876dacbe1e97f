"""ONNX export of the trained network, with the checks the model card's figures come from.

* :func:`export_onnx` writes a static-shape opset-17 graph (legacy TorchScript exporter).
* :func:`onnx_vs_torch` runs the file in onnxruntime and compares with torch.
* :func:`fp16_max_abs_diff` runs the network with FP16 weights *and* activations (torch
  ``.half()`` on CPU) and compares with FP32: the figure behind ``fp16_tolerance``.
* :func:`onnx_median_ms` times onnxruntime on ``threads`` intra-op threads.
* :func:`refcolor_card` builds the contract's card dict; :func:`engine.models.write_card`
  validates, hashes and writes it as the JSON sidecar (``<model>.card.json``).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch

from engine.atomic import write_bytes_atomic
from engine.bench import median_ms
from engine.models import tiny_card
from training.model import INPUT_NAMES, OUTPUT_NAMES, RefColorNet

__all__ = [
    "export_onnx",
    "fp16_max_abs_diff",
    "onnx_median_ms",
    "onnx_ops",
    "onnx_vs_torch",
    "refcolor_card",
]

Feeds = list[dict[str, np.ndarray]]


def export_onnx(model: RefColorNet, path: Path, *, width: int = 256, height: int = 192) -> None:
    """Export ``model`` (eval mode, FP32) with the contract's names and static shapes."""
    model = model.eval()
    args = (
        torch.zeros(1, 1, height, width),
        torch.zeros(1, 1, height, width),
        torch.zeros(1, 2, height, width),
    )
    buf = io.BytesIO()  # serialised in memory, then written atomically (never half a model)
    # The TorchScript exporter is deprecated but is the one that honours the SpaceToDepth
    # symbolic (the dynamo exporter would need an onnxscript translation); silence only its
    # two deprecation notices.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "You are using the legacy TorchScript", DeprecationWarning
        )
        warnings.filterwarnings("ignore", "The feature will be removed", DeprecationWarning)
        torch.onnx.export(
            model,
            args,
            buf,
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            opset_version=17,
            do_constant_folding=True,
            dynamo=False,
        )
    _inline_identities(path, buf.getvalue())


def _inline_identities(path: Path, data: bytes) -> None:
    """Replace ``Identity`` nodes on initializers (the exporter's de-duplication of equal
    weight tensors, e.g. zero-initialised layers) by a copy, and ``Constant`` nodes (the
    gate's scalars) by initializers, so the graph keeps to the MyriadX op list."""
    import onnx

    model = onnx.load_from_string(data)
    inits = {t.name: t for t in model.graph.initializer}
    keep = []
    for node in model.graph.node:
        if node.op_type == "Identity" and node.input[0] in inits:
            copy = onnx.TensorProto()
            copy.CopyFrom(inits[node.input[0]])
            copy.name = node.output[0]
            model.graph.initializer.append(copy)
        elif node.op_type == "Constant" and [a.name for a in node.attribute] == ["value"]:
            value = onnx.TensorProto()
            value.CopyFrom(node.attribute[0].t)
            value.name = node.output[0]
            model.graph.initializer.append(value)
        else:
            keep.append(node)
    if len(keep) != len(model.graph.node):
        del model.graph.node[:]
        model.graph.node.extend(keep)
        onnx.checker.check_model(model)
        data = model.SerializeToString()
    write_bytes_atomic(path, data)


def onnx_ops(path: Path) -> list[str]:
    """Sorted distinct op types in an ONNX file."""
    import onnx

    return sorted({n.op_type for n in onnx.load(str(path)).graph.node})


def _session(path: Path, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def onnx_vs_torch(model: RefColorNet, path: Path, feeds: Feeds) -> float:
    """Max abs difference (tensor units) between onnxruntime and torch on ``feeds``."""
    sess = _session(path, 2)
    worst = 0.0
    with torch.no_grad():
        for f in feeds:
            ours = sess.run(None, f)[0]
            ref = model(*(torch.from_numpy(f[n]) for n in INPUT_NAMES)).numpy()
            worst = max(worst, float(np.abs(ours - ref).max()))
    return worst


def fp16_max_abs_diff(model: RefColorNet, feeds: Feeds) -> float:
    """Max abs output difference (tensor units) of the network run entirely in FP16 vs FP32."""
    half = RefColorNet(**model.config).eval()
    half.load_state_dict(model.state_dict())
    half = half.half()
    worst = 0.0
    with torch.no_grad():
        for f in feeds:
            x = [torch.from_numpy(f[n]) for n in INPUT_NAMES]
            ref = model(*x)
            out = half(*(t.half() for t in x)).float()
            if not torch.isfinite(out).all():
                return float("inf")
            worst = max(worst, float((out - ref).abs().max()))
    return worst


def onnx_median_ms(
    path: Path, feed: dict[str, np.ndarray], *, threads: int = 2, runs: int = 50
) -> float:
    """Median wall milliseconds of one onnxruntime inference, after 5 warm-up runs."""
    sess = _session(path, threads)
    return median_ms(lambda: sess.run(None, feed), repeats=runs, warmup=5)


def refcolor_card(
    *,
    description: str,
    fp16_tolerance: float,
    training: dict,
    license_note: str,
    version: str = "1.0.0",
    width: int = 256,
    height: int = 192,
) -> dict:
    """The model contract v1 card of RefColor-S, without ``file``/``sha256`` (filled on write)."""
    card = tiny_card(width, height, name="nightlab-refcolor-s")  # the contract's tensors
    descriptions = {
        "night_l": "night luminance, CIE L / 100",
        "ref_l": "aligned day reference luminance, CIE L / 100",
        "ref_ab": "aligned reference a,b / 128, zeroed under the leak mask",
        "ab": "predicted a,b / 128",
    }
    for tensor in (*card["inputs"], *card["outputs"]):
        tensor["description"] = descriptions[tensor["role"]]
    card.update(
        version=version,
        description=description,
        fp16_tolerance=fp16_tolerance,
        training=training,
        license=license_note,
        target_devices=["cpu-onnxruntime", "myriadx"],
    )
    return card
