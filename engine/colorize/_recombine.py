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
from engine.colorize._coverage import fill_uncovered, reference_coverage
from engine.colorize._guided import Workspace, fast_guided_lab, guided_filter, guided_planes
from engine.models import ModelCard, TensorSpec

__all__ = [
    "ColorizeResult",
    "RecombineParams",
    "ReferencePlanes",
    "check_inputs",
    "check_night_color",
    "surround_tone",
    "decode_output",
    "encode_tensor",
    "fed_reference_ab",
    "model_res_planes",
    "prepare_inputs",
    "recombine",
    "reference_planes",
]

UPSAMPLE_METHODS = ("fast_guided", "guided", "bilinear")
FALLBACKS = ("surround", "neutral")
PASSTHROUGH_MODES = ("off", "direct", "guided")


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
        0..1: how far the final ab is pulled to the fallback colour under the leak mask (1 =
        fully where the mask is 1; 0 = keep the model's own unguided estimate, which it
        makes there because ``ref_ab`` is zeroed under the mask before inference).
    leak_softness : float
        Extra Gaussian feathering of the leak mask in full-resolution pixels (0 = as given).
    fallback : {"surround", "neutral"}
        What masked areas fall back to when the night frame has no colour of its own.
        ``surround``: a muted tone matched to the surroundings, ``fallback_chroma`` times the
        mean chroma of the unmasked result around the area (a coarse normalised average over
        about 1/16 of the frame), so a masked patch in a sodium-lit or green scene takes a
        hint of that cast instead of standing out grey. ``neutral``: gray (a = b = 0).
        When the caller passes the night frame's own colour (``night_color``), masked areas
        take that colour instead, whatever this says.
    fallback_chroma : float
        0..1: fraction of the surroundings' chroma the ``surround`` tone keeps.
    surround_margin : int
        Model-resolution pixels around the leak mask left out of the surroundings' average
        (0 = none): where the mask under-covers a changed area, its unflagged rim still
        carries the foreign colour, and averaging it in painted that colour back into the
        masked area (on ``nightlab eval``'s 76 pairs, 8 px of a 256 px wide model input cut
        the chroma error in changed regions from 14.68 to 13.70, grey: 14.20; README).
    passthrough : {"off", "direct", "guided"}
        Where the reference's colour comes from at full resolution. ``off``: the model's ab
        is upsampled (``upsample``) and the reference's detail finer than the model's
        resolution is lost. ``direct``: the reference's own full-resolution chroma plus the
        model's *correction* (its ab minus the reference ab it was fed, upsampled
        edge-aware): ``ab = R * (1 - mask) + up(model_ab - fed_ab)``; under the leak mask and
        outside the reference's footprint this is exactly ``off``'s result, and for
        reference transfer the correction is zero (full-resolution transfer). ``guided``:
        as ``direct`` with ``R`` first guided-filtered by the full-resolution night L
        (``passthrough_radius``, ``eps``), so a reference that is off by a pixel or two has
        its colour edges pulled onto the night frame's. Needs the reference (`Colorizer`
        always has it; `recombine` takes ``reference=``); without one it acts as ``off``.
    passthrough_radius : int
        Window radius in full-resolution pixels of the ``guided`` pass-through.
    passthrough_eps : float
        Regularisation of the ``guided`` pass-through (guide = night L / 100).
    """

    upsample: str = "fast_guided"
    radius: int = 2
    eps: float = 1e-2
    leak_strength: float = 1.0
    leak_softness: float = 0.0
    fallback: str = "surround"
    fallback_chroma: float = 0.5
    surround_margin: int = 8
    passthrough: str = "off"
    passthrough_radius: int = 2
    passthrough_eps: float = 1e-3

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
        if self.fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {FALLBACKS}, got {self.fallback!r}")
        if not 0.0 <= self.fallback_chroma <= 1.0:
            raise ValueError(f"fallback_chroma must be in [0, 1], got {self.fallback_chroma}")
        if (
            isinstance(self.surround_margin, bool)
            or not isinstance(self.surround_margin, int | np.integer)
            or self.surround_margin < 0
        ):
            raise ValueError(
                f"surround_margin must be an integer >= 0, got {self.surround_margin!r}"
            )
        if self.passthrough not in PASSTHROUGH_MODES:
            raise ValueError(
                f"passthrough must be one of {PASSTHROUGH_MODES}, got {self.passthrough!r}"
            )
        if self.passthrough_radius < 1:
            raise ValueError(f"passthrough_radius must be >= 1, got {self.passthrough_radius}")
        if not self.passthrough_eps > 0:
            raise ValueError(f"passthrough_eps must be > 0, got {self.passthrough_eps}")


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


def check_night_color(night: np.ndarray, night_color: np.ndarray | None) -> None:
    """``night_color`` must be None or RGB uint8 of the night frame's (H, W)."""
    if night_color is None:
        return
    check_rgb(night_color, "night_color")
    if night_color.shape[:2] != night.shape:
        raise ValueError(
            f"night_color must be the night frame in colour, (H, W) {night.shape}, got "
            f"{night_color.shape[:2]}"
        )


