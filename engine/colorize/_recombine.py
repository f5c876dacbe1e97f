"""The two halves every colorization path shares: tensors in, full-resolution RGB out.

Host path:   ``prepare_inputs`` -> onnxruntime -> ``decode_output`` -> ``recombine``.
Camera path: ``prepare_inputs`` -> OAK NeuralNetwork node -> ``decode_output`` -> ``recombine``.
Same code, so the OAK and the host give the same picture from the same ab tensor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from engine._image import check_gray, check_rgb
from engine.color import GRAY_TO_L, gray_to_l, rgb_to_lab
from engine.colorize._guided import Workspace, fast_guided_lab, guided_filter
from engine.models import ModelCard, TensorSpec

__all__ = [
    "ColorizeResult",
    "RecombineParams",
    "check_inputs",
    "decode_output",
    "encode_tensor",
    "model_res_planes",
    "prepare_inputs",
    "recombine",
]

UPSAMPLE_METHODS = ("fast_guided", "guided", "bilinear")


@dataclass(frozen=True)
class RecombineParams:
    """How low-resolution ab becomes the full-resolution picture.

    Attributes
    ----------
    upsample : {"fast_guided", "guided", "bilinear"}
        ``fast_guided`` fits the guided filter at model resolution (fast); ``guided`` runs it
        at full resolution after a bilinear upsample; ``bilinear`` ignores edges.
    radius : int
        Guided-filter window radius in model-resolution pixels.
    eps : float
        Guided-filter regularisation, guide = night L / 100 (1e-2 ~ 10 L units: weaker
        luminance structure than that does not shape the chroma).
    leak_strength : float
        0..1: how far the final ab is pulled to neutral under the leak mask (1 = fully
        neutral where the mask is 1; 0 = keep the model's own unguided estimate, which it
        makes there because ``ref_ab`` is zeroed under the mask before inference). Default
        1.0, measured with ``nightlab eval`` (default model, 16 held-out country pairs, SSIM
        leak mask): chroma error in changed regions 14.4 (0.5: 14.6, 0.0: 14.9) for 3.81 in
        unchanged regions (0.5: 3.74, 0.0: 3.68), i.e. neutral removes the most foreign colour
        and the mask's false positives cost little.
    leak_softness : float
        Extra Gaussian feathering of the leak mask in full-resolution pixels (0 = as given).
    """

    upsample: str = "fast_guided"
    radius: int = 2
    eps: float = 1e-2
    leak_strength: float = 1.0
    leak_softness: float = 0.0

    def __post_init__(self) -> None:
        if self.upsample not in UPSAMPLE_METHODS:
            raise ValueError(f"upsample must be one of {UPSAMPLE_METHODS}, got {self.upsample!r}")
        if self.radius < 1:
            raise ValueError(f"radius must be >= 1, got {self.radius}")
        if not self.eps > 0:
            raise ValueError(f"eps must be > 0, got {self.eps}")
        if not 0.0 <= self.leak_strength <= 1.0:
            raise ValueError(f"leak_strength must be in [0, 1], got {self.leak_strength}")
        if self.leak_softness < 0:
            raise ValueError(f"leak_softness must be >= 0, got {self.leak_softness}")


@dataclass(frozen=True, eq=False)
class ColorizeResult:
    """A colorized frame.

    Attributes
    ----------
    rgb : ndarray
        uint8 ``(H, W, 3)`` RGB at the night frame's resolution; its L is the night L.
    ab : ndarray
        float32 ``(H, W, 2)`` full-resolution a, b (after leak-mask blending).
    ab_lowres : ndarray
        float32 ``(h, w, 2)`` a, b at the model's resolution, as the model returned them.
    timings_ms : dict
        Milliseconds per stage: ``prep``, ``infer``, ``upsample``, ``recombine``, ``total``.
    model_name : str
    """

    rgb: np.ndarray
    ab: np.ndarray
    ab_lowres: np.ndarray
    timings_ms: dict[str, float] = field(default_factory=dict)
    model_name: str = ""


def check_inputs(night, reference=None, leak_mask=None) -> np.ndarray | None:
    """Validate night / reference / leak mask; return the mask as float32 (or None).

    Raises ``ValueError`` naming the argument, the expected and the actual.
    """
    check_gray(night, "night")
    if reference is not None:
        check_rgb(reference, "reference")
        if reference.shape[:2] != night.shape:
            raise ValueError(
                f"reference must be aligned to night: (H, W) {night.shape} expected, got "
                f"{reference.shape[:2]} (align it first)"
            )
    if leak_mask is None:
        return None
    if not isinstance(leak_mask, np.ndarray) or not np.issubdtype(leak_mask.dtype, np.floating):
        kind = getattr(leak_mask, "dtype", type(leak_mask).__name__)
        raise ValueError(f"leak_mask must be a float32 array in [0, 1], got {kind}")
    if leak_mask.shape != night.shape:
        raise ValueError(f"leak_mask must be (H, W) {night.shape}, got shape {leak_mask.shape}")
    lo, hi = float(leak_mask.min()), float(leak_mask.max())
    if not (lo >= -1e-6 and hi <= 1 + 1e-6):  # also catches NaN
        raise ValueError(f"leak_mask values must be in [0, 1], got [{lo:.3g}, {hi:.3g}]")
    return leak_mask.astype(np.float32, copy=False)


def model_res_planes(
    night: np.ndarray,
    reference: np.ndarray,
    leak_mask: np.ndarray | None,
    size: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Night L, reference L and reference ab at ``size = (width, height)`` (INTER_AREA).

    The reference ab is zeroed (neutral) under the resized leak mask, so no reference colour
    enters where the scene changed. Inputs are assumed valid (see :func:`check_inputs`).
    """
    w, h = size
    night_l = gray_to_l(cv2.resize(night, (w, h), interpolation=cv2.INTER_AREA))
    ref_lab = rgb_to_lab(cv2.resize(reference, (w, h), interpolation=cv2.INTER_AREA))
    ref_l, ref_ab = ref_lab[..., 0], ref_lab[..., 1:]
    if leak_mask is not None:
        keep = 1.0 - cv2.resize(leak_mask, (w, h), interpolation=cv2.INTER_AREA)
        ref_ab = ref_ab * keep[..., None]
    return night_l, np.ascontiguousarray(ref_l), np.ascontiguousarray(ref_ab, np.float32)


