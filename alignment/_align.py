"""``align``: register a day reference (moving) onto a night frame (fixed), and verify it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from alignment._ecc import capped, ecc_pyramid
from alignment._features import feature_estimate
from alignment._orientation import orientation_ascent
from alignment._phase import phase_estimate, phase_translation
from alignment._prep import PreparedImage, prepare
from alignment._types import METHODS, MOTIONS, Alignment, apply_homography
from alignment._validate import check_image, check_initial
from alignment._verify import (
    FAINT_AGREEMENT,
    MIN_AGREEMENT,
    Verdict,
    fine_agreement,
    peak_check,
    verify,
    verify_faint,
)

__all__ = ["align", "prefer_perspective"]

_CONFIDENT = 0.40  # score at which ``auto`` stops trying other candidates
_HOMOGRAPHY_GAIN = 0.03  # score a homography must add over the affine fit to be preferred...
# ...and the share of the affine fit's disagreement (1 - score) it must remove: see
# prefer_perspective.
_PERSPECTIVE_SHARE = 0.3
# SIFT tries (long side, max features): fast first; fine texture (grass, foliage) only
# matches across modalities at a higher resolution, which costs several times more.
_FEATURE_TRIES = ((320, 1500), (800, 3000))
_FINE_SIDE = 512  # finest ECC level; finer costs time and gains nothing measurable...
# ...except where the agreement stays low (grass, frost, foliage: under _CONFIDENT): there the
# optimum at 512 px sits 2-5 px from the one at full resolution (real VIS-NIR field pairs),
# so every distinct verified candidate (at most _FINAL_CANDIDATES) is refined once more at
# up to 1024 px, and the one whose structure agrees best at 640 px wins.
_FINAL_SIDE = 1024
_FINAL_STEP, _FINAL_ITERATIONS = 3, 30  # every 3rd pixel: half the cost of every 2nd, <= 0.1 px
_FINAL_CANDIDATES = 3
_DISTINCT_PX = 0.5  # candidates closer than this at every corner are one candidate
# When nothing verified: the refused search candidates with the most agreement (at most
# this many, each at least _RESCUE_DISTINCT_PX from the others) are climbed by gradient-
# orientation agreement and judged by verify_faint.
_RESCUE_CANDIDATES = 2
_RESCUE_MOTIONS = ("affine", "homography")  # the rescue's similarity must fit the request
_RESCUE_DISTINCT_PX = 4.0

# ECC schedules: (long side, motion at that level, sample step, max iterations), coarse
# to fine. Each level's motion is capped at the requested one.
_FROM_FEATURES = ((256, "homography", 1, 20), (_FINE_SIDE, "homography", 2, 12))
_FROM_FEATURES_COARSE = ((128, "affine", 1, 20), *_FROM_FEATURES)
_FROM_PHASE = (
    (128, "similarity", 1, 30),
    (256, "affine", 1, 20),
    (_FINE_SIDE, "homography", 2, 12),
)
_FROM_SCRATCH = (
    (64, "translation", 1, 30),
    (128, "similarity", 1, 30),
    (256, "affine", 1, 20),
    (_FINE_SIDE, "homography", 2, 12),
)
_FROM_INITIAL = ((320, "homography", 2, 15),)
# A fixed camera: the shift left since the prior first (it may be several pixels), then the
# small rotation, scale and shear a remounted or heat-bent camera adds. No perspective: the
# viewpoint did not change.
# (Affine at 512 px rather than 320: 0.33 vs 0.50 px median error on 32 real webcam pairs,
# 19 vs 13 ms of CPU.)
_FIXED_CAMERA = ((128, "translation", 1, 20), (_FINE_SIDE, "affine", 2, 15))
_FIXED_MOTION = "affine"
# Farther than this (of the frame's diagonal) from the prior, the camera was moved: the
# fixed-camera result is not trusted and a full search runs.
_FIXED_MAX_DRIFT = 0.02


@dataclass(frozen=True)
class _Candidate:
    matrix: np.ndarray
    method: str
    verdict: Verdict


def _frame_fit(moving_shape: tuple[int, int], fixed_shape: tuple[int, int]) -> np.ndarray:
    """Centre the moving frame on the fixed one at equal pixel density (the ECC start)."""
    (mh, mw), (fh, fw) = moving_shape, fixed_shape
    s = float(np.sqrt((fh * fw) / (mh * mw)))
    cm = np.array([(mw - 1) / 2, (mh - 1) / 2])
    cf = np.array([(fw - 1) / 2, (fh - 1) / 2])
    t = cf - s * cm
    return np.array([[s, 0, t[0]], [0, s, t[1]], [0, 0, 1]], np.float64)


def _restrict_to(matrix: np.ndarray, motion: str, moving_shape: tuple[int, int]) -> np.ndarray:
    """The nearest matrix of ``motion``: drop perspective, shear, scale as the model demands.

    Rotation and translation are kept where the moving frame's centre lands, so a
    similarity from phase correlation becomes the rigid motion that best matches it there.
    """
    m = matrix / matrix[2, 2]
    if motion == "homography":
        return m
    h, w = moving_shape
    centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    lands = apply_homography(m, centre)[0]
    m = m.copy()
    m[2, :2] = 0.0
    if motion == "affine":
        m[:2, 2] += lands - apply_homography(m, centre)[0]
        return m
    if motion == "euclidean":
        a = m[:2, :2]
        angle = np.arctan2(a[1, 0] - a[0, 1], a[0, 0] + a[1, 1])
        lin = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    else:
        lin = np.eye(2)
    out = np.eye(3)
    out[:2, :2] = lin
    out[:2, 2] = lands - lin @ centre
    return out


class _Timer:
    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    def run(self, stage: str, fn: Callable, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.ms[stage] = self.ms.get(stage, 0.0) + (time.perf_counter() - t0) * 1e3


def _refined(
    pm: PreparedImage,
    pf: PreparedImage,
    start: np.ndarray,
    motion: str,
    schedule: tuple,
    label: str,
    timer: _Timer,
    affine_start: np.ndarray | None = None,
) -> _Candidate:
    """ECC-refine ``start`` with ``schedule`` and verify the result."""
    if motion == "homography":
        if affine_start is None:
            affine_start = _restrict_to(start, "affine", pm.shape)
        return _homography_if_better(pm, pf, start, affine_start, schedule, label, timer)
    return _refined_plain(pm, pf, start, motion, schedule, label, timer)


def _homography_if_better(pm, pf, start, affine_start, schedule, label, timer) -> _Candidate:
    """Affine first; the two perspective terms only when they measurably improve the fit.

    Perspective terms are weakly constrained: with partial overlap or a little parallax
    they bend the frame where nothing checks them (outside the overlap). So the affine
    result is kept unless the homography verifies with a clearly better score
    (:func:`prefer_perspective`).
    """
    affine = _refined(pm, pf, affine_start, "affine", schedule, label, timer)
    if not affine.verdict.ok:
        # The start itself may need its perspective (a strong viewpoint change).
        full = _refined_plain(pm, pf, start, "homography", schedule, label, timer)
        return full if full.verdict.score > affine.verdict.score else affine
    # The two finest levels again, now with perspective: one level alone cannot pull in
    # the several pixels an affine fit leaves at the corners of a strongly tilted view.
    tail = tuple((side, "homography", step, iters) for side, _, step, iters in schedule[-2:])
    homog = _refined_plain(pm, pf, affine.matrix, "homography", tail, label, timer)
    if homog.verdict.ok and prefer_perspective(affine.verdict.score, homog.verdict.score):
        return homog
    return affine


def prefer_perspective(affine_score: float, homography_score: float) -> bool:
    """Whether a homography's verification score justifies its two perspective terms.

    Model selection between an affine fit and a homography refined from it (both verified).
    Perspective terms are weakly constrained: refined on the overlap only, they also bend
    the frame where nothing checks them, so a homography that fits a little parallax or a
    local distortion inside the overlap moves the far corners by several pixels. It is kept
    only when it removes a clear share of the disagreement the affine fit leaves: at least
    ``_HOMOGRAPHY_GAIN`` of score, and at least ``_PERSPECTIVE_SHARE`` of ``1 - affine``.
    The weaker the agreement of the affine fit (a low ceiling between modalities), the more
    evidence the extra freedom needs.

    (On the EPFL VIS-NIR pairs, whose truth is affine, spurious homographies removed 5-24 %
    of the affine's disagreement and moved corners by 4-7 px; a real perspective of 4-6 %
    removed 48-58 %.)

    Examples
    --------
    >>> prefer_perspective(0.63, 0.81)  # removes 49 % of the disagreement
    True
    >>> prefer_perspective(0.60, 0.635)  # 9 %: parallax inside the overlap, not perspective
    False
    """
    gain = homography_score - affine_score
    return gain >= max(_HOMOGRAPHY_GAIN, _PERSPECTIVE_SHARE * (1.0 - affine_score))


def _refined_plain(pm, pf, start, motion, schedule, label, timer) -> _Candidate:
    matrix, ecc = timer.run("ecc", ecc_pyramid, pm, pf, start, motion, schedule)
    if not (ecc.rho > 0 and ecc.overlap > 0):
        label = label.replace("+ecc", "")  # ECC lost track: judge the unrefined start
        matrix = start
    return _Candidate(matrix, label, timer.run("verify", verify, pm, pf, matrix))


def _corner_drift(a: np.ndarray, b: np.ndarray, shape: tuple[int, int]) -> float:
    """Largest distance (fixed pixels) between the moving frame's corners mapped by a and b."""
    h, w = shape
    c = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float64)
    return float(np.max(np.linalg.norm(apply_homography(a, c) - apply_homography(b, c), axis=1)))


