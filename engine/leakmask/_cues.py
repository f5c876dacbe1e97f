"""Change cues that structure alone misses: flat changes (a cloud, a canopy, a tent roof).

Each cue maps working-resolution inputs to a *change ramp* in [0, 1] (0 = no evidence of a
change, 1 = changed), on the same grid as the structural similarity, so `leak_mask` can take
the strongest evidence per pixel and close, blur and enlarge it once.

``luminance_ramp``
    Where the scene is the same, night and reference luminance are related by a gain that
    varies smoothly over the image (the light changed, not the scene). The log-ratio of the
    two, compared with its own robust (median) background over a large neighbourhood, stays
    near 0; a cloud, a canopy or a tent that came or went makes it jump, even on a flat area
    without edges.
``colour_ramp``
    When the night camera gives colour, a chroma that differs from the reference's by more
    than the frame's global colour cast is a change as well.
``stability_ramp``
    ``1 - stability`` of a fused reference (`engine.reference`): where the day frames
    disagree, the reference colour cannot be trusted.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.leakmask._warm import fallback_used, kernels_ready

__all__ = [
    "colour_ramp",
    "colour_ramp_small",
    "luminance_ramp",
    "shrink_colour",
    "stability_ramp",
]

_BORDER = cv2.BORDER_REFLECT
#: gray-level floor of the log-ratio: below it, sensor noise, not light, decides the ratio
_DARK = 8.0
#: log units per uint8 level when the log-ratio is quantised for the median filter
_LOG_SCALE = 32.0
#: correlation of the two luminances (whole frame) below which no gain relates them at all
#: (an inverted or unrelated modality: the cue is off) and above which it is fully trusted
_CORR_OFF, _CORR_FULL = 0.4, 0.8


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    x -= lo
    x *= np.float32(1.0 / (hi - lo))
    return np.clip(x, 0.0, 1.0, out=x)


def luminance_ramp(
    night: np.ndarray,
    reference: np.ndarray,
    *,
    window: int,
    background: int,
    lo: float,
    hi: float,
    spread_factor: float,
) -> np.ndarray:
    """Change ramp from the break-down of a smooth night/reference luminance gain.

    ``night``, ``reference``: gray uint8 at the working resolution. ``window``: side of the
    box over which each luminance is averaged (px). ``background``: the median filter's
    aperture, in pixels of a further 4x reduction (so 7 -> 28 working px). ``lo``/``hi``:
    deviation of the log-ratio from its background (natural log units) where the ramp starts
    and saturates (0.4 ~ a factor 1.5 brighter or darker than the neighbourhood predicts).
    ``spread_factor``: both are raised in proportion when the frame's own typical deviation
    (median over the image) times this factor exceeds ``lo``: across a modality gap (near-IR
    vs visible, where foliage and sky change their ratio) no smooth gain holds anywhere, and
    only deviations far beyond the frame's typical one are evidence of a change. And when the
    two luminances are hardly or negatively correlated over the frame (an IR camera whose
    contrast is inverted against the day's), the cue fades out: a gain cannot relate them.
    """
    k = (window, window)
    ln = cv2.blur(night, k, borderType=_BORDER).astype(np.float32)
    lr = cv2.blur(reference, k, borderType=_BORDER).astype(np.float32)
    trust = _gain_trust(ln, lr)
    if trust <= 0.0:
        return np.zeros(ln.shape, np.float32)
    ln += _DARK
    lr += _DARK
    ratio = cv2.log(ln)
    ratio -= cv2.log(lr)
    # robust background: the median of the log-ratio over a large neighbourhood, computed
    # on a 4x smaller copy (uint8 median filter: O(1) per pixel, ~0.05 ms)
    h, w = ratio.shape
    small = cv2.resize(ratio, (max(w // 4, 1), max(h // 4, 1)), interpolation=cv2.INTER_AREA)
    q = np.clip(small * _LOG_SCALE + 128.0, 0, 255).astype(np.uint8)
    ap = min(background, _largest_odd(min(q.shape)))
    if ap >= 3:
        q = cv2.medianBlur(q, ap)
    bg = (q.astype(np.float32) - 128.0) * np.float32(1.0 / _LOG_SCALE)
    bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR)
    ratio -= bg
    np.abs(ratio, out=ratio)
    typical = _median(ratio[::2, ::2])
    scale = max(1.0, spread_factor * typical / lo)
    out = _ramp(ratio, lo * scale, hi * scale)
    if trust < 1.0:
        out *= np.float32(trust)
    return out


def _gain_trust(a: np.ndarray, b: np.ndarray) -> float:
    """0..1 from the frame-wide correlation of two luminance maps (on a 1/4 subsample).

    From the five float64 sums in three dot products: numpy's ``std`` and ``mean`` of the
    float32 samples took a dozen passes and temporaries (0.09 ms at 640x480, a third of the
    cue).
    """
    x = a[::2, ::2].astype(np.float64).ravel()
    y = b[::2, ::2].astype(np.float64).ravel()
    n = x.size
    mx, my = float(x.sum()) / n, float(y.sum()) / n
    vx = max(float(x.dot(x)) / n - mx * mx, 0.0)
    vy = max(float(y.dot(y)) / n - my * my, 0.0)
    sx, sy = vx**0.5, vy**0.5
    if sx < 1e-3 or sy < 1e-3:
        return 1.0  # a flat frame: nothing says the gain model fails
    corr = (float(x.dot(y)) / n - mx * my) / (sx * sy)
    return min(max((corr - _CORR_OFF) / (_CORR_FULL - _CORR_OFF), 0.0), 1.0)


def _median(values: np.ndarray) -> float:
    """``np.median`` of a float32 array through ``np.partition`` (about a third of its cost):
    the middle value, or the float32 mean of the two middle ones."""
    flat = values.ravel()
    n = flat.size
    k = n // 2
    if n % 2:
        return float(np.partition(flat, k)[k])
    part = np.partition(flat, (k - 1, k))
    return float((part[k - 1] + part[k]) / np.float32(2.0))


def colour_ramp(
    night_rgb: np.ndarray,
    reference_rgb: np.ndarray,
    *,
    factor: int,
    window: int,
    lo: float,
    hi: float,
) -> np.ndarray:
    """Change ramp from chroma that differs by more than the global colour cast.

    ``night_rgb``, ``reference_rgb``: uint8 ``(H, W, 3)`` RGB at full size; ``factor``: the
    working resolution's power-of-two shrink factor (as `engine.leakmask._mask._shrink`,
    dropping the last ``H % factor`` rows and ``W % factor`` columns). Both are shrunk
    (`shrink_colour`), converted to OpenCV's 8-bit CIE Lab (a table lookup, precise to about
    one ab unit, far below the thresholds) and their a, b box-averaged over ``window``.
    ``lo``/``hi``: ab distance, after removing the median difference (the global colour
    cast), where the ramp starts and saturates. `colour_ramp_small` does the part after the
    shrink (the leak mask shrinks the reference's colour once, for this cue and for the
    refinement's guide).
    """
    small = shrink_colour((night_rgb, reference_rgb), factor)
    return colour_ramp_small(small, window=window, lo=lo, hi=hi)


def shrink_colour(images: tuple[np.ndarray, ...], factor: int) -> np.ndarray:
    """One or two RGB uint8 ``(H, W, 3)`` images shrunk by the power-of-two ``factor`` ->
    uint8 ``(n, H // factor, W // factor, 3)``: repeated 2x ``INTER_AREA`` (as
    `engine.leakmask._mask._shrink`), compiled in one pass over each image
    (`engine.leakmask._colour_kernels`) once the kernels are loaded, to the bit the same."""
    h, w = images[0].shape[:2]
    if not kernels_ready():
        from engine.leakmask._mask import _shrink_by

        return np.stack([_shrink_by(img, factor) for img in images])
    from engine.leakmask._colour_kernels import shrink_image, shrink_pair

    sh, sw = h // factor, w // factor
    out = np.empty((len(images), sh, sw * 3), np.uint8)
    flat = [np.ascontiguousarray(img).reshape(h, w * 3) for img in images]
    if len(flat) == 2:
        shrink_pair(flat[0], flat[1], factor, out)
    else:
        shrink_image(flat[0], factor, out[0])
    return out.reshape(len(images), sh, sw, 3)


def colour_ramp_small(small: np.ndarray, *, window: int, lo: float, hi: float) -> np.ndarray:
    """`colour_ramp` of a `shrink_colour` pair ``(2, h, w, 3)`` (night, reference) at the
    working resolution. Compiled (`engine.leakmask._colour_kernels`): one ``cvtColor`` of
    both and one pass; until the kernels are loaded in this process
    (`engine.leakmask._warm`), the OpenCV version they replaced, which gives the same ramp
    to float32 rounding."""
    if not kernels_ready():
        fallback_used()
        return _colour_ramp_opencv(small[0], small[1], window, lo, hi)
    from engine.leakmask._colour_kernels import chroma_ramp

    _, sh, sw, _ = small.shape
    lab = cv2.cvtColor(small.reshape(2 * sh, sw, 3), cv2.COLOR_RGB2Lab)
    return chroma_ramp(lab.reshape(2 * sh, sw * 3), window, float(lo), float(hi))


def _colour_ramp_opencv(night_small, reference_small, window, lo, hi) -> np.ndarray:
    """`colour_ramp_small` with OpenCV and numpy: 8-bit Lab of each shrunk image, float box
    means, the median cast, ``cv2.magnitude``."""

    def small_ab(rgb):
        lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
        ab = lab[..., 1:].astype(np.float32)
        ab -= 128.0
        return ab

    k = (window, window)
    d = cv2.blur(small_ab(night_small), k, borderType=_BORDER)
    d -= cv2.blur(small_ab(reference_small), k, borderType=_BORDER)
    d -= np.median(d[::2, ::2].reshape(-1, 2), axis=0).astype(np.float32)
    dist = cv2.magnitude(np.ascontiguousarray(d[..., 0]), np.ascontiguousarray(d[..., 1]))
    return _ramp(dist, lo, hi)


def stability_ramp(stability_small: np.ndarray, *, lo: float, hi: float) -> np.ndarray:
    """Change ramp ``clip((hi - stability) / (hi - lo), 0, 1)`` of a shrunk stability map."""
    out = np.float32(hi) - stability_small.astype(np.float32)
    out *= np.float32(1.0 / (hi - lo))
    return np.clip(out, 0.0, 1.0, out=out)


def _largest_odd(n: int) -> int:
    return n if n % 2 else n - 1
