"""Feature matching: CLAHE + SIFT (or ORB) + ratio test + robust model fit (USAC MAGSAC++).

Features give a *global* estimate whatever the rotation, scale and shift, which dense
methods cannot; their weakness across modalities is the number of correct matches, so the
contrast is normalised first (CLAHE) and the model is fitted by MAGSAC++, which tolerates
a large share of wrong matches. The estimate is then refined by gradient ECC.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from alignment._prep import PreparedImage

__all__ = ["DETECTORS", "FeatureResult", "feature_estimate"]

#: Detectors available in every OpenCV >= 4.4 build (SIFT's patent expired in 2020).
DETECTORS: tuple[str, ...] = ("sift", "orb")

_RATIO = 0.85  # Lowe's ratio test; loose, because MAGSAC++ removes what slips through
_MIN_INLIERS = {"translation": 4, "euclidean": 5, "affine": 6, "homography": 8}


@dataclass(frozen=True)
class FeatureResult:
    """Outcome of :func:`feature_estimate`."""

    matrix: np.ndarray | None
    """3x3 full-resolution moving -> fixed estimate, ``None`` when the fit failed."""
    inliers: int
    matches: int
    reason: str = ""
    affine: np.ndarray | None = None
    """For a homography request, an affine fit to the same matches (a steadier start)."""


def _detect(img: np.ndarray, detector: str, n_features: int):
    if detector == "sift":
        det = cv2.SIFT_create(nfeatures=n_features, contrastThreshold=0.02)
    else:
        det = cv2.ORB_create(nfeatures=n_features, scaleFactor=1.2, nlevels=8, fastThreshold=10)
    return det.detectAndCompute(img, None)


def _match(desc_m: np.ndarray, desc_f: np.ndarray, detector: str) -> list:
    norm = cv2.NORM_L2 if detector == "sift" else cv2.NORM_HAMMING
    pairs = cv2.BFMatcher(norm).knnMatch(desc_m, desc_f, k=2)
    return [p[0] for p in pairs if len(p) == 2 and p[0].distance < _RATIO * p[1].distance]


def _fit(src: np.ndarray, dst: np.ndarray, motion: str, threshold: float):
    """Robust fit of ``motion`` to point pairs; returns (3x3 matrix or None, inlier mask)."""
    if motion == "homography":
        m, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, threshold, maxIters=2000)
        return m, mask
    if motion == "affine":
        m, mask = cv2.estimateAffine2D(
            src, dst, method=cv2.USAC_MAGSAC, ransacReprojThreshold=threshold, maxIters=2000
        )
    else:
        # Similarity first (OpenCV offers no USAC variant for it); euclidean and translation
        # are its special cases.
        m, mask = cv2.estimateAffinePartial2D(
            src, dst, method=cv2.RANSAC, ransacReprojThreshold=threshold, maxIters=2000
        )
        if m is not None:
            m = _restrict(np.vstack([m, [0, 0, 1]]), motion, src, dst, mask)[:2]
    if m is None:
        return None, mask
    return np.vstack([m, [0, 0, 1]]), mask


def _restrict(m: np.ndarray, motion: str, src, dst, mask) -> np.ndarray:
    """Project a similarity onto a rigid motion or a translation (refit on its inliers)."""
    keep = mask.ravel().astype(bool)
    s, d = src.reshape(-1, 2)[keep], dst.reshape(-1, 2)[keep]
    if motion == "translation":
        t = np.median(d - s, axis=0)
        return np.array([[1, 0, t[0]], [0, 1, t[1]], [0, 0, 1]], np.float64)
    # euclidean: rotation of the similarity, translation refitted for unit scale
    angle = np.arctan2(m[1, 0], m[0, 0])
    c, si = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -si], [si, c]])
    t = np.mean(d - s @ rot.T, axis=0)
    return np.array([[c, -si, t[0]], [si, c, t[1]], [0, 0, 1]], np.float64)


def feature_estimate(
    moving: PreparedImage,
    fixed: PreparedImage,
    motion: str,
    *,
    long_side: int = 400,
    detector: str = "sift",
    n_features: int = 2000,
) -> FeatureResult:
    """Match features of the two CLAHE images at ``long_side`` and fit ``motion`` robustly.

    Returns the full-resolution moving -> fixed matrix (``None`` with a reason when there
    are too few matches or inliers).
    """
    lm, lf = moving.level(long_side), fixed.level(long_side)
    kp_m, desc_m = _detect(lm.image, detector, n_features)
    kp_f, desc_f = _detect(lf.image, detector, n_features)
    need = _MIN_INLIERS[motion]
    if desc_m is None or desc_f is None or len(kp_m) < need or len(kp_f) < need:
        return FeatureResult(None, 0, 0, f"too few {detector} keypoints")
    good = _match(desc_m, desc_f, detector)
    if len(good) < need:
        return FeatureResult(None, 0, len(good), f"only {len(good)} {detector} matches")
    src = np.float32([kp_m[g.queryIdx].pt for g in good]).reshape(-1, 1, 2)
    dst = np.float32([kp_f[g.trainIdx].pt for g in good]).reshape(-1, 1, 2)
    # Keypoints skip padding by construction (no texture there), so no mask is needed.
    m, mask = _fit(src, dst, motion, threshold=2.0)
    inliers = int(mask.sum()) if mask is not None else 0
    if m is None or inliers < need or not np.all(np.isfinite(m)):
        return FeatureResult(None, inliers, len(good), f"only {inliers} {detector} inliers")
    back = np.linalg.inv(lf.to_level)
    full = back @ m @ lm.to_level
    affine = None
    if motion == "homography":
        a, _ = _fit(src, dst, "affine", threshold=2.0)
        affine = back @ a @ lm.to_level if a is not None else None
    return FeatureResult(full / full[2, 2], inliers, len(good), affine=affine)