def _fixed_camera(
    pm, pf, prior: np.ndarray, motion: str, timer: _Timer, *, tracking: bool = False
) -> _Candidate:
    """Refine the prior of a fixed camera locally and check it the way day vs night needs.

    ``tracking``: the prior is the last accepted matrix, so the coarse shift level is skipped.
    Accepted only when the refined matrix verifies (geometry, agreement, sharpness), stays
    within ``_FIXED_MAX_DRIFT`` of the prior, and is a local peak of structure agreement in
    shift, rotation and scale (:func:`alignment._verify.peak_check`).
    """
    local = capped(_FIXED_MOTION, motion)
    start = _restrict_to(prior, local, pm.shape)
    schedule = _FIXED_CAMERA[1:] if tracking else _FIXED_CAMERA
    cand = _refined_plain(pm, pf, start, local, schedule, "fixed+ecc", timer)
    verdict = cand.verdict
    if verdict.ok:
        drift = _corner_drift(cand.matrix, prior, pm.shape)
        limit = _FIXED_MAX_DRIFT * float(np.hypot(*pf.shape))
        if drift > limit:
            why = f"{drift:.0f} px from the fixed-camera prior (> {limit:.0f} px): camera moved?"
        else:
            why = timer.run("verify", peak_check, pm, pf, cand.matrix)
        if why:
            verdict = replace(verdict, ok=False, reason=why)
    return _Candidate(cand.matrix, cand.method, verdict)