@dataclass(frozen=True, eq=False)
class ReferencePlanes:
    """What colorization takes from an aligned reference alone, at one model size.

    None of it depends on the night frame or the leak mask, so a live view that reuses one
    registration (the same warped reference frame after frame) computes it once
    (`reference_planes`; `Colorizer.colorize` keeps it for a read-only reference). Arrays are
    read-only.
    """

    size: tuple[int, int]
    """(width, height) the planes are at."""
    shape: tuple[int, int]
    """(H, W) of the full-resolution reference they came from."""
    coverage: np.ndarray | None
    """`reference_coverage` of the reference (None: it covers the whole frame)."""
    outside: np.ndarray | None
    """``1 - coverage`` at full resolution (None with ``coverage``)."""
    inverse_coverage: np.ndarray | None
    """1 / (coverage at ``size``), 0 where nothing is covered (None with ``coverage``)."""
    ref_l: np.ndarray
    """float32 ``(h, w)`` reference L."""
    ref_ab: np.ndarray
    """float32 ``(h, w, 2)`` reference ab, before the leak mask zeroes any of it."""
    ab_full: np.ndarray | None = None
    """float32 ``(H, W, 2)`` reference ab at full resolution (the pass-through's source,
    ``RecombineParams.passthrough``), continued beyond the footprint by ``ref_ab`` upsampled
    so an edge-aware filter sees no black there; None unless asked for (``full_res``)."""


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def reference_planes(
    reference: np.ndarray, size: tuple[int, int], *, full_res: bool = False
) -> ReferencePlanes:
    """The reference's part of `model_res_planes`, at ``size = (width, height)``; with
    ``full_res`` also its full-resolution ab (``ab_full``, for the pass-through).

    Examples
    --------
    >>> ref = np.full((48, 64, 3), (40, 160, 60), np.uint8)
    >>> planes = reference_planes(ref, (16, 12))
    >>> planes.ref_ab.shape, planes.coverage is None
    ((12, 16, 2), True)
    """
    w, h = size
    coverage = reference_coverage(reference)
    outside = inv = None
    if coverage is None:
        ref_lab = rgb_to_lab(cv2.resize(reference, (w, h), interpolation=cv2.INTER_AREA))
    else:
        outside = _frozen(cv2.subtract(1.0, coverage))
        cov = cv2.resize(coverage, (w, h), interpolation=cv2.INTER_AREA)
        inv = np.divide(1.0, cov, out=np.zeros_like(cov), where=cov > 1e-6)
        # uint8 area resize (SIMD) then normalise: black adds nothing to the sums, so
        # small / cov is the mean over covered pixels (within 0.5 / cov levels of rounding)
        small = cv2.resize(reference, (w, h), interpolation=cv2.INTER_AREA)
        rgb = fill_uncovered(small * inv[..., None], cov)
        ref_lab = cv2.cvtColor(np.clip(rgb * (1.0 / 255.0), 0.0, 1.0), cv2.COLOR_RGB2Lab)
        _frozen(coverage)
        _frozen(inv)
    ref_ab = np.ascontiguousarray(ref_lab[..., 1:], np.float32)
    return ReferencePlanes(
        size=(int(w), int(h)),
        shape=tuple(reference.shape[:2]),
        coverage=coverage,
        outside=outside,
        inverse_coverage=inv,
        ref_l=_frozen(np.ascontiguousarray(ref_lab[..., 0])),
        ref_ab=_frozen(ref_ab),
        ab_full=_frozen(_full_res_ab(reference, ref_ab, coverage)) if full_res else None,
    )


