"""Camera variants: a model whose night input takes gray levels and converts them to L itself.

On the OAK the night frame reaches the network straight from the camera's resize stage as
GRAY8, so the night input carries gray levels v (0..255), not CIE L. Gray -> L is not linear
(``engine.color.GRAY_TO_L``: gray 128 is L 53.6, a linear map would say 50.2), so no
scale/offset can turn v into L. :func:`with_gray_night_input` puts the conversion into the graph
instead: a degree-6 polynomial in ``t = v * 2/255 - 1`` evaluated with Mul/Add only (Horner),
which the MyriadX runs natively and which stays accurate in FP16 (``t`` and the coefficients
are of order 1). The card of the variant says ``encoding: "gray8"``.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
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

__all__ = [
    "GrayToLPolynomial",
    "default_camera_variant_path",
    "fit_gray_to_l",
    "with_gray_night_input",
]

#: name of the variant's night input (gray levels 0..255)
NIGHT_GRAY = "night_gray"
_TOOL = "nightlab model camera-variant"


@dataclass(frozen=True)
class GrayToLPolynomial:
    """CIE L of a gray level as a polynomial in ``t = v * 2/255 - 1`` (the in-graph form).

    Attributes
    ----------
    coefficients : tuple of float
        L-unit coefficients of ``t**0, t**1, ...`` (lowest degree first).
    max_error : float
        Max ``|poly(v) - GRAY_TO_L[v]|`` over v = 0..255, in L units (float32 evaluation).
    """

    coefficients: tuple[float, ...]
    max_error: float

    def __call__(self, gray: np.ndarray) -> np.ndarray:
        """L (float32) of gray levels, evaluated by Horner's rule in float32 as the graph does."""
        t = np.asarray(gray, np.float32) * np.float32(2 / 255) + np.float32(-1)
        c = [np.float32(k) for k in self.coefficients]
        p = t * c[-1] + c[-2]
        for k in reversed(c[:-2]):
            p = p * t + k
        return p


@functools.cache
def fit_gray_to_l(degree: int = 6) -> GrayToLPolynomial:
    """Fit ``engine.color.GRAY_TO_L`` with a polynomial, minimising the max error.

    Lawson's iteratively reweighted least squares (converges to the minimax fit); degree 6
    stays within 0.3 L (0.27 in float32), well under the 0.5 L a viewer could notice.

    Parameters
    ----------
    degree : int
        2..10.

    Examples
    --------
    >>> fit = fit_gray_to_l()
    >>> round(fit.max_error, 2), round(float(fit(np.array([128]))[0]))  # GRAY_TO_L[128]: 53.6
    (0.27, 53)
    """
    from engine.color import GRAY_TO_L

    if not 2 <= degree <= 10:
        raise ValueError(f"degree must be in 2..10, got {degree}")
    poly = np.polynomial.polynomial
    v = np.arange(256, dtype=np.float64)
    t = v * (2 / 255) - 1
    target = GRAY_TO_L.astype(np.float64)
    weights = np.ones_like(t)
    for _ in range(300):
        coefs = poly.polyfit(t, target, degree, w=np.sqrt(weights))
        err = np.abs(poly.polyval(t, coefs) - target)
        weights = weights * err
        weights /= weights.sum()
    fit = GrayToLPolynomial(tuple(float(c) for c in coefs), 0.0)
    max_error = float(np.abs(fit(v).astype(np.float64) - target).max())
    return GrayToLPolynomial(fit.coefficients, max_error)


def default_camera_variant_path(src: str | Path) -> Path:
    """``model.onnx`` -> ``model_camera.onnx`` beside it."""
    p = Path(src)
    return p.with_name(f"{p.stem}_camera{p.suffix}")


def _gray_to_night_nodes(night_name: str, scale: float, offset: float, fit: GrayToLPolynomial):
    """Nodes + initializers: ``night_gray`` -> the source's night tensor (L * scale + offset)."""
    from onnx import helper, numpy_helper

    coefs = [c * scale for c in fit.coefficients]
    coefs[0] += offset  # fold the source's linear L mapping into the polynomial

    inits, nodes = [], []

    def const(value: float) -> str:
        name = f"gray_to_l/c{len(inits)}"
        inits.append(numpy_helper.from_array(np.full((1, 1, 1, 1), value, np.float32), name))
        return name

    def op(kind: str, a: str, b: str, out: str | None = None) -> str:
        out = out or f"gray_to_l/{kind.lower()}{len(nodes)}"
        nodes.append(helper.make_node(kind, [a, b], [out], name=f"gray_to_l/{len(nodes)}"))
        return out

    t = op("Add", op("Mul", NIGHT_GRAY, const(2 / 255)), const(-1.0))
    p = op("Mul", t, const(coefs[-1]))
    for k in range(len(coefs) - 2, -1, -1):
        p = op("Add", p, const(coefs[k]), out=night_name if k == 0 else None)
        if k > 0:
            p = op("Mul", p, t)
    return nodes, inits