def _best(candidates: list[_Candidate]) -> _Candidate | None:
    ok = [c for c in candidates if c.verdict.ok]
    return max(ok, key=lambda c: c.verdict.score) if ok else None


def _is_affine(matrix: np.ndarray) -> bool:
    return bool(matrix[2, 0] == 0.0 and matrix[2, 1] == 0.0)


def _final(pm, pf, candidates: list[_Candidate], motion: str, timer: _Timer) -> _Candidate:
    """The best of low-confidence candidates, each refined at full resolution (<= 1024 px).

    A low agreement (under ``_CONFIDENT``) means the two frames share little structure, and
    what they share at 320-512 px is coarse (the texture of grass or foliage, different in
    each modality) and can favour a registration a few pixels off. So each distinct verified
    candidate is refined once more at up to ``_FINAL_SIDE`` (its own motion model: an affine
    result stays affine), and candidates and refinements are ranked by the agreement at 640
    px (:func:`alignment._verify.fine_agreement`). A refinement must verify to compete.
    """
    ranked = sorted((c for c in candidates if c.verdict.ok), key=lambda c: -c.verdict.score)
    distinct: list[_Candidate] = []
    for c in ranked:
        if all(_corner_drift(c.matrix, d.matrix, pm.shape) > _DISTINCT_PX for d in distinct):
            distinct.append(c)
    pool = list(distinct[:_FINAL_CANDIDATES])
    for c in distinct[:_FINAL_CANDIDATES]:
        model = "affine" if motion == "homography" and _is_affine(c.matrix) else motion
        level = ((_FINAL_SIDE, model, _FINAL_STEP, _FINAL_ITERATIONS),)
        label = c.method if c.method.endswith("+ecc") else f"{c.method}+ecc"
        fine = _refined_plain(pm, pf, c.matrix, model, level, label, timer)
        if fine.verdict.ok:
            pool.append(fine)
    if len(pool) == 1:
        return pool[0]
    scores = [timer.run("verify", fine_agreement, pm, pf, c.matrix) for c in pool]
    return pool[int(np.argmax(scores))]