def _full_res_ab(reference, ref_ab_small, coverage) -> np.ndarray:
    rgb = cv2.multiply(reference, 1.0 / 255.0, dtype=cv2.CV_32F)
    _, a, b = cv2.split(cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab, dst=rgb))
    ab = cv2.merge([a, b])
    if coverage is not None:  # beyond the footprint: the filled model-resolution ab
        big_h, big_w = reference.shape[:2]
        fill = cv2.resize(ref_ab_small, (big_w, big_h), interpolation=cv2.INTER_LINEAR)
        np.copyto(ab, fill, where=(coverage < 0.5)[..., None])
    return ab


def fed_reference_ab(planes: ReferencePlanes, leak_mask: np.ndarray | None) -> np.ndarray:
    """The reference ab a model is fed: ``planes.ref_ab`` zeroed under the leak mask resized
    to the planes' size (averaged over covered pixels when the reference has a footprint).

    Examples
    --------
    >>> ref = np.full((48, 64, 3), (40, 160, 60), np.uint8)
    >>> planes = reference_planes(ref, (16, 12))
    >>> float(np.abs(fed_reference_ab(planes, np.ones((48, 64), np.float32))).max())
    0.0
    """
    if leak_mask is None:
        return planes.ref_ab
    w, h = planes.size
    if planes.coverage is None:
        small_leak = cv2.resize(leak_mask, (w, h), interpolation=cv2.INTER_AREA)
    else:
        covered = cv2.resize(leak_mask * planes.coverage, (w, h), interpolation=cv2.INTER_AREA)
        small_leak = np.clip(covered * planes.inverse_coverage, 0.0, 1.0)
    return np.ascontiguousarray(planes.ref_ab * (1.0 - small_leak)[..., None], np.float32)