def with_gray_night_input(src: str | Path, *, dst: str | Path | None = None) -> Path:
    """Write the camera variant of an ONNX model: night input = gray levels, L computed inside.

    The source's ``night_l`` input (float32, ``encoding: linear`` per its card, any
    scale/offset) is replaced by ``night_gray``: float32 gray levels 0..255 in the same shape
    (blob compilation makes it U8, what the OAK's GRAY8 frames are). In front of the original
    graph, Mul/Add nodes compute ``L * scale + offset`` from the gray level with the
    polynomial of :func:`fit_gray_to_l` (max error ``fit_gray_to_l().max_error`` L). The card
    beside ``dst`` copies the source card with that input declared ``encoding: "gray8"``,
    ``scale: 1``, ``offset: 0``, ``range: [0, 255]``, and ``derived_from`` naming the source.

    Parameters
    ----------
    src : str or Path
        FP32 ONNX model with a card.
    dst : str or Path, optional
        Output ``.onnx`` (keyword-only); default ``<stem>_camera.onnx`` beside ``src``.

    Returns
    -------
    Path
        The written model.

    Examples
    --------
    >>> with_gray_night_input(
    ...     "refcolor_s.onnx", dst="/tmp/refcolor_s_camera.onnx"
    ... )  # doctest: +SKIP
    PosixPath('/tmp/refcolor_s_camera.onnx')
    """
    import onnx

    src = Path(src)
    dst = default_camera_variant_path(src) if dst is None else Path(dst)
    check_derived_output(src, dst, "camera-variant")
    if not card_path_for(src).is_file():
        raise ModelError(
            f"{src}: no model card; camera-variant needs it to know the night input's scale"
        )
    card = verify_model(src).card  # sha256 and I/O checked before anything is derived
    night = card.input("night_l")
    if card.format != "onnx":
        raise ModelError(f"{src}: camera-variant needs an ONNX model, got {card.format}")
    if night.encoding != "linear":
        raise ModelError(
            f"{src}: input {night.name!r} already has encoding {night.encoding!r} "
            "(it is a camera variant)"
        )
    if night.dtype != "float32":
        raise ModelError(
            f"{src}: input {night.name!r} is {night.dtype}; make the variant from the "
            "float32 model (then export-fp16 it)"
        )
    model = load_onnx_model(src)
    graph = model.graph
    graph_inputs = {vi.name: vi for vi in graph.input}
    if night.name not in graph_inputs:
        raise ModelError(f"{src}: the graph has no input {night.name!r} (card's night_l)")
    taken = {vi.name for vi in graph.input} | {o for n in graph.node for o in n.output}
    if NIGHT_GRAY in taken:
        raise ModelError(f"{src}: the graph already has a tensor named {NIGHT_GRAY!r}")
    if graph_inputs[night.name].type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        raise ModelError(f"{src}: input {night.name!r} is not float32 in the graph")

    nodes, inits = _gray_to_night_nodes(night.name, night.scale, night.offset, fit_gray_to_l())
    night_vi = graph_inputs[night.name]
    gray_vi = copy.deepcopy(night_vi)
    gray_vi.name = NIGHT_GRAY
    index = list(graph.input).index(night_vi)
    graph.input.remove(night_vi)
    graph.input.insert(index, gray_vi)
    original_nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend([*nodes, *original_nodes])
    graph.initializer.extend(inits)
    write_derived_model(
        model,
        dst,
        src=src,
        card=card,
        invalid="camera-variant: the rewritten model",
        tool=_TOOL,
        note="Camera variant: the night input takes gray levels 0..255 and a Mul/Add "
        f"polynomial converts them to L in the graph (max error {fit_gray_to_l().max_error:.2f}"
        " L).",
        edit_card=_gray_night_card,
    )
    return dst


def _gray_night_card(data: dict) -> None:
    """The card's night input declared as the camera's gray levels."""
    for t in data["inputs"]:
        if t["role"] == "night_l":
            t.update(
                name=NIGHT_GRAY,
                encoding="gray8",
                scale=1.0,
                offset=0.0,
                range=[0.0, 255.0],
                description="night frame gray levels 0..255 (U8 on the camera); the model "
                "converts gray to CIE L itself",
            )