def _rescue(
    pm, pf, refused: list[_Candidate], timer: _Timer, notes: list[str]
) -> _Candidate | None:
    """A last attempt when no search candidate verified: climb orientation agreement.

    Where most of a frame is texture that the two modalities render differently (frosted
    grass in near-infrared, green grass by day), gradient-magnitude ECC has no basin at the
    right matrix and the agreement level stays under ``MIN_AGREEMENT`` even at the truth.
    The refused candidates whose geometry is sane and whose agreement is highest are taken
    to their nearest similarity and climbed by the orientation agreement itself
    (:func:`alignment._orientation.orientation_ascent`); a result must pass
    :func:`alignment._verify.verify_faint` (a sharp, significant local peak). Why each
    climbed candidate was refused goes to ``notes``.
    """
    ranked = sorted(
        (c for c in refused if c.verdict.agreement > 0), key=lambda c: -c.verdict.agreement
    )
    starts: list[_Candidate] = []
    for c in ranked:
        if all(_corner_drift(c.matrix, d.matrix, pm.shape) > _RESCUE_DISTINCT_PX for d in starts):
            starts.append(c)
    accepted = []
    for c in starts[:_RESCUE_CANDIDATES]:
        climbed = timer.run("orientation", orientation_ascent, pm, pf, c.matrix)
        verdict = timer.run("verify", verify_faint, pm, pf, climbed.matrix)
        label = f"{c.method}+orientation"
        if verdict.ok:
            accepted.append(_Candidate(climbed.matrix, label, verdict))
        else:
            notes.append(f"{label}: {verdict.reason}")
    if not accepted:
        return None
    if len(accepted) == 1:
        return accepted[0]
    scores = [timer.run("verify", fine_agreement, pm, pf, c.matrix) for c in accepted]
    return accepted[int(np.argmax(scores))]


def _faint_initial(pm, pf, start, refined: _Candidate, motion: str, timer) -> _Candidate | None:
    """Track a pair that only the rescue registered, without a new search.

    Such a pair (frosted grass) verifies at a faint agreement, so refining the previous
    matrix by ECC and verifying it refuses it every time, and each call would pay for the
    full search and the rescue again (several seconds). When the refined matrix was refused
    only for a faint agreement, the previous matrix is climbed locally instead (shift
    search of +-2 samples) and judged by :func:`alignment._verify.verify_faint`.
    """
    v = refined.verdict
    if motion not in _RESCUE_MOTIONS or not FAINT_AGREEMENT <= v.agreement < MIN_AGREEMENT:
        return None
    climbed = timer.run("orientation", orientation_ascent, pm, pf, start, shift_radius=2)
    verdict = timer.run("verify", verify_faint, pm, pf, climbed.matrix)
    return _Candidate(climbed.matrix, "ecc+orientation", verdict) if verdict.ok else None


def _auto(pm, pf, motion: str, timer: _Timer, notes: list[str]) -> list[_Candidate]:
    """Cheapest global guess first; stop at the first that verifies with confidence.

    Phase correlation (about 10 ms) handles shifts, rotation and scale of a textured scene.
    SIFT features (several times the cost) handle partial overlap and scenes whose spectrum
    is dominated by texture that differs between modalities (grass, foliage). Their start
    is refined twice when needed: from 256 px (keeps a good start) and from 128 px (pulls
    in a poor one); the better verified result wins.
    """
    candidates: list[_Candidate] = []

    def confident() -> bool:
        best = _best(candidates)
        return best is not None and best.verdict.score >= _CONFIDENT

    phase = timer.run("phase", phase_estimate, pm, pf, rotation_scale=motion != "translation")
    start = _restrict_to(phase.matrix, motion, pm.shape)
    candidates.append(_refined(pm, pf, start, motion, _FROM_PHASE, "phase+ecc", timer))
    if confident():
        return candidates
    for long_side, n_features in _FEATURE_TRIES:
        feats = timer.run(
            "features", feature_estimate, pm, pf, motion, long_side=long_side, n_features=n_features
        )
        if feats.matrix is None:
            notes.append(f"features at {long_side} px: {feats.reason}")
            continue
        start = _restrict_to(feats.matrix, motion, pm.shape)
        for schedule in (_FROM_FEATURES, _FROM_FEATURES_COARSE):
            candidates.append(
                _refined(
                    pm,
                    pf,
                    start,
                    motion,
                    schedule,
                    "features+ecc",
                    timer,
                    affine_start=feats.affine,
                )
            )
            if confident():
                return candidates
    return candidates