def model_res_planes(
    night: np.ndarray,
    reference: np.ndarray,
    leak_mask: np.ndarray | None,
    size: tuple[int, int],
    *,
    planes: ReferencePlanes | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Night L, reference L and reference ab at ``size = (width, height)`` (INTER_AREA).

    The reference ab is zeroed (neutral) under the resized leak mask, so no reference colour
    enters where the scene changed. Where the reference is black (outside a warped day image's
    footprint, see :mod:`engine.colorize._coverage`), the reference is averaged over its
    covered pixels only and continued smoothly beyond them, so no black bleeds into the edge
    of the covered area; the leak mask there is averaged over covered pixels too. Inputs are
    assumed valid (see :func:`check_inputs`). ``planes``: the reference's part, already
    computed by `reference_planes` for this reference and ``size`` (the same result).
    """
    w, h = size
    if planes is None:
        planes = reference_planes(reference, size)
    elif planes.size != (w, h) or planes.shape != tuple(reference.shape[:2]):
        raise ValueError(
            f"planes were prepared at {planes.size} from a {planes.shape} reference, "
            f"not at {tuple(size)} from {tuple(reference.shape[:2])}"
        )
    night_l = gray_to_l(cv2.resize(night, (w, h), interpolation=cv2.INTER_AREA))
    return night_l, planes.ref_l, fed_reference_ab(planes, leak_mask)


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
    planes: ReferencePlanes | None = None,
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
    planes : ReferencePlanes, optional
        `reference_planes` of ``reference`` at the card's input size, already computed.

    Returns
    -------
    dict of str to ndarray

    Examples
    --------
    >>> feeds = prepare_inputs(night, ref, card=load_card("refcolor_s.onnx"))  # doctest: +SKIP
    >>> {k: v.shape for k, v in feeds.items()}  # doctest: +SKIP
    {'night_l': (1, 1, 192, 256), 'ref_l': (1, 1, 192, 256), 'ref_ab': (1, 2, 192, 256)}
    """
    mask = check_inputs(night, reference, leak_mask)
    return model_feeds(night, reference, mask, card, planes=planes)


def model_feeds(
    night, reference, leak_mask, card: ModelCard, *, planes: ReferencePlanes | None = None
) -> dict[str, np.ndarray]:
    """`prepare_inputs` for inputs already validated by :func:`check_inputs` (per-frame path);
    ``planes`` as in `model_res_planes`."""
    night_l, ref_l, ref_ab = model_res_planes(
        night, reference, leak_mask, card.input_size, planes=planes
    )
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


def surround_tone(
    ab_lowres: np.ndarray, mask_lowres: np.ndarray, *, chroma: float, margin: int = 0
) -> np.ndarray:
    """A smooth ab field (same shape as ``ab_lowres``): ``chroma`` x the local mean of the
    unmasked chroma, averaged over cells of about 1/16 of the frame and continued across
    masked cells from their neighbours; all zeros when everything is masked.

    Each pixel weighs ``1 - m`` with ``m`` the mask's maximum within ``margin`` pixels, so the
    rim around a masked area, where a change the mask under-covers shows its colour, does
    not tint the tone.

    Examples
    --------
    >>> ab = np.zeros((48, 64, 2), np.float32); ab[..., 0] = 20.0
    >>> m = np.zeros((48, 64), np.float32); m[10:30, 10:30] = 1.0
    >>> round(float(surround_tone(ab, m, chroma=0.5)[20, 20, 0]), 2)
    10.0
    """
    h, w = mask_lowres.shape
    if margin > 0:
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1,) * 2)
        mask_lowres = cv2.dilate(mask_lowres, disc, borderType=cv2.BORDER_REPLICATE)
    weight = 1.0 - mask_lowres
    cells = (max(1, w // 16), max(1, h // 16))
    den = cv2.resize(weight, cells, interpolation=cv2.INTER_AREA).reshape(cells[1], cells[0])
    if float(den.max()) < 1e-3:
        return np.zeros_like(ab_lowres)
    num = cv2.resize(ab_lowres * weight[..., None], cells, interpolation=cv2.INTER_AREA)
    num = num.reshape(cells[1], cells[0], 2)
    inv = np.divide(1.0, den, out=np.zeros_like(den), where=den > 1e-3)
    tone = fill_uncovered(num * inv[..., None], np.minimum(den * 4.0, 1.0))
    out = cv2.resize(tone * np.float32(chroma), (w, h), interpolation=cv2.INTER_LINEAR)
    return out.reshape(h, w, 2)


def _fallback_ab(ab_lowres, leak_mask, night_color, params) -> np.ndarray | None:
    """Model-resolution ab that masked areas fall back to (None = neutral)."""
    h, w = ab_lowres.shape[:2]
    if night_color is not None:
        small = cv2.resize(night_color, (w, h), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(rgb_to_lab(small)[..., 1:])
    if params.fallback == "neutral" or params.fallback_chroma == 0:
        return None
    small_mask = cv2.resize(leak_mask, (w, h), interpolation=cv2.INTER_AREA)
    return surround_tone(
        ab_lowres, small_mask, chroma=params.fallback_chroma, margin=params.surround_margin
    )


def _add_passthrough(lab, night, planes, mask, params, ws: Workspace) -> None:
    """``lab``'s ab += the reference's full-resolution ab, zeroed under ``mask``, in place."""
    shape = night.shape
    ref_a, ref_b = cv2.split(planes.ab_full, [ws.get("pass_a", shape), ws.get("pass_b", shape)])
    if params.passthrough == "guided":
        guide = cv2.LUT(night, _GUIDE_LUT, dst=ws.get("guide", shape))
        ref_a, ref_b = guided_planes(
            guide, (ref_a, ref_b), params.passthrough_radius, params.passthrough_eps, ws
        )
    if mask is not None:
        keep = cv2.subtract(1.0, mask, dst=ws.get("pass_keep", shape))
        ref_a = cv2.multiply(ref_a, keep, dst=ws.get("pass_a", shape))
        ref_b = cv2.multiply(ref_b, keep, dst=ws.get("pass_b", shape))
    zero = ws.get("pass_zero", shape)
    zero.fill(0.0)
    cv2.add(lab, cv2.merge([zero, ref_a, ref_b], dst=ws.get("pass_lab", lab.shape)), dst=lab)


def _recombine(
    night,
    ab_lowres,
    leak_mask,
    params,
    model_name,
    ws=None,
    night_color=None,
    planes: ReferencePlanes | None = None,
) -> ColorizeResult:
    t0 = time.perf_counter()
    ws = ws or Workspace()
    m = leak_mask
    if m is not None and params.leak_softness > 0:
        m = cv2.GaussianBlur(m, (0, 0), params.leak_softness, dst=ws.get("soft", m.shape))
    if params.passthrough != "off" and planes is not None and planes.ab_full is not None:
        # the reference's own chroma at full resolution plus the model's correction of what
        # it was fed, upsampled: for reference transfer the correction is zero
        correction = ab_lowres - fed_reference_ab(planes, leak_mask)
        lab = _full_res_lab(night, correction, params, ws)
        _add_passthrough(lab, night, planes, m, params, ws)
    else:
        lab = _full_res_lab(night, ab_lowres, params, ws)
    t1 = time.perf_counter()
    if m is not None and params.leak_strength > 0:
        ones = ws.get("ones", m.shape)
        ones.fill(1.0)
        # keep = 1 - strength * m, applied to a and b only
        keep = cv2.scaleAdd(m, -float(params.leak_strength), ones, dst=ws.get("keep", m.shape))
        keep3 = cv2.merge([ones, keep, keep], dst=ws.get("keep3", lab.shape))
        fallback = _fallback_ab(ab_lowres, m, night_color, params)
        if fallback is None:  # neutral: ab * keep
            cv2.multiply(lab, keep3, dst=lab)
        else:
            # ab = fb + keep * (ab - fb); fb's L plane is 0, so L passes unchanged
            h, w = fallback.shape[:2]
            fb_low = np.zeros((h, w, 3), np.float32)
            fb_low[..., 1:] = fallback
            big_h, big_w = night.shape
            fb = cv2.resize(
                fb_low,
                (big_w, big_h),
                interpolation=cv2.INTER_LINEAR,
                dst=ws.get("fallback", lab.shape),
            )
            cv2.subtract(lab, fb, dst=lab)
            cv2.multiply(lab, keep3, dst=lab)
            cv2.add(lab, fb, dst=lab)
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
    night_color: np.ndarray | None = None,
    reference: np.ndarray | None = None,
    planes: ReferencePlanes | None = None,
) -> ColorizeResult:
    """Full-resolution RGB from the night frame and model-resolution ab.

    The ab planes are upsampled guided by the full-resolution night L (edge-aware), pulled
    towards the fallback colour under the leak mask (``params.leak_strength``, soft: the night
    frame's own colour when ``night_color`` is given, else ``params.fallback``), and
    recombined with the night L, which is kept exactly. With ``params.passthrough`` on and
    the ``reference`` the model was fed, the reference's own full-resolution chroma is
    passed through where it is not masked, corrected by the model (see `RecombineParams`).

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
    night_color : ndarray, optional
        RGB uint8 ``(H, W, 3)``: the night frame as the camera delivered it, when it gives
        colour. Masked areas take its (low-resolution, so denoised) chroma.
    reference : ndarray, optional
        RGB uint8 ``(H, W, 3)``: the aligned reference the model was fed (with the same
        ``leak_mask``). Given, the area outside its footprint counts as masked (as in
        `Colorizer.colorize`), and ``params.passthrough`` can use its full-resolution chroma.
    planes : ReferencePlanes, optional
        `reference_planes` ``(reference, (w, h), full_res=True)`` already computed for this
        reference at ``ab_lowres``'s size (a camera sends one reference for many frames).

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
    mask = check_inputs(night, reference, leak_mask)
    check_night_color(night, night_color)
    ab_lowres = np.asarray(ab_lowres)
    if ab_lowres.ndim != 3 or ab_lowres.shape[2] != 2:
        raise ValueError(f"ab_lowres must be (h, w, 2), got shape {ab_lowres.shape}")
    ab_lowres = np.ascontiguousarray(ab_lowres, np.float32)
    if reference is not None:
        size = (ab_lowres.shape[1], ab_lowres.shape[0])
        if planes is None:
            planes = reference_planes(reference, size, full_res=params.passthrough != "off")
        elif planes.size != size or planes.shape != night.shape:
            raise ValueError(
                f"planes were prepared at {planes.size} for {planes.shape}, not at {size} "
                f"for {night.shape}"
            )
        if planes.outside is not None:  # no reference colour outside its footprint
            mask = planes.outside if mask is None else cv2.max(mask, planes.outside)
    return _recombine(
        night, ab_lowres, mask, params, model_name, workspace, night_color, planes=planes
    )