_DTYPES = {"float32": np.float32, "float16": np.float16, "uint8": np.uint8}
_AXES = {"NCHW": (2, 0, 1), "CHW": (2, 0, 1), "NHWC": (0, 1, 2), "HWC": (0, 1, 2)}


def encode_tensor(physical: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """``(h, w)`` or ``(h, w, C)`` physical values -> the tensor ``spec`` declares.

    ``tensor = physical * scale + offset``, cast to the spec's dtype (uint8 rounds and clips),
    laid out per ``spec.layout``.
    """
    x = physical if physical.ndim == 3 else physical[..., None]
    t = x * np.float32(spec.scale) + np.float32(spec.offset)
    dtype = _DTYPES[spec.dtype]
    if dtype is np.uint8:
        t = np.clip(np.rint(t), 0, 255)
    t = np.transpose(t, _AXES[spec.layout]).astype(dtype)
    return np.ascontiguousarray(t.reshape(spec.shape))


def decode_output(tensor: np.ndarray, spec: TensorSpec | ModelCard) -> np.ndarray:
    """A model's ab output tensor -> float32 ``(h, w, 2)`` physical a, b.

    Accepts the tensor in the card's shape or flat (as some device APIs return it).
    ``physical = (tensor - offset) / scale``.
    """
    if isinstance(spec, ModelCard):
        spec = spec.output
    t = np.asarray(tensor)
    if t.size != int(np.prod(spec.shape)):
        raise ValueError(
            f"output {spec.name!r}: {t.size} values, card shape {list(spec.shape)} "
            f"needs {int(np.prod(spec.shape))}"
        )
    t = t.reshape(spec.shape).astype(np.float32)
    if spec.layout.startswith("N"):
        t = t[0]
    hwc = np.transpose(t, (1, 2, 0)) if spec.layout.endswith("CHW") else t
    return np.ascontiguousarray((hwc - np.float32(spec.offset)) / np.float32(spec.scale))


def prepare_inputs(
    night: np.ndarray,
    reference: np.ndarray,
    *,
    leak_mask: np.ndarray | None = None,
    card: ModelCard,
) -> dict[str, np.ndarray]:
    """The model's input tensors, by input name, as its card declares them.

    Parameters
    ----------
    night : ndarray
        Gray uint8 ``(H, W)`` night frame.
    reference : ndarray
        RGB uint8 ``(H, W, 3)`` day reference, already aligned to ``night``.
    leak_mask : ndarray, optional
        float32 ``(H, W)`` in [0, 1]; 1 = scene changed, take no reference colour there.
    card : ModelCard
        Declares each input's role, shape, layout, dtype and ``scale``/``offset``. A night
        input with ``encoding: "gray8"`` gets the resized night gray levels (0..255) instead
        of CIE L (the model converts gray to L itself, as camera variants do).

    Returns
    -------
    dict of str to ndarray

    Examples
    --------
    >>> feeds = prepare_inputs(night, ref, card=load_card("refcolor_s.onnx"))  # doctest: +SKIP
    >>> {k: v.shape for k, v in feeds.items()}  # doctest: +SKIP
    {'night_l': (1, 1, 192, 256), 'ref_l': (1, 1, 192, 256), 'ref_ab': (1, 2, 192, 256)}
    """
    return model_feeds(night, reference, check_inputs(night, reference, leak_mask), card)


def model_feeds(night, reference, leak_mask, card: ModelCard) -> dict[str, np.ndarray]:
    """`prepare_inputs` for inputs already validated by :func:`check_inputs` (per-frame path)."""
    night_l, ref_l, ref_ab = model_res_planes(night, reference, leak_mask, card.input_size)
    planes = {"night_l": night_l, "ref_l": ref_l, "ref_ab": ref_ab}
    night_spec = card.input("night_l")
    if night_spec is not None and night_spec.encoding == "gray8":
        # the same INTER_AREA resize model_res_planes converts to L, kept as gray levels
        gray = cv2.resize(night, card.input_size, interpolation=cv2.INTER_AREA)
        planes["night_l"] = gray.astype(np.float32)
    return {spec.name: encode_tensor(planes[spec.role], spec) for spec in card.inputs}


_GUIDE_LUT = (GRAY_TO_L * np.float32(0.01)).astype(np.float32)


def _lab_to_rgb_u8(lab: np.ndarray, ws: Workspace) -> np.ndarray:
    # engine.color.lab_to_rgb with cv2's SIMD saturate instead of numpy temporaries (same
    # result up to rounding of exact halves)
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB, dst=ws.get("rgb_float", lab.shape))
    np.clip(rgb, 0.0, 1.0, out=rgb)
    return cv2.convertScaleAbs(rgb, alpha=255.0)