def align(
    moving: np.ndarray,
    fixed: np.ndarray,
    *,
    method: str = "auto",
    motion: str = "homography",
    initial: np.ndarray | Alignment | None = None,
    fixed_camera: bool = False,
) -> Alignment:
    """Register ``moving`` (e.g. a day reference) onto ``fixed`` (e.g. a night frame).

    Works across modalities (day colour vs night IR or low light): every method compares
    contrast-normalised *structure* (gradients, features), never raw intensities, and the
    result is verified by an independent check before it is called ``ok``.

    Parameters
    ----------
    moving : ndarray
        Image to be warped: uint8 gray ``(H, W)`` or RGB ``(H, W, 3)`` (RGB order).
    fixed : ndarray
        Image whose pixel grid is the target: uint8 gray or RGB. May differ in size from
        ``moving`` (different sensors).
    method : {"auto", "ecc", "features", "phase"}
        ``"auto"`` (default) tries phase correlation + gradient ECC, then CLAHE/SIFT
        features + MAGSAC++ + gradient ECC, and keeps the best verified result; when
        none verifies with confidence (score < 0.40), the verified candidates are refined
        once more at up to 1024 px and ranked by structure agreement at 640 px. When none
        verifies at all (and ``motion`` is ``"affine"`` or ``"homography"``), the two
        refused candidates with the most agreement are climbed by gradient-orientation
        agreement (a similarity) and accepted only as a sharp local peak that stands far
        out of nearby placements (``method`` then ends in ``"+orientation"``).
        ``"ecc"`` is gradient-based multi-scale ECC alone (local: the images must already
        overlap roughly, or pass ``initial``). ``"features"`` is features + robust fit
        alone. ``"phase"`` is phase correlation on gradient images (translation; rotation
        and scale too unless ``motion="translation"``).
    motion : {"homography", "affine", "euclidean", "translation"}
        Motion model of the result. With ``initial`` it is the freedom refined on top of it.
        ``"homography"`` allows perspective; a search keeps it only where it removes a clear
        share of what an affine fit leaves (:func:`prefer_perspective`), so the matrix may
        be affine.
    initial : ndarray or Alignment, optional
        A previous estimate (3x3, or 2x3 affine) of the same mapping, e.g. the last frame's,
        when the camera may have drifted a few pixels. ``"auto"`` and ``"ecc"`` then only
        refine it (fast); ``"auto"`` falls back to a full search if that does not verify.
        ``"phase"`` measures the remaining translation.
    fixed_camera : bool
        Both frames come from one camera that has not been moved (a day reference captured
        by the same device): start from the identity (or ``initial``, the last accepted
        matrix), refine it locally (shift, then affine), and accept it only if it stays
        within 2% of the frame diagonal of that start and is a local peak of structure
        agreement in shift, rotation and scale, a test that holds between day and night
        (lamps lit, sky gone dark, fog), where a global agreement level is low. If it does
        not, ``"auto"`` runs its full search as without the hint. ``"ecc"`` and
        ``"phase"`` start from the same prior; ``"features"`` ignores it.

    Returns
    -------
    Alignment
        ``matrix`` maps ``moving`` pixel coordinates to ``fixed``; check ``ok`` before use.
        When nothing verifies, ``ok`` is ``False``, ``reason`` says why (every attempt's
        reason), ``score`` is the best attempt's, and ``matrix`` is the identity: a refused
        candidate is never handed on.

    Raises
    ------
    ValueError
        Not a uint8 gray/RGB array, empty or tiny image, unknown ``method`` or ``motion``,
        ``initial`` not a finite invertible 3x3 (or 2x3) matrix.

    Examples
    --------
    >>> import skimage.data
    >>> day = skimage.data.astronaut()
    >>> night = 255 - np.roll(day[..., 0], (5, -8), axis=(0, 1))  # shifted, inverted
    >>> result = align(day, night, motion="translation")
    >>> result.ok, np.round(result.matrix[:2, 2]).tolist()
    (True, [-8.0, 5.0])
    >>> result.warp(day).shape
    (512, 512, 3)
    """
    check_image(moving, "moving")
    check_image(fixed, "fixed")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if motion not in MOTIONS:
        raise ValueError(f"motion must be one of {', '.join(MOTIONS)}; got {motion!r}")
    start = check_initial(initial, moving.shape[:2], fixed.shape[:2])
    timer = _Timer()
    t_total = time.perf_counter()
    # the moving image is the day reference: a live view passes the same one every frame
    pm, pf = prepare(moving), PreparedImage(fixed)
    notes: list[str] = []
    candidates: list[_Candidate] = []
    search: list[_Candidate] = []  # the full search's candidates, if one ran

    if fixed_camera and method in ("auto", "ecc"):
        prior = start if start is not None else _frame_fit(pm.shape, pf.shape)
        candidates.append(_fixed_camera(pm, pf, prior, motion, timer, tracking=start is not None))
        if method == "auto" and not candidates[-1].verdict.ok:
            notes.append(f"fixed-camera prior: {candidates[-1].verdict.reason}")
            search = _auto(pm, pf, motion, timer, notes)
    elif method in ("auto", "ecc") and start is not None:
        # The previous estimate already carries the model chosen from scratch (perspective
        # or not): refine it as it is, once.
        start = _restrict_to(start, motion, pm.shape)
        candidates.append(_refined_plain(pm, pf, start, motion, _FROM_INITIAL, "ecc", timer))
        if method == "auto" and not candidates[-1].verdict.ok:
            notes.append(f"refining initial: {candidates[-1].verdict.reason}")
            faint = _faint_initial(pm, pf, start, candidates[-1], motion, timer)
            if faint is not None:
                candidates.append(faint)
            else:
                search = _auto(pm, pf, motion, timer, notes)
    elif method == "auto":
        search = _auto(pm, pf, motion, timer, notes)
    elif method == "ecc":
        fit = _restrict_to(_frame_fit(pm.shape, pf.shape), motion, pm.shape)
        candidates.append(_refined(pm, pf, fit, motion, _FROM_SCRATCH, "ecc", timer))
    elif method == "features":
        feats = timer.run("features", feature_estimate, pm, pf, motion, long_side=400)
        if feats.matrix is None:
            notes.append(f"features: {feats.reason}")
        else:
            m = _restrict_to(feats.matrix, motion, pm.shape)
            candidates.append(_Candidate(m, "features", timer.run("verify", verify, pm, pf, m)))
    else:  # phase
        if fixed_camera and start is None:
            start = _frame_fit(pm.shape, pf.shape)
        if start is not None:
            m = timer.run("phase", phase_translation, pm, pf, start)
        else:
            rot = motion != "translation"
            m = timer.run("phase", phase_estimate, pm, pf, rotation_scale=rot).matrix
            m = _restrict_to(m, motion, pm.shape)
        candidates.append(_Candidate(m, "phase", timer.run("verify", verify, pm, pf, m)))

    candidates += search
    best = _best(candidates)
    if search and best is not None and best.verdict.score < _CONFIDENT:
        best = _final(pm, pf, search, motion, timer)  # nothing verified with confidence
    if search and best is None and motion in _RESCUE_MOTIONS:
        best = _rescue(pm, pf, search, timer, notes)  # nothing verified at all
    timer.ms["total"] = (time.perf_counter() - t_total) * 1e3
    if best is not None:
        return Alignment(
            best.matrix,
            ok=True,
            score=best.verdict.score,
            method=best.method,
            motion=capped(_FIXED_MOTION, motion) if best.method.startswith("fixed") else motion,
            fixed_shape=pf.shape,
            moving_shape=pm.shape,
            elapsed_ms=timer.ms,
        )
    return _failure(candidates, notes, motion, pm, pf, method, timer)


def _failure(candidates, notes, motion, pm, pf, method, timer) -> Alignment:
    """Refused: the identity, every attempt's reason, the best attempt's score and method."""
    reasons = list(dict.fromkeys(notes + [f"{c.method}: {c.verdict.reason}" for c in candidates]))
    best = max(candidates, key=lambda c: c.verdict.score, default=None)
    return Alignment(
        np.eye(3),
        ok=False,
        score=best.verdict.score if best is not None else 0.0,
        method=best.method if best is not None else method,
        motion=motion,
        reason="; ".join(reasons) or "no estimate",
        fixed_shape=pf.shape,
        moving_shape=pm.shape,
        elapsed_ms=timer.ms,
    )
