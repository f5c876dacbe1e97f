"""Synthetic scene changes with a known answer, for tests, benchmarks, training and evaluation.

Real day/night pairs with labelled changes are rare; what we can make honestly is a *real*
photo with patches cut from *other real photos* pasted in, so the change mask is known
exactly. The same generator serves the leak-mask quality benchmark, model training and
``nightlab eval`` so all three measure the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine._image import check_rgb
from engine.data import skimage_photos

__all__ = [
    "DONOR_PHOTOS",
    "ReferenceDegradation",
    "degrade_reference",
    "donor_photos",
    "paste_patches",
]

#: Default patch donors: colour photos bundled inside the scikit-image wheel (no download).
DONOR_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "retina")


def donor_photos(names: tuple[str, ...] = DONOR_PHOTOS) -> list[np.ndarray]:
    """Real colour photos (RGB uint8) that ship with scikit-image, used as patch donors.

    ``names`` are ``skimage.data`` photo names (:data:`engine.data.SKIMAGE_PHOTOS`); a stereo
    pair gives its left view.

    Examples
    --------
    >>> photos = donor_photos()
    >>> all(p.ndim == 3 and p.dtype == np.uint8 for p in photos)
    True
    """
    return list(skimage_photos(names).values())


def paste_patches(
    image: np.ndarray,
    donors: list[np.ndarray],
    *,
    rng: np.random.Generator,
    n_patches: int = 2,
    min_frac: float = 0.12,
    max_frac: float = 0.3,
) -> tuple[np.ndarray, np.ndarray]:
    """Paste patches cut from other photos into ``image``; return it and the change mask.

    Parameters
    ----------
    image : ndarray
        RGB uint8 ``(H, W, 3)``; not modified.
    donors : list of ndarray
        RGB uint8 photos to cut patches from (any sizes).
    rng : numpy.random.Generator
        Source of randomness (pass a seeded one for reproducible answers).
    n_patches : int
        Number of patches (they may overlap).
    min_frac, max_frac : float
        Patch side as a fraction of the image's shorter side.

    Returns
    -------
    changed : ndarray
        RGB uint8 copy of ``image`` with the patches in.
    mask : ndarray
        bool ``(H, W)``, True where a patch was pasted.

    Examples
    --------
    >>> img = np.zeros((60, 80, 3), np.uint8)
    >>> out, mask = paste_patches(img, donor_photos()[:1], rng=np.random.default_rng(0))
    >>> out.shape, mask.dtype, bool(mask.any())
    ((60, 80, 3), dtype('bool'), True)
    """
    check_rgb(image, "image")
    if not donors:
        raise ValueError("donors must hold at least one RGB photo")
    if not 0 < min_frac <= max_frac < 1:
        raise ValueError(f"need 0 < min_frac <= max_frac < 1, got {min_frac}, {max_frac}")
    h, w = image.shape[:2]
    out = image.copy()
    mask = np.zeros((h, w), bool)
    side = min(h, w)
    for _ in range(n_patches):
        ph = max(4, int(side * rng.uniform(min_frac, max_frac)))
        pw = max(4, int(ph * rng.uniform(0.6, 1.6)))
        pw = min(pw, w - 1)
        donor = donors[int(rng.integers(len(donors)))]
        check_rgb(donor, "donor")
        dh, dw = donor.shape[:2]
        # cut a region of the donor with the patch's aspect, then resize to the patch size
        ch = int(min(dh, dw * ph / pw) * rng.uniform(0.3, 0.9))
        cw = max(2, int(ch * pw / ph))
        ch = max(2, min(ch, dh))
        cw = min(cw, dw)
        y0, x0 = int(rng.integers(0, dh - ch + 1)), int(rng.integers(0, dw - cw + 1))
        cut = donor[y0 : y0 + ch, x0 : x0 + cw]
        patch = cv2.resize(cut, (pw, ph), interpolation=cv2.INTER_AREA)
        ty, tx = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
        shape = np.zeros((ph, pw), np.uint8)
        if rng.random() < 0.5:
            shape[:] = 1  # rectangle: a parked car, a sign
        else:
            cv2.ellipse(shape, (pw // 2, ph // 2), (pw // 2, ph // 2), 0, 0, 360, 1, -1)
        sel = shape.astype(bool)
        out[ty : ty + ph, tx : tx + pw][sel] = patch[sel]
        mask[ty : ty + ph, tx : tx + pw] |= sel
    return out, mask


@dataclass(frozen=True)
class ReferenceDegradation:
    """How a day reference differs from the night scene's true colours, besides scene changes.

    Defaults model a reference taken at another time and aligned by ``alignment``: a small
    residual misalignment, a different exposure and white balance.
    """

    max_shift_px: float = 1.5
    max_rotation_deg: float = 0.5
    gain_jitter: float = 0.15
    white_balance_jitter: float = 0.08
    n_patches: int = 2


def degrade_reference(
    truth: np.ndarray,
    donors: list[np.ndarray],
    *,
    rng: np.random.Generator,
    params: ReferenceDegradation = ReferenceDegradation(),
) -> tuple[np.ndarray, np.ndarray]:
    """Make a realistic day reference from a registered colour truth, with a known change mask.

    The reference is ``truth`` seen at another time: residual misalignment, exposure and
    white-balance change, and ``params.n_patches`` pasted scene changes.

    Returns
    -------
    reference : ndarray
        RGB uint8, same shape as ``truth``.
    change_mask : ndarray
        bool ``(H, W)``: where the reference shows something that is not in the scene.

    Examples
    --------
    >>> truth = np.full((48, 64, 3), 120, np.uint8)
    >>> ref, mask = degrade_reference(truth, donor_photos()[:1], rng=np.random.default_rng(1))
    >>> ref.shape == truth.shape and mask.shape == truth.shape[:2]
    True
    """
    check_rgb(truth, "truth")
    h, w = truth.shape[:2]
    angle = rng.uniform(-params.max_rotation_deg, params.max_rotation_deg)
    shift = rng.uniform(-params.max_shift_px, params.max_shift_px, size=2)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    m[:, 2] += shift
    ref = cv2.warpAffine(truth, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    gain = 1.0 + rng.uniform(-params.gain_jitter, params.gain_jitter)
    wb = 1.0 + rng.uniform(-params.white_balance_jitter, params.white_balance_jitter, size=3)
    ref = np.clip(ref.astype(np.float32) * (gain * wb), 0, 255).astype(np.uint8)
    if params.n_patches:
        ref, mask = paste_patches(ref, donors, rng=rng, n_patches=params.n_patches)
    else:
        mask = np.zeros((h, w), bool)
    return ref, mask