def _full_res_lab(night, ab_lowres, params, ws: Workspace) -> np.ndarray:
    guide = cv2.LUT(night, _GUIDE_LUT, dst=ws.get("guide", night.shape))  # night L / 100
    if params.upsample == "fast_guided":
        return fast_guided_lab(guide, ab_lowres, radius=params.radius, eps=params.eps, workspace=ws)
    big_h, big_w = night.shape
    ab = cv2.resize(ab_lowres, (big_w, big_h), interpolation=cv2.INTER_LINEAR)
    if params.upsample == "guided":
        factor = max(big_w / ab_lowres.shape[1], big_h / ab_lowres.shape[0])
        radius = max(1, round(params.radius * factor))
        ab = guided_filter(guide, ab, radius=radius, eps=params.eps)
    return cv2.merge([cv2.LUT(night, GRAY_TO_L), *cv2.split(ab)])


def _recombine(night, ab_lowres, leak_mask, params, model_name, ws=None) -> ColorizeResult:
    t0 = time.perf_counter()
    ws = ws or Workspace()
    lab = _full_res_lab(night, ab_lowres, params, ws)
    t1 = time.perf_counter()
    if leak_mask is not None and params.leak_strength > 0:
        m = leak_mask
        if params.leak_softness > 0:
            m = cv2.GaussianBlur(m, (0, 0), params.leak_softness, dst=ws.get("soft", m.shape))
        ones = ws.get("ones", m.shape)
        ones.fill(1.0)
        # keep = 1 - strength * m, applied to a and b only
        keep = cv2.scaleAdd(m, -float(params.leak_strength), ones, dst=ws.get("keep", m.shape))
        keep3 = cv2.merge([ones, keep, keep], dst=ws.get("keep3", lab.shape))
        cv2.multiply(lab, keep3, dst=lab)
    rgb = _lab_to_rgb_u8(lab, ws)
    t2 = time.perf_counter()
    return ColorizeResult(
        rgb=rgb,
        ab=lab[..., 1:],
        ab_lowres=ab_lowres,
        timings_ms={"upsample": (t1 - t0) * 1e3, "recombine": (t2 - t1) * 1e3},
        model_name=model_name,
    )


def recombine(
    night: np.ndarray,
    ab_lowres: np.ndarray,
    *,
    leak_mask: np.ndarray | None = None,
    params: RecombineParams = RecombineParams(),
    model_name: str = "",
    workspace: Workspace | None = None,
) -> ColorizeResult:
    """Full-resolution RGB from the night frame and model-resolution ab.

    The ab planes are upsampled guided by the full-resolution night L (edge-aware), pulled
    towards neutral under the leak mask (``params.leak_strength``, soft), and recombined with
    the night L, which is kept exactly.

    Parameters
    ----------
    night : ndarray
        Gray uint8 ``(H, W)`` night frame.
    ab_lowres : ndarray
        float32 ``(h, w, 2)`` physical a, b (see :func:`decode_output`).
    leak_mask : ndarray, optional
        float32 ``(H, W)`` in [0, 1].
    params : RecombineParams
    model_name : str
        Copied into the result.
    workspace : Workspace, optional
        Scratch buffers reused across frames (keep one per thread for a video stream: it
        saves the page faults of fresh full-resolution arrays every frame).

    Returns
    -------
    ColorizeResult
        ``timings_ms`` holds ``upsample`` and ``recombine``.

    Examples
    --------
    >>> night = np.full((48, 64), 128, np.uint8)
    >>> res = recombine(night, np.zeros((12, 16, 2), np.float32))
    >>> res.rgb.shape, int(res.rgb[0, 0, 0])
    ((48, 64, 3), 128)
    """
    if not isinstance(params, RecombineParams):
        raise ValueError(f"params must be RecombineParams, got {type(params).__name__}")
    mask = check_inputs(night, None, leak_mask)
    ab_lowres = np.asarray(ab_lowres)
    if ab_lowres.ndim != 3 or ab_lowres.shape[2] != 2:
        raise ValueError(f"ab_lowres must be (h, w, 2), got shape {ab_lowres.shape}")
    ab_lowres = np.ascontiguousarray(ab_lowres, np.float32)
    return _recombine(night, ab_lowres, mask, params, model_name, workspace)
